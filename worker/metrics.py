"""The worker's Prometheus ``/metrics``: what it wrote, dead-lettered and retried since start.

Read from ``Stats`` at scrape time, served from prometheus_client's thread (the worker never
forks, so a thread is safe here, unlike in the engine). Off unless a port is given
(``--metrics-port`` / ``WORKER_METRICS_PORT``), so several workers on one box never collide.
"""

from __future__ import annotations

from collections.abc import Iterator
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, generate_latest, start_http_server
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from worker.service import Stats


class _Collector(Collector):
    def __init__(self, stats: Stats) -> None:
        self.stats = stats

    def collect(self) -> Iterator[Metric]:
        s = self.stats
        written = CounterMetricFamily(
            "worker_entries_written",
            "Stream entries whose rows committed and that were acknowledged, by stream",
            labels=["stream"],
        )
        dead = CounterMetricFamily(
            "worker_dead_letters",
            "Entries sent to the dead-letter stream (they could not become rows), by stream",
            labels=["stream"],
        )
        for stream, count in sorted(s.written_by_stream.items()):
            written.add_metric([stream], count)
        for stream, count in sorted(s.dead_by_stream.items()):
            dead.add_metric([stream], count)
        yield written
        yield dead
        yield CounterMetricFamily(
            "worker_rows_written",
            "Rows in committed batches (a redelivered entry's rows count again)",
            value=s.rows,
        )
        yield CounterMetricFamily(
            "worker_retries",
            "Failed attempts (PostgreSQL or Redis unreachable) that were retried",
            value=s.retries,
        )
        yield CounterMetricFamily("worker_batches", "Batches processed", value=s.batches)


def registry_for(stats: Stats) -> CollectorRegistry:
    """A private registry exposing ``stats``."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector(stats))
    return registry


def render(stats: Stats) -> str:
    """The Prometheus text exposition of ``stats``."""
    return generate_latest(registry_for(stats)).decode()


def serve(stats: Stats, host: str, port: int) -> WSGIServer:
    """Serve ``/metrics`` on ``host:port`` from a daemon thread; ``shutdown()`` stops it."""
    server, _thread = start_http_server(port, host, registry_for(stats))
    return server
