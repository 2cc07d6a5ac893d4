"""The simulator's continuity (poller/resume.py) against a real Redis: resume from the stream's
last prices, and the first start's backfill of a simulated past."""

from __future__ import annotations

import itertools

from redis.asyncio import Redis

from engine.core import Engine
from engine.messages import PriceItem
from engine.wire import decode_price_batch, encode_price_batch
from poller.config import parse_assets
from poller.resume import BACKFILL_STEP_MS, backfill, last_quotes, resumed_walk
from poller.sim import RandomWalk

ASSETS = parse_assets("BTC_USDC:4,ETH_USDC:4")


async def test_a_new_simulator_continues_from_the_last_prices(redis_url: str):
    r = Redis.from_url(redis_url)
    try:
        await r.xadd("engine_input", encode_price_batch(
            [PriceItem("BTC_USDC", 700_000_000, 4, 700_000_000, 700_000_100)], "sim", 0))
        await r.xadd("engine_input", encode_price_batch(
            [PriceItem("ETH_USDC", 31_000_000, 4, 31_000_000, 31_000_020)], "sim", 0))
        quotes, last_id = await last_quotes(r, "engine_input", ASSETS)
    finally:
        await r.aclose()
    assert quotes == {"BTC_USDC": (700_000_000, 700_000_100), "ETH_USDC": (31_000_000, 31_000_020)}
    walk = resumed_walk(ASSETS, 1, quotes, last_id)
    btc, eth = walk.step()
    # One step moves a mid by at most 2 bp: the walk goes on from there, not from 60,000.
    assert abs(btc.price - 700_000_050) <= 700_000_050 // 5000 + 3500
    assert abs(eth.price - 31_000_010) <= 31_000_010 // 5000 + 1600
    # The same stream gives the same path; another last entry another one.
    again = resumed_walk(ASSETS, 1, quotes, last_id).step()
    assert again == [btc, eth]


async def test_backfill_writes_a_past_day_once_and_only_on_a_first_start(redis_url: str):
    r = Redis.from_url(redis_url)
    try:
        # A consumer group created with MKSTREAM is no history: still a first start.
        await r.xgroup_create("engine_input", "candles", id="0", mkstream=True)
        walk = RandomWalk(ASSETS, 1)
        written = await backfill(r, "engine_input", "backend-to-engine", walk, 3600, "sim")
        assert written == 3600 * 1000 // BACKFILL_STEP_MS
        entries = await r.xrange("engine_input")
        assert len(entries) == written
        ms = [int(e[0].decode().split("-")[0]) for e in entries]
        assert all(b - a == BACKFILL_STEP_MS for a, b in itertools.pairwise(ms))
        server_s, _ = await r.time()
        assert ms[-1] <= server_s * 1000 and ms[0] >= (server_s - 3601) * 1000
        # The engine applies every one of them (within its price band, bid <= ask).
        engine = Engine()
        for entry_id, fields in entries:
            engine.apply_price_entry(entry_id.decode(), fields)
        assert engine.state.ticks_applied == 2 * written and not engine.state.rejected
        # Not again: the stream has history now.
        assert await backfill(r, "engine_input", "backend-to-engine", walk, 3600, "sim") == 0
        # Nor when a command came first.
        await r.delete("engine_input")
        await r.xadd("backend-to-engine", {"orderId": "x"})
        assert await backfill(r, "engine_input", "backend-to-engine", walk, 3600, "sim") == 0
        # The walk it wrote ends where the live simulator would go on.
        last = decode_price_batch(entries[-1][1]).items[0]
        assert last.asset == "BTC_USDC"
    finally:
        await r.aclose()
