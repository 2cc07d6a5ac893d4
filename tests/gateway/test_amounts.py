"""CREATE_TRADE amounts at the gateway: exact, in human units, with the engine's ranges."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.amounts import MAX_WHOLE_UNITS, parse_amount
from gateway.amounts import exact, trade_data
from gateway.schemas import CreateTradeRequest, InvalidField, decode_body

DOCUMENTED = (
    b'{"asset":"SOL_USDC","direction":"LONG","margin":1000,"leverage":50,'
    b'"stopLossPrice":230.50,"takeProfitPrice":250.75}'
)


def test_the_documented_request_becomes_exact_decimal_text():
    req = decode_body(DOCUMENTED, CreateTradeRequest)
    assert trade_data(req, 4) == {
        "asset": "SOL_USDC", "direction": "LONG", "margin": "1000", "leverage": 50,
        "stopLossPrice": "230.5", "takeProfitPrice": "250.75",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("value", "decimals", "text"),
    [(1000, 4, "1000"), ("0.07", 4, "0.07"), ("1000.50000", 4, "1000.5"), ("007", 0, "7"),
     (MAX_WHOLE_UNITS, 4, str(MAX_WHOLE_UNITS)), ("0.0001", 4, "0.0001")],
)
def test_accepted(value: int | str, decimals: int, text: str):
    assert exact("margin", value, decimals) == text


@pytest.mark.parametrize(
    "value",
    [0, "0", "0.0", -5, "-5", "+5", "1e3", "1E3", " 1", "1 ", "NaN", "Infinity", "0.00001",
     "1.", ".5", MAX_WHOLE_UNITS + 1, "1000000000.0001", "99999999999999999999", 10**30, "²",
     "٣", "1_000"],
)
def test_refused_naming_the_field(value: int | str):
    with pytest.raises(InvalidField) as info:
        exact("takeProfitPrice", value, 4)
    assert info.value.field == "takeProfitPrice"


def test_unknown_asset_and_slippage_without_expected_price():
    req = decode_body(DOCUMENTED, CreateTradeRequest)
    with pytest.raises(InvalidField) as info:
        trade_data(req, None)
    assert info.value.field == "asset"
    body = b'{"asset":"SOL_USDC","direction":"LONG","margin":1,"maxSlippageBps":5}'
    with pytest.raises(InvalidField) as info:
        trade_data(decode_body(body, CreateTradeRequest), 4)
    assert info.value.field == "maxSlippageBps"


@given(st.integers(1, MAX_WHOLE_UNITS * 10**4), st.integers(0, 3))
def test_json_number_text_to_engine_text_is_exact(scaled: int, zeros: int):
    whole, frac = divmod(scaled, 10**4)
    text = f"{whole}.{frac:04d}" + "0" * zeros
    body = b'{"asset":"A","direction":"LONG","margin":' + text.encode() + b"}"
    forwarded = exact("margin", decode_body(body, CreateTradeRequest).margin, 4)
    assert parse_amount(forwarded, 4, "margin") == scaled
