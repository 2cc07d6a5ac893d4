"""Typed messages in and out of the engine core: price ticks, commands, responses, events.

The wire (Redis stream fields) is decoded into these at the edge by ``engine.wire``; the core
works on them only, never on dicts of bytes.
"""

from __future__ import annotations

from typing import Any, Final

import msgspec

# Command names, as on the reference protocol's backend-to-engine stream.
CREATE_ACCOUNT: Final = "CREATE_ACCOUNT"
GET_BALANCE: Final = "GET_BALANCE"
GET_USD_BALANCE: Final = "GET_USD_BALANCE"
CREATE_TRADE: Final = "CREATE_TRADE"
CLOSE_TRADE: Final = "CLOSE_TRADE"
GET_OPEN_TRADES: Final = "GET_OPEN_TRADES"
GET_CLOSED_TRADES: Final = "GET_CLOSED_TRADES"
# Operator commands (engine.admin): only from an email in the engine's ADMIN_EMAILS.
SET_MARKET_STATE: Final = "SET_MARKET_STATE"
SET_LIMITS: Final = "SET_LIMITS"
ADJUST_BALANCE: Final = "ADJUST_BALANCE"
FORCE_CLOSE: Final = "FORCE_CLOSE"
GET_REPORT: Final = "GET_REPORT"
ADMIN_COMMANDS: Final = frozenset(
    {SET_MARKET_STATE, SET_LIMITS, ADJUST_BALANCE, FORCE_CLOSE, GET_REPORT}
)
# Pending orders and position management (issue 17).
CREATE_ORDER: Final = "CREATE_ORDER"
CANCEL_ORDER: Final = "CANCEL_ORDER"
GET_OPEN_ORDERS: Final = "GET_OPEN_ORDERS"
MODIFY_TRADE: Final = "MODIFY_TRADE"
COMMANDS: Final = ADMIN_COMMANDS | frozenset(
    {
        CREATE_ACCOUNT,
        GET_BALANCE,
        GET_USD_BALANCE,
        CREATE_TRADE,
        CLOSE_TRADE,
        GET_OPEN_TRADES,
        GET_CLOSED_TRADES,
        CREATE_ORDER,
        CANCEL_ORDER,
        GET_OPEN_ORDERS,
        MODIFY_TRADE,
    }
)

# Event types on engine_events. The reference protocol's three trigger events, plus additive
# lifecycle events so that the worker and the gateway see every balance change on one stream.
ACCOUNT_CREATED: Final = "ACCOUNT_CREATED"
TRADE_OPENED: Final = "TRADE_OPENED"
TRADE_CLOSED: Final = "TRADE_CLOSED"
TRADE_STOP_LOSS: Final = "TRADE_STOP_LOSS"
TRADE_TAKE_PROFIT: Final = "TRADE_TAKE_PROFIT"
TRADE_LIQUIDATED: Final = "TRADE_LIQUIDATED"
TRADE_FORCE_CLOSED: Final = "TRADE_FORCE_CLOSED"
BALANCE_ADJUSTED: Final = "BALANCE_ADJUSTED"
MARKET_STATE_CHANGED: Final = "MARKET_STATE_CHANGED"
ORDER_PLACED: Final = "ORDER_PLACED"
ORDER_FILLED: Final = "ORDER_FILLED"
ORDER_CANCELLED: Final = "ORDER_CANCELLED"
ORDER_EXPIRED: Final = "ORDER_EXPIRED"
ORDER_REJECTED: Final = "ORDER_REJECTED"
TRADE_MODIFIED: Final = "TRADE_MODIFIED"
TRADE_TRAILING_STOP: Final = "TRADE_TRAILING_STOP"

# Pending order types.
LIMIT: Final = "LIMIT"
STOP: Final = "STOP"

SUCCESS: Final = "success"
ERROR: Final = "error"


class PriceItem(msgspec.Struct, frozen=True, gc=False):
    """One asset's price in a price batch. ``bid``/``ask`` default to ``price`` when absent."""

    asset: str
    price: int
    decimal: int
    bid: int | None = None
    ask: int | None = None


class PriceBatch(msgspec.Struct, frozen=True, gc=False):
    """An engine_input entry: a batch of prices from one source."""

    items: list[PriceItem]
    source: str = ""
    timestamp: int = 0


class Command(msgspec.Struct, frozen=True, gc=False):
    """A backend-to-engine entry. ``trade_data`` is the decoded tradeData JSON object."""

    order_id: str
    command: str
    email: str
    trade_data: dict[str, Any]
    timestamp: int = 0


class Response(msgspec.Struct, frozen=True, gc=False):
    """An engine_response entry. ``data`` is JSON-encodable; ``timestamp`` is stream time (ms)."""

    order_id: str
    status: str
    data: Any
    message: str
    timestamp: int
    seq: int


class Event(msgspec.Struct, frozen=True, gc=False, omit_defaults=True):
    """An engine_events entry (reference fields first, then additive ones), in engine integers.

    On a close: ``pnl`` is the realised profit (>= -margin), ``total_return`` = margin + pnl is
    credited to the free balance, ``margin_returned`` = min(margin, total_return) (the reference
    meaning: what comes back of the margin). ``engine.wire`` writes them in human units.
    """

    event_type: str
    trade_id: str
    email: str
    asset: str
    pnl: int
    margin_returned: int
    close_price: int
    timestamp: int
    seq: int
    order_id: str = ""
    direction: str = ""
    margin: int = 0
    leverage: int = 0
    entry_price: int = 0
    exit_price: int = 0
    amount: int = 0  # signed change of the user's free balance caused by this event
    balance: int = 0  # the user's free balance after this event
    total_return: int = 0  # credited to the free balance by a close: margin + pnl (never < 0)
    price_decimals: int = 0  # the asset's price decimals (prices on the wire are human units)
    # an operator's reason (BALANCE_ADJUSTED, TRADE_FORCE_CLOSED, ...); why an order was
    # rejected at fill, cancelled or expired (ORDER_REJECTED, ORDER_CANCELLED, ORDER_EXPIRED)
    reason: str = ""
    market_state: str = ""  # MARKET_STATE_CHANGED: the asset's new state
    # Additive (issue 17), written on the wire only when set: pending orders, amended exits,
    # trailing stops and partial closes. Prices in the asset's decimals, USD in 1/10,000.
    order_type: str = ""  # LIMIT | STOP on ORDER_* events
    order_price: int = 0  # the pending order's price
    closed_margin: int = 0  # TRADE_CLOSED by a partial close: the margin closed
    stop_loss_price: int = 0  # the exits after the event (ORDER_*, TRADE_OPENED by a fill,
    take_profit_price: int = 0  # TRADE_MODIFIED); 0 = none
    trailing_distance: int = 0
    trailing_stop_price: int = 0  # the trailing stop's level then (TRADE_MODIFIED, _TRAILING_STOP)
    expires_at: int = 0  # a pending order's expiry, stream-time ms
    remaining_margin: int = 0  # TRADE_CLOSED by a partial close: the margin still open


Output = Response | Event
