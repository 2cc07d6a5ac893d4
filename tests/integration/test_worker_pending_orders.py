"""Pending orders, amends, trailing stops and partial closes in PostgreSQL, through the real
engine daemon and the worker process (issue 17): every order's state in the orders table,
every reservation and release in the ledger (an unbroken balance chain), partial closes as
rows of their own, amended exits, the reference views, and no dead letter."""

from __future__ import annotations

import itertools

import asyncpg
import pytest
import redis as sync_redis
from redis.asyncio import Redis

from engine import messages as m
from tests.integration.engine_harness import (
    COMMANDS,
    RESPONSES,
    EngineProcess,
    Feeder,
    wait_for,
)
from tests.integration.test_worker_reference_tables import TIMEOUT_S, until
from tests.worker.helpers import (
    all_delivered,
    groups_exist,
    pending,
    worker_config,
    worker_process,
)

pytestmark = pytest.mark.slow
ALICE = "alice@x.io"
USD = 10_000  # USD units per dollar
PX = 10_000  # BTC_USDC price units per dollar (4 decimals)


def _redis_ms(client: sync_redis.Redis) -> int:
    seconds, micros = client.time()
    return int(seconds) * 1000 + int(micros) // 1000


async def test_order_lifecycle_amends_trailing_stop_and_partial_close_become_rows(
    database_url, redis_url, tmp_path
):
    config = worker_config(database_url, redis_url)
    aredis = Redis.from_url(redis_url)
    client = sync_redis.Redis.from_url(redis_url)
    worker = worker_process(database_url, redis_url, "orders")
    engine = EngineProcess(redis_url, tmp_path / "snapshots")
    try:

        await until(lambda: groups_exist(aredis, config), "the worker's consumer groups", [worker])
        engine.start()
        feed = Feeder(client)

        def price_after_commands(dollars: int) -> None:
            # A price entry in the same millisecond as a command is applied before it (the
            # engine's merge order): wait for the next millisecond to put it after.
            (last, _), = client.xrevrange(COMMANDS, count=1)
            last_ms = int(last.split(b"-")[0])
            wait_for(lambda: _redis_ms(client) > last_ms, TIMEOUT_S, "the next millisecond")
            feed.price("BTC_USDC", dollars * PX)

        feed.price("BTC_USDC", 60_000 * PX)
        feed.command(m.CREATE_ACCOUNT, ALICE, order_id="acct")
        feed.command(m.CREATE_ORDER, ALICE, order_id="lim", asset="BTC_USDC",
                     direction="LONG", type="LIMIT", price=59_000, margin=100, leverage=20,
                     stopLossPrice=50_000)
        feed.command(m.CREATE_ORDER, ALICE, order_id="rej", asset="BTC_USDC",
                     direction="LONG", type="LIMIT", price=59_500, margin=20, leverage=10,
                     stopLossPrice=59_000)
        feed.command(m.CREATE_ORDER, ALICE, order_id="can", asset="BTC_USDC",
                     direction="SHORT", type="STOP", price=55_000, margin=50, leverage=10)
        feed.command(m.CANCEL_ORDER, ALICE, order_id="cancel-1", orderId="can")
        expires_at = _redis_ms(client) + 1500
        feed.command(m.CREATE_ORDER, ALICE, order_id="exp", asset="BTC_USDC",
                     direction="LONG", type="LIMIT", price=40_000, margin=10, leverage=10,
                     expiresAt=expires_at)
        # the ask gaps to 58900: "lim" fills there; "rej"'s stop (59000) is not below the bid
        price_after_commands(58_900)
        feed.command(m.MODIFY_TRADE, ALICE, order_id="mod-1", tradeId="lim",
                     takeProfitPrice=65_000, trailingDistance=500)
        price_after_commands(59_000)  # the trailing stop ratchets to 58500
        feed.command(m.CLOSE_TRADE, ALICE, order_id="part-1", tradeId="lim", margin=40)
        price_after_commands(58_400)  # through the trailing stop: the rest closes
        wait_for(lambda: _redis_ms(client) > expires_at, TIMEOUT_S, "the Redis clock")
        feed.price("BTC_USDC", 58_400 * PX)  # the first entry after expiresAt expires "exp"
        feed.command(m.GET_OPEN_ORDERS, ALICE, order_id="open-orders")
        wait_for(lambda: client.xlen(RESPONSES) == len(feed.sent), TIMEOUT_S, "answers")

        async def caught_up() -> bool:
            return await all_delivered(aredis, config) and not await pending(aredis, config)

        await until(caught_up, "the worker to acknowledge everything", [worker])
        assert await aredis.xlen(config.dead_letter_stream) == 0
    finally:
        engine.close()
        worker.terminate()
        worker.wait(timeout=30)
        await aredis.aclose()
        client.close()

    conn = await asyncpg.connect(database_url)
    try:
        orders = {
            r["order_id"]: r
            for r in await conn.fetch(
                "SELECT order_id, order_status, order_status_reason, fill_price FROM orders"
                " WHERE order_status IS NOT NULL"
            )
        }
        answers = await conn.fetch("SELECT order_id, status, message FROM orders")
        assert {k: v["order_status"] for k, v in orders.items()} == {
            "lim": "FILLED", "rej": "REJECTED", "can": "CANCELLED", "exp": "EXPIRED"
        }, [tuple(a) for a in answers]
        assert orders["lim"]["fill_price"] == 58_900 * PX
        assert orders["rej"]["order_status_reason"] == "stopLossPrice is not below the bid at fill"
        assert orders["exp"]["order_status_reason"] == "expired"
        documented = dict(await conn.fetch(
            "SELECT orderid, orderstatus FROM reference.orders WHERE orderstatus IS NOT NULL"
        ))
        assert documented == {"lim": "FILLED", "rej": "REJECTED", "can": "CANCELLED",
                              "exp": "EXPIRED"}

        ledger = await conn.fetch(
            "SELECT seq, amount, balance_before, balance_after, reason, reference FROM ledger"
            " WHERE email = $1 ORDER BY seq", ALICE
        )
        # every change of the free balance, in an unbroken chain from the first deposit
        for before, after in itertools.pairwise(ledger):
            assert after["balance_before"] == before["balance_after"], (before, after)
        moves = [(r["reason"], r["reference"], r["amount"]) for r in ledger]
        assert (m.ORDER_PLACED, "lim", -100 * USD) in moves
        assert (m.ORDER_PLACED, "exp", -10 * USD) in moves
        assert (m.ORDER_CANCELLED, "can", 50 * USD) in moves
        assert (m.ORDER_REJECTED, "rej", 20 * USD) in moves
        assert (m.ORDER_EXPIRED, "exp", 10 * USD) in moves
        assert (m.ORDER_FILLED, "lim", 0) in moves and (m.TRADE_OPENED, "lim", 0) in moves
        assert (m.TRADE_MODIFIED, "lim", 0) in moves
        assert sum(r["amount"] for r in ledger) == ledger[-1]["balance_after"]

        trades = {
            r["trade_id"]: r
            for r in await conn.fetch(
                "SELECT trade_id, parent_trade_id, margin, closed_margin, remaining_margin,"
                " close_reason, stop_loss_price, take_profit_price, trailing_distance,"
                " exit_price, pnl, total_return FROM trades"
            )
        }
        (part_id,) = [k for k in trades if k.startswith("lim#")]
        part, rest = trades[part_id], trades["lim"]
        assert part["parent_trade_id"] == "lim" and part["close_reason"] == "closed"
        assert (part["margin"], part["closed_margin"], part["remaining_margin"]) == (
            40 * USD, 40 * USD, 60 * USD
        )
        assert rest["close_reason"] == "trailing_stop" and rest["exit_price"] == 58_400 * PX
        assert (rest["margin"], rest["closed_margin"]) == (100 * USD, 60 * USD)
        assert (rest["stop_loss_price"], rest["take_profit_price"], rest["trailing_distance"]) == (
            50_000 * PX, 65_000 * PX, 500 * PX
        )
        # the ledger's credits of the two closes are their total returns
        assert (m.TRADE_CLOSED, "lim", part["total_return"]) in moves
        assert (m.TRADE_TRAILING_STOP, "lim", rest["total_return"]) in moves
        statuses = dict(await conn.fetch(
            "SELECT tradeid, status FROM reference.trades WHERE email = $1", ALICE
        ))
        assert statuses == {"lim": "STOP_LOSS", part_id: "CLOSED"}
        levels = await conn.fetchrow(
            "SELECT stoplossprice, takeprofitprice, trailingdistance FROM reference.trades"
            " WHERE tradeid = 'lim'"
        )
        assert tuple(levels) == (50_000 * PX, 65_000 * PX, 500 * PX)
    finally:
        await conn.close()
