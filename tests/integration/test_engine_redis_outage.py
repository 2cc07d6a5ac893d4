"""Redis killed and restarted under load (AOF, appendfsync always): no acknowledged command lost.

A producer sends commands in small pipelines; a pipeline Redis acknowledged is "acknowledged",
one that failed midway is "unknown" (some of it may have been written). Afterwards every
acknowledged command has exactly one response, no command has two, and everything published
equals a from-scratch replay of the input streams.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from devstack.redis_server import RedisServer
from engine.messages import Command
from engine.wire import encode_command
from tests.integration.engine_harness import (
    COMMANDS,
    EngineProcess,
    Feeder,
    assert_same_state,
    newest_snapshot_state,
    published,
    replay_from_scratch,
    responses_by_order,
    wait_for,
)


class Producer(threading.Thread):
    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        # No client-side retries: a resent pipeline would make "acknowledged" meaningless.
        self.client = redis.Redis.from_url(url, retry=Retry(NoBackoff(), 0), socket_timeout=5)
        self.acknowledged: list[str] = []
        self.unknown: list[str] = []
        self.failures = 0
        self.stop_event = threading.Event()
        self.n = 0

    def run(self) -> None:
        users = [f"u{i}@x.io" for i in range(8)]
        while not self.stop_event.is_set():
            batch = []
            pipe = self.client.pipeline(transaction=False)
            for _ in range(5):
                self.n += 1
                order_id = f"P{self.n}"
                user = users[self.n % len(users)]
                name = "CREATE_ACCOUNT" if self.n <= len(users) else "GET_BALANCE"
                pipe.xadd(COMMANDS, encode_command(Command(order_id, name, user, {}, 0)))
                batch.append(order_id)
            try:
                pipe.execute()
                self.acknowledged += batch
            except (redis.RedisError, OSError):
                self.unknown += batch
                self.failures += 1
                time.sleep(0.05)
            time.sleep(0.005)

    def finish(self) -> None:
        self.stop_event.set()
        self.join(timeout=30)
        self.client.close()


@pytest.mark.slow
def test_redis_killed_and_restarted_under_load_loses_no_acknowledged_command(
    tmp_path: Path,
) -> None:
    with RedisServer(appendonly=True, appendfsync="always") as server:
        engine = EngineProcess(
            server.url,
            tmp_path / "snaps",
            "--snapshot-interval-s",
            "0.3",
            "--trim-streams",
            "false",
        )
        producer = Producer(server.url)
        try:
            engine.start()
            engine.wait_event("caught_up")
            producer.start()
            time.sleep(1.0)
            server.kill()  # SIGKILL: only what was fsynced survives
            time.sleep(0.5)
            server.start()
            engine.wait_event("redis_available", timeout=30)
            time.sleep(1.0)
            server.restart()  # and a clean restart too
            time.sleep(1.0)
            producer.finish()
            client = server.client()
            wait_for(
                lambda: set(producer.acknowledged) <= responses_by_order(client).keys(),
                60,
                "responses to every acknowledged command",
                every=0.2,
            )
            feed = Feeder(client)  # one last command proves the engine is live
            last = feed.command("GET_BALANCE", "u1@x.io")
            wait_for(lambda: last in responses_by_order(client), 30, "a last response")
            assert engine.terminate() == 0, engine.tail()
        finally:
            producer.stop_event.set()
            engine.close()
        assert producer.failures > 0  # the outage did hit the producer
        assert len(engine.events("redis_unavailable")) >= 2
        answers = responses_by_order(client)
        assert {o: len(answers.get(o, [])) for o in producer.acknowledged} == dict.fromkeys(
            producer.acknowledged, 1
        )
        assert all(len(v) == 1 for v in answers.values())
        assert set(answers) <= set(producer.acknowledged) | set(producer.unknown) | {last}
        replayed, outputs = replay_from_scratch(client)
        assert published(client) == outputs
        assert_same_state(newest_snapshot_state(engine.snapshot_dir), replayed.state)
        client.close()
