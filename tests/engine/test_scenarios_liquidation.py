"""Liquidation at its edges: the level one tick either side, when the division is exact, with a
maintenance margin whose threshold must round down, and for the smallest margin. Expected levels
are worked out by hand or by the exact-fraction model in ``scenarios.py``, never by the engine's
own ``liquidation_level``."""

from __future__ import annotations

import pytest

from engine import messages as m
from tests.engine.scenarios import ALICE, USD, Market, model_liquidation, model_pnl, units

BTC = "BTC_USDC"


def market(price: str = "100", **config: object) -> Market:
    mk = Market(**config)  # type: ignore[arg-type]
    mk.account()
    mk.tick(BTC, price)
    return mk


@pytest.mark.parametrize(
    ("direction", "level", "before"), [("LONG", "90", "90.0001"), ("SHORT", "110", "109.9999")]
)
def test_10x_liquidates_exactly_at_a_10_percent_move_not_one_tick_before(
    direction: str, level: str, before: str
) -> None:
    mk = market()
    trade = mk.open("t1", asset=BTC, direction=direction, margin="100", leverage=100)
    # 10x on 100 USD: the loss is 100 USD exactly at 10%, an exact division
    assert trade.liquidation == units(level, 4)
    assert mk.tick(BTC, before) == []
    (event,) = mk.tick(BTC, level)
    assert (event.event_type, event.close_price) == (m.TRADE_LIQUIDATED, units(level, 4))
    assert (event.pnl, event.margin_returned, mk.free()) == (-100 * USD, 0, 4_900 * USD)


def test_maintenance_threshold_rounds_down_so_liquidation_is_never_later_than_stated() -> None:
    # 10.0001 USD x 50%: the threshold is 5.00005 USD, floored to 5.0000 (50,000 units)
    mk = market(maintenance_bps=5_000)
    trade = mk.open("t1", asset=BTC, direction="LONG", margin="10.0001", leverage=100)
    # 10x from 100: pnl(p) = floor(1.00001 x (p - e)) in units must reach -50,000:
    # p - e < -49,998.5.., so p = e - 49,999 = 95.0001 (a threshold rounded up gives 95.0000)
    assert trade.liquidation == 950_001 == model_liquidation(100_001, 100, 100 * USD, True, 5_000)
    assert mk.tick(BTC, "95.0002") == []
    (event,) = mk.tick(BTC, "95.0001")
    assert event.event_type == m.TRADE_LIQUIDATED
    assert model_pnl(100_001, 100, 100 * USD, 950_001, True) == -50_000
    assert (event.pnl, event.margin_returned) == (-50_000, 50_001)


def test_the_smallest_margin_still_liquidates_one_tick_against_it() -> None:
    # 0.0001 USD with 99.99% maintenance: the threshold floors to 0 and is raised to 1 unit
    mk = market(maintenance_bps=9_999)
    trade = mk.open("t1", asset=BTC, direction="LONG", margin="0.0001", leverage=10)
    assert trade.liquidation == 100 * USD - 1  # one tick below the entry loses the one unit
    short = mk.open("t2", asset=BTC, direction="SHORT", margin="0.0001", leverage=10)
    assert short.liquidation == 100 * USD + 1
    assert mk.tick(BTC, "100") == []  # at the entry nothing is lost: no liquidation
    assert len(mk.engine.state.trades) == 2


def test_a_1x_long_without_a_stop_has_no_level_that_can_fire() -> None:
    mk = market(price_band_bps=0)  # no band: the price may fall to its smallest tick at once
    trade = mk.open("t1", asset=BTC, direction="LONG", margin="100", leverage=10)
    assert trade.liquidation <= 0
    assert mk.tick(BTC, "0.0001") == []
    assert mk.engine.state.trades.keys() == {"t1"}


@pytest.mark.parametrize("tenths", [10, 11, 25, 100, 333, 999, 1000])
@pytest.mark.parametrize("margin", ["0.0001", "0.0007", "1", "10.0001", "333.3333", "5000"])
@pytest.mark.parametrize("bps", [0, 1, 2_500, 9_999])
def test_levels_match_the_exact_fraction_model(tenths: int, margin: str, bps: int) -> None:
    mk = market("60001.2345", maintenance_bps=bps)
    for direction in ("LONG", "SHORT"):
        trade = mk.open(direction, asset=BTC, direction=direction, margin=margin, leverage=tenths)
        is_long = direction == "LONG"
        expected = model_liquidation(units(margin, 4), tenths, trade.entry_price, is_long, bps)
        assert trade.liquidation == expected, direction
        mk.close(direction)
    assert mk.free() == 5_000 * USD and ALICE in mk.engine.state.accounts
