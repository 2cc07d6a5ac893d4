"""CREATE_TRADE amounts at the gateway: read exactly, checked with the engine's own rules.

A body's amount arrives as a JSON integer (whole units), or as text: a decimal string, or a
JSON number with a fraction whose source text the body decoder kept (``float_hook=str``), so no
float ever holds money. ``engine.amounts.parse_amount`` decides (same ranges and messages as the
engine); the engine receives the amount as exact decimal text of the same value, which means
the same in every version of the protocol.
"""

from __future__ import annotations

from typing import Any

from engine.amounts import AmountError, format_amount, parse_amount
from engine.money import USD_DECIMALS
from gateway.schemas import CreateTradeRequest, InvalidField

PRICE_FIELDS = ("stopLossPrice", "takeProfitPrice", "expectedPrice")


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
