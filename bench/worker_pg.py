"""Benchmark: entries per second from the engine's streams into PostgreSQL.

Fills a private Redis with about N encoded commands, responses and events (a consistent
synthetic history, encoded by the engine's wire codecs), runs the worker against a private
PostgreSQL until every entry is written and acknowledged, and prints entries/s.

    python bench/worker_pg.py [--entries 100000] [--batch-size 2000] [--durable]

The private cluster runs with fsync off unless --durable (then fsync and full_page_writes are
on, as in production; synchronous_commit is on in both).
"""

from __future__ import annotations

import argparse
import asyncio
import time

import asyncpg
import uvloop
from redis.asyncio import Redis

from devstack.postgres_server import PostgresServer
from devstack.redis_server import RedisServer
from worker.config import Config
from worker.loadgen import synthetic_history
from worker.mapping import Kind
from worker.service import Database, Worker

USERS = 1000


async def fill(redis: Redis, config: Config, entries) -> None:
    streams = {Kind.COMMAND: config.commands_stream, Kind.RESPONSE: config.response_stream,
               Kind.EVENT: config.events_stream}
    for start in range(0, len(entries), 5000):
        async with redis.pipeline(transaction=False) as pipe:
            for kind, fields in entries[start:start + 5000]:
                pipe.xadd(streams[kind], fields)
            await pipe.execute()


async def bench(n: int, batch_size: int, pg: PostgresServer, redis_url: str) -> None:
    trades = max(1, round((n / USERS - 3) / 5.1))
    t0 = time.perf_counter()
    history = synthetic_history(USERS, trades, seed=1)
    entries = history.entries
    print(f"generated {len(entries)} entries ({USERS} users x {trades} trades) "
          f"in {time.perf_counter() - t0:.1f}s")
    config = Config(database_url=pg.create_database("bench"), redis_url=redis_url,
                    consumer="bench", batch_size=batch_size, block_ms=20,
                    stats_interval_s=3600, claim_interval_s=3600)
    redis = Redis.from_url(redis_url)
    t0 = time.perf_counter()
    await fill(redis, config, entries)
    print(f"XADDed them in {time.perf_counter() - t0:.1f}s")

    worker = Worker(config, Redis.from_url(redis_url), Database(config.database_url))
    start = time.perf_counter()
    task = asyncio.create_task(worker.run())
    while worker.stats.written < len(entries):
        if task.done():
            task.result()
            raise SystemExit("worker stopped early")
        await asyncio.sleep(0.005)
    elapsed = time.perf_counter() - start
    worker.stop()
    await task

    conn = await asyncpg.connect(config.database_url)
    ledger = await conn.fetchval("SELECT count(*) FROM ledger")
    orders = await conn.fetchval("SELECT count(*) FROM orders")
    await conn.close()
    await redis.aclose()
    assert ledger == history.events and orders == history.orders, "rows do not match"
    print(f"worker: {len(entries)} entries -> {ledger} ledger rows, {orders} orders, "
          f"in {elapsed:.2f}s (batches {worker.stats.batches}, batch size {batch_size}/stream)")
    print(f"RESULT entries_per_second={len(entries) / elapsed:,.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--batch-size", type=int, default=2000)
    parser.add_argument("--durable", action="store_true", help="PostgreSQL with fsync on")
    args = parser.parse_args()
    with RedisServer() as redis_server, PostgresServer(fast=not args.durable) as pg:
        print(f"PostgreSQL fsync {'on' if args.durable else 'off'}")
        uvloop.run(bench(args.entries, args.batch_size, pg, redis_server.url))


if __name__ == "__main__":
    main()
