"""How fast the poller turns ticks into engine_input entries, on a private Redis.

Run: ``.venv/bin/python bench/poller_sim.py [--seconds 5]``. Prints three figures:
- parse: bookTicker frames parsed to price items per second (pure CPU, one core);
- sim, 5 ms window: the simulator flat out through the publisher as the service runs it;
  ticks fed per second and the entries / price items that reached the stream;
- sim, no window: the same with a 0 ms window, i.e. an XADD as often as Redis allows.
"""

from __future__ import annotations

import argparse
import asyncio
import time

import uvloop
from redis.asyncio import Redis

from devstack.redis_server import RedisServer
from poller.config import DEFAULT_ASSETS, parse_assets
from poller.metrics import Metrics
from poller.publisher import Publisher
from poller.sim import RandomWalk, sample_frames, simulate
from poller.ticks import by_symbol, parse_frame

ASSETS = parse_assets(DEFAULT_ASSETS)


def bench_parse(seconds: float) -> float:
    frames = list(sample_frames(ASSETS, seed=1, rounds=1000))
    table = by_symbol(ASSETS)
    parsed = 0
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        for raw in frames:
            parse_frame(raw, table)
        parsed += len(frames)
    return parsed / (time.perf_counter() - started)


async def bench_sim(redis_url: str, window_s: float, seconds: float) -> tuple[float, float, float]:
    redis = Redis.from_url(redis_url)
    await redis.delete("engine_input")
    metrics = Metrics([spec.asset for spec in ASSETS])
    publisher = Publisher(redis, "engine_input", "sim", metrics, window_s=window_s)
    writer = asyncio.create_task(publisher.run())
    source = asyncio.create_task(simulate(RandomWalk(ASSETS, 1), publisher.offer, 0))
    started = time.perf_counter()
    await asyncio.sleep(seconds)
    source.cancel()
    elapsed = time.perf_counter() - started
    await asyncio.gather(source, return_exceptions=True)
    publisher.close()
    await writer
    await publisher.flush()
    assert await redis.xlen("engine_input") == metrics.entries
    await redis.aclose()
    ticks = sum(metrics.received.values())
    items = sum(metrics.published.values())
    return ticks / elapsed, metrics.entries / elapsed, items / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    print(f"parse: {bench_parse(args.seconds):>12,.0f} frames/s")
    with RedisServer() as server:
        for label, window_s in (("sim, 5 ms window", 0.005), ("sim, no window", 0.0)):
            ticks, entries, items = uvloop.run(bench_sim(server.url, window_s, args.seconds))
            print(
                f"{label}: {ticks:>12,.0f} ticks/s fed, {entries:>9,.0f} entries/s, "
                f"{items:>10,.0f} price items/s published"
            )


if __name__ == "__main__":
    main()
