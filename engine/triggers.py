"""Per-asset trigger indexes for stop-loss, take-profit and liquidation levels.

A LONG's exits watch the bid, a SHORT's the ask. For each watched side there are two sorted
indexes: one that fires when the price falls to or below the level, one when it rises to or
above. A tick pops from the ends only, so it costs O(log n + k) for k fired, whatever the
number n of open positions.

An index holds one plain integer per exit, ``level * 2**40 + seq * 4 + kind``: it sorts exactly
as the tuple ``(level, seq, kind)`` would (``seq`` < 2**38, ``kind`` < 4), but compares as one
int, which makes inserts and removals cheaper and an exit smaller than a tuple of three ints.
The trade's ID is found by its ``seq`` (unique per trade) only when an exit fires.
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
        """Index every exit of ``trade``."""
        seq = trade.seq
        if not 0 <= seq < SEQ_LIMIT:
            raise ValueError(f"trade seq {seq} out of the index's range")
        self.trade_ids[seq] = trade.trade_id
        base = seq << 2
        if trade.is_long:
            if trade.liquidation > 0:
                self.long_falls.add((trade.liquidation << LEVEL_SHIFT) + base + LIQUIDATION)
            if trade.stop_loss:
                self.long_falls.add((trade.stop_loss << LEVEL_SHIFT) + base + STOP_LOSS)
            if trade.take_profit:
                self.long_rises.add((trade.take_profit << LEVEL_SHIFT) + base + TAKE_PROFIT)
        else:
            self.short_rises.add((trade.liquidation << LEVEL_SHIFT) + base + LIQUIDATION)
            if trade.stop_loss:
                self.short_rises.add((trade.stop_loss << LEVEL_SHIFT) + base + STOP_LOSS)
            if trade.take_profit:
                self.short_falls.add((trade.take_profit << LEVEL_SHIFT) + base + TAKE_PROFIT)

    def add_all(self, trades: Iterable[Trade]) -> None:
        """Index every exit of many trades: one sort per index, not one insert per exit.

        Same result as ``add`` for each; used when a snapshot is loaded (10^5 positions).
        """
        pending: dict[int, tuple[SortedList, list[int]]] = {}
        for trade in trades:
            if not 0 <= trade.seq < SEQ_LIMIT:
                raise ValueError(f"trade seq {trade.seq} out of the index's range")
            self.trade_ids[trade.seq] = trade.trade_id
            for book, key in self._keys(trade):
                pending.setdefault(id(book), (book, []))[1].append(key)
        for book, keys in pending.values():
            book.update(keys)

    def remove(self, trade: Trade) -> None:
        """Remove every exit of ``trade`` that is still indexed (OCO after one fired)."""
        base = trade.seq << 2
        if trade.is_long:
            if trade.liquidation > 0:
                self.long_falls.discard((trade.liquidation << LEVEL_SHIFT) + base + LIQUIDATION)
            if trade.stop_loss:
                self.long_falls.discard((trade.stop_loss << LEVEL_SHIFT) + base + STOP_LOSS)
            if trade.take_profit:
                self.long_rises.discard((trade.take_profit << LEVEL_SHIFT) + base + TAKE_PROFIT)
        else:
            self.short_rises.discard((trade.liquidation << LEVEL_SHIFT) + base + LIQUIDATION)
            if trade.stop_loss:
                self.short_rises.discard((trade.stop_loss << LEVEL_SHIFT) + base + STOP_LOSS)
            if trade.take_profit:
                self.short_falls.discard((trade.take_profit << LEVEL_SHIFT) + base + TAKE_PROFIT)
        self.trade_ids.pop(trade.seq, None)

    def fired(self, bid: int, ask: int) -> list[Entry]:
        """Pop and return the exits this price fires, in a fixed, reproducible order.

        A gap can cross two exits of one trade (stop-loss and liquidation): the caller acts on
        the first and skips the rest, then ``remove`` drops the exits still indexed.
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

    def _entry(self, key: int) -> Entry:
        seq = (key >> 2) & (SEQ_LIMIT - 1)
        return key >> LEVEL_SHIFT, seq, key & 3, self.trade_ids[seq]

    def _keys(self, trade: Trade) -> list[tuple[SortedList, int]]:
        base = trade.seq << 2
        out: list[tuple[SortedList, int]] = []
        if trade.is_long:
            if trade.liquidation > 0:
                out.append((self.long_falls, (trade.liquidation << LEVEL_SHIFT) + base))
            if trade.stop_loss:
                out.append((self.long_falls, (trade.stop_loss << LEVEL_SHIFT) + base + 1))
            if trade.take_profit:
                out.append((self.long_rises, (trade.take_profit << LEVEL_SHIFT) + base + 2))
        else:
            out.append((self.short_rises, (trade.liquidation << LEVEL_SHIFT) + base))
            if trade.stop_loss:
                out.append((self.short_rises, (trade.stop_loss << LEVEL_SHIFT) + base + 1))
            if trade.take_profit:
                out.append((self.short_falls, (trade.take_profit << LEVEL_SHIFT) + base + 2))
        return out
