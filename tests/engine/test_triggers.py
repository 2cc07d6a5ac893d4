"""Trigger books: which exits a price fires, in which order, and OCO removal."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.state import Trade
from engine.triggers import LIQUIDATION, SEQ_LIMIT, STOP_LOSS, TAKE_PROFIT, TriggerBook


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


def test_a_nearer_exit_is_never_masked_by_a_farther_one_in_any_index() -> None:
    """Each index fires from its near end: a level the price crossed fires even when another
    trade's level beyond it did not."""
    book = TriggerBook()
    book.add(trade("Lsl90", 1, True, sl=90))  # long stops: fire at bid <= level
    book.add(trade("Lsl80", 2, True, sl=80))
    book.add(trade("Ltp110", 3, True, tp=110))  # long targets: fire at bid >= level
    book.add(trade("Ltp120", 4, True, tp=120))
    book.add(trade("Ssl110", 5, False, sl=110, liq=500))  # short stops: fire at ask >= level
    book.add(trade("Ssl120", 6, False, sl=120, liq=500))
    book.add(trade("Stp90", 7, False, tp=90, liq=500))  # short targets: fire at ask <= level
    book.add(trade("Stp80", 8, False, tp=80, liq=500))
    assert book.fired(bid=85, ask=85) == [
        (90, 1, STOP_LOSS, "Lsl90"),
        (90, 7, TAKE_PROFIT, "Stp90"),
    ]
    assert book.fired(bid=115, ask=115) == [
        (110, 3, TAKE_PROFIT, "Ltp110"),
        (110, 5, STOP_LOSS, "Ssl110"),
    ]


def test_each_index_fires_exactly_at_its_level_and_not_one_tick_before() -> None:
    book = TriggerBook()
    book.add(trade("L", 1, True, sl=90, tp=110))
    book.add(trade("S", 2, False, sl=110, tp=90, liq=500))
    assert book.fired(bid=91, ask=109) == []
    assert book.fired(bid=109, ask=109) == []  # the long's target wants bid 110; the short's
    assert book.fired(bid=91, ask=91) == []  # target ask 90, its stop ask 110
    assert book.fired(bid=110, ask=110) == [(110, 1, TAKE_PROFIT, "L"), (110, 2, STOP_LOSS, "S")]
    book = TriggerBook()
    book.add(trade("L", 1, True, sl=90, tp=110))
    book.add(trade("S", 2, False, sl=110, tp=90, liq=500))
    assert book.fired(bid=90, ask=90) == [(90, 1, STOP_LOSS, "L"), (90, 2, TAKE_PROFIT, "S")]


def test_removing_a_trade_forgets_its_id() -> None:
    book = TriggerBook()
    kept, gone = trade("kept", 1, True, sl=90), trade("gone", 2, False, tp=90, liq=500)
    book.add(kept)
    book.add(gone)
    book.remove(gone)
    assert book.trade_ids == {1: "kept"}  # no leak: an ID is held only while indexed
    assert book.contains(kept) and not book.contains(gone)
    book.remove(kept)
    assert book.trade_ids == {} and len(book) == 0


def test_add_all_indexes_as_add_does_one_by_one() -> None:
    trades = [
        trade("a", 1, True, sl=90, tp=110, liq=50),
        trade("b", 2, False, sl=110, tp=90, liq=150),
        trade("c", 3, True, liq=95),
        trade("d", 4, False, liq=105),
    ]
    one, bulk = TriggerBook(), TriggerBook()
    for t in trades:
        one.add(t)
    bulk.add_all(trades)
    for name in ("long_falls", "long_rises", "short_falls", "short_rises", "trade_ids"):
        assert list(getattr(bulk, name)) == list(getattr(one, name)), name
    assert len(bulk) == 6 and all(bulk.contains(t) for t in trades)


def test_a_trade_seq_outside_the_keys_range_is_refused() -> None:
    assert SEQ_LIMIT == 2**38  # below it, (level, seq, kind) packs into one int losslessly
    book = TriggerBook()
    book.add(trade("first", 0, True, liq=90))
    book.add(trade("last", 2**38 - 1, True, sl=80))
    for seq in (-1, 2**38):
        with pytest.raises(ValueError, match="out of the index"):
            book.add(trade("bad", seq, True, sl=70))
    # the seq-0 liquidation sits exactly at its level's key: it still fires at that level
    assert book.fired(bid=90, ask=90) == [(90, 0, LIQUIDATION, "first")]
    assert book.fired(bid=1, ask=1) == [(80, 2**38 - 1, STOP_LOSS, "last")]


def test_contains_needs_the_same_trade_id_and_every_exit() -> None:
    book = TriggerBook()
    t = trade("t", 1, True, sl=90, tp=110)
    book.add(t)
    assert not book.contains(trade("other", 1, True, sl=90, tp=110))
    assert not book.contains(trade("t", 1, True, sl=90, tp=111))
    assert book.contains(t)


def test_seq_0_exits_fire_at_their_level_and_not_a_tick_before() -> None:
    """Seq 0 with kind 0 (a liquidation) is the one key equal to a level's bound."""
    book = TriggerBook()
    book.add(trade("S", 0, False, liq=101))
    assert book.fired(bid=100, ask=100) == []
    assert book.fired(bid=100, ask=101) == [(101, 0, LIQUIDATION, "S")]
    book.add(trade("L", 0, True, liq=99))
    assert book.fired(bid=100, ask=100) == []
    assert book.fired(bid=99, ask=100) == [(99, 0, LIQUIDATION, "L")]
