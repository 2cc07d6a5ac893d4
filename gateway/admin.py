"""Operator commands at the gateway: their bodies, and the engine's tradeData built from them.

The HTTP routes (``gateway.routes.admin``) and the operator CLI (``gateway.admin_cli``) both
decode into these Structs and call these builders, so the two cannot accept different things.
Amounts are human units read exactly from their text, as on the trading routes
(``gateway.amounts``); an adjustment's amount is signed. Text that ends up in the audit log
(reasons, emails, transaction ids) may not hold control characters: PostgreSQL's ``jsonb``
refuses ``\\u0000``, so such a command would reach the engine and then dead-letter in the worker.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from engine.amounts import MAX_WHOLE_UNITS
from engine.messages import ADJUST_BALANCE, FORCE_CLOSE, GET_REPORT, SET_LIMITS, SET_MARKET_STATE
from engine.money import USD_DECIMALS
from gateway.amounts import exact
from gateway.schemas import Amount, InvalidField

PRINTABLE = "^[^\\u0000-\\u001f\\u007f]+$"
MAX_REASON = 200  # the engine's own bound (engine.admin.MAX_REASON)
Reason = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_REASON, pattern=PRINTABLE)]
TransactionId = Annotated[str, msgspec.Meta(min_length=1, max_length=128, pattern=PRINTABLE)]
AccountEmail = Annotated[str, msgspec.Meta(min_length=3, max_length=254, pattern=PRINTABLE)]
TradeIdText = Annotated[str, msgspec.Meta(min_length=1, max_length=128, pattern=PRINTABLE)]
MarketState = Literal["OPEN", "CLOSE_ONLY", "HALTED"]
LeverageLimit = Annotated[int, msgspec.Meta(ge=10, le=1000)]
CountLimit = Annotated[int, msgspec.Meta(ge=1, le=MAX_WHOLE_UNITS)]
UNSET = msgspec.UNSET
Unset = msgspec.UnsetType

# Commands whose route name an operator types (CLI) -> engine command.
COMMANDS = {
    "state": SET_MARKET_STATE,
    "limits": SET_LIMITS,
    "adjust": ADJUST_BALANCE,
    "force-close": FORCE_CLOSE,
    "report": GET_REPORT,
}


class MarketStateRequest(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """SET_MARKET_STATE of the asset in the path: OPEN, CLOSE_ONLY (no new positions) or
    HALTED (nothing on the asset, no triggers; prices still recorded)."""

    state: MarketState
    reason: Reason | None = None


class LimitsRequest(msgspec.Struct, forbid_unknown_fields=True):
    """SET_LIMITS: an absent key keeps its limit, ``null`` removes it; no ``asset``: the limit
    of every asset (the stricter of an asset's and the all-asset limit wins). Margins and open
    interest in USD (human units), leverage in tenths like ``leverage``."""

    asset: str | Unset = UNSET
    maxLeverage: LeverageLimit | Unset | None = UNSET
    minMargin: Amount | Unset | None = UNSET
    maxMargin: Amount | Unset | None = UNSET
    maxOpenInterest: Amount | Unset | None = UNSET
    maxOpenPositionsPerAccount: CountLimit | Unset | None = UNSET


class AdjustmentRequest(msgspec.Struct, forbid_unknown_fields=True):
    """ADJUST_BALANCE: credit (positive) or debit (negative) a free balance, in USD, with a
    reason; idempotent by ``transactionId`` (a repeat changes nothing and answers the first)."""

    email: AccountEmail
    amount: Amount
    reason: Reason
    transactionId: TransactionId


class ForceCloseRequest(msgspec.Struct, forbid_unknown_fields=True):
    """FORCE_CLOSE of the trade in the path, at the current price, with a reason."""

    reason: Reason


USD_LIMITS = ("minMargin", "maxMargin", "maxOpenInterest")


def signed_usd(field: str, value: int | str) -> str:
    """A signed USD amount as exact decimal text (``"-12.5"``), or ``InvalidField``."""
    if isinstance(value, int):
        negative, magnitude = value < 0, str(abs(value))
    else:
        negative = value.startswith("-")
        magnitude = value[1:] if negative else value
    text = exact(field, magnitude, USD_DECIMALS)
    return "-" + text if negative else text


def asset_of(symbol: str, assets: tuple[str, ...], field: str = "asset") -> str:
    """``symbol`` when it is a supported asset, else ``InvalidField``."""
    if symbol not in assets:
        raise InvalidField(field, f"unsupported asset {symbol!r}")
    return symbol


def market_state_data(asset: str, req: MarketStateRequest) -> dict[str, Any]:
    data: dict[str, Any] = {"asset": asset, "state": req.state}
    if req.reason is not None:
        data["reason"] = req.reason
    return data


def limits_data(req: LimitsRequest, assets: tuple[str, ...]) -> dict[str, Any]:
    """The SET_LIMITS tradeData: set keys only (null kept: it removes the limit)."""
    data: dict[str, Any] = {}
    for key, value in msgspec.structs.asdict(req).items():
        if value is UNSET:
            continue
        if key == "asset":
            value = asset_of(value, assets)
        elif key in USD_LIMITS and value is not None:
            value = exact(key, value, USD_DECIMALS)
        data[key] = value
    return data


def adjustment_data(req: AdjustmentRequest) -> dict[str, Any]:
    # Accounts are keyed by the lower-case address the sign-in uses.
    return {
        "email": req.email.strip().lower(),
        "amount": signed_usd("amount", req.amount),
        "reason": req.reason,
        "transactionId": req.transactionId,
    }


def trade_id_of(text: str) -> str:
    """A path's tradeId when well-formed (1-128 characters, none a control), else InvalidField."""
    try:
        return msgspec.convert(text, TradeIdText)
    except msgspec.ValidationError:
        raise InvalidField("tradeId", "must be 1-128 characters, no control characters") from None


def force_close_data(trade_id: str, req: ForceCloseRequest) -> dict[str, Any]:
    return {"tradeId": trade_id_of(trade_id), "reason": req.reason}
