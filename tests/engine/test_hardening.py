"""Hostile input at the engine's boundary: nothing raises out of decoding, whatever the bytes;
amounts and prices have stated ranges; a price band refuses absurd prints; an operator can set an
entry aside. Each case is a regression of issue 14 (hardening)."""

from __future__ import annotations

import base64
import json
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import messages as m
from engine.amounts import MAX_WHOLE_UNITS
from engine.config import EngineConfig
from engine.state import dump_state, load_state
from engine.wire import WireError, decode_command, decode_command_checked
from tests.engine.driver import Driver, as_bytes, events, units

BTC = "BTC_USDC"
ALICE = "alice@example.com"
P = 10_000


def price_fields(payload: bytes) -> dict[bytes, bytes]:
    return as_bytes({"source": "x", "format": "base64_v1", "data": base64.b64encode(payload)})


def command_fields(trade_data: bytes | str, order_id: str = "o1") -> dict[bytes, bytes]:
    return as_bytes(
        {"orderId": order_id, "command": m.CREATE_TRADE, "email": ALICE, "tradeData": trade_data}
    )


def witness(d: Driver, order_id: str) -> None:
    """The engine still answers a plain command correctly."""
    r = d.call(order_id, m.GET_USD_BALANCE, ALICE)
    assert r.status == m.SUCCESS and r.data["email"] == ALICE


def funded(**config: Any) -> Driver:
    d = Driver(EngineConfig(**config) if config else None)
    d.call("acc", m.CREATE_ACCOUNT, ALICE)
    d.tick(BTC, 60_000 * P)
    return d


# --- poison entries --------------------------------------------------------------------------


def test_a_deeply_nested_price_item_is_a_counted_malformed_entry() -> None:
    d = funded()
    deep = b'[{"asset":"ETH_USDC","price":30000000,"decimal":4,"x":' + b"[" * 3000
    deep += b"]" * 3000 + b"}]"
    assert d.engine.apply_price_entry(d._id(1), price_fields(deep)) == []
    assert d.engine.state.rejected["price_malformed"] == 1
    witness(d, "w")


def test_deeply_nested_trade_data_gets_an_error_answer_not_a_crash() -> None:
    d = funded()
    deep = '{"asset":"BTC_USDC","x":' + "[" * 3000 + "]" * 3000 + "}"
    (r,) = d.engine.apply_command_entry(d._id(1), command_fields(deep))
    assert isinstance(r, m.Response)
    assert (r.status, r.data["code"]) == (m.ERROR, "MALFORMED")
    witness(d, "w")


def test_nesting_just_below_the_limit_still_decodes() -> None:
    d = funded()
    data = '{"asset":"BTC_USDC","direction":"LONG","margin":"1","x":' + "[" * 30 + "]" * 30 + "}"
    (_, r) = d.engine.apply_command_entry(d._id(1), command_fields(data))
    assert isinstance(r, m.Response) and r.status == m.SUCCESS


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=30,
)


@settings(max_examples=150)
@given(
    payload=st.one_of(
        st.binary(max_size=200),
        json_values.map(lambda v: json.dumps(v).encode()),
        st.integers(1, 5000).map(lambda n: b"[" * n + b"]" * n),
        st.integers(1, 5000).map(lambda n: b'{"a":' * n + b"1" + b"}" * n),
        st.builds(
            lambda price, dec: json.dumps([{"asset": BTC, "price": price, "decimal": dec}])
            .encode(),
            st.one_of(st.integers(-(10**40), 10**40), st.text(max_size=45), st.floats()),
            st.integers(-5, 40),
        ),
    ),
    as_command=st.booleans(),
)
def test_no_input_raises_out_of_the_engine_and_a_witness_is_answered(
    payload: bytes, as_command: bool
) -> None:
    d = funded()
    if as_command:
        d.engine.apply_command_entry(d._id(1), command_fields(payload))
    else:
        d.engine.apply_price_entry(d._id(1), price_fields(payload))
    witness(d, "w")
    assert d.conserved()
    load_state(dump_state(d.engine.state))  # and the state still serializes


field_values = st.one_of(
    st.none(),
    st.binary(max_size=30),
    st.text(max_size=20),
    st.integers(-5, 10**20),
    st.sampled_from([b"", b"{}", b'{"margin":1.5}', b"[]", b"12", b"\xff", b"o" * 200]),
)


@settings(max_examples=300)
@given(
    fields=st.fixed_dictionaries(
        {},
        optional={
            k: field_values for k in (b"orderId", b"command", b"email", b"tradeData", b"timestamp")
        },
    )
)
def test_the_fast_and_checked_command_decoders_agree(fields: dict[bytes, Any]) -> None:
    def outcome(decoder: Any) -> Any:
        try:
            return decoder(fields)
        except WireError as exc:
            return ("error", exc.reason, exc.order_id)

    assert outcome(decode_command) == outcome(decode_command_checked)


# --- ranges ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "override",
    [
        {"takeProfitPrice": "99999999999999999999"},
        {"takeProfitPrice": 10**30},
        {"stopLossPrice": "1000000000.0001"},
        {"margin": str(MAX_WHOLE_UNITS + 1)},
        {"expectedPrice": "10000000000"},
    ],
)
def test_amounts_past_the_stated_range_are_refused_and_snapshots_keep_working(
    override: dict[str, Any],
) -> None:
    d = funded()
    args = {"asset": BTC, "direction": "LONG", "margin": "10"} | override
    r = d.call("big", m.CREATE_TRADE, ALICE, **args)
    (field,) = override
    assert (r.status, r.data) == (m.ERROR, {"code": "INVALID_AMOUNT", "field": field})
    assert d.engine.open_positions() == 0
    load_state(dump_state(d.engine.state))


@settings(max_examples=40)
@given(long=st.booleans(), leverage=st.sampled_from([10, 1000]), exit_up=st.booleans())
def test_the_largest_accepted_values_open_fire_close_and_snapshot(
    long: bool, leverage: int, exit_up: bool
) -> None:
    """Margin and levels at their maxima, prices at both ends of their range: every sum stays
    exact, money is conserved and the state round-trips through a snapshot."""
    top = MAX_WHOLE_UNITS * P
    config = EngineConfig(initial_balance=MAX_WHOLE_UNITS * P, price_band_bps=0)
    d = Driver(config)
    d.call("acc", m.CREATE_ACCOUNT, ALICE)
    d.tick(BTC, 1 if long else top - 1, 1 if long else top)
    exits = {"takeProfitPrice": str(MAX_WHOLE_UNITS)} if long else {"takeProfitPrice": "0.0001"}
    r = d.call(
        "big",
        m.CREATE_TRADE,
        ALICE,
        asset=BTC,
        direction="LONG" if long else "SHORT",
        margin=str(MAX_WHOLE_UNITS),
        leverage=leverage,
        **(exits if exit_up else {}),
    )
    assert r.status == m.SUCCESS, r.message
    d.tick(BTC, top if exit_up == long else 1, top if exit_up == long else 1)
    if d.engine.open_positions():
        d.call("close", m.CLOSE_TRADE, ALICE, tradeId="big")
    assert d.engine.open_positions() == 0 and d.conserved()
    restored = Driver(state=load_state(dump_state(d.engine.state)))
    assert restored.engine.state == d.engine.state
    witness(restored, "w")


# --- prices ------------------------------------------------------------------------------------


def test_a_price_of_ten_to_the_forty_is_refused_and_fires_nothing() -> None:
    d = funded(price_band_bps=0)
    d.call("t", m.CREATE_TRADE, ALICE, asset=BTC, direction="LONG", margin="10",
           takeProfitPrice="70000")
    assert d.tick(BTC, 10**40) == []  # 41 digits: not even a price
    assert d.engine.state.rejected["price_malformed"] == 1
    assert d.tick(BTC, 10**30) == []  # a price, far past 10^9 units
    assert d.engine.state.rejected["price_out_of_range"] == 1
    assert d.engine.open_positions() == 1
    load_state(dump_state(d.engine.state))


def test_a_tick_outside_the_band_is_refused_and_counted_never_applied() -> None:
    d = funded(price_band_bps=1_000)  # 10 %
    d.call("t", m.CREATE_TRADE, ALICE, asset=BTC, direction="LONG", margin="10",
           takeProfitPrice="65000")
    assert d.tick(BTC, 66_001 * P) == []  # +10.0017 %: refused, the target does not fire
    assert d.engine.state.rejected["price_band"] == 1
    assert d.engine.state.prices[BTC].bid == 60_000 * P
    assert d.tick(BTC, 64_000 * P) == [] and d.engine.state.prices[BTC].bid == 64_000 * P
    (fired,) = events(d.tick(BTC, 70_400 * P))  # +10 % exactly: inside the band
    assert (fired.event_type, fired.close_price) == (m.TRADE_TAKE_PROFIT, 70_400 * P)


def test_the_band_also_watches_the_ask() -> None:
    d = funded(price_band_bps=1_000)
    d.tick(BTC, 60_000 * P, 60_000 * P)
    d.tick(BTC, 60_000 * P, 80_000 * P)
    assert d.engine.state.rejected["price_band"] == 1
    assert d.engine.state.prices[BTC].ask == 60_000 * P


# --- quarantine --------------------------------------------------------------------------------


def test_a_quarantined_entry_is_skipped_counted_and_kept_in_the_snapshot() -> None:
    d = funded()
    d.engine.quarantine("command", "9999-0")
    d.engine.quarantine("price", "9998-0")
    trade = {"asset": BTC, "direction": "LONG", "margin": "10"}
    fields = as_bytes(
        {"orderId": "q", "command": m.CREATE_TRADE, "email": ALICE, "tradeData": json.dumps(trade)}
    )
    tick = price_fields(json.dumps([{"asset": BTC, "price": 1, "decimal": 4}]).encode())
    restored = Driver(state=load_state(dump_state(d.engine.state)))
    for engine in (d.engine, restored.engine):
        assert engine.apply_price_entry("9998-0", tick) == []
        assert engine.apply_command_entry("9999-0", fields) == []
        assert engine.state.rejected["quarantined"] == 2
        assert engine.open_positions() == 0 and engine.state.prices[BTC].bid == 60_000 * P
        assert engine.state.last_command_id == "9999-0"
    assert restored.engine.state.quarantined == ["command:9999-0", "price:9998-0"]
    assert units(d.call("w", m.GET_USD_BALANCE, ALICE).data["usdBalance"]) == 5_000 * P


def test_the_snapshot_format_has_no_integer_limit() -> None:
    d = funded()
    d.engine.state.house = -(10**40)  # what msgpack could not hold
    assert load_state(dump_state(d.engine.state)).house == -(10**40)
    assert msgspec.json.decode(dump_state(d.engine.state))["house"] == -(10**40)
