"""The worker's ``/metrics`` (``--metrics-port``): entries written and dead letters by stream,
read from the real worker process after real entries, one of them malformed."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time

import httpx
import redis as sync_redis

from devstack.ports import free_port
from engine.messages import CREATE_ACCOUNT, Command
from engine.wire import encode_command
from tests.integration.test_worker_reference_tables import TIMEOUT_S

COMMANDS = "backend-to-engine"


def _samples(text: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out


async def test_dead_letters_and_written_entries_are_counted_by_stream(database_url, redis_url):
    port = free_port()
    worker = subprocess.Popen(
        [sys.executable, "-m", "worker", "run", "--consumer", "metrics", "--block-ms", "50",
         "--log-level", "WARNING"],
        env=os.environ | {"DATABASE_URL": database_url, "REDIS_URL": redis_url,
                          "WORKER_METRICS_PORT": str(port)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    client = sync_redis.Redis.from_url(redis_url)
    url = f"http://127.0.0.1:{port}/metrics"
    try:
        deadline = time.monotonic() + TIMEOUT_S

        def scrape() -> dict[str, float]:
            while True:
                assert worker.poll() is None, worker.stderr.read().decode()[-3000:]  # type: ignore[union-attr]
                assert time.monotonic() < deadline, "the worker's /metrics did not get there"
                try:
                    return _samples(httpx.get(url, timeout=2).text)
                except httpx.HTTPError:
                    time.sleep(0.05)

        before = scrape()
        assert before["worker_retries_total"] == 0
        assert not any(name.startswith("worker_dead_letters_total{") for name in before)
        while not (client.exists(COMMANDS) and client.xinfo_groups(COMMANDS)):
            assert time.monotonic() < deadline, "the worker made no consumer group"
            await asyncio.sleep(0.05)
        good = Command("m-1", CREATE_ACCOUNT, "a@x.io", {}, int(time.time() * 1000))
        client.xadd(COMMANDS, encode_command(good))  # type: ignore[arg-type]
        client.xadd(COMMANDS, {"command": "CREATE_TRADE"})  # no orderId: cannot be a row
        dead = f'worker_dead_letters_total{{stream="{COMMANDS}"}}'
        written = f'worker_entries_written_total{{stream="{COMMANDS}"}}'
        now = scrape()
        while now.get(dead, 0) + now.get(written, 0) < 2:
            await asyncio.sleep(0.05)
            now = scrape()
        assert (now.get(dead), now.get(written)) == (1, 1), now
        assert now["worker_rows_written_total"] >= 1
        assert client.xlen("worker-dead-letter") == 1
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        client.close()
