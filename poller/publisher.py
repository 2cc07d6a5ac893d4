"""Batches ticks into engine_input entries and writes them to Redis with XADD.

Ticks that arrive within one batch window become one entry, and within it the latest tick of an
asset replaces earlier ones: the engine only needs the current price, and a burst then costs one
entry instead of hundreds. One XADD is in flight at a time; ticks arriving meanwhile wait for the
next one, so a slow Redis makes batches larger rather than the backlog longer. A failed XADD is
retried with backoff, its prices merged under any newer ones; nothing is lost but superseded
prices. Entries get ``*`` IDs and the stream is never trimmed here (the engine's recovery owns
trimming).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import RedisError

from engine.messages import PriceItem
from engine.wire import encode_price_batch
from poller.metrics import Metrics

log = logging.getLogger("poller.publisher")


class Publisher:
    """The sink every source feeds with ``offer``; ``run`` writes the batches."""

    def __init__(
        self,
        redis: Redis,
        stream: str | tuple[str, ...],
        source: str,
        metrics: Metrics,
        *,
        window_s: float = 0.005,
        retry_min_s: float = 0.05,
        retry_max_s: float = 5.0,
    ) -> None:
        self.redis = redis
        # Every engine shard's price stream: each batch goes to each, in one pipelined round
        # trip on a plain Redis, one concurrent XADD per shard on a cluster (other slots).
        self.streams = (stream,) if isinstance(stream, str) else stream
        self.stream = ",".join(self.streams)
        self.source = source
        self.metrics = metrics
        self.window_s = window_s
        self.retry_min_s = retry_min_s
        self.retry_max_s = retry_max_s
        self._pending: dict[str, PriceItem] = {}
        self._wake = asyncio.Event()
        self._closing = asyncio.Event()
        self._failures = 0

    def offer(self, item: PriceItem) -> None:
        """Take a tick; it goes out with the next batch unless a newer one of its asset does."""
        self.metrics.tick(item.asset)
        self._pending[item.asset] = item
        self._wake.set()

    async def run(self) -> None:
        """Write a batch a window after its first tick, until ``close``."""
        while not self._closing.is_set():
            await self._wake.wait()
            await asyncio.sleep(self.window_s)
            self._wake.clear()
            if not await self.flush():
                delay = min(self.retry_max_s, self.retry_min_s * 2 ** min(self._failures, 30))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._closing.wait(), delay)
                self._wake.set()

    def close(self) -> None:
        """Make ``run`` return after the write in progress; ``flush`` writes what is left.

        Stopping by a flag, not by cancelling: redis-py's asyncio client can swallow a
        cancellation that lands during a command, leaving the task running.
        """
        self._closing.set()
        self._wake.set()

    async def flush(self) -> bool:
        """Write what is pending as one entry now; False (prices kept) if Redis failed."""
        if not self._pending:
            return True
        batch, self._pending = self._pending, {}
        items = list(batch.values())
        fields = encode_price_batch(items, self.source, time.time_ns() // 1_000_000)
        try:
            await self._xadd(fields)
        except (RedisError, OSError) as exc:
            self.metrics.publish_errors += 1
            self._failures += 1
            if self._failures == 1 or self._failures % 100 == 0:
                log.warning("XADD to %s failed (%d in a row): %s", self.stream, self._failures, exc)
            # Newer ticks that came in during the failed write win over the ones we hold.
            self._pending = batch | self._pending
            return False
        if self._failures:
            log.info("XADD to %s works again after %d failures", self.stream, self._failures)
            self._failures = 0
        self.metrics.entries += 1
        for item in items:
            self.metrics.published[item.asset] += 1
        return True

    async def _xadd(self, fields: Any) -> None:
        """XADD the batch to every stream. A failure retries the whole batch, so a shard that
        got it already may get the same prices twice: harmless, a repeated price changes no
        level and fires nothing that the first did not."""
        if len(self.streams) == 1:
            await self.redis.xadd(self.streams[0], fields)
            return
        if isinstance(self.redis, RedisCluster):
            await asyncio.gather(*(self.redis.xadd(s, fields) for s in self.streams))
            return
        pipe = self.redis.pipeline(transaction=False)
        for stream in self.streams:
            pipe.xadd(stream, fields)
        for reply in await pipe.execute(raise_on_error=False):
            if isinstance(reply, Exception):
                raise reply

    @property
    def pending(self) -> int:
        """Assets with a price not yet written."""
        return len(self._pending)
