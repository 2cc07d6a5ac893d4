"""Batched writes against a real PostgreSQL: idempotent, order-independent, all-or-nothing."""

from __future__ import annotations

import random

import asyncpg
import pytest

from engine.messages import Event, Response
from engine.wire import encode_event, encode_response
from tests.worker.helpers import as_redis, dump
from worker.loadgen import synthetic_history
from worker.mapping import Kind, Rows
from worker.migrate import migrate
from worker.store import is_entry_error, write_rows


@pytest.fixture
async def conn(database_url):
    connection = await asyncpg.connect(database_url)
    await migrate(connection)
    yield connection
    await connection.close()


def batches_of(entries, size):
    for start in range(0, len(entries), size):
        rows = Rows()
        for i, (kind, fields) in enumerate(entries[start : start + size], start):
            rows.add_entry(kind, f"{1000 + i}-0", as_redis(fields))
        yield rows


async def test_same_entries_delivered_twice_give_the_same_rows_once(conn):
    entries = synthetic_history(5, 4, seed=1).entries
    for rows in batches_of(entries, 17):
        await write_rows(conn, rows)
    once = await dump(conn)
    for rows in batches_of(entries, 50):
        await write_rows(conn, rows)
    assert await dump(conn) == once
    assert len(once["ledger"]) == sum(1 for k, _ in entries if k is Kind.EVENT)
    assert len(once["users"]) == 5


async def test_rows_do_not_depend_on_delivery_order(conn):
    history = synthetic_history(4, 5, seed=2)
    indexed = [(i, kind, fields) for i, (kind, fields) in enumerate(history.entries)]
    ordered = Rows()
    for i, kind, fields in indexed:
        ordered.add_entry(kind, f"{1000 + i}-0", as_redis(fields))
    await write_rows(conn, ordered)
    expected = await dump(conn)

    await conn.execute("TRUNCATE users, orders, trades, ledger")
    rng = random.Random(5)
    shuffled = indexed + rng.sample(indexed, len(indexed) // 3)  # some twice
    rng.shuffle(shuffled)
    for start in range(0, len(shuffled), 7):
        rows = Rows()
        for i, kind, fields in shuffled[start : start + 7]:
            rows.add_entry(kind, f"{1000 + i}-0", as_redis(fields))
        await write_rows(conn, rows)
    assert await dump(conn) == expected


async def test_a_close_written_before_its_open_gives_the_full_trade(conn):
    common = dict(
        trade_id="t1",
        email="a@x",
        asset="BTC",
        direction="SHORT",
        margin=10,
        leverage=20,
        entry_price=500,
    )
    opened = Event(
        "TRADE_OPENED",
        pnl=0,
        margin_returned=0,
        close_price=0,
        timestamp=1,
        seq=2,
        order_id="o1",
        amount=-10,
        balance=90,
        **common,
    )
    closed = Event(
        "TRADE_TAKE_PROFIT",
        pnl=4,
        margin_returned=14,
        close_price=480,
        timestamp=5,
        seq=9,
        exit_price=480,
        amount=14,
        balance=104,
        **common,
    )
    for ev in (closed, opened):
        rows = Rows()
        rows.add_entry(Kind.EVENT, f"{ev.seq}-0", as_redis(encode_event(ev)))
        await write_rows(conn, rows)
    trade = await conn.fetchrow("SELECT * FROM trades")
    assert trade["opened_seq"] == 2 and trade["open_order_id"] == "o1"
    assert trade["closed_seq"] == 9 and trade["close_reason"] == "take_profit"
    assert trade["exit_price"] == 480 and trade["pnl"] == 4 and trade["margin_returned"] == 14


async def test_a_failing_batch_writes_nothing_and_is_reported_as_the_entries_fault(conn):
    rows = Rows()
    for seq, oid in ((5, "o1"), (5, "o2")):  # one seq for two orders: an engine bug
        rows.add_entry(
            Kind.RESPONSE,
            f"{seq}-0",
            as_redis(encode_response(Response(oid, "success", None, "", 1, seq))),
        )
    ev = Event("ACCOUNT_CREATED", "", "a@x", "", 0, 0, 0, 1, 1, amount=10, balance=10)
    rows.add_entry(Kind.EVENT, "1-0", as_redis(encode_event(ev)))
    with pytest.raises(asyncpg.UniqueViolationError) as info:
        await write_rows(conn, rows)
    assert is_entry_error(info.value)
    assert await conn.fetchval("SELECT count(*) FROM users") == 0
    assert await conn.fetchval("SELECT count(*) FROM ledger") == 0


async def test_migrate_applies_once_and_refuses_a_changed_or_unknown_migration(conn):
    from worker.migrate import Migration, MigrationError, load_migrations

    assert await migrate(conn) == []
    shipped = load_migrations()
    first = shipped[0]
    changed = Migration(first.version, first.name, first.sql + "\n-- edited")
    with pytest.raises(MigrationError, match="changed"):
        await migrate(conn, [changed, *shipped[1:]])
    with pytest.raises(MigrationError, match="does not know"):
        await migrate(conn, [first])
    extra = Migration(999, "extra", "CREATE TABLE extra_t (x int)")
    assert await migrate(conn, [*shipped, extra]) == [999]
    assert await conn.fetchval("SELECT count(*) FROM schema_migrations") == len(shipped) + 1


async def test_a_failing_migration_leaves_nothing_behind(conn):
    from worker.migrate import Migration, load_migrations

    shipped = load_migrations()
    bad = Migration(
        shipped[-1].version + 1,
        "bad",
        "CREATE TABLE half_t (x int); SELECT no_such_column FROM half_t;",
    )
    with pytest.raises(asyncpg.PostgresError):
        await migrate(conn, [*shipped, bad])
    assert await conn.fetchval("SELECT to_regclass('half_t')") is None
    assert await conn.fetchval("SELECT max(version) FROM schema_migrations") == shipped[-1].version


async def test_text_that_only_looks_like_a_nul_is_stored_as_sent(conn):
    data = {"note": "\\u0000 is six characters", "emoji": "\U0001f600", "big": 2**70}
    rows = Rows()
    rows.add_entry(
        Kind.RESPONSE,
        "1-0",
        as_redis(encode_response(Response("o1", "success", data, "ünï", 1, 4))),
    )
    await write_rows(conn, rows)
    row = await conn.fetchrow("SELECT result::text, message FROM orders")
    import msgspec

    assert msgspec.json.decode(row["result"]) == data
    assert row["message"] == "ünï"


@pytest.mark.parametrize(
    ("amount", "decimals", "scaled"),
    [
        ("201.23", 6, 201_230_000),  # a JSON number, exactly (numeric, not a float)
        ('"201.23"', 6, 201_230_000),  # a decimal string
        ("-5000.00", 4, -50_000_000),
        ("0.1", 0, None),  # not a whole number of units at these decimals
        ('"1e3"', 4, None),
        ('"abc"', 4, None),
        ("1e30", 4, None),  # beyond BIGINT
        ("null", 4, None),
        ('{"a": 1}', 4, None),
        ("5", None, None),  # decimals unknown
    ],
)
async def test_documented_views_scale_answer_amounts_exactly_or_not_at_all(
    conn, amount, decimals, scaled
):
    got = await conn.fetchval("SELECT reference.scaled($1::jsonb, $2)", amount, decimals)
    assert got == scaled


async def test_an_odd_answer_leaves_the_documented_trades_queryable(conn):
    rows = Rows()
    odd = {"tradeId": "o1", "liquidationPrice": "not a price", "stopLossPrice": 1e30,
           "takeProfitPrice": 62000.5}
    rows.add_entry(Kind.RESPONSE, "5-0", as_redis(encode_response(
        Response("o1", "success", odd, "", 5, 3))))
    opened = Event("TRADE_OPENED", "o1", "a@x", "BTC_USDC", 0, 0, 0, 5, 4, order_id="o1",
                   direction="LONG", margin=10_000, leverage=10, entry_price=600_000_000,
                   amount=-10_000, balance=0, price_decimals=4)
    rows.add_entry(Kind.EVENT, "5-1", as_redis(encode_event(opened)))
    await write_rows(conn, rows)
    row = await conn.fetchrow(
        "SELECT liquidationPrice, stopLossPrice, takeProfitPrice, triggerDecimals, status, "
        "userId FROM reference.trades"
    )
    assert tuple(row) == (None, None, 620_005_000, 4, "OPEN", None)
