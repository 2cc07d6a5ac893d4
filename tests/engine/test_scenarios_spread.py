"""The spread, as a trader feels it: a LONG opens at the ask and leaves at the bid, a SHORT opens
at the bid and leaves at the ask, by hand or by a trigger; a LONG's exits watch the bid and a
SHORT's the ask. Every tick here has bid < ask; expected amounts are worked out by hand."""

from __future__ import annotations

from engine import messages as m
from tests.engine.scenarios import USD, Market

BTC = "BTC_USDC"
P = 10_000  # one price unit at BTC's 4 decimals


def market() -> Market:
    mk = Market()
    mk.account()
    mk.tick(BTC, "100", "101")
    return mk


def test_long_opens_at_the_ask_and_a_close_by_hand_exits_at_the_bid() -> None:
    mk = market()
    trade = mk.open("t1", asset=BTC, direction="LONG", margin="100", leverage=10)
    assert trade.entry_price == 101 * P
    event = mk.close("t1")
    # 1x on 100 USD from 101 to 100: -100/101 USD = -0.990099.. USD, floored to -0.9901
    assert (event.close_price, event.exit_price, event.pnl) == (100 * P, 100 * P, -9_901)
    assert event.margin_returned == 100 * USD - 9_901
    assert mk.free() == 5_000 * USD - 9_901
    assert mk.engine.state.house == 9_901


def test_short_opens_at_the_bid_and_a_close_by_hand_exits_at_the_ask() -> None:
    mk = market()
    trade = mk.open("t1", asset=BTC, direction="SHORT", margin="100", leverage=10)
    assert trade.entry_price == 100 * P
    event = mk.close("t1")
    # 1x short on 100 USD from 100 to 101: exactly -1 USD
    assert (event.close_price, event.pnl) == (101 * P, -1 * USD)
    assert mk.free() == 4_999 * USD
    assert mk.engine.state.house == 1 * USD


def test_long_stop_loss_fires_on_the_bid_while_the_ask_is_still_above_it() -> None:
    mk = market()
    mk.open("t1", asset=BTC, direction="LONG", margin="100", leverage=10, stopLossPrice="95")
    assert mk.tick(BTC, "95.0001", "96") == []
    (event,) = mk.tick(BTC, "95", "96")
    assert event.event_type == m.TRADE_STOP_LOSS
    # settled at the bid: 1x from 101 to 95 = -600/101 USD = -5.940594.. -> -5.9406
    assert (event.close_price, event.pnl) == (95 * P, -59_406)
    assert mk.free() == 5_000 * USD - 59_406


def test_long_take_profit_waits_for_the_bid_not_the_ask() -> None:
    mk = market()
    mk.open("t1", asset=BTC, direction="LONG", margin="100", leverage=10, takeProfitPrice="110")
    assert mk.tick(BTC, "109.9999", "111") == []  # the ask is past it; a LONG cannot sell there
    (event,) = mk.tick(BTC, "110", "111")
    assert event.event_type == m.TRADE_TAKE_PROFIT
    # 1x from 101 to 110: 900/101 USD = 8.910891.. -> 8.9108
    assert (event.close_price, event.pnl) == (110 * P, 89_108)


def test_long_liquidation_watches_the_bid() -> None:
    mk = market()
    trade = mk.open("t1", asset=BTC, direction="LONG", margin="100", leverage=100)
    # 10x from 101: the whole margin is gone at a 10% fall, 90.9, exactly
    assert trade.liquidation == 909_000
    assert mk.tick(BTC, "90.9001", "91") == []
    (event,) = mk.tick(BTC, "90.9", "91")
    assert (event.event_type, event.close_price, event.margin_returned) == (
        m.TRADE_LIQUIDATED,
        909_000,
        0,
    )


def test_short_take_profit_waits_for_the_ask_not_the_bid() -> None:
    mk = market()
    mk.open("t1", asset=BTC, direction="SHORT", margin="100", leverage=10, takeProfitPrice="90")
    assert mk.tick(BTC, "89", "90.0001") == []  # the bid is past it; a SHORT buys at the ask
    (event,) = mk.tick(BTC, "89", "90")
    assert event.event_type == m.TRADE_TAKE_PROFIT
    # 1x short from 100 to 90: +10 USD exactly, settled at the ask
    assert (event.close_price, event.pnl, event.total_return) == (90 * P, 10 * USD, 110 * USD)
    assert mk.free() == 5_010 * USD


def test_short_stop_loss_and_liquidation_watch_the_ask() -> None:
    mk = market()
    mk.open("s1", asset=BTC, direction="SHORT", margin="100", leverage=10, stopLossPrice="105")
    liq = mk.open("s2", asset=BTC, direction="SHORT", margin="100", leverage=100)
    assert liq.liquidation == 110 * P  # 10x from 100: the margin is gone at +10%, exactly
    assert mk.tick(BTC, "104.5", "104.9999") == []
    (event,) = mk.tick(BTC, "104", "105")  # the bid is below the stop; the ask reached it
    assert (event.event_type, event.trade_id, event.close_price) == (
        m.TRADE_STOP_LOSS,
        "s1",
        105 * P,
    )
    assert event.pnl == -5 * USD  # 1x short from 100 to 105
    assert mk.tick(BTC, "109", "109.9999") == []
    (event,) = mk.tick(BTC, "109", "110")
    assert (event.event_type, event.trade_id, event.close_price) == (
        m.TRADE_LIQUIDATED,
        "s2",
        110 * P,
    )
    assert event.margin_returned == 0
    assert mk.conserved()


def test_a_winner_past_twice_its_margin_is_paid_in_full_by_hand_and_by_trigger() -> None:
    mk = market()
    mk.open("t1", asset=BTC, direction="LONG", margin="100", leverage=1000)
    mk.open(
        "t2", asset=BTC, direction="LONG", margin="100", leverage=1000, takeProfitPrice="104.03"
    )
    # 100x from 101 to 104.03 (+3%): +300 USD on 100 USD of margin, paid whole
    (event,) = mk.tick(BTC, "104.03", "104.04")
    assert (event.trade_id, event.pnl, event.total_return) == ("t2", 300 * USD, 400 * USD)
    assert (event.margin_returned, event.amount) == (100 * USD, 400 * USD)  # the margin, whole
    event = mk.close("t1")
    assert (event.pnl, event.total_return, event.amount) == (300 * USD, 400 * USD, 400 * USD)
    mk.tick(BTC, "100", "100.01")
    mk.open("s1", asset=BTC, direction="SHORT", margin="10", leverage=1000)
    mk.tick(BTC, "96.96", "97")  # the short: 100x from 100 to 97 (-3%): +30 USD on 10
    event = mk.close("s1")
    assert (event.pnl, event.total_return, event.margin_returned) == (30 * USD, 40 * USD, 10 * USD)
    assert mk.free() == (5_000 + 300 + 300 + 30) * USD
    assert mk.engine.state.house == -630 * USD  # the house is the winners' counterparty
    assert mk.conserved()
