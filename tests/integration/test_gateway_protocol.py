"""The reference documentation's requests, verbatim, through the real gateway and engine
(issue 13): ``POST /api/v1/engine`` with the parameters at top level and amounts in human
units, the documented keys in each answer, ``data`` exactly as the engine wrote it, and the
documented public routes."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import httpx
import pytest
import redis

from tests.gateway.stack import GatewayProcess, SmtpSink, push_prices, sign_in

pytest_plugins = ["tests.gateway.fixtures"]

# Verbatim from the reference's "API Documentation", ETH's 5000 first (the whole balance).
DOCUMENTED_CREATES = [
    {"command": "CREATE_TRADE", "asset": "ETH_USDC", "direction": "SHORT", "margin": 5000,
     "leverage": 500},
    {"command": "CREATE_TRADE", "asset": "SOL_USDC", "direction": "LONG", "margin": 1000,
     "leverage": 10},
    {"command": "CREATE_TRADE", "asset": "SOL_USDC", "direction": "LONG", "margin": 1000,
     "leverage": 100},
    {"command": "CREATE_TRADE", "asset": "SOL_USDC", "direction": "LONG", "margin": 1000,
     "leverage": 50, "stopLossPrice": 230.50, "takeProfitPrice": 250.75},
]  # fmt: skip
CREATE_KEYS = {"email", "tradeId", "entryPrice", "liquidationPrice", "stopLossPrice",
               "takeProfitPrice", "margin", "leverage"}  # fmt: skip
CLOSE_KEYS = {"email", "tradeId", "asset", "marginReturned", "pnl", "totalReturn", "closePrice"}


def exact(r: httpx.Response) -> Any:
    """The body with every number read exactly (Decimal), never as a float."""
    return json.loads(r.text, parse_float=Decimal)


@pytest.fixture
def alice(gateway: GatewayProcess, smtp: SmtpSink, redis_url: str) -> httpx.Client:
    # SOL at the documentation's 235.95, so its stop-loss and take-profit make sense (the first
    # prices: the engine's price band would refuse a later jump from another level).
    push_prices(
        redis_url,
        {"SOL_USDC": (2_359_500, 2_359_400, 2_359_600), "ETH_USDC": (30_000_000, 29_999_000,
                                                                    30_001_000)},
    )
    return sign_in(gateway, smtp, "user123@gmail.com")


def _stream_data(redis_url: str, order_id: str) -> bytes:
    client = redis.Redis.from_url(redis_url)
    try:
        for _id, fields in client.xrevrange("engine_response", count=200):
            if fields[b"orderId"] == order_id.encode():
                return fields[b"data"]  # type: ignore[no-any-return]
    finally:
        client.close()
    raise AssertionError(f"no engine_response for {order_id}")


def _engine(client: httpx.Client, body: dict[str, Any]) -> tuple[httpx.Response, Any]:
    r = client.post("/api/v1/engine", json=body)
    assert r.status_code == 200, (body, r.text)
    envelope = exact(r)
    assert set(envelope) == {"success", "orderId", "engineResponse", "latency"}
    assert envelope["success"] is True
    assert set(envelope["engineResponse"]) == {"status", "data", "message"}
    return r, envelope["engineResponse"]["data"]


def test_documented_requests_verbatim(alice: httpx.Client, redis_url: str):
    _, usd = _engine(alice, {"command": "GET_USD_BALANCE"})
    assert usd["email"] == "user123@gmail.com" and usd["usdBalance"] == 5000
    _, balance = _engine(alice, {"command": "GET_BALANCE"})
    assert balance["balances"]["USD"] == 5000
    for request in DOCUMENTED_CREATES:
        r, data = _engine(alice, request)
        assert set(data) >= CREATE_KEYS, data
        assert data["margin"] == request["margin"]  # 1000 means 1000 USD
        assert data["leverage"] == Decimal(request["leverage"]) / 10  # answers: multiplier
        # data is the engine's bytes, embedded as they are (no float round trip).
        raw = _stream_data(redis_url, r.json()["orderId"])
        assert b'"data":' + raw in r.content
        if "stopLossPrice" in request:
            assert data["stopLossPrice"] == Decimal("230.5")
            assert data["takeProfitPrice"] == Decimal("250.75")
        r, closed = _engine(alice, {"command": "CLOSE_TRADE", "tradeId": data["tradeId"]})
        assert set(closed) >= CLOSE_KEYS, closed
        assert closed["totalReturn"] == closed["margin"] + closed["pnl"]
        assert b'"data":' + _stream_data(redis_url, r.json()["orderId"]) in r.content


def test_amounts_out_of_range_or_inexact_name_their_field(alice: httpx.Client):
    base = DOCUMENTED_CREATES[3]
    for change, field in [
        ({"takeProfitPrice": "99999999999999999999"}, "takeProfitPrice"),
        ({"takeProfitPrice": 10**30}, "takeProfitPrice"),
        ({"stopLossPrice": 230.50001}, "stopLossPrice"),
        ({"margin": 0.00001}, "margin"),
        ({"margin": "1e3"}, "margin"),
        ({"margin": 0}, "margin"),
    ]:
        r = alice.post("/api/v1/engine", json={**base, **change})
        assert r.status_code == 400, (change, r.text)
        assert r.json()["field"] == f"tradeData.{field}", r.json()
    # tradeData null is "no tradeData": CLOSE_TRADE still needs its tradeId.
    r = alice.post("/api/v1/engine", json={"command": "CLOSE_TRADE", "tradeData": None})
    assert r.status_code == 400 and r.json()["field"] == "tradeData.tradeId"


def test_documented_public_routes(gateway: GatewayProcess, priced):
    r = httpx.get(gateway.url + "/api/v1/supportedAssets")
    assert r.status_code == 200
    assert sorted(r.json()) == ["ADA_USDC", "BTC_USDC", "ETH_USDC", "SOL_USDC"]
    table = httpx.get(gateway.url + "/api/v1/assets").json()["assets"]
    assert {"symbol": "ADA_USDC", "decimals": 4} in table
    price = httpx.get(gateway.url + "/api/v1/price?asset=SOL_USDC").json()
    assert price["asset"] == "SOL_USDC" and price["decimal"] == 4
    assert price["price"] == str(priced["SOL_USDC"][0])  # a string, as documented
    health = httpx.get(gateway.url + "/health")
    assert health.status_code == 200 and health.json() == {"status": "ok"}
