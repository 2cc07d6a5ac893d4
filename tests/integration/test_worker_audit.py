"""The operator's trail in PostgreSQL, after real operator commands through the real engine
daemon and the worker process: one append-only audit_log row per command with its result
(refusals included), a row for a halt the engine made on its own, and adjustments in the ledger
with their reason."""

from __future__ import annotations

import json

import asyncpg
import pytest
import redis as sync_redis
from redis.asyncio import Redis

from engine import messages as m
from tests.integration.engine_harness import RESPONSES, EngineProcess, Feeder, wait_for
from tests.integration.test_worker_reference_tables import TIMEOUT_S, until
from tests.worker.helpers import (
    all_delivered,
    groups_exist,
    pending,
    worker_config,
    worker_process,
)

pytestmark = pytest.mark.slow
OPS = "ops@x.io"
ALICE = "alice@x.io"


async def test_operator_commands_land_in_an_append_only_audit_log(
    database_url, redis_url, tmp_path
):
    config = worker_config(database_url, redis_url)
    aredis = Redis.from_url(redis_url)
    client = sync_redis.Redis.from_url(redis_url)
    worker = worker_process(database_url, redis_url, "audit")
    engine = EngineProcess(redis_url, tmp_path / "snapshots")
    try:

        await until(lambda: groups_exist(aredis, config), "the worker's consumer groups", [worker])
        engine.start(env={"ADMIN_EMAILS": f"{OPS}, boss@x.io"})
        feed = Feeder(client)
        feed.price("BTC_USDC", 600_000_000)
        feed.command(m.CREATE_ACCOUNT, ALICE, order_id="acct")
        feed.command(m.SET_MARKET_STATE, OPS, order_id="halt", asset="BTC_USDC",
                     state="HALTED", reason="feed check")
        feed.command(m.SET_MARKET_STATE, ALICE, order_id="sneaky", asset="BTC_USDC",
                     state="OPEN")
        feed.command(m.ADJUST_BALANCE, OPS, order_id="credit", email=ALICE, amount="12.5",
                     reason="goodwill", transactionId="tx-1")
        feed.command(m.SET_MARKET_STATE, OPS, order_id="resume", asset="BTC_USDC",
                     state="OPEN")
        wait_for(lambda: client.xlen(RESPONSES) == len(feed.sent), TIMEOUT_S, "answers")

        async def caught_up() -> bool:
            return await all_delivered(aredis, config) and not await pending(aredis, config)

        await until(caught_up, "the worker to acknowledge everything", [worker])
        assert await aredis.xlen(config.dead_letter_stream) == 0
    finally:
        engine.close()
        worker.terminate()
        worker.wait(timeout=30)
        await aredis.aclose()
        client.close()

    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            "SELECT order_id, actor, action, parameters, status, message, result"
            " FROM audit_log ORDER BY id"
        )
        audited = {r["order_id"]: r for r in rows}
        assert sorted(audited) == ["credit", "halt", "resume", "sneaky"]
        halt = audited["halt"]
        assert (halt["actor"], halt["action"], halt["status"]) == (
            OPS, m.SET_MARKET_STATE, "success"
        )
        assert json.loads(halt["parameters"]) == {
            "asset": "BTC_USDC", "state": "HALTED", "reason": "feed check"
        }
        sneaky = audited["sneaky"]
        assert (sneaky["actor"], sneaky["status"]) == (ALICE, "error")
        assert json.loads(sneaky["result"])["code"] == "FORBIDDEN"
        credit = json.loads(audited["credit"]["result"])
        assert (credit["amount"], credit["usdBalance"]) == (12.5, 5012.5)
        note = await conn.fetchrow(
            "SELECT amount, reason, note FROM ledger WHERE reason = 'BALANCE_ADJUSTED'"
        )
        assert tuple(note) == (125_000, m.BALANCE_ADJUSTED, "goodwill")
        with pytest.raises(asyncpg.RaiseError, match="append-only"):
            await conn.execute("UPDATE audit_log SET status = 'x'")
        with pytest.raises(asyncpg.RaiseError, match="append-only"):
            await conn.execute("DELETE FROM audit_log")
    finally:
        await conn.close()
