"""The operator routes through the real gateway and engine processes: each command, each
refusal at the gateway (not signed in, not an admin, no CSRF, a bad body) and at the engine
(an address the gateway lets through but the engine's own ADMIN_EMAILS does not name)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from engine.messages import ADMIN_COMMANDS
from tests.gateway.stack import EngineProcess, GatewayProcess, SmtpSink, sign_in

pytest_plugins = ["tests.gateway.fixtures"]

OPS = "ops@example.com"
ROGUE = "rogue@example.com"  # an admin to the gateway only: the engine must refuse it
TRADE = {"asset": "BTC_USDC", "direction": "LONG", "margin": 100, "leverage": 20}


@pytest.fixture
def engine(redis_url: str, workdir: Path) -> Iterator[EngineProcess]:
    proc = EngineProcess(redis_url, workdir, ADMIN_EMAILS=OPS).start()
    yield proc
    proc.stop()


@pytest.fixture
def gateway(
    redis_url: str, smtp: SmtpSink, workdir: Path, engine: EngineProcess
) -> Iterator[GatewayProcess]:
    # Upper case on purpose: sessions are lower case, and so is the list once read.
    admins = f"Ops@Example.com, {ROGUE}"
    proc = GatewayProcess(redis_url, workdir, SMTP_URL=smtp.url, ADMIN_EMAILS=admins).start()
    yield proc
    proc.stop()


@pytest.fixture
def ops(gateway: GatewayProcess, smtp: SmtpSink, priced) -> httpx.Client:
    return sign_in(gateway, smtp, OPS)


@pytest.fixture
def alice(gateway: GatewayProcess, smtp: SmtpSink, priced) -> httpx.Client:
    return sign_in(gateway, smtp, "alice@example.com")


def exact(r: httpx.Response) -> Any:
    return json.loads(r.text, parse_float=Decimal)


def data(r: httpx.Response) -> Any:
    return exact(r)["engineResponse"]["data"]


def usd(client: httpx.Client) -> Decimal:
    r = client.get("/api/v1/account/balance/usd")
    assert r.status_code == 200, r.text
    return Decimal(data(r)["usdBalance"])


def halt(client: httpx.Client, asset: str, state: str, **extra: str) -> httpx.Response:
    return client.post(f"/api/v1/admin/markets/{asset}/state", json={"state": state, **extra})


def admin_commands_sent(redis_url: str) -> list[str]:
    client = redis.Redis.from_url(redis_url)
    try:
        entries = client.xrange("backend-to-engine")
    finally:
        client.close()
    return [f[b"command"].decode() for _, f in entries if f[b"command"].decode() in ADMIN_COMMANDS]


EVERY_ROUTE = [
    ("POST", "/api/v1/admin/markets/BTC_USDC/state", {"state": "HALTED"}),
    ("POST", "/api/v1/admin/limits", {"maxLeverage": 50}),
    ("POST", "/api/v1/admin/balance-adjustments",
     {"email": "alice@example.com", "amount": 1000, "reason": "r", "transactionId": "t"}),
    ("POST", "/api/v1/admin/trades/x/force-close", {"reason": "r"}),
    ("GET", "/api/v1/admin/report", None),
]  # fmt: skip


def test_a_trader_is_refused_every_operator_route_before_the_engine(
    gateway: GatewayProcess, alice: httpx.Client, redis_url: str
):
    anonymous = gateway.client()
    for method, path, body in EVERY_ROUTE:
        r = alice.request(method, path, json=body)
        assert r.status_code == 403, (path, r.text)
        assert r.json()["error"] == "forbidden" and "ADMIN_EMAILS" in r.json()["message"]
        r = anonymous.request(method, path, json=body)
        assert r.status_code == 401, (path, r.text)
    assert admin_commands_sent(redis_url) == []  # nothing reached backend-to-engine


def test_an_operator_needs_csrf_like_a_trader(ops: httpx.Client, redis_url: str):
    token = ops.headers.pop("X-CSRF-Token")
    r = halt(ops, "BTC_USDC", "HALTED")
    assert r.status_code == 403 and r.json()["error"] == "csrf", r.text
    ops.headers["X-CSRF-Token"] = token
    assert admin_commands_sent(redis_url) == []


def test_the_engine_refuses_an_address_only_the_gateway_trusts(
    gateway: GatewayProcess, smtp: SmtpSink, priced, redis_url: str
):
    rogue = sign_in(gateway, smtp, ROGUE)
    r = halt(rogue, "BTC_USDC", "HALTED", reason="misconfigured gateway")
    assert r.status_code == 422, r.text
    assert data(r) == {"code": "FORBIDDEN", "field": "email"}
    assert admin_commands_sent(redis_url) == ["SET_MARKET_STATE"]  # it got there, and no further
    r = rogue.get("/api/v1/admin/report")
    assert r.status_code == 422 and data(r)["code"] == "FORBIDDEN", r.text


def test_halt_refuses_traders_with_the_state_and_resume_lets_them_trade(
    ops: httpx.Client, alice: httpx.Client
):
    r = halt(ops, "BTC_USDC", "HALTED", reason="feed check")
    assert r.status_code == 200, r.text
    assert data(r) == {
        "asset": "BTC_USDC", "state": "HALTED", "previousState": "OPEN", "reason": "feed check"
    }  # fmt: skip
    r = alice.post("/api/v1/trade/create", json=TRADE)
    assert r.status_code == 422, r.text
    body = r.json()["engineResponse"]
    assert body["data"]["code"] == "MARKET_HALTED"
    assert body["message"] == "market BTC_USDC is HALTED: no new positions"
    other = alice.post("/api/v1/trade/create", json={**TRADE, "asset": "ETH_USDC"})
    assert other.status_code == 200, other.text  # one market, not the exchange
    r = halt(ops, "BTC_USDC", "OPEN")
    assert r.status_code == 200 and data(r)["previousState"] == "HALTED", r.text
    r = alice.post("/api/v1/trade/create", json=TRADE)
    assert r.status_code == 200, r.text


def test_close_only_refuses_an_open_and_accepts_a_close(ops: httpx.Client, alice: httpx.Client):
    opened = alice.post("/api/v1/trade/create", json=TRADE)
    assert opened.status_code == 200, opened.text
    assert halt(ops, "BTC_USDC", "CLOSE_ONLY").status_code == 200
    r = alice.post("/api/v1/trade/create", json=TRADE)
    assert r.status_code == 422 and data(r)["code"] == "MARKET_CLOSE_ONLY", r.text
    r = alice.post("/api/v1/trade/close", json={"tradeId": data(opened)["tradeId"]})
    assert r.status_code == 200, r.text


def test_limits_refuse_an_open_until_removed(ops: httpx.Client, alice: httpx.Client):
    r = ops.post("/api/v1/admin/limits", json={"asset": "BTC_USDC", "maxLeverage": 50,
                                                "maxMargin": "99.5"})
    assert r.status_code == 200, r.text
    assert data(r)["scope"] == "BTC_USDC"
    assert data(r)["limits"]["maxLeverage"] == 50
    assert data(r)["limits"]["maxMargin"] == Decimal("99.5")
    r = alice.post("/api/v1/trade/create", json=TRADE)  # 2x, 100 USD
    assert r.status_code == 422 and data(r)["code"] == "LIMIT_MARGIN", r.text
    r = ops.post("/api/v1/admin/limits", json={"asset": "BTC_USDC", "maxMargin": None})
    assert r.status_code == 200 and data(r)["limits"]["maxMargin"] is None, r.text
    assert data(r)["limits"]["maxLeverage"] == 50  # absent: kept
    r = alice.post("/api/v1/trade/create", json={**TRADE, "leverage": 60})
    assert r.status_code == 422 and data(r)["code"] == "LIMIT_LEVERAGE", r.text
    r = alice.post("/api/v1/trade/create", json=TRADE)
    assert r.status_code == 200, r.text
    r = ops.post("/api/v1/admin/limits", json={"maxOpenPositionsPerAccount": 1})  # every asset
    assert r.status_code == 200 and data(r)["scope"] != "BTC_USDC", r.text
    r = alice.post("/api/v1/trade/create", json={**TRADE, "asset": "ETH_USDC"})
    assert r.status_code == 422 and data(r)["code"] == "LIMIT_POSITIONS", r.text


def test_adjustments_are_exact_idempotent_and_never_overdraw(
    ops: httpx.Client, alice: httpx.Client
):
    start = usd(alice)
    credit = {"email": "Alice@Example.com", "amount": 12.5, "reason": "goodwill",
              "transactionId": "tx-1"}
    r = ops.post("/api/v1/admin/balance-adjustments", json=credit)
    assert r.status_code == 200, r.text
    assert data(r)["usdBalance"] == start + Decimal("12.5")
    assert data(r)["email"] == "alice@example.com"
    again = ops.post("/api/v1/admin/balance-adjustments", json=credit)
    assert again.status_code == 200 and again.json()["engineResponse"]["message"] == (
        "adjustment already applied"
    ), again.text
    assert usd(alice) == start + Decimal("12.5")
    debit = {**credit, "amount": "-0.0001", "transactionId": "tx-2"}
    r = ops.post("/api/v1/admin/balance-adjustments", json=debit)
    assert r.status_code == 200 and data(r)["amount"] == Decimal("-0.0001"), r.text
    overdraw = {**credit, "amount": -100_000, "transactionId": "tx-3"}
    r = ops.post("/api/v1/admin/balance-adjustments", json=overdraw)
    assert r.status_code == 422 and data(r)["code"] == "INSUFFICIENT_BALANCE", r.text
    assert usd(alice) == start + Decimal("12.4999")
    nobody = {**credit, "email": "nobody@example.com", "transactionId": "tx-4"}
    r = ops.post("/api/v1/admin/balance-adjustments", json=nobody)
    assert r.status_code == 422 and data(r)["code"] == "ACCOUNT_NOT_FOUND", r.text


def test_force_close_closes_any_trade_with_the_reason(ops: httpx.Client, alice: httpx.Client):
    opened = alice.post("/api/v1/trade/create", json=TRADE)
    trade_id = data(opened)["tradeId"]
    r = ops.post(f"/api/v1/admin/trades/{trade_id}/force-close", json={"reason": "risk"})
    assert r.status_code == 200, r.text
    assert data(r)["tradeId"] == trade_id and data(r)["email"] == "alice@example.com"
    assert r.json()["engineResponse"]["message"] == "trade force-closed: risk"
    assert data(alice.get("/api/v1/trades/open"))["trades"] == []
    r = ops.post(f"/api/v1/admin/trades/{trade_id}/force-close", json={"reason": "again"})
    assert r.status_code == 422 and data(r)["code"] == "TRADE_NOT_FOUND", r.text


def test_report_shows_conserved_totals_states_and_interest(ops: httpx.Client, alice: httpx.Client):
    assert alice.post("/api/v1/trade/create", json=TRADE).status_code == 200
    assert halt(ops, "SOL_USDC", "HALTED").status_code == 200
    r = ops.get("/api/v1/admin/report")
    assert r.status_code == 200, r.text
    report = data(r)
    assert report["totals"]["conserved"] is True
    assert report["openPositions"] == 1
    assert report["assets"]["BTC_USDC"]["openInterest"] == 200  # 100 USD at 2x
    assert report["assets"]["SOL_USDC"]["state"] == "HALTED"
    assert len(report["stateHash"]) == 64


BAD_BODIES = [
    ("/api/v1/admin/markets/DOGE_USDC/state", {"state": "HALTED"}, "asset"),
    ("/api/v1/admin/markets/BTC_USDC/state", {"state": "PAUSED"}, "state"),
    ("/api/v1/admin/markets/BTC_USDC/state", {"state": "OPEN", "reason": ""}, "reason"),
    ("/api/v1/admin/limits", {"asset": "DOGE_USDC"}, "asset"),
    ("/api/v1/admin/limits", {"maxLeverage": 5}, "maxLeverage"),
    ("/api/v1/admin/limits", {"minMargin": "1.00001"}, "minMargin"),
    ("/api/v1/admin/limits", {"maxSpread": 1}, "maxSpread"),
    ("/api/v1/admin/balance-adjustments",
     {"email": "a@b.io", "amount": "1e3", "reason": "r", "transactionId": "t"}, "amount"),
    ("/api/v1/admin/balance-adjustments",
     {"email": "a@b.io", "amount": 0, "reason": "r", "transactionId": "t"}, "amount"),
    ("/api/v1/admin/balance-adjustments",
     {"email": "a@b.io", "amount": "--1", "reason": "r", "transactionId": "t"}, "amount"),
    ("/api/v1/admin/balance-adjustments",
     {"email": "a@b.io", "amount": 1, "reason": "a\u0000b", "transactionId": "t"}, "reason"),
    ("/api/v1/admin/balance-adjustments",
     {"email": "a@b.io", "amount": 1, "reason": "r"}, "transactionId"),
    ("/api/v1/admin/trades/x/force-close", {}, "reason"),
    ("/api/v1/admin/trades/x/force-close", {"reason": "r" * 201}, "reason"),
]  # fmt: skip


def test_bad_operator_bodies_are_400_naming_the_field(ops: httpx.Client, redis_url: str):
    for path, body, field in BAD_BODIES:
        r = ops.post(path, json=body)
        assert r.status_code == 400, (path, body, r.text)
        assert r.json()["field"] == field, (path, body, r.text)
    assert admin_commands_sent(redis_url) == []
