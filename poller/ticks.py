"""Backpack bookTicker frames <-> the engine's price items: the poller's pure parsing core.

A frame is one JSON object, either as the stream sends it
(``{"stream": "bookTicker.SOL_USDC", "data": {...}}``) or bare (the ``data`` object alone, as a
replay file may hold it). Prices are decimal strings and become integers scaled by the asset's
configured decimals, exactly: a price with more decimals than that is rejected, never rounded.

The published ``price`` is the best bid; ``bid`` and ``ask`` ride along as the wire's additive
fields. The bid is exact (a mid-price may need a half unit) and is what a holder could sell at;
the engine fills from bid/ask anyway (LONG opens at ask, SHORT at bid).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final, NamedTuple

import msgspec

from engine.amounts import format_amount
from engine.messages import PriceItem
from engine.money import AmountError, parse_decimal

# Why a frame was rejected; one counter per reason.
REJECT_JSON: Final = "json"  # not JSON at all
REJECT_SCHEMA: Final = "schema"  # JSON, but not a bookTicker: missing fields, wrong types
REJECT_SYMBOL: Final = "symbol"  # a symbol we do not map, or a stream name that disagrees
REJECT_PRICE: Final = "price"  # not a decimal, too many decimals, not positive, crossed book
REJECT_FEED_ERROR: Final = "feed_error"  # the exchange answered with an error object
REJECT_REASONS: Final = (
    REJECT_JSON,
    REJECT_SCHEMA,
    REJECT_SYMBOL,
    REJECT_PRICE,
    REJECT_FEED_ERROR,
)

STREAM_PREFIX: Final = "bookTicker."


class TickError(ValueError):
    """A frame that is not a usable tick; ``reason`` is one of ``REJECT_REASONS``."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class AssetSpec(msgspec.Struct, frozen=True):
    """An engine asset, the exchange symbol that feeds it, and the decimals of its prices."""

    asset: str
    symbol: str
    decimals: int


class BookTicker(msgspec.Struct, frozen=True):
    """Backpack's bookTicker payload; times are microseconds, prices and sizes decimal strings."""

    e: str  # event type, always "bookTicker"
    E: int  # event time
    s: str  # symbol
    a: str  # best ask price
    A: str  # best ask quantity
    b: str  # best bid price
    B: str  # best bid quantity
    T: int  # engine (match) time
    u: int | str  # update id (the exchange sends a string; older captures an int)


class Tick(NamedTuple):
    """A parsed frame: the price item to publish and the exchange's event time (µs)."""

    item: PriceItem
    event_us: int


class _Envelope(msgspec.Struct):
    stream: str | None = None
    data: msgspec.Raw = msgspec.Raw()  # left raw: decoded only once we know it is a tick
    e: Any = None  # present when the frame is a bare bookTicker
    error: Any = None
    result: Any = None
    id: Any = None


_envelope = msgspec.json.Decoder(_Envelope)
_book_ticker = msgspec.json.Decoder(BookTicker)
_json = msgspec.json.Encoder()


def by_symbol(assets: Iterable[AssetSpec]) -> dict[str, AssetSpec]:
    """Index asset specs by exchange symbol, the lookup every frame needs."""
    return {spec.symbol: spec for spec in assets}


def decode_frame(raw: bytes | str) -> BookTicker | None:
    """Decode one frame; ``None`` for a control frame (a subscribe answer); raise ``TickError``."""
    try:
        envelope = _envelope.decode(raw)
    except msgspec.ValidationError as exc:
        raise TickError(REJECT_SCHEMA, f"not a frame: {exc}") from None
    except msgspec.DecodeError as exc:
        raise TickError(REJECT_JSON, f"not JSON: {exc}") from None
    if envelope.error is not None:
        raise TickError(REJECT_FEED_ERROR, f"feed error: {str(envelope.error)[:200]}")
    if envelope.data:
        body: bytes | str | msgspec.Raw = envelope.data
    elif envelope.e is not None:
        body = raw
    elif envelope.stream is None:
        return None  # {"id": .., "result": ..}: an answer to SUBSCRIBE, nothing to price
    else:
        raise TickError(REJECT_SCHEMA, "stream frame without data")
    try:
        ticker = _book_ticker.decode(body)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise TickError(REJECT_SCHEMA, str(exc)) from None
    if ticker.e != "bookTicker":
        raise TickError(REJECT_SCHEMA, f"event {ticker.e[:40]!r} is not bookTicker")
    if envelope.stream is not None and envelope.stream != STREAM_PREFIX + ticker.s:
        raise TickError(REJECT_SYMBOL, f"stream {envelope.stream[:60]!r} carries {ticker.s[:40]!r}")
    return ticker


def scaled_price(text: str, decimals: int) -> int:
    """A positive decimal-string price as an integer scaled by ``10**decimals``, exactly."""
    try:
        value = parse_decimal(text, decimals)
    except AmountError as exc:
        raise TickError(REJECT_PRICE, str(exc)) from None
    if value <= 0:
        raise TickError(REJECT_PRICE, f"price {text[:40]!r} is not positive")
    return value


def to_price_item(ticker: BookTicker, assets: Mapping[str, AssetSpec]) -> PriceItem:
    """The engine price item of a bookTicker: price = bid, plus bid and ask."""
    spec = assets.get(ticker.s)
    if spec is None:
        raise TickError(REJECT_SYMBOL, f"unknown symbol {ticker.s[:40]!r}")
    bid = scaled_price(ticker.b, spec.decimals)
    ask = scaled_price(ticker.a, spec.decimals)
    if bid > ask:
        raise TickError(REJECT_PRICE, f"crossed book: bid {ticker.b!r} > ask {ticker.a!r}")
    return PriceItem(asset=spec.asset, price=bid, decimal=spec.decimals, bid=bid, ask=ask)


def parse_frame(raw: bytes | str, assets: Mapping[str, AssetSpec]) -> Tick | None:
    """Decode a frame into a tick; ``None`` for control frames; raise ``TickError``."""
    ticker = decode_frame(raw)
    if ticker is None:
        return None
    return Tick(to_price_item(ticker, assets), ticker.E)


def format_frame(
    spec: AssetSpec,
    bid: int,
    ask: int,
    *,
    event_us: int,
    update_id: int,
    bid_qty: str = "1",
    ask_qty: str = "1",
) -> bytes:
    """A stream frame as Backpack sends it (the inverse of ``parse_frame``), for sim and tests."""
    data = {
        "e": "bookTicker",
        "E": event_us,
        "s": spec.symbol,
        "a": format_amount(ask, spec.decimals),
        "A": ask_qty,
        "b": format_amount(bid, spec.decimals),
        "B": bid_qty,
        "u": str(update_id),
        "T": event_us,
    }
    return _json.encode({"stream": STREAM_PREFIX + spec.symbol, "data": data})
