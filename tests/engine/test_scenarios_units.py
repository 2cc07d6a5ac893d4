"""Units: a margin is read in USD's 4 decimals and every price in its asset's own decimals, here
2 (BTC) and 8 (PEPE), so a mix-up of the two cannot hide behind assets that share USD's."""

from __future__ import annotations

from engine import messages as m
from engine.messages import PriceItem
from tests.engine.scenarios import USD, Market, model_pnl

ASSETS = {"BTC_USDC": 2, "PEPE_USDC": 8}


def market() -> Market:
    mk = Market(ASSETS)
    mk.account()
    mk.tick("BTC_USDC", "60000.25", "60000.75")
    mk.tick("PEPE_USDC", "0.00001234", "0.00001236")
    return mk


def test_margin_in_usd_units_and_levels_in_the_assets_decimals() -> None:
    mk = market()
    btc = mk.open(
        "b1",
        asset="BTC_USDC",
        direction="LONG",
        margin="100.5",
        leverage=20,
        stopLossPrice="59000.5",
        takeProfitPrice="61000.25",
    )
    assert (btc.margin, btc.entry_price) == (1_005_000, 6_000_075)
    assert (btc.stop_loss, btc.take_profit) == (5_900_050, 6_100_025)
    pepe = mk.open(
        "p1",
        asset="PEPE_USDC",
        direction="SHORT",
        margin="50",
        leverage=10,
        stopLossPrice="0.000013",
        takeProfitPrice="0.00001",
    )
    assert (pepe.margin, pepe.entry_price, pepe.stop_loss, pepe.take_profit) == (
        50 * USD,
        1_234,
        1_300,
        1_000,
    )
    assert mk.free() == 5_000 * USD - 1_005_000 - 50 * USD


def test_more_decimals_than_the_asset_has_are_refused() -> None:
    mk = market()
    btc = {"asset": "BTC_USDC", "direction": "LONG", "margin": "10"}
    assert mk.refused("b1", **btc, stopLossPrice="59000.125")[1] == "stopLossPrice"
    assert mk.refused("b2", **btc, expectedPrice="60000.751")[1] == "expectedPrice"
    pepe = {"asset": "PEPE_USDC", "direction": "SHORT", "margin": "10"}
    assert mk.refused("p1", **pepe, takeProfitPrice="0.000010001")[1] == "takeProfitPrice"
    assert mk.refused("p2", **(pepe | {"margin": "1.00001"}))[1] == "margin"


def test_payouts_at_2_and_8_decimals_match_the_exact_model() -> None:
    mk = market()
    mk.open("b1", asset="BTC_USDC", direction="LONG", margin="100.5", leverage=20,
            takeProfitPrice="61000.25")  # fmt: skip
    mk.open("p1", asset="PEPE_USDC", direction="SHORT", margin="50", leverage=10,
            takeProfitPrice="0.00001")  # fmt: skip
    (event,) = mk.tick("BTC_USDC", "61000.25", "61000.5")
    expected = model_pnl(1_005_000, 20, 6_000_075, 6_100_025, True)
    assert expected == 33_482  # 201 USD x 999.50 / 60000.75 = 3.348283.. USD
    assert (event.event_type, event.close_price, event.pnl) == (
        m.TRADE_TAKE_PROFIT,
        6_100_025,
        expected,
    )
    (event,) = mk.tick("PEPE_USDC", "0.00000999", "0.00001")
    expected = model_pnl(50 * USD, 10, 1_234, 1_000, False)
    assert expected == 94_813  # 1x short on 50 USD over 234/1234: 9.48136.. USD
    assert (event.close_price, event.pnl, event.total_return) == (
        1_000,
        expected,
        500_000 + expected,
    )
    assert mk.conserved()


def test_the_slippage_guard_reads_the_expected_price_in_the_assets_decimals() -> None:
    mk = market()
    order = {"asset": "BTC_USDC", "direction": "LONG", "margin": "10", "maxSlippageBps": 0}
    assert mk.refused("b0", **order, expectedPrice="60000.74") == ("SLIPPAGE", "expectedPrice")
    assert mk.open("b1", **order, expectedPrice="60000.75").entry_price == 6_000_075


def test_a_price_sent_with_other_decimals_is_rescaled_exactly_or_refused() -> None:
    mk = market()
    mk.raw_tick(PriceItem("BTC_USDC", 600_102_500, 4, 600_102_500, 600_105_000))
    price = mk.engine.state.prices["BTC_USDC"]
    assert (price.bid, price.ask) == (6_001_025, 6_001_050)
    mk.raw_tick(PriceItem("BTC_USDC", 600_102_501, 4, 600_102_501, 600_105_000))
    assert mk.engine.state.rejected == {"price_precision": 1}
    assert mk.engine.state.prices["BTC_USDC"] == price
