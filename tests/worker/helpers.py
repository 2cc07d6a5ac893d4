"""Helpers shared by the worker's tests: Redis-shaped fields, table dumps, stream filling."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from typing import Any

import asyncpg
from redis.asyncio import Redis

from worker.config import Config
from worker.loadgen import History, WireFields
from worker.mapping import Kind

TABLES = {
    "users": "email",
    "orders": "order_id",
    "trades": "trade_id",
    "ledger": "seq",
}


def as_redis(fields: WireFields) -> dict[bytes, bytes]:
    """Fields as Redis hands them back: bytes keys and values."""
    return {k.encode(): v if isinstance(v, bytes) else str(v).encode() for k, v in fields.items()}


def stream_of(config: Config, kind: Kind) -> str:
    return {
        Kind.COMMAND: config.commands_stream,
        Kind.RESPONSE: config.response_stream,
        Kind.EVENT: config.events_stream,
    }[kind]


async def dump(conn: asyncpg.Connection) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the worker's tables, sorted by key, as plain tuples."""
    return {
        table: [tuple(r) for r in await conn.fetch(f"SELECT * FROM {table} ORDER BY {key}")]
        for table, key in TABLES.items()
    }


async def counts(conn: asyncpg.Connection) -> dict[str, int]:
    return {t: await conn.fetchval(f"SELECT count(*) FROM {t}") for t in TABLES}


async def fill_streams(
    redis: Redis, config: Config, history: History, *, chunk: int = 2000
) -> dict[Kind, list[str]]:
    """XADD a history's entries to the config's streams in order; return the ids by kind."""
    ids: dict[Kind, list[str]] = {k: [] for k in Kind}
    entries = history.entries
    for start in range(0, len(entries), chunk):
        part = entries[start : start + chunk]
        async with redis.pipeline(transaction=False) as pipe:
            for kind, fields in part:
                pipe.xadd(stream_of(config, kind), fields)  # type: ignore[arg-type]
            for (kind, _), entry_id in zip(part, await pipe.execute(), strict=True):
                ids[kind].append(entry_id.decode())
    return ids


def worker_config(database_url: str, redis_url: str, **over: Any) -> Config:
    """Settings for tests: short blocks and backoff, so stops and retries are quick."""
    base: dict[str, Any] = dict(
        database_url=database_url,
        redis_url=redis_url,
        consumer="test-worker",
        batch_size=500,
        block_ms=50,
        claim_idle_ms=60_000,
        claim_interval_s=3600,
        retry_initial_s=0.05,
        retry_max_s=0.5,
        stats_interval_s=3600,
    )
    return Config(**(base | over))


async def reference_dump(
    redis: Redis, config: Config, reference_url: str
) -> dict[str, list[tuple[Any, ...]]]:
    """The rows that the streams' entries must give, written directly (no worker) into the
    empty database at ``reference_url``; undecodable entries are skipped as the worker would
    dead-letter them."""
    from engine.wire import WireError
    from worker.mapping import MappingError, Rows
    from worker.migrate import migrate
    from worker.store import write_rows

    rows = Rows()
    for kind in Kind:
        for entry_id, fields in await redis.xrange(stream_of(config, kind)):
            with contextlib.suppress(WireError, MappingError):
                rows.add_entry(kind, entry_id.decode(), fields)
    conn = await asyncpg.connect(reference_url)
    try:
        await migrate(conn)
        await write_rows(conn, rows)
        return await dump(conn)
    finally:
        await conn.close()


async def pending(redis: Redis, config: Config) -> int:
    """Entries delivered to the group but not acknowledged, over the three streams."""
    total = 0
    for kind in Kind:
        info = await redis.xpending(stream_of(config, kind), config.group)
        total += info["pending"]
    return total


async def all_delivered(redis: Redis, config: Config) -> bool:
    """True when the group has been handed every entry of the three streams (no lag)."""
    for kind in Kind:
        stream = stream_of(config, kind)
        last = await redis.xrevrange(stream, count=1)
        if not last:
            continue
        groups = {g["name"]: g for g in await redis.xinfo_groups(stream)}
        group = groups.get(config.group.encode()) or groups.get(config.group)
        if group is None or group["last-delivered-id"] != last[0][0]:
            return False
    return True


def worker_process(database_url: str, redis_url: str, consumer: str) -> subprocess.Popen[bytes]:
    """``python -m worker run`` as its own process (quick blocks, warnings only on stderr)."""
    return subprocess.Popen(
        [sys.executable, "-m", "worker", "run", "--consumer", consumer, "--block-ms", "50",
         "--log-level", "WARNING"],
        env=os.environ | {"DATABASE_URL": database_url, "REDIS_URL": redis_url},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )  # fmt: skip


async def groups_exist(redis: Redis, config: Config) -> bool:
    """True once the worker has created its consumer groups (before any command is sent, so
    nothing it needs is trimmed before it reads)."""
    return bool(await redis.exists(config.commands_stream)) and bool(
        await redis.xinfo_groups(config.commands_stream)
    )
