"""Mapping of decoded entries to rows: keys, amounts, and the entries that must be refused."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine import messages as m
from engine.messages import Command, Event, Response
from engine.wire import WireError, decode_event, encode_command, encode_event, encode_response
from worker.mapping import (
    BIGINT_MAX,
    Kind,
    MappingError,
    Rows,
    command_row,
    entry_position,
    event_rows,
    reject_reason,
    response_row,
)


def as_redis(fields: dict) -> dict[bytes, bytes]:
    """Fields as redis returns them: bytes keys and values."""
    return {k.encode(): v if isinstance(v, bytes) else str(v).encode() for k, v in fields.items()}


def wired(event: Event) -> Event:
    """The event as the worker receives it: through the engine's wire and back."""
    return decode_event(as_redis(encode_event(event)))


def open_event(seq: int = 7, **over) -> Event:
    base = dict(
        event_type=m.TRADE_OPENED,
        trade_id="t1",
        email="a@x",
        asset="BTC",
        pnl=0,
        margin_returned=0,
        close_price=0,
        timestamp=1000,
        seq=seq,
        order_id="o1",
        direction="LONG",
        margin=100_000,
        leverage=100,
        entry_price=5_000_000,
        amount=-100_000,
        balance=900_000,
        price_decimals=4,
    )
    return wired(Event(**(base | over)))


def close_event(seq: int = 9, event_type: str = m.TRADE_STOP_LOSS, **over) -> Event:
    base = dict(
        event_type=event_type,
        trade_id="t1",
        email="a@x",
        asset="BTC",
        pnl=-40_000,
        margin_returned=60_000,
        close_price=4_900_000,
        exit_price=4_900_000,
        timestamp=2000,
        seq=seq,
        direction="LONG",
        margin=100_000,
        leverage=100,
        entry_price=5_000_000,
        amount=60_000,
        total_return=60_000,
        balance=960_000,
        price_decimals=4,
    )
    return wired(Event(**(base | over)))


def test_entry_position_orders_numerically_not_as_text():
    assert entry_position("10-0") > entry_position("9-5")
    for bad in ("", "10", "a-1", "1-b", "-1", "1-", "1--2", "1" * 21 + "-0"):
        with pytest.raises(MappingError):
            entry_position(bad)


def test_account_created_becomes_user_and_ledger_rows():
    ev = Event(
        m.ACCOUNT_CREATED,
        "",
        "a@x",
        "",
        0,
        0,
        0,
        1000,
        3,
        order_id="o1",
        amount=50_000_000,
        balance=50_000_000,
    )
    rows = event_rows("1-0", ev)
    assert rows.user == ("a@x", 50_000_000, 3, 1000)
    assert rows.ledger == (
        3,
        "a@x",
        50_000_000,
        0,
        50_000_000,
        m.ACCOUNT_CREATED,
        "o1",
        None,
        "o1",
        1000,
        None,
    )
    assert rows.trade_open is None and rows.trade_close is None


def test_trade_opened_ledger_has_balance_before_and_after():
    rows = event_rows("1-0", open_event())
    assert rows.ledger is not None
    _seq, _email, amount, before, after, reason, ref, trade_id, order_id, _ts, _ = rows.ledger
    assert (amount, before, after) == (-100_000, 1_000_000, 900_000)
    assert (reason, ref, trade_id, order_id) == (m.TRADE_OPENED, "t1", "t1", "o1")
    assert rows.trade_open == (
        "t1", "a@x", "BTC", "LONG", 100_000, 100, 5_000_000, 7, 1000, "o1", 4
    )


def test_a_profitable_close_credits_its_total_return_and_returns_the_margin():
    ev = close_event(event_type=m.TRADE_TAKE_PROFIT, pnl=25_000, margin_returned=100_000,
                     total_return=125_000, amount=125_000, balance=1_025_000)
    rows = event_rows("1-0", ev)
    assert rows.ledger is not None  # amount, before, after:
    assert rows.ledger[2:5] == (125_000, 900_000, 1_025_000)
    assert rows.trade_close is not None
    pnl, margin_returned = rows.trade_close[10:12]
    total_return, price_decimals = rows.trade_close[15:17]
    assert (pnl, margin_returned, total_return, price_decimals) == (25_000, 100_000, 125_000, 4)


def test_the_reference_events_wire_form_is_read_in_engine_units():
    # The documentation's liquidation example, as it writes it: human units, decimal strings.
    fields = {
        "eventType": m.TRADE_LIQUIDATED, "tradeId": "t9", "email": "a@x", "asset": "SOL_USDC",
        "pnl": "-5000.00", "marginReturned": "1000.00", "closePrice": "201.23",
        "timestamp": "1758117494823", "seq": "12", "direction": "LONG", "margin": "6000.00",
        "leverage": "10", "entryPrice": "210.50", "exitPrice": "201.23", "totalReturn": "1000.00",
        "amount": "1000.00", "balance": "1000.00", "priceDecimals": "6",
    }
    rows = Rows()
    rows.add_entry(Kind.EVENT, "1758117494823-0", as_redis(fields))
    (close,) = rows.trade_closes.values()
    assert close == (
        "t9", "a@x", "SOL_USDC", "LONG", 60_000_000, 100, 210_500_000, "liquidated",
        201_230_000, 201_230_000, -50_000_000, 10_000_000, 12, 1758117494823, None,
        10_000_000, 6, None, 60_000_000, None,
    )
    assert rows.ledger[12][2:5] == (10_000_000, 0, 10_000_000)


@pytest.mark.parametrize(
    ("event_type", "reason"),
    [
        (m.TRADE_CLOSED, "closed"),
        (m.TRADE_STOP_LOSS, "stop_loss"),
        (m.TRADE_TAKE_PROFIT, "take_profit"),
        (m.TRADE_LIQUIDATED, "liquidated"),
    ],
)
def test_closing_events_map_to_their_reason(event_type, reason):
    rows = event_rows("1-0", close_event(event_type=event_type))
    assert rows.trade_close is not None
    assert rows.trade_close[7] == reason
    assert rows.trade_close[12] == 9  # closed_seq
    assert rows.trade_close[14] is None  # a trigger has no orderId


def test_exit_price_falls_back_to_the_seed_close_price():
    rows = event_rows("1-0", close_event(exit_price=0, close_price=4_800_000))
    assert rows.trade_close[8] == 4_800_000 and rows.trade_close[9] == 4_800_000


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        (open_event(seq=0), "no positive seq"),
        (open_event(email=""), "no email"),
        (open_event(trade_id=""), "no tradeId"),
        (open_event(event_type="DEPOSIT"), "unknown eventType"),
        (open_event(asset="B\x00TC"), "NUL"),
        (open_event(balance=BIGINT_MAX + 1), "BIGINT"),
        (open_event(balance=BIGINT_MAX, amount=-1), "BIGINT"),
    ],
)
def test_events_that_cannot_be_stored_are_refused(event, reason):
    with pytest.raises(MappingError, match=reason):
        event_rows("1-0", event)


def test_response_row_and_its_refusals():
    r = Response("o1", m.SUCCESS, {"b": [1, 2]}, "ok", 1500, 11)
    assert response_row("5-1", r) == ("o1", "success", "ok", '{"b":[1,2]}', 1500, 11, "5-1")
    with pytest.raises(MappingError, match="seq"):
        response_row("5-1", Response("o1", m.SUCCESS, None, "", 1, 0))
    with pytest.raises(MappingError, match="orderId"):
        response_row("5-1", Response("", m.ERROR, None, "", 1, 3))
    with pytest.raises(MappingError, match="NUL"):
        response_row("5-1", Response("o1", m.SUCCESS, {"x": "a\x00b"}, "", 1, 3))
    with pytest.raises(MappingError, match="NUL"):
        response_row("5-1", Response("o1", m.SUCCESS, None, "bad\x00", 1, 3))


def test_command_time_falls_back_to_its_entry_id():
    c = Command("o1", m.CREATE_TRADE, "a@x", {"asset": "BTC"}, 0)
    assert command_row("1700000000123-4", c)[4] == 1700000000123
    c2 = Command("o1", m.CREATE_TRADE, "a@x", {}, 42)
    assert command_row("1700000000123-4", c2)[3:5] == ("{}", 42)


@pytest.mark.parametrize(
    ("trade_data", "amount", "leverage"),
    [
        ({"margin": 1000, "leverage": 50}, 1000 * 10_000, 50),  # a JSON integer is whole USD
        ({"margin": "0.07"}, 700, None),
        ({"margin": "1000.5", "leverage": 1000}, 10_005_000, 1000),
        ({"margin": "1e3", "leverage": "50"}, None, None),  # not amounts the engine accepts
        ({"margin": -5, "leverage": 2.5}, None, None),
        ({"margin": "0.00001"}, None, None),  # more decimals than USD has
        ({"margin": True, "leverage": True}, None, None),
        ({"tradeId": "t1"}, None, None),
    ],
)
def test_an_orders_amount_and_leverage_are_read_as_the_engine_reads_them(
    trade_data, amount, leverage
):
    row = command_row("5-0", Command("o1", m.CREATE_TRADE, "a@x", trade_data, 1))
    assert row[6:] == (amount, leverage)


def test_batch_keeps_the_smallest_seq_per_key_whatever_the_order():
    a = Rows()
    b = Rows()
    first, second = open_event(seq=7), open_event(seq=8, margin=1)
    for rows, events in ((a, (first, second)), (b, (second, first))):
        for ev in events:
            rows.add_entry(Kind.EVENT, f"{ev.seq}-0", as_redis(encode_event(ev)))
    assert a.trade_opens == b.trade_opens
    assert a.trade_opens["t1"][7] == 7
    assert set(a.ledger) == {7, 8}


def test_batch_keeps_the_earliest_command_and_the_first_response():
    rows = Rows()
    rows.add_entry(Kind.COMMAND, "10-0", as_redis(encode_command(Command("o1", "X", "a", {}, 5))))
    rows.add_entry(Kind.COMMAND, "9-0", as_redis(encode_command(Command("o1", "Y", "a", {}, 6))))
    rows.add_entry(
        Kind.RESPONSE, "11-0", as_redis(encode_response(Response("o1", "success", 1, "", 7, 20)))
    )
    rows.add_entry(
        Kind.RESPONSE, "12-0", as_redis(encode_response(Response("o1", "error", 2, "", 8, 19)))
    )
    assert rows.commands["o1"][1] == "Y"
    assert rows.responses["o1"][5] == 19
    assert len(rows) == 2


def test_a_refused_entry_leaves_the_batch_unchanged():
    rows = Rows()
    with pytest.raises(WireError) as info:
        rows.add_entry(Kind.EVENT, "1-0", {b"eventType": b"TRADE_OPENED", b"seq": b"x"})
    assert len(rows) == 0
    assert reject_reason(info.value).startswith("undecodable: ")
    with pytest.raises(MappingError) as info2:
        rows.add_entry(Kind.EVENT, "1-0", as_redis(encode_event(open_event(seq=0))))
    assert len(rows) == 0
    assert reject_reason(info2.value).startswith("unstorable: ")


@given(
    st.dictionaries(st.binary(max_size=12), st.binary(max_size=40), max_size=8),
    st.sampled_from(list(Kind)),
)
def test_arbitrary_fields_either_map_or_raise_a_known_error(fields, kind):
    rows = Rows()
    try:
        rows.add_entry(kind, "1-0", fields)
    except (WireError, MappingError):
        assert len(rows) == 0


def test_a_literal_backslash_u0000_in_json_is_not_a_nul():
    r = Response("o1", m.SUCCESS, {"note": "\\u0000", "x": "\\\\u0000"}, "", 1, 3)
    assert response_row("5-1", r)[3] == '{"note":"\\\\u0000","x":"\\\\\\\\u0000"}'
    with pytest.raises(MappingError, match="NUL"):
        response_row("5-1", Response("o1", m.SUCCESS, {"x": "\\\x00"}, "", 1, 3))


def test_operator_events_become_ledger_rows_with_the_reason_and_engine_halts_audit_rows():
    adjusted = Event(
        event_type=m.BALANCE_ADJUSTED, trade_id="", email="a@x", asset="", pnl=0,
        margin_returned=0, close_price=0, timestamp=1000, seq=9, order_id="adm-1",
        amount=-25_000, balance=75_000, reason="chargeback",
    )
    rows = event_rows("5-0", decode_event(encode_event(adjusted)))
    assert rows.ledger == (
        9, "a@x", -25_000, 100_000, 75_000, m.BALANCE_ADJUSTED, "adm-1", None, "adm-1", 1000,
        "chargeback",
    )
    assert (rows.user, rows.trade_open, rows.trade_close, rows.audit) == (None,) * 4
    halt = Event(
        event_type=m.MARKET_STATE_CHANGED, trade_id="", email="", asset="BTC_USDC", pnl=0,
        margin_returned=0, close_price=0, timestamp=2000, seq=10,
        reason="price band: 3 consecutive prices refused", market_state="HALTED",
    )
    rows = event_rows("6-0", decode_event(encode_event(halt)))
    assert rows.ledger is None
    assert rows.audit == (
        "6-0", "engine", m.MARKET_STATE_CHANGED,
        '{"asset":"BTC_USDC","state":"HALTED","reason":"price band: 3 consecutive prices refused"}',
        2000,
    )
    by_operator = msgspec.structs.replace(halt, order_id="adm-2")
    assert event_rows("7-0", by_operator).audit is None  # audited with its command


def test_a_forced_close_is_a_close_of_its_own_kind():
    forced = msgspec.structs.replace(close_event(), event_type=m.TRADE_FORCE_CLOSED, reason="r")
    rows = event_rows("8-0", forced)
    assert rows.trade_close is not None and rows.trade_close[7] == "force_closed"
    assert rows.ledger is not None and rows.ledger[10] == "r"


# --- pending orders, amends, trailing stops, partial closes (issue 17) ---------------------


def order_event(event_type: str, seq: int, amount: int, **over) -> Event:
    return open_event(seq=seq, event_type=event_type, trade_id="ord", order_id="",
                      amount=amount, order_type="LIMIT", order_price=4_900_000, **over)


@pytest.mark.parametrize(
    ("event_type", "amount", "state"),
    [
        (m.ORDER_PLACED, -100_000, "PENDING"),
        (m.ORDER_FILLED, 0, "FILLED"),
        (m.ORDER_CANCELLED, 100_000, "CANCELLED"),
        (m.ORDER_EXPIRED, 100_000, "EXPIRED"),
        (m.ORDER_REJECTED, 100_000, "REJECTED"),
    ],
)
def test_every_order_event_is_a_ledger_row_and_the_orders_state(event_type, amount, state):
    rows = event_rows("5-0", order_event(event_type, 11, amount, reason="why"))
    assert rows.ledger is not None and rows.ledger[2] == amount
    assert rows.ledger[5] == event_type and rows.ledger[6] == "ord"
    assert rows.order_state is not None
    assert rows.order_state[:4] == ("ord", "a@x", state, 11)
    assert rows.trade_open is None and rows.trade_close is None


def test_the_latest_order_state_wins_in_a_batch_whatever_the_arrival_order():
    batch = Rows()
    batch.add_event(event_rows("6-0", order_event(m.ORDER_FILLED, 12, 0, entry_price=4_800_000)))
    batch.add_event(event_rows("5-0", order_event(m.ORDER_PLACED, 11, -100_000)))
    (row,) = batch.order_states.values()
    assert (row[2], row[3], row[6]) == ("FILLED", 12, 4_800_000)


def test_trade_modified_carries_the_exits_and_removed_ones_are_null():
    ev = open_event(seq=20, event_type=m.TRADE_MODIFIED, amount=0, take_profit_price=5_500_000,
                    trailing_distance=50_000)
    rows = event_rows("7-0", ev)
    assert rows.ledger is not None and rows.ledger[2] == 0
    assert rows.trade_exits is not None
    assert rows.trade_exits[7:11] == (None, 5_500_000, 50_000, 20)


def test_a_trailing_stop_is_a_close_reason():
    rows = event_rows("8-0", close_event(event_type=m.TRADE_TRAILING_STOP))
    assert rows.trade_close is not None and rows.trade_close[7] == "trailing_stop"


def test_a_partial_close_is_a_row_of_its_own_beside_the_trade():
    part = close_event(seq=30, event_type=m.TRADE_CLOSED, margin=40_000, closed_margin=40_000,
                       remaining_margin=60_000)
    rows = event_rows("9-0", part)
    assert rows.trade_close is not None
    assert rows.trade_close[0] == "t1#30" and rows.trade_close[17:] == ("t1", 40_000, 60_000)
    full = event_rows("9-1", close_event(seq=31, event_type=m.TRADE_CLOSED, margin=60_000))
    assert full.trade_close is not None
    assert full.trade_close[0] == "t1" and full.trade_close[17:] == (None, 60_000, None)
