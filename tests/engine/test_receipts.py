"""The idempotency window: a repeated orderId gets its first answer again, whatever happened
since, across snapshots, and from snapshots written before receipts existed; a repeated read is
answered from the current state."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from engine import messages as m
from engine.config import EngineConfig
from engine.money import USD_SCALE
from engine.state import (
    AccountAnswer,
    Closed,
    EngineState,
    Opened,
    Read,
    Receipt,
    dump_state,
    load_state,
)
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


READS = ("list", "bal")


def assert_repeats_answer_as_first(d: Driver, first: dict[str, m.Response]) -> None:
    """A repeated write gets its first answer; a repeated read is answered from the state now."""
    for order_id, original in first.items():
        before = dump_state(d.engine.state)
        command = m.GET_OPEN_TRADES if order_id == "list" else m.GET_USD_BALANCE
        again = d.call(order_id, command if order_id in READS else m.GET_BALANCE, ALICE)
        if order_id in READS:
            fresh = d.call(f"fresh-{order_id}-{again.seq}", command, ALICE)
            assert (again.status, again.data) == (fresh.status, fresh.data), order_id
        else:  # the command is ignored on a repeat
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
    # a repeated read answers from the state now: t1 closed since, t3 opened since
    assert [t["tradeId"] for t in d.call("list", m.GET_OPEN_TRADES, ALICE).data["trades"]] == [
        "t2",
        "t3",
    ]


def test_a_repeat_gets_the_first_answer_after_a_snapshot() -> None:
    d, first = busy_driver()
    restored = Driver(state=load_state(dump_state(d.engine.state)))
    assert_repeats_answer_as_first(restored, first)


def test_writes_keep_what_the_answer_was_built_from_and_reads_keep_nothing() -> None:
    d, _ = busy_driver()
    receipts = d.engine.state.receipts
    assert isinstance(receipts["t1"].answer, Opened) and receipts["t1"].data is None
    assert isinstance(receipts["close"].answer, Closed) and receipts["close"].data is None
    assert isinstance(receipts["acc"].answer, AccountAnswer) and receipts["acc"].data is None
    assert receipts["list"].answer == Read(m.GET_OPEN_TRADES) and receipts["list"].data is None
    assert receipts["bal"].answer == Read(m.GET_USD_BALANCE) and receipts["bal"].data is None
    assert receipts["bad"].data == {"code": "TRADE_NOT_FOUND", "field": "tradeId"}


def test_snapshot_size_does_not_grow_with_reads() -> None:
    d, _ = busy_driver()
    for i in range(20):
        d.call(f"c{i}", m.CREATE_TRADE, ALICE, **TRADE)
    size = len(dump_state(d.engine.state))
    for i in range(200):
        d.call(f"r{i}", m.GET_CLOSED_TRADES if i % 2 else m.GET_OPEN_TRADES, ALICE)
    # each read leaves one receipt of ~90 bytes, never its answer (20 trades, ~5 KB each)
    assert len(dump_state(d.engine.state)) - size < 200 * 150


def test_another_account_cannot_reuse_an_order_id() -> None:
    d, _ = busy_driver()
    bob = d.call("b1", m.GET_USD_BALANCE, BOB).data
    for order_id in ("t1", "list"):  # a write's and a read's
        r = d.call(order_id, m.CREATE_TRADE, BOB, **TRADE)
        assert (r.status, r.data["code"]) == (m.ERROR, "DUPLICATE_ORDER_ID")
    assert list(d.engine.state.trades) == ["t2"]
    assert d.call("b2", m.GET_USD_BALANCE, BOB).data == bob


def test_the_window_forgets_the_oldest_order_ids() -> None:
    d, first = busy_driver(idempotency_window=3)
    assert list(d.engine.state.receipts) == ["close", "bal", "bad"]
    r = d.call("t1", m.CREATE_TRADE, ALICE, **TRADE)  # forgotten: opens a new trade
    assert r.status == m.SUCCESS and r.data["entryPrice"] != first["t1"].data["entryPrice"]
    assert list(d.engine.state.receipts) == ["bal", "bad", "t1"]


def msgpack_snapshot(state: EngineState) -> dict[str, Any]:
    """``state`` as an older (msgpack) snapshot payload held it, as plain msgpack values."""
    return msgspec.msgpack.decode(msgspec.msgpack.encode(state))  # type: ignore[no-any-return]


def test_msgpack_payloads_of_older_snapshots_still_load() -> None:
    d, first = busy_driver()
    old = load_state(msgspec.msgpack.encode(d.engine.state))
    assert old == d.engine.state
    assert_repeats_answer_as_first(Driver(state=old), first)


def test_kept_open_trade_lists_of_older_snapshots_become_read_receipts() -> None:
    d, _ = busy_driver()
    raw = msgpack_snapshot(d.engine.state)
    trade = raw["trades"]["t2"]
    raw["receipts"]["list"] = [ALICE, m.SUCCESS, "open trades", None, ["open_trades", [trade]]]
    old = load_state(msgspec.msgpack.encode(raw))
    assert old.receipts["list"] == Receipt(
        ALICE, m.SUCCESS, "open trades", None, Read(m.GET_OPEN_TRADES)
    )


@pytest.mark.parametrize("emails_apart", [True, False])
def test_snapshots_from_before_receipts_load_as_receipts(emails_apart: bool) -> None:
    """Before receipts each answered orderId was kept as its response, its email in the
    response or (the oldest format) in ``order_emails``."""
    d, _ = busy_driver()
    raw = msgpack_snapshot(d.engine.state)
    orders = {
        order_id: {
            "order_id": order_id,
            "status": receipt.status,
            "data": {"kept": order_id},
            "message": receipt.message,
            "timestamp": 1,
            "seq": seq,
        }
        | ({} if emails_apart else {"email": receipt.email})
        for seq, (order_id, receipt) in enumerate(d.engine.state.receipts.items())
    }
    del raw["receipts"]
    raw["orders"] = orders
    if emails_apart:
        raw["order_emails"] = {k: r.email for k, r in d.engine.state.receipts.items()}
    old = load_state(msgspec.msgpack.encode(raw))
    assert (old.orders, old.order_emails) == ({}, {})
    assert list(old.receipts) == list(d.engine.state.receipts)
    assert {k: r.email for k, r in old.receipts.items()} == {
        k: r.email for k, r in d.engine.state.receipts.items()
    }
    restored = Driver(state=old)
    assert restored.call("t1", m.GET_BALANCE, ALICE).data == {"kept": "t1"}
    r = restored.call("t2", m.CLOSE_TRADE, BOB, tradeId="t2")
    assert (r.status, r.data["code"]) == (m.ERROR, "DUPLICATE_ORDER_ID")
    assert "t2" in restored.engine.state.trades
