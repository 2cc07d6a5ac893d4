"""The shard map: stable placement, documented names with one shard, one slot per shard."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from redis.crc import key_slot

from engine.shards import ShardError, ShardMap, from_env, stable_hash


def test_stable_hash_is_pinned_so_a_python_upgrade_cannot_move_accounts() -> None:
    # Values fixed once: an account's shard must never change across versions or processes.
    assert stable_hash("alice@example.com") == 18414541688758211263
    assert stable_hash("bob@example.com") == 6915383601577089388
    assert stable_hash("é@x.io") == 13944689448599261083


def test_placement_is_the_same_in_processes_with_other_hash_seeds() -> None:
    emails = [f"user{i}@example.com" for i in range(50)]
    here = [ShardMap(7).of(e) for e in emails]
    code = (
        "from engine.shards import ShardMap;"
        "print([ShardMap(7).of(f'user{i}@example.com') for i in range(50)])"
    )
    for seed in ("1", "2", "random"):
        out = subprocess.run(
            [sys.executable, "-c", code],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert out.strip() == str(here)


def test_accounts_spread_over_every_shard() -> None:
    counts = [0, 0, 0, 0]
    for i in range(4000):
        counts[ShardMap(4).of(f"trader-{i}@example.com")] += 1
    assert all(800 < c < 1200 for c in counts), counts


def test_one_shard_on_plain_redis_keeps_the_documented_names() -> None:
    m = ShardMap()
    s = m.streams(0)
    assert (s.prices, s.commands, s.responses, s.events) == (
        "engine_input",
        "backend-to-engine",
        "engine_response",
        "engine_events",
    )
    assert m.heartbeat(0) == "engine:heartbeat"
    assert m.snapshot_dir("/x/snaps", 0) == "/x/snaps"
    assert m.of("anyone@example.com") == 0


@pytest.mark.parametrize("m", [ShardMap(2), ShardMap(1, cluster=True), ShardMap(3, cluster=True)])
def test_each_shards_keys_share_one_hash_slot(m: ShardMap) -> None:
    for shard in m.all():
        s = m.streams(shard)
        keys = [s.prices, s.commands, s.responses, s.events, m.heartbeat(shard)]
        assert all(k.startswith(f"{{shard-{shard}}}") for k in keys)
        assert len({key_slot(k.encode()) for k in keys}) == 1


def test_shards_get_their_own_snapshot_folders() -> None:
    m = ShardMap(2)
    assert m.snapshot_dir("/s", 0) == "/s/shard-0"
    assert m.snapshot_dir("/s", 1) == "/s/shard-1"


def test_malformed_settings_are_refused_by_name() -> None:
    with pytest.raises(ShardError, match="SHARDS"):
        from_env({"SHARDS": "0"})
    with pytest.raises(ShardError, match="SHARDS"):
        from_env({"SHARDS": "two"})
    with pytest.raises(ShardError, match="REDIS_CLUSTER"):
        from_env({"REDIS_CLUSTER": "maybe"})
    with pytest.raises(ShardError, match="outside"):
        ShardMap(2).streams(2)
    assert from_env({}) == ShardMap(1, False)
    assert from_env({"SHARDS": "2", "REDIS_CLUSTER": "1"}) == ShardMap(2, True)
