"""The candle builder's loop: read ``engine_input`` through its own consumer group, fold, ack.

The builder is a consumer group (``candles``) of its own on the price stream, so the engine never
waits for it and is never changed by it: the engine reads the stream with plain XREAD, and trims
it only below what every group still needs (entries this group has not acknowledged stay).

Delivery is at least once: an entry is acknowledged after the transaction that folded it
committed. Exactly once comes from the position committed with the candles (see
``worker.candle_store``): a redelivered entry is skipped. The consumer has a fixed name, so after
a crash the restarted builder reads its own pending entries first (``XREADGROUP ... 0``), then
new ones. One builder per database: a PostgreSQL advisory lock, held for the process's life,
makes a second one wait (two would fold entries out of order).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

import asyncpg
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from engine.config import EngineConfig
from worker.candle_store import BUILDER_LOCK, write_batch
from worker.consumer import Entry, parse_read_reply
from worker.migrate import migrate
from worker.service import Database

log = logging.getLogger("worker.candles")
T = TypeVar("T")


def _engine_assets() -> dict[str, int]:
    return dict(EngineConfig().assets)


@dataclass(frozen=True, slots=True)
class CandleConfig:
    """Everything ``python -m worker candles`` needs."""

    database_url: str
    redis_url: str
    stream: str = "engine_input"
    group: str = "candles"
    consumer: str = "candles"  # fixed: a restart reads its own pending entries back
    batch_size: int = 2000
    block_ms: int = 1000
    retry_initial_s: float = 0.1
    retry_max_s: float = 5.0
    stats_interval_s: float = 60.0
    assets: dict[str, int] = field(default_factory=_engine_assets)
    band_bps: int = EngineConfig().price_band_bps

    def __post_init__(self) -> None:
        if not (self.stream and self.group and self.consumer):
            raise ValueError("stream, group and consumer names must not be empty")
        if not 1 <= self.batch_size <= 100_000:
            raise ValueError("batch size must be 1 to 100000")
        if not 0 < self.retry_initial_s <= self.retry_max_s:
            raise ValueError("retry delays must satisfy 0 < initial <= max")


@dataclass(slots=True)
class CandleStats:
    entries: int = 0  # entries acknowledged
    ticks: int = 0  # prices folded into candles
    refused: int = 0  # prices the engine would refuse too
    malformed: int = 0  # entries that do not decode


class Stopped(Exception):
    """Asked to stop while waiting."""


class CandleBuilder:
    """Folds ``engine_input`` into the ``candles`` table."""

    def __init__(self, config: CandleConfig, redis: Redis, db: Database) -> None:
        self.config = config
        self.redis = redis
        self.db = db
        self.stats = CandleStats()
        self.stop_event = asyncio.Event()
        self._locked_conn: asyncpg.Connection | None = None
        redis.set_response_callback("XREADGROUP", cast(Any, lambda reply, **_: reply))

    def stop(self) -> None:
        self.stop_event.set()

    async def _retrying(
        self, what: str, action: Callable[[], Awaitable[T]], *, uses_db: bool = False
    ) -> T:
        delay = self.config.retry_initial_s
        while True:
            if self.stop_event.is_set():
                raise Stopped
            try:
                return await action()
            except Exception as exc:
                if uses_db:
                    self.db.drop()
                log.warning("%s failed (%s: %s); retrying in %.1fs",
                            what, type(exc).__name__, exc, delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop_event.wait(), delay)
            delay = min(delay * 2, self.config.retry_max_s)

    async def _ensure_group(self) -> None:
        try:
            await self.redis.xgroup_create(self.config.stream, self.config.group, id="0",
                                           mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def _locked(self) -> asyncpg.Connection:
        """The builder's connection, holding the one-builder lock (taken again after a
        reconnect; refused while another builder holds it)."""
        conn = await self.db.get()
        if conn is not self._locked_conn:
            if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", BUILDER_LOCK):
                self.db.drop()
                raise RuntimeError("another candle builder holds the lock")
            self._locked_conn = conn
        return conn

    async def setup(self) -> None:
        await self._retrying("migrating", lambda: self._migrate(), uses_db=True)
        await self._retrying("creating the consumer group", self._ensure_group)

    async def _migrate(self) -> None:
        applied = await migrate(await self.db.get())
        if applied:
            log.info("applied migrations %s", applied)

    async def read(self, start: str) -> list[Entry]:
        """This consumer's pending entries (``start`` "0") or new ones (">")."""
        c = self.config
        args: list[Any] = ["XREADGROUP", "GROUP", c.group, c.consumer, "COUNT", c.batch_size]
        if start == ">" and c.block_ms > 0:
            args += ["BLOCK", c.block_ms]
        args += ["STREAMS", c.stream, start]
        try:
            raw = await self.redis.execute_command(*args)  # type: ignore[no-untyped-call]
        except ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            await self._ensure_group()
            return []
        return parse_read_reply(raw)

    async def process(self, entries: list[Entry]) -> None:
        """Fold one batch in a transaction (retried until it commits), then acknowledge it."""
        if not entries:
            return
        live = [(e.id, e.fields) for e in entries if e.fields is not None]

        async def commit() -> None:
            conn = await self._locked()
            agg = await write_batch(conn, self.config.stream, live, self.config.assets,
                                    self.config.band_bps)
            self.stats.ticks += agg.accepted
            self.stats.refused += agg.refused
            self.stats.malformed += agg.malformed

        await self._retrying("writing candles", commit, uses_db=True)
        ids = [e.id for e in entries]
        await self._retrying(
            "acknowledging",
            lambda: self.redis.xack(self.config.stream, self.config.group, *ids),
        )
        self.stats.entries += len(entries)

    async def run(self) -> CandleStats:
        """Set up, fold this consumer's pending entries, then new ones until ``stop()``."""
        loop = asyncio.get_running_loop()
        try:
            await self.setup()
            await self._retrying("taking the builder lock", self._locked, uses_db=True)
            start = "0"  # first what a crashed run of ours left unacknowledged
            next_stats = loop.time() + self.config.stats_interval_s
            while not self.stop_event.is_set():
                entries = await self._retrying("reading", lambda s=start: self.read(s))  # type: ignore[misc]
                if start == "0" and not entries:
                    start = ">"
                    continue
                await self.process(entries)
                if loop.time() >= next_stats:
                    log.info("candles: %d entries, %d ticks, %d refused, %d malformed",
                             self.stats.entries, self.stats.ticks, self.stats.refused,
                             self.stats.malformed)
                    next_stats = loop.time() + self.config.stats_interval_s
        except Stopped:
            pass
        finally:
            await self.db.close()
        return self.stats
