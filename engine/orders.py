"""Typed tradeData of each command, and the validation that runs before any state changes."""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec

from engine.money import USD_DECIMALS, AmountError, parse_decimal


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
    asset: str
    margin: int | str
    direction: str | None = None
    type: str | None = None  # accepted alias of direction ("long"/"short")
    leverage: int = 10
    stopLossPrice: int | str | None = None
    takeProfitPrice: int | str | None = None
    expectedPrice: int | str | None = None
    maxSlippageBps: int = 0


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
    """An exact scaled integer from an int (already scaled) or a decimal string."""
    if isinstance(value, int):
        return value
    try:
        return parse_decimal(value, decimals)
    except AmountError as exc:
        raise Rejected("INVALID_AMOUNT", f"{field}: {exc}", field) from None


def usd(value: int | str, field: str) -> int:
    """USD units (4 decimals) from an int or a decimal string."""
    return amount(value, USD_DECIMALS, field)


def direction(data: CreateTradeData) -> bool:
    """True for LONG, False for SHORT."""
    raw = (data.direction or data.type or "").upper()
    if raw not in ("LONG", "SHORT"):
        raise Rejected("INVALID_DIRECTION", "direction must be LONG or SHORT", "direction")
    return raw == "LONG"
