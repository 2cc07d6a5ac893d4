"""Backpack's public WebSocket feed: subscribe to bookTicker streams, hand their ticks to a sink.

The connection is kept forever: when it drops, fails to open, or goes silent (no frame for the
silence threshold, as a half-open TCP connection would), the feed waits a jittered, growing delay,
reconnects and subscribes again. Protocol pings from the server are answered by the websockets
library; our own pings detect a dead server. Frames that are not usable ticks are counted by
reason and skipped.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Iterable, Sequence

import msgspec
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import WebSocketException

from engine.messages import PriceItem
from poller.metrics import Metrics
from poller.ticks import STREAM_PREFIX, AssetSpec, TickError, by_symbol, parse_frame

log = logging.getLogger("poller.backpack")

MAX_FRAME_BYTES = 1 << 16  # a bookTicker frame is ~250 bytes


def subscribe_message(symbols: Iterable[str]) -> str:
    """The SUBSCRIBE request for the bookTicker streams of ``symbols`` (sent as a text frame)."""
    params = [STREAM_PREFIX + symbol for symbol in symbols]
    return msgspec.json.encode({"method": "SUBSCRIBE", "params": params}).decode()


def backoff_delay(attempt: int, low_s: float, high_s: float, rng: random.Random) -> float:
    """Delay before reconnect ``attempt`` (0-based): uniform in [half, all] of the capped step.

    The step doubles from ``low_s`` up to ``high_s``; the jitter keeps many clients that lost the
    same server from reconnecting in lockstep.
    """
    ceiling = min(high_s, low_s * 2 ** min(attempt, 60))
    return rng.uniform(ceiling / 2, ceiling)


class BackpackFeed:
    """A reconnecting bookTicker subscription; ``run`` never returns (cancel to stop)."""

    def __init__(
        self,
        url: str,
        assets: Sequence[AssetSpec],
        sink: Callable[[PriceItem], None],
        metrics: Metrics,
        *,
        silence_s: float = 15.0,
        backoff_min_s: float = 0.5,
        backoff_max_s: float = 30.0,
        ping_interval_s: float = 20.0,
        open_timeout_s: float = 10.0,
        rng: random.Random | None = None,
    ) -> None:
        self.url = url
        self.by_symbol = by_symbol(assets)
        self.sink = sink
        self.metrics = metrics
        self.silence_s = silence_s
        self.backoff_min_s = backoff_min_s
        self.backoff_max_s = backoff_max_s
        self.ping_interval_s = ping_interval_s
        self.open_timeout_s = open_timeout_s
        self.rng = rng or random.Random()
        self._session_ticks = 0

    async def run(self) -> None:
        """Connect, subscribe and stream; on any loss, back off and do it again."""
        attempt = 0
        while True:
            self._session_ticks = 0
            try:
                await self._session()
            except (OSError, TimeoutError, WebSocketException) as exc:
                log.warning("feed %s lost: %s", self.url, exc or type(exc).__name__)
            finally:
                self.metrics.connected = False
            if self._session_ticks:
                attempt = 0  # the link worked: start the backoff over
            delay = backoff_delay(attempt, self.backoff_min_s, self.backoff_max_s, self.rng)
            attempt += 1
            log.info("reconnecting to %s in %.2f s (attempt %d)", self.url, delay, attempt)
            await asyncio.sleep(delay)
            self.metrics.reconnects += 1

    async def _session(self) -> None:
        async with connect(
            self.url,
            open_timeout=self.open_timeout_s,
            ping_interval=self.ping_interval_s,
            ping_timeout=self.ping_interval_s,
            max_size=MAX_FRAME_BYTES,
        ) as ws:
            await ws.send(subscribe_message(self.by_symbol))
            self.metrics.connected = True
            log.info("connected to %s; subscribed to %d streams", self.url, len(self.by_symbol))
            await self._stream(ws)

    async def _stream(self, ws: ClientConnection) -> None:
        while True:
            try:
                async with asyncio.timeout(self.silence_s):
                    raw = await ws.recv()
            except TimeoutError:
                log.warning(
                    "no frame from %s in %.1f s: feed silent, reconnecting",
                    self.url,
                    self.silence_s,
                )
                return
            try:
                tick = parse_frame(raw, self.by_symbol)
            except TickError as exc:
                self.metrics.reject(exc.reason, exc.detail)
                continue
            if tick is not None:
                self._session_ticks += 1
                self.sink(tick.item)
