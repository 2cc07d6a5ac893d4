"""Pending LIMIT and STOP entry orders, indexed by price and by expiry.

Fill rules (a LONG watches the ask, a SHORT the bid, the prices it would open at):

| order | fills when | at |
| --- | --- | --- |
| LONG LIMIT | ask <= price | the ask (a gap fills at the better tick price) |
| LONG STOP | ask >= price | the ask (a gap fills at the worse tick price) |
| SHORT LIMIT | bid >= price | the bid |
| SHORT STOP | bid <= price | the bid |

Per asset, four sorted indexes of ``price * 2**40 + seq * 4`` (as ``engine.triggers``): a tick
pops from their ends only, so it costs O(log n + k) for k filled, whatever the number n of
pending orders; a tick that fills nothing probes the four ends (O(1) each). Expiry is one sorted
index of ``expires_at * 2**40 + seq`` over all assets: the engine compares each entry's
millisecond with its first key, and pops only what has expired.
"""

from __future__ import annotations

from collections.abc import Iterable

from sortedcontainers import SortedList

from engine.state import PendingOrder
from engine.triggers import LEVEL_SHIFT, SEQ_LIMIT

NEVER = 1 << 62  # "no expiry pending": later than any stream millisecond


class PendingBook:
    """One asset's pending orders, indexed for O(log n + k) ticks."""

    __slots__ = ("ask_falls", "ask_rises", "bid_falls", "bid_rises", "order_ids")

    def __init__(self) -> None:
        self.ask_falls: SortedList = SortedList()  # LONG LIMIT: fills when ask <= price
        self.ask_rises: SortedList = SortedList()  # LONG STOP: fills when ask >= price
        self.bid_rises: SortedList = SortedList()  # SHORT LIMIT: fills when bid >= price
        self.bid_falls: SortedList = SortedList()  # SHORT STOP: fills when bid <= price
        self.order_ids: dict[int, str] = {}  # seq -> order_id

    def __len__(self) -> int:
        return len(self.order_ids)

    def _index(self, order: PendingOrder) -> tuple[SortedList, int]:
        if order.is_long:
            book = self.ask_rises if order.is_stop else self.ask_falls
        else:
            book = self.bid_falls if order.is_stop else self.bid_rises
        return book, (order.price << LEVEL_SHIFT) + (order.seq << 2)

    def add(self, order: PendingOrder) -> None:
        if not 0 <= order.seq < SEQ_LIMIT:
            raise ValueError(f"order seq {order.seq} out of the index's range")
        book, key = self._index(order)
        book.add(key)
        self.order_ids[order.seq] = order.order_id

    def load(self, orders: Iterable[PendingOrder]) -> None:
        """Index many orders at once (snapshot load): one sort per index."""
        keys: dict[int, tuple[SortedList, list[int]]] = {}
        for order in orders:
            book, key = self._index(order)
            keys.setdefault(id(book), (book, []))[1].append(key)
            self.order_ids[order.seq] = order.order_id
        for book, batch in keys.values():
            book.update(batch)

    def remove(self, order: PendingOrder) -> None:
        book, key = self._index(order)
        book.remove(key)
        del self.order_ids[order.seq]

    def contains(self, order: PendingOrder) -> bool:
        book, key = self._index(order)
        return self.order_ids.get(order.seq) == order.order_id and key in book

    def filled(self, bid: int, ask: int) -> list[str]:
        """Pop and return the IDs of the orders this price fills, in a fixed order: LONG
        limits (best price first), LONG stops, SHORT limits, SHORT stops."""
        keys: list[int] = []
        book = self.ask_falls
        floor = ask << LEVEL_SHIFT  # price >= ask
        while book and book[-1] >= floor:
            keys.append(book.pop())
        book = self.ask_rises
        ceiling = (ask + 1) << LEVEL_SHIFT  # price <= ask
        while book and book[0] < ceiling:
            keys.append(book.pop(0))
        book = self.bid_rises
        ceiling = (bid + 1) << LEVEL_SHIFT  # price <= bid
        while book and book[0] < ceiling:
            keys.append(book.pop(0))
        book = self.bid_falls
        floor = bid << LEVEL_SHIFT  # price >= bid
        while book and book[-1] >= floor:
            keys.append(book.pop())
        if not keys:
            return []
        order_ids = self.order_ids
        mask = SEQ_LIMIT - 1
        return [order_ids.pop((key >> 2) & mask) for key in keys]


class ExpiryIndex:
    """Pending orders with an expiry, by (expires_at, seq), across all assets."""

    __slots__ = ("keys", "next_ms", "order_ids")

    def __init__(self) -> None:
        self.keys: SortedList = SortedList()
        self.order_ids: dict[int, str] = {}
        self.next_ms = NEVER  # the earliest expiry: entries before it skip the index entirely

    def __len__(self) -> int:
        return len(self.keys)

    def add(self, order: PendingOrder) -> None:
        if order.expires_at:
            self.keys.add((order.expires_at << LEVEL_SHIFT) + order.seq)
            self.order_ids[order.seq] = order.order_id
            self._next()

    def load(self, orders: Iterable[PendingOrder]) -> None:
        batch = []
        for order in orders:
            if order.expires_at:
                batch.append((order.expires_at << LEVEL_SHIFT) + order.seq)
                self.order_ids[order.seq] = order.order_id
        self.keys.update(batch)
        self._next()

    def remove(self, order: PendingOrder) -> None:
        if order.expires_at:
            self.keys.remove((order.expires_at << LEVEL_SHIFT) + order.seq)
            del self.order_ids[order.seq]
            self._next()

    def contains(self, order: PendingOrder) -> bool:
        key = (order.expires_at << LEVEL_SHIFT) + order.seq
        return self.order_ids.get(order.seq) == order.order_id and key in self.keys

    def expired(self, now_ms: int) -> list[str]:
        """Pop and return the IDs of the orders expired at ``now_ms`` (expires_at <= now),
        earliest first."""
        keys = self.keys
        ceiling = (now_ms + 1) << LEVEL_SHIFT
        out = []
        while keys and keys[0] < ceiling:
            out.append(self.order_ids.pop(keys.pop(0) & ((1 << LEVEL_SHIFT) - 1)))
        self._next()
        return out

    def _next(self) -> None:
        self.next_ms = self.keys[0] >> LEVEL_SHIFT if self.keys else NEVER
