"""The worker's loop: read entries, write their rows, then acknowledge them. At least once.

The guarantee: an entry is acknowledged only after the transaction holding its rows committed,
and the rows have unique keys from the entry itself with ON CONFLICT rules, so redelivery (a crash
between commit and XACK, a claim of a dead consumer's entries, an outage) rewrites the same rows:
at-least-once delivery, exactly-once rows. An entry that cannot become rows goes to the
dead-letter stream with the reason, in the same MULTI as its XACK, and the loop moves on.
Any other failure (PostgreSQL or Redis away) is retried with exponential backoff; nothing is
acknowledged meanwhile, so the backlog waits in the streams and is caught up afterwards.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Final, TypeVar

import asyncpg
from redis.asyncio import Redis

from engine.wire import WireError
from worker.config import Config
from worker.consumer import Entry, StreamConsumer
from worker.mapping import Kind, MappingError, Rows, reject_reason
from worker.migrate import migrate
from worker.store import is_entry_error, write_rows

log = logging.getLogger("worker")
T = TypeVar("T")


class Stopped(Exception):
    """The worker was asked to stop while waiting to retry."""


@dataclass(slots=True)
class Stats:
    """Counters since start, logged periodically and read by tests and the benchmark."""

    written: int = 0  # entries whose rows committed and that were acknowledged
    dead: int = 0  # entries sent to the dead-letter stream
    retries: int = 0  # failed attempts (PostgreSQL or Redis) that were retried
    batches: int = 0
    rows: int = 0  # rows in committed transactions
    written_by_stream: dict[str, int] = field(default_factory=dict)
    dead_by_stream: dict[str, int] = field(default_factory=dict)


# The worker's tables live in `public`; a role or database default that puts the documented
# views (schema `reference`, same table names) first must never redirect the worker's writes.
PINNED_SETTINGS: Final = {"search_path": "public"}


class Database:
    """One asyncpg connection, reopened after any failure."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._conn: asyncpg.Connection | None = None

    async def get(self) -> asyncpg.Connection:
        if self._conn is None or self._conn.is_closed():
            self._conn = await asyncpg.connect(
                self.url, timeout=10, command_timeout=60, server_settings=PINNED_SETTINGS
            )
        return self._conn

    def drop(self) -> None:
        """Forget the connection after an error (it may be half-way through anything)."""
        if self._conn is not None:
            self._conn.terminate()
            self._conn = None

    async def close(self) -> None:
        if self._conn is not None:
            try:
                await self._conn.close(timeout=5)
            except (TimeoutError, OSError, asyncpg.PostgresError):
                self._conn.terminate()
            self._conn = None


class Worker:
    """Moves engine_response, engine_events and backend-to-engine entries into PostgreSQL."""

    def __init__(self, config: Config, redis: Redis, db: Database) -> None:
        self.config = config
        self.db = db
        self.kinds = {
            config.commands_stream: Kind.COMMAND,
            config.response_stream: Kind.RESPONSE,
            config.events_stream: Kind.EVENT,
        }
        self.consumer = StreamConsumer(
            redis, list(self.kinds), config.group, config.consumer, config.dead_letter_stream
        )
        self.stats = Stats()
        self.stop_event = asyncio.Event()

    def stop(self) -> None:
        """Ask the loop to stop after the batch in hand (which it leaves unacknowledged if the
        batch is still waiting to be retried)."""
        self.stop_event.set()

    # --- retries ----------------------------------------------------------------------------

    async def _retrying(
        self, what: str, action: Callable[[], Awaitable[T]], *, uses_db: bool = False
    ) -> T:
        delay = self.config.retry_initial_s
        while True:
            try:
                return await action()
            except Exception as exc:
                if uses_db:
                    self.db.drop()
                self.stats.retries += 1
                log.warning("%s failed (%s: %s); retrying in %.1fs",
                            what, type(exc).__name__, exc, delay)
            try:
                await asyncio.wait_for(self.stop_event.wait(), delay)
            except TimeoutError:
                pass
            else:
                raise Stopped
            delay = min(delay * 2, self.config.retry_max_s)

    # --- one batch --------------------------------------------------------------------------

    def _map(self, entries: list[Entry]) -> tuple[Rows, list[Entry], list[tuple[Entry, str]]]:
        rows = Rows()
        done: list[Entry] = []
        dead: list[tuple[Entry, str]] = []
        for entry in entries:
            if entry.fields is None:
                dead.append((entry, "deleted from the stream before it was written"))
                continue
            try:
                rows.add_entry(self.kinds[entry.stream], entry.id, entry.fields)
            except (WireError, MappingError) as exc:
                dead.append((entry, reject_reason(exc)))
            else:
                done.append(entry)
        return rows, done, dead

    async def _write(self, done: list[Entry], dead: list[tuple[Entry, str]], rows: Rows) -> None:
        conn = await self.db.get()
        try:
            await write_rows(conn, rows)
            return
        except Exception as exc:
            if not is_entry_error(exc):
                raise
            log.warning("batch refused by PostgreSQL (%s); writing its entries one by one", exc)
        # Find the entries PostgreSQL refuses; they are dead letters, the others are written.
        for entry in list(done):
            one = Rows()
            one.add_entry(self.kinds[entry.stream], entry.id, entry.fields or {})
            try:
                await write_rows(conn, one)
            except Exception as exc:
                if not is_entry_error(exc):
                    raise
                done.remove(entry)
                dead.append((entry, f"refused by PostgreSQL: {type(exc).__name__}: {exc}"))

    async def process(self, entries: list[Entry]) -> None:
        """Write one batch's rows in a transaction, then dead-letter and acknowledge it."""
        if not entries:
            return

        async def commit() -> tuple[list[Entry], list[tuple[Entry, str]], int]:
            rows, done, dead = self._map(entries)
            if len(rows):
                await self._write(done, dead, rows)
            return done, dead, len(rows)

        done, dead, rows = await self._retrying("writing to PostgreSQL", commit, uses_db=True)
        await self._retrying("acknowledging", lambda: self.consumer.settle(done, dead))
        stats = self.stats
        stats.written += len(done)
        stats.dead += len(dead)
        stats.batches += 1
        # Counted whole when a batch commits; on the one-by-one path after a refusal, the
        # refused entries' rows are in this count too (an upper bound, said so in the help).
        stats.rows += rows
        for entry in done:
            stats.written_by_stream[entry.stream] = stats.written_by_stream.get(entry.stream, 0) + 1
        for entry, _ in dead:
            stats.dead_by_stream[entry.stream] = stats.dead_by_stream.get(entry.stream, 0) + 1
        for entry, reason in dead:
            log.error("dead letter %s %s: %s", entry.stream, entry.id, reason)

    # --- the loop ---------------------------------------------------------------------------

    async def claim_stale(self) -> int:
        """Process every entry pending longer than claim_idle_ms (a dead consumer's)."""
        total = 0
        for stream in self.consumer.streams:
            start = "0-0"
            while not self.stop_event.is_set():
                step_start = start
                claimed = await self._retrying(
                    "claiming",
                    lambda s=stream, b=step_start: self.consumer.claim(  # type: ignore[misc]
                        s, self.config.claim_idle_ms, b, self.config.batch_size
                    ),
                )
                await self.process(claimed.entries)
                total += len(claimed.entries)
                if claimed.next_id == "0-0":
                    break
                start = claimed.next_id
        if total:
            log.info("claimed and processed %d stale entries", total)
        return total

    async def setup(self) -> None:
        """Migrate the database and create the groups, retrying until both are reachable."""

        async def do_migrate() -> list[int]:
            return await migrate(await self.db.get())

        applied = await self._retrying("migrating", do_migrate, uses_db=True)
        if applied:
            log.info("applied migrations %s", applied)
        await self._retrying("creating consumer groups", self.consumer.ensure_groups)

    async def run(self) -> Stats:
        """Set up, claim stale entries, then read and process until ``stop()``."""
        try:
            await self.setup()
            await self.claim_stale()
            next_claim = time.monotonic() + self.config.claim_interval_s
            next_stats = time.monotonic() + self.config.stats_interval_s
            while not self.stop_event.is_set():
                entries = await self._retrying(
                    "reading",
                    lambda: self.consumer.read(self.config.batch_size, self.config.block_ms),
                )
                await self.process(entries)
                now = time.monotonic()
                if now >= next_claim:
                    await self.claim_stale()
                    next_claim = time.monotonic() + self.config.claim_interval_s
                if now >= next_stats:
                    log.info("written %d, dead letters %d, retries %d",
                             self.stats.written, self.stats.dead, self.stats.retries)
                    next_stats = now + self.config.stats_interval_s
        except Stopped:
            pass
        finally:
            await self.db.close()
        return self.stats
