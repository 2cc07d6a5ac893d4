"""The gateway's read module against PostgreSQL: keyset pages, newest first, one user only."""

from __future__ import annotations

import itertools

import asyncpg
import pytest

from engine.messages import Event
from engine.wire import encode_event
from tests.worker.helpers import as_redis
from worker import history
from worker.loadgen import synthetic_history
from worker.mapping import Kind, Rows
from worker.migrate import migrate
from worker.store import write_rows

USER = "user1@example.com"


@pytest.fixture
async def pool(database_url):
    p = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
    async with p.acquire() as conn:
        await migrate(conn)
        rows = Rows()
        for i, (kind, fields) in enumerate(synthetic_history(3, 12, seed=7).entries):
            rows.add_entry(kind, f"{1000 + i}-0", as_redis(fields))
        await write_rows(conn, rows)
    yield p
    await p.close()


async def all_pages(fetch, limit):
    items, cursor, pages = [], None, 0
    while True:
        page = await fetch(limit=limit, cursor=cursor)
        assert len(page.items) <= limit
        items += page.items
        pages += 1
        assert pages < 100
        if page.next_cursor is None:
            return items, pages
        cursor = page.next_cursor


async def test_closed_trades_pages_cover_every_closed_trade_once_newest_first(pool):
    async def fetch(**kw):
        return await history.closed_trades(pool, USER, **kw)

    items, pages = await all_pages(fetch, 4)
    expected = await pool.fetch(
        "SELECT trade_id FROM trades WHERE email = $1 AND closed_seq IS NOT NULL "
        "ORDER BY closed_seq DESC",
        USER,
    )
    assert [t.trade_id for t in items] == [r["trade_id"] for r in expected]
    assert len(items) > 4 and pages == -(-len(items) // 4)
    assert all(t.reason in ("closed", "stop_loss", "take_profit", "liquidated") for t in items)
    assert all(t.closed_at >= (t.opened_at or 0) for t in items)


async def test_orders_pages_cover_every_order_with_its_result(pool):
    async def fetch(**kw):
        return await history.orders(pool, USER, **kw)

    items, _ = await all_pages(fetch, 5)
    expected = await pool.fetchval("SELECT count(*) FROM orders WHERE email = $1", USER)
    assert len(items) == expected == len({o.order_id for o in items})
    keys = [(o.created_at, o.order_id) for o in items]
    assert keys == sorted(keys, reverse=True)
    assert all(o.status in ("success", "error") and o.latency_ms is not None for o in items)
    assert any(isinstance(o.result, dict) for o in items)
    assert all(isinstance(o.trade_data, dict) for o in items)


async def test_ledger_pages_add_up_to_the_balance(pool):
    async def fetch(**kw):
        return await history.ledger(pool, USER, **kw)

    items, _ = await all_pages(fetch, 7)
    assert [e.seq for e in items] == sorted((e.seq for e in items), reverse=True)
    assert items[0].balance_after == sum(e.amount for e in items)
    assert items[-1].reason == "ACCOUNT_CREATED" and items[-1].balance_before == 0
    for newer, older in itertools.pairwise(items):
        assert newer.balance_before == older.balance_after


async def test_rows_arriving_between_pages_neither_repeat_nor_shift_the_next_page(pool):
    first = await history.ledger(pool, USER, limit=3)
    newer = Event(
        "TRADE_OPENED",
        "tnew",
        USER,
        "BTC",
        0,
        0,
        0,
        9,
        10**9,
        margin=1,
        amount=-1,
        balance=first.items[0].balance_after - 1,
    )
    rows = Rows()
    rows.add_entry(Kind.EVENT, "99999-0", as_redis(encode_event(newer)))
    async with pool.acquire() as conn:
        await write_rows(conn, rows)
    second = await history.ledger(pool, USER, limit=3, cursor=first.next_cursor)
    assert second.items[0].seq < first.items[-1].seq
    assert not {e.seq for e in first.items} & {e.seq for e in second.items}


async def test_unknown_user_gets_an_empty_last_page(pool):
    page = await history.orders(pool, "nobody@example.com")
    assert page.items == [] and page.next_cursor is None


async def test_a_cursor_of_another_kind_or_garbage_is_refused(pool):
    orders_page = await history.orders(pool, USER, limit=1)
    with pytest.raises(history.HistoryError):
        await history.ledger(pool, USER, cursor=orders_page.next_cursor)
    with pytest.raises(history.HistoryError):
        await history.closed_trades(pool, USER, cursor="garbage!")
    with pytest.raises(history.HistoryError):
        await history.orders(pool, USER, limit=0)
