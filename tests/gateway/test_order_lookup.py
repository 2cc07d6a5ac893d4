"""Looking up an order's answer after a timeout, against the real engine process."""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis

from gateway import order_lookup
from gateway.engine_client import EngineClient, EngineTimeout
from tests.gateway.stack import EngineProcess

pytest_plugins = ["tests.gateway.fixtures"]


async def test_pending_until_the_engine_answers_then_found(redis_url: str, engine: EngineProcess):
    redis = Redis.from_url(redis_url)
    client = EngineClient(
        redis, redis, command_stream="backend-to-engine", response_stream="engine_response",
        timeout_ms=300,
    )  # fmt: skip
    await client.start()
    try:
        done = await client.call("CREATE_ACCOUNT", "a@example.com", {}, "recent-1")
        # Answered in time, no pending note: found among the recent responses.
        found = await order_lookup.find(redis, "engine_response", "recent-1")
        assert found == done
        assert await order_lookup.find(redis, "engine_response", "never-sent") is None
        engine.stop()
        try:
            await client.call("GET_BALANCE", "a@example.com", {}, "slow-1")
            raise AssertionError("expected a timeout")
        except EngineTimeout as exc:
            await order_lookup.remember_pending(redis, exc.order_id, exc.entry_id)
        assert await order_lookup.find(redis, "engine_response", "slow-1") == "pending"
        engine.start()
        for _ in range(200):
            found = await order_lookup.find(redis, "engine_response", "slow-1")
            if found != "pending":
                break
            await asyncio.sleep(0.05)
        assert found is not None and found != "pending"
        assert found.order_id == "slow-1" and found.status == "success"
    finally:
        await client.stop()
        await redis.aclose()
