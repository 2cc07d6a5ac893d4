"""Operator bodies and the tradeData built from them (``gateway.admin``)."""

from __future__ import annotations

import json

import pytest

from gateway import admin
from gateway.schemas import InvalidField, decode_body

ASSETS = ("BTC_USDC", "ETH_USDC")


@pytest.mark.parametrize(
    ("given", "sent"),
    [(12, "12"), (-12, "-12"), ("12.5", "12.5"), ("-0.0001", "-0.0001"), ("-007.50", "-7.5")],
)
def test_signed_usd_is_exact_text_with_its_sign(given, sent):
    assert admin.signed_usd("amount", given) == sent


@pytest.mark.parametrize("given", [0, "-0", "--1", "+1", "1e3", "-1.00001", "", "-", 10**9 + 1])
def test_signed_usd_refuses_what_parse_amount_refuses(given):
    with pytest.raises(InvalidField) as info:
        admin.signed_usd("amount", given)
    assert info.value.field == "amount"


def test_a_json_number_with_a_fraction_is_read_from_its_text():
    body = b'{"email":"A@B.io","amount":-12.50,"reason":"r","transactionId":"t"}'
    req = decode_body(body, admin.AdjustmentRequest)
    assert admin.adjustment_data(req) == {
        "email": "a@b.io", "amount": "-12.5", "reason": "r", "transactionId": "t"
    }  # fmt: skip


def test_limits_keep_absent_keys_out_and_null_in():
    req = decode_body(b'{"asset":"ETH_USDC","minMargin":1.5,"maxMargin":null}', admin.LimitsRequest)
    assert admin.limits_data(req, ASSETS) == {
        "asset": "ETH_USDC", "minMargin": "1.5", "maxMargin": None
    }  # fmt: skip
    assert admin.limits_data(decode_body(b"{}", admin.LimitsRequest), ASSETS) == {}
    with pytest.raises(InvalidField, match="unsupported asset") as info:
        admin.limits_data(decode_body(b'{"asset":"X"}', admin.LimitsRequest), ASSETS)
    assert info.value.field == "asset"


@pytest.mark.parametrize("reason", ["", "a\nb", "\u0000", "x" * 201])
def test_reasons_are_1_to_200_characters_without_controls(reason):
    with pytest.raises(InvalidField) as info:
        decode_body(json.dumps({"reason": reason}).encode(), admin.ForceCloseRequest)
    assert info.value.field == "reason"


def test_trade_ids_from_the_path_are_checked():
    req = admin.ForceCloseRequest(reason="risk")
    assert admin.force_close_data("abc:1", req) == {"tradeId": "abc:1", "reason": "risk"}
    for bad in ("", "x" * 129, "a\u0001"):
        with pytest.raises(InvalidField) as info:
            admin.force_close_data(bad, req)
        assert info.value.field == "tradeId"
