"""Pending orders at their edges: the latest expiry the index can key, to the millisecond."""

from __future__ import annotations

import pytest

from engine import messages as m
from engine.orders import exits_fit
from tests.engine.scenarios import USD, Market, units

BTC = "BTC_USDC"


def test_an_order_may_expire_at_the_last_stated_millisecond_and_not_one_later() -> None:
    mk = Market()
    mk.account()
    mk.tick(BTC, "100", "101")
    order = {"asset": BTC, "direction": "LONG", "type": "LIMIT", "price": "90", "margin": "1"}
    response, _ = mk.send("late", m.CREATE_ORDER, "alice@example.com", **order,
                          expiresAt=10**15 + 1)  # fmt: skip
    assert (response.status, response.data) == (
        m.ERROR,
        {"code": "INVALID_EXPIRY", "field": "expiresAt"},
    )
    response, _ = mk.send("last", m.CREATE_ORDER, "alice@example.com", **order,
                          expiresAt=10**15)  # fmt: skip
    assert response.status == m.SUCCESS, response.message
    response, _ = mk.send("now", m.CREATE_ORDER, "alice@example.com", **order, expiresAt=mk.ms + 1)
    assert response.status == m.ERROR  # the command's own millisecond is already "now"


def test_unknown_fields_beside_the_order_commands_are_ignored() -> None:
    mk = Market()
    mk.account()
    mk.tick(BTC, "100", "101")
    alice = "alice@example.com"

    def ok(order_id: str, command: str, **data: object) -> None:
        response, _ = mk.send(order_id, command, alice, note="x", **data)
        assert response.status == m.SUCCESS, (command, response.message)

    ok("o1", m.CREATE_ORDER, asset=BTC, direction="LONG", type="LIMIT", price="90", margin="1")
    ok("c1", m.CANCEL_ORDER, orderId="o1")
    trade = {"asset": BTC, "direction": "LONG", "margin": "2"}
    ok("t1", m.CREATE_TRADE, **trade)
    ok("m1", m.MODIFY_TRADE, tradeId="t1", stopLossPrice="95")
    ok("p1", m.CLOSE_TRADE, tradeId="t1", margin="1")
    assert mk.engine.state.trades["t1"].margin == 10_000
    assert mk.engine.state.trades["t1"].stop_loss == 950_000


def test_an_order_is_checked_like_a_trade_before_it_waits() -> None:
    mk = Market()
    mk.account()
    mk.tick(BTC, "100", "101")
    order = {"direction": "SHORT", "type": "STOP", "price": "99", "margin": "1"}
    response, _ = mk.send("bad", m.CREATE_ORDER, "alice@example.com", asset="DOGE_USDC", **order)
    assert response.data == {"code": "UNKNOWN_ASSET", "field": "asset"}
    response, _ = mk.send("ok", m.CREATE_ORDER, "alice@example.com", asset=BTC, **order)
    assert response.status == m.SUCCESS, response.message
    assert mk.engine.state.pending["ok"].leverage == 10  # 1x unless stated, as for a trade


MODIFY_EDGES = [  # (direction, field, refused levels, accepted level a tick outside the spread)
    ("LONG", "stopLossPrice", ["100", "100.5", "101"], "99.9999"),
    ("LONG", "takeProfitPrice", ["101", "100.5", "100"], "101.0001"),
    ("SHORT", "stopLossPrice", ["101", "100.5", "100"], "101.0001"),
    ("SHORT", "takeProfitPrice", ["100", "100.5", "101"], "99.9999"),
]


def placed(mk: Market, order_id: str, **data: object) -> tuple[str, str]:
    """CREATE_ORDER: ("ok", "") or (code, field); a refusal places nothing."""
    before = dict(mk.engine.state.pending)
    response, _ = mk.send(order_id, m.CREATE_ORDER, "alice@example.com", **data)
    if response.status == m.SUCCESS:
        return "ok", ""
    assert mk.engine.state.pending == before
    mk.message = response.message
    return response.data["code"], response.data.get("field")


# (direction, type, refused at the watched price, accepted a tick past it, side in the message)
ORDER_PRICES = [
    ("LONG", "LIMIT", "101", "100.9999", "below the ask"),
    ("LONG", "STOP", "101", "101.0001", "above the ask"),
    ("SHORT", "LIMIT", "100", "100.0001", "above the bid"),
    ("SHORT", "STOP", "100", "99.9999", "below the bid"),
]


def test_an_order_must_wait_a_tick_past_the_price_it_watches() -> None:
    for direction, kind, at, past, side in ORDER_PRICES:
        mk = Market()
        mk.account()
        mk.tick(BTC, "100", "101")
        order = {"asset": BTC, "direction": direction, "type": kind.lower(), "margin": "1"}
        assert placed(mk, "at", **order, price=at) == ("INVALID_ORDER_PRICE", "price")
        assert side in mk.message, (direction, kind, mk.message)
        assert placed(mk, "past", **order, price=past) == ("ok", ""), (direction, kind)
        assert mk.engine.state.pending["past"].price == units(past, 4)


def test_order_margin_leverage_and_type_at_their_edges() -> None:
    mk = Market(max_margin=3_000 * USD)
    mk.account()
    mk.tick(BTC, "100", "101")
    order = {"asset": BTC, "direction": "LONG", "type": "LIMIT", "price": "90", "margin": "1"}
    assert placed(mk, "a", **(order | {"margin": "3000.0001"})) == ("INVALID_MARGIN", "margin")
    assert placed(mk, "b", **(order | {"margin": "3000"})) == ("ok", "")
    assert placed(mk, "c", **(order | {"margin": "2000.0001"})) == (
        "INSUFFICIENT_BALANCE",
        "margin",
    )
    assert placed(mk, "d", **(order | {"margin": "2000"})) == ("ok", "")  # all that is free
    mk.send("cd", m.CANCEL_ORDER, "alice@example.com", orderId="d")
    for i, (tenths, code) in enumerate([(9, "INVALID_LEVERAGE"), (10, "ok"), (1000, "ok")]):
        assert placed(mk, f"l{i}", **(order | {"leverage": tenths}))[0] == code
    assert placed(mk, "l9", **(order | {"leverage": 1001})) == ("INVALID_LEVERAGE", "leverage")
    assert placed(mk, "k", **(order | {"type": "MARKET"})) == ("INVALID_ORDER_TYPE", "type")


EXIT_EDGES = [  # (direction, type, price, stop refused / accepted, target refused / accepted)
    ("LONG", "LIMIT", "90", ("90", "89.9999"), ("90", "90.0001")),
    ("SHORT", "LIMIT", "110", ("110", "110.0001"), ("110", "109.9999")),
]


def test_an_orders_exits_lie_beyond_its_own_price() -> None:
    for direction, kind, price, stops, targets in EXIT_EDGES:
        mk = Market()
        mk.account()
        mk.tick(BTC, "100", "101")
        order = {"asset": BTC, "direction": direction, "type": kind, "price": price, "margin": "1"}
        stop_side = "below" if direction == "LONG" else "above"
        assert placed(mk, "s0", **order, stopLossPrice=stops[0]) == (
            "INVALID_STOP_LOSS",
            "stopLossPrice",
        )
        assert stop_side in mk.message
        assert placed(mk, "t0", **order, takeProfitPrice=targets[0]) == (
            "INVALID_TAKE_PROFIT",
            "takeProfitPrice",
        )
        assert ("above" if direction == "LONG" else "below") in mk.message
        assert placed(mk, "ok", **order, stopLossPrice=stops[1], takeProfitPrice=targets[1]) == (
            "ok",
            "",
        )
        pending = mk.engine.state.pending["ok"]
        assert (pending.stop_loss, pending.take_profit) == (
            units(stops[1], 4),
            units(targets[1], 4),
        )


@pytest.mark.parametrize(("direction", "field", "refused", "accepted"), MODIFY_EDGES)
def test_modified_exits_must_lie_outside_the_spread_on_their_own_side(
    direction: str, field: str, refused: list[str], accepted: str
) -> None:
    mk = Market()
    mk.account()
    mk.tick(BTC, "100", "101")
    mk.open("t1", asset=BTC, direction=direction, margin="1")
    for i, level in enumerate(refused):
        response, _ = mk.send(f"m{i}", m.MODIFY_TRADE, "alice@example.com", tradeId="t1",
                              **{field: level})  # fmt: skip
        assert (response.status, response.data.get("field")) == (m.ERROR, field), level
    response, _ = mk.send("ok", m.MODIFY_TRADE, "alice@example.com", tradeId="t1",
                          **{field: accepted})  # fmt: skip
    assert response.status == m.SUCCESS, response.message
    trade = mk.engine.state.trades["t1"]
    assert (trade.stop_loss if field == "stopLossPrice" else trade.take_profit) == units(
        accepted, 4
    )


@pytest.mark.parametrize(
    ("is_long", "stop", "target", "why"),
    [
        (True, 100, 0, "stopLossPrice"),  # a LONG's stop at the bid at fill
        (True, 0, 101, "takeProfitPrice"),  # its target at the ask
        (False, 101, 0, "stopLossPrice"),  # a SHORT's stop at the ask
        (False, 0, 100, "takeProfitPrice"),  # its target at the bid
        (True, 99, 102, ""),
        (False, 102, 99, ""),
        (True, 0, 0, ""),
    ],
)
def test_exits_are_checked_again_at_the_fill_price_to_the_tick(
    is_long: bool, stop: int, target: int, why: str
) -> None:
    reason = exits_fit(is_long, stop, target, 100, 101)
    assert (why in reason) if why else reason == ""
    assert bool(reason) == bool(why)


def test_a_trade_opened_with_a_trailing_stop_debits_its_margin_in_its_event() -> None:
    mk = Market()
    mk.account()
    mk.tick(BTC, "100", "101")
    response, events = mk.send("t1", m.CREATE_TRADE, "alice@example.com", asset=BTC,
                               direction="LONG", margin="3", trailingDistance="2")  # fmt: skip
    assert response.status == m.SUCCESS, response.message
    (event,) = events
    assert (event.event_type, event.amount, event.balance) == (m.TRADE_OPENED, -3 * USD, mk.free())
