"""SIGTERM/SIGINT that arrive while the daemon is still starting (importing, loading a snapshot).

Installed before the heavy imports, so a supervisor's stop during start-up is remembered and
honoured (a clean exit) instead of killing the process half-way through loading.
"""

from __future__ import annotations

import signal
from types import FrameType

_received: list[int] = []


def _remember(signum: int, frame: FrameType | None) -> None:
    _received.append(signum)


def install() -> None:
    """Remember SIGTERM and SIGINT until the event loop installs its own handlers."""
    signal.signal(signal.SIGTERM, _remember)
    signal.signal(signal.SIGINT, _remember)


def requested() -> bool:
    """True if a stop signal arrived before the loop's handlers took over."""
    return bool(_received)
