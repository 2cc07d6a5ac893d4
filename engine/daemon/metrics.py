"""Prometheus metrics of the daemon, served on ``/metrics`` by a tiny HTTP server on the loop.

The server runs on the event loop rather than in prometheus_client's thread: the daemon forks
to write snapshots, and forking a process with threads risks a child stuck on a copied lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterator, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

_BATCH_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000)
_SECONDS_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class _Rejections(Collector):
    """The core's counted rejections (malformed entries without an orderId), by kind."""

    def __init__(self, source: Callable[[], Mapping[str, int]]) -> None:
        self.source = source

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(
            "engine_rejected_entries",
            "Input entries rejected without a response, by kind",
            labels=["kind"],
        )
        for kind, count in sorted(self.source().items()):
            family.add_metric([kind], count)
        yield family


MARKET_STATES = ("OPEN", "CLOSE_ONLY", "HALTED")


class _Markets(Collector):
    """Each asset's market state (1 for the state it is in) and open interest (USD notional)."""

    def __init__(
        self,
        states: Callable[[], Mapping[str, str]],
        interest: Callable[[], Mapping[str, float]],
    ) -> None:
        self.states = states
        self.interest = interest

    def collect(self) -> Iterator[Metric]:
        state = GaugeMetricFamily(
            "engine_market_state",
            "1 for the state each asset's market is in (OPEN, CLOSE_ONLY, HALTED), else 0",
            labels=["asset", "state"],
        )
        for asset, current in sorted(self.states().items()):
            for name in MARKET_STATES:
                state.add_metric([asset, name], 1.0 if name == current else 0.0)
        yield state
        interest = GaugeMetricFamily(
            "engine_open_interest_usd",
            "Notional of the open positions (margin x leverage) per asset, in USD",
            labels=["asset"],
        )
        for asset, usd in sorted(self.interest().items()):
            interest.add_metric([asset], usd)
        yield interest


class Metrics:
    """Every metric the daemon exports, on a private registry."""

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.commands = Counter("engine_commands_applied", "Command entries applied", registry=r)
        self.ticks = Counter("engine_ticks_applied", "Price entries applied", registry=r)
        self.errors = Counter(
            "engine_errors",
            "Errors by kind: error responses, rejected entries, Redis outages, "
            "publish and snapshot failures, determinism mismatches",
            ["kind"],
            registry=r,
        )
        self.outputs = Counter(
            "engine_outputs_published", "Outputs published", ["stream"], registry=r
        )
        self.batch = Histogram(
            "engine_batch_size", "Entries applied per round", buckets=_BATCH_BUCKETS, registry=r
        )
        self.lag = Gauge(
            "engine_stream_lag_ms",
            "Server time minus the ID time of the oldest entry of the last batch, per stream",
            ["stream"],
            registry=r,
        )
        self.seq = Gauge("engine_output_seq", "The engine's output sequence number", registry=r)
        self.open_positions = Gauge("engine_open_positions", "Open positions", registry=r)
        self.snapshot_duration = Histogram(
            "engine_snapshot_duration_seconds",
            "Time to serialize, compress, hash and write",
            buckets=_SECONDS_BUCKETS,
            registry=r,
        )
        self.snapshot_stall = Gauge(
            "engine_snapshot_loop_stall_seconds",
            "How long the event loop was blocked to start the last snapshot",
            registry=r,
        )
        self.snapshot_stall_max = Gauge(
            "engine_snapshot_loop_stall_max_seconds",
            "Longest event-loop block caused by a snapshot since start",
            registry=r,
        )
        self.snapshot_age = Gauge(
            "engine_snapshot_age_seconds",
            "Seconds since the last snapshot was written",
            registry=r,
        )
        self.snapshot_bytes = Gauge(
            "engine_snapshot_bytes", "Size of the last snapshot file", registry=r
        )
        self.redis_outages = Counter("engine_redis_outages", "Redis connections lost", registry=r)
        self._last_snapshot: float | None = None
        self._stall_max = 0.0
        self.snapshot_age.set_function(self._age)

    def watch(
        self,
        open_positions: Callable[[], int],
        rejected: Callable[[], Mapping[str, int]],
        markets: Callable[[], Mapping[str, str]] = dict,
        interest: Callable[[], Mapping[str, float]] = dict,
    ) -> None:
        """Read these from the engine at scrape time."""
        self.open_positions.set_function(open_positions)
        self.registry.register(_Rejections(rejected))
        self.registry.register(_Markets(markets, interest))

    def snapshot_written(self, duration_s: float, size: int) -> None:
        self._last_snapshot = time.monotonic()
        self.snapshot_duration.observe(duration_s)
        self.snapshot_bytes.set(size)

    def snapshot_started(self, stall_s: float) -> None:
        self.snapshot_stall.set(stall_s)
        self._stall_max = max(self._stall_max, stall_s)
        self.snapshot_stall_max.set(self._stall_max)

    def _age(self) -> float:
        return -1.0 if self._last_snapshot is None else time.monotonic() - self._last_snapshot

    def render(self) -> bytes:
        return generate_latest(self.registry)


async def serve(metrics: Metrics, host: str, port: int) -> asyncio.Server:
    """Serve ``GET /metrics`` (and 404 for anything else) on ``host:port``."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=5)
            line = request.split(b"\r\n", 1)[0].split()
            if (
                len(line) >= 2
                and line[0] in (b"GET", b"HEAD")
                and line[1].split(b"?")[0] in (b"/metrics", b"/")
            ):
                body = metrics.render()
                head = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\n"
            else:
                body = b"not found\n"
                head = b"HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\n"
            writer.write(head + b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body))
            if line and line[0] != b"HEAD":
                writer.write(body)
            await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
            pass  # a client that hangs up or sends garbage gets nothing more
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    return await asyncio.start_server(handle, host, port, limit=16 * 1024)
