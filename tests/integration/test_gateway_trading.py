"""Trading through the gateway, both API styles, against the real engine process."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import httpx
import pytest

from gateway.auth import user_key
from tests.gateway.stack import EngineProcess, GatewayProcess, SmtpSink, sign_in

pytest_plugins = ["tests.gateway.fixtures"]

LONG_BTC = {"asset": "BTC_USDC", "direction": "LONG", "margin": 100, "leverage": 20}


@pytest.fixture
def alice(gateway: GatewayProcess, smtp: SmtpSink, priced) -> httpx.Client:
    return sign_in(gateway, smtp, "alice@example.com")


@pytest.fixture
def bob(gateway: GatewayProcess, smtp: SmtpSink, priced) -> httpx.Client:
    return sign_in(gateway, smtp, "bob@example.com")


def exact(r: httpx.Response) -> Any:
    """The JSON body with every number read exactly (Decimal), never as a float."""
    return json.loads(r.text, parse_float=Decimal)


def _usd(client: httpx.Client) -> Decimal:
    r = client.get("/api/v1/account/balance/usd")
    assert r.status_code == 200, r.text
    return Decimal(exact(r)["engineResponse"]["data"]["usdBalance"])


def test_rest_open_list_close_and_history(alice: httpx.Client):
    start = _usd(alice)
    r = alice.post("/api/v1/trade/create", json=LONG_BTC)
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"success", "orderId", "engineResponse", "latency"}
    assert body["success"] is True and body["engineResponse"]["status"] == "success"
    trade_id = body["engineResponse"]["data"]["tradeId"]
    assert body["orderId"].startswith(user_key("alice@example.com") + ":")
    assert _usd(alice) == start - 100
    open_trades = alice.get("/api/v1/trades/open").json()["engineResponse"]["data"]["trades"]
    assert [t["tradeId"] for t in open_trades] == [trade_id]
    r = alice.post("/api/v1/trade/close", json={"tradeId": trade_id})
    assert r.status_code == 200, r.text
    assert r.json()["engineResponse"]["data"]["tradeId"] == trade_id
    assert alice.get("/api/v1/trades/open").json()["engineResponse"]["data"]["trades"] == []
    closed = alice.get("/api/v1/trades/closed?limit=5").json()["engineResponse"]["data"]["trades"]
    assert [t["tradeId"] for t in closed] == [trade_id]
    balances = exact(alice.get("/api/v1/account/balance"))["engineResponse"]["data"]["balances"]
    assert balances["USD"] == _usd(alice)
    assets = alice.get("/api/v1/account/assets").json()["assets"]
    assert {"symbol": "ADA_USDC", "decimals": 4} in assets


def test_engine_envelope_accepts_both_param_styles(alice: httpx.Client):
    flat = alice.post("/api/v1/engine", json={"command": "CREATE_TRADE", **LONG_BTC})
    nested = alice.post("/api/v1/engine", json={"command": "CREATE_TRADE", "tradeData": LONG_BTC})
    assert flat.status_code == 200 and nested.status_code == 200, (flat.text, nested.text)
    r = alice.post("/api/v1/engine", json={"command": "GET_OPEN_TRADES"})
    assert len(r.json()["engineResponse"]["data"]["trades"]) == 2
    trade_id = flat.json()["engineResponse"]["data"]["tradeId"]
    r = alice.post("/api/v1/engine", json={"command": "CLOSE_TRADE", "tradeId": trade_id})
    assert r.json()["success"] is True
    body = {"command": "GET_CLOSED_TRADES", "tradeData": {"limit": 1}}
    r = alice.post("/api/v1/engine", json=body)
    assert len(r.json()["engineResponse"]["data"]["trades"]) == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"command": "DROP_TABLES"}, "command"),
        ({}, "command"),
        ({"command": "CREATE_TRADE", "asset": "BTC_USDC", "tradeData": {"asset": "X"}}, "asset"),
        ({"command": "CREATE_TRADE", **LONG_BTC, "margin": -5}, "tradeData.margin"),
        ({"command": "CREATE_TRADE", **LONG_BTC, "asset": "DOGE"}, "tradeData.asset"),
        ({"command": "CLOSE_TRADE"}, "tradeData.tradeId"),
        ({"command": "GET_BALANCE", "tradeData": "x"}, "tradeData"),
        ({"command": "GET_BALANCE", "extra": 1}, "tradeData.extra"),
    ],
)
def test_engine_envelope_validation(alice: httpx.Client, body: dict, field: str):
    r = alice.post("/api/v1/engine", json=body)
    assert r.status_code == 400, r.text
    assert r.json()["field"] == field, r.json()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"margin": 0}, "margin"),
        ({"margin": "1.00001"}, "margin"),
        ({"margin": "abc"}, "margin"),
        ({"margin": 1.00001}, "margin"),
        ({"margin": "1e3"}, "margin"),
        ({"margin": "99999999999999999999"}, "margin"),
        ({"leverage": 5}, "leverage"),
        ({"leverage": 1001}, "leverage"),
        ({"direction": "UP"}, "direction"),
        ({"asset": "DOGE_USDC"}, "asset"),
        ({"stopLossPrice": "1.000001"}, "stopLossPrice"),
        ({"stopLossPrice": 1.00001}, "stopLossPrice"),
        ({"takeProfitPrice": "99999999999999999999"}, "takeProfitPrice"),
        ({"takeProfitPrice": 10**30}, "takeProfitPrice"),
        ({"expectedPrice": "-5"}, "expectedPrice"),
        ({"maxSlippageBps": 10}, "maxSlippageBps"),
        ({"surprise": True}, "surprise"),
    ],
)
def test_create_trade_field_errors(alice: httpx.Client, change: dict, field: str):
    r = alice.post("/api/v1/trade/create", json={**LONG_BTC, **change})
    assert r.status_code == 400, r.text
    assert r.json()["error"] == "validation_error" and r.json()["field"] == field


def test_exponents_are_refused_in_numbers_too(alice: httpx.Client):
    for text in (b"1e3", b"1E3", b"1.5e2", b"-5", b"0.0"):
        body = b'{"asset":"BTC_USDC","direction":"LONG","margin":' + text + b"}"
        r = alice.post("/api/v1/trade/create", content=body)
        assert r.status_code == 400 and r.json()["field"] == "margin", (text, r.text)


def test_malformed_bodies(alice: httpx.Client):
    for content in (b"{", b"[]", b"null", b"\xff\xfe", b'{"asset": "BTC_USDC"'):
        r = alice.post("/api/v1/trade/create", content=content)
        assert r.status_code == 400, (content, r.text)
    deep = b'{"command":"GET_BALANCE","x":' + b"[" * 5000 + b"]" * 5000 + b"}"
    assert alice.post("/api/v1/engine", content=deep).status_code == 400
    assert alice.get("/api/v1/trades/closed?limit=abc").status_code == 400
    assert alice.get("/api/v1/trades/closed?limit=0").status_code == 400
    r = alice.post("/api/v1/trade/close", json={"tradeId": ""})
    assert r.status_code == 400 and r.json()["field"] == "tradeId"


def test_engine_refusal_is_422_with_the_engine_message(alice: httpx.Client):
    r = alice.post("/api/v1/trade/create", json={**LONG_BTC, "margin": "999999"})
    assert r.status_code == 422
    assert r.json()["success"] is False
    assert r.json()["engineResponse"]["data"]["code"] == "INSUFFICIENT_BALANCE"


def test_another_users_trade_cannot_be_read_or_closed(alice: httpx.Client, bob: httpx.Client):
    r = alice.post("/api/v1/trade/create", json=LONG_BTC, headers={"Idempotency-Key": "k1"})
    trade_id = r.json()["engineResponse"]["data"]["tradeId"]
    order_id = r.json()["orderId"]
    r = bob.post("/api/v1/trade/close", json={"tradeId": trade_id})
    assert r.status_code == 422 and r.json()["engineResponse"]["data"]["code"] == "TRADE_NOT_FOUND"
    r = bob.post("/api/v1/engine", json={"command": "CLOSE_TRADE", "tradeId": trade_id})
    assert r.status_code == 422
    assert bob.get("/api/v1/trades/open").json()["engineResponse"]["data"]["trades"] == []
    assert bob.get(f"/api/v1/orders/{order_id}").status_code == 404
    assert bob.get("/api/v1/orders/k1").status_code == 404
    # Alice's trade is untouched and hers to read.
    opened = alice.get("/api/v1/trades/open").json()["engineResponse"]["data"]["trades"]
    assert [t["tradeId"] for t in opened] == [trade_id]
    assert alice.get(f"/api/v1/orders/{order_id}").json()["orderId"] == order_id
    assert alice.get("/api/v1/orders/k1").status_code == 200


def test_idempotent_retry_returns_the_original_and_trades_once(
    alice: httpx.Client, bob: httpx.Client
):
    start = _usd(alice)
    headers = {"Idempotency-Key": "retry-me-1"}
    first = alice.post("/api/v1/trade/create", json=LONG_BTC, headers=headers)
    second = alice.post("/api/v1/trade/create", json=LONG_BTC, headers=headers)
    assert first.status_code == second.status_code == 200
    assert first.json()["orderId"] == second.json()["orderId"]
    assert first.json()["engineResponse"] == second.json()["engineResponse"]
    assert _usd(alice) == start - LONG_BTC["margin"]
    # The same key from another user is another order, not a collision.
    other = bob.post("/api/v1/trade/create", json=LONG_BTC, headers=headers)
    assert other.status_code == 200 and other.json()["orderId"] != first.json()["orderId"]
    bad = alice.post("/api/v1/trade/create", json=LONG_BTC, headers={"Idempotency-Key": "a b"})
    assert bad.status_code == 400 and bad.json()["field"] == "Idempotency-Key"
    too_long = {"Idempotency-Key": "x" * 65}
    assert alice.post("/api/v1/trade/create", json=LONG_BTC, headers=too_long).status_code == 400


def test_engine_down_gives_504_and_the_result_is_recovered_later(
    redis_url: str, smtp: SmtpSink, workdir, engine: EngineProcess, priced
):
    gw = GatewayProcess(redis_url, workdir, SMTP_URL=smtp.url, ENGINE_TIMEOUT_MS="500").start()
    try:
        alice = sign_in(gw, smtp, "alice@example.com")
        start = _usd(alice)
        engine.stop()
        headers = {"Idempotency-Key": "while-down"}
        r = alice.post("/api/v1/trade/create", json=LONG_BTC, headers=headers)
        assert r.status_code == 504, r.text
        order_id = r.json()["orderId"]
        assert order_id == user_key("alice@example.com") + ":while-down"
        pending = alice.get(f"/api/v1/orders/{order_id}")
        assert pending.status_code == 202 and pending.json()["status"] == "pending"
        engine.start()
        retry = alice.post("/api/v1/trade/create", json=LONG_BTC, headers=headers)
        assert retry.status_code == 200, retry.text
        assert retry.json()["orderId"] == order_id
        looked_up = alice.get(f"/api/v1/orders/{order_id}")
        assert looked_up.status_code == 200
        assert looked_up.json()["engineResponse"] == retry.json()["engineResponse"]
        assert _usd(alice) == start - LONG_BTC["margin"]  # traded once, not twice
    finally:
        gw.stop()


def test_unknown_order_is_404(alice: httpx.Client):
    assert alice.get("/api/v1/orders/never-sent").status_code == 404
    assert alice.get("/api/v1/orders/bad%20key").status_code == 404
