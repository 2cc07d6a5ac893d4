"""Hostile entries against the real engine process: it stays up, keeps answering, keeps
snapshotting and exits cleanly; an operator can set an entry aside with --skip-entry."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.integration.engine_harness import (
    COMMANDS,
    PRICES,
    ROOT,
    EngineProcess,
    Feeder,
    newest_snapshot_state,
    responses_by_order,
    wait_for,
)

ALICE = "alice@x.io"


@pytest.fixture
def engine(redis_url: str, tmp_path: Path) -> Iterator[EngineProcess]:
    proc = EngineProcess(redis_url, tmp_path / "snaps", "--snapshot-interval-s", "0.2")
    yield proc
    proc.close()


def answer(client: redis.Redis, order_id: str) -> dict[str, object]:
    fields = wait_for(
        lambda: responses_by_order(client).get(order_id), 20, f"response to {order_id}"
    )[0]
    return {"status": fields[b"status"].decode(), "data": json.loads(fields[b"data"])}


def test_a_poison_price_entry_neither_stops_the_engine_nor_its_recovery(
    engine: EngineProcess, client: redis.Redis
) -> None:
    engine.start()
    feed = Feeder(client)
    feed.command("CREATE_ACCOUNT", ALICE, order_id="acc")
    deep = b'[{"asset":"ETH_USDC","price":30000000,"decimal":4,"x":' + b"[" * 3000
    deep += b"]" * 3000 + b"}]"
    client.xadd(
        PRICES, {"source": "x", "format": "base64_v1", "data": base64.b64encode(deep)}
    )
    feed.command("GET_USD_BALANCE", ALICE, order_id="witness")
    assert answer(client, "witness")["status"] == "success"
    engine.wait_event("snapshot_written")
    assert engine.terminate() == 0
    engine.start(recover=True)
    feed.command("GET_USD_BALANCE", ALICE, order_id="witness-2")
    assert answer(client, "witness-2")["status"] == "success"
    assert engine.terminate() == 0


def test_an_amount_past_its_range_is_refused_and_snapshots_go_on(
    engine: EngineProcess, client: redis.Redis
) -> None:
    engine.start()
    feed = Feeder(client)
    feed.price("BTC_USDC", 600_000_000)
    feed.command("CREATE_ACCOUNT", ALICE, order_id="acc")
    client.xadd(
        COMMANDS,
        {
            "orderId": "huge",
            "command": "CREATE_TRADE",
            "email": ALICE,
            "tradeData": json.dumps(
                {"asset": "BTC_USDC", "direction": "LONG", "margin": 10, "takeProfitPrice": 10**30}
            ),
        },
    )
    assert answer(client, "huge") == {
        "status": "error",
        "data": {"code": "INVALID_AMOUNT", "field": "takeProfitPrice"},
    }
    feed.price("BTC_USDC", 10**30)  # a price far past its range: refused, counted
    engine.wait_event("snapshot_written")
    assert engine.terminate() == 0  # the final snapshot is written
    state = newest_snapshot_state(engine.snapshot_dir)
    assert state.trades == {} and state.rejected["price_out_of_range"] == 1


def test_a_skipped_entry_is_never_applied_and_the_snapshot_remembers_it(
    engine: EngineProcess, client: redis.Redis
) -> None:
    feed = Feeder(client)
    feed.price("BTC_USDC", 600_000_000)
    feed.command("CREATE_ACCOUNT", ALICE, order_id="acc")
    feed.command(
        "CREATE_TRADE", ALICE, order_id="set-aside", asset="BTC_USDC", direction="LONG",
        margin="10",
    )
    entry_id = client.xrange(COMMANDS)[-1][0].decode()
    feed.command("GET_USD_BALANCE", ALICE, order_id="witness")
    engine.start("--skip-entry", f"command:{entry_id}")
    assert answer(client, "witness")["data"]["usdBalance"] == 5000
    assert "set-aside" not in responses_by_order(client)
    assert engine.terminate() == 0
    state = newest_snapshot_state(engine.snapshot_dir)
    assert state.quarantined == [f"command:{entry_id}"]
    assert state.rejected["quarantined"] == 1 and state.trades == {}


@pytest.mark.parametrize("value", ["engine_input:1-0", "price:abc", "command:1-x", "price:"])
def test_a_malformed_skip_entry_is_refused_with_a_clear_message(
    redis_url: str, tmp_path: Path, value: str
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "engine", "--redis-url", redis_url, "--snapshot-dir",
         str(tmp_path), "--skip-entry", value],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 2
    assert "--skip-entry" in done.stderr and "price:<entry ID>" in done.stderr
