"""kill -9 of the worker process mid-batch, then a restart: no lost and no duplicate rows."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid

import asyncpg
import pytest
from redis.asyncio import Redis

from tests.worker.helpers import (
    all_delivered,
    dump,
    fill_streams,
    pending,
    reference_dump,
    worker_config,
)
from worker.loadgen import synthetic_history

pytestmark = pytest.mark.slow
TIMEOUT_S = 120


def start_worker(database_url: str, redis_url: str, consumer: str) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "worker",
            "run",
            "--consumer",
            consumer,
            "--batch-size",
            "100",
            "--block-ms",
            "50",
            "--claim-idle-ms",
            "300",
            "--claim-interval",
            "0.5",
            "--log-level",
            "WARNING",
        ],
        env=os.environ | {"DATABASE_URL": database_url, "REDIS_URL": redis_url},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


async def ledger_rows(url: str) -> int:
    try:
        conn = await asyncpg.connect(url)
    except (OSError, asyncpg.PostgresError):
        return 0
    try:
        return await conn.fetchval("SELECT count(*) FROM ledger")
    except asyncpg.UndefinedTableError:
        return 0
    finally:
        await conn.close()


async def wait_for(condition, what: str, proc: subprocess.Popen) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + TIMEOUT_S
    while not await condition():
        assert proc.poll() is None, f"worker exited: {proc.stderr.read().decode()[-2000:]}"
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


async def test_kill_9_mid_batch_then_restart_gives_every_row_once(
    database_url, redis_url, postgres_server
):
    history = synthetic_history(30, 40, seed=13)
    config = worker_config(database_url, redis_url)
    redis = Redis.from_url(redis_url)
    await fill_streams(redis, config, history)
    events = history.events
    kills = 0
    try:
        for round_no, fraction in enumerate((0.15, 0.45, 0.75)):
            proc = start_worker(database_url, redis_url, f"crashy-{round_no}")

            async def progressed(target=int(events * fraction)) -> bool:
                return await ledger_rows(database_url) >= target

            await wait_for(progressed, f"{fraction:.0%} of the ledger", proc)
            os.kill(proc.pid, signal.SIGKILL)  # mid-batch: it is writing all the time
            assert proc.wait(timeout=TIMEOUT_S) == -signal.SIGKILL
            proc.stderr.close()
            kills += 1
        assert await pending(redis, config) > 0  # the dead ones left entries unacknowledged

        last = start_worker(database_url, redis_url, "survivor")

        async def all_acknowledged() -> bool:
            if await pending(redis, config):
                return False
            return await all_delivered(redis, config) and await ledger_rows(database_url) == events

        await wait_for(all_acknowledged, "the survivor to finish", last)
        last.send_signal(signal.SIGTERM)
        assert last.wait(timeout=TIMEOUT_S) == 0
        last.stderr.close()
    finally:
        for p in [locals().get("proc"), locals().get("last")]:
            if p is not None and p.poll() is None:
                p.kill()
                p.wait()

    assert kills == 3
    name = f"ref_{uuid.uuid4().hex[:16]}"
    reference_url = postgres_server.create_database(name)
    conn = await asyncpg.connect(database_url)
    try:
        assert await dump(conn) == await reference_dump(redis, config, reference_url)
        sums = dict(await conn.fetch("SELECT email, sum(amount) FROM ledger GROUP BY email"))
        assert sums == history.balances
        assert await redis.xlen(config.dead_letter_stream) == 0
    finally:
        await conn.close()
        await redis.aclose()
        postgres_server.drop_database(name)
