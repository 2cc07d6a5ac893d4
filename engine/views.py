"""How accounts and trades look in engine responses (camelCase, integers, seed style)."""

from __future__ import annotations

from typing import Any

from engine.money import USD_DECIMALS
from engine.state import Account, Closed, ClosedTrade, Opened, Receipt, Trade


def balance_view(account: Account) -> dict[str, Any]:
    """A USD balance: free (spendable) and locked (margin of open trades), 4 decimals."""
    return {
        "email": account.email,
        "balance": account.free,
        "locked": account.locked,
        "decimals": USD_DECIMALS,
    }


def trade_view(trade: Trade) -> dict[str, Any]:
    """An open trade."""
    return {
        "tradeId": trade.trade_id,
        "asset": trade.asset,
        "direction": "LONG" if trade.is_long else "SHORT",
        "margin": trade.margin,
        "leverage": trade.leverage,
        "entryPrice": trade.entry_price,
        "stopLossPrice": trade.stop_loss or None,
        "takeProfitPrice": trade.take_profit or None,
        "liquidationPrice": trade.liquidation,
        "openedAt": trade.opened_at,
    }


def opened_view(trade: Trade, balance: int) -> dict[str, Any]:
    """The answer to CREATE_TRADE: the trade and the free balance after it.

    Written out whole, not ``trade_view`` plus a key: an 11th key would make the 10-key dict
    grow, which costs more than building it (this and ``closed_view`` run for every trade).
    """
    return {
        "tradeId": trade.trade_id,
        "asset": trade.asset,
        "direction": "LONG" if trade.is_long else "SHORT",
        "margin": trade.margin,
        "leverage": trade.leverage,
        "entryPrice": trade.entry_price,
        "stopLossPrice": trade.stop_loss or None,
        "takeProfitPrice": trade.take_profit or None,
        "liquidationPrice": trade.liquidation,
        "openedAt": trade.opened_at,
        "balance": balance,
    }


def closed_view(closed: ClosedTrade, balance: int | None = None) -> dict[str, Any]:
    """A closed trade with its exit; with ``balance`` when answering CLOSE_TRADE."""
    trade = closed.trade
    view = {
        "tradeId": trade.trade_id,
        "asset": trade.asset,
        "direction": "LONG" if trade.is_long else "SHORT",
        "margin": trade.margin,
        "leverage": trade.leverage,
        "entryPrice": trade.entry_price,
        "stopLossPrice": trade.stop_loss or None,
        "takeProfitPrice": trade.take_profit or None,
        "liquidationPrice": trade.liquidation,
        "openedAt": trade.opened_at,
        "exitPrice": closed.exit_price,
        "pnl": closed.pnl,
        "marginReturned": closed.margin_returned,
        "reason": closed.reason,
        "closedAt": closed.closed_at,
    }
    if balance is not None:
        view["balance"] = balance
    return view


def receipt_view(receipt: Receipt) -> Any:
    """The data of a remembered answer, as it was first sent (for a repeated orderId)."""
    answer = receipt.answer
    if answer is None:
        return receipt.data
    if isinstance(answer, Opened):
        return opened_view(answer.trade, answer.balance)
    if isinstance(answer, Closed):
        return closed_view(answer.closed, answer.balance)
    return {"trades": [trade_view(trade) for trade in answer.trades]}
