"""Pure mapping from decoded stream entries to the worker's row tuples (no I/O).

Each stream entry becomes rows of a few kinds, each with a natural unique key taken from the
entry itself (the engine's ``seq``, the ``tradeId``, the ``orderId``), so that writing the same
entry twice yields the same rows once. When two different entries compete for one key (a
repeated orderId, a redelivered event), the smallest engine ``seq`` (or, for commands, the
earliest stream position) wins, in Python within a batch and in SQL across batches, so the rows
do not depend on delivery order.

Anything PostgreSQL could not store (NUL characters, integers beyond BIGINT) or that the worker
cannot give a key to (no seq, unknown event type) raises ``MappingError``: the caller sends that
entry to the dead-letter stream instead of retrying it forever.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

import msgspec

from engine import messages as m
from engine.amounts import AmountError, parse_usd
from engine.messages import Command, Event, Response
from engine.stream_ids import EntryIdError, parse_id
from engine.wire import WireError, decode_command, decode_event, decode_response

BIGINT_MIN: Final = -(2**63)
BIGINT_MAX: Final = 2**63 - 1

CLOSE_REASONS: Final = {
    m.TRADE_CLOSED: "closed",
    m.TRADE_STOP_LOSS: "stop_loss",
    m.TRADE_TAKE_PROFIT: "take_profit",
    m.TRADE_LIQUIDATED: "liquidated",
    m.TRADE_FORCE_CLOSED: "force_closed",
    m.TRADE_TRAILING_STOP: "trailing_stop",
}
# A pending order's state after each of its events (migration 0006).
ORDER_STATES: Final = {
    m.ORDER_PLACED: "PENDING",
    m.ORDER_FILLED: "FILLED",
    m.ORDER_CANCELLED: "CANCELLED",
    m.ORDER_EXPIRED: "EXPIRED",
    m.ORDER_REJECTED: "REJECTED",
}
EVENT_TYPES: Final = frozenset(
    {m.ACCOUNT_CREATED, m.TRADE_OPENED, m.BALANCE_ADJUSTED, m.MARKET_STATE_CHANGED,
     m.TRADE_MODIFIED, *CLOSE_REASONS, *ORDER_STATES}
)
PART_SEPARATOR: Final = "#"  # a partial close's row: <tradeId>#<seq> (outside orderIds' alphabet)

# Answers' amounts arrive as exact Decimals (engine.wire): stored as exact JSON numbers.
_json = msgspec.json.Encoder(decimal_format="number")
_ESCAPED_NUL = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")


class MappingError(ValueError):
    """A decodable entry that still cannot become rows; ``reason`` goes to the dead letter."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Kind(StrEnum):
    """Which of the worker's input streams an entry came from."""

    COMMAND = "command"
    RESPONSE = "response"
    EVENT = "event"


# Row tuples, in the column order of the INSERTs in worker.store.
UserRow = tuple[str, int, int, int]
"""email, initial_deposit, created_seq, created_ms"""
TradeOpenRow = tuple[str, str, str, str, int, int, int, int, int, str | None, int]
"""trade_id, email, asset, direction, margin, leverage, entry_price, opened_seq, opened_ms,
open_order_id, price_decimals"""
TradeCloseRow = tuple[
    str, str, str, str, int, int, int, str, int, int, int, int, int, int, str | None, int, int,
    str | None, int, int | None,
]
"""trade_id, email, asset, direction, margin, leverage, entry_price, close_reason, exit_price,
close_price, pnl, margin_returned, closed_seq, closed_ms, close_order_id, total_return,
price_decimals, parent_trade_id, closed_margin, remaining_margin"""
OrderStateRow = tuple[str, str, str, int, int, str | None, int | None]
"""order_id (the pending order's ID), email, order_status, order_status_seq, order_status_ms,
order_status_reason, fill_price"""
TradeExitsRow = tuple[str, str, str, str, int, int, int, int | None, int | None, int | None,
                      int, int]
"""trade_id, email, asset, direction, margin, leverage, entry_price, stop_loss_price,
take_profit_price, trailing_distance, exits_seq, price_decimals (levels NULL when unset)"""
LedgerRow = tuple[int, str, int, int, int, str, str, str | None, str | None, int, str | None]
"""seq, email, amount, balance_before, balance_after, reason, reference, trade_id, order_id, ts,
note (an operator's reason)"""
AuditRow = tuple[str, str, str, str, int]
"""entry_id, actor, action, parameters (JSON text), ts_ms: a change the engine made on its own
(operator commands are audited by the database from the orders table, migration 0004)"""
CommandRow = tuple[str, str, str, str, int, str, int | None, int | None]
"""order_id, command, email, trade_data (JSON text), command_ts, command_entry, amount, leverage"""
ResponseRow = tuple[str, str, str, str, int, int, str]
"""order_id, status, message, result (JSON text), response_ts, response_seq, response_entry"""


def entry_position(entry_id: str) -> tuple[int, int]:
    """``"1700000000000-3"`` -> ``(1700000000000, 3)``; raise ``MappingError`` if malformed."""
    try:
        return parse_id(entry_id)
    except EntryIdError:
        raise MappingError(f"malformed stream entry id {entry_id[:48]!r}") from None


def _check_int(name: str, value: int) -> int:
    if not BIGINT_MIN <= value <= BIGINT_MAX:
        raise MappingError(f"{name} is out of the BIGINT range")
    return value


def _check_text(name: str, value: str) -> str:
    if "\x00" in value:
        raise MappingError(f"{name} contains a NUL character")
    return value


def _json_text(name: str, value: Any) -> str:
    try:
        text = _json.encode(value).decode()
    except (TypeError, ValueError, OverflowError) as exc:  # pragma: no cover - decoded JSON
        raise MappingError(f"{name} cannot be encoded as JSON: {exc}") from None
    # jsonb refuses the NUL code point even escaped (but a literal backslash-u0000 is fine).
    if "\\u0000" in text and _ESCAPED_NUL.search(text):
        raise MappingError(f"{name} contains a NUL character")
    return text


def order_amount(trade_data: Mapping[str, Any]) -> int | None:
    """The USD amount (margin) a command asks for, in USD units, read as the engine reads it
    (``engine.amounts``: a JSON integer is whole USD); None when absent or not a valid amount."""
    if "margin" not in trade_data:
        return None
    try:
        return parse_usd(trade_data["margin"], "margin")
    except AmountError:
        return None


def order_leverage(trade_data: Mapping[str, Any]) -> int | None:
    """The leverage a command asks for, in tenths as on the wire; None unless a JSON integer
    within BIGINT (the engine's range check decides whether the order succeeds)."""
    value = trade_data.get("leverage")
    if type(value) is not int or not BIGINT_MIN <= value <= BIGINT_MAX:
        return None
    return value


def command_row(entry_id: str, command: Command) -> CommandRow:
    """The command side of an orders row; its time is the command's, else its entry's."""
    ms, _ = entry_position(entry_id)
    return (
        _check_text("orderId", command.order_id),
        _check_text("command", command.command),
        _check_text("email", command.email),
        _json_text("tradeData", command.trade_data),
        _check_int("timestamp", command.timestamp or ms),
        entry_id,
        order_amount(command.trade_data),
        order_leverage(command.trade_data),
    )


def response_row(entry_id: str, response: Response) -> ResponseRow:
    """The response side of an orders row; requires the engine's seq (its unique key)."""
    entry_position(entry_id)
    if not response.order_id:
        raise MappingError("response has no orderId")
    if response.seq <= 0:
        raise MappingError("response has no positive seq")
    return (
        _check_text("orderId", response.order_id),
        _check_text("status", response.status),
        _check_text("message", response.message),
        _json_text("data", response.data),
        _check_int("timestamp", response.timestamp),
        _check_int("seq", response.seq),
        entry_id,
    )


@dataclass(slots=True)
class EventRows:
    """The rows one event becomes: a ledger row for every balance change, plus a user or a
    trade side; an audit row for a market state the engine changed on its own."""

    ledger: LedgerRow | None
    user: UserRow | None = None
    trade_open: TradeOpenRow | None = None
    trade_close: TradeCloseRow | None = None
    audit: AuditRow | None = None
    order_state: OrderStateRow | None = None
    trade_exits: TradeExitsRow | None = None


def _market_rows(entry_id: str, event: Event) -> EventRows:
    """A market state change moves no money: audited when the engine made it on its own (an
    operator's SET_MARKET_STATE is audited with its command)."""
    if event.order_id:
        return EventRows(None)
    parameters = {"asset": event.asset, "state": event.market_state, "reason": event.reason}
    return EventRows(
        None,
        audit=(entry_id, "engine", event.event_type, _json_text("parameters", parameters),
               _check_int("timestamp", event.timestamp)),
    )


def event_rows(entry_id: str, event: Event) -> EventRows:
    """Rows of an engine_events entry. The ledger row's key is the engine's seq."""
    entry_position(entry_id)
    if event.event_type not in EVENT_TYPES:
        raise MappingError(f"unknown eventType {event.event_type[:64]!r}")
    if event.seq <= 0:
        raise MappingError("event has no positive seq")
    for name in ("event_type", "trade_id", "email", "asset", "order_id", "direction", "reason",
                 "market_state"):
        _check_text(name, getattr(event, name))
    if event.event_type == m.MARKET_STATE_CHANGED:
        return _market_rows(entry_id, event)
    if not event.email:
        raise MappingError("event has no email")
    for name in ("pnl", "margin_returned", "close_price", "timestamp", "seq", "margin",
                 "leverage", "entry_price", "exit_price", "amount", "balance", "total_return",
                 "price_decimals", "order_price", "closed_margin", "stop_loss_price",
                 "take_profit_price", "trailing_distance", "trailing_stop_price", "expires_at",
                 "remaining_margin"):
        _check_int(name, getattr(event, name))
    before = _check_int("balance - amount", event.balance - event.amount)
    ledger: LedgerRow = (
        event.seq,
        event.email,
        event.amount,
        before,
        event.balance,
        event.event_type,
        event.trade_id or event.order_id,
        event.trade_id or None,
        event.order_id or None,
        event.timestamp,
        event.reason or None,
    )
    if event.event_type == m.ACCOUNT_CREATED:
        return EventRows(ledger, user=(event.email, event.amount, event.seq, event.timestamp))
    if event.event_type == m.BALANCE_ADJUSTED:
        return EventRows(ledger)
    if not event.trade_id:
        raise MappingError(f"{event.event_type} has no tradeId")
    state = ORDER_STATES.get(event.event_type)
    if state is not None:
        # a reservation (ORDER_PLACED), a release (cancelled, expired, rejected) or reserved ->
        # locked (ORDER_FILLED, amount 0): the ledger row above, and the order's state
        return EventRows(
            ledger,
            order_state=(
                event.trade_id, event.email, state, event.seq, event.timestamp,
                event.reason or None,
                event.entry_price if event.event_type == m.ORDER_FILLED else None,
            ),
        )
    if event.event_type == m.TRADE_MODIFIED:
        return EventRows(
            ledger,
            trade_exits=(
                event.trade_id, event.email, event.asset, event.direction, event.margin,
                event.leverage, event.entry_price, event.stop_loss_price or None,
                event.take_profit_price or None, event.trailing_distance or None, event.seq,
                event.price_decimals,
            ),
        )
    if event.event_type == m.TRADE_OPENED:
        return EventRows(
            ledger,
            trade_open=(
                event.trade_id, event.email, event.asset, event.direction, event.margin,
                event.leverage, event.entry_price, event.seq, event.timestamp,
                event.order_id or None, event.price_decimals,
            ),
        )
    partial = event.closed_margin > 0
    return EventRows(
        ledger,
        trade_close=(
            f"{event.trade_id}{PART_SEPARATOR}{event.seq}" if partial else event.trade_id,
            event.email, event.asset, event.direction, event.margin,
            event.leverage, event.entry_price, CLOSE_REASONS[event.event_type],
            event.exit_price or event.close_price, event.close_price, event.pnl,
            event.margin_returned, event.seq, event.timestamp, event.order_id or None,
            event.total_return, event.price_decimals,
            event.trade_id if partial else None,
            event.closed_margin if partial else event.margin,
            event.remaining_margin if partial else None,
        ),
    )


@dataclass(slots=True)
class Rows:
    """A batch of rows, at most one per unique key (smallest seq / earliest entry wins)."""

    users: dict[str, UserRow] = field(default_factory=dict)
    trade_opens: dict[str, TradeOpenRow] = field(default_factory=dict)
    trade_closes: dict[str, TradeCloseRow] = field(default_factory=dict)
    ledger: dict[int, LedgerRow] = field(default_factory=dict)
    commands: dict[str, CommandRow] = field(default_factory=dict)
    responses: dict[str, ResponseRow] = field(default_factory=dict)
    audit: dict[str, AuditRow] = field(default_factory=dict)
    order_states: dict[str, OrderStateRow] = field(default_factory=dict)
    trade_exits: dict[str, TradeExitsRow] = field(default_factory=dict)

    def __len__(self) -> int:
        return (len(self.users) + len(self.trade_opens) + len(self.trade_closes)
                + len(self.ledger) + len(self.commands) + len(self.responses)
                + len(self.audit) + len(self.order_states) + len(self.trade_exits))

    def add_command(self, row: CommandRow) -> None:
        old = self.commands.get(row[0])
        if old is None or entry_position(row[5]) < entry_position(old[5]):
            self.commands[row[0]] = row

    def add_response(self, row: ResponseRow) -> None:
        old = self.responses.get(row[0])
        if old is None or row[5] < old[5]:
            self.responses[row[0]] = row

    def add_event(self, rows: EventRows) -> None:
        if rows.ledger is not None:
            self.ledger.setdefault(rows.ledger[0], rows.ledger)
        if rows.audit is not None:
            self.audit.setdefault(rows.audit[0], rows.audit)
        if rows.user is not None:
            old_user = self.users.get(rows.user[0])
            if old_user is None or rows.user[2] < old_user[2]:
                self.users[rows.user[0]] = rows.user
        if rows.trade_open is not None:
            old_open = self.trade_opens.get(rows.trade_open[0])
            if old_open is None or rows.trade_open[7] < old_open[7]:
                self.trade_opens[rows.trade_open[0]] = rows.trade_open
        if rows.trade_close is not None:
            old_close = self.trade_closes.get(rows.trade_close[0])
            if old_close is None or rows.trade_close[12] < old_close[12]:
                self.trade_closes[rows.trade_close[0]] = rows.trade_close
        # an order's state and a trade's exits: the latest event (highest seq) wins
        if rows.order_state is not None:
            old_state = self.order_states.get(rows.order_state[0])
            if old_state is None or rows.order_state[3] > old_state[3]:
                self.order_states[rows.order_state[0]] = rows.order_state
        if rows.trade_exits is not None:
            old_exits = self.trade_exits.get(rows.trade_exits[0])
            if old_exits is None or rows.trade_exits[10] > old_exits[10]:
                self.trade_exits[rows.trade_exits[0]] = rows.trade_exits

    def add_entry(self, kind: Kind, entry_id: str, fields: Mapping[Any, Any]) -> None:
        """Decode one stream entry with the engine's codecs and add its rows.

        Raises ``WireError`` (undecodable) or ``MappingError`` (decodable but unstorable);
        the batch is unchanged then.
        """
        if kind is Kind.EVENT:
            self.add_event(event_rows(entry_id, decode_event(fields)))
        elif kind is Kind.RESPONSE:
            self.add_response(response_row(entry_id, decode_response(fields)))
        else:
            self.add_command(command_row(entry_id, decode_command(fields)))


def reject_reason(exc: WireError | MappingError) -> str:
    """The dead-letter reason of an entry the worker cannot write."""
    prefix = "undecodable" if isinstance(exc, WireError) else "unstorable"
    return f"{prefix}: {exc.reason}"
