"""Read side of the candles for the gateway: a page of candles, and the 24-hour ticker.

Values are the integers stored (prices in the asset's decimals, ``price_decimals`` beside
them); formatting is the gateway's. Pass any asyncpg connection or pool.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, Protocol

from worker.candles import INTERVALS

MAX_LIMIT: Final = 1000
DAY_MS: Final = 86_400_000
MINUTE_MS: Final = INTERVALS["1m"]


class Db(Protocol):
    """An asyncpg connection or pool."""

    async def fetch(self, query: str, *args: Any) -> list[Any]: ...


@dataclass(frozen=True, slots=True)
class StoredCandle:
    start_ms: int
    end_ms: int  # exclusive: the next candle's start
    open: int
    high: int
    low: int
    close: int
    ticks: int
    decimals: int
    closed: bool  # False for the candle that holds ``now``: it may still change


@dataclass(frozen=True, slots=True)
class Ticker:
    """24 hours of one asset: the 1m candles that start in the window ending at ``now``."""

    asset: str
    decimals: int
    last: int  # close of the newest candle (the last bid folded in)
    last_ms: int  # start of that candle
    first: int | None  # the window's first open; None when nothing in the window
    high: int | None
    low: int | None
    ticks: int

    @property
    def change(self) -> int | None:
        return None if self.first is None else self.last - self.first

    @property
    def change_bp_hundredths(self) -> int | None:
        """Change in hundredths of a percent, truncated toward zero (exact: 1234 = 12.34 %)."""
        if self.first is None:
            return None
        change = self.last - self.first
        magnitude = abs(change) * 10_000 // self.first
        return magnitude if change >= 0 else -magnitude


async def candles(
    db: Db,
    asset: str,
    interval: str,
    *,
    now_ms: int,
    start_ms: int | None = None,
    end_ms: int | None = None,
    limit: int = 500,
) -> list[StoredCandle]:
    """Candles starting in [start_ms, end_ms), oldest first, at most ``limit``: the first ones
    from ``start_ms`` when it is given, else the newest before ``end_ms``."""
    if interval not in INTERVALS or not 1 <= limit <= MAX_LIMIT:
        raise ValueError("unknown interval or limit out of range")
    length = INTERVALS[interval]
    end = end_ms if end_ms is not None else 2**62
    if start_ms is not None:
        rows = await db.fetch(
            "SELECT start_ms, open, high, low, close, ticks, price_decimals FROM candles"
            " WHERE asset = $1 AND period = $2 AND start_ms >= $3 AND start_ms < $4"
            " ORDER BY start_ms LIMIT $5",
            asset, interval, start_ms, end, limit,
        )
    else:
        rows = await db.fetch(
            "SELECT * FROM (SELECT start_ms, open, high, low, close, ticks, price_decimals"
            " FROM candles WHERE asset = $1 AND period = $2 AND start_ms < $3"
            " ORDER BY start_ms DESC LIMIT $4) newest ORDER BY start_ms",
            asset, interval, end, limit,
        )
    return [
        StoredCandle(
            start_ms=r[0], end_ms=r[0] + length, open=r[1], high=r[2], low=r[3], close=r[4],
            ticks=r[5], decimals=r[6], closed=r[0] + length <= now_ms,
        )
        for r in rows
    ]


_TICKER = """
WITH newest AS (
    SELECT DISTINCT ON (asset) asset, start_ms, close, price_decimals
    FROM candles WHERE period = '1m' AND ($2::text IS NULL OR asset = $2)
    ORDER BY asset, start_ms DESC
), day AS (
    SELECT asset, (array_agg(open ORDER BY start_ms))[1] AS first,
           max(high) AS high, min(low) AS low, sum(ticks)::bigint AS ticks
    FROM candles WHERE period = '1m' AND start_ms >= $1 AND ($2::text IS NULL OR asset = $2)
    GROUP BY asset
)
SELECT n.asset, n.price_decimals, n.close, n.start_ms, d.first, d.high, d.low,
       coalesce(d.ticks, 0)
FROM newest n LEFT JOIN day d USING (asset) ORDER BY n.asset
"""


async def tickers(db: Db, *, now_ms: int, asset: str | None = None) -> list[Ticker]:
    """The 24 h ticker of ``asset`` (of every asset with candles when None): the 1440 one-minute
    candles up to and including the one holding ``now_ms``."""
    since = now_ms - now_ms % MINUTE_MS - DAY_MS + MINUTE_MS
    rows = await db.fetch(_TICKER, since, asset)
    return [
        Ticker(asset=r[0], decimals=r[1], last=r[2], last_ms=r[3], first=r[4], high=r[5],
               low=r[6], ticks=r[7])
        for r in rows
    ]
