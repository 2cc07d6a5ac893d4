"""The order in which the engine applies its two input streams, reproducible from the streams alone.

The order is the merge of both streams by entry ID, prices first on a tie. Live, entries arrive
in rounds; a round may release an entry only once nothing can still appear before it:

- every entry with a millisecond below the Redis server time ``TIME`` taken *before* the read
  is already in its stream (Redis stamps new entries with the current time, and never below the
  stream's last ID), so the read sees it;
- a read cut short by its ``COUNT`` says nothing beyond its last entry, so the round stops there.

Entries above the bound wait in the buffer for a later round. Concatenating the rounds gives the
same sequence as merging the complete streams, which is what replay does. (This assumes producers
let Redis choose entry IDs (``XADD *``) and the server clock does not step back; both hold for
the reference protocol's producers.)
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from engine.stream_ids import EntryId, parse_id

PRICE = 0
COMMAND = 1
KINDS = (PRICE, COMMAND)
MAX_ID = (2**64 - 1, 2**64 - 1)

Fields = Mapping[Any, Any]
Entry = tuple[EntryId, str, Fields]  # (parsed ID, ID text, fields)
Ordered = tuple[int, str, Fields]  # (kind, ID text, fields)


def time_bound(server_us: int) -> EntryId:
    """The greatest entry ID that can no longer be preceded by a new entry, given ``TIME``."""
    return (server_us // 1000 - 1, MAX_ID[1])


def merge(prices: Iterable[Entry], commands: Iterable[Entry]) -> Iterator[Ordered]:
    """The apply order of two complete, ID-sorted streams: by ID, prices first on a tie."""
    p_iter, c_iter = iter(prices), iter(commands)
    p, c = next(p_iter, None), next(c_iter, None)
    while p is not None or c is not None:
        if c is None or (p is not None and p[0] <= c[0]):
            assert p is not None
            yield PRICE, p[1], p[2]
            p = next(p_iter, None)
        else:
            yield COMMAND, c[1], c[2]
            c = next(c_iter, None)


class InputBuffer:
    """Entries read from both input streams but not yet applied, released in apply order."""

    def __init__(self, price_position: str, command_position: str) -> None:
        self.read_position = [price_position, command_position]
        self._pending: tuple[deque[Entry], deque[Entry]] = (deque(), deque())

    def add(self, kind: int, entries: Iterable[tuple[str | bytes, Fields]]) -> int:
        """Buffer entries of one stream as read (ascending IDs, after ``read_position``)."""
        pending = self._pending[kind]
        added = 0
        for raw_id, fields in entries:
            text = raw_id.decode() if isinstance(raw_id, bytes) else raw_id
            pending.append((parse_id(text), text, fields))
            added += 1
        if added:
            self.read_position[kind] = pending[-1][1]
        return added

    def release(self, bound: EntryId) -> list[Ordered]:
        """Remove and return, in apply order, every buffered entry with an ID up to ``bound``."""
        prices, commands = self._pending
        out: list[Ordered] = []
        while True:
            p = prices[0] if prices and prices[0][0] <= bound else None
            c = commands[0] if commands and commands[0][0] <= bound else None
            if p is None and c is None:
                return out
            if c is None or (p is not None and p[0] <= c[0]):
                prices.popleft()
                out.append((PRICE, p[1], p[2]))  # type: ignore[index]
            else:
                commands.popleft()
                out.append((COMMAND, c[1], c[2]))

    def __len__(self) -> int:
        return len(self._pending[0]) + len(self._pending[1])

    def oldest(self) -> EntryId | None:
        """The smallest buffered ID, if any."""
        heads = [q[0][0] for q in self._pending if q]
        return min(heads) if heads else None


def round_bound(server_us: int, cut_short: Iterable[str]) -> EntryId:
    """The release bound of a round: below ``TIME``, and no further than any read cut short."""
    bound = time_bound(server_us)
    for last_read in cut_short:
        bound = min(bound, parse_id(last_read))
    return bound
