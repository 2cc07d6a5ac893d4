"""Request decoding: field-level errors, and numbers kept as their text (never a float)."""

from __future__ import annotations

import pytest

from gateway.schemas import (
    CloseTradeRequest,
    CreateTradeRequest,
    InvalidField,
    SignupRequest,
    decode_body,
    trade_data,
)


def test_numbers_with_a_fraction_arrive_as_their_source_text():
    body = b'{"asset":"SOL_USDC","direction":"LONG","margin":0.07,"stopLossPrice":230.50}'
    req = decode_body(body, CreateTradeRequest)
    assert req.margin == "0.07" and req.stopLossPrice == "230.50"
    req = decode_body(b'{"asset":"SOL_USDC","direction":"LONG","margin":1000}', CreateTradeRequest)
    assert req.margin == 1000 and type(req.margin) is int
    assert trade_data(req) == {
        "asset": "SOL_USDC", "direction": "LONG", "margin": 1000, "leverage": 10
    }  # fmt: skip


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"", "body"),
        (b"{", "body"),
        (b"[1]", "body"),
        (b'{"asset":"BTC_USDC","direction":"LONG"}', "margin"),
        (b'{"asset":"BTC_USDC","direction":"LONG","margin":true}', "margin"),
        (b'{"asset":"BTC_USDC","direction":"LONG","margin":1,"leverage":"10"}', "leverage"),
        (b'{"asset":"BTC_USDC","direction":"LONG","margin":1,"leverage":50.5}', "leverage"),
        (b'{"asset":"BTC_USDC","direction":"long","margin":1}', "direction"),
        (b'{"asset":"","direction":"LONG","margin":1}', "asset"),
        (b'{"asset":"BTC_USDC","direction":"LONG","margin":1,"x":1}', "x"),
    ],
)
def test_field_errors(body: bytes, field: str):
    with pytest.raises(InvalidField) as info:
        decode_body(body, CreateTradeRequest)
    assert info.value.field == field


def test_other_bodies():
    assert decode_body(b'{"tradeId":"t1"}', CloseTradeRequest).tradeId == "t1"
    with pytest.raises(InvalidField) as info:
        decode_body(b'{"email":"' + b"a" * 300 + b'"}', SignupRequest)
    assert info.value.field == "email"


def test_deeply_nested_json_is_a_400_not_a_crash():
    body = b'{"command":"GET_BALANCE","x":' + b"[" * 8000 + b"]" * 8000 + b"}"
    with pytest.raises(InvalidField) as info:
        decode_body(body, dict)
    assert info.value.field == "body"


def test_integral_json_numbers_are_integers():
    body = b'{"asset":"A","direction":"LONG","margin":1000.0,"leverage":50.00}'
    req = decode_body(body, CreateTradeRequest)
    assert req.margin == 1000 and req.leverage == 50
    assert decode_body(b'{"x":{"y":7.0,"z":7.5}}', dict) == {"x": {"y": 7, "z": "7.5"}}
