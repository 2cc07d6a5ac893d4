"""Worked examples of trailing stops (engine/trailing.py): ratchet, never back, gaps, spreads,
groups merging, and the index's own invariants."""

from __future__ import annotations

import random
from fractions import Fraction
from math import floor
from typing import Any

from engine import messages as m
from engine.money import USD_SCALE
from engine.state import EngineState, Trade, dump_state, load_state
from engine.trailing import TrailingBook
from tests.engine.driver import Driver, events, units

BTC = "BTC_USDC"
ALICE = "alice@example.com"
P = 10_000
MARGIN = 100 * USD_SCALE


def funded(bid: int = 60_000 * P, ask: int | None = None) -> Driver:
    d = Driver()
    d.call("acc", m.CREATE_ACCOUNT, ALICE)
    d.tick(BTC, bid, ask)
    return d


def open_trade(d: Driver, order_id: str = "t1", **kw: Any) -> m.Response:
    args = {"asset": BTC, "direction": "LONG", "margin": MARGIN, "leverage": 100} | kw
    r = d.call(order_id, m.CREATE_TRADE, ALICE, **args)
    assert r.status == m.SUCCESS, r.message
    return r


def stop_now(d: Driver, trade_id: str = "t1") -> int:
    r = d.call(f"list{d.n}", m.GET_OPEN_TRADES, ALICE)
    (shown,) = [t for t in r.data["trades"] if t["tradeId"] == trade_id]
    return units(shown["trailingStopPrice"])


def test_trailing_stop_ratchets_up_and_never_moves_back() -> None:
    d = funded()
    r = open_trade(d, trailingDistance=1_000 * P)
    assert units(r.data["trailingDistance"]) == 1_000 * P
    assert stop_now(d) == 59_000 * P
    d.tick(BTC, 61_000 * P)
    assert stop_now(d) == 60_000 * P
    d.tick(BTC, 60_500 * P)  # down: the stop stays
    assert stop_now(d) == 60_000 * P
    d.tick(BTC, 62_000 * P)
    assert stop_now(d) == 61_000 * P
    assert events(d.tick(BTC, 61_001 * P)) == []
    (fired,) = events(d.tick(BTC, 60_900 * P))  # gaps through 61,000: closes at the tick
    assert fired.event_type == m.TRADE_TRAILING_STOP
    assert (fired.close_price, fired.trailing_stop_price) == (60_900 * P, 61_000 * P)
    assert fired.trailing_distance == 1_000 * P
    # 10x on 100 USD over +900/60,000, floored: 15 USD exactly
    expected = floor(Fraction(MARGIN) * 10 * Fraction(900, 60_000))
    assert fired.pnl == expected == 15 * USD_SCALE
    assert d.engine.state.trails == {} and d.engine.state.trail_marks == {}
    assert d.conserved()


def test_a_short_trailing_stop_follows_the_lowest_ask() -> None:
    d = funded(59_990 * P, 60_000 * P)
    open_trade(d, direction="SHORT", trailingDistance=1_000 * P)  # opened at the bid 59,990
    assert stop_now(d) == 61_000 * P  # lowest ask since set (60,000) + 1,000
    d.tick(BTC, 58_990 * P, 59_000 * P)
    assert stop_now(d) == 60_000 * P
    d.tick(BTC, 59_490 * P, 59_500 * P)
    assert stop_now(d) == 60_000 * P
    assert events(d.tick(BTC, 59_900 * P, 59_999 * P)) == []
    (fired,) = events(d.tick(BTC, 59_950 * P, 60_000 * P))  # the ask reaches 60,000
    assert fired.event_type == m.TRADE_TRAILING_STOP
    assert fired.close_price == 60_000 * P  # a SHORT closes at the ask


def test_a_long_trailing_stop_watches_the_bid_not_the_ask() -> None:
    d = funded(60_000 * P, 60_100 * P)
    open_trade(d, trailingDistance=500 * P)
    d.tick(BTC, 60_000 * P, 61_000 * P)  # the ask jumps, the bid does not: no new high
    assert stop_now(d) == 59_500 * P
    d.tick(BTC, 60_200 * P, 60_300 * P)
    assert stop_now(d) == 59_700 * P


def test_stops_set_at_different_prices_merge_on_a_new_high_and_fire_tightest_first() -> None:
    d = funded()
    open_trade(d, "a", trailingDistance=2_000 * P)  # mark 60,000
    d.tick(BTC, 59_000 * P)
    open_trade(d, "b", trailingDistance=500 * P)  # mark 59,000: stop 58,500
    open_trade(d, "c", trailingDistance=1_000 * P)  # mark 59,000: stop 58,000
    assert len(d.engine.state.trail_marks) == 2
    d.tick(BTC, 60_500 * P)  # lifts both groups to 60,500
    assert len(d.engine.state.trail_marks) == 1
    assert [stop_now(d, t) for t in "abc"] == [58_500 * P, 60_000 * P, 59_500 * P]
    out = events(d.tick(BTC, 59_500 * P))  # fires b (60,000) and c (59,500), not a
    assert [(e.trade_id, e.event_type) for e in out] == [
        ("b", m.TRADE_TRAILING_STOP),
        ("c", m.TRADE_TRAILING_STOP),
    ]
    assert list(d.engine.state.trades) == ["a"]
    for book in d.engine.desk.trails.values():
        book.long.check()
        book.short.check()


def test_gap_through_a_trailing_stop_and_the_stop_loss_reports_the_nearer() -> None:
    d = funded()
    open_trade(d, "near-trail", trailingDistance=1_000 * P, stopLossPrice=58_000 * P)
    open_trade(d, "near-stop", trailingDistance=1_000 * P, stopLossPrice=59_500 * P)
    out = events(d.tick(BTC, 57_000 * P))
    reasons = {e.trade_id: e.event_type for e in out}
    assert reasons == {"near-trail": m.TRADE_TRAILING_STOP, "near-stop": m.TRADE_STOP_LOSS}
    assert d.engine.state.trails == {}


def test_a_trailing_stop_goes_when_its_trade_is_closed_or_its_take_profit_fires() -> None:
    d = funded()
    open_trade(d, "a", trailingDistance=1_000 * P)
    open_trade(d, "b", trailingDistance=1_000 * P, takeProfitPrice=61_000 * P)
    d.call("close", m.CLOSE_TRADE, ALICE, tradeId="a")
    (tp,) = events(d.tick(BTC, 61_000 * P))
    assert tp.event_type == m.TRADE_TAKE_PROFIT
    assert d.engine.state.trails == {} and len(d.engine.desk.trails[BTC]) == 0


def test_trailing_state_survives_a_snapshot_and_continues_identically() -> None:
    d = funded()
    open_trade(d, "a", trailingDistance=2_000 * P)
    d.tick(BTC, 59_000 * P)
    open_trade(d, "b", trailingDistance=500 * P)
    d.tick(BTC, 59_800 * P)
    restored = Driver(state=load_state(dump_state(d.engine.state)))
    restored.ms, restored.n = d.ms, d.n
    for bid in (60_100, 59_900, 61_000, 60_400, 58_000):
        assert d.tick(BTC, bid * P) == restored.tick(BTC, bid * P)
    assert dump_state(d.engine.state) == dump_state(restored.engine.state)


def test_the_grouped_index_fires_exactly_what_a_per_stop_loop_would() -> None:
    """The reference: each stop keeps its own mark, updated on every tick (O(n))."""
    rng = random.Random(7)
    for _round in range(30):
        state = EngineState()
        book = TrailingBook(state)
        ref: dict[str, tuple[bool, int, int]] = {}  # trade_id -> (is_long, mark, distance)
        trades: dict[str, Trade] = {}
        bid = 1_000
        for step in range(200):
            if rng.random() < 0.3:
                tid = f"t{step}"
                trade = Trade(
                    tid,
                    "a",
                    BTC,
                    rng.random() < 0.5,
                    1,
                    10,
                    1,
                    0,
                    0,
                    0,
                    0,
                    step,
                    rng.randint(1, 40),
                )
                trades[tid] = trade
                ask = bid + 3
                book.add(trade, bid, ask)
                ref[tid] = (trade.is_long, bid if trade.is_long else ask, trade.trailing_distance)
            elif ref and rng.random() < 0.1:
                tid = rng.choice(sorted(ref))
                book.remove(trades[tid])
                del ref[tid]
            bid = max(1, bid + rng.randint(-25, 25))
            ask = bid + 3
            fired = {tid for _level, _seq, tid in book.tick(bid, ask)}
            expected = set()
            for tid, (is_long, mark, dist) in list(ref.items()):
                mark = max(mark, bid) if is_long else min(mark, ask)
                ref[tid] = (is_long, mark, dist)
                if (bid <= mark - dist) if is_long else (ask >= mark + dist):
                    expected.add(tid)
                    del ref[tid]
            assert fired == expected
            for tid, (is_long, mark, dist) in ref.items():
                side = book.long if is_long else book.short
                assert side.level(trades[tid]) == (mark - dist if is_long else mark + dist)
            book.long.check()
            book.short.check()
