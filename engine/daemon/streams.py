"""The daemon's Redis commands on streams: reads in rounds, pipelined publishing, scans.

The per-entry paths (rounds of reads, publishing) go over a ``Link``; the occasional ones
(scans of the output streams, stream info) over redis.asyncio. Each function is one round trip.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Any

import hiredis
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from engine.daemon.link import Arg, Link, pack
from engine.stream_ids import parse_id

Raw = list[tuple[bytes, dict[bytes, bytes]]]


@dataclass(frozen=True)
class StreamNames:
    prices: str
    commands: str
    responses: str
    events: str


def _entries(raw: Any) -> Raw:
    out: Raw = []
    for entry_id, flat in raw or ():
        if flat is None:  # an entry deleted while pending in a group; never on plain XREAD
            continue
        it = iter(flat)
        out.append((entry_id, dict(zip(it, it, strict=True))))
    return out


def _by_stream(reply: Any, names: Sequence[str]) -> list[Raw]:
    out: list[Raw] = [[] for _ in names]
    keys = [name.encode() for name in names]
    for name, entries in reply or ():
        out[keys.index(name)] = _entries(entries)
    return out


def _xread(names: Sequence[str], positions: Sequence[str], count: int) -> list[Arg]:
    return ["XREAD", "COUNT", count, "STREAMS", *names, *positions]


def round_commands(names: Sequence[str], positions: Sequence[str], count: int) -> list[list[Arg]]:
    """``TIME`` then a non-blocking ``XREAD`` of the streams after ``positions``."""
    return [["TIME"], _xread(names, positions, count)]


def round_result(replies: Sequence[Any], names: Sequence[str]) -> tuple[int, list[Raw]]:
    """The server time in microseconds (taken before the read) and the entries per stream."""
    time_reply, reply = replies
    for item in (time_reply, reply):
        if isinstance(item, Exception):
            raise item
    seconds, micros = time_reply
    return int(seconds) * 1_000_000 + int(micros), _by_stream(reply, names)


async def read_round(
    link: Link, names: Sequence[str], positions: Sequence[str], count: int
) -> tuple[int, list[Raw]]:
    """One round's read (``round_commands``) in one round trip."""
    replies = await link.execute(round_commands(names, positions, count))
    return round_result(replies, names)


async def wait_for_entries(
    link: Link, names: Sequence[str], positions: Sequence[str], count: int, block_ms: int
) -> list[Raw]:
    """Block up to ``block_ms`` until any stream has entries after ``positions``."""
    command = _xread(names, positions, count)
    command[3:3] = ["BLOCK", block_ms]
    [reply] = await link.execute([command], timeout=block_ms / 1000 + link.timeout)
    if isinstance(reply, Exception):
        raise reply
    return _by_stream(reply, names)


async def publish(
    link: Link,
    entries: Sequence[tuple[str, Mapping[str, Any]]],
    then: Sequence[Sequence[Arg]] = (),
) -> list[Any]:
    """XADD every ``(stream, fields)`` in order, then the commands ``then``, in one round trip.

    Returns, per entry, its new ID or the error Redis answered for it (say, OOM), followed by the
    replies to ``then``. Not a transaction: if the connection breaks midway, some prefix was
    published; the caller finds out which by the ``seq`` of what is on the streams.
    """
    pack_command = hiredis.pack_command
    data = b"".join(
        [
            pack_command(("XADD", stream, "*", *chain.from_iterable(fields.items())))
            for stream, fields in entries
        ]
    )
    if then:
        data += pack(then)
    return await link.execute_packed(data, len(entries) + len(then))


async def last_entry(link: Link, stream: str) -> tuple[bytes, dict[bytes, bytes]] | None:
    """The newest entry of ``stream``, or None when it is empty or missing."""
    [reply] = await link.execute([["XREVRANGE", stream, "+", "-", "COUNT", 1]])
    if isinstance(reply, Exception):
        raise reply
    entries = _entries(reply)
    return entries[0] if entries else None


async def entries_after(link: Link, stream: str, after: str, count: int) -> Raw:
    """Up to ``count`` entries with IDs strictly greater than ``after``."""
    low = f"({after}" if after != "0-0" else "-"
    [reply] = await link.execute([["XRANGE", stream, low, "+", "COUNT", count]])
    if isinstance(reply, Exception):
        raise reply
    return _entries(reply)


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
