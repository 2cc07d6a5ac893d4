"""Worked examples of the engine core: fills, PnL, triggers, idempotency, validation."""

from __future__ import annotations

from engine import messages as m
from engine.config import EngineConfig
from engine.money import USD_SCALE
from tests.engine.driver import Driver, events, units

BTC = "BTC_USDC"
ALICE = "alice@example.com"
P = 10_000  # one price unit at 4 decimals


def funded(**config) -> Driver:
    d = Driver(EngineConfig(**config) if config else None)
    assert d.call("acc", m.CREATE_ACCOUNT, ALICE).status == m.SUCCESS
    d.tick(BTC, 60_000 * P)
    return d


def open_trade(d: Driver, order_id: str = "t1", **kw) -> dict:
    args = {"asset": BTC, "direction": "LONG", "margin": 100 * USD_SCALE, "leverage": 10} | kw
    r = d.call(order_id, m.CREATE_TRADE, ALICE, **args)
    assert r.status == m.SUCCESS, r.message
    return r.data


def test_1x_long_opened_and_closed_at_same_price_returns_balance_exactly():
    d = funded()
    open_trade(d)
    r = d.call("c1", m.CLOSE_TRADE, ALICE, tradeId="t1")
    assert r.status == m.SUCCESS
    assert units(r.data["pnl"]) == 0
    assert units(r.data["usdBalance"]) == 5000 * USD_SCALE
    assert d.engine.state.house == 0


def test_long_fills_at_ask_and_closes_at_bid_so_the_spread_is_paid():
    d = funded()
    d.tick(BTC, 59_990 * P, 60_010 * P)
    trade = open_trade(d, leverage=100)
    assert units(trade["entryPrice"]) == 60_010 * P
    r = d.call("c1", m.CLOSE_TRADE, ALICE, tradeId="t1")
    # 10x on 100 USD over a 20/60010 move: -0.33327... USD, floored against the trader.
    assert units(r.data["pnl"]) == -3333
    assert d.conserved()


def test_short_pnl_is_floored_against_the_trader_and_remainder_goes_to_house():
    d = funded()
    open_trade(d, direction="SHORT", margin=1 * USD_SCALE, leverage=30)
    d.tick(BTC, 59_999 * P)  # short gains 3 x 1/60000 USD = 0.00005 USD = 0.5 units
    r = d.call("c1", m.CLOSE_TRADE, ALICE, tradeId="t1")
    assert units(r.data["pnl"]) == 0  # 0.5 units floored
    d.tick(BTC, 60_001 * P)
    open_trade(d, "t2", direction="SHORT", margin=1 * USD_SCALE, leverage=30)
    d.tick(BTC, 60_002 * P)  # loses 0.49999 units -> floored to -1
    r = d.call("c2", m.CLOSE_TRADE, ALICE, tradeId="t2")
    assert units(r.data["pnl"]) == -1
    assert d.engine.state.house == 1
    assert d.conserved()


def test_10x_long_liquidation_level_is_ten_percent_below_entry():
    d = funded()
    trade = open_trade(d, leverage=100)
    level = units(trade["liquidationPrice"])
    assert 54_000 * P <= level < 54_000 * P + P
    d.tick(BTC, level + 1)
    assert d.engine.open_positions() == 1
    out = d.tick(BTC, level)
    (ev,) = events(out)
    assert ev.event_type == m.TRADE_LIQUIDATED
    assert ev.margin_returned == 0
    assert ev.pnl == -100 * USD_SCALE
    assert ev.close_price == level
    assert d.engine.state.house == 100 * USD_SCALE
    assert d.conserved()


def test_maintenance_margin_liquidates_earlier_and_returns_the_rest():
    d = funded(maintenance_bps=2_000)
    trade = open_trade(d, leverage=100)
    # loss reaches 80% of margin at an 8% drop
    level = units(trade["liquidationPrice"])
    assert 55_200 * P <= level < 55_200 * P + P
    (ev,) = events(d.tick(BTC, level))
    assert ev.event_type == m.TRADE_LIQUIDATED
    assert ev.margin_returned == 20 * USD_SCALE
    assert d.conserved()


def test_stop_loss_fires_at_level():
    d = funded()
    open_trade(d, stopLossPrice=59_000 * P)
    assert events(d.tick(BTC, 59_001 * P)) == []
    (ev,) = events(d.tick(BTC, 59_000 * P))
    assert ev.event_type == m.TRADE_STOP_LOSS
    assert ev.pnl == -16_667  # -16.66666... USD floored to -16.6667
    assert d.engine.open_positions() == 0


def test_take_profit_fires_and_removes_the_stop_loss():
    d = funded()
    open_trade(d, stopLossPrice=59_000 * P, takeProfitPrice=61_000 * P)
    (ev,) = events(d.tick(BTC, 61_500 * P))
    assert ev.event_type == m.TRADE_TAKE_PROFIT
    assert ev.close_price == 61_500 * P
    book = d.engine.books[BTC]
    assert len(book) == 0
    assert events(d.tick(BTC, 50_000 * P)) == []
    assert d.conserved()


def test_a_tick_that_gaps_past_a_stop_closes_at_the_ticks_price():
    d = funded()
    open_trade(d, stopLossPrice=59_000 * P)
    (ev,) = events(d.tick(BTC, 57_000 * P))
    assert ev.event_type == m.TRADE_STOP_LOSS
    assert ev.close_price == 57_000 * P
    assert ev.pnl == -(100 * USD_SCALE) * 3_000 // 60_000


def test_gap_past_stop_and_liquidation_fires_once_and_caps_loss_at_margin():
    d = funded()
    trade = open_trade(d, leverage=200, stopLossPrice=57_500 * P)
    assert trade["liquidationPrice"] < 57_500 * P
    out = events(d.tick(BTC, 40_000 * P))
    assert [e.event_type for e in out] == [m.TRADE_STOP_LOSS]
    assert out[0].margin_returned == 0
    assert d.engine.state.house == 100 * USD_SCALE
    assert d.conserved()


def test_long_with_take_profit_above_stays_open_on_a_tick_below():
    d = funded()
    open_trade(d, takeProfitPrice=61_000 * P)
    assert events(d.tick(BTC, 59_500 * P)) == []
    assert d.engine.open_positions() == 1


def test_short_triggers_watch_the_ask():
    d = funded()
    open_trade(d, direction="SHORT", stopLossPrice=61_000 * P, takeProfitPrice=59_000 * P)
    assert events(d.tick(BTC, 60_990 * P, 60_999 * P)) == []
    (ev,) = events(d.tick(BTC, 60_990 * P, 61_000 * P))
    assert ev.event_type == m.TRADE_STOP_LOSS
    assert ev.close_price == 61_000 * P


def test_repeated_order_id_returns_original_result_and_changes_nothing():
    d = funded()
    first = d.call("t1", m.CREATE_TRADE, ALICE, asset=BTC, direction="LONG", margin=10 * USD_SCALE)
    balance = d.engine.state.accounts[ALICE].free
    again = d.call("t1", m.CREATE_TRADE, ALICE, asset=BTC, direction="LONG", margin=10 * USD_SCALE)
    assert (again.status, again.data, again.message) == (first.status, first.data, first.message)
    assert again.seq > first.seq
    assert d.engine.state.accounts[ALICE].free == balance
    assert d.engine.open_positions() == 1


def test_order_id_of_another_account_is_refused():
    d = funded()
    d.call("acc-b", m.CREATE_ACCOUNT, "bob@example.com")
    open_trade(d)
    r = d.call("t1", m.CLOSE_TRADE, "bob@example.com", tradeId="t1")
    assert r.status == m.ERROR
    assert r.data["code"] == "DUPLICATE_ORDER_ID"


def test_only_the_owner_can_close_a_trade():
    d = funded()
    d.call("acc-b", m.CREATE_ACCOUNT, "bob@example.com")
    open_trade(d)
    r = d.call("c1", m.CLOSE_TRADE, "bob@example.com", tradeId="t1")
    assert (r.status, r.data["code"]) == (m.ERROR, "TRADE_NOT_FOUND")
    assert d.engine.open_positions() == 1


def test_create_account_is_idempotent_per_email():
    d = funded()
    r = d.call("acc2", m.CREATE_ACCOUNT, ALICE)
    assert r.status == m.SUCCESS and r.data["created"] is False
    assert d.engine.state.deposits == 5000 * USD_SCALE


def test_create_trade_validation_errors_name_the_field():
    d = funded()
    cases = [
        ({"asset": "DOGE_USDC"}, "asset", "UNKNOWN_ASSET"),
        ({"margin": 0}, "margin", "INVALID_AMOUNT"),
        ({"margin": "1000000001"}, "margin", "INVALID_AMOUNT"),
        ({"margin": "1e3"}, "margin", "INVALID_AMOUNT"),
        ({"margin": "-5"}, "margin", "INVALID_AMOUNT"),
        ({"margin": 5001 * USD_SCALE}, "margin", "INSUFFICIENT_BALANCE"),
        ({"margin": "1.00001"}, "margin", "INVALID_AMOUNT"),
        ({"margin": [1]}, "margin", "INVALID_TRADE_DATA"),
        ({"leverage": 5}, "leverage", "INVALID_LEVERAGE"),
        ({"leverage": 1001}, "leverage", "INVALID_LEVERAGE"),
        ({"direction": "UP"}, "direction", "INVALID_DIRECTION"),
        ({"stopLossPrice": 61_000 * P}, "stopLossPrice", "INVALID_STOP_LOSS"),
        ({"takeProfitPrice": 59_000 * P}, "takeProfitPrice", "INVALID_TAKE_PROFIT"),
        ({"expectedPrice": 59_000 * P, "maxSlippageBps": 10}, "expectedPrice", "SLIPPAGE"),
    ]
    for i, (override, field, code) in enumerate(cases):
        args = {"asset": BTC, "direction": "LONG", "margin": 100 * USD_SCALE} | override
        r = d.call(f"bad{i}", m.CREATE_TRADE, ALICE, **args)
        assert r.status == m.ERROR, override
        assert (r.data["code"], r.data.get("field")) == (code, field), (override, r.message)
    assert d.engine.open_positions() == 0
    assert d.engine.state.accounts[ALICE].free == 5000 * USD_SCALE


def test_slippage_guard_accepts_favourable_and_small_moves():
    d = funded()
    open_trade(d, expectedPrice=60_100 * P, maxSlippageBps=0)
    open_trade(d, "t2", expectedPrice=59_990 * P, maxSlippageBps=2)


def test_decimal_strings_are_exact():
    d = funded()
    trade = open_trade(d, margin="12.3456", stopLossPrice="59000.5")
    assert units(trade["margin"]) == 123_456
    assert units(trade["stopLossPrice"]) == 590_005_000


def test_no_price_and_stale_price_are_refused():
    d = Driver(EngineConfig(max_price_age_ms=1_000))
    d.call("acc", m.CREATE_ACCOUNT, ALICE)
    r = d.call("t0", m.CREATE_TRADE, ALICE, asset=BTC, direction="LONG", margin=USD_SCALE)
    assert r.data["code"] == "NO_PRICE"
    d.tick(BTC, 60_000 * P)
    d.command("noop", m.GET_BALANCE, ALICE, step_ms=1_001)
    r = d.call("t1", m.CREATE_TRADE, ALICE, asset=BTC, direction="LONG", margin=USD_SCALE)
    assert r.data["code"] == "STALE_PRICE"


def test_closing_at_a_stale_price_is_refused_until_a_fresh_tick():
    d = Driver(EngineConfig(max_price_age_ms=1_000))
    d.call("acc", m.CREATE_ACCOUNT, ALICE)
    d.tick(BTC, 60_000 * P)
    assert (
        d.call("t1", m.CREATE_TRADE, ALICE, asset=BTC, direction="LONG", margin=USD_SCALE).status
        == m.SUCCESS
    )
    d.command("wait", m.GET_BALANCE, ALICE, step_ms=5_000)
    r = d.call("c1", m.CLOSE_TRADE, ALICE, tradeId="t1")
    assert (r.status, r.data["code"]) == (m.ERROR, "STALE_PRICE")
    d.tick(BTC, 61_000 * P)
    assert d.call("c2", m.CLOSE_TRADE, ALICE, tradeId="t1").status == m.SUCCESS


def test_prices_are_rescaled_exactly_or_rejected():
    d = funded()
    from engine.messages import PriceItem
    from engine.wire import encode_price_batch
    from tests.engine.driver import as_bytes

    ok = as_bytes(encode_price_batch([PriceItem(BTC, 6_100_000, 2)], "t", 0))
    d.engine.apply_price_entry("9000-0", ok)
    assert d.engine.state.prices[BTC].bid == 61_000 * P
    lossy = as_bytes(encode_price_batch([PriceItem(BTC, 610_000_012_345, 7)], "t", 0))
    d.engine.apply_price_entry("9001-0", lossy)
    assert d.engine.state.prices[BTC].bid == 61_000 * P
    assert d.engine.state.rejected["price_precision"] == 1


def test_queries_list_open_and_closed_trades_newest_first():
    d = funded()
    open_trade(d, "t1")
    open_trade(d, "t2")
    r = d.call("q1", m.GET_OPEN_TRADES, ALICE)
    assert [t["tradeId"] for t in r.data["trades"]] == ["t1", "t2"]
    d.call("c1", m.CLOSE_TRADE, ALICE, tradeId="t1")
    d.call("c2", m.CLOSE_TRADE, ALICE, tradeId="t2")
    r = d.call("q2", m.GET_CLOSED_TRADES, ALICE, limit=1)
    assert [t["tradeId"] for t in r.data["trades"]] == ["t2"]
    r = d.call("q3", m.GET_USD_BALANCE, ALICE)
    assert units(r.data["usdBalance"]) == 5000 * USD_SCALE


def test_malformed_command_with_order_id_gets_error_response_and_engine_goes_on():
    d = funded()
    out = d.engine.apply_command_entry(
        "99999-0",
        {
            b"orderId": b"x1",
            b"command": b"CREATE_TRADE",
            b"email": ALICE.encode(),
            b"tradeData": b"{",
        },
    )
    assert len(out) == 1 and out[0].status == m.ERROR and out[0].order_id == "x1"
    assert d.engine.apply_command_entry("99999-1", {b"junk": b"1"}) == []
    assert d.engine.state.rejected["command_malformed"] == 2
    r = d.call("u1", "TRANSFER_ALL", ALICE)
    assert (r.status, r.data["code"]) == (m.ERROR, "UNKNOWN_COMMAND")


def test_close_trade_with_a_malformed_trade_id_names_the_field():
    d = funded()
    for i, bad in enumerate([{}, {"tradeId": 5}, {"tradeId": None}]):
        r = d.call(f"c{i}", m.CLOSE_TRADE, ALICE, **bad)
        assert (r.status, r.data["code"], r.data["field"]) == (
            m.ERROR,
            "INVALID_TRADE_DATA",
            "tradeId",
        ), r.message


def test_close_answers_even_when_no_closed_history_is_kept():
    d = funded(closed_history=0)
    open_trade(d)
    r = d.call("c1", m.CLOSE_TRADE, ALICE, tradeId="t1")
    assert (r.status, r.data["reason"], units(r.data["usdBalance"])) == (
        m.SUCCESS,
        m.TRADE_CLOSED,
        5000 * USD_SCALE,
    )
    assert d.call("q", m.GET_CLOSED_TRADES, ALICE).data == {"trades": []}
