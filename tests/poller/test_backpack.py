"""The Backpack feed against a local server speaking its protocol, publishing into real Redis."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from redis.asyncio import Redis

from devstack.ports import free_port
from engine.messages import PriceItem
from engine.wire import decode_price_batch
from poller.backpack import BackpackFeed, backoff_delay, subscribe_message
from poller.metrics import Metrics
from poller.publisher import Publisher
from poller.ticks import (
    REJECT_FEED_ERROR,
    REJECT_JSON,
    REJECT_PRICE,
    REJECT_SCHEMA,
    REJECT_SYMBOL,
    AssetSpec,
    format_frame,
)
from tests.poller.backpack_server import BackpackServer
from tests.poller.waiting import eventually

BTC = AssetSpec("BTC", "BTC_USDC", 2)
ETH = AssetSpec("ETH_USDC", "ETH_USDC", 4)
SOL = AssetSpec("SOL_USDC", "SOL_USDC", 4)
ASSETS = (BTC, ETH, SOL)
STREAMS = {"bookTicker.BTC_USDC", "bookTicker.ETH_USDC", "bookTicker.SOL_USDC"}


@dataclass
class Running:
    metrics: Metrics
    redis: Redis
    received: list[PriceItem]

    async def published(self) -> list[PriceItem]:
        entries = await self.redis.xrange("engine_input")
        return [item for _id, fields in entries for item in decode_price_batch(fields).items]


@contextlib.asynccontextmanager
async def running_feed(
    url: str, redis_url: str, *, silence_s: float = 30.0
) -> AsyncIterator[Running]:
    """The feed and the publisher, as the service wires them, with quick reconnects."""
    metrics = Metrics([spec.asset for spec in ASSETS])
    redis = Redis.from_url(redis_url)
    publisher = Publisher(redis, "engine_input", "backpack", metrics, window_s=0.002)
    received: list[PriceItem] = []

    def sink(item: PriceItem) -> None:
        received.append(item)
        publisher.offer(item)

    feed = BackpackFeed(
        url,
        ASSETS,
        sink,
        metrics,
        silence_s=silence_s,
        backoff_min_s=0.01,
        backoff_max_s=0.05,
        rng=random.Random(1),
    )
    reader = asyncio.create_task(feed.run())
    writer = asyncio.create_task(publisher.run())
    try:
        yield Running(metrics, redis, received)
    finally:
        reader.cancel()
        publisher.close()
        await asyncio.gather(reader, writer, return_exceptions=True)
        await redis.aclose()


def sol(bid: int, ask: int, update_id: int = 1) -> bytes:
    return format_frame(SOL, bid, ask, event_us=1_700_000_000_000_000, update_id=update_id)


async def test_subscribes_to_book_ticker_of_every_symbol(redis_url):
    async with BackpackServer() as server, running_feed(server.url, redis_url) as feed:
        await eventually(server.subscribed)
        assert server.requests == [{"method": "SUBSCRIBE", "params": sorted(STREAMS)}]
        assert server.subscriptions == [STREAMS]
        await eventually(lambda: feed.metrics.connected)


async def test_ticks_are_parsed_and_published_to_engine_input(redis_url):
    async with BackpackServer() as server, running_feed(server.url, redis_url) as feed:
        await eventually(server.subscribed)
        assert await server.publish(
            format_frame(BTC, 6_000_025, 6_000_050, event_us=1, update_id=1)
        )
        await server.publish(sol(186_700, 187_000))
        await eventually(lambda: feed.metrics.published["SOL_USDC"] == 1)
        published = await feed.published()
        assert sorted(published, key=lambda i: i.asset) == [
            PriceItem("BTC", 6_000_025, 2, 6_000_025, 6_000_050),
            PriceItem("SOL_USDC", 186_700, 4, 186_700, 187_000),
        ]
        assert feed.metrics.received == {"BTC": 1, "ETH_USDC": 0, "SOL_USDC": 1}


async def test_burst_within_a_window_publishes_latest_price_per_asset(redis_url):
    async with BackpackServer() as server, running_feed(server.url, redis_url) as feed:
        await eventually(server.subscribed)
        for i in range(200):
            await server.publish(sol(186_700 + i, 187_000 + i, update_id=i))
        last = PriceItem("SOL_USDC", 186_899, 4, 186_899, 187_199)
        await eventually(lambda: feed.received[-1:] == [last])

        async def last_published() -> bool:
            published = await feed.published()
            return bool(published) and published[-1] == last

        await eventually(last_published)
        published = await feed.published()
        # Batches coalesce, never reorder: the last tick is the last published price.
        assert published[-1] == last
        assert feed.metrics.received["SOL_USDC"] == 200
        assert len(published) == feed.metrics.published["SOL_USDC"] <= 200
        assert [p.bid for p in published] == sorted(p.bid for p in published)


async def test_reconnects_and_resubscribes_after_the_server_drops_the_connection(redis_url):
    async with BackpackServer() as server, running_feed(server.url, redis_url) as feed:
        await eventually(server.subscribed)
        await server.publish(sol(100_000, 100_100))
        await eventually(lambda: feed.metrics.published["SOL_USDC"] == 1)
        server.drop()
        await eventually(lambda: server.subscribed(2))
        assert server.subscriptions[1] == STREAMS
        assert feed.metrics.reconnects == 1
        await server.publish(sol(100_200, 100_300))
        await eventually(lambda: feed.metrics.published["SOL_USDC"] == 2)
        assert [p.bid for p in await feed.published()] == [100_000, 100_200]


async def test_reconnects_after_a_clean_close_from_the_server(redis_url):
    async with BackpackServer() as server, running_feed(server.url, redis_url) as feed:
        await eventually(server.subscribed)
        await server.connections[0].close(1001, "going away")
        await eventually(lambda: server.subscribed(2))
        assert feed.metrics.reconnects == 1


async def test_malformed_frames_are_counted_and_skipped_without_reconnecting(redis_url):
    async with BackpackServer() as server, running_feed(server.url, redis_url) as feed:
        await eventually(server.subscribed)
        bad = [
            "not json",
            b"\x00\x01binary garbage",
            '{"stream":"bookTicker.SOL_USDC","data":{"e":"bookTicker"}}',
            sol(1, 2).decode().replace('"a":"0.0002"', '"a":0.0002'),
            sol(1, 2).decode().replace("SOL_USDC", "DOGE_USDC"),
            sol(1, 2).decode().replace('"a":"0.0002"', '"a":"0.00025"'),
            sol(5, 2).decode(),
            '{"id":7,"error":{"code":4005,"message":"Invalid stream"}}',
            '{"id":7,"result":null}',
        ]
        for raw in bad:
            await server.send_raw(raw)
        await server.publish(sol(186_700, 187_000))
        await eventually(lambda: feed.metrics.published["SOL_USDC"] == 1)
        assert feed.metrics.rejected == {
            REJECT_JSON: 2,
            REJECT_SCHEMA: 2,
            REJECT_SYMBOL: 1,
            REJECT_PRICE: 2,
            REJECT_FEED_ERROR: 1,
        }
        assert [p.bid for p in await feed.published()] == [186_700]
        assert len(server.connections) == 1
        assert feed.metrics.reconnects == 0


async def test_server_pings_are_answered(redis_url):
    async with BackpackServer() as server, running_feed(server.url, redis_url):
        await eventually(server.subscribed)
        pong = await server.connections[0].ping()
        latency = await asyncio.wait_for(pong, timeout=10)
        assert latency >= 0


async def test_a_silent_feed_is_reconnected(redis_url):
    async with (
        BackpackServer() as server,
        running_feed(server.url, redis_url, silence_s=0.2) as feed,
    ):
        await eventually(lambda: server.subscribed(2))
        assert feed.metrics.reconnects >= 1
        assert feed.metrics.silent(0.1) == ["BTC", "ETH_USDC", "SOL_USDC"]


async def test_keeps_retrying_while_the_server_is_unreachable(redis_url):
    port = free_port()
    async with running_feed(f"ws://127.0.0.1:{port}", redis_url) as feed:
        await eventually(lambda: feed.metrics.reconnects >= 3)
        assert not feed.metrics.connected
        async with BackpackServer(port) as server:
            await eventually(server.subscribed)
            await server.publish(sol(186_700, 187_000))
            await eventually(lambda: feed.metrics.published["SOL_USDC"] == 1)


def test_subscribe_message_lists_book_ticker_streams():
    assert subscribe_message(["SOL_USDC", "BTC_USDC"]) == (
        '{"method":"SUBSCRIBE","params":["bookTicker.SOL_USDC","bookTicker.BTC_USDC"]}'
    )


@pytest.mark.parametrize("seed", range(5))
def test_backoff_grows_to_its_cap_with_jitter(seed: int):
    rng = random.Random(seed)
    delays = [backoff_delay(attempt, 0.5, 30.0, rng) for attempt in range(12)]
    for attempt, delay in enumerate(delays):
        ceiling = min(30.0, 0.5 * 2**attempt)
        assert ceiling / 2 <= delay <= ceiling
    assert backoff_delay(10_000, 0.5, 30.0, rng) <= 30.0


def test_backoff_jitter_differs_between_clients():
    delays = {backoff_delay(3, 0.5, 30.0, random.Random(seed)) for seed in range(10)}
    assert len(delays) == 10
