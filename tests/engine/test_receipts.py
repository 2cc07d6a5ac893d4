"""The idempotency window: a repeated orderId gets its first answer again, whatever happened
since, across snapshots, and from snapshots written before receipts existed."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from engine import messages as m
from engine.config import EngineConfig
from engine.money import USD_SCALE
from engine.state import Closed, EngineState, Opened, OpenTrades, dump_state, load_state
from engine.views import receipt_view
from tests.engine.driver import Driver

BTC = "BTC_USDC"
ALICE = "alice@example.com"
BOB = "bob@example.com"
P = 10_000
TRADE = {"asset": BTC, "direction": "LONG", "margin": 100 * USD_SCALE, "leverage": 10}


def busy_driver(**config: Any) -> tuple[Driver, dict[str, m.Response]]:
    """Alice opens two trades, lists them, closes one; the price moves in between."""
    d = Driver(EngineConfig(**config) if config else None)
    first: dict[str, m.Response] = {}
    d.call("acc", m.CREATE_ACCOUNT, ALICE)
    d.call("acc-b", m.CREATE_ACCOUNT, BOB)
    d.tick(BTC, 60_000 * P)
    first["t1"] = d.call("t1", m.CREATE_TRADE, ALICE, **TRADE)
    first["t2"] = d.call("t2", m.CREATE_TRADE, ALICE, **(TRADE | {"stopLossPrice": 50_000 * P}))
    first["list"] = d.call("list", m.GET_OPEN_TRADES, ALICE)
    d.tick(BTC, 61_000 * P)
    first["close"] = d.call("close", m.CLOSE_TRADE, ALICE, tradeId="t1")
    first["bal"] = d.call("bal", m.GET_USD_BALANCE, ALICE)
    first["bad"] = d.call("bad", m.CLOSE_TRADE, ALICE, tradeId="nope")
    for order_id, r in first.items():
        assert r.status == (m.ERROR if order_id == "bad" else m.SUCCESS), r.message
    return d, first


def assert_repeats_answer_as_first(d: Driver, first: dict[str, m.Response]) -> None:
    for order_id, original in first.items():
        before = dump_state(d.engine.state)
        again = d.call(order_id, m.GET_BALANCE, ALICE)  # the command is ignored on a repeat
        assert (again.status, again.data, again.message) == (
            original.status,
            original.data,
            original.message,
        ), order_id
        assert again.seq > original.seq
        after = d.engine.state
        assert (after.accounts, after.trades) == (
            load_state(before).accounts,
            load_state(before).trades,
        )


def test_a_repeat_gets_the_first_answer_after_the_state_moved_on() -> None:
    d, first = busy_driver()
    d.tick(BTC, 55_000 * P)
    d.call("t3", m.CREATE_TRADE, ALICE, **TRADE)
    assert_repeats_answer_as_first(d, first)
    # the open-trades answer still lists t1, closed since, and not t3, opened since
    assert [t["tradeId"] for t in d.call("list", m.GET_OPEN_TRADES, ALICE).data["trades"]] == [
        "t1",
        "t2",
    ]


def test_a_repeat_gets_the_first_answer_after_a_snapshot() -> None:
    d, first = busy_driver()
    restored = Driver(state=load_state(dump_state(d.engine.state)))
    assert_repeats_answer_as_first(restored, first)


def test_trade_answers_are_kept_as_trades_not_views() -> None:
    d, _ = busy_driver()
    receipts = d.engine.state.receipts
    assert isinstance(receipts["t1"].answer, Opened) and receipts["t1"].data is None
    assert isinstance(receipts["close"].answer, Closed) and receipts["close"].data is None
    assert isinstance(receipts["list"].answer, OpenTrades) and receipts["list"].data is None
    assert receipts["list"].answer.trades[0] is receipts["t1"].answer.trade
    assert receipts["bal"].answer is None and receipts["bal"].data["email"] == ALICE


def test_another_account_cannot_reuse_an_order_id() -> None:
    d, _ = busy_driver()
    bob = d.call("b1", m.GET_USD_BALANCE, BOB).data
    r = d.call("t1", m.CREATE_TRADE, BOB, **TRADE)
    assert (r.status, r.data["code"]) == (m.ERROR, "DUPLICATE_ORDER_ID")
    assert list(d.engine.state.trades) == ["t2"]
    assert d.call("b2", m.GET_USD_BALANCE, BOB).data == bob


def test_the_window_forgets_the_oldest_order_ids() -> None:
    d, first = busy_driver(idempotency_window=3)
    assert list(d.engine.state.receipts) == ["close", "bal", "bad"]
    r = d.call("t1", m.CREATE_TRADE, ALICE, **TRADE)  # forgotten: opens a new trade
    assert r.status == m.SUCCESS and r.data["entryPrice"] != first["t1"].data["entryPrice"]
    assert list(d.engine.state.receipts) == ["bal", "bad", "t1"]


def legacy_snapshot(state: EngineState, emails_apart: bool) -> bytes:
    """``state`` as written before receipts: each answered orderId kept as its response, its
    email in the response or (the oldest format) in ``order_emails``."""
    raw = msgspec.msgpack.decode(dump_state(state))
    orders: dict[str, dict[str, Any]] = {}
    for seq, (order_id, receipt) in enumerate(state.receipts.items()):
        response = {
            "order_id": order_id,
            "status": receipt.status,
            "data": receipt_view(receipt),
            "message": receipt.message,
            "timestamp": 1,
            "seq": seq,
        }
        if not emails_apart:
            response["email"] = receipt.email
        orders[order_id] = response
    del raw["receipts"]
    raw["orders"] = orders
    if emails_apart:
        raw["order_emails"] = {order_id: r.email for order_id, r in state.receipts.items()}
    return msgspec.msgpack.encode(raw)


@pytest.mark.parametrize("emails_apart", [True, False])
def test_snapshots_from_before_receipts_load_as_receipts(emails_apart: bool) -> None:
    d, first = busy_driver()
    old = load_state(legacy_snapshot(d.engine.state, emails_apart))
    assert (old.orders, old.order_emails) == ({}, {})
    assert list(old.receipts) == list(d.engine.state.receipts)
    assert {k: r.email for k, r in old.receipts.items()} == {"acc": ALICE, "acc-b": BOB} | {
        k: ALICE for k in first
    }
    restored = Driver(state=old)
    assert_repeats_answer_as_first(restored, first)
    r = restored.call("t2", m.CLOSE_TRADE, BOB, tradeId="t2")
    assert (r.status, r.data["code"]) == (m.ERROR, "DUPLICATE_ORDER_ID")
    assert "t2" in restored.engine.state.trades
