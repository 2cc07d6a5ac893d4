"""Codecs between Redis stream entries (field maps) and the engine's typed messages.

Formats are the seed's, field for field; additions are additive fields only:
- ``engine_input``: source, data = base64(JSON list of {asset, price, decimal[, bid, ask]}),
  format = ``base64_v1``, timestamp.
- ``backend-to-engine``: orderId, command, email, tradeData (JSON object), timestamp.
- ``engine_response``: orderId, status, data (JSON), message, timestamp; plus seq.
- ``engine_events``: eventType, tradeId, email, asset, pnl, marginReturned, closePrice,
  timestamp; plus seq, orderId, direction, margin, leverage, entryPrice, exitPrice, amount,
  balance.

Every decoder raises ``WireError`` (never anything else) on malformed input; the error carries
the entry's orderId when one could be read, so the caller can answer it.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

import msgspec

from engine.messages import Command, Event, PriceBatch, PriceItem, Response

PRICE_FORMAT = "base64_v1"
MAX_FIELD_BYTES = 64 * 1024
MAX_PRICE_ITEMS = 1024

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
    price: int
    decimal: int
    bid: int | None = None
    ask: int | None = None


_price_items = msgspec.json.Decoder(list[_RawPriceItem])
_json_object = msgspec.json.Decoder(dict[str, Any])
_json_any = msgspec.json.Decoder()
_json = msgspec.json.Encoder()
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
    """Fields of an engine_input entry for a batch of prices."""
    payload = [
        {"asset": i.asset, "price": i.price, "decimal": i.decimal}
        | ({"bid": i.bid} if i.bid is not None else {})
        | ({"ask": i.ask} if i.ask is not None else {})
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
        raw = _price_items.decode(base64.b64decode(data, validate=True))
    except (binascii.Error, ValueError) as exc:
        raise WireError(f"bad price data: {exc}") from None
    if not raw:
        raise WireError("empty price batch")
    if len(raw) > MAX_PRICE_ITEMS:
        raise WireError("price batch too large")
    items = [PriceItem(r.asset, r.price, r.decimal, r.bid, r.ask) for r in raw]
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
        except (UnicodeDecodeError, msgspec.DecodeError, ValueError):
            pass  # let the checked path name the exact problem
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
        try:
            trade_data = _json_object.decode(trade_data_text)
        except (msgspec.DecodeError, ValueError):
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
        data = _json_any.decode(data_text) if data_text else None
    except (msgspec.DecodeError, ValueError):
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

_EVENT_INT_FIELDS = (
    ("pnl", "pnl"),
    ("marginReturned", "margin_returned"),
    ("closePrice", "close_price"),
    ("timestamp", "timestamp"),
    ("seq", "seq"),
    ("margin", "margin"),
    ("leverage", "leverage"),
    ("entryPrice", "entry_price"),
    ("exitPrice", "exit_price"),
    ("amount", "amount"),
    ("balance", "balance"),
)


def encode_event(event: Event) -> dict[str, str]:
    """Fields of an engine_events entry (integers as decimal strings)."""
    return {
        "eventType": event.event_type,
        "tradeId": event.trade_id,
        "email": event.email,
        "asset": event.asset,
        "pnl": str(event.pnl),
        "marginReturned": str(event.margin_returned),
        "closePrice": str(event.close_price),
        "timestamp": str(event.timestamp),
        "seq": str(event.seq),
        "orderId": event.order_id,
        "direction": event.direction,
        "margin": str(event.margin),
        "leverage": str(event.leverage),
        "entryPrice": str(event.entry_price),
        "exitPrice": str(event.exit_price),
        "amount": str(event.amount),
        "balance": str(event.balance),
    }


def decode_event(fields: Fields) -> Event:
    """Decode an engine_events entry; raise ``WireError`` on anything malformed."""
    ints = {attr: _int(fields, name, required=False) for name, attr in _EVENT_INT_FIELDS}
    return Event(
        event_type=_text(fields, "eventType"),
        trade_id=_text(fields, "tradeId", required=False),
        email=_text(fields, "email", required=False),
        asset=_text(fields, "asset", required=False),
        order_id=_text(fields, "orderId", required=False),
        direction=_text(fields, "direction", required=False),
        **ints,
    )
