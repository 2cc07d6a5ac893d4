"""Per-asset trigger indexes for stop-loss, take-profit and liquidation levels.

A LONG's exits watch the bid, a SHORT's the ask. For each watched side there are two sorted
indexes of ``(level, seq, kind, trade_id)``: one that fires when the price falls to or below the
level, one when it rises to or above. A tick pops from the ends only, so it costs
O(log n + k) for k fired, whatever the number n of open positions.
"""

from __future__ import annotations

from collections.abc import Iterable

from sortedcontainers import SortedList

from engine.state import Trade

# Exit kinds; part of the sort key only to make equal levels of one trade distinct.
LIQUIDATION = 0
STOP_LOSS = 1
TAKE_PROFIT = 2

Entry = tuple[int, int, int, str]


class TriggerBook:
    """The exits of one asset's open trades, indexed for O(log n + k) ticks."""

    __slots__ = ("long_falls", "long_rises", "short_falls", "short_rises")

    def __init__(self) -> None:
        self.long_falls: SortedList = SortedList()  # long SL + liquidation, watch bid
        self.long_rises: SortedList = SortedList()  # long TP, watch bid
        self.short_rises: SortedList = SortedList()  # short SL + liquidation, watch ask
        self.short_falls: SortedList = SortedList()  # short TP, watch ask

    def add(self, trade: Trade) -> None:
        """Index every exit of ``trade``."""
        for book, entry in self._entries(trade):
            book.add(entry)

    def add_all(self, trades: Iterable[Trade]) -> None:
        """Index every exit of many trades: one sort per index, not one insert per exit.

        Same result as ``add`` for each; used when a snapshot is loaded (10^5 positions).
        """
        pending: dict[int, tuple[SortedList, list[Entry]]] = {}
        for trade in trades:
            for book, entry in self._entries(trade):
                pending.setdefault(id(book), (book, []))[1].append(entry)
        for book, entries in pending.values():
            book.update(entries)

    def remove(self, trade: Trade) -> None:
        """Remove every exit of ``trade`` that is still indexed (OCO after one fired)."""
        for book, entry in self._entries(trade):
            book.discard(entry)

    def fired(self, bid: int, ask: int) -> list[Entry]:
        """Pop and return the entries this price fires, in a fixed, reproducible order.

        A gap can cross two exits of one trade (stop-loss and liquidation): the caller acts on
        the first and skips the rest, then ``remove`` drops the exits still indexed.
        """
        out: list[Entry] = []
        book = self.long_falls
        while book and book[-1][0] >= bid:
            out.append(book.pop())
        book = self.long_rises
        while book and book[0][0] <= bid:
            out.append(book.pop(0))
        book = self.short_rises
        while book and book[0][0] <= ask:
            out.append(book.pop(0))
        book = self.short_falls
        while book and book[-1][0] >= ask:
            out.append(book.pop())
        return out

    def contains(self, trade: Trade) -> bool:
        """True when every exit of ``trade`` is indexed (used by invariant checks)."""
        return all(entry in book for book, entry in self._entries(trade))

    def __len__(self) -> int:
        return (
            len(self.long_falls)
            + len(self.long_rises)
            + len(self.short_falls)
            + len(self.short_rises)
        )

    def _entries(self, trade: Trade) -> list[tuple[SortedList, Entry]]:
        tid, seq = trade.trade_id, trade.seq
        out: list[tuple[SortedList, Entry]] = []
        if trade.is_long:
            if trade.liquidation > 0:
                out.append((self.long_falls, (trade.liquidation, seq, LIQUIDATION, tid)))
            if trade.stop_loss:
                out.append((self.long_falls, (trade.stop_loss, seq, STOP_LOSS, tid)))
            if trade.take_profit:
                out.append((self.long_rises, (trade.take_profit, seq, TAKE_PROFIT, tid)))
        else:
            out.append((self.short_rises, (trade.liquidation, seq, LIQUIDATION, tid)))
            if trade.stop_loss:
                out.append((self.short_rises, (trade.stop_loss, seq, STOP_LOSS, tid)))
            if trade.take_profit:
                out.append((self.short_falls, (trade.take_profit, seq, TAKE_PROFIT, tid)))
        return out
