"""Structured logs: one JSON object per line on stderr, one line per notable event.

Notable means start, stop, recovery steps, snapshots, trims, Redis outages and errors; never one
line per command (the metrics count those).
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

import orjson

LOGGER = logging.getLogger("engine")


class JsonFormatter(logging.Formatter):
    """``{"ts": ..., "level": ..., "event": ..., **fields}``."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "event": record.getMessage(),
        }
        line.update(getattr(record, "fields", {}))
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


def setup(level: str = "info") -> None:
    """Send the engine's logs to stderr as JSON lines."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    LOGGER.handlers[:] = [handler]
    LOGGER.setLevel(level.upper())
    LOGGER.propagate = False


def event(name: str, level: int = logging.INFO, **fields: Any) -> None:
    """Log one notable event with structured fields."""
    if LOGGER.isEnabledFor(level):
        LOGGER.log(level, name, extra={"fields": fields})


def error(name: str, **fields: Any) -> None:
    event(name, logging.ERROR, **fields)


def warning(name: str, **fields: Any) -> None:
    event(name, logging.WARNING, **fields)


class Summary:
    """Routine snapshot and trim work, one ``snapshots`` line a minute at info level.

    Each snapshot and trim has its own line at debug level (``snapshot_written``, ``trimmed``);
    at info they would bury the lines a person needs (a sign-in link in ``make up``).
    """

    def __init__(self, every_s: float = 60.0) -> None:
        self.every_s = every_s
        self._reset(time.monotonic())

    def _reset(self, now: float) -> None:
        self.since = now
        self.written = 0
        self.seq = 0
        self.bytes = 0
        self.max_stall_s = 0.0
        self.trimmed = 0

    def snapshot(self, seq: int, size: int, stall_s: float) -> None:
        self.written += 1
        self.seq = seq
        self.bytes = size
        self.max_stall_s = max(self.max_stall_s, stall_s)

    def maybe_log(self) -> None:
        now = time.monotonic()
        if now - self.since < self.every_s or not self.written:
            return
        event(
            "snapshots",
            written=self.written,
            seconds=round(now - self.since),
            newest_seq=self.seq,
            newest_bytes=self.bytes,
            max_loop_stall_ms=round(self.max_stall_s * 1000, 3),
            trimmed_entries=self.trimmed,
        )
        self._reset(now)
