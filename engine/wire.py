"""Codecs between Redis stream entries (field maps) and the engine's typed messages.

Formats are the reference protocol's (docs/protocol.md), field for field; additions are additive
fields only:
- ``engine_input``: source, data = base64(JSON list of {asset, price, decimal[, bid, ask]}),
  format = ``base64_v1``, timestamp. Prices are scaled integers, as digit strings or integers.
- ``backend-to-engine``: orderId, command, email, tradeData (JSON object), timestamp. JSON
  numbers with a fraction reach the core as their text (exact), integers as ints.
- ``engine_response``: orderId, status, data (JSON), message, timestamp; plus seq.
- ``engine_events``: eventType, tradeId, email, asset, pnl, marginReturned, closePrice,
  timestamp (amounts as decimal strings in human units); plus seq, orderId, direction, margin,
  leverage, entryPrice, exitPrice, totalReturn, amount, balance, priceDecimals.

Every decoder raises ``WireError`` (never anything else) on malformed input, whatever the bytes:
size and nesting are bounded before JSON is decoded, so a result never depends on the stack
depth of the caller (live and replay agree). The error carries the entry's orderId when one could
be read, so the caller can answer it.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import msgspec

from engine.amounts import AmountError, format_amount, format_event_amount, parse_event_amount
from engine.messages import Command, Event, PriceBatch, PriceItem, Response
from engine.money import LEVERAGE_SCALE, USD_DECIMALS

PRICE_FORMAT = "base64_v1"
MAX_FIELD_BYTES = 64 * 1024
MAX_PRICE_ITEMS = 1024
MAX_JSON_DEPTH = 32  # tradeData and price batches are two levels deep; 32 leaves room for extras
MAX_PRICE_DIGITS = 40
LEVERAGE_DECIMALS = 1  # leverage in tenths is the multiplier with one decimal

# Stream fields as redis-py returns them (bytes -> bytes), or str -> str when built in tests.
Fields = Mapping[Any, Any]


class WireError(ValueError):
    """A stream entry that cannot be decoded. ``order_id`` is set when the entry had one."""

    def __init__(self, reason: str, order_id: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.order_id = order_id


class _RawPriceItem(msgspec.Struct, forbid_unknown_fields=False):
    asset: str
    price: int | str  # the scaled integer: the reference writes a digit string
    decimal: int
    bid: int | str | None = None
    ask: int | str | None = None


_price_items = msgspec.json.Decoder(list[_RawPriceItem])
# float_hook=str: a JSON number with a fraction (230.50) reaches the core as its exact text
_json_object = msgspec.json.Decoder(dict[str, Any], float_hook=str)
_json_any = msgspec.json.Decoder(float_hook=Decimal)
_json = msgspec.json.Encoder()
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')
_NOT_BRACKETS = bytes(c for c in range(256) if c not in b"[]{}")


def check_depth(raw: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """True when the JSON text ``raw`` nests at most ``limit`` deep (strings do not count).

    Decoding deeper JSON would raise ``RecursionError`` at a depth that depends on the caller's
    stack, so the same entry could decode live and fail in replay: it is refused before.
    """
    if raw.count(b"[") + raw.count(b"{") <= limit:  # the usual entry: one C-speed pass
        return True
    brackets = _STRING.sub(b"", raw).translate(None, _NOT_BRACKETS)
    depth = 0
    for byte in brackets:
        depth += 1 if byte in b"[{" else -1
        if depth > limit:
            return False
    return True


def _scaled(value: int | str | None, name: str) -> int | None:
    """A price of an engine_input item: a non-negative scaled integer, as an int or digits."""
    if value is None or isinstance(value, int):
        return value
    if not (0 < len(value) <= MAX_PRICE_DIGITS and value.isdigit() and value.isascii()):
        raise WireError(f"{name} is not a scaled integer: {value[:MAX_PRICE_DIGITS]!r}")
    return int(value)


# Additive event fields of issue 17 (wire name, Event attribute, unit): written only when set
# (not the default), so every event of the earlier kinds is byte-identical to what it was.
# Units: "usd", "price" (the asset's decimals), "int", "str".
_EXTRA_EVENT_FIELDS = (
    ("orderType", "order_type", "str"),
    ("orderPrice", "order_price", "price"),
    ("closedMargin", "closed_margin", "usd"),
    ("remainingMargin", "remaining_margin", "usd"),
    ("stopLossPrice", "stop_loss_price", "price"),
    ("takeProfitPrice", "take_profit_price", "price"),
    ("trailingDistance", "trailing_distance", "price"),
    ("trailingStopPrice", "trailing_stop_price", "price"),
    ("expiresAt", "expires_at", "int"),
)

_KEYS = {
    name: name.encode()
    for name in [
        "orderId",
        "command",
        "email",
        "tradeData",
        "timestamp",
        "source",
        "data",
        "format",
        "status",
        "message",
        "seq",
        "eventType",
        "tradeId",
        "asset",
        "pnl",
        "marginReturned",
        "closePrice",
        "direction",
        "margin",
        "leverage",
        "entryPrice",
        "exitPrice",
        "amount",
        "balance",
        "totalReturn",
        "priceDecimals",
        "reason",
        "marketState",
        *(wire for wire, _attr, _unit in _EXTRA_EVENT_FIELDS),
    ]
}


def _text(fields: Fields, name: str, *, required: bool = True, order_id: str | None = None) -> str:
    raw = fields.get(_KEYS[name])
    if type(raw) is bytes and len(raw) <= MAX_FIELD_BYTES:  # the hot path: redis-py's bytes
        try:
            return raw.decode()
        except UnicodeDecodeError:
            raise WireError(f"field {name!r} is not UTF-8", order_id) from None
    return _text_slow(fields, name, raw, required, order_id)


def _text_slow(fields: Fields, name: str, raw: Any, required: bool, order_id: str | None) -> str:
    if raw is None:
        raw = fields.get(name)
    if raw is None:
        if required:
            raise WireError(f"missing field {name!r}", order_id)
        return ""
    if isinstance(raw, bytes | bytearray | memoryview):
        if len(raw) > MAX_FIELD_BYTES:
            raise WireError(f"field {name!r} is too large", order_id)
        try:
            return bytes(raw).decode()
        except UnicodeDecodeError:
            raise WireError(f"field {name!r} is not UTF-8", order_id) from None
    if isinstance(raw, str):
        if len(raw) > MAX_FIELD_BYTES:
            raise WireError(f"field {name!r} is too large", order_id)
        return raw
    if isinstance(raw, int) and not isinstance(raw, bool):
        return str(raw)
    raise WireError(f"field {name!r} has an unsupported type", order_id)


def _int(fields: Fields, name: str, *, required: bool = True, order_id: str | None = None) -> int:
    text = _text(fields, name, required=required, order_id=order_id)
    if not text:
        return 0
    try:
        if len(text) > 32:
            raise ValueError
        return int(text)
    except ValueError:
        raise WireError(f"field {name!r} is not an integer", order_id) from None


# --- engine_input -------------------------------------------------------------------------------


def encode_price_batch(items: list[PriceItem], source: str, timestamp: int) -> dict[str, str]:
    """Fields of an engine_input entry for a batch of prices (prices as digit strings, as the
    reference protocol writes them)."""
    payload = [
        {"asset": i.asset, "price": str(i.price), "decimal": i.decimal}
        | ({"bid": str(i.bid)} if i.bid is not None else {})
        | ({"ask": str(i.ask)} if i.ask is not None else {})
        for i in items
    ]
    return {
        "source": source,
        "data": base64.b64encode(_json.encode(payload)).decode(),
        "format": PRICE_FORMAT,
        "timestamp": str(timestamp),
    }


def decode_price_batch(fields: Fields) -> PriceBatch:
    """Decode an engine_input entry; raise ``WireError`` on anything malformed."""
    fmt = _text(fields, "format", required=False) or PRICE_FORMAT
    if fmt != PRICE_FORMAT:
        raise WireError(f"unknown price format {fmt!r}")
    data = _text(fields, "data")
    try:
        payload = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise WireError(f"bad price data: {exc}") from None
    if not check_depth(payload):
        raise WireError("price data nested too deeply")
    try:
        raw = _price_items.decode(payload)
    except Exception as exc:
        raise WireError(f"bad price data: {exc}") from None
    if not raw:
        raise WireError("empty price batch")
    if len(raw) > MAX_PRICE_ITEMS:
        raise WireError("price batch too large")
    items = [
        PriceItem(
            r.asset,
            _scaled(r.price, "price") or 0,
            r.decimal,
            _scaled(r.bid, "bid"),
            _scaled(r.ask, "ask"),
        )
        for r in raw
    ]
    return PriceBatch(
        items=items,
        source=_text(fields, "source", required=False),
        timestamp=_int(fields, "timestamp", required=False),
    )


# --- backend-to-engine --------------------------------------------------------------------------


def encode_command(command: Command) -> dict[str, str]:
    """Fields of a backend-to-engine entry."""
    return {
        "orderId": command.order_id,
        "command": command.command,
        "email": command.email,
        "tradeData": _json.encode(command.trade_data).decode(),
        "timestamp": str(command.timestamp),
    }


def decode_command(fields: Fields) -> Command:
    """Decode a backend-to-engine entry; raise ``WireError`` (with orderId when known).

    The common case (every field present as small bytes, plain ASCII-digit timestamp) takes a
    fast path; anything else, and any failure on the way, takes ``decode_command_checked``, so
    results and errors are exactly those of the checked path (a property test compares them).
    """
    get = fields.get
    raw_id, raw_command, raw_email = get(b"orderId"), get(b"command"), get(b"email")
    raw_data, raw_ts = get(b"tradeData"), get(b"timestamp")
    if (
        type(raw_id) is bytes
        and 0 < len(raw_id) <= 128
        and type(raw_command) is bytes
        and len(raw_command) <= MAX_FIELD_BYTES
        and type(raw_email) is bytes
        and len(raw_email) <= 320
        and type(raw_data) is bytes
        and 0 < len(raw_data) <= MAX_FIELD_BYTES
        and raw_data.count(b"[") + raw_data.count(b"{") <= MAX_JSON_DEPTH
        and type(raw_ts) is bytes
        and 0 < len(raw_ts) <= 18
        and raw_ts.isdigit()
    ):
        try:
            return Command(
                raw_id.decode(),
                raw_command.decode(),
                raw_email.decode(),
                _json_object.decode(raw_data),
                int(raw_ts),
            )
        except Exception:
            pass
    return decode_command_checked(fields)


def decode_command_checked(fields: Fields) -> Command:
    """Decode a backend-to-engine entry field by field, with a precise error for each fault."""
    order_id = _text(fields, "orderId")
    if not order_id or len(order_id) > 128:
        raise WireError("orderId must be 1 to 128 characters", order_id[:128] or None)
    command = _text(fields, "command", order_id=order_id)
    email = _text(fields, "email", required=False, order_id=order_id)
    if len(email) > 320:
        raise WireError("email is too long", order_id)
    trade_data_text = _text(fields, "tradeData", required=False, order_id=order_id)
    trade_data: dict[str, Any] = {}
    if trade_data_text:
        raw = trade_data_text.encode()
        if not check_depth(raw):
            raise WireError("tradeData is nested too deeply", order_id)
        try:
            trade_data = _json_object.decode(raw)
        except Exception:
            raise WireError("tradeData is not a JSON object", order_id) from None
    return Command(
        order_id=order_id,
        command=command,
        email=email,
        trade_data=trade_data,
        timestamp=_int(fields, "timestamp", required=False, order_id=order_id),
    )


# --- engine_response ----------------------------------------------------------------------------


def encode_response(response: Response) -> dict[str, bytes | str]:
    """Fields of an engine_response entry. Deterministic: same response, same bytes."""
    return {
        "orderId": response.order_id,
        "status": response.status,
        "data": _json.encode(response.data),
        "message": response.message,
        "timestamp": str(response.timestamp),
        "seq": str(response.seq),
    }


def decode_response(fields: Fields) -> Response:
    """Decode an engine_response entry; raise ``WireError`` on anything malformed."""
    order_id = _text(fields, "orderId")
    data_text = _text(fields, "data", required=False, order_id=order_id)
    try:
        # numbers with a fraction as exact Decimals: answers write amounts as exact JSON numbers
        raw = data_text.encode()
        data = _json_any.decode(raw) if data_text and check_depth(raw) else None
    except Exception:
        raise WireError("data is not JSON", order_id) from None
    return Response(
        order_id=order_id,
        status=_text(fields, "status", order_id=order_id),
        data=data,
        message=_text(fields, "message", required=False, order_id=order_id),
        timestamp=_int(fields, "timestamp", required=False, order_id=order_id),
        seq=_int(fields, "seq", required=False, order_id=order_id),
    )


# --- engine_events ------------------------------------------------------------------------------
# Amounts are decimal strings in human units, as the reference events write them ("-5000.00");
# the Event struct keeps engine integers. (wire name, Event attribute) per unit:
_EVENT_USD = (
    ("pnl", "pnl"),
    ("marginReturned", "margin_returned"),
    ("margin", "margin"),
    ("totalReturn", "total_return"),
    ("amount", "amount"),
    ("balance", "balance"),
)
_EVENT_PRICES = (
    ("closePrice", "close_price"),
    ("entryPrice", "entry_price"),
    ("exitPrice", "exit_price"),
)
_EVENT_INTS = (("timestamp", "timestamp"), ("seq", "seq"), ("priceDecimals", "price_decimals"))


def encode_event(event: Event) -> dict[str, str]:
    """Fields of an engine_events entry: the reference fields first, then the additive ones.

    This is the one definition of an event on the wire; the gateway's WebSocket sends the same.
    """
    usd, price = USD_DECIMALS, event.price_decimals
    fields = {
        "eventType": event.event_type,
        "tradeId": event.trade_id,
        "email": event.email,
        "asset": event.asset,
        "pnl": format_event_amount(event.pnl, usd),
        "marginReturned": format_event_amount(event.margin_returned, usd),
        "closePrice": format_event_amount(event.close_price, price),
        "timestamp": str(event.timestamp),
        "seq": str(event.seq),
        "orderId": event.order_id,
        "direction": event.direction,
        "margin": format_event_amount(event.margin, usd),
        "leverage": format_amount(event.leverage, LEVERAGE_DECIMALS),
        "entryPrice": format_event_amount(event.entry_price, price),
        "exitPrice": format_event_amount(event.exit_price, price),
        "totalReturn": format_event_amount(event.total_return, usd),
        "amount": format_event_amount(event.amount, usd),
        "balance": format_event_amount(event.balance, usd),
        "priceDecimals": str(price),
        "reason": event.reason,
        "marketState": event.market_state,
    }
    if event.event_type in _PLAIN_EVENTS and not event.closed_margin:
        return fields  # the usual event: none of the additive fields below is set
    for name, attr, unit in _EXTRA_EVENT_FIELDS:
        value = getattr(event, attr)
        if not value:
            continue
        if unit == "str" or unit == "int":
            fields[name] = str(value)
        else:
            fields[name] = format_event_amount(value, usd if unit == "usd" else price)
    return fields


# Event types that never carry the additive fields of issue 17 except a partial close's
_PLAIN_EVENTS = frozenset(
    {
        "ACCOUNT_CREATED",
        "TRADE_CLOSED",
        "TRADE_STOP_LOSS",
        "TRADE_TAKE_PROFIT",
        "TRADE_LIQUIDATED",
    }
)


def decode_event(fields: Fields) -> Event:
    """Decode an engine_events entry into engine integers; raise ``WireError`` when malformed."""
    ints = {attr: _int(fields, name, required=False) for name, attr in _EVENT_INTS}
    price = ints["price_decimals"]
    if not 0 <= price <= 18:
        raise WireError("priceDecimals out of range")
    amounts = {}
    for units, names in ((USD_DECIMALS, _EVENT_USD), (price, _EVENT_PRICES)):
        for name, attr in names:
            text = _text(fields, name, required=False)
            try:
                amounts[attr] = parse_event_amount(text, units, name) if text else 0
            except AmountError as exc:
                raise WireError(str(exc)) from None
    extra: dict[str, Any] = {}
    for name, attr, unit in _EXTRA_EVENT_FIELDS:
        text = _text(fields, name, required=False)
        if not text:
            continue
        if unit == "str":
            extra[attr] = text
        elif unit == "int":
            extra[attr] = _int(fields, name, required=False)
        else:
            try:
                extra[attr] = parse_event_amount(
                    text, USD_DECIMALS if unit == "usd" else price, name
                )
            except AmountError as exc:
                raise WireError(str(exc)) from None
    leverage = _text(fields, "leverage", required=False)
    try:
        tenths = parse_event_amount(leverage, LEVERAGE_DECIMALS, "leverage") if leverage else 0
    except AmountError as exc:
        raise WireError(str(exc)) from None
    return Event(
        event_type=_text(fields, "eventType"),
        trade_id=_text(fields, "tradeId", required=False),
        email=_text(fields, "email", required=False),
        asset=_text(fields, "asset", required=False),
        order_id=_text(fields, "orderId", required=False),
        direction=_text(fields, "direction", required=False),
        reason=_text(fields, "reason", required=False),
        market_state=_text(fields, "marketState", required=False),
        leverage=tenths,
        **(extra | ints | amounts),
    )


assert LEVERAGE_SCALE == 10**LEVERAGE_DECIMALS
