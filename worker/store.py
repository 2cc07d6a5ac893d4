"""PostgreSQL side of the worker: a batch of rows written in one transaction, idempotently.

Each table gets one ``INSERT ... SELECT FROM unnest(arrays) ON CONFLICT`` per batch (one round
trip whatever the batch size). Conflict rules make a write idempotent and order-independent:
ledger rows are keyed by the engine's seq (DO NOTHING); users, trades and orders keep, per side,
the values of the smallest seq (or earliest command entry), so a redelivered or reordered entry
leaves the same rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg

from worker.mapping import Rows

_USERS = """
INSERT INTO users (email, initial_deposit, created_seq, created_ms)
SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[])
ON CONFLICT (email) DO UPDATE SET
    initial_deposit = EXCLUDED.initial_deposit,
    created_seq = EXCLUDED.created_seq,
    created_ms = EXCLUDED.created_ms
WHERE users.created_seq > EXCLUDED.created_seq
"""

_TRADE_OPENS = """
INSERT INTO trades (trade_id, email, asset, direction, margin, leverage, entry_price,
                    opened_seq, opened_ms, open_order_id, price_decimals)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::bigint[],
                     $7::bigint[], $8::bigint[], $9::bigint[], $10::text[], $11::integer[])
ON CONFLICT (trade_id) DO UPDATE SET
    email = EXCLUDED.email, asset = EXCLUDED.asset, direction = EXCLUDED.direction,
    margin = EXCLUDED.margin, leverage = EXCLUDED.leverage, entry_price = EXCLUDED.entry_price,
    opened_seq = EXCLUDED.opened_seq, opened_ms = EXCLUDED.opened_ms,
    open_order_id = EXCLUDED.open_order_id, price_decimals = EXCLUDED.price_decimals
WHERE trades.opened_seq IS NULL OR trades.opened_seq > EXCLUDED.opened_seq
"""

_TRADE_CLOSES = """
INSERT INTO trades (trade_id, email, asset, direction, margin, leverage, entry_price,
                    close_reason, exit_price, close_price, pnl, margin_returned,
                    closed_seq, closed_ms, close_order_id, total_return, price_decimals,
                    parent_trade_id, closed_margin, remaining_margin)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::bigint[],
                     $7::bigint[], $8::text[], $9::bigint[], $10::bigint[], $11::bigint[],
                     $12::bigint[], $13::bigint[], $14::bigint[], $15::text[], $16::bigint[],
                     $17::integer[], $18::text[], $19::bigint[], $20::bigint[])
ON CONFLICT (trade_id) DO UPDATE SET
    close_reason = EXCLUDED.close_reason, exit_price = EXCLUDED.exit_price,
    close_price = EXCLUDED.close_price, pnl = EXCLUDED.pnl,
    margin_returned = EXCLUDED.margin_returned, closed_seq = EXCLUDED.closed_seq,
    closed_ms = EXCLUDED.closed_ms, close_order_id = EXCLUDED.close_order_id,
    total_return = EXCLUDED.total_return,
    -- the open's decimals when it came first (the same asset's), else the close's
    price_decimals = coalesce(trades.price_decimals, EXCLUDED.price_decimals),
    parent_trade_id = EXCLUDED.parent_trade_id, closed_margin = EXCLUDED.closed_margin,
    remaining_margin = EXCLUDED.remaining_margin
WHERE trades.closed_seq IS NULL OR trades.closed_seq > EXCLUDED.closed_seq
"""

# A pending order's state (migration 0006): the event of the highest seq wins.
_ORDER_STATES = """
INSERT INTO orders (order_id, email, order_status, order_status_seq, order_status_ms,
                    order_status_reason, fill_price)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[],
                     $6::text[], $7::bigint[])
ON CONFLICT (order_id) DO UPDATE SET
    order_status = EXCLUDED.order_status, order_status_seq = EXCLUDED.order_status_seq,
    order_status_ms = EXCLUDED.order_status_ms,
    order_status_reason = EXCLUDED.order_status_reason,
    fill_price = coalesce(EXCLUDED.fill_price, orders.fill_price),
    email = coalesce(orders.email, EXCLUDED.email)
WHERE orders.order_status_seq IS NULL OR orders.order_status_seq < EXCLUDED.order_status_seq
"""

# A trade's exits after TRADE_MODIFIED: the amend of the highest seq wins. The row may not be
# there yet (events arrive in any order): the event's trade fields make it, TRADE_OPENED fixes.
_TRADE_EXITS = """
INSERT INTO trades (trade_id, email, asset, direction, margin, leverage, entry_price,
                    stop_loss_price, take_profit_price, trailing_distance, exits_seq,
                    price_decimals)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::bigint[],
                     $7::bigint[], $8::bigint[], $9::bigint[], $10::bigint[], $11::bigint[],
                     $12::integer[])
ON CONFLICT (trade_id) DO UPDATE SET
    stop_loss_price = EXCLUDED.stop_loss_price,
    take_profit_price = EXCLUDED.take_profit_price,
    trailing_distance = EXCLUDED.trailing_distance, exits_seq = EXCLUDED.exits_seq
WHERE trades.exits_seq IS NULL OR trades.exits_seq < EXCLUDED.exits_seq
"""

_LEDGER = """
INSERT INTO ledger (seq, email, amount, balance_before, balance_after, reason, reference,
                    trade_id, order_id, ts, note)
SELECT * FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[],
                     $6::text[], $7::text[], $8::text[], $9::text[], $10::bigint[], $11::text[])
ON CONFLICT (seq) DO NOTHING
"""

# Changes the engine made on its own; operator commands are audited by a trigger on orders.
_AUDIT = """
INSERT INTO audit_log (entry_id, actor, action, parameters, ts_ms, status)
SELECT e, a, act, p::jsonb, ts, 'success'
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[]) AS u(e, a, act, p, ts)
ON CONFLICT DO NOTHING
"""

# Stream entry IDs compare as (ms, seq) numbers, not as text ("10-0" > "9-0").
_COMMANDS = """
INSERT INTO orders (order_id, command, email, trade_data, command_ts, command_entry, amount,
                    leverage)
SELECT o, c, e, t::jsonb, ts, ce, a, l
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::text[],
            $7::bigint[], $8::bigint[]) AS u(o, c, e, t, ts, ce, a, l)
ON CONFLICT (order_id) DO UPDATE SET
    command = EXCLUDED.command, email = EXCLUDED.email, trade_data = EXCLUDED.trade_data,
    command_ts = EXCLUDED.command_ts, command_entry = EXCLUDED.command_entry,
    amount = EXCLUDED.amount, leverage = EXCLUDED.leverage
WHERE orders.command_entry IS NULL
   OR (split_part(orders.command_entry, '-', 1)::numeric,
       split_part(orders.command_entry, '-', 2)::numeric)
    > (split_part(EXCLUDED.command_entry, '-', 1)::numeric,
       split_part(EXCLUDED.command_entry, '-', 2)::numeric)
"""

_RESPONSES = """
INSERT INTO orders (order_id, status, message, result, response_ts, response_seq, response_entry)
SELECT o, s, m, r::jsonb, ts, seq, re
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::bigint[],
            $7::text[]) AS u(o, s, m, r, ts, seq, re)
ON CONFLICT (order_id) DO UPDATE SET
    status = EXCLUDED.status, message = EXCLUDED.message, result = EXCLUDED.result,
    response_ts = EXCLUDED.response_ts, response_seq = EXCLUDED.response_seq,
    response_entry = EXCLUDED.response_entry
WHERE orders.response_seq IS NULL OR orders.response_seq > EXCLUDED.response_seq
"""


def is_entry_error(exc: BaseException) -> bool:
    """True when PostgreSQL (or asyncpg's encoder) refused the data itself, not the connection.

    Such a batch is retried entry by entry to find the culprit; anything else (connection lost,
    server shutting down, a missing table) is transient and retried whole with backoff.
    """
    return isinstance(
        exc, asyncpg.DataError | asyncpg.IntegrityConstraintViolationError | ValueError
    )


def _columns(rows: Sequence[tuple[Any, ...]], width: int) -> list[list[Any]]:
    if not rows:
        return [[] for _ in range(width)]
    return [list(col) for col in zip(*rows, strict=True)]


async def write_rows(conn: asyncpg.Connection, rows: Rows) -> None:
    """Write a batch of rows in one transaction (all or nothing)."""
    statements = (
        (_USERS, list(rows.users.values()), 4),
        (_TRADE_OPENS, list(rows.trade_opens.values()), 11),
        (_TRADE_CLOSES, list(rows.trade_closes.values()), 20),
        (_TRADE_EXITS, list(rows.trade_exits.values()), 12),
        (_LEDGER, list(rows.ledger.values()), 11),
        (_COMMANDS, list(rows.commands.values()), 8),
        (_ORDER_STATES, list(rows.order_states.values()), 7),
        (_RESPONSES, list(rows.responses.values()), 7),
        (_AUDIT, list(rows.audit.values()), 5),
    )
    async with conn.transaction():
        for sql, table_rows, width in statements:
            if table_rows:
                await conn.execute(sql, *_columns(table_rows, width))
