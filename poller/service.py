"""The poller process: one source feeding the publisher, with metrics and the silence watch.

Runs until the source ends (a replay file does; the WebSocket and the simulator never do) or
``stop`` is set, then writes what is still pending and exits. Exit codes: 0 done, 1 prices left
unwritten because Redis stayed down, 2 could not start (replay file, metrics port).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Iterator
from contextlib import ExitStack
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from engine.messages import PriceItem
from poller.backpack import BackpackFeed
from poller.config import Config
from poller.metrics import Metrics, serve, watch_silence
from poller.publisher import Publisher
from poller.replay import open_frames, replay
from poller.resume import backfill, last_quotes, resumed_walk
from poller.sim import simulate

log = logging.getLogger("poller")

DRAIN_TIMEOUT_S = 10.0
REDIS_TIMEOUT_S = 5.0


async def _simulate(config: Config, redis: Redis, sink: Callable[[PriceItem], None]) -> int:
    """The simulator, resumed from the stream's last prices, after the first start's backfill."""
    quotes, last_id = await last_quotes(redis, config.stream, config.assets)
    walk = resumed_walk(config.assets, config.sim_seed, quotes, last_id)
    if quotes:
        log.info("simulator resumes from the last prices on %s (entry %s)", config.stream, last_id)
    if config.shards.shards == 1 and not config.shards.cluster:
        await backfill(redis, config.stream, config.command_stream, walk, config.sim_backfill_s,
                       config.source)
    elif config.sim_backfill_s:
        log.info("no simulated past with SHARDS=%d: a backfill is written to one shard's streams",
                 config.shards.shards)
    return await simulate(walk, sink, config.sim_rate_hz)


def _source(
    config: Config,
    frames: Iterator[bytes] | None,
    sink: Callable[[PriceItem], None],
    metrics: Metrics,
    redis: Redis,
) -> Coroutine[Any, Any, object]:
    if config.source == "backpack":
        return BackpackFeed(
            config.ws_url,
            config.assets,
            sink,
            metrics,
            silence_s=config.silence_s,
            backoff_min_s=config.backoff_min_s,
            backoff_max_s=config.backoff_max_s,
        ).run()
    if config.source == "replay":
        assert frames is not None
        return replay(frames, config.assets, sink, metrics, speed=config.replay_speed)
    return _simulate(config, redis, sink)


async def run(
    config: Config, stop: asyncio.Event | None = None, metrics: Metrics | None = None
) -> int:
    """Run the poller until its source ends or ``stop`` is set; return the exit code."""
    stop = stop or asyncio.Event()
    metrics = metrics or Metrics([spec.asset for spec in config.assets])
    with ExitStack() as resources:
        frames = None
        try:
            if config.source == "replay":
                frames = resources.enter_context(open_frames(config.replay_file))
            if config.metrics_port:
                server = serve(metrics, config.silence_s, config.metrics_host, config.metrics_port)
                resources.callback(server.server_close)
                resources.callback(server.shutdown)
        except OSError as exc:
            log.error("cannot start: %s", exc)
            return 2
        redis = connect(config)
        publisher = Publisher(
            redis,
            config.streams,
            config.source,
            metrics,
            window_s=config.batch_ms / 1000,
            retry_min_s=min(0.05, config.backoff_min_s),
            retry_max_s=config.backoff_max_s,
        )
        log.info(
            "poller: %s -> %s %s, assets %s",
            config.source,
            config.redis_url,
            config.stream,
            ",".join(spec.asset for spec in config.assets),
        )
        source = asyncio.create_task(_source(config, frames, publisher.offer, metrics, redis))
        writer = asyncio.create_task(publisher.run())
        watcher = asyncio.create_task(watch_silence(metrics, config.silence_s))
        stopping = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait([source, writer, stopping], return_when=asyncio.FIRST_COMPLETED)
            for task in (source, watcher, stopping):
                task.cancel()  # none of them is inside a Redis call
            publisher.close()
            await asyncio.gather(source, writer, watcher, stopping, return_exceptions=True)
            failed = [t for t in (source, writer) if not t.cancelled() and t.exception()]
            for task in failed:
                log.error("poller task failed", exc_info=task.exception())
            code = await _drain(publisher)
            return 1 if failed else code
        finally:
            await redis.aclose()


def connect(config: Config) -> Redis:
    """redis-py's client; its cluster client on a Redis Cluster (``REDIS_CLUSTER=1``)."""
    if config.shards.cluster:
        cluster: Any = RedisCluster.from_url(
            config.redis_url,
            socket_timeout=REDIS_TIMEOUT_S,
            socket_connect_timeout=REDIS_TIMEOUT_S,
        )
        return cluster  # type: ignore[no-any-return]
    return Redis.from_url(
        config.redis_url,
        socket_timeout=REDIS_TIMEOUT_S,
        socket_connect_timeout=REDIS_TIMEOUT_S,
    )


async def _drain(publisher: Publisher) -> int:
    """Write the last prices, retrying for a while if Redis is down."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DRAIN_TIMEOUT_S
    delay = 0.05
    while not await publisher.flush():
        if loop.time() + delay > deadline:
            log.error("gave up writing the last prices of %d assets", publisher.pending)
            return 1
        await asyncio.sleep(delay)
        delay = min(delay * 2, 1.0)
    return 0
