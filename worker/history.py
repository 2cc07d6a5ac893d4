"""Read side for the gateway: a user's closed trades, orders and ledger, newest first, by pages.

Pagination is by keyset, not OFFSET: a page ends with an opaque ``next_cursor`` that names the
last row shown, and the next page starts strictly after it, so pages stay fast and stable while
new rows arrive. Pass any ``asyncpg`` connection or pool; values are integers as stored (USD in
1/10000, prices in the asset's decimals, times in ms). Tables are named with their schema
(``public``): a search_path that puts the documented views (schema ``reference``) first, as a
report role may have, does not change what these read.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any, Generic, Protocol, TypeVar

import msgspec

DEFAULT_LIMIT = 50
MAX_LIMIT = 500

T = TypeVar("T")


class Queryable(Protocol):
    """An asyncpg connection or pool (anything with asyncpg's ``fetch``)."""

    async def fetch(self, query: str, *args: Any) -> list[Any]: ...


class HistoryError(ValueError):
    """A bad request to the read module (a malformed cursor, a limit out of range)."""


class ClosedTrade(msgspec.Struct, frozen=True):
    """A closed trade, or the part of one a partial close closed (the same ``trade_id``, the
    part's ``margin``); ``reason`` is closed, stop_loss, take_profit, liquidated,
    force_closed or trailing_stop."""

    trade_id: str
    asset: str
    direction: str
    margin: int
    leverage: int
    entry_price: int
    exit_price: int
    pnl: int
    margin_returned: int
    reason: str
    opened_at: int | None
    closed_at: int
    open_order_id: str | None
    close_order_id: str | None


class OrderRecord(msgspec.Struct, frozen=True):
    """A command and its result; ``status`` is None while no response has been written."""

    order_id: str
    command: str
    trade_data: Any
    created_at: int
    status: str | None
    message: str | None
    result: Any
    responded_at: int | None
    latency_ms: int | None


class LedgerEntry(msgspec.Struct, frozen=True):
    """One change of the user's free balance; ``reason`` is the engine's event type."""

    seq: int
    amount: int
    balance_before: int
    balance_after: int
    reason: str
    reference: str
    trade_id: str | None
    order_id: str | None
    ts: int


class Page(msgspec.Struct, Generic[T], frozen=True):
    """One page of rows and the cursor of the next page (None on the last page)."""

    items: list[T]
    next_cursor: str | None


_cursor_decoder = msgspec.json.Decoder(list[int | str])


def encode_cursor(values: list[int | str]) -> str:
    """An opaque cursor for the key of the last row of a page."""
    return base64.urlsafe_b64encode(msgspec.json.encode(values)).decode().rstrip("=")


def decode_cursor(cursor: str, types: tuple[type, ...]) -> list[Any]:
    """The key inside a cursor; ``HistoryError`` unless it has exactly ``types``."""
    if not isinstance(cursor, str) or not cursor or len(cursor) > 1024:
        raise HistoryError("malformed cursor")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = _cursor_decoder.decode(raw)
    except (binascii.Error, ValueError, msgspec.DecodeError):
        raise HistoryError("malformed cursor") from None
    if len(values) != len(types) or not all(
        type(v) is t for v, t in zip(values, types, strict=True)
    ):
        raise HistoryError("malformed cursor")
    for v in values:
        if isinstance(v, int) and not -(2**63) <= v < 2**63:
            raise HistoryError("malformed cursor")
    return values


def _check(email: str, limit: int) -> None:
    if not isinstance(email, str) or not email:
        raise HistoryError("email is required")
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise HistoryError(f"limit must be 1 to {MAX_LIMIT}")


def _json(value: Any) -> Any:
    # Without a jsonb codec on the connection asyncpg returns JSON text.
    return msgspec.json.decode(value) if isinstance(value, str) else value


_TRADES = """
SELECT coalesce(parent_trade_id, trade_id), asset, direction, coalesce(closed_margin, margin),
       leverage, entry_price, exit_price, pnl,
       margin_returned, close_reason, opened_ms, closed_ms, open_order_id, close_order_id,
       closed_seq
FROM public.trades WHERE email = $1 AND closed_seq IS NOT NULL {after}
ORDER BY closed_seq DESC LIMIT $2
"""


async def closed_trades(
    db: Queryable, email: str, *, limit: int = DEFAULT_LIMIT, cursor: str | None = None
) -> Page[ClosedTrade]:
    """The user's closed trades, most recently closed first."""
    _check(email, limit)
    args: list[Any] = [email, limit + 1]
    after = ""
    if cursor is not None:
        args += decode_cursor(cursor, (int,))
        after = "AND closed_seq < $3"
    rows = await db.fetch(_TRADES.format(after=after), *args)
    items = [ClosedTrade(*r[:14]) for r in rows[:limit]]
    more = len(rows) > limit
    return Page(items, encode_cursor([rows[limit - 1]["closed_seq"]]) if more else None)


_ORDERS = """
SELECT order_id, command, trade_data, command_ts, status, message, result, response_ts,
       latency_ms
FROM public.orders WHERE email = $1 {after}
ORDER BY command_ts DESC, order_id DESC LIMIT $2
"""


async def orders(
    db: Queryable, email: str, *, limit: int = DEFAULT_LIMIT, cursor: str | None = None
) -> Page[OrderRecord]:
    """The user's commands with their results, newest first (by the command's time)."""
    _check(email, limit)
    args: list[Any] = [email, limit + 1]
    after = ""
    if cursor is not None:
        args += decode_cursor(cursor, (int, str))
        after = "AND (command_ts, order_id) < ($3, $4)"
    rows = await db.fetch(_ORDERS.format(after=after), *args)
    items = [
        OrderRecord(r[0], r[1], _json(r[2]), r[3], r[4], r[5], _json(r[6]), r[7], r[8])
        for r in rows[:limit]
    ]
    more = len(rows) > limit
    last = rows[limit - 1] if more else None
    return Page(items, encode_cursor([last["command_ts"], last["order_id"]]) if last else None)


_LEDGER = """
SELECT seq, amount, balance_before, balance_after, reason, reference, trade_id, order_id, ts
FROM public.ledger WHERE email = $1 {after}
ORDER BY seq DESC LIMIT $2
"""


async def ledger(
    db: Queryable, email: str, *, limit: int = DEFAULT_LIMIT, cursor: str | None = None
) -> Page[LedgerEntry]:
    """The user's balance changes, newest first."""
    _check(email, limit)
    args: list[Any] = [email, limit + 1]
    after = ""
    if cursor is not None:
        args += decode_cursor(cursor, (int,))
        after = "AND seq < $3"
    rows = await db.fetch(_LEDGER.format(after=after), *args)
    items = [LedgerEntry(*r) for r in rows[:limit]]
    more = len(rows) > limit
    return Page(items, encode_cursor([rows[limit - 1]["seq"]]) if more else None)
