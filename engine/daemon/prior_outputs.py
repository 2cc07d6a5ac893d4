"""What was published before a restart, for recovery to compare replayed outputs against.

Every output carries the engine's sequence number ``seq``, and the daemon publishes in ``seq``
order over one connection, so what reached Redis is always a prefix: every output up to the
highest published ``seq`` is there, none above. Recovery replays from a snapshot; a replayed
output at or below that highest ``seq`` was published already and must be identical (else the
core is not deterministic, which recovery reports loudly); only those above are published.

The published entries are read forward from the output stream IDs the snapshot recorded, a chunk
at a time, so memory stays bounded however far the replay goes.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from engine.daemon import streams
from engine.daemon.link import Link

Encoded = dict[bytes, bytes]


@dataclass(frozen=True)
class Mismatch:
    """A replayed output that differs from, or has no counterpart in, what was published."""

    seq: int
    stream: str
    replayed: Encoded | None
    published: Encoded | None
    published_id: str | None


def entry_seq(fields: Encoded) -> int | None:
    """The ``seq`` field of a published output, or None if it has none."""
    raw = fields.get(b"seq")
    if raw is None or not raw.isdigit():
        return None
    return int(raw)


async def highest_published_seq(link: Link, names: tuple[str, ...]) -> int:
    """The greatest ``seq`` on the output streams (0 when nothing was published)."""
    best = 0
    for name in names:
        last = await streams.last_entry(link, name)
        if last is not None:
            best = max(best, entry_seq(last[1]) or 0)
    return best


class _Cursor:
    """Forward reader of one output stream, from an entry ID on."""

    def __init__(self, link: Link, stream: str, after: str, chunk: int) -> None:
        self.link = link
        self.stream = stream
        self.after = after
        self.chunk = chunk
        self.buffer: deque[tuple[str, Encoded]] = deque()
        self.exhausted = False
        self.last_matched: str | None = None  # ID of the last entry consumed

    def pop(self) -> None:
        self.last_matched = self.buffer.popleft()[0]

    async def peek(self) -> tuple[str, Encoded] | None:
        if not self.buffer and not self.exhausted:
            entries = await streams.entries_after(self.link, self.stream, self.after, self.chunk)
            for raw_id, fields in entries:
                self.buffer.append((raw_id.decode(), fields))
            if entries:
                self.after = self.buffer[-1][0]
            if len(entries) < self.chunk:
                self.exhausted = True
        return self.buffer[0] if self.buffer else None


class PublishedLog:
    """The published outputs above a snapshot's ``seq``, matched one by one against replay."""

    def __init__(
        self,
        link: Link,
        after: dict[str, str],
        snapshot_seq: int,
        published_max: int,
        chunk: int = 2000,
    ) -> None:
        self.cursors = {name: _Cursor(link, name, pos, chunk) for name, pos in after.items()}
        self.snapshot_seq = snapshot_seq
        self.published_max = published_max
        self.verified = 0

    def covers(self, seq: int) -> bool:
        """True when output ``seq`` was published before the restart."""
        return seq <= self.published_max

    async def match(self, stream: str, seq: int, replayed: Encoded) -> Mismatch | None:
        """Compare replayed output ``seq`` with the published one; None when identical."""
        cursor = self.cursors[stream]
        while True:
            head = await cursor.peek()
            if head is None:
                return Mismatch(seq, stream, replayed, None, None)
            entry_id, fields = head
            published_seq = entry_seq(fields)
            if published_seq is None or published_seq <= self.snapshot_seq:
                cursor.pop()  # older than the snapshot, or not the engine's
                continue
            if published_seq < seq:
                cursor.pop()
                return Mismatch(published_seq, stream, None, fields, entry_id)
            if published_seq > seq:
                return Mismatch(seq, stream, replayed, None, None)
            cursor.pop()
            self.verified += 1
            if fields != replayed:
                return Mismatch(seq, stream, replayed, fields, entry_id)
            return None
