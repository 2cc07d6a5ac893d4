"""Reconciliation: a load run through the real engine (``python -m engine``) and the worker.

Afterwards the worker's rows must equal the engine's responses and events one to one, and every
user's ledger must sum to the balance the engine itself reports for that user.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
from decimal import Decimal

import asyncpg
import pytest
from redis.asyncio import Redis

from engine import messages as m
from engine.amounts import format_amount, parse_usd
from engine.messages import Command, PriceItem
from engine.wire import decode_event, decode_response, encode_command, encode_price_batch
from tests.worker.helpers import all_delivered, pending, worker_config
from worker.mapping import CLOSE_REASONS

pytest.importorskip("engine.daemon", reason="the engine daemon (engine.daemon) is not on main yet")

pytestmark = pytest.mark.slow
TIMEOUT_S = 120
PRICE_STREAM = "engine_input"
DECIMALS = 4
START_PRICES = {
    "BTC_USDC": 60_000 * 10**DECIMALS,
    "ETH_USDC": 3_000 * 10**DECIMALS,
    "SOL_USDC": 150 * 10**DECIMALS,
}


def spawn(argv: list[str], env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, *argv],
        env=os.environ | env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


async def wait_for(condition, what: str, procs: list[subprocess.Popen]) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + TIMEOUT_S
    while not await condition():
        for proc in procs:
            if proc.poll() is not None:
                raise AssertionError(f"{proc.args} exited: {proc.stderr.read().decode()[-3000:]}")
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


class Gateway:
    """Plays the gateway and the poller: XADDs commands and prices as they would."""

    def __init__(self, redis: Redis, commands_stream: str) -> None:
        self.redis = redis
        self.commands_stream = commands_stream
        self.sent: list[Command] = []
        self.n = 0
        self.prices = dict(START_PRICES)

    async def command(self, name: str, email: str, data: dict, order_id: str = "") -> str:
        if not order_id:
            self.n += 1
            order_id = f"ord-{self.n}"
        command = Command(order_id, name, email, data, 0)
        self.sent.append(command)
        await self.redis.xadd(self.commands_stream, encode_command(command))  # type: ignore[arg-type]
        return order_id

    async def tick(self, moves: dict[str, int]) -> None:
        """Move prices by the given basis points and publish them with a 2 bps spread."""
        items = []
        for asset, bps in moves.items():
            price = max(10**DECIMALS, self.prices[asset] * (10_000 + bps) // 10_000)
            self.prices[asset] = price
            spread = max(1, price // 10_000)
            items.append(PriceItem(asset, price, DECIMALS, price - spread, price + spread))
        await self.redis.xadd(PRICE_STREAM, encode_price_batch(items, "test", 0))  # type: ignore[arg-type]


async def drive_load(gw: Gateway, users: list[str], rng: random.Random) -> None:
    """Accounts, trades with stops and targets, manual closes, queries, refusals, swings."""
    await gw.tick(dict.fromkeys(START_PRICES, 0))
    first_orders = [await gw.command(m.CREATE_ACCOUNT, u, {}) for u in users]
    opened: dict[str, list[str]] = {u: [] for u in users}
    for _ in range(8):
        await gw.tick({a: rng.randint(-30, 30) for a in START_PRICES})
        for user in users:
            roll = rng.random()
            if roll < 0.55:
                asset = rng.choice(list(START_PRICES))
                is_long = rng.random() < 0.5
                price = gw.prices[asset]
                # tradeData in human units: a JSON integer margin is whole USD, prices as text
                data: dict = {
                    "asset": asset,
                    "direction": "LONG" if is_long else "SHORT",
                    "margin": rng.choice((rng.randint(10, 400), f"{rng.randint(1000, 40000)}.25")),
                    "leverage": rng.choice((10, 50, 100, 500, 1000)),
                }
                sign = -1 if is_long else 1
                if rng.random() < 0.5:
                    stop = price + sign * price * rng.randint(20, 300) // 10_000
                    data["stopLossPrice"] = format_amount(stop, DECIMALS)
                if rng.random() < 0.5:
                    target = price - sign * price * rng.randint(20, 300) // 10_000
                    data["takeProfitPrice"] = format_amount(target, DECIMALS)
                opened[user].append(await gw.command(m.CREATE_TRADE, user, data))
            elif roll < 0.75 and opened[user]:
                trade_id = opened[user].pop(rng.randrange(len(opened[user])))
                await gw.command(m.CLOSE_TRADE, user, {"tradeId": trade_id})
            elif roll < 0.85:
                await gw.command(m.GET_BALANCE, user, {})
            elif roll < 0.9:
                await gw.command(
                    m.CREATE_TRADE,
                    user,
                    {"asset": "BTC_USDC", "direction": "LONG", "margin": 10**12},
                )  # refused
            else:
                await gw.command("NOT_A_COMMAND", user, {})
        # A swing that fires stops, targets and liquidations.
        await gw.tick({a: rng.choice((-250, -120, 120, 250)) for a in START_PRICES})
    # Retries of earlier orderIds: the engine answers them again and changes nothing.
    for user, order_id in list(zip(users, first_orders, strict=True))[:3]:
        await gw.command(m.CREATE_ACCOUNT, user, {}, order_id=order_id)
    for user in users:
        await gw.command(m.GET_USD_BALANCE, user, {})


async def test_rows_equal_the_engines_outputs_and_ledgers_its_balances(
    database_url, redis_url, tmp_path
):
    config = worker_config(database_url, redis_url)
    redis = Redis.from_url(redis_url)
    env = {"DATABASE_URL": database_url, "REDIS_URL": redis_url}
    worker = spawn(
        [
            "-m",
            "worker",
            "run",
            "--consumer",
            "reconcile",
            "--block-ms",
            "50",
            "--log-level",
            "WARNING",
        ],
        env,
    )
    procs = [worker]
    try:

        async def groups_exist() -> bool:
            return bool(await redis.exists(config.commands_stream)) and bool(
                await redis.xinfo_groups(config.commands_stream)
            )

        # The worker's group exists before any command, so the engine never trims one away.
        await wait_for(groups_exist, "the worker's consumer groups", procs)
        engine = spawn(
            [
                "-m",
                "engine",
                "--snapshot-dir",
                str(tmp_path / "snapshots"),
                "--metrics-port",
                "0",
                "--snapshot-interval-s",
                "0.5",
                "--log-level",
                "warning",
            ],
            env,
        )
        procs.append(engine)

        gw = Gateway(redis, config.commands_stream)
        users = [f"trader{i}@example.com" for i in range(30)]
        await drive_load(gw, users, random.Random(21))

        async def engine_answered() -> bool:
            return await redis.xlen(config.response_stream) == len(gw.sent)

        await wait_for(engine_answered, "a response to every command", procs)

        async def worker_caught_up() -> bool:
            return await all_delivered(redis, config) and not await pending(redis, config)

        await wait_for(worker_caught_up, "the worker to acknowledge everything", procs)
        for proc in reversed(procs):
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=TIMEOUT_S) == 0, proc.stderr.read().decode()[-3000:]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stderr.close()

    responses = [decode_response(f) for _, f in await redis.xrange(config.response_stream)]
    events = [decode_event(f) for _, f in await redis.xrange(config.events_stream)]
    assert await redis.xlen(config.dead_letter_stream) == 0
    await redis.aclose()
    conn = await asyncpg.connect(database_url)
    try:
        await reconcile(conn, gw, users, responses, events)
    finally:
        await conn.close()


async def reconcile(conn, gw: Gateway, users, responses, events) -> None:
    # Orders: one row per orderId, holding its first response and its first command.
    first: dict[str, object] = {}
    for r in sorted(responses, key=lambda r: r.seq):
        first.setdefault(r.order_id, r)
    rows = {r["order_id"]: r for r in await conn.fetch("SELECT * FROM orders")}
    assert set(rows) == set(first)
    assert len(responses) == len(gw.sent) > len(first)  # the retries were answered again
    for order_id, r in first.items():
        row = rows[order_id]
        assert (row["status"], row["message"], row["response_seq"], row["response_ts"]) == (
            r.status,
            r.message,
            r.seq,
            r.timestamp,
        )
        assert m_json(row["result"]) == r.data
        assert row["latency_ms"] is not None and row["latency_ms"] >= 0
    sent = {}
    for c in gw.sent:
        sent.setdefault(c.order_id, c)
    for order_id, c in sent.items():
        row = rows[order_id]
        assert (row["command"], row["email"], m_json(row["trade_data"])) == (
            c.command,
            c.email,
            c.trade_data,
        )
    assert {r.status for r in first.values()} == {m.SUCCESS, m.ERROR}

    # Ledger: one row per event, keyed by the engine's seq, with its amounts.
    ledger = {r["seq"]: r for r in await conn.fetch("SELECT * FROM ledger")}
    assert set(ledger) == {e.seq for e in events}
    for e in events:
        row = ledger[e.seq]
        assert (row["email"], row["amount"], row["balance_after"], row["reason"]) == (
            e.email,
            e.amount,
            e.balance,
            e.event_type,
        )
        assert row["balance_before"] == e.balance - e.amount

    # Trades: opened by TRADE_OPENED, closed by the closing event with its reason.
    trades = {r["trade_id"]: r for r in await conn.fetch("SELECT * FROM trades")}
    opens = {e.trade_id: e for e in events if e.event_type == m.TRADE_OPENED}
    closes = {e.trade_id: e for e in events if e.event_type in CLOSE_REASONS}
    assert set(trades) == set(opens) and set(closes) <= set(opens)
    for trade_id, row in trades.items():
        assert row["opened_seq"] == opens[trade_id].seq
        close = closes.get(trade_id)
        if close is None:
            assert row["closed_seq"] is None
            continue
        assert (
            row["close_reason"],
            row["pnl"],
            row["margin_returned"],
            row["total_return"],
            row["closed_seq"],
            row["exit_price"],
            row["price_decimals"],
        ) == (
            CLOSE_REASONS[close.event_type],
            close.pnl,
            min(close.margin, close.margin + close.pnl),  # the reference meaning
            close.margin + close.pnl,  # what the ledger credits
            close.seq,
            close.exit_price,
            DECIMALS,
        )
        assert ledger[close.seq]["amount"] == row["total_return"]
    reasons = {r["close_reason"] for r in trades.values()}
    # the load exercised every exit a trader's orders and prices can cause (an operator's
    # forced close has its own test: test_worker_audit.py; the load sets no trailing stops,
    # test_worker_pending_orders.py fires one)
    assert set(CLOSE_REASONS.values()) - {"force_closed", "trailing_stop"} <= reasons, reasons
    assert await conn.fetchval("SELECT count(*) FROM users") == len(users)

    # Each user's ledger sums to the balance the engine reports (its last GET_USD_BALANCE,
    # usdBalance in human units, an exact JSON number).
    balance_orders = {c.order_id for c in gw.sent if c.command == m.GET_USD_BALANCE}
    reported = {}
    for r in responses:
        if r.order_id in balance_orders:
            assert r.status == m.SUCCESS, r
            reported[r.data["email"]] = parse_usd(str(r.data["usdBalance"]), "usdBalance")
    sums = dict(await conn.fetch("SELECT email, sum(amount)::bigint FROM ledger GROUP BY email"))
    assert set(reported) == set(users)
    assert sums == reported


def m_json(value):
    import msgspec

    # numbers with a fraction as exact Decimals, as engine.wire decodes answers
    if not isinstance(value, str):
        return value
    return msgspec.json.Decoder(float_hook=Decimal).decode(value)
