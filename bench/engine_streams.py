"""Engine daemon benchmark: the real ``python -m engine`` on a private Redis on this machine.

Prints:
1. end-to-end commands/s, every response received (a producer pipelines XADDs while a reader
   XREADs the responses), and the engine's drain rate of a backlog (no producer competing);
2. latency from XADD to the response arriving at the reader, p50/p99/max, at a fixed offered
   rate of 1,000/s and 10,000/s;
3. ticks/s with 10^5 open positions (non-triggering ticks, a sentinel command after them);
4. snapshot write time and the longest event-loop stall while writing, at 10^5 positions
   (fork mode, and inline mode for comparison), plus latency at 1,000/s while snapshots run;
5. recovery time (process start to caught up) with 10^5 positions in the snapshot and 10^5
   entries to replay after it (their outputs already published, so all are compared).

    .venv/bin/python bench/engine_streams.py            # full run, a few minutes
    .venv/bin/python bench/engine_streams.py --quick    # small sizes, a smoke run
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from itertools import chain
from pathlib import Path
from typing import Any

import uvloop

from devstack.redis_server import RedisServer
from engine.daemon.link import Link
from engine.messages import Command, PriceItem
from engine.wire import encode_command, encode_price_batch

PRICES, COMMANDS, RESPONSES, EVENTS = (
    "engine_input", "backend-to-engine", "engine_response", "engine_events",
)
P = 10_000
BTC = 60_000 * P
ROOT = Path(__file__).resolve().parents[1]


class Engine:
    """One ``python -m engine`` subprocess."""

    def __init__(self, url: str, snaps: Path, *args: str) -> None:
        self.url, self.snaps, self.args = url, snaps, list(args)
        self.log = snaps.parent / "engine.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.offset = 0
        self.started = 0.0

    def start(self, *extra: str) -> Engine:
        self.offset = self.log.stat().st_size if self.log.exists() else 0
        argv = [sys.executable, "-m", "engine", "--redis-url", self.url, "--snapshot-dir",
                str(self.snaps), "--metrics-port", "0", "--log-level", "debug", *self.args, *extra]
        with self.log.open("ab") as log:
            self.started = time.monotonic()
            self.proc = subprocess.Popen(argv, stdout=log, stderr=log, cwd=ROOT)
        return self

    def events(self, name: str) -> list[dict[str, Any]]:
        with self.log.open("rb") as f:
            f.seek(self.offset)
            lines = f.read().splitlines()
        out = []
        for line in lines:
            try:
                item = json.loads(line)
            except ValueError:
                continue
            if item.get("event") == name:
                out.append(item)
        return out

    async def wait_event(self, name: str, timeout: float = 120) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.events(name)
            if found:
                return found[-1]
            assert self.proc is not None and self.proc.poll() is None, "engine exited"
            await asyncio.sleep(0.01)
        raise TimeoutError(name)

    def stop(self, sig: int = signal.SIGTERM) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        return self.proc.wait(timeout=300)


class Client:
    """Producer and response reader in the benchmark process."""

    def __init__(self, url: str, users: int) -> None:
        # The daemon's own bare link (hiredis) for the producer and the reader: with redis-py
        # the benchmark itself would take much of the CPU it shares with the engine.
        self.redis = Link(url, name="bench-producer")
        self.reader = Link(url, name="bench-reader")
        self.users = [f"user{i}@bench.io" for i in range(users)]
        self.n = 0
        self.rng = random.Random(1)
        self.open: list[tuple[str, str]] = []  # (tradeId, owner)
        self.sent_at: dict[str, float] = {}
        self.got_at: dict[str, float] = {}
        self.last_response: bytes | str = "$"

    def fields(self, name: str, email: str, **data: Any) -> tuple[str, dict[str, str]]:
        self.n += 1
        order_id = f"b{self.n}"
        return order_id, encode_command(Command(order_id, name, email, data, 0))

    def mixed(self) -> tuple[str, dict[str, str]]:
        """40% open (with SL and TP), 30% close, 30% balance: the trading mix."""
        roll = self.rng.random()
        email = self.rng.choice(self.users)
        if roll < 0.4 or not self.open:
            order_id, fields = self.fields(
                "CREATE_TRADE", email, asset="BTC_USDC", margin="1", leverage=10,
                direction="LONG", stopLossPrice=str(BTC // P // 2),
                takeProfitPrice=str(BTC // P * 2),
            )
            self.open.append((order_id, email))
            return order_id, fields
        if roll < 0.7:
            trade, owner = self.open.pop(self.rng.randrange(len(self.open)))
            return self.fields("CLOSE_TRADE", owner, tradeId=trade)
        return self.fields("GET_BALANCE", email)

    async def send(self, entries: list[tuple[str, dict[str, str]]], stream: str = COMMANDS,
                   record: bool = False) -> None:
        commands = [["XADD", stream, "*", *chain.from_iterable(f.items())] for _, f in entries]
        now = time.perf_counter()
        if record:
            for order_id, _ in entries:
                self.sent_at[order_id] = now
        await self.redis.execute(commands)

    async def read_responses(self, until: int, timeout: float = 600) -> None:
        """Read responses until ``until`` distinct orderIds answered since the reader began."""
        deadline = time.monotonic() + timeout
        while len(self.got_at) < until:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(self.got_at)} of {until} responses")
            [reply] = await self.reader.execute(
                [["XREAD", "COUNT", 20_000, "BLOCK", 1000, "STREAMS", RESPONSES,
                  self.last_response]], timeout=30,
            )
            now = time.perf_counter()
            for _, entries in reply or []:
                for entry_id, flat in entries:
                    fields = dict(zip(flat[::2], flat[1::2], strict=True))
                    self.got_at.setdefault(fields[b"orderId"].decode(), now)
                    self.last_response = entry_id

    def start_reading(self) -> None:
        self.got_at = {}
        self.sent_at = {}

    async def tick(self) -> None:
        """A fresh price, so trades are not refused for a stale one."""
        item = PriceItem("BTC_USDC", BTC, 4, BTC, BTC + P)
        await self.send([("", encode_price_batch([item], "bench", 0))], stream=PRICES)

    async def setup_accounts(self) -> None:
        self.last_response = await last_id(self.redis, RESPONSES)
        await self.tick()
        batch = [self.fields("CREATE_ACCOUNT", email) for email in self.users]
        for i in range(0, len(batch), 1000):
            await self.send(batch[i : i + 1000])

    async def sentinel(self) -> None:
        """A command whose response means everything sent before it has been applied."""
        entry = self.fields("GET_BALANCE", self.users[0])
        reader_mark = len(self.got_at)
        await self.send([entry])
        while entry[0] not in self.got_at:
            await self.read_responses(reader_mark + 1)
            reader_mark = len(self.got_at)


async def last_id(link: Link, stream: str) -> bytes:
    [reply] = await link.execute([["XREVRANGE", stream, "+", "-", "COUNT", 1]])
    return reply[0][0] if reply else b"0-0"


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def throughput(client: Client, count: int) -> float:
    client.start_reading()
    client.last_response = await last_id(client.redis, RESPONSES)
    began = time.perf_counter()
    reader = asyncio.create_task(client.read_responses(count))
    for i in range(0, count, 1000):
        if i % 20_000 == 0:
            await client.tick()
        await client.send([client.mixed() for _ in range(min(1000, count - i))])
        await asyncio.sleep(0)
    await reader
    return count / (time.perf_counter() - began)


async def latency(client: Client, rate: int, seconds: float) -> tuple[float, float, float, int]:
    client.start_reading()
    client.last_response = await last_id(client.redis, RESPONSES)
    total = int(rate * seconds)
    reader = asyncio.create_task(client.read_responses(total))
    began = time.perf_counter()
    sent = 0
    next_tick = 0.0
    while sent < total:
        if time.perf_counter() > next_tick:
            await client.tick()
            next_tick = time.perf_counter() + 1
        due = min(total, int((time.perf_counter() - began) * rate) + 1)
        if due > sent:
            await client.send([client.mixed() for _ in range(due - sent)], record=True)
            sent = due
        await asyncio.sleep(0.0005)
    await reader
    lat = [(client.got_at[o] - client.sent_at[o]) * 1000 for o in client.sent_at]
    return statistics.median(lat), pct(lat, 0.99), max(lat), len(lat)


async def open_positions(client: Client, count: int) -> None:
    """``count`` trades that no tick in this benchmark triggers (1x leverage, far SL/TP)."""
    client.start_reading()
    for i in range(0, count, 2000):
        await client.tick()
        batch = []
        for j in range(i, min(count, i + 2000)):
            batch.append(client.fields(
                "CREATE_TRADE", client.users[j % len(client.users)], asset="BTC_USDC",
                margin="1", leverage=10, direction="LONG" if j % 2 else "SHORT",
                stopLossPrice=str(BTC // P // 2) if j % 2 else str(BTC // P * 2),
                takeProfitPrice=str(BTC // P * 2) if j % 2 else str(BTC // P // 2),
            ))
        await client.send(batch)
    await client.sentinel()


async def ticks(client: Client, count: int) -> float:
    client.start_reading()
    began = time.perf_counter()
    for i in range(0, count, 2000):
        batch = []
        for j in range(i, min(count, i + 2000)):
            bid = BTC + (j % 200 - 100) * P
            batch.append(("", encode_price_batch([PriceItem("BTC_USDC", bid, 4, bid, bid + P)],
                                                 "bench", 0)))
        await client.send(batch, stream=PRICES)
    await client.sentinel()
    return count / (time.perf_counter() - began)


def rss_mb(engine: Engine) -> float:
    assert engine.proc is not None
    with open(f"/proc/{engine.proc.pid}/status") as status:
        for row in status:
            if row.startswith("VmRSS:"):
                return int(row.split()[1]) / 1024
    return 0.0


def line(text: str) -> None:
    print(text, flush=True)


async def main(quick: bool) -> None:
    positions = 10_000 if quick else 100_000
    n_throughput = 20_000 if quick else 100_000
    users = 1_000
    work = Path(tempfile.mkdtemp(prefix="bench-engine-"))
    line(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at start; "
         f"Redis {shutil.which('redis-server')}, same machine, no persistence; engine, Redis "
         "and this client share the cores")
    try:
        with RedisServer() as server:
            snaps = work / "snaps"
            engine = Engine(server.url, snaps, "--snapshot-interval-s", "5").start()
            await engine.wait_event("caught_up")
            client = Client(server.url, users)
            await client.setup_accounts()
            await client.sentinel()

            # 1. throughput, end to end, then the drain rate of a backlog.
            rate = await throughput(client, n_throughput)
            line(f"end-to-end: {rate:,.0f} commands/s ({n_throughput:,} mixed commands, "
                 "all responses received)")
            assert engine.stop() == 0
            await client.tick()
            backlog = [client.mixed() for _ in range(n_throughput)]
            for i in range(0, len(backlog), 2000):
                await client.send(backlog[i : i + 2000])
            engine.start("--recover")
            caught = await engine.wait_event("caught_up")
            line(f"backlog drain: {n_throughput:,} commands applied and answered in "
                 f"{caught['after_s']:.2f} s from process start = "
                 f"{n_throughput / caught['after_s']:,.0f} commands/s")

            # 2. latency at fixed offered rates.
            for offered, seconds in ((1_000, 5 if quick else 10), (10_000, 3 if quick else 5)):
                p50, p99, worst, n = await latency(client, offered, seconds)
                line(f"latency at {offered:,}/s offered: p50 {p50:.2f} ms, p99 {p99:.2f} ms, "
                     f"max {worst:.2f} ms (n={n:,})")

            # 3. ticks/s with 10^5 open positions.
            await open_positions(client, positions)
            n_ticks = 20_000 if quick else 100_000
            tick_rate = await ticks(client, n_ticks)
            line(f"ticks: {tick_rate:,.0f} ticks/s end to end with {positions:,} open positions "
                 f"({n_ticks:,} non-triggering ticks)")

            # 4. snapshots at 10^5 positions: fork (default) and inline; latency meanwhile.
            assert engine.stop() == 0
            final = engine.events("snapshot_written")[-1]
            line(f"final snapshot (inline, at shutdown): {final['bytes']:,} bytes, "
                 f"{final['duration_ms']:.0f} ms with {final['open_positions']:,} positions")
            engine.start("--recover", "--snapshot-interval-s", "1")
            await engine.wait_event("caught_up")
            p50, p99, worst, n = await latency(client, 1_000, 6)
            await asyncio.sleep(1.5)
            written = engine.events("snapshot_written")
            stalls = [e["loop_stall_ms"] for e in written]
            at = written[-1]["open_positions"]
            line(f"snapshots in fork mode: {len(written)} written at {at:,} positions, engine "
                 f"RSS {rss_mb(engine):,.0f} MB; write "
                 f"{statistics.median(e['duration_ms'] for e in written):.0f} ms median (child); "
                 f"loop stall (the fork) median {statistics.median(stalls):.1f} ms, max "
                 f"{max(stalls):.1f} ms; latency at 1,000/s meanwhile: p50 {p50:.2f} ms, "
                 f"p99 {p99:.2f} ms, max {worst:.2f} ms")
            assert engine.stop() == 0
            engine.start("--recover", "--snapshot-interval-s", "1", "--snapshot-mode", "inline")
            await engine.wait_event("caught_up")
            p50, p99, worst, n = await latency(client, 1_000, 4)
            await asyncio.sleep(1.5)
            written = engine.events("snapshot_written")
            line(f"snapshots in inline mode (comparison): loop stall max "
                 f"{max(e['loop_stall_ms'] for e in written):.0f} ms; latency at 1,000/s "
                 f"meanwhile: p99 {p99:.2f} ms, max {worst:.2f} ms")
            assert engine.stop() == 0

            # 5. recovery: snapshot with 10^5 positions, then 10^5 entries after it, kill -9.
            engine.start("--recover", "--snapshot-interval-s", "3600")
            await engine.wait_event("caught_up")
            client.start_reading()
            entries = 100_000 if not quick else 20_000
            half = entries // 2
            for i in range(0, half, 2000):
                await client.send([client.fields("GET_BALANCE", client.rng.choice(client.users))
                                   for _ in range(min(2000, half - i))])
                bids = [BTC + (j % 200 - 100) * P for j in range(i, min(half, i + 2000))]
                await client.send([("", encode_price_batch([PriceItem("BTC_USDC", b, 4, b, b + P)],
                                                           "bench", 0)) for b in bids],
                                  stream=PRICES)
            await client.sentinel()
            engine.stop(signal.SIGKILL)
            engine.start("--recover", "--snapshot-interval-s", "3600")
            loaded = await engine.wait_event("snapshot_loaded")
            caught = await engine.wait_event("caught_up")
            wall = time.monotonic() - engine.started
            line(f"recovery: {loaded['open_positions']:,} positions loaded in "
                 f"{loaded['load_s']:.2f} s; {caught['replayed_entries']:,} entries replayed, "
                 f"{caught['verified_outputs']:,} outputs compared; caught up "
                 f"{caught['after_s']:.2f} s after main() began, {wall:.2f} s after exec "
                 "(interpreter start and imports included)")
            assert engine.stop() == 0
            client.redis.close()
            client.reader.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
        line(f"load average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    uvloop.run(main(parser.parse_args().quick))
