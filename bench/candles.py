"""Benchmark: price ticks per second into candles, and GET /api/v1/candles requests per second.

1. Fills a private Redis's engine_input with N entries of 3 prices each (a random walk, one
   entry every 100 ms of stream time: about N/600 one-minute candles per asset), runs the candle
   builder in-process against a private PostgreSQL until its position reaches the last entry, and
   prints entries/s and ticks/s (each tick folded into all six intervals). Also the pure fold
   (worker.candles.Aggregator) alone.
2. Starts the gateway (python -m gateway) with that database and asks
   GET /api/v1/candles?asset=BTC_USDC&interval=1m&limit=500 from C keep-alive connections for
   S seconds; prints requests/s and p50/p99 latency.

    python bench/candles.py [--entries 100000] [--seconds 10] [--connections 16]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import asyncpg
import httpx
import uvloop
from redis.asyncio import Redis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from devstack.ports import free_port  # noqa: E402
from devstack.postgres_server import PostgresServer  # noqa: E402
from devstack.process import ChildProcess  # noqa: E402
from devstack.redis_server import RedisServer  # noqa: E402
from engine.messages import PriceItem  # noqa: E402
from engine.wire import encode_price_batch  # noqa: E402
from worker.candle_service import CandleBuilder, CandleConfig  # noqa: E402
from worker.candle_store import position  # noqa: E402
from worker.candles import Aggregator, parse_entry_id  # noqa: E402
from worker.service import Database  # noqa: E402

ASSETS = {"BTC_USDC": 600_000_000, "ETH_USDC": 30_000_000, "SOL_USDC": 1_500_000}


def entries(n: int) -> list[tuple[str, dict[str, str]]]:
    rng = random.Random(1)
    price = dict(ASSETS)
    start = int(time.time() * 1000) - n * 400
    out = []
    for i in range(n):
        items = []
        for asset in ASSETS:
            price[asset] += rng.randint(-price[asset] // 5000, price[asset] // 5000)
            items.append(PriceItem(asset, price[asset], 4, price[asset], price[asset] + 5))
        out.append((f"{start + i * 400}-0", encode_price_batch(items, "bench", 0)))
    return out


async def fold_stream(n: int, redis_url: str, database_url: str) -> None:
    data = entries(n)
    t0 = time.perf_counter()
    agg = Aggregator({a: 4 for a in ASSETS}, 5000)
    for entry_id, fields in data:
        agg.add_entry(entry_id, fields)
    pure = time.perf_counter() - t0
    print(f"pure fold: {n * 3 / pure:,.0f} ticks/s ({n / pure:,.0f} entries/s)")
    redis = Redis.from_url(redis_url)
    for start in range(0, n, 5000):
        async with redis.pipeline(transaction=False) as pipe:
            for entry_id, fields in data[start:start + 5000]:
                pipe.xadd("engine_input", fields, id=entry_id)  # type: ignore[arg-type]
            await pipe.execute()
    builder = CandleBuilder(CandleConfig(database_url, redis_url, block_ms=100), redis,
                            Database(database_url))
    last = parse_entry_id(data[-1][0])
    conn = await asyncpg.connect(database_url)
    t0 = time.perf_counter()
    task = asyncio.create_task(builder.run())
    while True:
        await asyncio.sleep(0.05)
        if await conn.fetchval("SELECT to_regclass('candle_progress')") is not None and (
            await position(conn, "engine_input") >= last
        ):
            break
    took = time.perf_counter() - t0
    builder.stop()
    await task
    rows = await conn.fetchval("SELECT count(*) FROM candles")
    await conn.close()
    await redis.aclose()
    print(f"builder (Redis -> PostgreSQL, batches of 2000 entries): {n / took:,.0f} entries/s, "
          f"{n * 3 / took:,.0f} ticks/s; {rows} candle rows")


async def hammer(url: str, seconds: float, connections: int) -> None:
    path = "/api/v1/candles?asset=BTC_USDC&interval=1m&limit=500"
    latencies: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=10) as client:
        first = (await client.get(path)).json()
        assert len(first) == 500, len(first)
        deadline = time.perf_counter() + seconds

        async def worker() -> None:
            nonlocal errors
            while time.perf_counter() < deadline:
                t = time.perf_counter()
                r = await client.get(path)
                latencies.append(time.perf_counter() - t)
                if r.status_code != 200:
                    errors += 1

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(connections)))
        took = time.perf_counter() - t0
    latencies.sort()
    print(f"GET /api/v1/candles (500 candles, {connections} connections, {seconds:.0f} s): "
          f"{len(latencies) / took:,.0f} requests/s, p50 {statistics.median(latencies) * 1000:.1f}"
          f" ms, p99 {latencies[int(len(latencies) * 0.99)] * 1000:.1f} ms, errors {errors}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    with RedisServer() as redis_server, PostgresServer() as pg:
        database_url = pg.create_database("bench")
        uvloop.run(fold_stream(args.entries, redis_server.url, database_url))
        port = free_port()
        env = {**os.environ, "GATEWAY_ENV": "dev", "GATEWAY_PORT": str(port),
               "REDIS_URL": redis_server.url, "DATABASE_URL": database_url,
               "RATE_IP_PER_MIN": "0", "LOG_LEVEL": "warning"}
        with tempfile.TemporaryFile() as log:
            gateway = ChildProcess([sys.executable, "-m", "gateway"], log=log, env=env, cwd=ROOT)
            try:
                url = f"http://127.0.0.1:{port}"
                for _ in range(300):
                    try:
                        if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                            break
                    except httpx.HTTPError:
                        time.sleep(0.1)
                uvloop.run(hammer(url, args.seconds, args.connections))
            finally:
                gateway.stop(timeout=15)


if __name__ == "__main__":
    main()
