"""Structured logs: one JSON object per line on stderr, one line per notable event.

Notable means start, stop, recovery steps, snapshots, trims, Redis outages and errors; never one
line per command (the metrics count those).
"""

from __future__ import annotations

import logging
import sys
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
