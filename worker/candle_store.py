"""PostgreSQL side of the candle builder: one transaction per batch, exactly once.

The transaction reads the builder's position in the stream (``candle_progress``, locked), skips
the entries at or below it (a redelivery), folds the rest into candles, upserts them keyed by
(asset, period, start) and moves the position, all or nothing. The entries come in stream order
from one builder (an advisory lock makes sure of it), so a candle already in the table only ever
receives later ticks: its open stays, its close is the batch's, high/low widen, ticks add up.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

import asyncpg

from worker.candles import Aggregator, EntryId, parse_entry_id

# Any constant of our own: held for the builder's whole life, one builder per database.
BUILDER_LOCK: Final = 0x43_41_4E_44  # "CAND"

_UPSERT = """
INSERT INTO candles (asset, period, start_ms, open, high, low, close, ticks, price_decimals)
SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[],
                     $6::bigint[], $7::bigint[], $8::bigint[], $9::smallint[])
ON CONFLICT (asset, period, start_ms) DO UPDATE SET
    high = greatest(candles.high, EXCLUDED.high),
    low = least(candles.low, EXCLUDED.low),
    close = EXCLUDED.close,
    ticks = candles.ticks + EXCLUDED.ticks
"""

_LAST = """
INSERT INTO candle_last_price (asset, bid, ask)
SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[])
ON CONFLICT (asset) DO UPDATE SET bid = EXCLUDED.bid, ask = EXCLUDED.ask
"""

_PROGRESS = """
INSERT INTO candle_progress (stream, last_ms, last_seq) VALUES ($1, $2, $3)
ON CONFLICT (stream) DO UPDATE SET last_ms = EXCLUDED.last_ms, last_seq = EXCLUDED.last_seq
"""


async def position(conn: asyncpg.Connection, stream: str, *, lock: bool = False) -> EntryId:
    """The last entry of ``stream`` folded into the candles (``(0, 0)``: none yet)."""
    sql = "SELECT last_ms, last_seq FROM candle_progress WHERE stream = $1"
    row = await conn.fetchrow(sql + (" FOR UPDATE" if lock else ""), stream)
    return (0, 0) if row is None else (int(row[0]), int(row[1]))


async def write_batch(
    conn: asyncpg.Connection,
    stream: str,
    entries: Sequence[tuple[str, Mapping[Any, Any]]],
    assets: Mapping[str, int],
    band_bps: int,
) -> Aggregator:
    """Fold ``entries`` (in stream order) into the candles in one transaction; return what was
    folded (entries at or below the stored position are skipped)."""
    async with conn.transaction():
        done = await position(conn, stream, lock=True)
        last = {r[0]: (int(r[1]), int(r[2])) for r in await conn.fetch(
            "SELECT asset, bid, ask FROM candle_last_price")}
        agg = Aggregator(assets, band_bps, last=last)
        newest = done
        for entry_id, fields in entries:
            parsed = parse_entry_id(entry_id)
            if parsed <= done:
                continue
            agg.add_entry(entry_id, fields)
            newest = max(newest, parsed)
        if newest == done:
            return agg
        if agg.candles:
            keys = list(agg.candles)
            values = list(agg.candles.values())
            await conn.execute(
                _UPSERT,
                [k[0] for k in keys],
                [k[1] for k in keys],
                [k[2] for k in keys],
                [c.open for c in values],
                [c.high for c in values],
                [c.low for c in values],
                [c.close for c in values],
                [c.ticks for c in values],
                [assets[k[0]] for k in keys],
            )
        if agg.last:
            names = list(agg.last)
            await conn.execute(
                _LAST, names, [agg.last[n][0] for n in names], [agg.last[n][1] for n in names]
            )
        await conn.execute(_PROGRESS, stream, newest[0], newest[1])
    return agg
