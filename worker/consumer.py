"""Redis side of the worker: consumer-group reads, claims of stale entries, acks, dead letters.

Replies of XREADGROUP and XAUTOCLAIM are parsed here from the raw protocol (the client's own
parsers are switched off for them) because their shapes differ between Redis versions and
between redis-py versions: XAUTOCLAIM answers ``[next, entries]`` on Redis 6.2, where an entry
deleted from the stream comes back as nil (and stays pending), and ``[next, entries, deleted]``
on Redis 7, which drops such entries from the pending list and names them in ``deleted``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from redis.asyncio import Redis
from redis.exceptions import ResponseError

DeadLetterFields = dict[bytes | str, bytes | str]
_RESERVED = frozenset({b"stream", b"id", b"reason"})


@dataclass(frozen=True, slots=True)
class Entry:
    """One stream entry. ``fields`` is None when the entry was deleted before it was processed."""

    stream: str
    id: str
    fields: dict[bytes, bytes] | None


@dataclass(frozen=True, slots=True)
class Claimed:
    """One XAUTOCLAIM step: the cursor to continue from (``0-0`` = done) and what it found."""

    next_id: str
    entries: list[Entry]
    deleted_ids: list[str]
    nil_count: int  # Redis 6.2: deleted entries claimed as nil, with no id in the reply


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes | bytearray) else str(value)


def _fields(flat: Any) -> dict[bytes, bytes] | None:
    if flat is None:
        return None
    if isinstance(flat, Mapping):
        return dict(flat)
    return dict(zip(flat[::2], flat[1::2], strict=True))


def parse_entries(stream: str, raw: Sequence[Any] | None) -> tuple[list[Entry], int]:
    """Entries of one stream from a raw reply; also the count of nil entries (Redis 6.2)."""
    entries: list[Entry] = []
    nils = 0
    for item in raw or ():
        if item is None:
            nils += 1
            continue
        entries.append(Entry(stream, _text(item[0]), _fields(item[1])))
    return entries, nils


def parse_read_reply(raw: Any) -> list[Entry]:
    """Entries of a raw XREADGROUP reply (RESP2 list of pairs or RESP3 map), in reply order."""
    if not raw:
        return []
    pairs = raw.items() if isinstance(raw, Mapping) else raw
    entries: list[Entry] = []
    for stream, items in pairs:
        entries.extend(parse_entries(_text(stream), items)[0])
    return entries


def parse_autoclaim_reply(stream: str, raw: Sequence[Any]) -> Claimed:
    """A raw XAUTOCLAIM reply of Redis 6.2 (two elements) or Redis 7 (three elements)."""
    if not isinstance(raw, list | tuple) or len(raw) not in (2, 3):
        raise ValueError(f"unexpected XAUTOCLAIM reply: {raw!r:.200}")
    entries, nils = parse_entries(stream, raw[1])
    deleted = [_text(i) for i in raw[2]] if len(raw) == 3 and raw[2] else []
    return Claimed(_text(raw[0]), entries, deleted, nils)


def dead_letter_fields(entry: Entry, reason: str) -> DeadLetterFields:
    """Fields of a dead-letter entry: stream, id, reason, then the original fields.

    An original field named like one of ours keeps its value under ``original:<name>``.
    """
    fields: DeadLetterFields = {b"stream": entry.stream, b"id": entry.id, b"reason": reason}
    for key, value in (entry.fields or {}).items():
        name = key if isinstance(key, bytes) else str(key).encode()
        fields[b"original:" + name if name in _RESERVED else name] = value
    return fields


def _identity(reply: Any, **_options: Any) -> Any:
    return reply


class StreamConsumer:
    """Reads a set of streams through one consumer group as one named consumer."""

    def __init__(
        self,
        redis: Redis,
        streams: Sequence[str],
        group: str,
        consumer: str,
        dead_letter: str,
    ) -> None:
        self.redis = redis
        self.streams = list(streams)
        self.group = group
        self.consumer = consumer
        self.dead_letter = dead_letter
        for command in ("XREADGROUP", "XAUTOCLAIM"):
            redis.set_response_callback(command, cast(Any, _identity))

    async def ensure_groups(self) -> None:
        """Create the group on every stream (from its first entry) unless it exists."""
        for stream in self.streams:
            try:
                await self.redis.xgroup_create(stream, self.group, id="0", mkstream=True)
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

    async def read(self, count: int, block_ms: int) -> list[Entry]:
        """New entries of all streams (at most ``count`` per stream), waiting up to block_ms."""
        args: list[Any] = ["XREADGROUP", "GROUP", self.group, self.consumer, "COUNT", count]
        if block_ms > 0:
            args += ["BLOCK", block_ms]
        args += ["STREAMS", *self.streams, *([">"] * len(self.streams))]
        try:
            raw = await self.redis.execute_command(*args)  # type: ignore[no-untyped-call]
        except ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            # The stream was deleted (and with it the group): recreate, read from its start.
            await self.ensure_groups()
            return []
        return parse_read_reply(raw)

    async def claim(self, stream: str, min_idle_ms: int, start: str, count: int) -> Claimed:
        """Take over entries pending longer than ``min_idle_ms`` from any consumer of the group.

        On Redis 6.2 entries deleted from the stream are claimed as nil without their id; they
        are found again with XPENDING and reported as ``Entry(fields=None)``, like Redis 7's
        deleted ids, so the caller acknowledges them and they stop coming back.
        """
        try:
            raw = await self.redis.execute_command(  # type: ignore[no-untyped-call]
                "XAUTOCLAIM", stream, self.group, self.consumer, min_idle_ms, start, "COUNT", count
            )
        except ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            await self.ensure_groups()  # the stream was deleted: nothing of it is pending
            return Claimed("0-0", [], [], 0)
        claimed = parse_autoclaim_reply(stream, raw)
        entries = list(claimed.entries)
        entries += [Entry(stream, i, None) for i in claimed.deleted_ids]
        if claimed.nil_count:
            entries += await self._find_deleted(stream, start, claimed)
        return Claimed(claimed.next_id, entries, [], 0)

    async def _find_deleted(self, stream: str, start: str, claimed: Claimed) -> list[Entry]:
        end = "+" if claimed.next_id == "0-0" else "(" + claimed.next_id
        pending = await self.redis.xpending_range(
            stream, self.group, min=start, max=end, count=10_000, consumername=self.consumer
        )
        seen = {e.id for e in claimed.entries}
        found: list[Entry] = []
        for item in pending:
            entry_id = _text(item["message_id"])
            if entry_id in seen:
                continue
            if not await self.redis.xrange(stream, min=entry_id, max=entry_id):
                found.append(Entry(stream, entry_id, None))
        return found

    async def settle(self, done: Sequence[Entry], dead: Sequence[tuple[Entry, str]]) -> None:
        """Dead-letter the rejected entries and acknowledge everything, atomically (MULTI)."""
        if not done and not dead:
            return
        by_stream: dict[str, list[str]] = {}
        for entry in done:
            by_stream.setdefault(entry.stream, []).append(entry.id)
        async with self.redis.pipeline(transaction=True) as pipe:
            for entry, reason in dead:
                pipe.xadd(self.dead_letter, dead_letter_fields(entry, reason))  # type: ignore[arg-type]
                by_stream.setdefault(entry.stream, []).append(entry.id)
            for stream, ids in by_stream.items():
                pipe.xack(stream, self.group, *ids)
            await pipe.execute()
