"""Stream codecs: the reference field names, round trips, and fuzzing: only WireError escapes."""

from __future__ import annotations

import base64
import contextlib

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine import wire
from engine.messages import Command, Event, PriceItem, Response
from engine.wire import WireError

fields_strategy = st.dictionaries(
    st.sampled_from(
        [
            b"orderId",
            b"command",
            b"email",
            b"tradeData",
            b"timestamp",
            b"data",
            b"format",
            b"source",
            b"status",
            b"message",
            b"seq",
            b"eventType",
            b"pnl",
            b"x",
        ]
    )
    | st.binary(max_size=10),
    st.binary(max_size=200)
    | st.text(max_size=50).map(str.encode)
    | st.text(max_size=50).map(lambda t: base64.b64encode(t.encode())),
    max_size=8,
)


@given(fields_strategy)
def test_decoders_raise_only_wire_error(fields) -> None:
    for decode in (
        wire.decode_command,
        wire.decode_price_batch,
        wire.decode_response,
        wire.decode_event,
    ):
        with contextlib.suppress(WireError):
            decode(fields)


@given(
    st.lists(
        st.builds(
            PriceItem,
            st.text(max_size=10),
            st.integers(0, 2**62),
            st.integers(0, 18),
            st.none() | st.integers(0, 2**62),
            st.none() | st.integers(0, 2**62),
        ),
        min_size=1,
        max_size=5,
    )
)
def test_price_batch_round_trips(items) -> None:
    fields = wire.encode_price_batch(items, "sim", 7)
    assert set(fields) == {"source", "data", "format", "timestamp"}
    assert wire.decode_price_batch(fields).items == items


def test_command_fields_are_the_seeds() -> None:
    cmd = Command("o1", "CREATE_TRADE", "a@b.c", {"asset": "BTC_USDC", "margin": 5}, 9)
    fields = wire.encode_command(cmd)
    assert set(fields) == {"orderId", "command", "email", "tradeData", "timestamp"}
    assert wire.decode_command({k.encode(): v.encode() for k, v in fields.items()}) == cmd


def test_response_and_event_round_trip_with_seed_fields_first() -> None:
    r = Response("o1", "success", {"a": [1, 2]}, "ok", 5, 6)
    assert wire.decode_response(wire.encode_response(r)) == r
    e = Event("TRADE_LIQUIDATED", "t1", "a@b.c", "BTC_USDC", -5, 0, 7, 8, 9, direction="LONG")
    fields = wire.encode_event(e)
    assert list(fields)[:8] == [
        "eventType",
        "tradeId",
        "email",
        "asset",
        "pnl",
        "marginReturned",
        "closePrice",
        "timestamp",
    ]
    assert wire.decode_event(fields) == e


@pytest.mark.parametrize(
    "fields, order_id",
    [
        ({b"command": b"X"}, None),
        ({b"orderId": b"", b"command": b"X"}, None),
        ({b"orderId": b"o" * 129, b"command": b"X"}, "o" * 128),
        ({b"orderId": b"o1"}, "o1"),
        ({b"orderId": b"o1", b"command": b"X", b"tradeData": b"[1]"}, "o1"),
        ({b"orderId": b"o1", b"command": b"X", b"tradeData": b"{"}, "o1"),
        ({b"orderId": b"o1", b"command": b"\xff"}, "o1"),
        ({b"orderId": b"o1", b"command": b"X", b"timestamp": b"soon"}, "o1"),
    ],
)
def test_malformed_commands_carry_the_order_id_when_known(fields, order_id) -> None:
    with pytest.raises(WireError) as err:
        wire.decode_command(fields)
    assert err.value.order_id == order_id


@pytest.mark.parametrize(
    "fields",
    [
        {b"data": b"!!!", b"format": b"base64_v1"},
        {b"data": base64.b64encode(b"{}"), b"format": b"base64_v1"},
        {b"data": base64.b64encode(b"[]"), b"format": b"base64_v1"},
        {b"data": base64.b64encode(b'[{"asset":"X","price":1.5,"decimal":2}]')},
        {b"data": base64.b64encode(b'[{"asset":"X","price":1,"decimal":2}]'), b"format": b"v9"},
        {},
    ],
)
def test_malformed_price_entries_are_refused(fields) -> None:
    with pytest.raises(WireError):
        wire.decode_price_batch(fields)


def _event_values() -> st.SearchStrategy[dict[str, object]]:
    """Every field of Event, drawn: a field added to Event but not to the wire fails here."""
    fields = {}
    for field in msgspec.structs.fields(Event):
        if field.name == "price_decimals":
            fields[field.name] = st.integers(0, 18)
        elif field.type is int or field.type == "int":
            fields[field.name] = st.integers(-(10**30), 10**30)
        else:
            fields[field.name] = st.text(max_size=20)
    return st.fixed_dictionaries(fields)


@given(values=_event_values())
def test_every_event_field_crosses_the_wire_exactly(values: dict[str, object]) -> None:
    event = Event(**values)  # type: ignore[arg-type]
    assert wire.decode_event(wire.encode_event(event)) == event
