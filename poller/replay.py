"""Replay a JSONL file of bookTicker frames, at the recorded pace or faster.

Each line is one frame, as the stream sent it or bare. The pace follows the frames' event times
(``E``, µs) divided by the speed, measured from the first frame so waits never drift; a frame
whose time goes backwards is sent at once. Bad lines are counted by reason and skipped.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from importlib import resources
from pathlib import Path

from engine.messages import PriceItem
from poller.metrics import Metrics
from poller.ticks import REJECT_JSON, AssetSpec, TickError, by_symbol, parse_frame

SAMPLE = "sample_bookticker.jsonl"
MAX_LINE_BYTES = 1 << 16


@contextmanager
def open_frames(path: str | None) -> Iterator[Iterator[bytes]]:
    """The file's non-blank lines; ``None`` opens the sample shipped with the package."""
    if path is None:
        sample = resources.files("poller") / "data" / SAMPLE
        with resources.as_file(sample) as file, file.open("rb") as f:
            yield _lines(f)
    else:
        with Path(path).open("rb") as f:
            yield _lines(f)


def _lines(f: Iterator[bytes]) -> Iterator[bytes]:
    for line in f:
        if line.strip():
            yield line


def due_s(event_us: int, first_us: int, speed: float) -> float:
    """Seconds after the first frame at which a frame is due; 0 when speed is 0 (no waiting)."""
    if speed == 0 or event_us <= first_us:
        return 0.0
    return (event_us - first_us) / 1_000_000 / speed


async def replay(
    frames: Iterator[bytes],
    assets: Sequence[AssetSpec],
    sink: Callable[[PriceItem], None],
    metrics: Metrics,
    *,
    speed: float = 1.0,
    clock: Callable[[], float] = time.monotonic,
) -> int:
    """Feed every good frame's tick to ``sink`` on schedule; return how many were fed."""
    table = by_symbol(assets)
    fed = 0
    first_us: int | None = None
    started = clock()
    for raw in frames:
        if len(raw) > MAX_LINE_BYTES:
            metrics.reject(REJECT_JSON, f"line of {len(raw)} bytes")
            continue
        try:
            tick = parse_frame(raw, table)
        except TickError as exc:
            metrics.reject(exc.reason, exc.detail)
            continue
        if tick is None:
            continue
        if first_us is None:
            first_us = tick.event_us
        wait = started + due_s(tick.event_us, first_us, speed) - clock()
        # Always yield, so the publisher gets its turn even when nothing has to wait.
        await asyncio.sleep(max(0.0, wait))
        sink(tick.item)
        fed += 1
    return fed
