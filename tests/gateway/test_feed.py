"""The feed: last prices from engine_input, and each engine event only to its own user."""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis

from gateway.engine_client import EngineClient
from gateway.feed import Feed
from tests.gateway.stack import EngineProcess, push_prices

pytest_plugins = ["tests.gateway.fixtures"]

ASSETS = ["BTC_USDC", "ETH_USDC", "SOL_USDC"]


def _feed(redis: Redis) -> Feed:
    return Feed(redis, price_stream="engine_input", events_stream="engine_events", assets=ASSETS)


async def _next(sub, kind: str, timeout: float = 10.0) -> tuple[str, bytes]:
    async with asyncio.timeout(timeout):
        while True:
            got, entry_id, payload = await sub.queue.get()
            if got == kind:
                return entry_id, payload


async def test_prices_are_cached_primed_and_broadcast(redis_url: str):
    redis = Redis.from_url(redis_url)
    push_prices(redis_url, {"BTC_USDC": (100, 99, 101), "DOGE_USDC": (1, 1, 1)})
    await redis.xadd("engine_input", {"data": "!!not base64", "format": "base64_v1"})
    feed = _feed(redis)
    await feed.start()
    try:
        assert feed.prices["BTC_USDC"].bid == 99  # primed from the stream at start
        assert "DOGE_USDC" not in feed.prices
        sub = feed.subscribe(None)
        push_prices(redis_url, {"ETH_USDC": (300, 299, 301)})
        _, payload = await _next(sub, "prices")
        assert b'"ETH_USDC"' in payload
        assert feed.prices["ETH_USDC"].ask == 301
    finally:
        await feed.stop()
        await redis.aclose()


async def test_events_reach_only_their_user_and_backlog_resumes(
    redis_url: str, engine: EngineProcess
):
    redis = Redis.from_url(redis_url)
    client = EngineClient(
        redis, redis, command_stream="backend-to-engine", response_stream="engine_response",
        timeout_ms=5000,
    )  # fmt: skip
    await client.start()
    feed = _feed(redis)
    await feed.start()
    try:
        alice, bob = feed.subscribe("a@example.com"), feed.subscribe("b@example.com")
        await client.call("CREATE_ACCOUNT", "a@example.com", {}, "a-1")
        first_id, payload = await _next(alice, "event")
        assert b"ACCOUNT_CREATED" in payload and b"a@example.com" in payload
        await client.call("CREATE_ACCOUNT", "b@example.com", {}, "b-1")
        _, payload = await _next(bob, "event")
        assert b"b@example.com" in payload
        assert alice.queue.empty()  # Bob's event never reached Alice
        await client.call("CREATE_ACCOUNT", "c@example.com", {}, "c-1")
        await client.call("CREATE_ACCOUNT", "a@example.com", {}, "a-2")  # no event: exists
        backlog, gap = await feed.backlog("a@example.com", "0-0", 100)
        assert [e for e, _ in backlog] == [first_id] and not gap
        after, gap = await feed.backlog("a@example.com", first_id, 100)
        assert after == [] and not gap
        _, truncated = await feed.backlog("b@example.com", "0-0", 1)
        assert truncated  # more entries than the scan budget: the client must resync
        feed.unsubscribe(alice)
        feed.unsubscribe(bob)
        assert feed.subscribers == 0
    finally:
        await feed.stop()
        await client.stop()
        await redis.aclose()
