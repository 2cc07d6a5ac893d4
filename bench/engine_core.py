"""Engine core benchmark: in-process, one core, no Redis.

Prints: mixed commands/s with p50/p99 microseconds per command (decode + apply, as the daemon
calls it), and the same with the pending-order commands in the mix (a separate row: the first
stays comparable); microseconds per non-triggering tick at 10^3, 10^5 and 10^6 open positions,
at 10^3 ... 10^6 pending orders, and at 10^3 ... 10^6 trailing stops; bytes of
memory per open position at the largest size (tracemalloc); snapshot size and write time after
10^5 reads.

Amounts are sent as exact decimal text, as the gateway forwards them (the same meaning before and
after the reference-protocol change, so this script also runs on older code for comparisons).

    .venv/bin/python bench/engine_core.py                 # full run (~2-3 minutes)
    .venv/bin/python bench/engine_core.py --quick         # smaller sizes, for a smoke run
"""

from __future__ import annotations

import argparse
import gc
import random
import time
import tracemalloc

from engine import messages as m
from engine.config import EngineConfig
from engine.core import Engine
from engine.daemon.gc_policy import tune_gc
from engine.messages import Command, PriceItem
from engine.money import USD_SCALE
from engine.state import dump_state
from engine.wire import encode_command, encode_price_batch
from snapshots import format as snapshot_format

P = 10_000
ASSETS = ("BTC_USDC", "ETH_USDC", "SOL_USDC")
BASE = {"BTC_USDC": 60_000 * P, "ETH_USDC": 3_000 * P, "SOL_USDC": 150 * P}
AMOUNTS = {"margin", "stopLossPrice", "takeProfitPrice", "price", "trailingDistance"}


def raw(fields: dict) -> dict[bytes, bytes]:
    return {k.encode(): (v if isinstance(v, bytes) else str(v).encode()) for k, v in fields.items()}


def tick_fields(asset: str, bid: int) -> dict[bytes, bytes]:
    return raw(encode_price_batch([PriceItem(asset, bid, 4, bid, bid + P)], "bench", 0))


def text(units: int) -> str:
    """An amount in engine units (4 decimals) as exact decimal text."""
    whole, frac = divmod(units, 10_000)
    return f"{whole}.{frac:04d}"


def cmd_fields(order_id: str, command: str, email: str, data: dict) -> dict[bytes, bytes]:
    data = {k: text(v) if k in AMOUNTS and type(v) is int else v for k, v in data.items()}
    return raw(encode_command(Command(order_id, command, email, data, 0)))


def new_engine(users: int) -> tuple[Engine, list[str]]:
    engine = Engine(EngineConfig(initial_balance=10**12, max_price_age_ms=10**12))
    emails = [f"user{i}@bench.io" for i in range(users)]
    for i, email in enumerate(emails):
        engine.apply_command_entry(f"1-{i}", cmd_fields(f"acc{i}", m.CREATE_ACCOUNT, email, {}))
    for j, asset in enumerate(ASSETS):
        engine.apply_price_entry(f"2-{j}", tick_fields(asset, BASE[asset]))
    return engine, emails


def open_positions(
    engine: Engine, emails: list[str], n: int, rng: random.Random, prefix: str = "t"
) -> None:
    """Open n trades with SL, TP and liquidation levels spread around the price."""
    for i in range(n):
        asset = ASSETS[i % 3]
        base = BASE[asset]
        long = i % 2 == 0
        sl = (
            base - base // 100 * rng.randint(5, 30)
            if long
            else base + base // 100 * rng.randint(5, 30)
        )
        tp = (
            base + base // 100 * rng.randint(5, 30)
            if long
            else base - base // 100 * rng.randint(5, 30)
        )
        data = {
            "asset": asset,
            "direction": "LONG" if long else "SHORT",
            "margin": rng.randint(1, 1000) * USD_SCALE,
            "leverage": rng.randint(10, 200),
            "stopLossPrice": sl,
            "takeProfitPrice": tp,
        }
        engine.apply_command_entry(
            f"3-{i}", cmd_fields(f"{prefix}{i}", m.CREATE_TRADE, emails[i % len(emails)], data)
        )


def daemon_gc_policy() -> None:
    """Run the core under the GC policy the daemon uses (engine/daemon/daemon.py)."""
    gc.collect()
    tune_gc()


def bench_mixed(n: int) -> None:
    """Creates and closes balance each other, so ~10k trades stay open throughout."""
    rng = random.Random(1)
    engine, emails = new_engine(1_000)
    open_positions(engine, emails, 10_000, rng)
    entries = []
    open_ids = [(f"t{i}", emails[i % len(emails)]) for i in range(10_000)]
    for i in range(n):
        email = emails[rng.randrange(len(emails))]
        r = rng.random()
        if r < 0.35:
            asset = ASSETS[i % 3]
            data = {
                "asset": asset,
                "direction": "LONG" if i % 2 else "SHORT",
                "margin": 10 * USD_SCALE,
                "leverage": 50,
                "stopLossPrice": BASE[asset] // 2 if i % 2 else BASE[asset] * 2,
            }
            entries.append(cmd_fields(f"m{i}", m.CREATE_TRADE, email, data))
            open_ids.append((f"m{i}", email))
        elif r < 0.7:
            tid, owner = open_ids.pop(rng.randrange(len(open_ids)))
            entries.append(cmd_fields(f"m{i}", m.CLOSE_TRADE, owner, {"tradeId": tid}))
        elif r < 0.9:
            entries.append(cmd_fields(f"m{i}", m.GET_USD_BALANCE, email, {}))
        else:
            entries.append(cmd_fields(f"m{i}", m.GET_OPEN_TRADES, email, {}))
    samples = []
    daemon_gc_policy()
    apply = engine.apply_command_entry
    clock = time.perf_counter_ns
    cpu0 = time.process_time()
    start = clock()
    for i, fields in enumerate(entries):
        t0 = clock()
        apply(f"4-{i}", fields)
        samples.append(clock() - t0)
    wall = (clock() - start) / 1e9
    cpu = time.process_time() - cpu0
    samples.sort()
    p50 = samples[len(samples) // 2] / 1000
    p99 = samples[int(len(samples) * 0.99)] / 1000
    print(
        f"mixed commands: {n / wall:,.0f}/s wall, {n / cpu:,.0f}/s per CPU-second; "
        f"p50 {p50:.1f} us, p99 {p99:.1f} us (n={n:,}; 35% create with SL, 35% close, "
        "20% balance, 10% open trades; ~10k open)"
    )


def bench_mixed_orders(n: int) -> None:
    """The mix of ``bench_mixed`` with the new commands in it: 25% create, 25% close (a third of
    them partial), 10% CREATE_ORDER, 5% CANCEL_ORDER, 5% MODIFY_TRADE, 15% balance, 10% open
    trades, 5% open orders; ~10k trades and a few thousand pending orders open."""
    rng = random.Random(1)
    engine, emails = new_engine(1_000)
    open_positions(engine, emails, 10_000, rng)
    entries = []
    open_ids = [(f"t{i}", emails[i % len(emails)]) for i in range(10_000)]
    orders: list[tuple[str, str]] = []
    for i in range(n):
        email = emails[rng.randrange(len(emails))]
        r = rng.random()
        asset = ASSETS[i % 3]
        base = BASE[asset]
        if r < 0.25:
            data = {
                "asset": asset,
                "direction": "LONG" if i % 2 else "SHORT",
                "margin": 10 * USD_SCALE,
                "leverage": 50,
                "stopLossPrice": base // 2 if i % 2 else base * 2,
            }
            if i % 4 == 1:
                data["trailingDistance"] = base // 10
            entries.append(cmd_fields(f"m{i}", m.CREATE_TRADE, email, data))
            open_ids.append((f"m{i}", email))
        elif r < 0.5:
            j = rng.randrange(len(open_ids))
            tid, owner = open_ids[j]
            if i % 3 == 0:  # partial: the trade stays open
                data = {"tradeId": tid, "margin": USD_SCALE // 10}
            else:
                open_ids.pop(j)
                data = {"tradeId": tid}
            entries.append(cmd_fields(f"m{i}", m.CLOSE_TRADE, owner, data))
        elif r < 0.6:  # far from the price: stays pending
            long = i % 2 == 0
            data = {
                "asset": asset,
                "direction": "LONG" if long else "SHORT",
                "type": "LIMIT",
                "price": base // 2 + rng.randrange(1000) * P if long else base * 2,
                "margin": 10 * USD_SCALE,
                "leverage": 50,
            }
            entries.append(cmd_fields(f"m{i}", m.CREATE_ORDER, email, data))
            orders.append((f"m{i}", email))
        elif r < 0.65 and orders:
            oid, owner = orders.pop(rng.randrange(len(orders)))
            entries.append(cmd_fields(f"m{i}", m.CANCEL_ORDER, owner, {"orderId": oid}))
        elif r < 0.7:
            tid, owner = open_ids[rng.randrange(len(open_ids))]
            data = {"tradeId": tid, "takeProfitPrice": None}
            entries.append(cmd_fields(f"m{i}", m.MODIFY_TRADE, owner, data))
        elif r < 0.85:
            entries.append(cmd_fields(f"m{i}", m.GET_USD_BALANCE, email, {}))
        elif r < 0.95:
            entries.append(cmd_fields(f"m{i}", m.GET_OPEN_TRADES, email, {}))
        else:
            entries.append(cmd_fields(f"m{i}", m.GET_OPEN_ORDERS, email, {}))
    samples = []
    daemon_gc_policy()
    apply = engine.apply_command_entry
    clock = time.perf_counter_ns
    start = clock()
    for i, fields in enumerate(entries):
        t0 = clock()
        apply(f"4-{i}", fields)
        samples.append(clock() - t0)
    wall = (clock() - start) / 1e9
    samples.sort()
    p50 = samples[len(samples) // 2] / 1000
    p99 = samples[int(len(samples) * 0.99)] / 1000
    print(
        f"mixed commands with orders: {n / wall:,.0f}/s wall; p50 {p50:.1f} us, p99 {p99:.1f} us "
        f"(n={n:,}; {len(engine.state.pending):,} pending at the end; ~10k open)"
    )


def bench_pending_ticks(sizes: list[int], ticks: int) -> None:
    """A tick that fills nothing, with ``size`` pending orders (and 10^3 open trades)."""
    for size in sizes:
        rng = random.Random(5)
        engine, emails = new_engine(1_000)
        open_positions(engine, emails, 1_000, rng)
        for i in range(size):
            asset = ASSETS[i % 3]
            base = BASE[asset]
            long, stop = i % 2 == 0, i % 4 >= 2
            far = base // 100 * rng.randint(5, 40)  # 5-40% away: never crossed by the wobble
            price = base - far if long != stop else base + far
            data = {
                "asset": asset,
                "direction": "LONG" if long else "SHORT",
                "type": "STOP" if stop else "LIMIT",
                "price": price,
                "margin": USD_SCALE,
                "leverage": 10,
            }
            if i % 8 == 0:
                data["expiresAt"] = 10**12  # in the expiry index too
            engine.apply_command_entry(
                f"3-{i}", cmd_fields(f"p{i}", m.CREATE_ORDER, emails[i % len(emails)], data)
            )
        assert len(engine.state.pending) == size, "an order was refused"
        per_tick = _wobble(engine, ticks, rng)
        assert len(engine.state.pending) == size, "a bench tick filled an order"
        print(f"non-filling tick at {size:>9,} pending orders: {per_tick:.2f} us")
        del engine


def bench_trailing_ticks(sizes: list[int], ticks: int) -> None:
    """A tick that fires nothing, with ``size`` trailing stops set at many different prices
    (so there are many groups), the wobble moving marks up and down as a feed does."""
    for size in sizes:
        rng = random.Random(6)
        engine, emails = new_engine(1_000)
        n = 0
        for i in range(size):
            asset = ASSETS[i % 3]
            base = BASE[asset]
            if i % 100 == 0:  # a new price every 100 stops: ~size/100 groups per side
                n += 1
                bid = base + rng.randint(-200, 200) * (base // 10_000)
                engine.apply_price_entry(f"2-{n}", tick_fields(asset, bid))
            data = {
                "asset": asset,
                "direction": "LONG" if i % 2 == 0 else "SHORT",
                "margin": USD_SCALE,
                "leverage": 10,
                "trailingDistance": base // 100 * rng.randint(10, 40),  # beyond the wobble
            }
            engine.apply_command_entry(
                f"3-{i}", cmd_fields(f"s{i}", m.CREATE_TRADE, emails[i % len(emails)], data)
            )
        assert len(engine.state.trails) == size
        per_tick = _wobble(engine, ticks, rng)
        assert len(engine.state.trails) == size, "a bench tick fired a trailing stop"
        groups = len(engine.state.trail_marks)
        print(
            f"non-firing tick at {size:>9,} trailing stops: {per_tick:.2f} us "
            f"({groups:,} groups left)"
        )
        del engine


def _wobble(engine: Engine, ticks: int, rng: random.Random) -> float:
    """Microseconds per tick of prices wobbling +-2% around the base (decode included)."""
    fields = [
        tick_fields(
            ASSETS[i % 3],
            BASE[ASSETS[i % 3]] + rng.randint(-200, 200) * (BASE[ASSETS[i % 3]] // 10_000),
        )
        for i in range(ticks)
    ]
    daemon_gc_policy()
    apply = engine.apply_price_entry
    start = time.perf_counter_ns()
    for i, f in enumerate(fields):
        apply(f"5-{i}", f)
    return (time.perf_counter_ns() - start) / ticks / 1000


def bench_ticks(sizes: list[int], ticks: int) -> None:
    for size in sizes:
        rng = random.Random(2)
        engine, emails = new_engine(1_000)
        open_positions(engine, emails, size, rng)
        # prices wobble inside +-2%, well inside every SL/TP/liquidation level: nothing fires
        fields = [
            tick_fields(
                ASSETS[i % 3],
                BASE[ASSETS[i % 3]] + rng.randint(-200, 200) * (BASE[ASSETS[i % 3]] // 10_000),
            )
            for i in range(ticks)
        ]
        daemon_gc_policy()
        apply = engine.apply_price_entry
        start = time.perf_counter_ns()
        for i, f in enumerate(fields):
            apply(f"5-{i}", f)
        per_tick = (time.perf_counter_ns() - start) / ticks / 1000
        assert engine.open_positions() == size, "a bench tick fired a trigger"
        print(
            f"non-triggering tick at {size:>9,} open positions: {per_tick:.2f} us "
            f"({1e6 / per_tick:,.0f} ticks/s, decode included)"
        )
        del engine


def bench_memory(size: int) -> None:
    rng = random.Random(3)
    gc.collect()
    tracemalloc.start()
    engine, emails = new_engine(1_000)
    base = tracemalloc.get_traced_memory()[0]
    open_positions(engine, emails, size, rng)
    gc.collect()
    used = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    window = min(size, engine.config.idempotency_window)
    print(
        f"memory: {used / size:,.0f} bytes per open position at {size:,} "
        f"(trade + its index entries + per-user index; plus {window:,} remembered orderIds "
        "amortised)"
    )


def bench_reads(reads: int) -> None:
    """Snapshot size and write time (serialize + gzip + digests) before and after ``reads``
    reads of 100 open and 100 closed trades each: a read changes nothing, so the snapshot
    should not grow."""
    rng = random.Random(4)
    engine, emails = new_engine(1)
    email = emails[0]
    open_positions(engine, emails, 100, rng)
    for i in range(100):
        engine.apply_command_entry(
            f"5-{i}", cmd_fields(f"c{i}", m.CLOSE_TRADE, email, {"tradeId": f"t{i}"})
        )
    open_positions(engine, emails, 100, rng, prefix="u")
    assert engine.open_positions() == 100, "the bench's trades did not open"

    def snapshot() -> tuple[int, float]:
        gc.collect()
        start = time.perf_counter()
        header = snapshot_format.Header(
            created_ms=0, seq=0, last_price_id="0-0", last_command_id="0-0"
        )
        size = len(snapshot_format.encode(header, dump_state(engine.state)))
        return size, time.perf_counter() - start

    before, before_s = snapshot()
    for i in range(reads):
        command = m.GET_CLOSED_TRADES if i % 2 else m.GET_OPEN_TRADES
        engine.apply_command_entry(f"6-{i}", cmd_fields(f"r{i}", command, email, {}))
    after, after_s = snapshot()
    print(
        f"snapshot after {reads:,} reads: {after / 1e6:.2f} MB gzipped, written in "
        f"{after_s * 1000:.0f} ms (before the reads: {before / 1e6:.2f} MB, "
        f"{before_s * 1000:.0f} ms; 100 open and 100 closed trades)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (smoke run)")
    args = parser.parse_args()
    if args.quick:
        bench_mixed(20_000)
        bench_mixed_orders(20_000)
        bench_ticks([1_000, 10_000], 20_000)
        bench_pending_ticks([1_000, 10_000], 20_000)
        bench_trailing_ticks([1_000, 10_000], 20_000)
        bench_memory(10_000)
        bench_reads(10_000)
        return
    bench_mixed(200_000)
    bench_mixed_orders(200_000)
    bench_ticks([1_000, 100_000, 1_000_000], 100_000)
    bench_pending_ticks([1_000, 100_000, 1_000_000], 100_000)
    bench_trailing_ticks([1_000, 100_000, 1_000_000], 100_000)
    bench_memory(1_000_000)
    bench_reads(100_000)


if __name__ == "__main__":
    main()
