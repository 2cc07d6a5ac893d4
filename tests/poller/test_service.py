"""The whole poller: sources into engine_input entries that the engine core applies, and the CLI."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
import redis
from redis.asyncio import Redis

from devstack.ports import free_port
from engine.core import Engine
from poller import service
from poller.config import parse_config
from poller.metrics import Metrics
from poller.replay import open_frames
from poller.ticks import by_symbol, parse_frame
from tests.poller.waiting import eventually

ROOT = Path(__file__).resolve().parents[2]


async def applied_by_engine(redis_url: str) -> Engine:
    """A fresh engine core after applying every engine_input entry; none may be rejected."""
    redis = Redis.from_url(redis_url)
    entries = await redis.xrange("engine_input")
    await redis.aclose()
    assert entries, "nothing was published"
    engine = Engine()
    for entry_id, fields in entries:
        assert engine.apply_price_entry(entry_id.decode(), fields) == []
    assert engine.state.rejected == {}
    assert engine.state.ticks_applied >= len(entries)
    return engine


def last_sample_quotes() -> dict[str, tuple[int, int]]:
    config = parse_config([], {})
    table = by_symbol(config.assets)
    last = {}
    with open_frames(None) as frames:
        for raw in frames:
            tick = parse_frame(raw, table)
            assert tick is not None
            last[tick.item.asset] = (tick.item.bid, tick.item.ask)
    return last


def poller(*args: str, env: dict[str, str] | None = None, **kwargs) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "poller", *args],
        cwd=ROOT,
        env={"PATH": os.environ.get("PATH", "")} | (env or {}),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


async def test_sim_entries_are_applied_by_the_engine_core(redis_url):
    config = parse_config(
        ["--source", "sim", "--rate", "200", "--metrics-port", "0", "--redis-url", redis_url], {}
    )
    metrics = Metrics([spec.asset for spec in config.assets])
    stop = asyncio.Event()
    run = asyncio.create_task(service.run(config, stop, metrics))
    await eventually(lambda: metrics.entries >= 5)
    stop.set()
    assert await run == 0
    engine = await applied_by_engine(redis_url)
    assert sorted(engine.state.prices) == ["ADA_USDC", "BTC_USDC", "ETH_USDC", "SOL_USDC"]
    for price in engine.state.prices.values():
        assert 0 < price.bid < price.ask


def test_replay_cli_publishes_the_sample_and_exits_0(redis_url):
    proc = poller(
        "--source",
        "replay",
        "--speed",
        "0",
        "--metrics-port",
        "0",
        env={
            "REDIS_URL": redis_url,
        },
    )
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    engine = asyncio.run(applied_by_engine(redis_url))
    # Coalescing may skip intermediate ticks, never the last one.
    assert {
        asset: (price.bid, price.ask) for asset, price in engine.state.prices.items()
    } == last_sample_quotes()


def test_sim_cli_stops_cleanly_on_sigterm(redis_url):
    proc = poller(
        "--source",
        "sim",
        "--rate",
        "100",
        "--metrics-port",
        "0",
        "--redis-url",
        redis_url,
    )
    try:
        client = redis.Redis.from_url(redis_url)
        for _ in range(600):
            if client.xlen("engine_input") >= 3 or proc.poll() is not None:
                break
            time.sleep(0.05)
        client.close()
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    asyncio.run(applied_by_engine(redis_url))


def test_help_lists_every_environment_variable():
    proc = poller("--help")
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0
    for name in [
        "REDIS_URL",
        "ENGINE_INPUT_STREAM",
        "POLLER_SOURCE",
        "POLLER_WS_URL",
        "POLLER_ASSETS",
        "REPLAY_FILE",
        "REPLAY_SPEED",
        "SIM_SEED",
        "SIM_RATE_HZ",
        "METRICS_PORT",
        "POLLER_SILENCE_S",
        "POLLER_BATCH_MS",
    ]:
        assert name in out


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--source", "binance"], {}, "--source='binance'"),
        (["--speed", "fast"], {}, "--speed='fast'"),
        ([], {"POLLER_ASSETS": "BTC_USDC:99"}, "POLLER_ASSETS"),
        (["--no-such-flag"], {}, "unrecognized arguments"),
    ],
)
def test_bad_flags_exit_2_with_a_clear_error(args, env, message):
    proc = poller(*args, env=env)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert message in err
    assert "Traceback" not in err


def test_missing_replay_file_exits_2(tmp_path: Path, redis_url):
    proc = poller(
        "--source",
        "replay",
        "--replay-file",
        str(tmp_path / "absent.jsonl"),
        "--metrics-port",
        "0",
        "--redis-url",
        redis_url,
    )
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert "absent.jsonl" in err
    assert "Traceback" not in err


def test_taken_metrics_port_exits_2(redis_url):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        proc = poller(
            "--source",
            "sim",
            "--metrics-host",
            "127.0.0.1",
            "--metrics-port",
            str(port),
            "--redis-url",
            redis_url,
        )
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert "cannot start" in err


async def test_prices_left_unwritten_when_redis_stays_down_exit_1(monkeypatch):
    dead = f"redis://127.0.0.1:{free_port()}/0"
    monkeypatch.setattr(service, "DRAIN_TIMEOUT_S", 0.3)
    config = parse_config(["--source", "replay", "--speed", "0", "--metrics-port", "0"], {})
    config = replace(config, redis_url=dead)
    assert await service.run(config) == 1
