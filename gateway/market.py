"""Market data for the gateway: the PostgreSQL pool the candles are read from, the JSON shapes of
candles and tickers, and the task that pushes ``ticker`` messages to every WebSocket.

Prices go out as the protocol writes amounts in human units: exact decimal text from the stored
integers (``engine.amounts.format_amount``: ``"64123.5"``, trailing zeros dropped), never a
float. Candles are in Backpack's klines shape (``start``, ``end`` as ``YYYY-MM-DD HH:MM:SS``
UTC, ``open``, ``high``, ``low``, ``close``) plus ``ticks`` (prices folded in), ``startTime`` /
``endTime`` (ms) and ``closed`` (False for the candle still being built). Without a
``DATABASE_URL`` the gateway runs, and the market routes answer 503.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from datetime import UTC, datetime
from typing import Any, Protocol

import asyncpg
import msgspec

from engine.amounts import format_amount
from worker.market_data import StoredCandle, Ticker, tickers

log = logging.getLogger("gateway.market")
_json = msgspec.json.Encoder()
TICKER_INTERVAL_S = 3.0


class Broadcaster(Protocol):
    def broadcast(self, kind: str, payload: bytes) -> None: ...


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@functools.lru_cache(maxsize=65_536)
def utc_text(ms: int) -> str:
    """``YYYY-MM-DD HH:MM:SS`` in UTC, as Backpack writes a kline's start and end (cached: the
    same candle starts are asked for again and again, and strftime costs more than the query)."""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")


def candle_json(c: StoredCandle) -> dict[str, Any]:
    d = c.decimals
    return {
        "start": utc_text(c.start_ms),
        "end": utc_text(c.end_ms),
        "open": format_amount(c.open, d),
        "high": format_amount(c.high, d),
        "low": format_amount(c.low, d),
        "close": format_amount(c.close, d),
        "ticks": c.ticks,
        "startTime": c.start_ms,
        "endTime": c.end_ms,
        "closed": c.closed,
    }


def _percent(hundredths: int) -> str:
    sign = "-" if hundredths < 0 else ""
    whole, frac = divmod(abs(hundredths), 100)
    return f"{sign}{whole}.{frac:02d}"


def ticker_json(t: Ticker) -> dict[str, Any]:
    """Backpack's ticker names; the 24 h values are null when the window has no candle."""
    d = t.decimals
    change, pct = t.change, t.change_bp_hundredths
    return {
        "symbol": t.asset,
        "asset": t.asset,
        "lastPrice": format_amount(t.last, d),
        "firstPrice": None if t.first is None else format_amount(t.first, d),
        "high": None if t.high is None else format_amount(t.high, d),
        "low": None if t.low is None else format_amount(t.low, d),
        "priceChange": None if change is None else format_amount(change, d),
        "priceChangePercent": None if pct is None else _percent(pct),
        "ticks": t.ticks,
        "decimals": d,
        "lastTime": t.last_ms,
    }


class Market:
    """The candles' PostgreSQL pool (opened lazily, reopened after failures) and the ticker
    push. ``database_url`` empty: no market data (503)."""

    def __init__(self, database_url: str, assets: list[str]) -> None:
        self.database_url = database_url
        self.assets = assets
        self._pool: asyncpg.Pool | None = None
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    @property
    def enabled(self) -> bool:
        return bool(self.database_url)

    async def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            async with self._lock:
                if self._pool is None:
                    self._pool = await asyncpg.create_pool(
                        self.database_url, min_size=1, max_size=4, timeout=5,
                        command_timeout=10, server_settings={"search_path": "public"},
                    )
        return self._pool

    async def tickers(self, asset: str | None = None) -> list[dict[str, Any]]:
        rows = await tickers(await self.pool(), now_ms=now_ms(), asset=asset)
        return [ticker_json(t) for t in rows if t.asset in self.assets]

    def start(self, feed: Broadcaster) -> None:
        if self.enabled:
            self._task = asyncio.create_task(self._push(feed), name="ticker-push")

    async def _push(self, feed: Broadcaster) -> None:
        """Every few seconds, every asset's ticker to every socket (the page's market list)."""
        while True:
            try:
                items = await self.tickers()
                if items:
                    feed.broadcast("ticker", _json.encode({"type": "ticker", "tickers": items}))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # PostgreSQL away: try again at the next round
                log.debug("ticker push failed: %s", exc)
            await asyncio.sleep(TICKER_INTERVAL_S)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        if self._pool is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._pool.close(), 5)
            self._pool = None
