"""Trimming the input streams: never below what a kept snapshot or a consumer group still needs.

Recovery replays each input stream from the position of the snapshot it loads, and it may have
to fall back to the oldest kept one, so entries after the oldest kept snapshot's positions stay.
A consumer group (the worker may read ``backend-to-engine`` through one) still needs its pending
entries and everything after its last-delivered ID. ``XTRIM MINID`` removes entries *below* the
given ID, so passing the lowest needed ID keeps all of it.

The output streams are not trimmed here: readers without a consumer group (the gateway's
XREAD) cannot say what they still need, and recovery compares replayed outputs with the
published ones from the oldest snapshot on. Size them with ``XTRIM MAXLEN`` in operations, not in
the engine, with a bound larger than a snapshot interval's worth of outputs.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from engine.daemon import logs
from engine.stream_ids import EntryId, format_id, parse_id
from snapshots.store import SnapshotStore


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def lowest_needed(snapshot_position: str, groups: Iterable[tuple[str, str | None]]) -> EntryId:
    """The smallest ID still needed, from a snapshot position and groups' (last-delivered, min
    pending) IDs; "0-0" from a group means it needs everything."""
    needed = parse_id(snapshot_position)
    for last_delivered, min_pending in groups:
        needed = min(needed, parse_id(last_delivered))
        if min_pending is not None:
            needed = min(needed, parse_id(min_pending))
    return needed


async def group_positions(redis: Redis, stream: str) -> list[tuple[str, str | None]]:
    """(last-delivered ID, lowest pending ID or None) of every consumer group of ``stream``."""
    try:
        groups = await redis.xinfo_groups(stream)
    except ResponseError as exc:
        if "no such key" in str(exc).lower():
            return []
        raise
    out = []
    for group in groups:
        name = _text(group.get("name"))
        last = _text(group.get("last-delivered-id", "0-0"))
        pending = int(group.get("pending", 0) or 0)
        min_pending = None
        if pending:
            summary = await redis.xpending(stream, name)
            low = summary.get("min")
            min_pending = _text(low) if low else None
        out.append((last, min_pending))
    return out


async def trim_input(redis: Redis, stream: str, snapshot_position: str) -> tuple[str, int]:
    """XTRIM MINID ``stream`` below what is still needed; return the MINID and entries removed."""
    needed = lowest_needed(snapshot_position, await group_positions(redis, stream))
    if needed <= (0, 0):
        return "0-0", 0
    minid = format_id(needed)
    removed = await redis.xtrim(stream, minid=minid, approximate=False)
    return minid, int(removed)


async def trim_behind_snapshots(redis: Redis, store: SnapshotStore, inputs: tuple[str, str]) -> int:
    """Trim both input streams below what the oldest kept snapshot (and every group) needs;
    return how many entries went. A stream that refuses (a wrong type) is logged and skipped."""
    kept = [item.header for item in store.listing() if item.header is not None]
    if not kept:
        return 0
    oldest = kept[0]
    total = 0
    for stream, position in zip(
        inputs, (oldest.last_price_id, oldest.last_command_id), strict=True
    ):
        try:
            minid, removed = await trim_input(redis, stream, position)
        except ResponseError as exc:
            logs.warning("trim_failed", stream=stream, error=str(exc))
            continue
        if removed:
            total += removed
            logs.event("trimmed", logging.DEBUG, stream=stream, minid=minid, removed=removed)
    return total
