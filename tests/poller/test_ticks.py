"""bookTicker parsing: exact prices, the reference example, and every kind of bad frame."""

from __future__ import annotations

from decimal import Decimal

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.amounts import format_amount
from engine.messages import PriceItem
from poller.ticks import (
    REJECT_FEED_ERROR,
    REJECT_JSON,
    REJECT_PRICE,
    REJECT_SCHEMA,
    REJECT_SYMBOL,
    AssetSpec,
    TickError,
    by_symbol,
    format_frame,
    parse_frame,
    scaled_price,
)

SOL = AssetSpec(asset="SOL_USDC", symbol="SOL_USDC", decimals=4)
BTC = AssetSpec(asset="BTC", symbol="BTC_USDC", decimals=2)
ASSETS = by_symbol([SOL, BTC])

SEED_FRAME = (
    b'{"stream":"bookTicker.SOL_USDC","data":{"e":"bookTicker","E":1694687692980000,'
    b'"s":"SOL_USDC","a":"18.70","A":"1.000","b":"18.67","B":"2.000","u":"111063070",'
    b'"T":1694687692980000}}'
)
SEED_DATA = msgspec.json.decode(SEED_FRAME)["data"]


def frame(**changes: object) -> bytes:
    """The reference frame with some data fields changed (None removes one)."""
    data = {k: v for k, v in (SEED_DATA | changes).items() if v is not None}
    return msgspec.json.encode({"stream": f"bookTicker.{data.get('s', 'SOL_USDC')}", "data": data})


def test_seed_frame_becomes_price_item_with_bid_as_price():
    tick = parse_frame(SEED_FRAME, ASSETS)
    assert tick is not None
    assert tick.item == PriceItem(asset="SOL_USDC", price=186700, decimal=4, bid=186700, ask=187000)
    assert tick.event_us == 1694687692980000


def test_bare_data_object_is_a_frame_too():
    tick = parse_frame(msgspec.json.encode(SEED_DATA), ASSETS)
    assert tick is not None and tick.item.ask == 187000


def test_symbol_maps_to_engine_asset_with_its_decimals():
    tick = parse_frame(frame(s="BTC_USDC", a="60000.5", b="60000.25"), ASSETS)
    assert tick is not None
    assert tick.item == PriceItem(asset="BTC", price=6000025, decimal=2, bid=6000025, ask=6000050)


def test_update_id_may_be_an_integer():
    assert parse_frame(frame(u=111063070), ASSETS) is not None


def test_subscribe_answer_is_a_control_frame_not_a_tick():
    assert parse_frame(b'{"id":1,"result":null}', ASSETS) is None


def test_bid_equal_to_ask_is_accepted():
    tick = parse_frame(frame(a="18.7", b="18.70"), ASSETS)
    assert tick is not None and tick.item.bid == tick.item.ask == 187000


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"", REJECT_JSON),
        (b"not json", REJECT_JSON),
        (b'{"stream":"bookTicker.SOL_USDC","data":', REJECT_JSON),
        (b"\xff\xfe\x00", REJECT_JSON),
        (b"[1,2]", REJECT_SCHEMA),
        (b'"text"', REJECT_SCHEMA),
        (b'{"stream":5}', REJECT_SCHEMA),
        (b'{"stream":"bookTicker.SOL_USDC"}', REJECT_SCHEMA),
        (b'{"stream":"bookTicker.SOL_USDC","data":null}', REJECT_SCHEMA),
        (b'{"stream":"bookTicker.SOL_USDC","data":[1]}', REJECT_SCHEMA),
        (frame(a=None), REJECT_SCHEMA),
        (frame(b=None), REJECT_SCHEMA),
        (frame(A=None), REJECT_SCHEMA),
        (frame(E=None), REJECT_SCHEMA),
        (frame(T=None), REJECT_SCHEMA),
        (frame(u=None), REJECT_SCHEMA),
        (frame(e="depth"), REJECT_SCHEMA),
        (frame(a=18.7), REJECT_SCHEMA),  # a JSON number would be a float: never
        (frame(b=18), REJECT_SCHEMA),
        (frame(E="1694687692980000"), REJECT_SCHEMA),
        (frame(E=1.5e15), REJECT_SCHEMA),
        (frame(E=True), REJECT_SCHEMA),
        (frame(s=7), REJECT_SCHEMA),
        (frame(s="DOGE_USDC"), REJECT_SYMBOL),
        (
            msgspec.json.encode({"stream": "bookTicker.BTC_USDC", "data": SEED_DATA}),
            REJECT_SYMBOL,
        ),
        (frame(a="18.70001"), REJECT_PRICE),  # 5 decimals for a 4-decimal asset: no rounding
        (frame(b="0.00001"), REJECT_PRICE),
        (frame(a="1e3"), REJECT_PRICE),
        (frame(a="abc"), REJECT_PRICE),
        (frame(a=""), REJECT_PRICE),
        (frame(a="NaN"), REJECT_PRICE),
        (frame(a="١٨.٧"), REJECT_PRICE),  # non-ASCII digits
        (frame(b="0"), REJECT_PRICE),
        (frame(b="-18.67"), REJECT_PRICE),
        (frame(b="18.71"), REJECT_PRICE),  # crossed: bid above ask
        (frame(a="9" * 80), REJECT_PRICE),
        (b'{"id":3,"error":{"code":4005,"message":"Invalid stream"}}', REJECT_FEED_ERROR),
    ],
)
def test_bad_frame_is_rejected_with_its_reason(raw: bytes, reason: str):
    with pytest.raises(TickError) as info:
        parse_frame(raw, ASSETS)
    assert info.value.reason == reason


@given(value=st.integers(min_value=1, max_value=10**30), decimals=st.integers(0, 18))
def test_scaled_price_round_trips_through_its_decimal_string(value: int, decimals: int):
    text = format_amount(value, decimals)
    assert scaled_price(text, decimals) == value
    assert format_amount(scaled_price(text, decimals), decimals) == text


@given(
    whole=st.integers(min_value=0, max_value=10**15),
    frac=st.text("0123456789", max_size=12),
    decimals=st.integers(0, 12),
)
def test_scaled_price_is_exact_or_refuses(whole: int, frac: str, decimals: int):
    text = f"{whole}.{frac}" if frac else str(whole)
    exact = Decimal(text) * 10**decimals
    if Decimal(text) == 0:
        with pytest.raises(TickError):
            scaled_price(text, decimals)
    elif exact == exact.to_integral_value():
        assert scaled_price(text, decimals) == int(exact)
    else:
        with pytest.raises(TickError) as info:
            scaled_price(text, decimals)
        assert info.value.reason == REJECT_PRICE


@given(
    bid=st.integers(min_value=1, max_value=10**20),
    spread=st.integers(min_value=0, max_value=10**6),
    decimals=st.integers(0, 18),
    event_us=st.integers(min_value=0, max_value=2**62),
)
def test_formatted_frame_parses_back_to_the_same_prices(
    bid: int, spread: int, decimals: int, event_us: int
):
    spec = AssetSpec(asset="X", symbol="X_USDC", decimals=decimals)
    raw = format_frame(spec, bid, bid + spread, event_us=event_us, update_id=1)
    tick = parse_frame(raw, by_symbol([spec]))
    assert tick is not None
    assert tick.item == PriceItem("X", bid, decimals, bid, bid + spread)
    assert tick.event_us == event_us
