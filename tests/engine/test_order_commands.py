"""Worked examples of MODIFY_TRADE and the partial CLOSE_TRADE (engine/order_commands.py)."""

from __future__ import annotations

from fractions import Fraction
from math import floor
from typing import Any

from engine import messages as m
from engine.money import USD_SCALE
from engine.state import dump_state, load_state
from engine.wire import encode_event
from tests.engine.driver import Driver, events, units

BTC = "BTC_USDC"
ALICE = "alice@example.com"
BOB = "bob@example.com"
P = 10_000
MARGIN = 100 * USD_SCALE
START = 5000 * USD_SCALE


def funded() -> Driver:
    d = Driver()
    d.call("acc", m.CREATE_ACCOUNT, ALICE)
    d.call("acc-b", m.CREATE_ACCOUNT, BOB)
    d.tick(BTC, 60_000 * P)
    return d


def open_trade(d: Driver, order_id: str = "t1", **kw: Any) -> None:
    args = {"asset": BTC, "direction": "LONG", "margin": MARGIN, "leverage": 100} | kw
    r = d.call(order_id, m.CREATE_TRADE, ALICE, **args)
    assert r.status == m.SUCCESS, r.message


def floor_pnl(margin: int, tenths: int, entry: int, exit_price: int) -> int:
    """A LONG's PnL in USD units, by hand: margin x leverage x move / entry, floored."""
    return floor(Fraction(margin) * Fraction(tenths, 10) * Fraction(exit_price - entry, entry))


# --- MODIFY_TRADE --------------------------------------------------------------------------------


def test_modify_sets_moves_and_removes_exits_and_the_new_stop_fires() -> None:
    d = funded()
    open_trade(d, stopLossPrice=55_000 * P, takeProfitPrice=65_000 * P)
    out = d.command(
        "mod", m.MODIFY_TRADE, ALICE, tradeId="t1", stopLossPrice=59_000 * P, takeProfitPrice=None
    )
    (event,) = events(out)
    assert event.event_type == m.TRADE_MODIFIED
    assert (event.stop_loss_price, event.take_profit_price) == (59_000 * P, 0)
    assert event.order_id == "mod" and event.amount == 0
    assert (event.pnl, event.margin_returned, event.total_return) == (0, 0, 0)
    trade = d.engine.state.trades["t1"]
    assert (trade.stop_loss, trade.take_profit) == (59_000 * P, 0)
    assert events(d.tick(BTC, 70_000 * P)) == []  # the removed take-profit does not fire
    assert events(d.tick(BTC, 59_500 * P)) == []
    (fired,) = events(d.tick(BTC, 59_000 * P))
    assert fired.event_type == m.TRADE_STOP_LOSS
    assert d.conserved()


def test_modify_leaves_absent_keys_unchanged() -> None:
    d = funded()
    open_trade(d, stopLossPrice=55_000 * P, trailingDistance=2_000 * P)
    d.tick(BTC, 61_000 * P)  # trailing mark 61,000
    r = d.call("mod", m.MODIFY_TRADE, ALICE, tradeId="t1", takeProfitPrice=70_000 * P)
    assert r.status == m.SUCCESS, r.message
    assert units(r.data["stopLossPrice"]) == 55_000 * P
    assert units(r.data["takeProfitPrice"]) == 70_000 * P
    assert units(r.data["trailingStopPrice"]) == 59_000 * P  # the mark was kept


def test_modify_sets_the_trailing_stop_anew_from_the_price_now() -> None:
    d = funded()
    open_trade(d, trailingDistance=2_000 * P)
    d.tick(BTC, 61_000 * P)
    d.tick(BTC, 60_500 * P)
    r = d.call("mod", m.MODIFY_TRADE, ALICE, tradeId="t1", trailingDistance=1_000 * P)
    assert units(r.data["trailingStopPrice"]) == 59_500 * P  # 60,500 (the bid now) - 1,000
    r = d.call("mod2", m.MODIFY_TRADE, ALICE, tradeId="t1", trailingDistance=None)
    assert "trailingStopPrice" not in r.data and "trailingDistance" not in r.data
    assert d.engine.state.trails == {}


def test_modify_is_validated_against_the_current_price_and_refused_for_another_user() -> None:
    d = funded()
    open_trade(d, stopLossPrice=55_000 * P)
    d.tick(BTC, 57_000 * P, 57_010 * P)
    cases = [
        (ALICE, {"stopLossPrice": 57_000 * P}, "INVALID_STOP_LOSS", "stopLossPrice"),
        (ALICE, {"takeProfitPrice": 57_010 * P}, "INVALID_TAKE_PROFIT", "takeProfitPrice"),
        (ALICE, {}, "NOTHING_TO_MODIFY", "tradeId"),
        (BOB, {"stopLossPrice": 50_000 * P}, "TRADE_NOT_FOUND", "tradeId"),
    ]
    for i, (email, kw, code, field) in enumerate(cases):
        r = d.call(f"bad{i}", m.MODIFY_TRADE, email, tradeId="t1", **kw)
        assert (r.status, r.data) == (m.ERROR, {"code": code, "field": field}), kw
    assert d.engine.state.trades["t1"].stop_loss == 55_000 * P


def test_repeated_modify_answers_as_first_and_changes_nothing() -> None:
    d = funded()
    open_trade(d)
    first = d.call("mod", m.MODIFY_TRADE, ALICE, tradeId="t1", stopLossPrice=50_000 * P)
    d.call("mod2", m.MODIFY_TRADE, ALICE, tradeId="t1", stopLossPrice=52_000 * P)
    restored = Driver(state=load_state(dump_state(d.engine.state)))
    restored.ms = d.ms
    for driver in (d, restored):
        again = driver.call("mod", m.MODIFY_TRADE, ALICE, tradeId="t1", stopLossPrice=1)
        assert (again.status, again.data) == (first.status, first.data)
        assert driver.engine.state.trades["t1"].stop_loss == 52_000 * P


# --- partial close -------------------------------------------------------------------------------


def test_partial_close_pnl_is_pro_rata_and_floored_against_the_trader() -> None:
    d = funded()
    open_trade(d, stopLossPrice=50_000 * P)  # 10x LONG at 60,000
    d.tick(BTC, 60_001 * P)
    part = 333_333  # 33.3333 USD of the 100
    gain = floor_pnl(part, 100, 60_000 * P, 60_001 * P)
    assert gain == 55  # 55.5555 units, floored
    out = d.command("c1", m.CLOSE_TRADE, ALICE, tradeId="t1", margin=part)
    (closed,) = events(out)
    assert closed.event_type == m.TRADE_CLOSED
    assert (closed.margin, closed.pnl, closed.total_return) == (part, gain, part + gain)
    assert (closed.closed_margin, closed.remaining_margin) == (part, MARGIN - part)
    wire = encode_event(closed)
    assert (wire["closedMargin"], wire["remainingMargin"]) == ("33.3333", "66.6667")
    rest = d.engine.state.trades["t1"]
    assert rest.margin == MARGIN - part and rest.stop_loss == 50_000 * P  # its exits stay
    account = d.engine.state.accounts[ALICE]
    assert (account.locked, account.free) == (MARGIN - part, START - MARGIN + part + gain)
    assert d.conserved()
    # a loss on the next part: -55.5555 units, floored to -56
    d.tick(BTC, 59_999 * P)
    r = d.call("c2", m.CLOSE_TRADE, ALICE, tradeId="t1", margin=part)
    assert units(r.data["pnl"]) == floor_pnl(part, 100, 60_000 * P, 59_999 * P) == -56
    assert units(r.data["closedMargin"]) == part
    assert units(r.data["remainingMargin"]) == MARGIN - 2 * part
    assert d.conserved()


def test_partial_close_recomputes_the_liquidation_level_of_what_remains() -> None:
    d = funded()
    open_trade(d)
    d.call("c1", m.CLOSE_TRADE, ALICE, tradeId="t1", margin=60 * USD_SCALE)
    rest = d.engine.state.trades["t1"]
    assert rest.margin == 40 * USD_SCALE
    # by hand: the highest price whose floored PnL on 40 USD at 10x takes the whole margin
    level = rest.liquidation
    assert floor_pnl(rest.margin, 100, 60_000 * P, level) <= -rest.margin
    assert floor_pnl(rest.margin, 100, 60_000 * P, level + 1) > -rest.margin
    (liquidated,) = events(d.tick(BTC, level))
    assert liquidated.event_type == m.TRADE_LIQUIDATED
    assert liquidated.pnl == -40 * USD_SCALE
    assert d.conserved()


def test_closing_the_whole_margin_or_more_and_another_users_close() -> None:
    d = funded()
    open_trade(d)
    r = d.call("c0", m.CLOSE_TRADE, ALICE, tradeId="t1", margin=MARGIN + 1)
    assert r.data == {"code": "INVALID_MARGIN", "field": "margin"}
    r = d.call("c1", m.CLOSE_TRADE, BOB, tradeId="t1", margin=1)
    assert r.data == {"code": "TRADE_NOT_FOUND", "field": "tradeId"}
    out = d.command("c2", m.CLOSE_TRADE, ALICE, tradeId="t1", margin=MARGIN)
    (closed,) = events(out)  # the whole margin: an ordinary close, no partial fields
    assert closed.closed_margin == 0 and "closedMargin" not in encode_event(closed)
    assert d.engine.state.trades == {}


def test_repeated_partial_close_closes_once() -> None:
    d = funded()
    open_trade(d)
    first = d.call("c1", m.CLOSE_TRADE, ALICE, tradeId="t1", margin=10 * USD_SCALE)
    again = d.call("c1", m.CLOSE_TRADE, ALICE, tradeId="t1", margin=10 * USD_SCALE)
    assert (again.status, again.data) == (first.status, first.data)
    assert d.engine.state.trades["t1"].margin == 90 * USD_SCALE
    history = d.call("h", m.GET_CLOSED_TRADES, ALICE)
    (part,) = history.data["trades"]
    assert units(part["closedMargin"]) == 10 * USD_SCALE


def test_events_of_earlier_kinds_keep_their_exact_fields() -> None:
    """The additive fields are written only when set: an old reader sees the same bytes."""
    d = funded()
    out = d.command(
        "t1",
        m.CREATE_TRADE,
        ALICE,
        asset=BTC,
        direction="LONG",
        margin=MARGIN,
        leverage=10,
        stopLossPrice=50_000 * P,
    )
    (opened,) = events(out)
    assert list(encode_event(opened)) == [
        "eventType", "tradeId", "email", "asset", "pnl", "marginReturned", "closePrice",
        "timestamp", "seq", "orderId", "direction", "margin", "leverage", "entryPrice",
        "exitPrice", "totalReturn", "amount", "balance", "priceDecimals", "reason", "marketState",
    ]  # fmt: skip
