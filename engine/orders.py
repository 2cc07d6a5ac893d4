"""Typed tradeData of each command, and the validation that runs before any state changes."""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec

from engine.amounts import AmountError, parse_amount, parse_usd
from engine.config import EngineConfig
from engine.state import Price


class Rejected(Exception):
    """A command refused with a stable ``code``, a human ``message`` and the ``field`` at fault."""

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field

    def data(self) -> dict[str, str]:
        return {"code": self.code, "field": self.field} if self.field else {"code": self.code}


class CreateTradeData(msgspec.Struct, forbid_unknown_fields=False):
    """Amounts in human units: an int is whole units, a str exact decimal text
    (``engine.amounts``); leverage in tenths."""

    asset: str
    margin: int | str
    direction: str | None = None
    type: str | None = None  # accepted alias of direction ("long"/"short")
    leverage: int = 10
    stopLossPrice: int | str | None = None
    takeProfitPrice: int | str | None = None
    expectedPrice: int | str | None = None
    maxSlippageBps: int = 0
    trailingDistance: int | str | None = None


class CloseTradeData(msgspec.Struct, forbid_unknown_fields=False):
    tradeId: str


class ListData(msgspec.Struct, forbid_unknown_fields=False):
    limit: int | None = None


T = TypeVar("T")


def convert(trade_data: dict[str, Any], kind: type[T]) -> T:
    """Validate ``trade_data`` into ``kind``; a type error becomes a field-level ``Rejected``."""
    try:
        return msgspec.convert(trade_data, kind)
    except msgspec.ValidationError as exc:
        text = str(exc)
        if "$." in text:
            field: str | None = text.rpartition("$.")[2].rstrip("`")
        elif "missing required field `" in text:
            field = text.split("`")[1]
        else:
            field = None
        raise Rejected("INVALID_TRADE_DATA", f"invalid tradeData: {text}", field) from None


def amount(value: int | str, decimals: int, field: str) -> int:
    """An exact scaled integer from an amount in human units (``engine.amounts``), in range."""
    try:
        return parse_amount(value, decimals, field)
    except AmountError as exc:
        raise Rejected("INVALID_AMOUNT", str(exc), field) from None


def usd(value: int | str, field: str) -> int:
    """USD units (1/10,000) from an amount in human units, in range."""
    try:
        return parse_usd(value, field)
    except AmountError as exc:
        raise Rejected("INVALID_AMOUNT", str(exc), field) from None


def direction(text: str | None) -> bool:
    """True for LONG, False for SHORT (any case)."""
    raw = (text or "").upper()
    if raw not in ("LONG", "SHORT"):
        raise Rejected("INVALID_DIRECTION", "direction must be LONG or SHORT", "direction")
    return raw == "LONG"


def margin_and_leverage(
    raw_margin: int | str, leverage: int, free: int, config: EngineConfig
) -> tuple[int, int]:
    """The margin (USD units) and leverage of a new position, checked against the engine's
    bounds and the account's free balance."""
    margin = usd(raw_margin, "margin")
    if margin > config.max_margin:
        raise Rejected("INVALID_MARGIN", "margin is above the engine's maximum", "margin")
    if margin > free:
        raise Rejected("INSUFFICIENT_BALANCE", "margin exceeds free balance", "margin")
    if not config.min_leverage <= leverage <= config.max_leverage:
        raise Rejected(
            "INVALID_LEVERAGE",
            f"leverage must be {config.min_leverage}..{config.max_leverage} (tenths)",
            "leverage",
        )
    return margin, leverage


def fresh_price(price: Price | None, asset: str, now_ms: int, max_age_ms: int) -> Price:
    """The asset's last price, refused when there is none or it is older than ``max_age_ms``
    of stream time (closing at a stale price would be a free option, so closes check it too)."""
    if price is None:
        raise Rejected("NO_PRICE", f"no price yet for {asset}", "asset")
    if now_ms - price.at_ms > max_age_ms:
        raise Rejected("STALE_PRICE", f"last price of {asset} is too old", "asset")
    return price


# A CREATE_TRADE that passed every check, in the engine's units: (asset, is_long, margin,
# leverage, entry, stop_loss, take_profit), levels 0 when unset. A plain tuple, not a NamedTuple:
# building one of those is a Python-level call, and this runs for every trade opened.
OpenOrder = tuple[str, bool, int, int, int, int, int]


def validate_open(
    data: CreateTradeData,
    free: int,
    prices: dict[str, Price],
    now_ms: int,
    config: EngineConfig,
) -> OpenOrder:
    """Check a CREATE_TRADE against the account's free balance, the last price and the limits.

    Pure, and run before any mutation (there is no rollback). The first failing check, in a
    fixed order, is the one reported.
    """
    decimals = config.assets.get(data.asset)
    if decimals is None:
        raise Rejected("UNKNOWN_ASSET", f"unknown asset {data.asset!r}", "asset")
    # the usual spellings and plain integers skip a call (this runs for every trade opened)
    is_long = data.direction == "LONG" or (
        data.direction != "SHORT" and direction(data.direction or data.type)
    )
    margin, leverage = margin_and_leverage(data.margin, data.leverage, free, config)
    price = fresh_price(prices.get(data.asset), data.asset, now_ms, config.max_price_age_ms)
    entry = price.ask if is_long else price.bid
    if data.expectedPrice is not None:
        expected = amount(data.expectedPrice, decimals, "expectedPrice")
        bps = data.maxSlippageBps
        if not 0 <= bps <= 10_000:
            raise Rejected("INVALID_SLIPPAGE", "invalid slippage guard", "expectedPrice")
        worse = entry - expected if is_long else expected - entry
        if worse * 10_000 > bps * expected:
            raise Rejected("SLIPPAGE", "price moved beyond the slippage guard", "expectedPrice")
    # Exits must sit outside the spread on their own side: a LONG's stop below the bid (the
    # price it watches), its target above the ask (its entry); a SHORT the mirror image.
    low, high = price.bid, price.ask
    stop_loss = take_profit = 0
    if data.stopLossPrice is not None:
        stop_loss = amount(data.stopLossPrice, decimals, "stopLossPrice")
        if not (stop_loss < low if is_long else stop_loss > high):
            side = "below the bid" if is_long else "above the ask"
            raise Rejected("INVALID_STOP_LOSS", f"stopLossPrice must be {side}", "stopLossPrice")
    if data.takeProfitPrice is not None:
        take_profit = amount(data.takeProfitPrice, decimals, "takeProfitPrice")
        if not (take_profit > high if is_long else take_profit < low):
            side = "above the ask" if is_long else "below the bid"
            raise Rejected(
                "INVALID_TAKE_PROFIT", f"takeProfitPrice must be {side}", "takeProfitPrice"
            )
    return data.asset, is_long, margin, leverage, entry, stop_loss, take_profit


# --- pending orders and position management (issue 17) ----------------------------------------

MAX_EXPIRES_AT = 10**15  # stream milliseconds (year 33658): keeps index keys bounded


class CreateOrderData(msgspec.Struct, forbid_unknown_fields=False):
    """CREATE_ORDER: a LIMIT or STOP entry at ``price``; amounts as in ``CreateTradeData``."""

    asset: str
    direction: str
    type: str
    price: int | str
    margin: int | str
    leverage: int = 10
    stopLossPrice: int | str | None = None
    takeProfitPrice: int | str | None = None
    trailingDistance: int | str | None = None
    expiresAt: int | None = None  # stream time: entry-ID milliseconds


class OrderIdData(msgspec.Struct, forbid_unknown_fields=False):
    orderId: str


class PartialCloseData(msgspec.Struct, forbid_unknown_fields=False):
    tradeId: str
    margin: int | str | None = None


class ModifyTradeData(msgspec.Struct, forbid_unknown_fields=False):
    """MODIFY_TRADE: a key absent leaves that exit as it is (UNSET); ``null`` removes it."""

    tradeId: str
    stopLossPrice: int | str | msgspec.UnsetType | None = msgspec.UNSET
    takeProfitPrice: int | str | msgspec.UnsetType | None = msgspec.UNSET
    trailingDistance: int | str | msgspec.UnsetType | None = msgspec.UNSET


# A CREATE_ORDER that passed every check, in engine units: (asset, is_long, is_stop, price,
# margin, leverage, stop_loss, take_profit, trailing_distance, expires_at), 0 when unset.
NewOrder = tuple[str, bool, bool, int, int, int, int, int, int, int]


def validate_order(
    data: CreateOrderData,
    free: int,
    prices: dict[str, Price],
    now_ms: int,
    config: EngineConfig,
) -> NewOrder:
    """Check a CREATE_ORDER before any mutation; the first failing check is reported.

    The order must wait: a LONG LIMIT below the ask, a LONG STOP above it, a SHORT LIMIT above
    the bid, a SHORT STOP below it (one that would fill at once is refused: that is a
    CREATE_TRADE). Its stop-loss and take-profit must lie on their side of the order's price,
    and are checked again against the fill price when it fills.
    """
    decimals = config.assets.get(data.asset)
    if decimals is None:
        raise Rejected("UNKNOWN_ASSET", f"unknown asset {data.asset!r}", "asset")
    is_long = direction(data.direction)
    kind = data.type.upper()
    if kind not in ("LIMIT", "STOP"):
        raise Rejected("INVALID_ORDER_TYPE", "type must be LIMIT or STOP", "type")
    is_stop = kind == "STOP"
    price = amount(data.price, decimals, "price")
    margin, leverage = margin_and_leverage(data.margin, data.leverage, free, config)
    now = fresh_price(prices.get(data.asset), data.asset, now_ms, config.max_price_age_ms)
    watched = now.ask if is_long else now.bid
    waits = (price > watched) == (is_long == is_stop) and price != watched
    if not waits:
        side = "above" if is_long == is_stop else "below"
        quote = "ask" if is_long else "bid"
        raise Rejected(
            "INVALID_ORDER_PRICE",
            f"a {data.direction.upper()} {kind} must be {side} the {quote} (else it fills now)",
            "price",
        )
    stop_loss, take_profit = exits(
        data.stopLossPrice, data.takeProfitPrice, decimals, is_long, price, price
    )
    trailing = 0
    if data.trailingDistance is not None:
        trailing = amount(data.trailingDistance, decimals, "trailingDistance")
    expires_at = 0
    if data.expiresAt is not None:
        expires_at = data.expiresAt
        if not now_ms < expires_at <= MAX_EXPIRES_AT:
            raise Rejected(
                "INVALID_EXPIRY", "expiresAt must be later than the stream time now", "expiresAt"
            )
    return (
        data.asset,
        is_long,
        is_stop,
        price,
        margin,
        leverage,
        stop_loss,
        take_profit,
        trailing,
        expires_at,
    )


def exits(
    stop_loss_in: int | str | None,
    take_profit_in: int | str | None,
    decimals: int,
    is_long: bool,
    low: int,
    high: int,
) -> tuple[int, int]:
    """Stop-loss and take-profit (0 when unset) checked against a price ``low`` .. ``high``: a
    LONG's stop below ``low``, its target above ``high``; a SHORT's the mirror image."""
    stop_loss = take_profit = 0
    if stop_loss_in is not None:
        stop_loss = amount(stop_loss_in, decimals, "stopLossPrice")
        if not (stop_loss < low if is_long else stop_loss > high):
            side = "below" if is_long else "above"
            raise Rejected(
                "INVALID_STOP_LOSS", f"stopLossPrice must be {side} the price", "stopLossPrice"
            )
    if take_profit_in is not None:
        take_profit = amount(take_profit_in, decimals, "takeProfitPrice")
        if not (take_profit > high if is_long else take_profit < low):
            side = "above" if is_long else "below"
            raise Rejected(
                "INVALID_TAKE_PROFIT",
                f"takeProfitPrice must be {side} the price",
                "takeProfitPrice",
            )
    return stop_loss, take_profit


def exits_fit(is_long: bool, stop_loss: int, take_profit: int, bid: int, ask: int) -> str:
    """Why exits cannot be attached at this price (as CREATE_TRADE checks them), or ""."""
    if is_long:
        if stop_loss and stop_loss >= bid:
            return "stopLossPrice is not below the bid at fill"
        if take_profit and take_profit <= ask:
            return "takeProfitPrice is not above the ask at fill"
    else:
        if stop_loss and stop_loss <= ask:
            return "stopLossPrice is not above the ask at fill"
        if take_profit and take_profit >= bid:
            return "takeProfitPrice is not below the bid at fill"
    return ""
