"""Bad prices are refused and counted, and never fire a trigger: a bid of 0, an ask below the
bid, an unknown asset, a price past the stated range or outside the band, a decimal out of
range. A good item in the same batch is still applied."""

from __future__ import annotations

from engine.messages import PriceItem
from tests.engine.scenarios import Market

BTC = "BTC_USDC"
P = 10_000


def market(**config: object) -> Market:
    mk = Market({"BTC_USDC": 4, "ETH_USDC": 4}, **config)  # type: ignore[arg-type]
    mk.account()
    mk.tick(BTC, "100", "100.5")
    # a 10x LONG with a stop, and a SHORT: a bad price must fire neither
    mk.open("l", asset=BTC, direction="LONG", margin="10", leverage=100, stopLossPrice="95")
    mk.open("s", asset=BTC, direction="SHORT", margin="10", leverage=100, stopLossPrice="105")
    return mk


def item(bid: int, ask: int, asset: str = BTC, decimal: int = 4) -> PriceItem:
    return PriceItem(asset, bid, decimal, bid, ask)


def assert_unchanged(mk: Market, rejected: dict[str, int]) -> None:
    state = mk.engine.state
    assert state.rejected == rejected
    assert (state.prices[BTC].bid, state.prices[BTC].ask) == (100 * P, 1_005_000)
    assert state.trades.keys() == {"l", "s"}
    assert state.ticks_applied == 1


def test_a_bid_of_zero_is_refused_and_fires_no_stop() -> None:
    mk = market(price_band_bps=0)
    assert mk.raw_tick(item(0, 100 * P)) == []
    assert_unchanged(mk, {"price_invalid": 1})


def test_an_ask_below_the_bid_is_refused_and_an_ask_equal_to_it_is_not() -> None:
    mk = market(price_band_bps=0)
    assert mk.raw_tick(item(200 * P, 200 * P - 1)) == []  # would fire the SHORT's stop
    assert_unchanged(mk, {"price_invalid": 1})
    mk.raw_tick(item(101 * P, 101 * P))
    assert mk.engine.state.prices[BTC].ask == 101 * P


def test_an_unknown_asset_is_counted_and_the_rest_of_its_batch_applied() -> None:
    mk = market()
    mk.raw_tick(item(1 * P, 1 * P, asset="DOGE_USDC"), item(2_000 * P, 2_001 * P, "ETH_USDC"))
    state = mk.engine.state
    assert state.rejected == {"price_unknown_asset": 1}
    assert "DOGE_USDC" not in state.prices and state.prices["ETH_USDC"].bid == 2_000 * P
    assert state.ticks_applied == 2


def test_a_price_past_the_stated_range_is_refused_and_the_largest_is_not() -> None:
    mk = market(price_band_bps=0)
    largest = 10**9 * P
    mk.raw_tick(item(largest, largest + 1))
    assert_unchanged(mk, {"price_out_of_range": 1})
    mk.raw_tick(item(largest - 1, largest))
    assert mk.engine.state.prices[BTC].ask == largest


def test_the_band_refuses_a_bid_or_an_ask_past_it_and_takes_one_at_its_edge() -> None:
    mk = market(price_band_bps=1_000)  # 10%
    mk.raw_tick(item(110 * P + 1, 110 * P + 2))  # the bid 10.0001% up
    assert_unchanged(mk, {"price_band": 1})
    mk.raw_tick(item(100 * P, 1_105_501))  # the ask 10.0001% up, the bid unchanged
    assert_unchanged(mk, {"price_band": 2})
    mk.raw_tick(item(90 * P - 1, 1_005_000))  # the bid 10.0001% down
    assert_unchanged(mk, {"price_band": 3})
    events = mk.raw_tick(item(110 * P, 1_105_500))  # both exactly 10% up: applied
    assert [e.trade_id for e in events] == ["s"]  # the SHORT's stop at 105 fires at the ask
    assert mk.engine.state.prices[BTC].bid == 110 * P


def test_a_decimal_out_of_range_is_refused_and_18_is_taken() -> None:
    mk = market(price_band_bps=0)
    mk.raw_tick(item(100 * 10**18, 1_005 * 10**17, decimal=18))
    assert mk.engine.state.ticks_applied == 2
    mk.raw_tick(item(100 * 10**19, 1_005 * 10**18, decimal=19))
    assert sum(mk.engine.state.rejected.values()) == 1


def test_a_price_entry_moves_the_clock_so_its_price_is_fresh() -> None:
    mk = Market(max_price_age_ms=60_000)
    mk.account()
    mk.ms += 120_000  # two minutes with no command: only the price entry says what time it is
    mk.tick(BTC, "100", "100.5")
    assert mk.engine.state.prices[BTC].at_ms == mk.ms
    assert mk.engine.state.last_price_id == f"{mk.ms}-{mk.n}"
    assert mk.open("t1", asset=BTC, direction="LONG", margin="1").entry_price == 1_005_000


def test_a_malformed_price_entry_still_advances_the_last_price_id() -> None:
    mk = Market()
    assert mk.engine.apply_price_entry("5000-7", {b"junk": b"1"}) == []
    assert mk.engine.state.last_price_id == "5000-7"
    assert mk.engine.state.rejected == {"price_malformed": 1}


def test_quarantining_one_price_entry_skips_only_that_entry() -> None:
    mk = Market()
    mk.engine.quarantine("price", "1002-2")
    mk.tick(BTC, "100")  # entry 1001-1
    mk.tick(BTC, "200")  # entry 1002-2: set aside
    mk.tick(BTC, "101")  # entry 1003-3
    assert mk.engine.state.prices[BTC].bid == 101 * P
    assert mk.engine.state.rejected == {"quarantined": 1}
    assert mk.engine.state.ticks_applied == 2


def test_a_price_with_only_a_bid_or_only_an_ask_takes_the_price_for_the_other() -> None:
    mk = Market(price_band_bps=0)
    mk.raw_tick(PriceItem(BTC, 100 * P, 4, None, 101 * P))
    price = mk.engine.state.prices[BTC]
    assert (price.bid, price.ask) == (100 * P, 101 * P)
    mk.raw_tick(PriceItem(BTC, 103 * P, 4, 102 * P, None))
    price = mk.engine.state.prices[BTC]
    assert (price.bid, price.ask) == (102 * P, 103 * P)


def test_a_price_in_whole_units_decimal_0_is_rescaled() -> None:
    mk = Market(price_band_bps=0)
    mk.raw_tick(item(100, 101, decimal=0))
    price = mk.engine.state.prices[BTC]
    assert (price.bid, price.ask) == (100 * P, 101 * P)
    assert mk.engine.state.rejected == {}


def test_a_negative_decimal_is_refused() -> None:
    mk = Market(price_band_bps=0)
    mk.raw_tick(item(10, 10, decimal=-1))
    assert mk.engine.state.rejected == {"price_precision": 1}
    assert BTC not in mk.engine.state.prices
