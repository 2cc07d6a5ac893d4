"""Request validation: field-level errors and exact amounts."""

from __future__ import annotations

import pytest

from gateway.schemas import (
    CloseTradeRequest,
    CreateTradeRequest,
    InvalidField,
    SignupRequest,
    check_trade,
    decode_body,
    trade_data,
)

TRADE = b'{"asset":"BTC_USDC","direction":"LONG","margin":"100.5"}'


def test_valid_trade_keeps_what_the_client_sent():
    req = decode_body(TRADE, CreateTradeRequest)
    check_trade(req, 4)
    assert trade_data(req) == {
        "asset": "BTC_USDC", "direction": "LONG", "margin": "100.5", "leverage": 10
    }  # fmt: skip


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"", "body"),
        (b"{", "body"),
        (b"[1]", "body"),
        (b'{"asset":"BTC_USDC","direction":"LONG"}', "margin"),
        (b'{"asset":"BTC_USDC","direction":"LONG","margin":-1}', "margin"),
        (b'{"asset":"BTC_USDC","direction":"LONG","margin":"1e5"}', "margin"),
        (b'{"asset":"BTC_USDC","direction":"LONG","margin":1,"leverage":"10"}', "leverage"),
        (b'{"asset":"BTC_USDC","direction":"long","margin":1}', "direction"),
        (b'{"asset":"","direction":"LONG","margin":1}', "asset"),
        (b'{"asset":"BTC_USDC","direction":"LONG","margin":1,"x":1}', "x"),
        (b'{"asset":"BTC_USDC","direction":"LONG","margin":99999999999999999999}', "margin"),
    ],
)
def test_field_errors(body: bytes, field: str):
    with pytest.raises(InvalidField) as info:
        decode_body(body, CreateTradeRequest)
    assert info.value.field == field


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"margin": "0.00001"}, "margin"),
        ({"margin": "0"}, "margin"),
        ({"margin": "100\n"}, "margin"),
        ({"stopLossPrice": "1.23456"}, "stopLossPrice"),
        ({"maxSlippageBps": 5}, "maxSlippageBps"),
    ],
)
def test_cross_field_checks(change: dict, field: str):
    req = CreateTradeRequest(asset="BTC_USDC", direction="LONG", margin=1)
    req = CreateTradeRequest(**{**trade_data(req), **change})
    with pytest.raises(InvalidField) as info:
        check_trade(req, 4)
    assert info.value.field == field


def test_unknown_asset_and_other_bodies():
    req = decode_body(TRADE, CreateTradeRequest)
    with pytest.raises(InvalidField) as info:
        check_trade(req, None)
    assert info.value.field == "asset"
    assert decode_body(b'{"tradeId":"t1"}', CloseTradeRequest).tradeId == "t1"
    with pytest.raises(InvalidField) as info:
        decode_body(b'{"email":"' + b"a" * 300 + b'"}', SignupRequest)
    assert info.value.field == "email"


def test_deeply_nested_json_is_a_400_not_a_crash():
    body = b'{"command":"GET_BALANCE","x":' + b"[" * 8000 + b"]" * 8000 + b"}"
    with pytest.raises(InvalidField) as info:
        decode_body(body, dict)
    assert info.value.field == "body"
