"""The worker's loop against real Redis and PostgreSQL: rows, acks, dead letters, claims."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import asyncpg
import pytest
from redis.asyncio import Redis

from engine.messages import Response
from engine.wire import encode_response
from tests.worker.helpers import (
    counts,
    dump,
    fill_streams,
    pending,
    reference_dump,
    worker_config,
)
from worker.consumer import StreamConsumer
from worker.loadgen import synthetic_history
from worker.mapping import Kind
from worker.service import Database, Worker

TIMEOUT_S = 60


@pytest.fixture
async def redis(redis_url):
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
def reference_url(postgres_server):
    import uuid

    name = f"ref_{uuid.uuid4().hex[:16]}"
    url = postgres_server.create_database(name)
    yield url
    postgres_server.drop_database(name)


async def run_until(worker: Worker, done: Callable[[], bool]) -> None:
    """Run the worker until ``done()`` (bounded), then stop it and wait for it."""
    task = asyncio.create_task(worker.run())
    loop = asyncio.get_running_loop()
    deadline = loop.time() + TIMEOUT_S
    try:
        while not done():
            if task.done():
                task.result()
                raise AssertionError("worker stopped by itself")
            if loop.time() > deadline:
                raise AssertionError(f"not done within {TIMEOUT_S}s: {worker.stats}")
            await asyncio.sleep(0.02)
    finally:
        worker.stop()
        await asyncio.wait_for(task, TIMEOUT_S)


async def test_every_entry_becomes_rows_once_and_is_acknowledged(
    redis, database_url, redis_url, reference_url
):
    config = worker_config(database_url, redis_url, batch_size=100)
    history = synthetic_history(6, 8, seed=3)
    await fill_streams(redis, config, history)
    worker = Worker(config, Redis.from_url(redis_url), Database(database_url))
    await run_until(worker, lambda: worker.stats.written == len(history.entries))

    assert worker.stats.dead == 0
    assert await pending(redis, config) == 0
    conn = await asyncpg.connect(database_url)
    try:
        assert await dump(conn) == await reference_dump(redis, config, reference_url)
        assert await counts(conn) == {
            "users": 6,
            "orders": history.orders,
            "trades": history.closed_trades,
            "ledger": history.events,
        }
        sums = dict(await conn.fetch("SELECT email, sum(amount) FROM ledger GROUP BY email"))
        assert sums == history.balances
        latencies = await conn.fetchval(
            "SELECT count(*) FROM orders WHERE latency_ms IS NULL OR latency_ms < 0"
        )
        assert latencies == 0
    finally:
        await conn.close()


async def test_undecodable_entries_go_to_the_dead_letter_stream_and_the_rest_is_written(
    redis, database_url, redis_url
):
    config = worker_config(database_url, redis_url)
    good = synthetic_history(2, 2, seed=4)
    await fill_streams(redis, config, good)
    bad = [
        (config.events_stream, {"eventType": "TRADE_OPENED", "seq": "not-a-number"}),
        (config.events_stream, {"eventType": "DEPOSIT", "email": "a@x", "seq": "99999"}),
        (config.events_stream, {"email": "a@x", "seq": "99998"}),
        (config.response_stream, {"orderId": "ox", "status": "success", "data": "{nope"}),
        (config.response_stream, {"orderId": "oy", "status": "success", "seq": "0"}),
        (config.response_stream, {"orderId": b"\xff\xfe", "status": "success", "seq": "5"}),
        (config.commands_stream, {"command": "CREATE_TRADE"}),
        (config.commands_stream, {"orderId": "oz", "command": "X", "tradeData": "[1]"}),
        (config.events_stream, {"eventType": "ACCOUNT_CREATED", "email": "n\x00ul", "seq": "7"}),
    ]
    ids = [(stream, (await redis.xadd(stream, fields)).decode()) for stream, fields in bad]
    total = len(good.entries) + len(bad)
    worker = Worker(config, Redis.from_url(redis_url), Database(database_url))
    await run_until(worker, lambda: worker.stats.written + worker.stats.dead == total)

    assert worker.stats.dead == len(bad)
    assert await pending(redis, config) == 0
    letters = await redis.xrange(config.dead_letter_stream)
    assert len(letters) == len(bad)
    got = {(f[b"stream"].decode(), f[b"id"].decode()): f for _, f in letters}
    assert set(got) == set(ids)
    for (_stream, fields), key in zip(bad, ids, strict=True):
        letter = got[key]
        assert letter[b"reason"].startswith((b"undecodable: ", b"unstorable: "))
        for name, value in fields.items():
            raw = value if isinstance(value, bytes) else value.encode()
            assert letter[name.encode()] == raw
    conn = await asyncpg.connect(database_url)
    try:
        assert (await counts(conn))["ledger"] == good.events
    finally:
        await conn.close()


async def test_an_entry_postgres_refuses_is_dead_lettered_alone(redis, database_url, redis_url):
    config = worker_config(database_url, redis_url)
    # Two orders with the same engine seq: the second breaks the unique key in PostgreSQL.
    for order_id in ("o1", "o2", "o3"):
        seq = 8 if order_id != "o3" else 9
        await redis.xadd(
            config.response_stream, encode_response(Response(order_id, "success", None, "", 1, seq))
        )
    worker = Worker(config, Redis.from_url(redis_url), Database(database_url))
    await run_until(worker, lambda: worker.stats.written + worker.stats.dead == 3)

    assert (worker.stats.written, worker.stats.dead) == (2, 1)
    [(_, letter)] = await redis.xrange(config.dead_letter_stream)
    assert letter[b"reason"].startswith(b"refused by PostgreSQL: UniqueViolationError")
    assert letter[b"orderId"] in (b"o1", b"o2")
    conn = await asyncpg.connect(database_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM orders") == 2
    finally:
        await conn.close()


async def test_entries_of_a_dead_consumer_are_claimed_on_start(redis, database_url, redis_url):
    config = worker_config(database_url, redis_url, claim_idle_ms=0)
    history = synthetic_history(3, 3, seed=5)
    await fill_streams(redis, config, history)
    # Another consumer takes every entry and dies without acknowledging any.
    dead_client = Redis.from_url(redis_url)
    dead_one = StreamConsumer(
        dead_client,
        [config.commands_stream, config.response_stream, config.events_stream],
        config.group,
        "dead-one",
        config.dead_letter_stream,
    )
    await dead_one.ensure_groups()
    taken = await dead_one.read(10_000, 0)
    await dead_client.aclose()
    assert len(taken) == len(history.entries)
    # One of them is deleted from its stream meanwhile (trimmed, XDEL'd).
    victim = next(e for e in taken if e.stream == config.events_stream)
    await redis.xdel(config.events_stream, victim.id)

    worker = Worker(config, Redis.from_url(redis_url), Database(database_url))
    await run_until(
        worker, lambda: worker.stats.written + worker.stats.dead == len(history.entries)
    )
    assert worker.stats.dead == 1
    assert await pending(redis, config) == 0
    [(_, letter)] = await redis.xrange(config.dead_letter_stream)
    assert letter[b"id"].decode() == victim.id and b"deleted" in letter[b"reason"]
    conn = await asyncpg.connect(database_url)
    try:
        assert (await counts(conn))["ledger"] == history.events - 1
    finally:
        await conn.close()


async def test_a_deleted_stream_gets_its_group_back(redis, database_url, redis_url):
    config = worker_config(database_url, redis_url)
    worker = Worker(config, Redis.from_url(redis_url), Database(database_url))
    task = asyncio.create_task(worker.run())
    try:
        for _ in range(200):
            if await redis.exists(config.events_stream):
                break
            await asyncio.sleep(0.02)
        await redis.delete(config.events_stream)
        await fill_streams(redis, config, synthetic_history(1, 1, seed=6))
        history_len = len(synthetic_history(1, 1, seed=6).entries)
        for _ in range(int(TIMEOUT_S / 0.02)):
            if worker.stats.written == history_len:
                break
            await asyncio.sleep(0.02)
        assert worker.stats.written == history_len
    finally:
        worker.stop()
        await asyncio.wait_for(task, TIMEOUT_S)


async def test_claim_and_read_of_a_deleted_stream_recreate_its_group(redis, redis_url):
    client = Redis.from_url(redis_url)
    consumer = StreamConsumer(client, ["s1", "s2"], "g", "c", "dead")
    await consumer.ensure_groups()
    await redis.delete("s1")
    claimed = await consumer.claim("s1", 0, "0-0", 10)
    assert (claimed.next_id, claimed.entries) == ("0-0", [])
    assert [g["name"] for g in await redis.xinfo_groups("s1")] == [b"g"]
    await redis.delete("s2")
    assert await consumer.read(10, 0) == []
    assert [g["name"] for g in await redis.xinfo_groups("s2")] == [b"g"]
    await client.aclose()


async def test_outputs_published_twice_give_the_same_rows_once(
    redis, database_url, redis_url, reference_url
):
    config = worker_config(database_url, redis_url, batch_size=64)
    history = synthetic_history(4, 6, seed=8)
    await fill_streams(redis, config, history)
    # Record what the first copies give, then publish every response and event again (as an
    # engine that re-sent its outputs would): new entry IDs, same seq.
    expected = await reference_dump(redis, config, reference_url)
    outputs = [(k, f) for k, f in history.entries if k is not Kind.COMMAND]
    await fill_streams(redis, config, type(history)(entries=outputs))
    total = len(history.entries) + len(outputs)
    worker = Worker(config, Redis.from_url(redis_url), Database(database_url))
    await run_until(worker, lambda: worker.stats.written == total)

    assert worker.stats.dead == 0
    conn = await asyncpg.connect(database_url)
    try:
        assert await dump(conn) == expected
    finally:
        await conn.close()
