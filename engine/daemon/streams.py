"""The daemon's Redis commands on streams: reads in rounds, pipelined publishing, scans, trims.

Thin wrappers over redis.asyncio; every function is one round trip unless it says otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from engine.daemon.ordering import parse_id

Raw = list[tuple[bytes, dict[bytes, bytes]]]


@dataclass(frozen=True)
class StreamNames:
    prices: str
    commands: str
    responses: str
    events: str


def _by_stream(reply: Any, names: Sequence[str]) -> list[Raw]:
    out: list[Raw] = [[] for _ in names]
    if not reply:
        return out
    items = reply.items() if isinstance(reply, dict) else reply
    for name, entries in items:
        key = name.decode() if isinstance(name, bytes) else name
        out[names.index(key)] = entries or []
    return out


async def read_round(
    redis: Redis, names: Sequence[str], positions: Sequence[str], count: int
) -> tuple[int, list[Raw]]:
    """``TIME`` then a non-blocking ``XREAD`` of the streams after ``positions``, in one trip.

    Returns the server time in microseconds (taken before the read) and the entries per stream.
    """
    pipe = redis.pipeline(transaction=False)
    pipe.time()
    pipe.xread(dict(zip(names, positions, strict=True)), count=count)
    (seconds, micros), reply = await pipe.execute()
    return seconds * 1_000_000 + micros, _by_stream(reply, names)


async def wait_for_entries(
    redis: Redis, names: Sequence[str], positions: Sequence[str], count: int, block_ms: int
) -> list[Raw]:
    """Block up to ``block_ms`` until any stream has entries after ``positions``."""
    reply = await redis.xread(
        dict(zip(names, positions, strict=True)), count=count, block=block_ms
    )
    return _by_stream(reply, names)


async def publish(
    redis: Redis, entries: Sequence[tuple[str, Mapping[str, Any]]]
) -> list[bytes | Exception]:
    """XADD every ``(stream, fields)`` in order, pipelined in one round trip.

    Returns, per entry, its new ID or the error Redis answered for it (say, OOM). Not a
    transaction: if the connection breaks midway, some prefix was published; the caller finds
    out which by the ``seq`` of what is on the streams.
    """
    pipe = redis.pipeline(transaction=False)
    for stream, fields in entries:
        pipe.xadd(stream, fields)  # type: ignore[arg-type]
    return await pipe.execute(raise_on_error=False)


async def last_entry(redis: Redis, stream: str) -> tuple[bytes, dict[bytes, bytes]] | None:
    """The newest entry of ``stream``, or None when it is empty or missing."""
    reply: Raw = await redis.xrevrange(stream, count=1)  # type: ignore[assignment]
    return reply[0] if reply else None


async def entries_after(redis: Redis, stream: str, after: str, count: int) -> Raw:
    """Up to ``count`` entries with IDs strictly greater than ``after``."""
    low = f"({after}" if after != "0-0" else "-"
    reply: Raw = await redis.xrange(stream, min=low, count=count)  # type: ignore[assignment]
    return reply


async def history_gap(redis: Redis, stream: str, position: str) -> str | None:
    """Why entries after ``position`` may be missing from ``stream``, or None if none are.

    Redis 7.0 records XDEL in ``max-deleted-entry-id`` but not XTRIM, which removes a prefix. A
    prefix trim cannot have reached past ``position`` while the entry at ``position`` is still
    there (the engine's own trims keep it); if nothing was ever removed, nothing is missing.
    """
    try:
        info = await redis.xinfo_stream(stream)
    except ResponseError as exc:  # a missing stream answers "no such key"
        if "no such key" in str(exc).lower():
            return None
        raise
    info = {(k.decode() if isinstance(k, bytes) else k): v for k, v in info.items()}
    deleted = _text(info.get("max-deleted-entry-id") or "0-0")
    if parse_id(deleted) > parse_id(position):
        return f"entries up to {deleted} were deleted (XDEL), after position {position}"
    added, length = int(info.get("entries-added") or 0), int(info.get("length") or 0)
    if added <= length:
        return None
    if position != "0-0" and await redis.xrange(stream, min=position, max=position, count=1):
        return None
    return (
        f"{added - length} entries were trimmed and the entry at position {position} is gone, "
        "so some entries after it may be too"
    )


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)

