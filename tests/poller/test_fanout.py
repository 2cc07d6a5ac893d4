"""Prices to every shard: each batch lands, the same, on every shard's price stream."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from engine.messages import PriceItem
from engine.shards import ShardMap
from engine.wire import decode_price_batch
from poller.config import parse_config
from poller.metrics import Metrics
from poller.publisher import Publisher

ASSETS = ("BTC_USDC", "ETH_USDC", "SOL_USDC")


def test_the_poller_config_names_every_shards_stream() -> None:
    one = parse_config(["--source", "sim"], {})
    assert one.streams == ("engine_input",)
    two = parse_config(["--source", "sim"], {"SHARDS": "2", "REDIS_CLUSTER": "1"})
    assert two.streams == ("{shard-0}engine_input", "{shard-1}engine_input")


@pytest.mark.parametrize("flavour", ["redis", "cluster"])
async def test_each_batch_goes_to_every_shard(flavour: str, request: pytest.FixtureRequest):
    cluster = flavour == "cluster"
    url = request.getfixturevalue("cluster_url" if cluster else "redis_url")
    shards = ShardMap(3, cluster=cluster)
    streams = tuple(shards.streams(k).prices for k in shards.all())
    redis = RedisCluster.from_url(url) if cluster else Redis.from_url(url)
    publisher = Publisher(redis, streams, "sim", Metrics(ASSETS))
    for price in (600_000_000, 600_100_000):
        publisher.offer(PriceItem("BTC_USDC", price, 4, price, price + 100))
        assert await publisher.flush()
    batches = []
    for stream in streams:
        batches.append([decode_price_batch(f).items for _, f in await redis.xrange(stream)])
    assert len(batches[0]) == 2
    assert batches == [batches[0]] * 3
    await redis.aclose()
