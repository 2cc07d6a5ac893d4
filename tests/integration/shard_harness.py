"""Several engine shards in tests: a client for a plain Redis or a cluster, load, and checks.

``ShardLoad`` trades steadily as users of every shard (each command to its owner's shard, each
price to every shard), as the gateway and the poller do; ``check_shard`` runs the recovery check
of ``engine_harness`` per shard: the shard's published outputs equal a fresh core fed that
shard's own input streams, every command answered exactly once, money conserved.
"""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path
from typing import Any

import redis
from redis.cluster import RedisCluster

from engine.messages import Command, PriceItem
from engine.shards import ShardMap
from engine.wire import encode_command, encode_price_batch
from tests.integration.engine_harness import (
    EngineProcess,
    conserved,
    published,
    replay_from_scratch,
    responses_by_order,
)

ASSETS = ("BTC_USDC", "ETH_USDC")


def client_for(url: str, cluster: bool) -> Any:
    """A synchronous redis-py client: the cluster client on a Redis Cluster."""
    if cluster:
        return RedisCluster.from_url(url, socket_timeout=10)
    return redis.Redis.from_url(url, socket_timeout=10)


def users_of(shards: ShardMap, shard: int, count: int, prefix: str = "user") -> list[str]:
    """``count`` emails that the shard map places on ``shard``."""
    out, i = [], 0
    while len(out) < count:
        email = f"{prefix}{i}@x.io"
        if shards.of(email) == shard:
            out.append(email)
        i += 1
    return out


def engines(
    url: str, shards: ShardMap, base: Path, *extra: str, interval: str = "0.2"
) -> list[EngineProcess]:
    """One (not yet started) engine process per shard, with snapshots under ``base``."""
    out = []
    for k in shards.all():
        out.append(
            EngineProcess(
                url,
                base,
                "--shard", str(k),
                "--snapshot-interval-s", interval,
                "--trim-streams", "false",  # the check replays the inputs from the start
                *extra,
                log=base.parent / f"engine-{k}.log",
            )
        )
    return out


def env_of(shards: ShardMap) -> dict[str, str]:
    return {"SHARDS": str(shards.shards), "REDIS_CLUSTER": "1" if shards.cluster else "0"}


class ShardLoad(threading.Thread):
    """Random trading by users of every shard, and prices to every shard, at a bounded rate."""

    def __init__(
        self, url: str, shards: ShardMap, seed: int, commands_per_s: int = 200
    ) -> None:
        super().__init__(daemon=True)
        self.client = client_for(url, shards.cluster)
        self.shards = shards
        self.rng = random.Random(seed)
        self.commands_per_s = commands_per_s
        self.users = {k: users_of(shards, k, 6) for k in shards.all()}
        self.sent: dict[int, list[str]] = {k: [] for k in shards.all()}
        self.prices = {"BTC_USDC": 1_000_000, "ETH_USDC": 2_000_000}
        self.stop_event = threading.Event()
        self.error: BaseException | None = None
        self._n = 0

    def command(self, name: str, email: str, **data: Any) -> str:
        self._n += 1
        order_id = f"S{self._n}"
        shard = self.shards.of(email)
        fields = encode_command(Command(order_id, name, email, data, 0))
        self.client.xadd(self.shards.streams(shard).commands, fields)
        self.sent[shard].append(order_id)
        return order_id

    def tick(self) -> None:
        asset = self.rng.choice(ASSETS)
        price = self.prices[asset]
        price = max(1000, price + self.rng.randint(-price // 150, price // 150))
        self.prices[asset] = price
        fields = encode_price_batch([PriceItem(asset, price, 4, price, price + price // 2000)],
                                    "load", 0)  # fmt: skip
        for k in self.shards.all():
            self.client.xadd(self.shards.streams(k).prices, fields)

    def _random_command(self) -> None:
        rng = self.rng
        shard = rng.choice(list(self.shards.all()))
        email = rng.choice(self.users[shard])
        roll = rng.random()
        if roll < 0.5:
            asset = rng.choice(ASSETS)
            self.command(
                "CREATE_TRADE",
                email,
                asset=asset,
                margin=str(rng.randint(1, 40)),
                direction=rng.choice(["LONG", "SHORT"]),
                leverage=rng.choice([10, 50, 200]),
            )
        elif roll < 0.8 and self.sent[shard]:
            self.command("CLOSE_TRADE", email, tradeId=rng.choice(self.sent[shard]))
        else:
            self.command("GET_BALANCE", email)

    def open_accounts(self) -> None:
        self.tick()
        self.tick()
        for users in self.users.values():
            for email in users:
                self.command("CREATE_ACCOUNT", email)

    def run(self) -> None:
        try:
            step = 0.02
            while not self.stop_event.is_set():
                self.tick()
                for _ in range(max(1, int(self.commands_per_s * step))):
                    self._random_command()
                time.sleep(step)
        except BaseException as exc:  # surfaced by finish()
            self.error = exc

    def finish(self) -> None:
        self.stop_event.set()
        self.join(timeout=30)
        assert self.error is None, self.error


def answered(client: Any, shards: ShardMap, shard: int, order_ids: list[str]) -> bool:
    got = responses_by_order(client, shards.streams(shard))
    return all(o in got for o in order_ids)


def check_shard(client: Any, shards: ShardMap, shard: int, sent: list[str]) -> dict[str, int]:
    """The per-shard recovery check; returns the shard's money summary."""
    streams = shards.streams(shard)
    fresh, expected = replay_from_scratch(client, streams)
    got = published(client, streams)
    first = next((i for i, (a, b) in enumerate(zip(got, expected, strict=False)) if a != b), None)
    assert got == expected, (len(got), len(expected), first)
    by_order = responses_by_order(client, streams)
    assert sorted(by_order) == sorted(set(sent))
    assert all(len(v) == 1 for v in by_order.values())
    assert conserved(fresh)
    emails = {f[b"email"].decode() for f in _events(client, streams.events)}
    assert all(shards.of(e) == shard for e in emails if e)
    return dict(fresh.summary())


def _events(client: Any, stream: str) -> list[dict[bytes, bytes]]:
    return [f for _, f in client.xrange(stream)]
