"""Metrics: counters, tick ages, silence, and the Prometheus endpoint."""

from __future__ import annotations

import asyncio
import urllib.request

import pytest

from poller.metrics import Metrics, render, serve, watch_silence
from poller.ticks import REJECT_PRICE


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_ages_count_from_start_then_from_each_assets_last_tick():
    clock = Clock()
    m = Metrics(["BTC", "SOL"], clock=clock)
    clock.now += 4
    m.tick("BTC")
    clock.now += 2
    assert m.ages() == {"BTC": 2.0, "SOL": 6.0}
    assert m.silent(3.0) == ["SOL"]
    assert m.silent(10.0) == []
    assert m.received == {"BTC": 1, "SOL": 0}


def test_exposition_has_every_counter_and_gauge():
    clock = Clock()
    m = Metrics(["BTC", "SOL"], clock=clock)
    for _ in range(3):
        m.tick("BTC")
    m.published["BTC"] = 2
    m.entries = 2
    m.reconnects = 4
    m.publish_errors = 1
    m.connected = True
    m.reject(REJECT_PRICE, "too many decimals")
    clock.now += 20
    text = render(m, silence_s=15)
    for line in [
        'poller_ticks_received_total{asset="BTC"} 3.0',
        'poller_ticks_received_total{asset="SOL"} 0.0',
        'poller_ticks_published_total{asset="BTC"} 2.0',
        'poller_last_tick_age_seconds{asset="BTC"} 20.0',
        'poller_feed_silent{asset="BTC"} 1.0',
        'poller_frames_rejected_total{reason="price"} 1.0',
        'poller_frames_rejected_total{reason="json"} 0.0',
        "poller_entries_published_total 2.0",
        "poller_publish_errors_total 1.0",
        "poller_reconnects_total 4.0",
        "poller_feed_connected 1.0",
    ]:
        assert line in text.splitlines(), line


async def test_endpoint_serves_prometheus_text():
    m = Metrics(["BTC"])
    m.tick("BTC")
    server = serve(m, 15.0, "127.0.0.1", 0)
    try:
        url = f"http://127.0.0.1:{server.server_port}/metrics"
        body = await asyncio.to_thread(lambda: urllib.request.urlopen(url, timeout=10).read())
    finally:
        server.shutdown()
        server.server_close()
    assert b'poller_ticks_received_total{asset="BTC"} 1.0' in body


def test_endpoint_on_a_taken_port_fails_at_once():
    m = Metrics(["BTC"])
    server = serve(m, 15.0, "127.0.0.1", 0)
    try:
        with pytest.raises(OSError):
            serve(m, 15.0, "127.0.0.1", server.server_port)
    finally:
        server.shutdown()
        server.server_close()


async def test_silence_watch_runs_until_cancelled():
    clock = Clock()
    m = Metrics(["BTC"], clock=clock)
    watch = asyncio.create_task(watch_silence(m, 1.0, interval_s=0.001))
    for step in range(20):  # silent, then ticking again, then silent: no failure either way
        clock.now += 2 if step % 5 == 0 else 0
        if step % 7 == 0:
            m.tick("BTC")
        await asyncio.sleep(0.002)
    assert not watch.done()
    watch.cancel()
