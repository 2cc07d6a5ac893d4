"""The ``data`` of each engine answer, in the reference protocol's shapes (docs/protocol.md).

Amounts are JSON numbers in human units written exactly from the engine's integers
(``engine.amounts.number``): USD at up to 4 decimals, a price at its asset's decimals, leverage
as the multiplier. The reference keys come first; the rest are additive.
"""

from __future__ import annotations

from typing import Any

import msgspec

from engine.amounts import number
from engine.money import USD_DECIMALS
from engine.state import (
    Account,
    AccountAnswer,
    Adjusted,
    Closed,
    ClosedTrade,
    Modified,
    Opened,
    PendingOrder,
    Placed,
    Receipt,
    Trade,
)

_USD = ["USD"]
LEVERAGE_DECIMALS = 1  # leverage is kept in tenths: the multiplier with one decimal


def usd(value: int) -> msgspec.Raw:
    """A USD amount (1/10,000 units) as an exact JSON number."""
    return number(value, USD_DECIMALS)


def account_view(email: str, answer: AccountAnswer) -> dict[str, Any]:
    """The answer to CREATE_ACCOUNT (also when the account already existed)."""
    return {
        "email": email,
        "initialUsdBalance": usd(answer.deposited),
        "assets": _USD,
        "created": answer.created,
        "usdBalance": usd(answer.free),
        "lockedUsd": usd(answer.locked),
    }


def usd_balance_view(account: Account) -> dict[str, Any]:
    """GET_USD_BALANCE: the free balance as ``usdBalance``, and the margin locked in trades."""
    view = {
        "email": account.email,
        "usdBalance": usd(account.free),
        "lockedUsd": usd(account.locked),
    }
    if account.reserved:  # issue 17's keys appear only when they apply (docs/protocol.md)
        view["reservedUsd"] = usd(account.reserved)
    return view


def balance_view(account: Account) -> dict[str, Any]:
    """GET_BALANCE: every balance by asset (USD only: a CFD account holds no spot assets)."""
    view = {
        "email": account.email,
        "balances": {"USD": usd(account.free)},
        "locked": {"USD": usd(account.locked)},
    }
    if account.reserved:
        view["reserved"] = {"USD": usd(account.reserved)}
    return view


_SCALES = [10**d for d in range(19)]
_FRACTIONS = ["%d"] + [f"%d.%0{d}d" for d in range(1, 19)]
_json_string = msgspec.json.Encoder().encode


def _num(value: int, decimals: int) -> str:
    """``engine.amounts.format_amount``, inlined for the trade views (they run per trade)."""
    whole, frac = divmod(value if value >= 0 else -value, _SCALES[decimals])
    text = (_FRACTIONS[decimals] % (whole, frac)).rstrip("0") if frac else str(whole)
    return text if value >= 0 else "-" + text


def _level(value: int, decimals: int) -> str:
    return _num(value, decimals) if value > 0 else "null"


def _trade_keys(trade: Trade, decimals: int) -> str:
    """The open trade's keys as JSON text: one string per trade, not a dict of numbers (an
    answer is encoded once, and GET_OPEN_TRADES lists every open trade of the account)."""
    return (
        f'"email":{_json_string(trade.email).decode()},'
        f'"tradeId":{_json_string(trade.trade_id).decode()},'
        f'"entryPrice":{_num(trade.entry_price, decimals)},'
        f'"liquidationPrice":{_level(trade.liquidation, decimals)},'
        f'"stopLossPrice":{_level(trade.stop_loss, decimals)},'
        f'"takeProfitPrice":{_level(trade.take_profit, decimals)},'
        f'"margin":{_num(trade.margin, USD_DECIMALS)},'
        f'"leverage":{_num(trade.leverage, LEVERAGE_DECIMALS)},'
        f'"asset":"{trade.asset}",'
        f'"direction":"{"LONG" if trade.is_long else "SHORT"}",'
        f'"leverageTenths":{trade.leverage},'
        f'"openedAt":{trade.opened_at}'
        + (
            f',"trailingDistance":{_num(trade.trailing_distance, decimals)}'
            if trade.trailing_distance
            else ""
        )
    )


def trade_view(trade: Trade, decimals: int, trailing_stop: int | None = None) -> msgspec.Raw:
    """An open trade, as CREATE_TRADE and GET_OPEN_TRADES show it (a JSON object); with its
    trailing stop's level now when it has one."""
    level = "" if trailing_stop is None else f',"trailingStopPrice":{_num(trailing_stop, decimals)}'
    return msgspec.Raw(("{" + _trade_keys(trade, decimals) + level + "}").encode())


def opened_view(trade: Trade, balance: int, decimals: int) -> msgspec.Raw:
    """The answer to CREATE_TRADE: the trade and the free balance after it."""
    keys = _trade_keys(trade, decimals)
    return msgspec.Raw(f'{{{keys},"usdBalance":{_num(balance, USD_DECIMALS)}}}'.encode())


def closed_view(closed: ClosedTrade, decimals: int, balance: int | None = None) -> msgspec.Raw:
    """A closed trade; with ``balance`` (the free balance after) when answering CLOSE_TRADE.

    ``pnl`` >= -margin; ``totalReturn`` = margin + pnl was credited; ``marginReturned`` =
    min(margin, totalReturn), the reference meaning (docs/protocol.md, "On a close").
    """
    trade = closed.trade
    total = closed.total_return
    after = "" if balance is None else f',"usdBalance":{_num(balance, USD_DECIMALS)}'
    if closed.remaining:  # a partial close: ``trade.margin`` is the part closed
        after = (
            f',"closedMargin":{_num(trade.margin, USD_DECIMALS)}'
            f',"remainingMargin":{_num(closed.remaining, USD_DECIMALS)}{after}'
        )
    return msgspec.Raw(
        (
            f"{{{_trade_keys(trade, decimals)},"
            f'"marginReturned":{_num(min(trade.margin, total), USD_DECIMALS)},'
            f'"pnl":{_num(closed.pnl, USD_DECIMALS)},'
            f'"totalReturn":{_num(total, USD_DECIMALS)},'
            f'"closePrice":{_num(closed.exit_price, decimals)},'
            f'"reason":{_json_string(closed.reason).decode()},'
            f'"closedAt":{closed.closed_at}{after}}}'
        ).encode()
    )


def adjusted_view(adjusted: Adjusted) -> dict[str, Any]:
    """The answer to ADJUST_BALANCE."""
    return {
        "email": adjusted.email,
        "amount": usd(adjusted.amount),
        "usdBalance": usd(adjusted.balance),
        "reason": adjusted.reason,
        "transactionId": adjusted.transaction_id,
    }


def receipt_view(receipt: Receipt, assets: dict[str, int]) -> Any:
    """The data of a remembered answer, as it was first sent (for a repeated orderId)."""
    answer = receipt.answer
    if answer is None:
        return receipt.data
    if isinstance(answer, Opened):
        return opened_view(answer.trade, answer.balance, assets[answer.trade.asset])
    if isinstance(answer, Closed):
        trade = answer.closed.trade
        return closed_view(answer.closed, assets[trade.asset], answer.balance)
    if isinstance(answer, AccountAnswer):
        return account_view(receipt.email, answer)
    if isinstance(answer, Adjusted):
        return adjusted_view(answer)
    if isinstance(answer, Placed):
        order = answer.order
        return placed_view(
            order, answer.status, assets[order.asset], answer.balance, answer.reserved
        )
    if isinstance(answer, Modified):
        trade = answer.trade
        level = answer.trailing_stop if trade.trailing_distance else None
        return trade_view(trade, assets[trade.asset], level)
    raise TypeError(f"a read is run again, not rebuilt from its receipt: {answer!r}")


def _price_or_null(value: int, decimals: int) -> msgspec.Raw | None:
    return number(value, decimals) if value else None


def order_view(order: PendingOrder, status: str, decimals: int) -> dict[str, Any]:
    """A pending order (CREATE_ORDER, CANCEL_ORDER, GET_OPEN_ORDERS): amounts in human units,
    unset exits and expiry ``null``; ``status`` PENDING, or CANCELLED when answering a cancel."""
    return {
        "orderId": order.order_id,
        "email": order.email,
        "asset": order.asset,
        "direction": "LONG" if order.is_long else "SHORT",
        "type": "STOP" if order.is_stop else "LIMIT",
        "price": number(order.price, decimals),
        "margin": usd(order.margin),
        "leverage": number(order.leverage, LEVERAGE_DECIMALS),
        "leverageTenths": order.leverage,
        "stopLossPrice": _price_or_null(order.stop_loss, decimals),
        "takeProfitPrice": _price_or_null(order.take_profit, decimals),
        "trailingDistance": _price_or_null(order.trailing_distance, decimals),
        "expiresAt": order.expires_at or None,
        "placedAt": order.placed_at,
        "status": status,
    }


def placed_view(
    order: PendingOrder, status: str, decimals: int, balance: int, reserved: int
) -> dict[str, Any]:
    """The answer to CREATE_ORDER or CANCEL_ORDER: the order and the balances after."""
    view = order_view(order, status, decimals)
    view["usdBalance"] = usd(balance)
    view["reservedUsd"] = usd(reserved)
    return view
