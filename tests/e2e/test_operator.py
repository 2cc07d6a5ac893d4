"""An operator's day through the real gateway, engine, worker and PostgreSQL: sign in as an
admin, halt an asset, a trader is refused with a clear message, resume, the trade goes
through, and the audit_log has both operator commands with their results."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from redis.asyncio import Redis

from tests.gateway.stack import ROOT, EngineProcess, GatewayProcess, SmtpSink, sign_in
from tests.integration.test_worker_reference_tables import until
from tests.worker.helpers import all_delivered, pending, worker_config

pytest_plugins = ["tests.gateway.fixtures"]
OPS = "ops@example.com"
TRADE = {"asset": "BTC_USDC", "direction": "LONG", "margin": 100, "leverage": 20}


@pytest.fixture
def engine(redis_url: str, workdir: Path) -> Iterator[EngineProcess]:
    proc = EngineProcess(redis_url, workdir, ADMIN_EMAILS=OPS).start()
    yield proc
    proc.stop()


@pytest.fixture
def gateway(redis_url: str, smtp: SmtpSink, workdir: Path, engine) -> Iterator[GatewayProcess]:
    proc = GatewayProcess(redis_url, workdir, SMTP_URL=smtp.url, ADMIN_EMAILS=OPS).start()
    yield proc
    proc.stop()


@pytest.fixture
def worker(redis_url: str, database_url: str) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "worker", "run", "--consumer", "e2e", "--block-ms", "50",
         "--log-level", "WARNING"],
        env=os.environ | {"DATABASE_URL": database_url, "REDIS_URL": redis_url},
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    yield proc
    proc.terminate()
    proc.wait(timeout=30)


async def test_halt_refuse_resume_trade_and_the_audit_trail(
    gateway: GatewayProcess, smtp: SmtpSink, priced, worker, redis_url: str, database_url: str
):
    ops = await asyncio.to_thread(sign_in, gateway, smtp, OPS)
    trader = await asyncio.to_thread(sign_in, gateway, smtp, "trader@example.com")

    def post(client: httpx.Client, path: str, body: dict) -> httpx.Response:
        return client.post(path, json=body)

    r = await asyncio.to_thread(post, ops, "/api/v1/admin/markets/BTC_USDC/state",
                                {"state": "HALTED", "reason": "feed check"})
    assert r.status_code == 200, r.text
    halt_order = r.json()["orderId"]
    # The trader is refused, and the answer says why in words.
    r = await asyncio.to_thread(post, trader, "/api/v1/trade/create", TRADE)
    assert r.status_code == 422, r.text
    refusal = r.json()["engineResponse"]
    assert refusal["data"]["code"] == "MARKET_HALTED"
    assert refusal["message"] == "market BTC_USDC is HALTED: no new positions"
    # And the trader cannot lift the halt.
    r = await asyncio.to_thread(post, trader, "/api/v1/admin/markets/BTC_USDC/state",
                                {"state": "OPEN"})
    assert r.status_code == 403, r.text
    r = await asyncio.to_thread(post, ops, "/api/v1/admin/markets/BTC_USDC/state",
                                {"state": "OPEN"})
    assert r.status_code == 200, r.text
    resume_order = r.json()["orderId"]
    r = await asyncio.to_thread(post, trader, "/api/v1/trade/create", TRADE)
    assert r.status_code == 200, r.text
    trade_id = r.json()["engineResponse"]["data"]["tradeId"]

    config = worker_config(database_url, redis_url)
    aredis = Redis.from_url(redis_url)
    try:

        async def caught_up() -> bool:
            return await all_delivered(aredis, config) and not await pending(aredis, config)

        await until(caught_up, "the worker to write everything", [worker])
        assert await aredis.xlen(config.dead_letter_stream) == 0
    finally:
        await aredis.aclose()

    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            "SELECT order_id, actor, action, parameters, status, result FROM audit_log ORDER BY id"
        )
        opened = await conn.fetchval("SELECT count(*) FROM trades WHERE trade_id = $1", trade_id)
    finally:
        await conn.close()
    assert [(r["order_id"], r["actor"], r["action"], r["status"]) for r in rows] == [
        (halt_order, OPS, "SET_MARKET_STATE", "success"),
        (resume_order, OPS, "SET_MARKET_STATE", "success"),
    ]  # the trader's 403 never reached the engine, so it is not in the engine's audit trail
    assert json.loads(rows[0]["parameters"]) == {
        "asset": "BTC_USDC", "state": "HALTED", "reason": "feed check"
    }  # fmt: skip
    assert json.loads(rows[1]["result"])["previousState"] == "HALTED"
    assert opened == 1
