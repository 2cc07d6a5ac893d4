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
from engine.state import Account, AccountAnswer, Closed, ClosedTrade, Opened, Receipt, Trade

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
    return {
        "email": account.email,
        "usdBalance": usd(account.free),
        "lockedUsd": usd(account.locked),
    }


def balance_view(account: Account) -> dict[str, Any]:
    """GET_BALANCE: every balance by asset (USD only: a CFD account holds no spot assets)."""
    return {
        "email": account.email,
        "balances": {"USD": usd(account.free)},
        "locked": {"USD": usd(account.locked)},
    }


def _level(value: int, decimals: int) -> msgspec.Raw | None:
    return number(value, decimals) if value > 0 else None


def trade_view(trade: Trade, decimals: int) -> dict[str, Any]:
    """An open trade, as CREATE_TRADE and GET_OPEN_TRADES show it."""
    return {
        "email": trade.email,
        "tradeId": trade.trade_id,
        "entryPrice": number(trade.entry_price, decimals),
        "liquidationPrice": _level(trade.liquidation, decimals),
        "stopLossPrice": _level(trade.stop_loss, decimals),
        "takeProfitPrice": _level(trade.take_profit, decimals),
        "margin": usd(trade.margin),
        "leverage": number(trade.leverage, LEVERAGE_DECIMALS),
        "asset": trade.asset,
        "direction": "LONG" if trade.is_long else "SHORT",
        "leverageTenths": trade.leverage,
        "openedAt": trade.opened_at,
    }


def opened_view(trade: Trade, balance: int, decimals: int) -> dict[str, Any]:
    """The answer to CREATE_TRADE: the trade and the free balance after it."""
    view = trade_view(trade, decimals)
    view["usdBalance"] = usd(balance)
    return view


def closed_view(closed: ClosedTrade, decimals: int, balance: int | None = None) -> dict[str, Any]:
    """A closed trade; with ``balance`` (the free balance after) when answering CLOSE_TRADE.

    ``pnl`` >= -margin; ``totalReturn`` = margin + pnl was credited; ``marginReturned`` =
    min(margin, totalReturn), the reference meaning (docs/protocol.md, "On a close").
    """
    trade = closed.trade
    view = trade_view(trade, decimals)
    view["marginReturned"] = usd(min(trade.margin, closed.total_return))
    view["pnl"] = usd(closed.pnl)
    view["totalReturn"] = usd(closed.total_return)
    view["closePrice"] = number(closed.exit_price, decimals)
    view["reason"] = closed.reason
    view["closedAt"] = closed.closed_at
    if balance is not None:
        view["usdBalance"] = usd(balance)
    return view


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
    raise TypeError(f"a read is run again, not rebuilt from its receipt: {answer!r}")
