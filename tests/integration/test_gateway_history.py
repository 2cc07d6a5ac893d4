"""The history routes the page reloads from: ``GET /api/v1/account/activity`` (the ledger) and
``GET /api/v1/trades/history`` (closed trades and closed parts), through the real engine,
worker process, PostgreSQL and gateway: what the page shows again after a reload, beyond the
latest closed trades the engine keeps in memory."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.gateway.stack import EngineProcess, GatewayProcess, SmtpSink, sign_in
from tests.integration.test_gateway_schema import migrate_database

pytest_plugins = ["tests.gateway.fixtures"]
ALICE = "alice@example.com"


@pytest.fixture
def history_gateway(
    redis_url: str, smtp: SmtpSink, workdir: Path, engine: EngineProcess, priced, database_url
) -> Iterator[GatewayProcess]:
    migrate_database(database_url)
    worker = subprocess.Popen(
        [sys.executable, "-m", "worker", "run", "--block-ms", "50", "--log-level", "WARNING"],
        env=os.environ | {"DATABASE_URL": database_url, "REDIS_URL": redis_url},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    gw = GatewayProcess(redis_url, workdir, SMTP_URL=smtp.url, DATABASE_URL=database_url).start()
    try:
        yield gw
    finally:
        gw.stop()
        worker.terminate()
        worker.wait(timeout=30)


def data(r: httpx.Response) -> Any:
    assert r.status_code == 200, r.text
    return json.loads(r.text, parse_float=Decimal)["engineResponse"]["data"]


def until(what: str, check, budget_s: float = 30.0):
    """Poll ``check`` until truthy: the worker writes asynchronously."""
    deadline = time.monotonic() + budget_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"never: {what}")
        time.sleep(0.1)


def test_activity_and_closed_trades_come_from_the_workers_history(
    history_gateway: GatewayProcess, smtp: SmtpSink
):
    alice = sign_in(history_gateway, smtp, ALICE)
    order = data(alice.post("/api/v1/orders", json={
        "asset": "BTC_USDC", "direction": "LONG", "type": "LIMIT", "price": 90000,
        "margin": "25.5", "leverage": 10}))
    data(alice.delete(f"/api/v1/orders/{order['orderId']}"))
    trade_id = data(alice.post("/api/v1/trade/create", json={
        "asset": "BTC_USDC", "direction": "SHORT", "margin": 100, "leverage": 20}))["tradeId"]
    part = data(alice.post("/api/v1/trade/close", json={"tradeId": trade_id, "margin": 30}))
    rest = data(alice.post("/api/v1/trade/close", json={"tradeId": trade_id}))

    def activity() -> list[dict[str, Any]]:
        r = alice.get("/api/v1/account/activity?limit=50")
        assert r.status_code == 200, r.text
        return r.json()["items"]

    items = until("the ledger has every change",
                  lambda: (lambda got: got if len(got) >= 6 else None)(activity()))
    assert [i["eventType"] for i in items] == [  # newest first
        "TRADE_CLOSED", "TRADE_CLOSED", "TRADE_OPENED", "ORDER_CANCELLED", "ORDER_PLACED",
        "ACCOUNT_CREATED",
    ]
    by_kind = {i["eventType"]: i for i in items}
    assert by_kind["ORDER_PLACED"]["amount"] == "-25.5"
    assert by_kind["ORDER_CANCELLED"]["amount"] == "25.5"
    assert by_kind["ORDER_PLACED"]["tradeId"] == order["orderId"]
    # the amounts chain: each balance is the one before plus the amount
    for newer, older in itertools.pairwise(items):
        assert _units(newer["balance"]) == _units(older["balance"]) + _units(newer["amount"])

    def history() -> list[dict[str, Any]]:
        r = alice.get("/api/v1/trades/history?limit=10")
        assert r.status_code == 200, r.text
        return r.json()["items"]

    closed = until("both closes in the history",
                   lambda: (lambda got: got if len(got) == 2 else None)(history()))
    assert [c["tradeId"] for c in closed] == [trade_id, trade_id]
    assert [c["margin"] for c in closed] == ["70", "30"]  # the rest, then the part
    assert Decimal(closed[1]["pnl"]) == part["pnl"] and Decimal(closed[0]["pnl"]) == rest["pnl"]
    assert {c["reason"] for c in closed} == {"closed"}

    # pages: one row each, then none; a cursor not made by the server is refused
    first = alice.get("/api/v1/trades/history?limit=1").json()
    second = alice.get(f"/api/v1/trades/history?limit=1&cursor={first['nextCursor']}").json()
    assert [first["items"][0]["margin"], second["items"][0]["margin"]] == ["70", "30"]
    assert second["nextCursor"] is None
    bad = alice.get("/api/v1/trades/history?cursor=not-a-cursor")
    assert bad.status_code == 400 and bad.json()["field"] == "cursor"
    too_many = alice.get("/api/v1/account/activity?limit=100000")
    assert too_many.status_code == 400 and too_many.json()["field"] == "limit"
    anonymous = httpx.get(history_gateway.url + "/api/v1/account/activity")
    assert anonymous.status_code == 401


def _units(text: str) -> int:
    whole, _, frac = text.lstrip("-").partition(".")
    value = int(whole) * 10_000 + int(frac.ljust(4, "0") or 0)
    return -value if text.startswith("-") else value

