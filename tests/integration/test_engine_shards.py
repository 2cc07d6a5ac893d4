"""Two engine shards, on one Redis and on a real 6-node Redis Cluster.

Each shard reads only its own streams; accounts land on both; ``kill -9`` of one shard's engine
under load leaves the other answering throughout, and the killed one recovers exactly: its
published outputs equal a fresh core fed its own input streams, every command answered once,
money conserved per shard.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from engine.shards import ShardMap
from tests.integration.engine_harness import wait_for
from tests.integration.shard_harness import (
    ShardLoad,
    answered,
    check_shard,
    client_for,
    engines,
    env_of,
)


@pytest.fixture(params=["redis", "cluster"])
def target(request: pytest.FixtureRequest) -> tuple[str, ShardMap]:
    if request.param == "redis":
        return request.getfixturevalue("redis_url"), ShardMap(2)
    return request.getfixturevalue("cluster_url"), ShardMap(2, cluster=True)


def test_killed_shard_recovers_exactly_while_the_other_keeps_answering(
    target: tuple[str, ShardMap], tmp_path: Path
) -> None:
    url, shards = target
    procs = engines(url, shards, tmp_path / "snapshots")
    client = client_for(url, shards.cluster)
    load = ShardLoad(url, shards, seed=20)
    try:
        for p in procs:
            p.start(env=env_of(shards))
        for p in procs:
            p.wait_event("caught_up")
        load.open_accounts()
        load.start()
        wait_for(lambda: len(load.sent[1]) > 150, 30, "load on shard 1")
        procs[1].wait_event("snapshot_written")
        procs[1].kill()
        # Shard 0 answers what is sent while shard 1 is down.
        before = len(load.sent[0])
        wait_for(lambda: len(load.sent[0]) > before + 100, 30, "load on shard 0")
        during = list(load.sent[0][before:])
        wait_for(lambda: answered(client, shards, 0, during), 30, "shard 0 answering")
        procs[1].start(recover=True, env=env_of(shards))
        procs[1].wait_event("caught_up")
        after = len(load.sent[1])
        wait_for(lambda: len(load.sent[1]) > after + 50, 30, "load after recovery")
        load.finish()
        for k in shards.all():
            sent = load.sent[k]
            wait_for(lambda k=k, sent=sent: answered(client, shards, k, sent), 60, f"shard {k}")
        for p in procs:
            assert p.terminate() == 0
        summaries = [check_shard(client, shards, k, load.sent[k]) for k in shards.all()]
        # Accounts on both shards, each with its own house account and deposits.
        assert all(s["deposits"] > 0 for s in summaries)
        assert all(p.events("stopped") for p in procs)
    finally:
        load.stop_event.set()
        for p in procs:
            p.close()
        client.close()
        time.sleep(0)
