"""Pending orders, amends and partial closes through the gateway's REST routes and the /engine
envelope, against the real engine process and Redis (issue 17)."""

from __future__ import annotations

import json
import time
from decimal import Decimal
from typing import Any

import httpx
import pytest
import redis

from gateway.auth import user_key
from tests.gateway.stack import GatewayProcess, SmtpSink, push_prices, sign_in

pytest_plugins = ["tests.gateway.fixtures"]

LIMIT_BTC = {"asset": "BTC_USDC", "direction": "LONG", "type": "LIMIT", "price": "99000.5",
             "margin": "100.25", "leverage": 20}


@pytest.fixture
def alice(gateway: GatewayProcess, smtp: SmtpSink, priced) -> httpx.Client:
    return sign_in(gateway, smtp, "alice@example.com")


@pytest.fixture
def bob(gateway: GatewayProcess, smtp: SmtpSink, priced) -> httpx.Client:
    return sign_in(gateway, smtp, "bob@example.com")


def exact(r: httpx.Response) -> Any:
    return json.loads(r.text, parse_float=Decimal)


def data(r: httpx.Response) -> Any:
    assert r.status_code == 200, r.text
    return exact(r)["engineResponse"]["data"]


def balance(client: httpx.Client) -> dict[str, Any]:
    return data(client.get("/api/v1/account/balance/usd"))


def open_orders(client: httpx.Client) -> list[dict[str, Any]]:
    return data(client.get("/api/v1/orders/open"))["orders"]


def open_trades(client: httpx.Client) -> list[dict[str, Any]]:
    return data(client.get("/api/v1/trades/open"))["trades"]


def until(what, check, budget_s: float = 20.0):
    """Poll ``check`` until it returns something truthy (the engine works asynchronously)."""
    deadline = time.monotonic() + budget_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"never: {what}")
        time.sleep(0.05)


def test_limit_order_is_placed_listed_reserved_and_filled_by_a_crossing_tick(
    alice: httpx.Client, redis_url: str
):
    start = balance(alice)["usdBalance"]
    r = alice.post("/api/v1/orders", json=LIMIT_BTC, headers={"Idempotency-Key": "lim-1"})
    order = data(r)
    order_id = f"{user_key('alice@example.com')}:lim-1"
    assert order["orderId"] == order_id and order["status"] == "PENDING"
    assert order["price"] == Decimal("99000.5") and order["margin"] == Decimal("100.25")
    after = balance(alice)
    assert after["usdBalance"] == start - Decimal("100.25")
    assert after["reservedUsd"] == Decimal("100.25")
    # "open" is a route of its own, never an orderId for the result lookup
    assert [o["orderId"] for o in open_orders(alice)] == [order_id]
    # a repeat with the same key answers the first answer and reserves nothing more
    again = alice.post("/api/v1/orders", json=LIMIT_BTC, headers={"Idempotency-Key": "lim-1"})
    assert data(again)["orderId"] == order_id
    assert balance(alice)["usdBalance"] == start - Decimal("100.25")
    # the ask gaps through the limit: filled at the better tick price, tradeId = the order's ID
    push_prices(redis_url, {"BTC_USDC": (989_000_000, 988_990_000, 989_010_000)})
    trades = until("the order fills", lambda: open_trades(alice))
    assert open_orders(alice) == []
    assert [t["tradeId"] for t in trades] == [order_id]
    assert trades[0]["entryPrice"] == Decimal("98901")
    end = balance(alice)
    assert end["usdBalance"] == start - Decimal("100.25") and "reservedUsd" not in end
    assert end["lockedUsd"] == Decimal("100.25")


def test_cancel_by_key_releases_the_margin_and_another_user_cannot_cancel(
    alice: httpx.Client, bob: httpx.Client
):
    start = balance(alice)["usdBalance"]
    stop = {**LIMIT_BTC, "type": "STOP", "direction": "SHORT", "price": 95000}
    data(alice.post("/api/v1/orders", json=stop, headers={"Idempotency-Key": "stop-1"}))
    full_id = f"{user_key('alice@example.com')}:stop-1"
    refused = bob.delete(f"/api/v1/orders/{full_id}")
    assert refused.status_code == 422, refused.text
    assert refused.json()["engineResponse"]["data"] == {"code": "ORDER_NOT_FOUND",
                                                        "field": "orderId"}
    cancelled = data(alice.delete("/api/v1/orders/stop-1"))
    assert cancelled["status"] == "CANCELLED" and cancelled["orderId"] == full_id
    assert balance(alice)["usdBalance"] == start
    again = alice.delete("/api/v1/orders/stop-1")
    assert again.status_code == 422
    assert again.json()["engineResponse"]["data"]["code"] == "ORDER_NOT_FOUND"


def test_order_that_would_fill_now_is_refused_and_amounts_are_checked_exactly(
    alice: httpx.Client,
):
    r = alice.post("/api/v1/orders", json={**LIMIT_BTC, "price": 101000})
    assert r.status_code == 422
    assert r.json()["engineResponse"]["data"]["code"] == "INVALID_ORDER_PRICE"
    for body, field in [
        ({**LIMIT_BTC, "price": "99000.00001"}, "price"),
        ({**LIMIT_BTC, "margin": "1e3"}, "margin"),
        ({**LIMIT_BTC, "trailingDistance": -5}, "trailingDistance"),
        ({**LIMIT_BTC, "type": "MARKET"}, "type"),
        ({**LIMIT_BTC, "expiresAt": 2_000_000_000_000, "expiresInMs": 60_000}, "expiresInMs"),
    ]:
        r = alice.post("/api/v1/orders", json=body)
        assert r.status_code == 400, (body, r.text)
        assert r.json()["field"] == field, (body, r.text)


def test_expires_in_ms_becomes_stream_time_and_the_order_expires(
    alice: httpx.Client, redis_url: str
):
    client = redis.Redis.from_url(redis_url)
    seconds, micros = client.time()
    before_ms = seconds * 1000 + micros // 1000
    order = data(alice.post("/api/v1/orders", json={**LIMIT_BTC, "expiresInMs": 1000}))
    assert before_ms + 1000 <= order["expiresAt"]
    start = balance(alice)
    # the first input entry at or after expiresAt removes it (stream time, not the wall clock)
    def redis_ms() -> int:
        seconds, micros = client.time()
        return seconds * 1000 + micros // 1000

    until("the Redis clock passes expiresAt", lambda: redis_ms() > order["expiresAt"])
    push_prices(redis_url, {"BTC_USDC": (1_000_000_000, 999_990_000, 1_000_010_000)})
    until("the order expires", lambda: open_orders(alice) == [])
    assert balance(alice)["usdBalance"] == start["usdBalance"] + Decimal("100.25")
    client.close()


def test_modify_trade_keeps_absent_keys_and_null_removes(alice: httpx.Client):
    opened = data(alice.post("/api/v1/trade/create", json={
        "asset": "BTC_USDC", "direction": "LONG", "margin": 100, "leverage": 20,
        "stopLossPrice": 95000, "takeProfitPrice": "105000.5"}))
    trade_id = opened["tradeId"]
    r = alice.patch(f"/api/v1/trades/{trade_id}", json={"takeProfitPrice": "106000.25"})
    changed = data(r)
    assert changed["stopLossPrice"] == 95000 and changed["takeProfitPrice"] == Decimal("106000.25")
    changed = data(alice.patch(f"/api/v1/trades/{trade_id}",
                               json={"stopLossPrice": None, "trailingDistance": 500}))
    assert changed["stopLossPrice"] is None
    assert changed["takeProfitPrice"] == Decimal("106000.25")
    assert changed["trailingDistance"] == 500
    nothing = alice.patch(f"/api/v1/trades/{trade_id}", json={})
    assert nothing.status_code == 422
    assert nothing.json()["engineResponse"]["data"]["code"] == "NOTHING_TO_MODIFY"
    wrong_side = alice.patch(f"/api/v1/trades/{trade_id}", json={"stopLossPrice": 100500})
    assert wrong_side.status_code == 422
    assert wrong_side.json()["engineResponse"]["data"]["code"] == "INVALID_STOP_LOSS"
    bad = alice.patch(f"/api/v1/trades/{trade_id}", json={"stopLossPrice": "9.123456"})
    assert bad.status_code == 400 and bad.json()["field"] == "stopLossPrice"


def test_partial_close_then_the_rest(alice: httpx.Client):
    start = balance(alice)["usdBalance"]
    trade_id = data(alice.post("/api/v1/trade/create", json={
        "asset": "BTC_USDC", "direction": "LONG", "margin": 100, "leverage": 10}))["tradeId"]
    part = data(alice.post("/api/v1/trade/close", json={"tradeId": trade_id,
                                                         "margin": "40.5"}))
    assert part["closedMargin"] == Decimal("40.5") and part["remainingMargin"] == Decimal("59.5")
    assert [t["margin"] for t in open_trades(alice)] == [Decimal("59.5")]
    too_much = alice.post("/api/v1/trade/close", json={"tradeId": trade_id, "margin": 60})
    assert too_much.status_code == 422
    assert too_much.json()["engineResponse"]["data"]["code"] == "INVALID_MARGIN"
    bad = alice.post("/api/v1/trade/close", json={"tradeId": trade_id, "margin": "0.00001"})
    assert bad.status_code == 400 and bad.json()["field"] == "margin"
    rest = data(alice.post("/api/v1/trade/close", json={"tradeId": trade_id}))
    assert "closedMargin" not in rest and open_trades(alice) == []
    returned = part["totalReturn"] + rest["totalReturn"]
    assert balance(alice)["usdBalance"] == start - 100 + returned


def test_trade_order_is_a_market_order_by_default_and_a_pending_one_with_a_type(
    alice: httpx.Client,
):
    market = data(alice.post("/api/v1/trade/order", json={
        "asset": "BTC_USDC", "direction": "SHORT", "margin": 10, "trailingDistance": 1000}))
    assert market["entryPrice"] == Decimal("99999") and market["trailingDistance"] == 1000
    pending = data(alice.post("/api/v1/trade/order", json={**LIMIT_BTC, "type": "LIMIT"}))
    assert pending["status"] == "PENDING"
    no_price = alice.post("/api/v1/trade/order", json={**LIMIT_BTC, "price": None})
    assert no_price.status_code == 400 and no_price.json()["field"] == "price"
    market_price = alice.post("/api/v1/trade/order", json={**LIMIT_BTC, "type": "MARKET"})
    assert market_price.status_code == 400 and market_price.json()["field"] == "price"


def test_engine_envelope_runs_every_new_command(alice: httpx.Client):
    placed = data(alice.post("/api/v1/engine", json={"command": "CREATE_ORDER", **LIMIT_BTC}))
    listed = data(alice.post("/api/v1/engine", json={"command": "GET_OPEN_ORDERS"}))
    assert [o["orderId"] for o in listed["orders"]] == [placed["orderId"]]
    cancel = {"command": "CANCEL_ORDER", "tradeData": {"orderId": placed["orderId"]}}
    assert data(alice.post("/api/v1/engine", json=cancel))["status"] == "CANCELLED"
    trade_id = data(alice.post("/api/v1/engine", json={
        "command": "CREATE_TRADE", "asset": "BTC_USDC", "direction": "LONG",
        "margin": 50}))["tradeId"]
    modified = data(alice.post("/api/v1/engine", json={
        "command": "MODIFY_TRADE", "tradeId": trade_id, "takeProfitPrice": 120000}))
    assert modified["takeProfitPrice"] == 120000 and modified["stopLossPrice"] is None
    part = data(alice.post("/api/v1/engine", json={
        "command": "CLOSE_TRADE", "tradeId": trade_id, "margin": 20}))
    assert part["closedMargin"] == 20
    bad = alice.post("/api/v1/engine", json={"command": "MODIFY_TRADE", "tradeId": trade_id,
                                              "stopLossPrice": "-1"})
    assert bad.status_code == 400 and bad.json()["field"] == "tradeData.stopLossPrice"


def test_openapi_documents_the_new_routes(gateway: GatewayProcess):
    doc = httpx.get(f"http://127.0.0.1:{gateway.port}/openapi.json").json()
    assert set(doc["paths"]["/api/v1/orders/{orderId}"]) == {"get", "delete"}
    assert "post" in doc["paths"]["/api/v1/orders"]
    assert "get" in doc["paths"]["/api/v1/orders/open"]
    assert "patch" in doc["paths"]["/api/v1/trades/{tradeId}"]
    assert "post" in doc["paths"]["/api/v1/trade/order"]
    refusals = doc["paths"]["/api/v1/orders"]["post"]["responses"]["422"]["description"]
    assert "INVALID_ORDER_PRICE" in refusals and "INVALID_EXPIRY" in refusals


def test_websocket_pushes_the_new_events_in_the_wire_shape(
    alice: httpx.Client, gateway: GatewayProcess, redis_url: str
):
    from tests.integration.test_gateway_ws import _event, _until, _ws

    with _ws(gateway, alice) as ws:
        order = data(alice.post("/api/v1/orders", json={**LIMIT_BTC, "stopLossPrice": 90000}))
        placed, _ = _until(ws, _event("ORDER_PLACED", order["orderId"]))
        assert placed["event"]["amount"] == "-100.25"
        assert placed["event"]["orderType"] == "LIMIT"
        assert placed["event"]["orderPrice"] == "99000.50"
        assert placed["event"]["stopLossPrice"] == "90000.00"
        push_prices(redis_url, {"BTC_USDC": (989_000_000, 988_990_000, 989_010_000)})
        filled, _ = _until(ws, _event("ORDER_FILLED", order["orderId"]))
        assert filled["event"]["entryPrice"] == "98901.00"
        _until(ws, _event("TRADE_OPENED", order["orderId"]))
        data(alice.patch(f"/api/v1/trades/{order['orderId']}", json={"trailingDistance": 100}))
        modified, _ = _until(ws, _event("TRADE_MODIFIED", order["orderId"]))
        assert modified["event"]["trailingDistance"] == "100.00"
        # the bid falls past the trailing stop (98899 - 100): it fires with its own type
        push_prices(redis_url, {"BTC_USDC": (987_000_000, 986_990_000, 987_010_000)})
        fired, _ = _until(ws, _event("TRADE_TRAILING_STOP", order["orderId"]))
        assert fired["event"]["trailingStopPrice"] == "98799.00"
        data(alice.post("/api/v1/orders", json={**LIMIT_BTC, "price": 90000},
                        headers={"Idempotency-Key": "ws-cancel"}))
        data(alice.delete("/api/v1/orders/ws-cancel"))
        cancelled, _ = _until(ws, _event("ORDER_CANCELLED"))
        assert cancelled["event"]["reason"] == "cancelled"
        assert cancelled["event"]["amount"] == "100.25"
