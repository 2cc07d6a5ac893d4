"""Aggregate engine throughput with 1 and 2 shards, on one Redis and on a 6-node Redis Cluster.

For each configuration: a private Redis (no persistence) or Redis Cluster (AOF everysec), a
backlog of ``--commands`` commands written first (accounts, then balance reads and trades,
spread over users of every shard, each to its owner's shard), then one engine per shard started
together; the figure is commands answered / seconds from the engines' start until the last
response is on its stream. The engines drain a backlog, so no producer competes for the cores.

    .venv/bin/python bench/shards.py [--commands 40000]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from devstack.redis_cluster import RedisClusterServers  # noqa: E402
from devstack.redis_server import RedisServer  # noqa: E402
from engine.messages import Command, PriceItem  # noqa: E402
from engine.shards import ShardMap  # noqa: E402
from engine.wire import encode_command, encode_price_batch  # noqa: E402
from tests.integration.shard_harness import client_for, users_of  # noqa: E402


def _load(client: Any, shards: ShardMap, total: int) -> None:
    users = {k: users_of(shards, k, 200, "bench") for k in shards.all()}
    price = encode_price_batch([PriceItem("BTC_USDC", 1_000_000, 4, 1_000_000, 1_000_500)], "b", 0)
    per_shard = total // shards.shards
    for k in shards.all():
        s = shards.streams(k)
        client.xadd(s.prices, price)
        pipe = client.pipeline(transaction=False)
        for i in range(per_shard):
            email = users[k][i % 200]
            if i < 200:
                cmd = Command(f"a{k}-{i}", "CREATE_ACCOUNT", email, {}, 0)
            elif i % 2:
                cmd = Command(f"b{k}-{i}", "GET_BALANCE", email, {}, 0)
            else:
                data = {"asset": "BTC_USDC", "direction": "LONG", "margin": "1", "leverage": 10}
                cmd = Command(f"t{k}-{i}", "CREATE_TRADE", email, data, 0)
            pipe.xadd(s.commands, encode_command(cmd))
            if i % 1000 == 999:
                pipe.execute()
                pipe = client.pipeline(transaction=False)
        pipe.execute()


def run(url: str, shards: ShardMap, total: int, work: Path) -> float:
    client = client_for(url, shards.cluster)
    _load(client, shards, total)
    per_shard = total // shards.shards
    env = {**os.environ, "SHARDS": str(shards.shards), "REDIS_CLUSTER": str(int(shards.cluster))}
    procs = []
    began = time.monotonic()
    for k in shards.all():
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "engine", "--redis-url", url, "--shard", str(k),
             "--snapshot-dir", str(work / "snaps"), "--metrics-port", "0",
             "--snapshot-interval-s", "30", "--log-level", "warning"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        ))  # fmt: skip
    try:
        while any(client.xlen(shards.streams(k).responses) < per_shard for k in shards.all()):
            time.sleep(0.01)
        return total / (time.monotonic() - began)
    finally:
        for p in procs:
            p.terminate()
            p.wait(timeout=60)
        client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commands", type=int, default=40_000)
    args = parser.parse_args()
    print(f"cores: {os.cpu_count()}; load average at start: {os.getloadavg()[0]:.2f}")
    print(f"{args.commands} commands per run (engine start included)")
    for cluster in (False, True):
        for n in (1, 2):
            with tempfile.TemporaryDirectory() as tmp:
                server: Any = (
                    RedisClusterServers(appendfsync="everysec") if cluster else RedisServer()
                )
                with server:
                    rate = run(server.url, ShardMap(n, cluster), args.commands, Path(tmp))
            where = "6-node Redis Cluster" if cluster else "single Redis"
            print(f"{where:22} shards={n}: {rate:,.0f} commands/s")


if __name__ == "__main__":
    main()
