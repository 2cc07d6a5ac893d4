"""Per-asset trigger indexes for stop-loss, take-profit and liquidation levels.

A LONG's exits watch the bid, a SHORT's the ask. For each watched side there are two sorted
indexes: one that fires when the price falls to or below the level, one when it rises to or
above. A tick pops from the ends only, so it costs O(log n + k) for k fired, whatever the
number n of open positions.

An index holds one plain integer per exit, ``level * 2**40 + seq * 4 + kind``: it sorts exactly
as the tuple ``(level, seq, kind)`` would (``seq`` < 2**38, ``kind`` < 4), but compares as one
int, which makes inserts and removals cheaper and an exit smaller than a tuple of three ints.
The trade's ID is found by its ``seq`` (unique per trade) only when an exit fires. Of a
trade's stop-loss and liquidation only the one that would fire first is indexed (``_keys``).
"""

from __future__ import annotations

from collections.abc import Iterable

from sortedcontainers import SortedList

from engine.state import Trade

# Exit kinds; part of the sort key only to make equal levels of one trade distinct.
LIQUIDATION = 0
STOP_LOSS = 1
TAKE_PROFIT = 2

LEVEL_SHIFT = 40
SEQ_LIMIT = 1 << (LEVEL_SHIFT - 2)  # trade seqs are below this (2.7e11 trades)

Entry = tuple[int, int, int, str]  # a fired exit: (level, seq, kind, trade_id)


class TriggerBook:
    """The exits of one asset's open trades, indexed for O(log n + k) ticks."""

    __slots__ = ("long_falls", "long_rises", "short_falls", "short_rises", "trade_ids")

    def __init__(self) -> None:
        self.long_falls: SortedList = SortedList()  # long SL + liquidation, watch bid
        self.long_rises: SortedList = SortedList()  # long TP, watch bid
        self.short_rises: SortedList = SortedList()  # short SL + liquidation, watch ask
        self.short_falls: SortedList = SortedList()  # short TP, watch ask
        self.trade_ids: dict[int, str] = {}  # seq -> trade_id of every indexed trade

    def add(self, trade: Trade) -> None:
        """Index the exits of ``trade`` that can fire."""
        for book, key in self._track(trade):
            book.add(key)

    def add_all(self, trades: Iterable[Trade]) -> None:
        """Index every exit of many trades: one sort per index, not one insert per exit.

        Same result as ``add`` for each; used when a snapshot is loaded (10^5 positions).
        """
        pending: dict[int, tuple[SortedList, list[int]]] = {}
        for trade in trades:
            for book, key in self._track(trade):
                pending.setdefault(id(book), (book, []))[1].append(key)
        for book, keys in pending.values():
            book.update(keys)

    def remove(self, trade: Trade) -> None:
        """Remove every exit of ``trade`` that is still indexed (OCO after one fired)."""
        for book, key in self._keys(trade):
            book.discard(key)
        self.trade_ids.pop(trade.seq, None)

    def fired(self, bid: int, ask: int) -> list[Entry]:
        """Pop and return the exits this price fires, in a fixed, reproducible order.

        A trade has at most one exit on each side (``_keys``), so one tick fires at most one
        exit per trade; the caller then ``remove``s the trade's other exit (OCO).
        """
        keys: list[int] = []
        book = self.long_falls
        floor = bid << LEVEL_SHIFT  # level >= bid  <=>  key >= bid * 2**40
        while book and book[-1] >= floor:
            keys.append(book.pop())
        book = self.long_rises
        ceiling = (bid + 1) << LEVEL_SHIFT  # level <= bid  <=>  key < (bid + 1) * 2**40
        while book and book[0] < ceiling:
            keys.append(book.pop(0))
        book = self.short_rises
        ceiling = (ask + 1) << LEVEL_SHIFT
        while book and book[0] < ceiling:
            keys.append(book.pop(0))
        book = self.short_falls
        floor = ask << LEVEL_SHIFT
        while book and book[-1] >= floor:
            keys.append(book.pop())
        if not keys:  # most ticks: skip building the comprehension
            return []
        return [self._entry(key) for key in keys]

    def contains(self, trade: Trade) -> bool:
        """True when every exit of ``trade`` is indexed (used by invariant checks)."""
        return self.trade_ids.get(trade.seq) == trade.trade_id and all(
            key in book for book, key in self._keys(trade)
        )

    def __len__(self) -> int:
        return (
            len(self.long_falls)
            + len(self.long_rises)
            + len(self.short_falls)
            + len(self.short_rises)
        )

    def _track(self, trade: Trade) -> list[tuple[SortedList, int]]:
        """Remember the trade's ID by its seq (for ``_entry``) and return its keys."""
        if not 0 <= trade.seq < SEQ_LIMIT:
            raise ValueError(f"trade seq {trade.seq} out of the index's range")
        self.trade_ids[trade.seq] = trade.trade_id
        return self._keys(trade)

    def _entry(self, key: int) -> Entry:
        seq = (key >> 2) & (SEQ_LIMIT - 1)
        return key >> LEVEL_SHIFT, seq, key & 3, self.trade_ids[seq]

    def _keys(self, trade: Trade) -> list[tuple[SortedList, int]]:
        """The index and key of each exit of ``trade`` that can fire first.

        A stop-loss and the liquidation level wait for the same price to move the same way, so
        the nearer one always fires first (the stop on a LONG's tie, the liquidation on a
        SHORT's: the order the full ``(level, seq, kind)`` sort gives) and the other never
        fires at all: only the nearer is indexed. Which exit fires, at which tick, in which
        order, is exactly that of indexing all three.
        """
        base = trade.seq << 2
        stop, target, liquidation = trade.stop_loss, trade.take_profit, trade.liquidation
        if trade.is_long:  # watch the bid: the stop and liquidation on a fall, the target a rise
            if stop and stop >= liquidation:
                keys = [(self.long_falls, (stop << LEVEL_SHIFT) + base + STOP_LOSS)]
            elif liquidation > 0:
                keys = [(self.long_falls, (liquidation << LEVEL_SHIFT) + base + LIQUIDATION)]
            else:
                keys = []  # a 1x LONG without a stop: nothing below it can close it
            if target:
                keys.append((self.long_rises, (target << LEVEL_SHIFT) + base + TAKE_PROFIT))
        else:  # watch the ask: the stop and liquidation on a rise, the target on a fall
            if stop and stop < liquidation:
                keys = [(self.short_rises, (stop << LEVEL_SHIFT) + base + STOP_LOSS)]
            else:
                keys = [(self.short_rises, (liquidation << LEVEL_SHIFT) + base + LIQUIDATION)]
            if target:
                keys.append((self.short_falls, (target << LEVEL_SHIFT) + base + TAKE_PROFIT))
        return keys
