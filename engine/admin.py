"""Operator commands: market states, limits, balance adjustments, forced closes, the report.

They arrive on backend-to-engine like every command, so they are ordered, snapshotted and
replayed with the rest. The gateway is the trust boundary (admin routes); the engine refuses them
too from any email not in its ``ADMIN_EMAILS``, so a misrouted command cannot move money.
Amounts are human units, as everywhere at the boundary (docs/protocol.md).
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

import msgspec

from engine import messages as m
from engine.amounts import AmountError, parse_usd
from engine.markets import ALL_ASSETS, STATES, check_not_halted, state_of
from engine.money import USD_DECIMALS
from engine.orders import Rejected, convert, fresh_price
from engine.state import Adjusted, Limits, Read, dump_state
from engine.views import adjusted_view, closed_view, usd

if TYPE_CHECKING:
    from engine.core import Engine, Handled
    from engine.messages import Command, Output

MAX_REASON = 200
_LIMIT_KEYS = {  # wire name -> (Limits field, USD amount?)
    "maxLeverage": ("max_leverage", False),
    "minMargin": ("min_margin", True),
    "maxMargin": ("max_margin", True),
    "maxOpenInterest": ("max_open_interest", True),
    "maxOpenPositionsPerAccount": ("max_open_positions_per_account", False),
}


class MarketStateData(msgspec.Struct, forbid_unknown_fields=True):
    asset: str
    state: str
    reason: str = ""


class AdjustData(msgspec.Struct, forbid_unknown_fields=True):
    email: str
    amount: int | str
    reason: str
    transactionId: str


class ForceCloseData(msgspec.Struct, forbid_unknown_fields=True):
    tradeId: str
    reason: str


def _reason(text: str) -> str:
    if not 0 < len(text) <= MAX_REASON:
        raise Rejected("INVALID_REASON", f"reason must be 1..{MAX_REASON} characters", "reason")
    return text


def _asset(engine: Engine, asset: str) -> str:
    if asset not in engine.config.assets:
        raise Rejected("UNKNOWN_ASSET", f"unknown asset {asset!r}", "asset")
    return asset


def set_market_state(engine: Engine, command: Command, outputs: list[Output]) -> Handled:
    """OPEN | CLOSE_ONLY | HALTED for one asset; an event tells the gateway and the worker."""
    data = convert(command.trade_data, MarketStateData)
    asset = _asset(engine, data.asset)
    if data.state not in STATES:
        raise Rejected("INVALID_STATE", f"state must be one of {', '.join(STATES)}", "state")
    reason = _reason(data.reason) if data.reason else "set by an operator"
    before = state_of(engine.state.markets, asset)
    engine.set_market(asset, data.state, reason, command.order_id, outputs)
    view = {"asset": asset, "state": data.state, "previousState": before, "reason": reason}
    return view, f"market {asset} is {data.state}", None


def _limit_value(key: str, value: Any, is_usd: bool) -> int | None:
    if value is None:
        return None
    if is_usd:
        try:
            return parse_usd(value, key)
        except AmountError as exc:
            raise Rejected("INVALID_AMOUNT", str(exc), key) from None
    if type(value) is not int or value < 1:
        raise Rejected("INVALID_LIMIT", f"{key} must be a positive integer", key)
    return value


def set_limits(engine: Engine, command: Command, outputs: list[Output]) -> Handled:
    """Risk limits of one asset or of all (no ``asset``): an absent key keeps its limit, null
    removes it. Checked on every open from now on; open positions are never touched."""
    data = dict(command.trade_data)
    scope = data.pop("asset", None)
    scope = ALL_ASSETS if scope is None else _asset(engine, str(scope))
    unknown = sorted(set(data) - set(_LIMIT_KEYS))
    if unknown:
        raise Rejected("INVALID_TRADE_DATA", f"unknown limit {unknown[0]!r}", unknown[0])
    limits = engine.state.limits
    current = msgspec.structs.asdict(limits.get(scope, Limits()))
    for key, value in data.items():
        name, is_usd = _LIMIT_KEYS[key]
        current[name] = _limit_value(key, value, is_usd)
    updated = Limits(**current)
    if updated == Limits():
        limits.pop(scope, None)
    else:
        limits[scope] = updated
    return {"scope": scope, "limits": limits_view(updated)}, f"limits of {scope} set", None


def limits_view(limits: Limits) -> dict[str, Any]:
    """Limits in the protocol's units (USD amounts as JSON numbers, leverage in tenths)."""
    view: dict[str, Any] = {}
    for key, (name, is_usd) in _LIMIT_KEYS.items():
        value = getattr(limits, name)
        view[key] = usd(value) if is_usd and value is not None else value
    return view


def adjust_balance(engine: Engine, command: Command, outputs: list[Output]) -> Handled:
    """Credit or debit a free balance with a reason; deposits move with it (money conserved).

    Idempotent by transactionId: a repeat, under any orderId, gets the first answer and moves
    nothing. A debit never takes the free balance below zero.
    """
    data = convert(command.trade_data, AdjustData)
    if not 0 < len(data.transactionId) <= 128:
        raise Rejected("INVALID_TRANSACTION_ID", "transactionId must be 1..128 characters",
                       "transactionId")
    state = engine.state
    done = state.adjustments.get(data.transactionId)
    if done is not None:
        return adjusted_view(done), "adjustment already applied", done
    reason = _reason(data.reason)
    amount = _signed_usd(data.amount)
    account = state.accounts.get(data.email)
    if account is None:
        raise Rejected("ACCOUNT_NOT_FOUND", "no account for this email", "email")
    if account.free + amount < 0:
        raise Rejected("INSUFFICIENT_BALANCE", "a debit cannot take the free balance below 0",
                       "amount")
    account.free += amount
    account.deposited += amount
    state.deposits += amount
    adjusted = Adjusted(account.email, amount, account.free, reason, data.transactionId)
    state.adjustments[data.transactionId] = adjusted
    event = engine.balance_event(m.BALANCE_ADJUSTED, account.email, command.order_id, amount)
    outputs.append(msgspec.structs.replace(event, reason=reason))
    return adjusted_view(adjusted), "balance adjusted", adjusted


def _signed_usd(value: int | str) -> int:
    if isinstance(value, int):
        negative, magnitude = value < 0, abs(value)
        raw: int | str = magnitude
    else:
        negative, raw = value.startswith("-"), value.removeprefix("-")
    try:
        units = parse_usd(raw, "amount")
    except AmountError as exc:
        raise Rejected("INVALID_AMOUNT", str(exc), "amount") from None
    return -units if negative else units


def force_close(engine: Engine, command: Command, outputs: list[Output]) -> Handled:
    """Close any account's trade at the current price, as its owner would; the event names the
    operator's reason."""
    data = convert(command.trade_data, ForceCloseData)
    reason = _reason(data.reason)
    state = engine.state
    trade = state.trades.get(data.tradeId)
    if trade is None:
        raise Rejected("TRADE_NOT_FOUND", "no such open trade", "tradeId")
    check_not_halted(state.markets, trade.asset)
    price = fresh_price(
        state.prices.get(trade.asset), trade.asset, state.now_ms, engine.config.max_price_age_ms
    )
    exit_price = price.bid if trade.is_long else price.ask
    closed, event = engine.close_at(trade, exit_price, m.TRADE_FORCE_CLOSED, command.order_id)
    outputs.append(msgspec.structs.replace(event, reason=reason))
    view = closed_view(closed, engine.config.assets[trade.asset], event.balance)
    return view, f"trade force-closed: {reason}", None


def report(engine: Engine, command: Command, outputs: list[Output]) -> Handled:
    """Totals, per-asset open interest and positions, market states and limits, and a hash of
    the whole state (equal for equal states, the same after snapshot -> restore)."""
    state = engine.state
    summary = engine.summary()
    assets = {
        asset: {
            "state": state_of(state.markets, asset),
            "openInterest": usd(engine.open_interest.get(asset, 0) // 10),
            "positions": summary["positions_per_asset"][asset],
            "limits": limits_view(state.limits.get(asset, Limits())),
        }
        for asset in engine.config.assets
    }
    data = {
        "totals": {
            "free": usd(summary["free"]),
            "locked": usd(summary["locked"]),
            "reserved": usd(summary["reserved"]),  # margin of pending orders (issue 17)
            "house": usd(summary["house"]),
            "deposits": usd(summary["deposits"]),
            "conserved": summary["conserved"],
        },
        "accounts": summary["accounts"],
        "openPositions": summary["open_positions"],
        "assets": assets,
        "limits": limits_view(state.limits.get(ALL_ASSETS, Limits())),
        "stateHash": hashlib.sha256(dump_state(state)).hexdigest(),
        "seq": state.seq,
        "lastPriceId": state.last_price_id,
        "lastCommandId": state.last_command_id,
        "usdDecimals": USD_DECIMALS,
    }
    return data, "report", Read(m.GET_REPORT)


HANDLERS = {
    m.SET_MARKET_STATE: set_market_state,
    m.SET_LIMITS: set_limits,
    m.ADJUST_BALANCE: adjust_balance,
    m.FORCE_CLOSE: force_close,
    m.GET_REPORT: report,
}
