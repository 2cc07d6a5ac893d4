"""The engine client against the real engine process: orderId matching, timeouts, late answers."""

from __future__ import annotations

import asyncio

import msgspec
from redis.asyncio import Redis

from engine.wire import decode_command
from gateway.engine_client import EngineClient, EngineTimeout
from tests.gateway.stack import EngineProcess

pytest_plugins = ["tests.gateway.fixtures"]


async def _client(redis_url: str, timeout_ms: int = 3000) -> tuple[Redis, EngineClient]:
    redis = Redis.from_url(redis_url)
    client = EngineClient(
        redis, redis, command_stream="backend-to-engine", response_stream="engine_response",
        timeout_ms=timeout_ms,
    )  # fmt: skip
    await client.start()
    return redis, client


async def test_concurrent_calls_each_get_their_own_answer(redis_url: str, engine: EngineProcess):
    redis, client = await _client(redis_url)
    try:
        emails = [f"u{i}@example.com" for i in range(30)]
        created = await asyncio.gather(
            *(client.call("CREATE_ACCOUNT", e, {}, f"create-{i}") for i, e in enumerate(emails))
        )
        assert [r.order_id for r in created] == [f"create-{i}" for i in range(30)]
        balances = await asyncio.gather(
            *(client.call("GET_USD_BALANCE", e, {}, f"bal-{i}") for i, e in enumerate(emails))
        )
        assert [msgspec.json.decode(b.data)["email"] for b in balances] == emails
        # Two waiters on one orderId both get the (single) answer.
        one, two = await asyncio.gather(
            client.call("GET_BALANCE", emails[0], {}, "same"),
            client.call("GET_BALANCE", emails[0], {}, "same"),
        )
        assert one == two and one.status == "success"
        assert client.pending == 0
        # The command went out in the reference protocol's wire format.
        entries = await redis.xrange("backend-to-engine", count=1)
        command = decode_command(entries[0][1])
        assert command.command == "CREATE_ACCOUNT" and command.timestamp > 0
    finally:
        await client.stop()
        await redis.aclose()


async def test_malformed_response_entries_are_skipped(redis_url: str, engine: EngineProcess):
    redis, client = await _client(redis_url)
    try:
        await redis.xadd("engine_response", {"garbage": "1"})
        await redis.xadd("engine_response", {"orderId": "x", "status": "ok", "data": "{"})
        answer = await client.call("CREATE_ACCOUNT", "a@example.com", {}, "after-garbage")
        assert answer.status == "success" and client.running
    finally:
        await client.stop()
        await redis.aclose()


async def test_timeout_carries_the_order_id_and_the_late_answer_is_kept(
    redis_url: str, engine: EngineProcess
):
    engine.stop()
    redis, client = await _client(redis_url, timeout_ms=200)
    try:
        try:
            await client.call("CREATE_ACCOUNT", "late@example.com", {}, "late-1")
            raise AssertionError("expected a timeout")
        except EngineTimeout as exc:
            assert exc.order_id == "late-1"
        assert client.late_response("late-1") is None and client.timeouts == 1
        engine.start()
        for _ in range(200):
            if client.late_response("late-1") is not None:
                break
            await asyncio.sleep(0.05)
        late = client.late_response("late-1")
        assert late is not None and late.status == "success"
    finally:
        await client.stop()
        await redis.aclose()
