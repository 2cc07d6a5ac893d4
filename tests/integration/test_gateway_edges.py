"""Issue 14's gateway items through the real gateway: ASCII-only integer parameters, OPTIONS
from the routes, and an OpenAPI document that agrees with the server on the cases the audit
found (the WebSocket close codes are in test_gateway_ws, the load test in test_gateway_load)."""

from __future__ import annotations

import httpx
import jsonschema_rs
import pytest

from tests.gateway.stack import GatewayProcess, SmtpSink, sign_in

pytest_plugins = ["tests.gateway.fixtures"]


@pytest.fixture
def alice(gateway: GatewayProcess, smtp: SmtpSink, priced) -> httpx.Client:
    return sign_in(gateway, smtp, "alice@example.com")


@pytest.mark.parametrize("limit", ["²", "①", "³³", "٣", "1_0", " 5", "+5", "５"])
def test_limit_takes_ascii_digits_only(alice: httpx.Client, limit: str):
    r = alice.get("/api/v1/trades/closed", params={"limit": limit})
    assert r.status_code == 400, r.text
    assert r.json()["field"] == "limit"


def test_plain_limit_still_works(alice: httpx.Client):
    r = alice.get("/api/v1/trades/closed", params={"limit": "3"})
    assert r.status_code == 200 and r.json()["engineResponse"]["data"]["trades"] == []


@pytest.mark.parametrize(
    ("path", "method"),
    [("/api/v1/auth", "POST"), ("/api/v1/trade/create", "POST"), ("/api/v1/price", "GET"),
     ("/api/v1/orders/abc", "GET"), ("/api/v1/auth/logout", "DELETE")],
)  # fmt: skip
def test_options_answers_the_routes_methods(gateway: GatewayProcess, path: str, method: str):
    r = httpx.options(gateway.url + path)
    assert r.status_code == 204, r.text
    allow = {m.strip() for m in r.headers["allow"].split(",")}
    assert method in allow and "OPTIONS" in allow and "PUT" not in allow


def _schema(gateway: GatewayProcess, name: str) -> jsonschema_rs.Validator:
    """A validator of one schema of the served document (its references resolve in it)."""
    doc = httpx.get(gateway.url + "/openapi.json").json()
    schema = {**doc["components"]["schemas"][name], "components": doc["components"]}
    return jsonschema_rs.validator_for(schema)


def test_schema_and_server_agree_on_the_audited_cases(gateway: GatewayProcess, alice):
    create = _schema(gateway, "CreateTradeRequest")
    trade = {"asset": "BTC_USDC", "direction": "LONG", "margin": "1"}
    assert create.is_valid(trade)
    assert not create.is_valid({**trade, "margin": "0"})
    assert alice.post("/api/v1/trade/create", json={**trade, "margin": "0"}).status_code == 400
    engine = _schema(gateway, "EngineRequest")
    closing = {"command": "CLOSE_TRADE", "tradeData": None}
    assert not engine.is_valid(closing)
    assert alice.post("/api/v1/engine", json=closing).status_code == 400
    assert engine.is_valid({"command": "CLOSE_TRADE", "tradeId": "t"})
    assert engine.is_valid({"command": "GET_BALANCE", "tradeData": None})
    r = alice.post("/api/v1/engine", json={"command": "GET_BALANCE", "tradeData": None})
    assert r.is_success, r.text
    doc = httpx.get(gateway.url + "/openapi.json").json()
    [key] = [
        p for p in doc["paths"]["/api/v1/trade/create"]["post"]["parameters"]
        if p["name"] == "Idempotency-Key"
    ]  # fmt: skip
    pattern = jsonschema_rs.validator_for(key["schema"])
    for value, ok in [("a b", False), ("x" * 65, False), ("retry-1", True)]:
        assert pattern.is_valid(value) is ok
        r = alice.post("/api/v1/trade/create", json=trade, headers={"Idempotency-Key": value})
        assert (r.status_code != 400) is ok, r.text
