"""Gateway benchmark: authenticated CREATE_TRADE over HTTP, gateway -> Redis -> engine -> back.

Starts its own private Redis, the engine process and the gateway (``python -m gateway``), signs
in through the real mail link (a local SMTP server), keeps prices fresh, then measures:

1. saturation: ``--connections`` keep-alive connections send back to back for ``--seconds``;
   requests/s of 200 answers;
2. fixed rate: ``--rate`` requests/s on an open-loop schedule for ``--seconds``; latency is
   measured from each request's *scheduled* send time (no coordinated omission): p50/p99.

    .venv/bin/python bench/gateway_http.py [--workers 1] [--seconds 10] [--rate 500]

The load generator is a minimal raw-socket HTTP/1.1 client so that it spends as little of the
machine's CPU as possible; it runs on the same machine as everything else.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import tempfile
import time
from pathlib import Path

import orjson
import redis

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from devstack.redis_server import RedisServer
from tests.gateway.stack import (
    EngineProcess,
    GatewayProcess,
    SmtpSink,
    push_prices,
    sign_in,
)

BODY = orjson.dumps({"asset": "BTC_USDC", "direction": "LONG", "margin": "0.01", "leverage": 20})
PRICES = {"BTC_USDC": (1_000_000_000, 999_990_000, 1_000_010_000)}


def request_bytes(port: int, token: str) -> bytes:
    return (
        f"POST /api/v1/trade/create HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(BODY)}\r\n\r\n"
    ).encode() + BODY


class Conn:
    """One keep-alive HTTP/1.1 connection sending the same request and reading each answer."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> Conn:
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    async def send(self, request: bytes) -> int:
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        await self.reader.readexactly(length)
        return status

    def close(self) -> None:
        self.writer.close()


async def keep_prices_fresh(redis_url: str, stop: asyncio.Event) -> None:
    while not stop.is_set():
        await asyncio.to_thread(push_prices, redis_url, PRICES)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)


async def saturation(port: int, request: bytes, connections: int, seconds: float) -> dict:
    conns = [await Conn.open(port) for _ in range(connections)]
    ok = bad = 0
    deadline = time.perf_counter() + seconds

    async def loop(conn: Conn) -> None:
        nonlocal ok, bad
        while time.perf_counter() < deadline:
            if await conn.send(request) == 200:
                ok += 1
            else:
                bad += 1

    start = time.perf_counter()
    await asyncio.gather(*(loop(c) for c in conns))
    elapsed = time.perf_counter() - start
    for c in conns:
        c.close()
    return {"rps": ok / elapsed, "ok": ok, "errors": bad, "seconds": elapsed}


async def fixed_rate(port: int, request: bytes, rate: int, seconds: float) -> dict:
    total = int(rate * seconds)
    pool: asyncio.Queue[Conn] = asyncio.Queue()
    for _ in range(64):
        pool.put_nowait(await Conn.open(port))
    latencies: list[float] = []
    errors = 0
    start = time.perf_counter() + 0.1

    async def one(i: int) -> None:
        nonlocal errors
        scheduled = start + i / rate
        await asyncio.sleep(max(0.0, scheduled - time.perf_counter()))
        conn = await pool.get()
        try:
            status = await conn.send(request)
        finally:
            pool.put_nowait(conn)
        latencies.append(time.perf_counter() - scheduled)
        if status != 200:
            errors += 1

    await asyncio.gather(*(one(i) for i in range(total)))
    while not pool.empty():
        pool.get_nowait().close()
    latencies.sort()
    ms = [x * 1000 for x in latencies]
    return {
        "rate": rate,
        "requests": total,
        "errors": errors,
        "p50_ms": statistics.median(ms),
        "p99_ms": ms[min(len(ms) - 1, int(len(ms) * 0.99))],
        "max_ms": ms[-1],
    }


async def run(args: argparse.Namespace) -> None:
    with RedisServer() as server, tempfile.TemporaryDirectory(prefix="gw-bench-") as tmp:
        workdir = Path(tmp)
        smtp = SmtpSink().start()
        engine = EngineProcess(server.url, workdir).start()
        gateway = GatewayProcess(
            server.url,
            workdir,
            SMTP_URL=smtp.url,
            GATEWAY_WORKERS=str(args.workers),
            RATE_IP_PER_MIN="0",
            RATE_USER_PER_MIN="0",
            LOG_LEVEL="warning",
        ).start()
        stop = asyncio.Event()
        prices = asyncio.create_task(keep_prices_fresh(server.url, stop))
        try:
            push_prices(server.url, PRICES)
            client = sign_in(gateway, smtp, "bench@example.com")
            token = client.cookies["authToken"]
            request = request_bytes(gateway.port, token)
            warm = await saturation(gateway.port, request, args.connections, 2.0)
            print(f"warm-up: {warm['rps']:.0f} req/s", flush=True)
            sat = await saturation(gateway.port, request, args.connections, args.seconds)
            print(
                f"saturation ({args.connections} connections, {args.workers} worker(s)): "
                f"{sat['rps']:.0f} req/s ({sat['ok']} ok, {sat['errors']} errors)",
                flush=True,
            )
            fixed = await fixed_rate(gateway.port, request, args.rate, args.seconds)
            print(
                f"fixed {fixed['rate']} req/s for {args.seconds:.0f}s: "
                f"p50 {fixed['p50_ms']:.2f} ms, "
                f"p99 {fixed['p99_ms']:.2f} ms, max {fixed['max_ms']:.2f} ms, "
                f"{fixed['errors']} errors of {fixed['requests']}",
                flush=True,
            )
            check = redis.Redis.from_url(server.url)
            print(f"engine responses on the stream: {check.xlen('engine_response')}")
            check.close()
        finally:
            stop.set()
            await prices
            gateway.stop()
            engine.stop()
            smtp.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=1, help="gateway worker processes")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rate", type=int, default=500)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
