"""Stream trimming: never below the oldest kept snapshot, never below a consumer group's needs."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from engine.stream_ids import parse_id
from snapshots.store import SnapshotStore
from tests.integration.engine_harness import (
    COMMANDS,
    PRICES,
    EngineProcess,
    Feeder,
    responses_by_order,
    wait_for,
)


def _first_id(client: redis.Redis, stream: str) -> tuple[int, int] | None:
    first = client.xrange(stream, count=1)
    return parse_id(first[0][0].decode()) if first else None


def _trade_a_while(client: redis.Redis, engine: EngineProcess, rounds: int) -> list[str]:
    feed = Feeder(client)
    feed.command("CREATE_ACCOUNT", "trim@x.io")
    for i in range(rounds):
        feed.price("BTC_USDC", 1_000_000 + i)
        feed.command("GET_BALANCE", "trim@x.io")
        if i % 10 == 9:
            last = feed.sent[-1]
            wait_for(lambda last=last: last in responses_by_order(client), 20, "a response")
            engine.wait_event("snapshot_written")
    return feed.sent


def test_input_streams_are_trimmed_below_the_oldest_kept_snapshot_only(
    redis_url: str, tmp_path: Path, client: redis.Redis
) -> None:
    engine = EngineProcess(
        redis_url, tmp_path / "snaps", "--snapshot-interval-s", "0.1", "--snapshot-keep", "2"
    )
    try:
        engine.start()
        _trade_a_while(client, engine, 60)
        wait_for(lambda: engine.events("trimmed"), 20, "a trim")
        assert engine.terminate() == 0
    finally:
        engine.close()
    kept = [item.header for item in SnapshotStore(engine.snapshot_dir).listing()]
    assert len(kept) == 2 and all(kept)
    oldest = kept[0]
    assert oldest is not None
    # Something was trimmed, and the entries the oldest kept snapshot needs are all there.
    info = client.xinfo_stream(PRICES)
    assert info["entries-added"] > info["length"]
    for stream, position in ((PRICES, oldest.last_price_id), (COMMANDS, oldest.last_command_id)):
        first = _first_id(client, stream)
        assert first is not None and first <= parse_id(position)
    # And recovery from that oldest snapshot still works.
    for path in SnapshotStore(engine.snapshot_dir).paths()[1:]:
        path.unlink()
    engine.start(recover=True)
    try:
        assert engine.wait_event("snapshot_loaded")["seq"] == oldest.seq
        engine.wait_event("caught_up")
        assert not engine.events("history_trimmed")
        assert engine.terminate() == 0
    finally:
        engine.close()


def test_a_consumer_group_keeps_what_it_has_not_acknowledged(
    redis_url: str, tmp_path: Path, client: redis.Redis
) -> None:
    client.xgroup_create(COMMANDS, "worker", id="0", mkstream=True)
    engine = EngineProcess(
        redis_url, tmp_path / "snaps", "--snapshot-interval-s", "0.1", "--snapshot-keep", "1"
    )
    try:
        engine.start()
        sent = _trade_a_while(client, engine, 20)
        # The group reads some commands and acknowledges only the later ones of them.
        read = client.xreadgroup("worker", "w1", {COMMANDS: ">"}, count=8)[0][1]
        client.xack(COMMANDS, "worker", *[entry_id for entry_id, _ in read[3:]])
        oldest_pending = parse_id(read[0][0].decode())
        more = Feeder(client)
        for _ in range(15):
            more.command("GET_BALANCE", "trim@x.io")
        wait_for(lambda: more.sent[-1] in responses_by_order(client), 20, "a response")
        wait_for(lambda: any(e["stream"] == PRICES for e in engine.events("trimmed")), 20, "a trim")
        engine.wait_event("snapshot_written")
        assert engine.terminate() == 0
    finally:
        engine.close()
    assert sent
    first_command = _first_id(client, COMMANDS)
    assert first_command is not None and first_command <= oldest_pending
    assert len(client.xpending_range(COMMANDS, "worker", "-", "+", 100)) == 3
    # The price stream, read by no group, was trimmed up to the snapshot.
    [header] = [item.header for item in SnapshotStore(engine.snapshot_dir).listing()]
    assert header is not None
    first_price = _first_id(client, PRICES)
    assert first_price is not None
    assert parse_id(client.xrange(PRICES, count=1)[0][0].decode()) <= parse_id(header.last_price_id)


@pytest.mark.parametrize("removal", ["XDEL", "XTRIM"])
def test_trimmed_history_that_recovery_would_need_is_refused(
    redis_url: str, tmp_path: Path, client: redis.Redis, removal: str
) -> None:
    engine = EngineProcess(redis_url, tmp_path / "snaps", "--snapshot-interval-s", "3600")
    feed = Feeder(client)
    try:
        engine.start()
        feed.command("CREATE_ACCOUNT", "gap@x.io")
        feed.command("GET_BALANCE", "gap@x.io")
        wait_for(lambda: feed.sent[-1] in responses_by_order(client), 20, "a response")
        engine.kill()  # no snapshot: recovery would replay from the beginning
        first, second = [entry_id for entry_id, _ in client.xrange(COMMANDS, count=2)]
        if removal == "XDEL":  # someone deleted history the replay needs
            client.xdel(COMMANDS, first)
        else:
            client.xtrim(COMMANDS, minid=second.decode(), approximate=False)
        engine.start(recover=True)
        event = engine.wait_event("history_trimmed")
        assert event["stream"] == COMMANDS
        assert engine.wait() == 3
    finally:
        engine.close()
