"""The documented tables (users, orders, trades), queried as the reference documentation writes
them, after real trades through the real engine daemon and the worker process: a stop-loss, a
liquidation, a take-profit, a manual close, a refused order and a trade still open.

Expected values are worked out here from the orders sent (the documented units: USD in 1/10000,
leverage in tenths, prices scaled by 10^decimals), not read back from the engine's answers.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import signal
import subprocess

import asyncpg
import pytest
import redis as sync_redis
from redis.asyncio import Redis

from engine import messages as m
from engine.config import EngineConfig
from engine.money import liquidation_level
from engine.wire import decode_event
from tests.integration.engine_harness import RESPONSES, EngineProcess, Feeder, wait_for
from tests.worker.helpers import (
    all_delivered,
    groups_exist,
    pending,
    worker_config,
    worker_process,
)

pytestmark = pytest.mark.slow
TIMEOUT_S = 120.0
BTC = "BTC_USDC"
DECIMALS = EngineConfig().assets[BTC]
USD = 10_000  # USD units per dollar


def px(units: str) -> int:
    """A BTC price in human units as the documented scaled integer."""
    whole, _, frac = units.partition(".")
    return int(whole) * 10**DECIMALS + int(frac.ljust(DECIMALS, "0") or 0)


def floor_pnl(margin: int, leverage: int, entry: int, exit_price: int, is_long: bool) -> int:
    """Profit in USD units, floored (against the trader): margin x leverage x move / entry."""
    move = exit_price - entry if is_long else entry - exit_price
    return max(-margin, (margin * leverage * move) // (10 * entry))


def utc(ms: int) -> dt.datetime:
    return dt.datetime(1970, 1, 1) + dt.timedelta(milliseconds=ms)


async def until(condition, what: str, procs: list[subprocess.Popen]) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + TIMEOUT_S
    while not await condition():
        for proc in procs:
            assert proc.poll() is None, f"{proc.args} exited: {proc.stderr.read().decode()[-3000:]}"
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def test_documented_tables_after_real_trades(database_url, redis_url, tmp_path):
    config = worker_config(database_url, redis_url)
    aredis = Redis.from_url(redis_url)
    client = sync_redis.Redis.from_url(redis_url)
    worker = worker_process(database_url, redis_url, "ref")
    engine = EngineProcess(redis_url, tmp_path / "snapshots", "--snapshot-interval-s", "5")
    try:

        # The worker's groups exist before any command, so nothing is trimmed before it reads.
        await until(lambda: groups_exist(aredis, config), "the worker's consumer groups", [worker])
        engine.start()
        feed = Feeder(client)

        def settle() -> None:
            # The engine applies a price before commands of the same millisecond: waiting for
            # its answers puts the next price after them, whatever the timing.
            wait_for(lambda: client.xlen(RESPONSES) == len(feed.sent), TIMEOUT_S, "answers")

        users = ["alice@x.io", "bob@x.io", "carol@x.io", "dave@x.io", "erin@x.io"]
        feed.price(BTC, px("60000"))
        for user in users:
            feed.command(m.CREATE_ACCOUNT, user, order_id=f"acct-{user}")
        # Amounts as decimal strings: the same meaning (human units) on either wire form.
        sl = feed.command(m.CREATE_TRADE, "alice@x.io", order_id="t-alice", asset=BTC,
                          direction="LONG", margin="1000", leverage=100, stopLossPrice="59000")
        liq = feed.command(m.CREATE_TRADE, "bob@x.io", order_id="t-bob", asset=BTC,
                           direction="LONG", margin="500", leverage=1000)
        manual = feed.command(m.CREATE_TRADE, "carol@x.io", order_id="t-carol", asset=BTC,
                              direction="SHORT", margin="200", leverage=50,
                              takeProfitPrice="57000")
        # no leverage: the engine's default (10 tenths), shown from its answer
        still_open = feed.command(m.CREATE_TRADE, "erin@x.io", order_id="t-erin", asset=BTC,
                                  direction="LONG", margin="100.5")
        refused = feed.command(m.CREATE_TRADE, "alice@x.io", order_id="t-refused", asset=BTC,
                               direction="LONG", margin="1000000", leverage=10)
        settle()
        feed.price(BTC, px("58900"))  # gaps past alice's stop and bob's liquidation level
        close = feed.command(m.CLOSE_TRADE, "carol@x.io", order_id="c-carol", tradeId=manual)
        tp = feed.command(m.CREATE_TRADE, "dave@x.io", order_id="t-dave", asset=BTC,
                          direction="LONG", margin="300", leverage=20, takeProfitPrice="59500")
        settle()
        feed.price(BTC, px("59600"))  # dave's target
        for user in users:  # answered after every trigger above: a barrier
            feed.command(m.GET_USD_BALANCE, user, order_id=f"bal-{user}")

        async def answered() -> bool:
            return await aredis.xlen(config.response_stream) == len(feed.sent)

        async def caught_up() -> bool:
            return await all_delivered(aredis, config) and not await pending(aredis, config)

        await until(answered, "a response to every command", [worker, engine.proc])
        await until(caught_up, "the worker to acknowledge everything", [worker])
        events = [decode_event(f) for _, f in await aredis.xrange(config.events_stream)]
        assert await aredis.xlen(config.dead_letter_stream) == 0
    finally:
        engine.close()
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
            worker.wait(timeout=60)
        worker.stderr.close()
        await aredis.aclose()
        client.close()

    opened = {e.trade_id: e for e in events if e.event_type == m.TRADE_OPENED}
    closed = {e.trade_id: e for e in events if e.event_type != m.TRADE_OPENED and e.trade_id}
    created = {e.email: e for e in events if e.event_type == m.ACCOUNT_CREATED}

    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("SET search_path = reference, public")

        # users: one documented query; ids are the engine's seqs, so in creation order.
        rows = await conn.fetch("SELECT id, email FROM users ORDER BY id")
        assert [r["email"] for r in rows] == users
        assert [r["id"] for r in rows] == [created[u].seq for u in users]
        user_id = {r["email"]: r["id"] for r in rows}

        # orders
        rows = await conn.fetch(
            "SELECT id, orderId, userId, email, command, asset, direction, amount, leverage, "
            "tradeId, status, latencyMs FROM orders ORDER BY id"
        )
        orders = {r["orderid"]: r for r in rows}
        assert set(orders) == set(feed.sent)
        assert all(r["id"] is not None and r["latencyms"] >= 0 for r in rows)
        assert all(r["userid"] == user_id[r["email"]] for r in rows)
        assert {o: r["status"] for o, r in orders.items() if r["status"] != "SUCCESS"} == {
            refused: "ERROR"
        }
        got = {
            o: tuple(orders[o][k] for k in ("command", "asset", "direction", "amount",
                                            "leverage", "tradeid"))
            for o in (sl, still_open, refused, close)
        }
        assert got == {
            sl: (m.CREATE_TRADE, BTC, "LONG", 1000 * USD, 100, sl),
            still_open: (m.CREATE_TRADE, BTC, "LONG", 1_005_000, 10, still_open),
            refused: (m.CREATE_TRADE, BTC, "LONG", 1_000_000 * USD, 10, None),
            close: (m.CLOSE_TRADE, BTC, "SHORT", None, None, manual),
        }
        assert orders[f"bal-{users[0]}"]["command"] == m.GET_USD_BALANCE

        # trades: every documented column, by status.
        rows = await conn.fetch(
            "SELECT id, tradeId, userId, email, asset, direction, margin, leverage, entryPrice, "
            "entryPriceDecimals, liquidationPrice, liquidationPriceDecimals, stopLossPrice, "
            "takeProfitPrice, triggerDecimals, exitPrice, exitPriceDecimals, pnl, status, "
            "createdAt, updatedAt FROM trades ORDER BY id"
        )
    finally:
        await conn.close()

    trades = {r["tradeid"]: dict(r) for r in rows}
    assert set(trades) == {sl, liq, manual, still_open, tp}
    entry, low, high = px("60000"), px("58900"), px("59600")
    maintenance = EngineConfig().maintenance_bps

    def expected(trade_id, email, direction, margin, leverage, entry_price, *, stop=None,
                 target=None, exit_price=None, status="OPEN"):
        is_long = direction == "LONG"
        level = liquidation_level(margin, leverage, entry_price, is_long, maintenance)
        # As the engine answers today: a level whenever it is above 0 (docs/protocol.md says a 1x
        # LONG has none; the engine answers its tiny level, e.g. 0.0597 for erin)
        has_level = level > 0
        return {
            "id": opened[trade_id].seq,
            "tradeid": trade_id,
            "userid": user_id[email],
            "email": email,
            "asset": BTC,
            "direction": direction,
            "margin": margin,
            "leverage": leverage,
            "entryprice": entry_price,
            "entrypricedecimals": DECIMALS,
            "liquidationprice": level if has_level else None,
            "liquidationpricedecimals": DECIMALS if has_level else None,
            "stoplossprice": stop,
            "takeprofitprice": target,
            "triggerdecimals": DECIMALS if stop or target else None,
            "exitprice": exit_price,
            "exitpricedecimals": DECIMALS if exit_price else None,
            "pnl": (
                floor_pnl(margin, leverage, entry_price, exit_price, is_long)
                if exit_price
                else None
            ),
            "status": status,
            "createdat": utc(opened[trade_id].timestamp),
            "updatedat": utc((closed.get(trade_id) or opened[trade_id]).timestamp),
        }

    assert trades[sl] == expected(sl, "alice@x.io", "LONG", 1000 * USD, 100, entry,
                                  stop=px("59000"), exit_price=low, status="STOP_LOSS")
    assert trades[liq] == expected(liq, "bob@x.io", "LONG", 500 * USD, 1000, entry,
                                   exit_price=low, status="LIQUIDATED")
    assert trades[liq]["pnl"] == -500 * USD  # the whole margin, never more
    assert trades[manual] == expected(manual, "carol@x.io", "SHORT", 200 * USD, 50, entry,
                                      target=px("57000"), exit_price=low, status="CLOSED")
    assert trades[tp] == expected(tp, "dave@x.io", "LONG", 300 * USD, 20, low,
                                  target=px("59500"), exit_price=high, status="TAKE_PROFIT")
    assert trades[still_open] == expected(still_open, "erin@x.io", "LONG", 1_005_000, 10, entry)
