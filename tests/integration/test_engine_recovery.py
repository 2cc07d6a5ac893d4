"""Crash recovery: kill -9 under load, damaged snapshots, and determinism errors.

The check after each scenario is the strongest one available: every published output, in
``seq`` order, equals what a fresh core outputs when fed the two input streams as they stand,
and the final state is byte-identical to that fresh core's. So no output was lost, duplicated or
altered by the crashes, and the recovered state is exact.
"""

from __future__ import annotations

import random
import shutil
import threading
import time
from pathlib import Path

import msgspec
import pytest
import redis

from engine.messages import Command, PriceItem
from engine.wire import encode_command, encode_price_batch
from snapshots.store import SnapshotStore
from tests.integration.engine_harness import (
    COMMANDS,
    PRICES,
    RESPONSES,
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

ASSETS = ("BTC_USDC", "ETH_USDC")


class Load(threading.Thread):
    """Steady random trading from a handful of users, plus a price random walk."""

    def __init__(self, url: str, seed: int, commands_per_s: int = 300, ticks_per_s: int = 60):
        super().__init__(daemon=True)
        self.client = redis.Redis.from_url(url)
        self.rng = random.Random(seed)
        self.commands_per_s = commands_per_s
        self.ticks_per_s = ticks_per_s
        self.sent: list[str] = []
        self.stop_event = threading.Event()
        self.prices = {"BTC_USDC": 1_000_000, "ETH_USDC": 2_000_000}
        self.users = [f"user{i}@x.io" for i in range(12)]
        self.error: BaseException | None = None

    def _command(self, pipe, name: str, email: str, **data) -> None:
        order_id = f"L{len(self.sent)}"
        pipe.xadd(COMMANDS, encode_command(Command(order_id, name, email, data, 0)))
        self.sent.append(order_id)

    def _tick(self, pipe) -> None:
        asset = self.rng.choice(ASSETS)
        price = self.prices[asset]
        price = max(1000, price + self.rng.randint(-price // 150, price // 150))
        self.prices[asset] = price
        item = PriceItem(asset, price, 4, price, price + price // 2000)
        pipe.xadd(PRICES, encode_price_batch([item], "load", 0))

    def _trade(self, pipe) -> None:
        rng = self.rng
        asset = rng.choice(ASSETS)
        price = self.prices[asset]
        is_long = rng.random() < 0.5
        data = {
            "asset": asset,
            "margin": str(rng.randint(1, 40)),
            "direction": "LONG" if is_long else "SHORT",
            "leverage": rng.choice([10, 50, 200]),
        }
        if rng.random() < 0.6:
            off = price * rng.randint(2, 20) // 1000
            data["stopLossPrice"] = price - off if is_long else price + off
            data["takeProfitPrice"] = price + off if is_long else price - off
        self._command(pipe, "CREATE_TRADE", rng.choice(self.users), **data)

    def run(self) -> None:
        try:
            pipe = self.client.pipeline(transaction=False)
            self._tick(pipe)
            self._tick(pipe)
            for user in self.users:
                self._command(pipe, "CREATE_ACCOUNT", user)
            pipe.execute()
            step = 0.01
            while not self.stop_event.is_set():
                pipe = self.client.pipeline(transaction=False)
                for _ in range(max(1, int(self.ticks_per_s * step))):
                    self._tick(pipe)
                for _ in range(max(1, int(self.commands_per_s * step))):
                    roll = self.rng.random()
                    if roll < 0.5:
                        self._trade(pipe)
                    elif roll < 0.8:
                        trade = self.rng.choice(self.sent)
                        self._command(
                            pipe, "CLOSE_TRADE", self.rng.choice(self.users), tradeId=trade
                        )
                    else:
                        self._command(pipe, "GET_BALANCE", self.rng.choice(self.users))
                pipe.execute()
                time.sleep(step)
        except BaseException as exc:  # surfaced by the test
            self.error = exc

    def finish(self) -> list[str]:
        self.stop_event.set()
        self.join(timeout=30)
        self.client.close()
        assert self.error is None, self.error
        return self.sent


def _all_answered(client: redis.Redis, sent: list[str], timeout: float) -> dict[str, list]:
    def done() -> dict[str, list] | None:
        answers = responses_by_order(client)
        return answers if all(order in answers for order in sent) else None

    return wait_for(done, timeout, f"responses to all {len(sent)} commands", every=0.2)


def _check_exact(client: redis.Redis, snapshot_dir: Path, sent: list[str]) -> None:
    answers = responses_by_order(client)
    assert {order: len(answers.get(order, [])) for order in sent} == dict.fromkeys(sent, 1)
    replayed, outputs = replay_from_scratch(client)
    assert published(client) == outputs
    assert_same_state(newest_snapshot_state(snapshot_dir), replayed.state)
    assert conserved(replayed)


@pytest.mark.slow
def test_kill_9_at_random_moments_under_load_loses_and_duplicates_nothing(
    redis_url: str, tmp_path: Path, client: redis.Redis
) -> None:
    rng = random.Random(20240613)
    engine = EngineProcess(
        redis_url, tmp_path / "snaps", "--snapshot-interval-s", "0.25", "--trim-streams", "false"
    )
    load = Load(redis_url, seed=7)
    kills = 0
    try:
        engine.start()
        load.start()
        deadline = time.monotonic() + 45
        while kills < 12 and time.monotonic() < deadline:
            time.sleep(rng.uniform(0.15, 1.6))
            engine.kill()
            kills += 1
            engine.start(recover=True)
        sent = load.finish()
        _all_answered(client, sent, timeout=90)
        engine.wait_event("caught_up", timeout=60)
        assert engine.terminate() == 0, engine.tail()
    finally:
        load.stop_event.set()
        engine.close()
    assert kills >= 10
    log = engine.events(since_start=False)
    assert not [e for e in log if e["event"] in ("determinism_error", "core_exception")]
    verified = sum(e.get("verified_outputs", 0) for e in log if e["event"] == "caught_up")
    assert verified > 0  # recoveries did compare re-computed outputs with published ones
    _check_exact(client, engine.snapshot_dir, sent)


def _run_with_snapshots(redis_url: str, client: redis.Redis, snaps: Path) -> list[str]:
    """An engine that writes several snapshots under some trading, stopped with SIGTERM."""
    engine = EngineProcess(
        redis_url,
        snaps,
        "--snapshot-interval-s",
        "0.1",
        "--trim-streams",
        "false",
        "--snapshot-keep",
        "50",
    )
    load = Load(redis_url, seed=11, commands_per_s=200)
    try:
        engine.start()
        load.start()
        wait_for(lambda: len(SnapshotStore(snaps).paths()) >= 4, 30, "four snapshots", 0.05)
        sent = load.finish()
        _all_answered(client, sent, timeout=60)
        # More entries after the last periodic snapshot, so a fallback has something to replay.
        engine.kill()
        feed = Feeder(client)
        feed.price("BTC_USDC", 1_010_000)
        sent.append(feed.command("GET_BALANCE", "user1@x.io"))
        engine.start(recover=True)
        _all_answered(client, sent, timeout=60)
        engine.wait_event("caught_up", timeout=60)
        assert engine.terminate() == 0
    finally:
        load.stop_event.set()
        engine.close()
    return sent


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _flip_payload_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) - 40] ^= 0x20
    path.write_bytes(bytes(data))


def _flip_header_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[data.index(b'"seq":') + 6] ^= 0x01  # a digit of the sequence number
    path.write_bytes(bytes(data))


def _unknown_version(path: Path) -> None:
    line, rest = path.read_bytes().split(b"\n", 1)
    raw = msgspec.json.decode(line)
    raw["version"] = 7
    path.write_bytes(msgspec.json.encode(raw) + b"\n" + rest)


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _not_gzip(path: Path) -> None:
    line = path.read_bytes().split(b"\n", 1)[0]
    path.write_bytes(line + b"\nthis is not gzip at all")


DAMAGE = {
    "truncated": _truncate,
    "flipped payload byte": _flip_payload_byte,
    "flipped header byte": _flip_header_byte,
    "unknown version": _unknown_version,
    "empty": _empty,
    "not gzip": _not_gzip,
}


@pytest.mark.slow
def test_a_damaged_newest_snapshot_falls_back_and_ends_in_the_same_state(
    redis_url: str, tmp_path: Path, client: redis.Redis
) -> None:
    original = tmp_path / "original"
    sent = _run_with_snapshots(redis_url, client, original)
    final = newest_snapshot_state(original)
    for name, damage in DAMAGE.items():
        snaps = tmp_path / name.replace(" ", "-")
        shutil.copytree(original, snaps, symlinks=True)
        newest = SnapshotStore(snaps).paths()[-1]
        damage(newest)
        engine = EngineProcess(redis_url, snaps, "--trim-streams", "false")
        try:
            engine.start(recover=True)
            skipped = engine.wait_event("snapshot_skipped")
            assert skipped["path"] == str(newest), name
            loaded = engine.wait_event("snapshot_loaded")
            assert loaded["path"] != str(newest) and loaded["seq"] <= final.seq
            engine.wait_event("caught_up")
            assert engine.terminate() == 0, name
        finally:
            engine.close()
        assert not engine.events("determinism_error")
        assert_same_state(newest_snapshot_state(snaps), final)
    _check_exact(client, original, sent)


@pytest.mark.slow
def test_no_valid_snapshot_at_all_replays_from_the_beginning(
    redis_url: str, tmp_path: Path, client: redis.Redis
) -> None:
    original = tmp_path / "original"
    sent = _run_with_snapshots(redis_url, client, original)
    final = newest_snapshot_state(original)
    for path in SnapshotStore(original).paths():
        _truncate(path)
    engine = EngineProcess(redis_url, original, "--trim-streams", "false")
    try:
        engine.start(recover=True)
        engine.wait_event("no_valid_snapshot")
        caught_up = engine.wait_event("caught_up", timeout=60)
        assert caught_up["replayed_entries"] > len(sent)
        assert caught_up["verified_outputs"] == final.seq
        assert engine.terminate() == 0
    finally:
        engine.close()
    assert_same_state(newest_snapshot_state(original), final)


def _tamper_with_one_response(client: redis.Redis) -> None:
    """Rewrite engine_response with the same IDs and one response's data changed."""
    entries = client.xrange(RESPONSES)
    victim = len(entries) // 2
    client.delete(RESPONSES)
    for i, (entry_id, fields) in enumerate(entries):
        if i == victim:
            fields = dict(fields)
            fields[b"message"] = b"this is not what the engine said"
        client.xadd(RESPONSES, fields, id=entry_id)


@pytest.mark.parametrize("continue_on_mismatch", [False, True])
def test_a_replayed_output_that_differs_from_the_published_one_is_a_loud_error(
    redis_url: str, tmp_path: Path, client: redis.Redis, continue_on_mismatch: bool
) -> None:
    engine = EngineProcess(redis_url, tmp_path / "snaps", "--snapshot-interval-s", "3600")
    feed = Feeder(client)
    engine.start()
    feed.price("BTC_USDC", 1_000_000)
    for i in range(6):
        feed.command("CREATE_ACCOUNT", f"m{i}@x.io")
    _all_answered(client, feed.sent, timeout=30)
    engine.kill()  # no snapshot at all: recovery replays from the beginning
    _tamper_with_one_response(client)
    extra = ["--continue-on-mismatch"] if continue_on_mismatch else []
    try:
        engine.start(*extra, recover=True)
        error = engine.wait_event("determinism_error") if not continue_on_mismatch else None
        if continue_on_mismatch:
            engine.wait_event("caught_up")
            assert engine.events("determinism_error")
            assert engine.terminate() == 0
        else:
            assert engine.wait() == 3
            assert error is not None and error["published"]["message"].startswith("this is not")
            assert not SnapshotStore(engine.snapshot_dir).paths()  # nothing suspect was saved
    finally:
        engine.close()
    # Nothing was published twice either way.
    answers = responses_by_order(client)
    assert all(len(answers[order]) == 1 for order in feed.sent)
