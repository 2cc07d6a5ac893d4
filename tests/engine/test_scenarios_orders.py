"""Pending orders at their edges: the latest expiry the index can key, to the millisecond."""

from __future__ import annotations

from engine import messages as m
from tests.engine.scenarios import Market

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
