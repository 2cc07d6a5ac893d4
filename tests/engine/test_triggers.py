"""Trigger books: which exits a price fires, in which order, and OCO removal."""

from __future__ import annotations

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
    assert len(book) == 3  # liquidation levels far below stay indexed


def test_remove_drops_the_other_exits_oco() -> None:
    book = TriggerBook()
    t = trade("t", 1, True, sl=900, tp=1100, liq=500)
    book.add(t)
    assert book.contains(t) and len(book) == 3
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
