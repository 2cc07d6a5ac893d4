"""The poller's counters, their Prometheus exposition, and the silent-feed watch.

Counters are plain integers bumped on the event loop (a tick costs a dict update, not a lock);
the Prometheus collector reads them only when scraped, from the HTTP server's thread.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, generate_latest, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from poller.ticks import REJECT_REASONS

log = logging.getLogger("poller.metrics")


class Metrics:
    """What the poller has done so far. Ages count from start until an asset's first tick."""

    def __init__(self, assets: Sequence[str], clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.received = dict.fromkeys(assets, 0)  # ticks accepted from the feed
        self.published = dict.fromkeys(assets, 0)  # price items written to the stream
        self.rejected = dict.fromkeys(REJECT_REASONS, 0)  # frames counted and skipped
        self.entries = 0  # stream entries written
        self.publish_errors = 0
        self.reconnects = 0
        self.connected = False
        started = clock()
        self.last_tick = dict.fromkeys(assets, started)

    def tick(self, asset: str) -> None:
        """Count one accepted tick of ``asset``."""
        self.received[asset] += 1
        self.last_tick[asset] = self.clock()

    def reject(self, reason: str, detail: str) -> None:
        """Count a skipped frame; log the first of each reason and then every power of ten."""
        count = self.rejected[reason] = self.rejected[reason] + 1
        if str(count).strip("0") == "1":
            log.warning("skipped frame #%d rejected for %s: %s", count, reason, detail[:300])

    def ages(self) -> dict[str, float]:
        """Seconds since each asset's last tick (or since start, before its first)."""
        now = self.clock()
        return {asset: now - seen for asset, seen in self.last_tick.items()}

    def silent(self, threshold_s: float) -> list[str]:
        """Assets whose last tick is older than ``threshold_s``."""
        return [asset for asset, age in self.ages().items() if age > threshold_s]


class _Collector(Collector):
    def __init__(self, metrics: Metrics, silence_s: float) -> None:
        self.metrics = metrics
        self.silence_s = silence_s

    def collect(self) -> Iterator[Metric]:
        m = self.metrics
        received = CounterMetricFamily(
            "poller_ticks_received", "Ticks accepted from the feed", labels=["asset"]
        )
        published = CounterMetricFamily(
            "poller_ticks_published",
            "Price items written to the stream (ticks within a batch window coalesce)",
            labels=["asset"],
        )
        age = GaugeMetricFamily(
            "poller_last_tick_age_seconds",
            "Seconds since the asset's last tick (since start before the first)",
            labels=["asset"],
        )
        silent = GaugeMetricFamily(
            "poller_feed_silent", "1 when the asset has been silent too long", labels=["asset"]
        )
        ages = m.ages()
        for asset in m.received:
            received.add_metric([asset], m.received[asset])
            published.add_metric([asset], m.published[asset])
            age.add_metric([asset], ages[asset])
            silent.add_metric([asset], 1 if ages[asset] > self.silence_s else 0)
        rejected = CounterMetricFamily(
            "poller_frames_rejected", "Frames counted and skipped, by reason", labels=["reason"]
        )
        for reason, count in list(m.rejected.items()):
            rejected.add_metric([reason], count)
        yield received
        yield published
        yield age
        yield silent
        yield rejected
        yield CounterMetricFamily(
            "poller_entries_published", "engine_input entries written", value=m.entries
        )
        yield CounterMetricFamily(
            "poller_publish_errors", "Failed writes to Redis (retried)", value=m.publish_errors
        )
        yield CounterMetricFamily(
            "poller_reconnects", "Reconnections to the feed", value=m.reconnects
        )
        yield GaugeMetricFamily(
            "poller_feed_connected", "1 while the WebSocket is open", value=int(m.connected)
        )


def registry_for(metrics: Metrics, silence_s: float) -> CollectorRegistry:
    """A private registry exposing ``metrics`` (private, so tests can hold many)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector(metrics, silence_s))
    return registry


def render(metrics: Metrics, silence_s: float) -> str:
    """The Prometheus text exposition of ``metrics``."""
    return generate_latest(registry_for(metrics, silence_s)).decode()


def serve(metrics: Metrics, silence_s: float, host: str, port: int) -> WSGIServer:
    """Serve ``/metrics`` on ``host:port`` from a daemon thread; ``shutdown()`` stops it."""
    server, _thread = start_http_server(port, host, registry_for(metrics, silence_s))
    return server


async def watch_silence(metrics: Metrics, threshold_s: float, interval_s: float = 1.0) -> None:
    """Log when an asset falls silent and when it comes back (the gauges say it too)."""
    silent: set[str] = set()
    while True:
        await asyncio.sleep(interval_s)
        now_silent = set(metrics.silent(threshold_s))
        for asset in sorted(now_silent - silent):
            log.warning("no tick for %s in over %.1f s: feed silent", asset, threshold_s)
        for asset in sorted(silent - now_silent):
            log.info("ticks for %s again", asset)
        silent = now_silent
