"""The candle builder against real Redis and PostgreSQL: exactly once, crash-safe, never trimmed
away from under it."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis.asyncio import Redis

from engine.messages import PriceItem
from engine.wire import encode_price_batch
from tests.integration.engine_harness import EngineProcess, wait_for
from worker.candle_service import CandleBuilder, CandleConfig
from worker.candle_store import position, write_batch
from worker.candles import Candle, brute_force, parse_entry_id
from worker.migrate import migrate
from worker.service import Database

ROOT = Path(__file__).resolve().parents[2]
ASSETS = {"BTC_USDC": 4, "ETH_USDC": 4, "SOL_USDC": 4}
STREAM = "engine_input"


async def table(url: str) -> dict[tuple[str, str, int], Candle]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch("SELECT * FROM candles")
    finally:
        await conn.close()
    return {
        (r["asset"], r["period"], r["start_ms"]): Candle(
            r["open"], r["high"], r["low"], r["close"], r["ticks"]
        )
        for r in rows
    }


def walk(n: int, seed: int, t0: int, max_gap_ms: int) -> list[tuple[str, dict[str, str],
                                                                     list[tuple[str, int, int]]]]:
    """``n`` entries of 1-3 prices each, ``(entry id, fields, ticks)``, with explicit IDs."""
    rng = random.Random(seed)
    price = {"BTC_USDC": 600_000_000, "ETH_USDC": 30_000_000, "SOL_USDC": 1_500_000}
    ms, out = t0, []
    for i in range(n):
        ms += rng.randint(0, max_gap_ms)
        items, ticks = [], []
        for asset in rng.sample(sorted(ASSETS), rng.randint(1, 3)):
            price[asset] += rng.randint(-price[asset] // 500, price[asset] // 500)
            items.append(PriceItem(asset, price[asset], 4, price[asset], price[asset] + 7))
        entry_id = f"{ms}-{i}"
        ticks = [(it.asset, ms, it.price) for it in items]
        out.append((entry_id, encode_price_batch(items, "test", 0), ticks))
    return out


def all_ticks(entries: list[Any]) -> list[tuple[str, int, int]]:
    return [t for _, _, ticks in entries for t in ticks]


T0 = 1_700_000_000_000


@pytest.fixture
def migrated(database_url: str) -> str:
    async def go() -> None:
        conn = await asyncpg.connect(database_url)
        try:
            await migrate(conn)
        finally:
            await conn.close()

    asyncio.run(go())
    return database_url


@settings(max_examples=20, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10**6), data=st.data())
def test_redelivered_and_overlapping_batches_change_nothing(migrated: str, seed: int, data):
    """Batches as at-least-once delivery hands them out (a batch again, a batch that overlaps
    the last one) give the candles of each entry folded once."""
    entries = walk(60, seed, T0, 40_000)
    plan: list[list[Any]] = []
    at = 0
    while at < len(entries):
        size = data.draw(st.integers(1, 15))
        back = data.draw(st.integers(0, min(at, 10)))  # redeliver up to 10 already written
        plan.append(entries[at - back : at + size])
        at += size

    async def go() -> dict[tuple[str, str, int], Candle]:
        conn = await asyncpg.connect(migrated)
        try:
            await conn.execute("TRUNCATE candles, candle_progress, candle_last_price")
            for batch in plan:
                await write_batch(conn, STREAM, [(e, f) for e, f, _ in batch], ASSETS, 5_000)
                if data.draw(st.booleans()):  # the same batch again, as after a lost XACK
                    await write_batch(conn, STREAM, [(e, f) for e, f, _ in batch], ASSETS, 5_000)
            assert await position(conn, STREAM) == parse_entry_id(entries[-1][0])
        finally:
            await conn.close()
        return await table(migrated)

    assert asyncio.run(go()) == brute_force(all_ticks(entries))


async def _fill(r: Redis, entries: list[Any]) -> None:
    for start in range(0, len(entries), 1000):
        async with r.pipeline(transaction=False) as pipe:
            for entry_id, fields, _ in entries[start : start + 1000]:
                pipe.xadd(STREAM, fields, id=entry_id)
            await pipe.execute()


async def _build(redis_url: str, database_url: str, until: str, batch: int = 500) -> None:
    """Run a builder in-process until its position reaches ``until``."""
    r = Redis.from_url(redis_url)
    builder = CandleBuilder(
        CandleConfig(database_url, redis_url, batch_size=batch, block_ms=50), r,
        Database(database_url),
    )
    task = asyncio.create_task(builder.run())
    conn = await asyncpg.connect(database_url)
    try:
        for _ in range(6000):
            if task.done():
                task.result()
                raise AssertionError("builder stopped early")
            if (await conn.fetchval("SELECT to_regclass('candle_progress')") is not None
                    and await position(conn, STREAM) >= parse_entry_id(until)):
                break
            await asyncio.sleep(0.01)
        else:
            raise AssertionError("builder did not catch up")
    finally:
        builder.stop()
        await task
        await conn.close()
        await r.aclose()


async def test_builder_folds_the_stream_once_even_when_the_group_rereads_it(
    redis_url: str, database_url: str
):
    entries = walk(3000, 3, T0, 5_000)
    r = Redis.from_url(redis_url)
    try:
        await _fill(r, entries)
        await _build(redis_url, database_url, entries[-1][0])
        first = await table(database_url)
        assert first == brute_force(all_ticks(entries))
        # An operator resets the group to the start: everything is delivered again.
        await r.xgroup_setid(STREAM, "candles", "0")
        more = walk(10, 4, parse_entry_id(entries[-1][0])[0] + 1, 5_000)
        await _fill(r, more)
        await _build(redis_url, database_url, more[-1][0])
        assert await table(database_url) == brute_force(all_ticks(entries + more))
        assert await r.xpending(STREAM, "candles") == {
            "pending": 0, "min": None, "max": None, "consumers": []}
    finally:
        await r.aclose()


def _progress(url: str) -> tuple[int, int]:
    async def go() -> tuple[int, int]:
        try:
            conn = await asyncpg.connect(url)
        except (OSError, asyncpg.PostgresError):
            return (0, 0)
        try:
            return await position(conn, STREAM)
        except asyncpg.UndefinedTableError:
            return (0, 0)
        finally:
            await conn.close()

    return asyncio.run(go())


@pytest.mark.slow
def test_kill_9_mid_batch_then_restart_gives_the_uninterrupted_candles(
    redis_url: str, postgres_server, database_url: str
):
    entries = walk(20_000, 9, T0, 3_000)
    asyncio.run(_with_redis(redis_url, lambda r: _fill(r, entries)))
    env = os.environ | {"DATABASE_URL": database_url, "REDIS_URL": redis_url}
    argv = [sys.executable, "-m", "worker", "candles", "--batch-size", "200",
            "--log-level", "WARNING"]
    ids = [parse_entry_id(e) for e, _, _ in entries]
    rng = random.Random(5)
    for kill in range(3):
        proc = subprocess.Popen(argv, env=env, cwd=ROOT)
        try:
            # Kill once it has moved past a random point: most likely inside a transaction or
            # between a commit and its XACK.
            target = ids[rng.randint(kill * 5000 + 500, kill * 5000 + 4500)]
            wait_for(lambda t=target, p=proc: _progress(database_url) >= t or p.poll() is not None,
                     120, "builder progress")
            assert proc.poll() is None
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert _progress(database_url) < ids[-1]
    proc = subprocess.Popen(argv, env=env, cwd=ROOT)
    try:
        wait_for(lambda: _progress(database_url) >= ids[-1], 180, "builder catching up")
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    crashed = asyncio.run(table(database_url))
    # The uninterrupted run: the same stream into a fresh database, in one go.
    other = postgres_server.create_database("candles_uninterrupted_" + str(os.getpid()))
    try:
        asyncio.run(_with_redis(redis_url, lambda r: r.xgroup_destroy(STREAM, "candles")))
        asyncio.run(_build(redis_url, other, entries[-1][0], batch=2000))
        uninterrupted = asyncio.run(table(other))
    finally:
        postgres_server.drop_database("candles_uninterrupted_" + str(os.getpid()))
    assert crashed == uninterrupted == brute_force(all_ticks(entries))


async def _with_redis(url: str, action: Any) -> Any:
    r = Redis.from_url(url)
    try:
        return await action(r)
    finally:
        await r.aclose()


def test_the_engine_trims_nothing_the_candle_group_still_needs(
    redis_url: str, database_url: str, tmp_path: Path
):
    """The engine trims engine_input after its snapshots; a builder that crashed with a batch
    read but not acknowledged, and then stayed down while prices kept coming, still finds every
    entry it needs: its candles come out complete."""
    client = redis.Redis.from_url(redis_url)
    sent: list[tuple[str, int, int]] = []

    def price(i: int) -> None:
        bid = 1_000_000 + i
        item = PriceItem("BTC_USDC", bid, 4, bid, bid + 3)
        entry_id = client.xadd(STREAM, encode_price_batch([item], "test", 0)).decode()
        sent.append(("BTC_USDC", parse_entry_id(entry_id)[0], bid))

    engine = EngineProcess(redis_url, tmp_path / "snaps", "--snapshot-interval-s", "0.1",
                           "--snapshot-keep", "1")

    async def builder_steps() -> None:
        r = Redis.from_url(redis_url)
        b = CandleBuilder(CandleConfig(database_url, redis_url, batch_size=30), r,
                          Database(database_url))
        try:
            await b.setup()
            await b.process(await b.read(">"))  # 30 entries folded and acknowledged
            crashed_batch = await b.read(">")  # 30 more read, never acknowledged: a crash
            assert len(crashed_batch) == 30
        finally:
            await b.db.close()
            await r.aclose()

    try:
        client.xgroup_create(STREAM, "candles", id="0", mkstream=True)
        for i in range(80):
            price(i)
        asyncio.run(builder_steps())
        oldest_pending = parse_entry_id(
            client.xpending(STREAM, "candles")["min"].decode())
        engine.start()
        for i in range(80, 200):
            price(i)
            if i % 20 == 0:
                engine.wait_event("snapshot_written")
        wait_for(lambda: any(e["stream"] == STREAM and e["removed"] > 0
                             for e in engine.events("trimmed")), 30, "a trim of engine_input")
        assert engine.terminate() == 0
    finally:
        engine.close()
    first = parse_entry_id(client.xrange(STREAM, count=1)[0][0].decode())
    assert (sent[0][1], 0) < first <= oldest_pending  # trimmed, but not what the group needs
    asyncio.run(_build(redis_url, database_url, client.xrevrange(STREAM, count=1)[0][0].decode()))
    client.close()
    assert asyncio.run(table(database_url)) == brute_force(sent)
