"""``python -m gateway admin``: the operator CLI as a process, against the real engine process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import redis

from engine.messages import CREATE_ACCOUNT, Command
from engine.wire import encode_command
from tests.gateway.stack import ROOT, EngineProcess

pytest_plugins = ["tests.gateway.fixtures"]
OPS = "ops@example.com"


@pytest.fixture
def engine(redis_url: str, workdir: Path) -> Iterator[EngineProcess]:
    proc = EngineProcess(redis_url, workdir, ADMIN_EMAILS=OPS).start()
    yield proc
    proc.stop()


def cli(redis_url: str, *args: str, admins: str = OPS) -> tuple[int, Any, str]:
    """Run the CLI; (exit status, its stdout as JSON when it is, its stderr)."""
    env = {**os.environ, "REDIS_URL": redis_url, "ADMIN_EMAILS": admins,
           "ENGINE_TIMEOUT_MS": "5000"}
    done = subprocess.run(
        [sys.executable, "-m", "gateway", "admin", *args],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    out = json.loads(done.stdout, parse_float=Decimal) if done.stdout.strip() else None
    return done.returncode, out, done.stderr


def create_account(redis_url: str, email: str) -> None:
    client = redis.Redis.from_url(redis_url)
    try:
        command = Command("acct-" + email, CREATE_ACCOUNT, email, {}, int(time.time() * 1000))
        client.xadd("backend-to-engine", encode_command(command))  # type: ignore[arg-type]
    finally:
        client.close()


def test_cli_sends_each_command_and_prints_the_answer(redis_url: str, engine, priced):
    status, out, err = cli(redis_url, "state", "BTC_USDC", "HALTED", "--reason", "feed check")
    assert status == 0, err
    assert out["success"] is True
    assert out["engineResponse"]["data"]["state"] == "HALTED"
    create_account(redis_url, "alice@example.com")
    status, out, err = cli(redis_url, "adjust", "alice@example.com", "-0.5", "--reason",
                           "fee refund reversed", "--transaction-id", "cli-1")
    assert status == 0, err
    assert out["engineResponse"]["data"]["usdBalance"] == Decimal("4999.5")
    status, out, err = cli(redis_url, "limits", "--asset", "ETH_USDC", "--max-leverage", "50",
                           "--min-margin", "none")
    assert status == 0, err
    assert out["engineResponse"]["data"]["limits"]["maxLeverage"] == 50
    status, out, err = cli(redis_url, "report")
    assert status == 0, err
    report = out["engineResponse"]["data"]
    assert report["assets"]["BTC_USDC"]["state"] == "HALTED"
    assert report["assets"]["ETH_USDC"]["limits"]["maxLeverage"] == 50
    assert report["totals"]["conserved"] is True
    status, out, err = cli(redis_url, "force-close", "no-such-trade", "--reason", "x")
    assert status == 1, err  # the engine refused
    assert out["engineResponse"]["data"]["code"] == "TRADE_NOT_FOUND"


def test_cli_idempotency_key_returns_the_first_answer(redis_url: str, engine, priced):
    first = cli(redis_url, "--idempotency-key", "halt-1", "state", "SOL_USDC", "HALTED")
    again = cli(redis_url, "--idempotency-key", "halt-1", "state", "SOL_USDC", "OPEN")
    assert first[0] == 0 and again[0] == 0, (first[2], again[2])
    assert again[1]["orderId"] == first[1]["orderId"]
    assert again[1]["engineResponse"]["data"]["state"] == "HALTED"  # the first answer, unchanged
    assert cli(redis_url, "report")[1]["engineResponse"]["data"]["assets"]["SOL_USDC"][
        "state"
    ] == "HALTED"


def test_cli_refusals(redis_url: str, engine, priced):
    # Not in the CLI's list: refused before anything is sent.
    status, out, err = cli(redis_url, "--as", "eve@example.com", "report")
    assert (status, out) == (2, None) and "not one of ADMIN_EMAILS" in err
    status, out, err = cli(redis_url, "report", admins="")
    assert (status, out) == (2, None) and "ADMIN_EMAILS is empty" in err
    # Bad amounts and assets: the HTTP routes' validation, naming the field.
    status, _, err = cli(redis_url, "adjust", "a@b.io", "1.00001", "--reason", "r",
                         "--transaction-id", "t")
    assert status == 2 and "amount" in err and "4 decimals" in err
    status, _, err = cli(redis_url, "state", "DOGE_USDC", "HALTED")
    assert status == 2 and "asset" in err
    status, _, err = cli(redis_url, "limits", "--max-open-positions", "-3")
    assert status == 2 and "maxOpenPositionsPerAccount" in err
    # Trusted by this CLI's list but not by the engine's: the engine's FORBIDDEN, exit 1.
    status, out, err = cli(redis_url, "state", "BTC_USDC", "HALTED", admins="eve@example.com")
    assert status == 1, err
    assert out["engineResponse"]["data"]["code"] == "FORBIDDEN"
    # Nothing listening: no answer, exit 3.
    status, out, err = cli("redis://127.0.0.1:1/0", "report")
    assert (status, out) == (3, None) and "Redis unreachable" in err
