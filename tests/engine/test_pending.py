"""Worked examples of pending LIMIT and STOP orders: fills, gaps, rejection at fill, cancel,
expiry in stream time, and the reserved margin (engine/pending.py, engine/order_commands.py)."""

from __future__ import annotations

from typing import Any

from engine import messages as m
from engine.money import USD_SCALE
from engine.state import dump_state, load_state
from engine.wire import decode_event, encode_event
from tests.engine.driver import Driver, as_bytes, events, units

BTC = "BTC_USDC"
ALICE = "alice@example.com"
BOB = "bob@example.com"
P = 10_000  # one price unit at 4 decimals
START = 5000 * USD_SCALE
MARGIN = 100 * USD_SCALE


def funded() -> Driver:
    d = Driver()
    assert d.call("acc", m.CREATE_ACCOUNT, ALICE).status == m.SUCCESS
    assert d.call("acc-b", m.CREATE_ACCOUNT, BOB).status == m.SUCCESS
    d.tick(BTC, 60_000 * P)
    return d


def order(d: Driver, order_id: str = "o1", email: str = ALICE, **kw: Any) -> m.Response:
    args = {
        "asset": BTC,
        "direction": "LONG",
        "type": "LIMIT",
        "price": 59_000 * P,
        "margin": MARGIN,
        "leverage": 10,
    } | kw
    return d.call(order_id, m.CREATE_ORDER, email, **args)


def balances(d: Driver, email: str = ALICE) -> tuple[int, int, int]:
    a = d.engine.state.accounts[email]
    return a.free, a.reserved, a.locked


def test_placing_an_order_reserves_its_margin_and_answers_pending() -> None:
    d = funded()
    r = order(d, stopLossPrice=58_000 * P, expiresAt=99_999)
    assert r.status == m.SUCCESS, r.message
    assert r.data["status"] == "PENDING"
    assert (r.data["orderId"], r.data["type"], r.data["direction"]) == ("o1", "LIMIT", "LONG")
    assert units(r.data["price"]) == 59_000 * P
    assert units(r.data["stopLossPrice"]) == 58_000 * P
    assert r.data["takeProfitPrice"] is None and r.data["trailingDistance"] is None
    assert r.data["expiresAt"] == 99_999
    assert units(r.data["usdBalance"]) == START - MARGIN
    assert units(r.data["reservedUsd"]) == MARGIN
    assert balances(d) == (START - MARGIN, MARGIN, 0)
    assert d.conserved()
    balance = d.call("b", m.GET_USD_BALANCE, ALICE)
    assert units(balance.data["reservedUsd"]) == MARGIN


def test_gap_through_a_long_limit_fills_at_the_better_tick_price() -> None:
    d = funded()
    order(d)
    assert events(d.tick(BTC, 59_001 * P, 59_001 * P)) == []  # above the limit: waits
    out = events(d.tick(BTC, 58_490 * P, 58_500 * P))  # gaps through 59,000
    assert [e.event_type for e in out] == [m.ORDER_FILLED, m.TRADE_OPENED]
    filled, opened = out
    assert filled.entry_price == 58_500 * P  # the ask of the tick, better than 59,000
    assert (filled.order_type, filled.order_price, filled.amount) == ("LIMIT", 59_000 * P, 0)
    trade = d.engine.state.trades["o1"]
    assert trade.entry_price == 58_500 * P and trade.margin == MARGIN
    assert opened.trade_id == "o1" and opened.amount == 0  # free unchanged: reserved -> locked
    assert balances(d) == (START - MARGIN, 0, MARGIN)
    assert d.engine.state.pending == {}
    assert d.conserved()


def test_a_long_limit_fills_when_the_ask_touches_its_price() -> None:
    d = funded()
    order(d)
    out = events(d.tick(BTC, 58_990 * P, 59_000 * P))
    assert [e.event_type for e in out] == [m.ORDER_FILLED, m.TRADE_OPENED]
    assert d.engine.state.trades["o1"].entry_price == 59_000 * P


def test_stop_entry_is_filled_at_the_worse_tick_price() -> None:
    d = funded()
    assert order(d, type="STOP", price=61_000 * P).status == m.SUCCESS
    assert events(d.tick(BTC, 60_999 * P)) == []
    d.tick(BTC, 61_490 * P, 61_500 * P)  # gaps through 61,000: filled at the ask, worse
    assert d.engine.state.trades["o1"].entry_price == 61_500 * P


def test_short_limit_and_short_stop_watch_the_bid() -> None:
    d = funded()
    assert order(d, "sl", direction="SHORT", price=61_000 * P).status == m.SUCCESS
    assert order(d, "ss", direction="SHORT", type="STOP", price=59_000 * P).status == m.SUCCESS
    d.tick(BTC, 60_990 * P, 61_100 * P)  # the ask is past 61,000, the bid is not: no fill
    assert d.engine.state.trades == {}
    d.tick(BTC, 61_200 * P, 61_300 * P)
    assert d.engine.state.trades["sl"].entry_price == 61_200 * P  # the bid, better
    d.tick(BTC, 58_800 * P, 59_100 * P)
    assert d.engine.state.trades["ss"].entry_price == 58_800 * P  # the bid, worse
    assert not d.engine.state.trades["ss"].is_long


def test_an_order_that_would_fill_at_once_is_refused_naming_the_price() -> None:
    d = funded()
    d.tick(BTC, 59_990 * P, 60_010 * P)
    cases = [
        ("LONG", "LIMIT", 60_010 * P),  # at the ask: would fill now
        ("LONG", "STOP", 60_000 * P),  # below the ask
        ("SHORT", "LIMIT", 59_990 * P),  # at the bid
        ("SHORT", "STOP", 60_000 * P),  # above the bid
    ]
    for i, (direction, kind, price) in enumerate(cases):
        r = order(d, f"x{i}", direction=direction, type=kind, price=price)
        assert (r.status, r.data) == (m.ERROR, {"code": "INVALID_ORDER_PRICE", "field": "price"})
    assert balances(d) == (START, 0, 0)


def test_order_validation_names_the_field_and_changes_nothing() -> None:
    d = funded()
    bad = [
        ({"type": "MARKET"}, "INVALID_ORDER_TYPE", "type"),
        ({"stopLossPrice": 59_000 * P}, "INVALID_STOP_LOSS", "stopLossPrice"),  # not below
        ({"takeProfitPrice": 58_000 * P}, "INVALID_TAKE_PROFIT", "takeProfitPrice"),
        ({"margin": START + 1}, "INSUFFICIENT_BALANCE", "margin"),
        ({"expiresAt": 1}, "INVALID_EXPIRY", "expiresAt"),
        ({"trailingDistance": "-1"}, "INVALID_AMOUNT", "trailingDistance"),
        ({"price": "1.00001"}, "INVALID_AMOUNT", "price"),
    ]
    for i, (kw, code, field) in enumerate(bad):
        r = order(d, f"bad{i}", **kw)
        assert (r.status, r.data) == (m.ERROR, {"code": code, "field": field}), kw
    assert balances(d) == (START, 0, 0) and d.engine.state.pending == {}


def test_rejected_fill_releases_the_margin_when_the_stop_is_on_the_wrong_side() -> None:
    d = funded()
    assert order(d, stopLossPrice=58_000 * P).status == m.SUCCESS
    out = events(d.tick(BTC, 57_900 * P, 57_950 * P))  # fills at 57,950: the stop is above bid
    (rejected,) = out
    assert rejected.event_type == m.ORDER_REJECTED
    assert rejected.reason == "stopLossPrice is not below the bid at fill"
    assert (rejected.amount, rejected.balance) == (MARGIN, START)
    assert d.engine.state.trades == {} and d.engine.state.pending == {}
    assert balances(d) == (START, 0, 0)
    assert d.conserved()


def test_cancel_by_another_user_is_refused_and_the_owner_gets_the_margin_back() -> None:
    d = funded()
    order(d)
    r = d.call("c-bob", m.CANCEL_ORDER, BOB, orderId="o1")
    assert (r.status, r.data) == (m.ERROR, {"code": "ORDER_NOT_FOUND", "field": "orderId"})
    assert "o1" in d.engine.state.pending
    out = d.command("c1", m.CANCEL_ORDER, ALICE, orderId="o1")
    (cancelled,) = events(out)
    assert cancelled.event_type == m.ORDER_CANCELLED
    assert (cancelled.trade_id, cancelled.order_id) == ("o1", "c1")
    assert (cancelled.amount, cancelled.balance) == (MARGIN, START)
    assert balances(d) == (START, 0, 0)
    again = d.call("c2", m.CANCEL_ORDER, ALICE, orderId="o1")
    assert again.data == {"code": "ORDER_NOT_FOUND", "field": "orderId"}
    d.tick(BTC, 58_000 * P)  # would have filled
    assert d.engine.state.trades == {}


def test_expiry_is_in_stream_time_on_the_first_entry_at_or_after_it() -> None:
    d = funded()
    expires = d.ms + 10
    assert order(d, expiresAt=expires).status == m.SUCCESS
    while d.ms + 1 < expires:  # entries before the expiry leave it pending
        assert events(d.tick(BTC, 60_000 * P)) == []
    assert "o1" in d.engine.state.pending
    # the first entry at the expiry is a tick that would fill the order: it expires first
    out = d.tick(BTC, 58_000 * P)
    assert d.ms == expires
    (expired,) = events(out)
    assert expired.event_type == m.ORDER_EXPIRED
    assert (expired.expires_at, expired.timestamp, expired.reason) == (expires, expires, "expired")
    assert expired.amount == MARGIN
    assert d.engine.state.trades == {} and balances(d) == (START, 0, 0)


def test_a_command_entry_past_the_expiry_expires_the_order_before_it_is_applied() -> None:
    d = funded()
    order(d, expiresAt=d.ms + 5)
    out = d.command("bal", m.GET_USD_BALANCE, ALICE, step_ms=100)
    assert [type(o).__name__ for o in out] == ["Event", "Response"]
    assert out[0].event_type == m.ORDER_EXPIRED
    assert out[1].status == m.SUCCESS
    assert balances(d) == (START, 0, 0)


def test_open_orders_lists_only_the_callers_pending_orders() -> None:
    d = funded()
    order(d, "o1")
    order(d, "o2", type="STOP", price=62_000 * P)
    order(d, "o3", email=BOB)
    r = d.call("l", m.GET_OPEN_ORDERS, ALICE)
    assert [o["orderId"] for o in r.data["orders"]] == ["o1", "o2"]
    assert all(o["status"] == "PENDING" for o in r.data["orders"])
    d.tick(BTC, 58_000 * P)  # o1 fills
    r = d.call("l2", m.GET_OPEN_ORDERS, ALICE)
    assert [o["orderId"] for o in r.data["orders"]] == ["o2"]


def test_attached_exits_and_trailing_stop_go_with_the_fill() -> None:
    d = funded()
    order(
        d,
        leverage=100,
        stopLossPrice=57_000 * P,
        takeProfitPrice=65_000 * P,
        trailingDistance=1_500 * P,
    )
    d.tick(BTC, 58_000 * P)
    trade = d.engine.state.trades["o1"]
    assert (trade.stop_loss, trade.take_profit, trade.trailing_distance) == (
        57_000 * P,
        65_000 * P,
        1_500 * P,
    )
    # the liquidation level is from the fill price: 10x LONG at 58,000 -> ~52,200
    assert 52_200 * P <= trade.liquidation < 52_201 * P
    # a gap through the stop-loss (57,000) and the trailing stop (58,000 - 1,500 = 56,500):
    # the stop-loss is nearer the old price, so it is the reason
    (fired,) = events(d.tick(BTC, 56_000 * P))
    assert (fired.event_type, fired.close_price) == (m.TRADE_STOP_LOSS, 56_000 * P)
    assert d.engine.state.trades == {} and d.engine.state.trails == {}


def test_repeated_order_commands_answer_as_first_and_change_nothing() -> None:
    d = funded()
    first = order(d)
    again = order(d)
    assert (again.status, again.data) == (first.status, first.data)
    assert balances(d) == (START - MARGIN, MARGIN, 0)
    cancel = d.call("c1", m.CANCEL_ORDER, ALICE, orderId="o1")
    assert cancel.data["status"] == "CANCELLED"
    restored = Driver(state=load_state(dump_state(d.engine.state)))
    restored.ms = d.ms
    for driver in (d, restored):
        assert driver.call("c1", m.CANCEL_ORDER, ALICE, orderId="o1").data == cancel.data
        assert driver.call("o1", m.CREATE_ORDER, ALICE).data == first.data
        assert balances(driver) == (START, 0, 0)
        assert driver.call("o1", m.CREATE_ORDER, BOB).data == {"code": "DUPLICATE_ORDER_ID"}


def test_order_events_round_trip_through_the_wire() -> None:
    d = funded()
    out = d.command(
        "o1",
        m.CREATE_ORDER,
        ALICE,
        asset=BTC,
        direction="SHORT",
        type="STOP",
        price=59_000 * P,
        margin=MARGIN,
        leverage=25,
        takeProfitPrice="58000.5",
        trailingDistance=100 * P,
        expiresAt=10**9,
    )
    (placed,) = events(out)
    fields = encode_event(placed)
    assert fields["orderType"] == "STOP" and fields["orderPrice"] == "59000.00"
    assert fields["takeProfitPrice"] == "58000.50" and fields["trailingDistance"] == "100.00"
    assert fields["expiresAt"] == str(10**9) and fields["amount"] == "-100.00"
    assert "stopLossPrice" not in fields and "closedMargin" not in fields
    assert decode_event(as_bytes(fields)) == placed


def test_a_fill_on_a_close_only_market_is_rejected_and_the_margin_released() -> None:
    d = funded()
    order(d)
    d.engine.set_market(BTC, "CLOSE_ONLY", "maintenance", "", [])
    (rejected,) = events(d.tick(BTC, 58_000 * P))
    assert rejected.event_type == m.ORDER_REJECTED
    assert "CLOSE_ONLY" in rejected.reason
    assert balances(d) == (START, 0, 0) and d.engine.state.trades == {}
    r = order(d, "o2", price=57_000 * P)
    assert (r.status, r.data["code"]) == (m.ERROR, "MARKET_CLOSE_ONLY")
