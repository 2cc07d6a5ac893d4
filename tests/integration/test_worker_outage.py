"""PostgreSQL stopped under load and started again: nothing acknowledged while it is down,
every entry written once when it is back (a private cluster, stopped by its PID)."""

from __future__ import annotations

import asyncio
import os

import asyncpg
import pytest
from redis.asyncio import Redis

from devstack.postgres_server import PostgresServer
from tests.worker.helpers import counts, dump, pending, reference_dump, worker_config
from worker.loadgen import synthetic_history
from worker.mapping import Kind
from worker.service import Database, Worker

pytestmark = pytest.mark.slow
TIMEOUT_S = 120


async def wait_for(condition, what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + TIMEOUT_S
    while not await condition():
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def test_postgres_outage_under_load_loses_and_duplicates_nothing(redis_url):
    history = synthetic_history(20, 25, seed=11)
    entries = history.entries
    with PostgresServer() as pg:
        url = pg.create_database("worker")
        reference_url = pg.create_database("reference")
        config = worker_config(url, redis_url, batch_size=100, retry_max_s=0.3)
        redis = Redis.from_url(redis_url)
        worker = Worker(config, Redis.from_url(redis_url), Database(url))
        task = asyncio.create_task(worker.run())
        streams = {
            Kind.COMMAND: config.commands_stream,
            Kind.RESPONSE: config.response_stream,
            Kind.EVENT: config.events_stream,
        }

        async def produce(part) -> None:
            for start in range(0, len(part), 50):
                async with redis.pipeline(transaction=False) as pipe:
                    for kind, fields in part[start : start + 50]:
                        pipe.xadd(streams[kind], fields)
                    await pipe.execute()
                await asyncio.sleep(0.005)

        third = len(entries) // 3
        try:
            await produce(entries[:third])

            async def some_written() -> bool:
                return worker.stats.written > 0

            await wait_for(some_written, "the first rows")
            # Stop PostgreSQL by its PID while entries keep arriving.
            pid = pg.pid
            await asyncio.to_thread(pg.stop)
            with pytest.raises(ProcessLookupError):
                os.kill(pid, 0)
            written_at_stop = worker.stats.written
            retries_at_stop = worker.stats.retries
            await produce(entries[third : 2 * third])

            async def retried_twice() -> bool:
                return worker.stats.retries >= retries_at_stop + 2

            await wait_for(retried_twice, "retries while PostgreSQL is down")
            # Whatever was read meanwhile is pending, not acknowledged.
            assert worker.stats.written <= written_at_stop + config.batch_size * 3
            frozen = worker.stats.written
            assert await pending(redis, config) > 0
            await asyncio.sleep(0.5)
            assert worker.stats.written == frozen

            await asyncio.to_thread(pg.start)
            await produce(entries[2 * third :])

            async def all_written() -> bool:
                return worker.stats.written == len(entries)

            await wait_for(all_written, "the catch-up")
            assert await pending(redis, config) == 0
        finally:
            worker.stop()
            await asyncio.wait_for(task, TIMEOUT_S)

        assert worker.stats.dead == 0
        conn = await asyncpg.connect(url)
        try:
            assert await dump(conn) == await reference_dump(redis, config, reference_url)
            assert (await counts(conn))["ledger"] == history.events
            sums = dict(await conn.fetch("SELECT email, sum(amount) FROM ledger GROUP BY email"))
            assert sums == history.balances
        finally:
            await conn.close()
            await redis.aclose()
