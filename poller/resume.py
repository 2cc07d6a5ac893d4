"""The simulator's continuity: resume from the last prices on the stream, and a past day at first
start so a chart has history from the first minute.

**Resume.** A new simulator starts each asset's walk from its last bid/ask on ``engine_input``
(the newest entries, whatever wrote them) instead of from the fixed opening prices, so a
``make up`` after a stop does not jump back to where the walk began (which the engine's price
band would also refuse). Its random moves are seeded from the seed and that last entry's ID, so
a restart takes a new path, and the same stream gives the same path.

**Backfill** (``SIM_BACKFILL_S``, ``make up`` sets a day). Only when both input streams have
never held an entry: the walk's past ``seconds`` is written to ``engine_input`` with explicit
IDs in the past (one entry per ``BACKFILL_STEP_MS``), ending just before now, in one MULTI
guarded by WATCH on both streams, so nothing can slip in between the check and the writes. The
engine, the candle builder and everything else then see an ordinary price history: the candles
are built from the stream by the same code as live ones, and a rebuild from the stream gives
them again. (Writing candles straight into PostgreSQL would be simpler, but the candles would
then hold history the stream never had, and the engine's merge order depends on entry IDs, which
is why the past is written only while no command exists.)
"""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import WatchError

from engine.messages import PriceItem
from engine.wire import WireError, decode_price_batch, encode_price_batch
from poller.sim import RandomWalk
from poller.ticks import AssetSpec

log = logging.getLogger("poller")
BACKFILL_STEP_MS = 10_000
SCAN_ENTRIES = 500  # how far back to look for each asset's last price


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


async def last_quotes(
    redis: Redis, stream: str, assets: Sequence[AssetSpec]
) -> tuple[dict[str, tuple[int, int]], str | None]:
    """Each asset's newest (bid, ask) in its decimals among the stream's last entries, and the
    newest entry's ID (None: an empty stream)."""
    decimals = {spec.asset: spec.decimals for spec in assets}
    found: dict[str, tuple[int, int]] = {}
    entries = await redis.xrevrange(stream, count=SCAN_ENTRIES) or []
    for _entry_id, fields in entries:
        try:
            batch = decode_price_batch(fields or {})
        except WireError:
            continue
        for item in reversed(batch.items):
            if item.asset in found or item.asset not in decimals:
                continue
            bid = item.price if item.bid is None else item.bid
            ask = item.price if item.ask is None else item.ask
            if item.decimal != decimals[item.asset] or not 0 < bid <= ask:
                continue  # another scale: leave it to the opening price
            found[item.asset] = (bid, ask)
        if len(found) == len(decimals):
            break
    return found, (_text(entries[0][0]) if entries else None)


def resumed_walk(
    assets: Sequence[AssetSpec], seed: int, quotes: dict[str, tuple[int, int]], last_id: str | None
) -> RandomWalk:
    """The simulator's walk continuing from ``quotes`` (mid = (bid + ask) // 2)."""
    walk = RandomWalk(assets, seed if last_id is None else _mixed(seed, last_id))
    for i, spec in enumerate(walk.assets):
        if spec.asset in quotes:
            bid, ask = quotes[spec.asset]
            walk.mids[i] = max(2, (bid + ask) // 2)
    return walk


def _mixed(seed: int, last_id: str) -> int:
    ms, _, n = last_id.partition("-")
    return random.Random(f"{seed}:{ms}:{n}").randrange(2**63)


def backfill_entries(
    walk: RandomWalk, seconds: float, now_ms: int, source: str
) -> list[tuple[str, dict[str, str]]]:
    """The walk's past: one entry per step, the last one just before ``now_ms``."""
    steps = int(seconds * 1000) // BACKFILL_STEP_MS
    first = now_ms - steps * BACKFILL_STEP_MS
    out = []
    for k in range(steps):
        ms = first + k * BACKFILL_STEP_MS
        items: list[PriceItem] = walk.step()
        out.append((f"{ms}-0", encode_price_batch(items, source, ms)))
    return out


async def _never_written(redis: Any, name: str) -> bool:
    """No entry was ever added (absent, or created empty by a consumer group's MKSTREAM)."""
    if not await redis.exists(name):
        return True
    info = await redis.xinfo_stream(name)
    return _text(info.get("last-generated-id", "")) == "0-0" and not info.get("length")


async def backfill(
    redis: Redis, stream: str, command_stream: str, walk: RandomWalk, seconds: float,
    source: str,
) -> int:
    """Write the walk's past ``seconds`` to ``stream`` if neither input stream was ever written;
    return the entries written (0: not a first start)."""
    if seconds <= 0:
        return 0
    async with redis.pipeline(transaction=True) as pipe:
        try:
            await pipe.watch(stream, command_stream)
            for name in (stream, command_stream):
                if not await _never_written(pipe, name):
                    return 0
            server_s, server_us = await pipe.time()
            now_ms = server_s * 1000 + server_us // 1000
            entries = backfill_entries(walk, seconds, now_ms, source)
            pipe.multi()  # type: ignore[no-untyped-call]
            for entry_id, fields in entries:
                pipe.xadd(stream, fields, id=entry_id)  # type: ignore[arg-type]
            await pipe.execute()
        except WatchError:
            return 0  # someone wrote first: not a first start after all
    log.info("backfilled %d past entries (%.0f s of the simulator) into %s",
             len(entries), seconds, stream)
    return len(entries)
