"""The response views: the answers to CREATE_TRADE and CLOSE_TRADE are an open trade's view plus
their own keys, in the same order (they are written out whole for speed, so this guards them)."""

from __future__ import annotations

from engine.state import ClosedTrade, Trade
from engine.views import closed_view, opened_view, trade_view

TRADE = Trade(
    "t1", "a@example.com", "BTC_USDC", True, 10_000, 50, 600_000, 590_000, 0, 488_000, 7, 3
)
SHORT = Trade("t2", "a@example.com", "SOL_USDC", False, 5, 10, 1_500, 0, 1_400, 3_000, 8, 4)


def test_the_opened_view_is_the_trade_view_and_the_balance() -> None:
    for trade in (TRADE, SHORT):
        view = opened_view(trade, 123)
        expected = trade_view(trade) | {"balance": 123}
        assert view == expected
        assert list(view) == list(expected)


def test_the_closed_view_is_the_trade_view_and_the_exit() -> None:
    for trade in (TRADE, SHORT):
        closed = ClosedTrade(trade, 610_000, 8, 10_008, "TRADE_CLOSED", 9)
        exit_keys = {
            "exitPrice": 610_000,
            "pnl": 8,
            "marginReturned": 10_008,
            "reason": "TRADE_CLOSED",
            "closedAt": 9,
        }
        for balance, extra in ((None, {}), (77, {"balance": 77})):
            view = closed_view(closed, balance)
            expected = trade_view(trade) | exit_keys | extra
            assert view == expected
            assert list(view) == list(expected)


def test_unset_exits_show_as_null() -> None:
    assert trade_view(SHORT)["stopLossPrice"] is None
    assert trade_view(TRADE)["takeProfitPrice"] is None
    assert trade_view(TRADE)["direction"] == "LONG" and trade_view(SHORT)["direction"] == "SHORT"
