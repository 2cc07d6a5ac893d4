"""Trigger books: which exits a price fires, in which order, and OCO removal."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from engine.state import Trade
from engine.triggers import LIQUIDATION, STOP_LOSS, TAKE_PROFIT, TriggerBook


def trade(tid: str, seq: int, long: bool, sl: int = 0, tp: int = 0, liq: int = 0) -> Trade:
    return Trade(tid, "a@x.io", "BTC_USDC", long, 100, 10, 1000, sl, tp, liq, 0, seq)


def test_long_exits_watch_the_bid_and_short_exits_the_ask() -> None:
    book = TriggerBook()
    book.add(trade("L", 1, True, sl=900, tp=1100, liq=500))
    book.add(trade("S", 2, False, sl=1100, tp=900, liq=1500))
    assert book.fired(bid=901, ask=1099) == []
    assert book.fired(bid=900, ask=1099) == [(900, 1, STOP_LOSS, "L")]
    assert book.fired(bid=900, ask=900) == [(900, 2, TAKE_PROFIT, "S")]


def test_gap_pops_every_crossed_level_highest_first_for_falls() -> None:
    book = TriggerBook()
    for i, level in enumerate([950, 800, 990]):
        book.add(trade(f"t{i}", i, True, sl=level, liq=100 + i))
    fired = book.fired(bid=700, ask=700)
    assert [f[0] for f in fired] == [990, 950, 800]
    assert len(book) == 0  # the liquidation levels below the stops were never indexed


def test_remove_drops_the_other_exits_oco() -> None:
    book = TriggerBook()
    t = trade("t", 1, True, sl=900, tp=1100, liq=500)
    book.add(t)
    assert book.contains(t) and len(book) == 2  # stop and target; liquidation is below the stop
    book.remove(t)
    assert len(book) == 0 and not book.contains(t)
    assert book.fired(bid=1, ask=10**9) == []


def test_long_liquidation_at_or_below_zero_is_never_indexed() -> None:
    book = TriggerBook()
    book.add(trade("t", 1, True, liq=0))
    assert len(book) == 0
    short = trade("s", 2, False, liq=2000)
    book.add(short)
    assert book.fired(bid=1999, ask=2000) == [(2000, 2, LIQUIDATION, "s")]


def test_a_stop_below_a_longs_liquidation_leaves_the_liquidation_indexed() -> None:
    book = TriggerBook()
    book.add(trade("L", 1, True, sl=400, liq=500))
    book.add(trade("S", 2, False, sl=1600, liq=1500))
    assert len(book) == 2
    assert book.fired(bid=300, ask=1700) == [
        (500, 1, LIQUIDATION, "L"),
        (1500, 2, LIQUIDATION, "S"),
    ]


def test_ties_between_stop_and_liquidation_fire_as_the_full_sort_orders_them() -> None:
    book = TriggerBook()
    book.add(trade("L", 1, True, sl=500, liq=500))
    book.add(trade("S", 2, False, sl=1500, liq=1500))
    assert book.fired(bid=500, ask=1500) == [(500, 1, STOP_LOSS, "L"), (1500, 2, LIQUIDATION, "S")]


class ReferenceBook:
    """Every exit of every trade as a sorted (level, seq, kind, id) tuple: the plain model."""

    def __init__(self) -> None:
        self.falls_long: list[tuple[int, int, int, str]] = []
        self.rises_long: list[tuple[int, int, int, str]] = []
        self.rises_short: list[tuple[int, int, int, str]] = []
        self.falls_short: list[tuple[int, int, int, str]] = []

    def add(self, t: Trade) -> None:
        if t.is_long:
            if t.liquidation > 0:
                self.falls_long.append((t.liquidation, t.seq, LIQUIDATION, t.trade_id))
            if t.stop_loss:
                self.falls_long.append((t.stop_loss, t.seq, STOP_LOSS, t.trade_id))
            if t.take_profit:
                self.rises_long.append((t.take_profit, t.seq, TAKE_PROFIT, t.trade_id))
        else:
            self.rises_short.append((t.liquidation, t.seq, LIQUIDATION, t.trade_id))
            if t.stop_loss:
                self.rises_short.append((t.stop_loss, t.seq, STOP_LOSS, t.trade_id))
            if t.take_profit:
                self.falls_short.append((t.take_profit, t.seq, TAKE_PROFIT, t.trade_id))

    def remove(self, trade_id: str) -> None:
        for book in (self.falls_long, self.rises_long, self.rises_short, self.falls_short):
            book[:] = [e for e in book if e[3] != trade_id]

    def first_exits(self, bid: int, ask: int) -> list[tuple[int, str]]:
        """(kind, trade_id) of the first exit of each trade this price fires, in order."""
        crossed = (
            sorted((e for e in self.falls_long if e[0] >= bid), reverse=True)
            + sorted(e for e in self.rises_long if e[0] <= bid)
            + sorted(e for e in self.rises_short if e[0] <= ask)
            + sorted((e for e in self.falls_short if e[0] >= ask), reverse=True)
        )
        out: list[tuple[int, str]] = []
        for _level, _seq, kind, trade_id in crossed:
            if trade_id not in {t for _k, t in out}:
                out.append((kind, trade_id))
        return out


levels = st.integers(min_value=-3, max_value=20)  # few values: ties and gaps are common
trades_strategy = st.lists(
    st.tuples(st.booleans(), levels, levels, levels), min_size=1, max_size=12
)


@given(trades_strategy, st.lists(st.tuples(levels, st.integers(0, 20)), max_size=8))
def test_the_book_fires_exactly_what_indexing_every_exit_would(
    specs: list[tuple[bool, int, int, int]], ticks: list[tuple[int, int]]
) -> None:
    """Same exits, same kinds, same order as the plain model that indexes all of them, tick
    after tick, with each fired trade removed (OCO) as the engine does."""
    book, model = TriggerBook(), ReferenceBook()
    open_trades: dict[str, Trade] = {}
    for seq, (long, sl, tp, liq) in enumerate(specs):
        liq = liq if long else max(liq, 1)  # a SHORT's liquidation is always above zero
        t = trade(f"t{seq}", seq, long, sl=max(sl, 0), tp=max(tp, 0), liq=liq)
        book.add(t)
        model.add(t)
        open_trades[t.trade_id] = t
    for bid, spread in ticks:
        expected = model.first_exits(bid, bid + spread)
        got: list[tuple[int, str]] = []
        for _level, _seq, kind, trade_id in book.fired(bid, bid + spread):
            if trade_id not in {t for _k, t in got}:
                got.append((kind, trade_id))
        assert got == expected
        for _kind, trade_id in got:
            book.remove(open_trades.pop(trade_id))
            model.remove(trade_id)
    for t in open_trades.values():
        assert book.contains(t)
    can_fire = sum(
        bool(t.stop_loss or t.liquidation > 0 or not t.is_long) + bool(t.take_profit)
        for t in open_trades.values()
    )
    assert len(book) == can_fire
