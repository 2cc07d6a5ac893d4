"""CREATE_TRADE amounts at the gateway: read exactly, checked with the engine's own rules.

A body's amount arrives as a JSON integer (whole units), or as text: a decimal string, or a
JSON number with a fraction whose source text the body decoder kept (``float_hook=str``), so no
float ever holds money. ``engine.amounts.parse_amount`` decides (same ranges and messages as the
engine); the engine receives the amount as exact decimal text of the same value, which means
the same in every version of the protocol.
"""

from __future__ import annotations

from typing import Any

import msgspec

from engine.amounts import AmountError, format_amount, parse_amount
from engine.money import USD_DECIMALS
from gateway.schemas import (
    CloseTradeRequest,
    CreateOrderRequest,
    CreateTradeRequest,
    InvalidField,
    ModifyTradeRequest,
)

PRICE_FIELDS = ("stopLossPrice", "takeProfitPrice", "expectedPrice", "trailingDistance")
ORDER_PRICE_FIELDS = ("price", "stopLossPrice", "takeProfitPrice", "trailingDistance")
EXIT_FIELDS = ("stopLossPrice", "takeProfitPrice", "trailingDistance")


def exact(field: str, value: int | str, decimals: int) -> str:
    """``value`` as the engine's decimal text, or ``InvalidField`` naming ``field``."""
    try:
        return format_amount(parse_amount(value, decimals, field), decimals)
    except AmountError as exc:
        raise InvalidField(field, exc.message) from None


def trade_data(req: CreateTradeRequest, price_decimals: int | None) -> dict[str, Any]:
    """The CREATE_TRADE tradeData for the engine, every amount checked; raise ``InvalidField``."""
    if price_decimals is None:
        raise InvalidField("asset", f"unsupported asset {req.asset!r}")
    data: dict[str, Any] = {
        "asset": req.asset,
        "direction": req.direction,
        "margin": exact("margin", req.margin, USD_DECIMALS),
        "leverage": req.leverage,
    }
    for name in PRICE_FIELDS:
        value = getattr(req, name)
        if value is not None:
            data[name] = exact(name, value, price_decimals)
    if req.maxSlippageBps is not None:
        if req.expectedPrice is None:
            raise InvalidField("maxSlippageBps", "needs expectedPrice")
        data["maxSlippageBps"] = req.maxSlippageBps
    return data


def order_data(req: CreateOrderRequest, price_decimals: int | None) -> dict[str, Any]:
    """The CREATE_ORDER tradeData, every amount checked (``expiresInMs`` is resolved by the
    route, which knows the Redis server's time); raise ``InvalidField``."""
    if price_decimals is None:
        raise InvalidField("asset", f"unsupported asset {req.asset!r}")
    if req.expiresAt is not None and req.expiresInMs is not None:
        raise InvalidField("expiresInMs", "give expiresAt or expiresInMs, not both")
    data: dict[str, Any] = {
        "asset": req.asset,
        "direction": req.direction,
        "type": req.type,
        "margin": exact("margin", req.margin, USD_DECIMALS),
        "leverage": req.leverage,
    }
    for name in ORDER_PRICE_FIELDS:
        value = getattr(req, name)
        if value is not None:
            data[name] = exact(name, value, price_decimals)
    if req.expiresAt is not None:
        data["expiresAt"] = req.expiresAt
    return data


def close_data(req: CloseTradeRequest) -> dict[str, Any]:
    """The CLOSE_TRADE tradeData; ``margin`` (a partial close) checked as USD."""
    data: dict[str, Any] = {"tradeId": req.tradeId}
    if req.margin is not None:
        data["margin"] = exact("margin", req.margin, USD_DECIMALS)
    return data


def modify_data(req: ModifyTradeRequest, price_decimals: int) -> dict[str, Any]:
    """The MODIFY_TRADE tradeData: absent keys stay absent, ``null`` stays ``null`` (remove that
    exit), a value is checked as a price. The gateway does not know the trade's asset, so a
    price is checked at ``price_decimals`` (the most any asset has); the engine checks it
    again at the trade's own decimals."""
    data: dict[str, Any] = {"tradeId": req.tradeId}
    for name in EXIT_FIELDS:
        value = getattr(req, name)
        if value is msgspec.UNSET:
            continue
        data[name] = None if value is None else exact(name, value, price_decimals)
    return data  # none of the three: the engine answers NOTHING_TO_MODIFY
