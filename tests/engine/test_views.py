"""The response views: the reference protocol's keys first, amounts as exact JSON numbers in
human units, and CREATE_TRADE / CLOSE_TRADE answers built on the open trade's view."""

from __future__ import annotations

import msgspec
from hypothesis import given
from hypothesis import strategies as st

from engine.amounts import format_amount
from engine.state import AccountAnswer, Closed, ClosedTrade, Opened, Receipt, Trade
from engine.views import _num, account_view, closed_view, opened_view, receipt_view, trade_view

# BTC at 4 decimals (60.0000), SOL at 2 (15.00): a unit that differs from USD's is visible
TRADE = Trade(
    "t1", "a@example.com", "BTC_USDC", True, 10_000, 50, 600_000, 590_000, 0, 488_000, 7, 3
)
SHORT = Trade("t2", "a@example.com", "SOL_USDC", False, 5, 25, 1_500, 0, 1_400, 3_000, 8, 4)


def as_json(view: object) -> dict[str, object]:
    decoded: dict[str, object] = msgspec.json.decode(msgspec.json.encode(view))
    return decoded


def test_trade_view_writes_human_units_with_the_reference_keys_first() -> None:
    raw = msgspec.json.encode(trade_view(TRADE, 4))
    assert raw == (
        b'{"email":"a@example.com","tradeId":"t1","entryPrice":60,"liquidationPrice":48.8,'
        b'"stopLossPrice":59,"takeProfitPrice":null,"margin":1,"leverage":5,'
        b'"asset":"BTC_USDC","direction":"LONG","leverageTenths":50,"openedAt":7}'
    )
    short = msgspec.json.encode(trade_view(SHORT, 2))
    assert b'"entryPrice":15,' in short and b'"takeProfitPrice":14,' in short
    assert b'"margin":0.0005,' in short and b'"leverage":2.5,' in short
    assert b'"stopLossPrice":null' in short and b'"direction":"SHORT"' in short


def test_the_opened_view_is_the_trade_view_and_the_balance() -> None:
    view = as_json(opened_view(TRADE, 123_456, 4))
    assert view == as_json(trade_view(TRADE, 4)) | {"usdBalance": 12.3456}


def test_the_closed_view_has_the_reference_close_keys() -> None:
    # a win: all of the margin back, the profit on top
    won = as_json(closed_view(ClosedTrade(TRADE, 610_000, 8, 10_008, "TRADE_CLOSED", 9), 4, 77))
    assert won == as_json(trade_view(TRADE, 4)) | {
        "marginReturned": 1,
        "pnl": 0.0008,
        "totalReturn": 1.0008,
        "closePrice": 61,
        "reason": "TRADE_CLOSED",
        "closedAt": 9,
        "usdBalance": 0.0077,
    }
    # a loss: only what is left of the margin comes back
    lost = as_json(closed_view(ClosedTrade(TRADE, 590_000, -2_500, 7_500, "TRADE_STOP_LOSS", 9), 4))
    assert (lost["marginReturned"], lost["pnl"], lost["totalReturn"]) == (0.75, -0.25, 0.75)
    assert "usdBalance" not in lost


def test_account_view_has_the_reference_keys() -> None:
    view = as_json(account_view("a@example.com", AccountAnswer(True, 50_000_000, 0, 50_000_000)))
    assert view == {
        "email": "a@example.com",
        "initialUsdBalance": 5000,
        "assets": ["USD"],
        "created": True,
        "usdBalance": 5000,
        "lockedUsd": 0,
    }


def test_a_receipt_rebuilds_the_first_answer() -> None:
    assets = {"BTC_USDC": 4, "SOL_USDC": 2}
    closed = ClosedTrade(SHORT, 1_450, 1, 6, "TRADE_CLOSED", 9)
    assert receipt_view(Receipt("a", "success", "m", None, Opened(SHORT, 5)), assets) == (
        opened_view(SHORT, 5, 2)
    )
    assert receipt_view(Receipt("a", "success", "m", None, Closed(closed, 6)), assets) == (
        closed_view(closed, 2, 6)
    )
    assert receipt_view(Receipt("a", "error", "m", {"code": "X"}), assets) == {"code": "X"}


@given(value=st.integers(-(10**30), 10**30), decimals=st.integers(0, 18))
def test_the_views_inline_number_formatting_is_format_amount(value: int, decimals: int) -> None:
    assert _num(value, decimals) == format_amount(value, decimals)


def test_ids_and_emails_are_escaped_in_the_json_text() -> None:
    odd = Trade('q"\\\n\u2028', 'a"b@x.io', "BTC_USDC", True, 1, 10, 5, 0, 0, 0, 1, 1)
    decoded = as_json(trade_view(odd, 4))
    assert (decoded["tradeId"], decoded["email"]) == (odd.trade_id, odd.email)
