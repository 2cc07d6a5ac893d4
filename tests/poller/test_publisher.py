"""Batching ticks into engine_input entries on a real Redis, and riding out a Redis outage."""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis

from devstack.redis_server import RedisServer
from engine.messages import PriceItem
from engine.wire import PRICE_FORMAT, decode_price_batch
from poller.metrics import Metrics
from poller.publisher import Publisher
from tests.poller.waiting import eventually

ASSETS = ["BTC_USDC", "ETH_USDC", "SOL_USDC"]


def btc(bid: int) -> PriceItem:
    return PriceItem("BTC_USDC", bid, 4, bid, bid + 10)


def eth(bid: int) -> PriceItem:
    return PriceItem("ETH_USDC", bid, 4, bid, bid + 3)


async def entries(redis: Redis) -> list[list[PriceItem]]:
    return [decode_price_batch(f).items for _id, f in await redis.xrange("engine_input")]


async def test_flush_writes_one_seed_format_entry_with_bid_and_ask(redis_url):
    redis = Redis.from_url(redis_url)
    metrics = Metrics(ASSETS)
    publisher = Publisher(redis, "engine_input", "sim", metrics)
    publisher.offer(btc(600_000_000))
    publisher.offer(eth(30_000_000))
    assert await publisher.flush()
    [(_entry_id, fields)] = await redis.xrange("engine_input")
    assert fields[b"format"] == PRICE_FORMAT.encode()
    batch = decode_price_batch(fields)
    assert batch.source == "sim"
    assert batch.timestamp > 1_600_000_000_000  # wall-clock milliseconds
    assert batch.items == [btc(600_000_000), eth(30_000_000)]
    assert metrics.entries == 1
    assert metrics.published == {"BTC_USDC": 1, "ETH_USDC": 1, "SOL_USDC": 0}
    assert await publisher.flush()  # nothing pending: nothing written
    assert await redis.xlen("engine_input") == 1
    await redis.aclose()


async def test_latest_tick_per_asset_wins_within_a_window(redis_url):
    redis = Redis.from_url(redis_url)
    metrics = Metrics(ASSETS)
    publisher = Publisher(redis, "engine_input", "sim", metrics, window_s=0.01)
    task = asyncio.create_task(publisher.run())
    for bid in (100, 101, 102):  # no await between: all in one window
        publisher.offer(btc(bid))
    publisher.offer(eth(50))
    await eventually(lambda: metrics.entries == 1)
    publisher.offer(btc(103))
    await eventually(lambda: metrics.entries == 2)
    publisher.close()
    await task
    assert await entries(redis) == [[btc(102), eth(50)], [btc(103)]]
    assert metrics.received == {"BTC_USDC": 4, "ETH_USDC": 1, "SOL_USDC": 0}
    assert metrics.published == {"BTC_USDC": 2, "ETH_USDC": 1, "SOL_USDC": 0}
    await redis.aclose()


async def test_prices_survive_a_redis_outage_and_newer_ones_win():
    with RedisServer() as server:  # our own: this test stops it
        redis = Redis.from_url(server.url, socket_timeout=5, socket_connect_timeout=5)
        metrics = Metrics(ASSETS)
        publisher = Publisher(redis, "engine_input", "sim", metrics)
        server.stop()
        publisher.offer(btc(100))
        publisher.offer(eth(200))
        assert not await publisher.flush()
        assert metrics.publish_errors == 1
        assert publisher.pending == 2
        publisher.offer(btc(101))  # arrives while the write is failing
        server.start()
        assert await publisher.flush()
        assert await entries(redis) == [[btc(101), eth(200)]]
        assert metrics.entries == 1
        await redis.aclose()


async def test_run_retries_until_redis_is_back():
    with RedisServer() as server:  # our own: this test stops it
        redis = Redis.from_url(server.url, socket_timeout=5, socket_connect_timeout=5)
        metrics = Metrics(ASSETS)
        publisher = Publisher(
            redis, "engine_input", "sim", metrics, retry_min_s=0.01, retry_max_s=0.05
        )
        server.stop()
        task = asyncio.create_task(publisher.run())
        publisher.offer(btc(100))
        await eventually(lambda: metrics.publish_errors >= 2)
        server.start()
        await eventually(lambda: metrics.entries == 1)
        publisher.close()
        await task
        assert await entries(redis) == [[btc(100)]]
        await redis.aclose()


async def test_stream_is_never_trimmed(redis_url):
    redis = Redis.from_url(redis_url)
    publisher = Publisher(redis, "engine_input", "sim", Metrics(ASSETS))
    for bid in range(1, 51):
        publisher.offer(btc(bid))
        assert await publisher.flush()
    assert await redis.xlen("engine_input") == 50
    await redis.aclose()


async def test_close_stops_run_even_while_redis_is_down():
    with RedisServer() as server:
        redis = Redis.from_url(server.url, socket_timeout=5, socket_connect_timeout=5)
        metrics = Metrics(ASSETS)
        publisher = Publisher(redis, "engine_input", "sim", metrics, retry_max_s=3600)
        server.stop()
        task = asyncio.create_task(publisher.run())
        publisher.offer(btc(100))
        await eventually(lambda: metrics.publish_errors >= 1)
        publisher.close()  # the hour-long retry wait must not hold it
        await asyncio.wait_for(task, timeout=30)
        assert publisher.pending == 1
        await redis.aclose()
