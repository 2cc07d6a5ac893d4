"""The engine daemon on a real Redis: commands, triggers, bad input, metrics, start and stop."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
import redis

from devstack.ports import free_port
from tests.integration.engine_harness import (
    EVENTS,
    PRICES,
    EngineProcess,
    Feeder,
    assert_same_state,
    conserved,
    newest_snapshot_state,
    published,
    replay_from_scratch,
    responses_by_order,
    wait_for,
)


@pytest.fixture
def engine(redis_url: str, tmp_path: Path) -> Iterator[EngineProcess]:
    proc = EngineProcess(redis_url, tmp_path / "snaps", "--snapshot-interval-s", "0.2")
    yield proc
    proc.close()


def _response(client: redis.Redis, order_id: str, timeout: float = 20.0) -> dict:
    fields = wait_for(
        lambda: responses_by_order(client).get(order_id), timeout, f"response to {order_id}"
    )[0]
    return {
        "status": fields[b"status"].decode(),
        "data": json.loads(fields[b"data"], parse_float=Decimal),
        "message": fields[b"message"].decode(),
        "seq": int(fields[b"seq"]),
    }


def _events(client: redis.Redis) -> list[dict[str, str]]:
    return [{k.decode(): v.decode() for k, v in f.items()} for _, f in client.xrange(EVENTS)]


def _check_published_equals_replay(client: redis.Redis) -> None:
    engine, outputs = replay_from_scratch(client)
    assert published(client) == outputs
    assert conserved(engine)


def test_a_command_gets_its_response_end_to_end(engine: EngineProcess, client: redis.Redis) -> None:
    engine.start()
    feed = Feeder(client)
    feed.price("BTC_USDC", 1_000_000, 1_000_100)
    created = feed.command("CREATE_ACCOUNT", "alice@x.io")
    trade = feed.command(
        "CREATE_TRADE", "alice@x.io", asset="BTC_USDC", margin="100", direction="LONG", leverage=20
    )
    balance = feed.command("GET_USD_BALANCE", "alice@x.io")
    assert _response(client, created)["status"] == "success"
    opened = _response(client, trade)
    assert opened["status"] == "success", opened
    assert opened["data"]["entryPrice"] == Decimal("100.01")
    usd = _response(client, balance)
    assert usd["data"]["usdBalance"] == 5000 - 100
    assert usd["data"]["lockedUsd"] == 100
    assert engine.terminate() == 0
    _check_published_equals_replay(client)


def test_ticks_fire_stop_loss_take_profit_and_liquidation(
    engine: EngineProcess, client: redis.Redis
) -> None:
    engine.start()
    feed = Feeder(client)
    feed.price("ETH_USDC", 2_000_000)
    feed.command("CREATE_ACCOUNT", "bob@x.io")
    sl = feed.command(
        "CREATE_TRADE",
        "bob@x.io",
        asset="ETH_USDC",
        margin="50",
        direction="LONG",
        leverage=10,
        stopLossPrice="190",
    )
    tp = feed.command(
        "CREATE_TRADE",
        "bob@x.io",
        asset="ETH_USDC",
        margin="50",
        direction="SHORT",
        leverage=10,
        takeProfitPrice="195",
    )
    liq = feed.command(
        "CREATE_TRADE", "bob@x.io", asset="ETH_USDC", margin="50", direction="LONG", leverage=1000
    )
    for order in (sl, tp, liq):
        assert _response(client, order)["status"] == "success"
    feed.price("ETH_USDC", 1_975_000)  # -1.25%: the 100x long is liquidated
    feed.price("ETH_USDC", 1_890_000)  # through the short's target and the long's stop

    def exits() -> dict[str, str]:
        return {
            e["tradeId"]: e["eventType"]
            for e in _events(client)
            if e["eventType"] not in ("TRADE_OPENED", "ACCOUNT_CREATED")
        }

    wait_for(lambda: len(exits()) == 3, 20, "three trigger events", every=0.05)
    fired = exits()
    assert fired == {sl: "TRADE_STOP_LOSS", tp: "TRADE_TAKE_PROFIT", liq: "TRADE_LIQUIDATED"}
    assert engine.terminate() == 0
    _check_published_equals_replay(client)


def test_a_repeated_order_id_gets_the_original_answer_and_changes_nothing(
    engine: EngineProcess, client: redis.Redis
) -> None:
    engine.start()
    feed = Feeder(client)
    feed.price("SOL_USDC", 1_500_000)
    feed.command("CREATE_ACCOUNT", "carol@x.io")
    for _ in range(2):
        feed.command(
            "CREATE_TRADE",
            "carol@x.io",
            order_id="same-order",
            asset="SOL_USDC",
            margin="10",
            direction="LONG",
            leverage=10,
        )
    balance = feed.command("GET_USD_BALANCE", "carol@x.io")
    _response(client, balance)
    answers = responses_by_order(client)["same-order"]
    assert len(answers) == 2
    assert answers[0][b"data"] == answers[1][b"data"]
    assert answers[0][b"status"] == answers[1][b"status"] == b"success"
    opened = [e for e in _events(client) if e["eventType"] == "TRADE_OPENED"]
    assert len(opened) == 1
    assert _response(client, balance)["data"]["lockedUsd"] == 10
    assert engine.terminate() == 0


def test_malformed_entries_on_both_streams_are_answered_or_counted_and_the_engine_goes_on(
    redis_url: str, tmp_path: Path, client: redis.Redis
) -> None:
    port = free_port()
    engine = EngineProcess(redis_url, tmp_path / "snaps")
    engine.start("--metrics-port", str(port))
    try:
        feed = Feeder(client)
        client.xadd(PRICES, {"garbage": "yes"})
        client.xadd(PRICES, {"data": "!!!not base64", "format": "base64_v1"})
        client.xadd(PRICES, {"data": "W10=", "format": "base64_v1"})  # empty list
        client.xadd(PRICES, {"data": "e30=", "format": "base64_v2"})
        client.xadd(PRICES, {"data": b"\xff\xfe"})
        client.xadd("backend-to-engine", {"nothing": "useful"})
        client.xadd(
            "backend-to-engine",
            {
                "orderId": "bad-json",
                "command": "CREATE_TRADE",
                "email": "d@x.io",
                "tradeData": "{not json",
            },
        )
        client.xadd("backend-to-engine", {"orderId": "no-command", "email": "d@x.io"})
        client.xadd(
            "backend-to-engine",
            {"orderId": "weird", "command": "DROP_TABLES", "email": "d@x.io", "tradeData": "{}"},
        )
        client.xadd("backend-to-engine", {"orderId": b"\xff\xfe", "command": "GET_BALANCE"})
        client.xadd("backend-to-engine", {"orderId": "x" * 70_000, "command": "GET_BALANCE"})
        ok = feed.command("CREATE_ACCOUNT", "d@x.io")
        assert _response(client, ok)["status"] == "success"
        for order in ("bad-json", "no-command", "weird"):
            assert _response(client, order)["status"] == "error"
        text = wait_for(lambda: _metrics(port), 10, "metrics")
        rejected = _samples(text, "engine_rejected_entries_total")
        assert sum(rejected.values()) >= 7
        assert _samples(text, "engine_ticks_applied_total")[""] == 5
        assert _samples(text, "engine_commands_applied_total")[""] == 7
        assert engine.terminate() == 0
    finally:
        engine.close()
    _check_published_equals_replay(client)


def _metrics(port: int, path: str = "/metrics") -> str | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as reply:
            return reply.read().decode()
    except (urllib.error.URLError, ConnectionError):
        return None


def _samples(text: str, name: str) -> dict[str, float]:
    """``{labels: value}`` of one metric in the Prometheus text format."""
    out = {}
    for line in text.splitlines():
        if line.startswith(name):
            key, _, value = line.rpartition(" ")
            labels = key[len(name) :]
            if labels == "" or labels.startswith("{"):
                out[labels.strip("{}")] = float(value)
    return out


def test_metrics_endpoint_reports_and_shrugs_off_bad_requests(
    redis_url: str, tmp_path: Path, client: redis.Redis
) -> None:
    port = free_port()
    engine = EngineProcess(redis_url, tmp_path / "snaps", "--snapshot-interval-s", "0.2")
    engine.start("--metrics-port", str(port))
    try:
        feed = Feeder(client)
        feed.price("BTC_USDC", 1_000_000)
        feed.command("CREATE_ACCOUNT", "e@x.io")
        last = feed.command(
            "CREATE_TRADE", "e@x.io", asset="BTC_USDC", margin="1", direction="LONG", leverage=10
        )
        _response(client, last)
        engine.wait_event("snapshot_written")
        text = wait_for(lambda: _metrics(port), 10, "metrics")
        assert _samples(text, "engine_open_positions")[""] == 1
        assert _samples(text, "engine_commands_applied_total")[""] == 2
        assert _samples(text, "engine_snapshot_duration_seconds_count")[""] >= 1
        assert 0 <= _samples(text, "engine_snapshot_age_seconds")[""] < 600
        assert 'stream="engine_response"' in text
        states = _samples(text, "engine_market_state")
        assert states['asset="BTC_USDC",state="OPEN"'] == 1
        assert states['asset="BTC_USDC",state="HALTED"'] == 0
        # 1 USD at 1x: 1 USD of notional
        assert _samples(text, "engine_open_interest_usd")['asset="BTC_USDC"'] == 1
        with pytest.raises(urllib.error.HTTPError) as exc:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/nope", timeout=5)
        assert exc.value.code == 404
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(b"\x00\xff garbage without an end of headers" * 10)
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(b"GET /metrics HTTP/1.1\r\n" + b"X: " + b"y" * 40_000 + b"\r\n\r\n")
        assert _metrics(port) is not None  # still serving
        assert client.get("engine:heartbeat") is not None
        assert engine.terminate() == 0
    finally:
        engine.close()


def test_sigterm_writes_a_final_snapshot_and_a_restart_has_nothing_to_replay(
    engine: EngineProcess, client: redis.Redis
) -> None:
    engine.start("--snapshot-interval-s", "3600")
    feed = Feeder(client)
    feed.price("BTC_USDC", 1_000_000)
    feed.command("CREATE_ACCOUNT", "f@x.io")
    last = feed.command(
        "CREATE_TRADE", "f@x.io", asset="BTC_USDC", margin="5", direction="SHORT", leverage=30
    )
    _response(client, last)
    assert engine.terminate() == 0
    stopped = engine.events("stopped")[-1]
    state = newest_snapshot_state(engine.snapshot_dir)
    assert state.seq == stopped["seq"] == int(published(client)[-1][1][b"seq"])
    assert engine.events("snapshot_written")
    engine.start(recover=True)
    loaded = engine.wait_event("snapshot_loaded")
    assert loaded["seq"] == state.seq
    caught_up = engine.wait_event("caught_up")
    assert caught_up["replayed_entries"] == 0
    assert not engine.events("replay_started")
    assert engine.terminate() == 0
    assert_same_state(newest_snapshot_state(engine.snapshot_dir), state)
    replayed, _ = replay_from_scratch(client)
    assert_same_state(replayed.state, state)


def test_snapshots_present_without_recover_refuse_to_start_naming_recover(
    engine: EngineProcess, client: redis.Redis
) -> None:
    engine.start()
    feed = Feeder(client)
    _response(client, feed.command("CREATE_ACCOUNT", "g@x.io"))
    assert engine.terminate() == 0
    engine.start()
    assert engine.wait() == 2
    assert "--recover" in engine.tail()
    assert engine.events("refusing_to_start")


def test_a_second_engine_on_the_same_snapshot_directory_is_refused(
    engine: EngineProcess, redis_url: str
) -> None:
    engine.start()
    engine.wait_event("caught_up")
    other = EngineProcess(redis_url, engine.snapshot_dir, log=engine.log.with_suffix(".2"))
    other.start()
    try:
        assert other.wait() == 2
        assert other.events("snapshot_dir_unusable")
    finally:
        other.close()
    assert engine.terminate() == 0


def test_the_engine_waits_for_redis_to_appear(tmp_path: Path) -> None:
    from devstack.redis_server import RedisServer

    port = free_port()
    engine = EngineProcess(f"redis://127.0.0.1:{port}/0", tmp_path / "snaps")
    engine.start()
    try:
        engine.wait_event("redis_unavailable")
        with RedisServer(port=port) as server:
            client = server.client()
            feed = Feeder(client)
            order = feed.command("CREATE_ACCOUNT", "h@x.io")
            assert _response(client, order)["status"] == "success"
            assert engine.terminate() == 0
            client.close()
    finally:
        engine.close()


def test_a_busy_metrics_port_is_refused_with_a_message(redis_url: str, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        engine = EngineProcess(redis_url, tmp_path / "snaps")
        try:
            engine.start("--metrics-port", str(taken.getsockname()[1]))
            assert engine.wait() == 2
            assert engine.events("metrics_port_unusable")
        finally:
            engine.close()
