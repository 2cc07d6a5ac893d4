"""The engine daemon's loop: read both input streams in rounds, apply, publish, snapshot, trim.

One round: ``TIME`` and a non-blocking ``XREAD`` of both streams in one round trip; release the
entries that can no longer be preceded (see ``ordering``), apply them to the core in order,
publish their outputs in one pipelined round trip. Idle, it blocks in ``XREAD BLOCK`` on both
streams. A lost Redis connection stops the loop until Redis answers again (with backoff); what
was read but not applied stays buffered, and what was applied but not published stays queued,
so nothing is lost or applied twice. Recovery is not a separate mode: a recovering daemon starts
from a snapshot instead of an empty state and runs the same loop, with the publisher comparing
outputs that were published before the restart instead of publishing them again.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import time
from typing import Any

from engine.core import Engine
from engine.daemon import early, logs, streams, trimming
from engine.daemon.cluster_node import SlotOwner
from engine.daemon.exits import ExitCode
from engine.daemon.gc_policy import tune_gc
from engine.daemon.link import Link
from engine.daemon.metrics import Metrics, serve
from engine.daemon.ordering import PRICE, InputBuffer, Ordered, round_bound
from engine.daemon.outages import BACKOFF_MAX_S, BACKOFF_START_S, OUTAGE_ERRORS, connect
from engine.daemon.prior_outputs import Mismatch, PublishedLog, highest_published_seq
from engine.daemon.publisher import Publisher
from engine.daemon.recovery import DeterminismError, check_history, report_mismatch
from engine.daemon.settings import Settings
from engine.daemon.snapshotter import SnapshotResult, Snapshotter
from engine.daemon.streams import StreamNames
from engine.stream_ids import parse_id
from snapshots.format import Header
from snapshots.store import SnapshotStore

HEARTBEAT_EVERY_S = 1.0
HEARTBEAT_TTL_MS = 60_000
SHUTDOWN_PUBLISH_TIMEOUT_S = 30.0


class CoreFailure(RuntimeError):
    """The core raised, which it promises never to do: stop before anything else happens."""


def _ids(header: Header | None) -> tuple[str, str]:
    if header is None:
        return "0-0", "0-0"
    return header.last_response_id, header.last_event_id


class Daemon:
    """One running engine: its core, its Redis connection, its snapshot store."""

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        store: SnapshotStore,
        loaded: Header | None,
        started: float | None = None,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.store = store
        self.loaded = loaded
        self.started = time.monotonic() if started is None else started
        self.names = StreamNames(
            settings.price_stream,
            settings.command_stream,
            settings.response_stream,
            settings.events_stream,
        )
        self.inputs = (settings.price_stream, settings.command_stream)
        self.redis = connect(settings.redis_url)
        self.link = Link(settings.redis_url, name=f"engine-{settings.shard}")
        # On a cluster: the master of this shard's slot, found again after every outage.
        self.slot_owner = (
            SlotOwner(settings.redis_url, settings.command_stream)
            if settings.redis_cluster
            else None
        )
        self.metrics = Metrics()
        state = engine.state
        self.buffer = InputBuffer(state.last_price_id, state.last_command_id)
        response_id, event_id = _ids(loaded)
        self.publisher = Publisher(
            self.link,
            self.names,
            {self.names.responses: response_id, self.names.events: event_id},
            on_mismatch=self._mismatch,
            on_published=lambda stream, n: self.metrics.outputs.labels(stream).inc(n),
        )
        self.snapshotter = Snapshotter(store, settings.snapshot_mode, self._snapshot_done)
        self.stopping = False
        self.exit_code = ExitCode.OK
        self._more = False  # the last round was cut short by COUNT: read again without blocking
        self._prefetched: tuple[int, list[streams.Raw]] | None = None  # next round's read
        self._caught_up = False
        self._applied_since_start = 0
        self._snapshot_key = self._state_key()  # what is on disk already (or the empty state)
        self._next_snapshot = time.monotonic() + settings.snapshot_interval_s
        self._next_heartbeat = 0.0
        self._trim_due = False
        self._summary = logs.Summary()
        self._backoff = BACKOFF_START_S
        self._rejected_seen = sum(state.rejected.values())
        self._errors_seen = 0
        self._metrics_server: asyncio.Server | None = None
        self.metrics.watch(
            engine.open_positions,
            lambda: dict(self.engine.state.rejected),
            self.engine.market_states,
            self.engine.open_interest_usd,
        )

    # -- life cycle --------------------------------------------------------------------------

    async def run(self) -> int:
        """Run until SIGTERM/SIGINT (exit 0) or a fatal error; return the exit status."""
        tune_gc()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop)
        if early.requested():
            self.stop()
        if self.settings.metrics_port:
            try:
                self._metrics_server = await serve(
                    self.metrics, self.settings.metrics_host, self.settings.metrics_port
                )
            except OSError as exc:
                logs.error(
                    "metrics_port_unusable",
                    port=self.settings.metrics_port,
                    error=str(exc),
                    hint="choose another --metrics-port, or 0 for none",
                )
                await self._close()
                return ExitCode.REFUSED
        try:
            await self._until_redis_answers(first=True)
            prepared = False
            while not self.stopping:
                try:
                    if not prepared:
                        await self._prepare_replay()
                        prepared = True
                    await self._round()
                    await self._maintain()
                    self._backoff = BACKOFF_START_S
                except OUTAGE_ERRORS as exc:
                    await self._outage(exc)
            return await self._shutdown()
        except DeterminismError:
            return ExitCode.DETERMINISM
        except CoreFailure:
            return ExitCode.CORE_FAILURE
        finally:
            await self._close()

    def stop(self) -> None:
        """Stop reading; the batch in hand is finished, a final snapshot written, exit 0."""
        if not self.stopping:
            logs.event("stopping", seq=self.engine.state.seq)
        self.stopping = True

    async def _shutdown(self) -> int:
        await self.snapshotter.wait()
        deadline = time.monotonic() + SHUTDOWN_PUBLISH_TIMEOUT_S
        while not self.publisher.idle and time.monotonic() < deadline:
            try:
                await self.publisher.reconcile()
                await self.publisher.flush()
            except OUTAGE_ERRORS as exc:
                logs.warning("shutdown_publish_retry", error=f"{type(exc).__name__}: {exc}")
                await asyncio.sleep(0.5)
        if not self.publisher.idle:
            # A snapshot now would claim outputs that never reached Redis; recovery from the
            # previous snapshot replays and publishes them instead.
            logs.error(
                "final_snapshot_skipped",
                reason="outputs not published",
                unpublished=len(self.publisher.unsent),
            )
            return ExitCode.UNPUBLISHED
        if self._snapshot_key != self._state_key():
            result = self.snapshotter.write_inline(self.engine.state, self._header())
            self._snapshot_done(result)
            if not result.ok:
                return ExitCode.UNPUBLISHED
        logs.event(
            "stopped",
            seq=self.engine.state.seq,
            last_price_id=self.engine.state.last_price_id,
            last_command_id=self.engine.state.last_command_id,
        )
        return ExitCode.OK

    async def _close(self) -> None:
        if self._metrics_server is not None:
            self._metrics_server.close()
        self.link.close()
        with contextlib.suppress(Exception):
            await self.redis.aclose()
        if self.slot_owner is not None:
            with contextlib.suppress(Exception):
                await self.slot_owner.aclose()

    # -- start-up ------------------------------------------------------------------------------

    async def _prepare_replay(self) -> None:
        """Check the input history is complete and start comparing already-published outputs."""
        state = self.engine.state
        await check_history(
            self.redis,
            self.inputs,
            self.buffer.read_position,
            self.metrics,
            self.settings.continue_on_mismatch,
        )
        published = await highest_published_seq(
            self.link, (self.names.responses, self.names.events)
        )
        if published > state.seq:
            after = dict(self.publisher.last_id)
            self.publisher.start_verifying(PublishedLog(self.link, after, state.seq, published))
            logs.event(
                "replay_started",
                from_seq=state.seq,
                published_seq=published,
                last_price_id=state.last_price_id,
                last_command_id=state.last_command_id,
            )
        elif published < state.seq:
            logs.warning(
                "outputs_missing",
                published_seq=published,
                engine_seq=state.seq,
                hint="the output streams lost entries the snapshot had published",
            )

    # -- the loop --------------------------------------------------------------------------------

    async def _round(self) -> None:
        settings = self.settings
        buffer = self.buffer
        prefetched, self._prefetched = self._prefetched, None
        if prefetched is None:
            await self.publisher.flush()  # what a broken connection left unpublished
            if not self._more and not len(buffer):
                got = await streams.wait_for_entries(
                    self.link,
                    self.inputs,
                    buffer.read_position,
                    settings.read_count,
                    settings.block_ms,
                )
                for kind, entries in enumerate(got):
                    buffer.add(kind, entries)
                if not len(buffer):
                    self._note_caught_up()
                    return
            prefetched = await streams.read_round(
                self.link, self.inputs, buffer.read_position, settings.read_count
            )
        server_us, got = prefetched
        cut_short = []
        for kind, entries in enumerate(got):
            buffer.add(kind, entries)
            if len(entries) >= settings.read_count:
                cut_short.append(buffer.read_position[kind])
        self._more = bool(cut_short)
        batch = buffer.release(round_bound(server_us, cut_short))
        if batch:
            self._apply(batch, server_us)
            # Publish this batch and read the next round in one round trip (XADDs, TIME, XREAD).
            replies = await self.publisher.flush(
                then=streams.round_commands(self.inputs, buffer.read_position, settings.read_count)
            )
            self._prefetched = streams.round_result(replies, self.inputs)
        if not cut_short:
            self._note_caught_up()
        if not batch and len(buffer):
            await self._wait_for_time(server_us)

    async def _wait_for_time(self, server_us: int) -> None:
        """Buffered entries wait until the server's millisecond passes theirs."""
        oldest = self.buffer.oldest()
        assert oldest is not None
        wait_s = ((oldest[0] + 1) * 1000 - server_us) / 1e6
        if wait_s <= 0:
            return
        if wait_s <= 0.002:
            # uvloop timers have millisecond resolution; a sub-millisecond sleep would either
            # spin or wait a whole extra millisecond, so this short wait blocks the loop.
            time.sleep(wait_s + 0.00005)
        else:
            if wait_s > 1:
                logs.warning(
                    "entry_from_the_future",
                    wait_s=round(wait_s, 3),
                    entry_ms=oldest[0],
                    server_ms=server_us // 1000,
                )
            await asyncio.sleep(min(wait_s, 0.1))

    def _apply(self, batch: list[Ordered], server_us: int) -> None:
        engine = self.engine
        apply_price, apply_command = engine.apply_price_entry, engine.apply_command_entry
        outputs: list[Any] = []
        ticks = 0
        first: list[str | None] = [None, None]
        try:
            for kind, entry_id, fields in batch:
                if kind == PRICE:
                    outputs += apply_price(entry_id, fields)
                    ticks += 1
                else:
                    outputs += apply_command(entry_id, fields)
                if first[kind] is None:
                    first[kind] = entry_id
        except Exception as exc:
            self.publisher.add(outputs)
            stream = "price" if kind == PRICE else "command"
            logs.error(
                "core_exception",
                entry_id=entry_id,
                stream=stream,
                error=f"{type(exc).__name__}: {exc}",
                hint="the core must never raise; the engine stops before anything else. If "
                "recovery stops at this entry again, set it aside: python -m engine --recover "
                f"--skip-entry {stream}:{entry_id}",
            )
            self.metrics.errors.labels("core_exception").inc()
            self.stopping = True
            raise CoreFailure(entry_id) from exc
        self.publisher.add(outputs)
        self._count(batch, ticks, first, server_us)

    def _count(
        self, batch: list[Ordered], ticks: int, first: list[str | None], server_us: int
    ) -> None:
        m = self.metrics
        m.ticks.inc(ticks)
        m.commands.inc(len(batch) - ticks)
        m.batch.observe(len(batch))
        server_ms = server_us // 1000
        for stream, entry_id in zip(self.inputs, first, strict=True):
            m.lag.labels(stream).set(server_ms - parse_id(entry_id)[0] if entry_id else 0)
        m.seq.set(self.engine.state.seq)
        rejected = sum(self.engine.state.rejected.values())
        if rejected != self._rejected_seen:
            m.errors.labels("rejected_entry").inc(rejected - self._rejected_seen)
            self._rejected_seen = rejected
        errors = self.publisher.error_responses
        if errors != self._errors_seen:
            m.errors.labels("error_response").inc(errors - self._errors_seen)
            self._errors_seen = errors
        self._applied_since_start += len(batch)

    def _note_caught_up(self) -> None:
        if self._caught_up or not self.publisher.idle:
            return
        verified = self.publisher.finish_verifying(self.engine.state.seq)
        if self.publisher.verifying:
            return
        self._caught_up = True
        logs.event(
            "caught_up",
            after_s=round(time.monotonic() - self.started, 3),
            replayed_entries=self._applied_since_start,
            verified_outputs=verified or 0,
            seq=self.engine.state.seq,
            open_positions=self.engine.open_positions(),
        )
        self._summary.maybe_log()

    def _mismatch(self, mismatch: Mismatch) -> None:
        if not self.settings.continue_on_mismatch:
            self.stopping = True
        report_mismatch(mismatch, self.metrics, self.settings.continue_on_mismatch)

    # -- housekeeping between rounds -------------------------------------------------------------

    async def _maintain(self) -> None:
        now = time.monotonic()
        if self.publisher.verifying:
            verified = self.publisher.finish_verifying(self.engine.state.seq)
            if verified is not None:
                logs.event("replay_verified", verified_outputs=verified, seq=self.engine.state.seq)
        if now >= self._next_heartbeat:
            self._next_heartbeat = now + HEARTBEAT_EVERY_S
            await self.redis.set(
                self.settings.heartbeat_key, str(int(time.time() * 1000)), px=HEARTBEAT_TTL_MS
            )
        if now >= self._next_snapshot and not self.snapshotter.busy and self.publisher.idle:
            self._next_snapshot = now + self.settings.snapshot_interval_s
            if self._state_key() != self._snapshot_key:
                gc.freeze()  # survivors since the last one join the permanent generation
                stall = self.snapshotter.start(self.engine.state, self._header())
                self.metrics.snapshot_started(stall)
        if self._trim_due and self.settings.trim_streams:
            self._trim_due = False
            await self._trim()

    def _state_key(self) -> tuple[int, str, str]:
        s = self.engine.state
        return s.seq, s.last_price_id, s.last_command_id

    def _header(self) -> Header:
        s = self.engine.state
        return Header(
            created_ms=int(time.time() * 1000),
            seq=s.seq,
            last_price_id=s.last_price_id,
            last_command_id=s.last_command_id,
            last_response_id=self.publisher.last_id[self.names.responses],
            last_event_id=self.publisher.last_id[self.names.events],
        )

    def _snapshot_done(self, result: SnapshotResult) -> None:
        h = result.header
        if not result.ok:
            self.metrics.errors.labels("snapshot").inc()
            logs.error("snapshot_failed", seq=h.seq, error=result.error, mode=result.mode)
            return
        self._snapshot_key = (h.seq, h.last_price_id, h.last_command_id)
        self._trim_due = True
        self.metrics.snapshot_written(result.duration_s, result.size)
        self._summary.snapshot(h.seq, result.size, result.stall_s)
        logs.event(
            "snapshot_written",
            logging.DEBUG,
            path=result.path,
            seq=h.seq,
            bytes=result.size,
            duration_ms=round(result.duration_s * 1000, 2),
            loop_stall_ms=round(result.stall_s * 1000, 3),
            mode=result.mode,
            open_positions=self.engine.open_positions(),
        )

    async def _trim(self) -> None:
        self._summary.trimmed += await trimming.trim_behind_snapshots(
            self.redis, self.store, self.inputs
        )

    # -- Redis outages ---------------------------------------------------------------------------

    async def _outage(self, exc: BaseException) -> None:
        self.metrics.redis_outages.inc()
        self.metrics.errors.labels("redis").inc()
        logs.warning(
            "redis_unavailable",
            error=f"{type(exc).__name__}: {exc}",
            unpublished=len(self.publisher.unsent),
            buffered=len(self.buffer),
        )
        await self._until_redis_answers(first=False)

    async def _until_redis_answers(self, first: bool) -> None:
        """Back off (growing across consecutive outages) until Redis answers a PING."""
        began = time.monotonic()
        failures = 0
        if not first:
            await self._sleep_backoff()
        while not self.stopping:
            try:
                if self.slot_owner is not None:
                    await self._follow_slot()
                await self.redis.ping()
                await self.link.execute([["PING"]])
                dropped = await self.publisher.reconcile()
                if failures or not first:
                    logs.event(
                        "redis_available",
                        after_s=round(time.monotonic() - began, 3),
                        already_published=dropped,
                    )
                return
            except OUTAGE_ERRORS as exc:
                failures += 1
                if failures == 1 and first:
                    logs.warning("redis_unavailable", error=f"{type(exc).__name__}: {exc}")
                await self._sleep_backoff()

    async def _follow_slot(self) -> None:
        """Point both connections at the current master of this shard's slot."""
        assert self.slot_owner is not None
        url = await self.slot_owner.url()
        if url != self.link.url:
            logs.event("slot_owner", node=url.rpartition("@")[2], key=self.settings.command_stream)
            self.link.retarget(url)
            with contextlib.suppress(Exception):
                await self.redis.aclose()
            self.redis = connect(url)

    async def _sleep_backoff(self) -> None:
        await asyncio.sleep(self._backoff)
        self._backoff = min(self._backoff * 2, BACKOFF_MAX_S)
