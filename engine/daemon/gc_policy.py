"""The daemon's garbage-collector policy: keep the cyclic GC off the engine's state."""

from __future__ import annotations

import gc


def tune_gc() -> None:
    """Keep the cyclic GC off the engine state: it has no cycles, but scanning it costs tens of
    milliseconds per full collection at 10^5 positions, a pause in the middle of trading.

    Everything alive now (the loaded state; ``cli`` loads it with the GC off) is frozen into the
    permanent generation, and again before each snapshot (which also spares the forked child
    copying pages the GC would touch, as the gc module's documentation advises); young
    collections run less often.
    """
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
    gc.enable()
