"""Order validation at its exact edges, through the engine: levels at, inside and one tick
outside the spread, zero levels, the slippage guard on both sides and at its limit, margin equal
to the free balance, leverage at its bounds. A refusal names its field and changes nothing."""

from __future__ import annotations

import pytest

from tests.engine.scenarios import USD, Market, units

BTC = "BTC_USDC"
P = 10_000
STOP = "stopLossPrice"
TARGET = "takeProfitPrice"


def market(**config: object) -> Market:
    mk = Market(**config)  # type: ignore[arg-type]
    mk.account()
    mk.tick(BTC, "100", "101")  # bid 100, ask 101
    return mk


def order(direction: str, **kw: object) -> dict[str, object]:
    return {"asset": BTC, "direction": direction, "margin": "100", "leverage": 10} | kw


# (direction, field, refused levels, accepted level): the accepted one is a tick outside
EDGES = [
    ("LONG", STOP, ["100", "100.5", "101", "0", "-1"], "99.9999"),  # below the bid
    ("LONG", TARGET, ["101", "100.5", "100", "0", "-1"], "101.0001"),  # above the ask
    ("SHORT", STOP, ["101", "100.5", "100", "0", "-1"], "101.0001"),  # above the ask
    ("SHORT", TARGET, ["100", "100.5", "101", "0", "-1"], "99.9999"),  # below the bid
]


@pytest.mark.parametrize(("direction", "field", "refused", "accepted"), EDGES)
def test_exit_levels_must_lie_outside_the_spread_on_their_own_side(
    direction: str, field: str, refused: list[str], accepted: str
) -> None:
    mk = market()
    for i, level in enumerate(refused):  # at the watched price, inside the spread, 0, negative
        code, named = mk.refused(f"bad{i}", **order(direction, **{field: level}))
        assert named == field, (level, code)
    trade = mk.open("ok", **order(direction, **{field: accepted}))
    got = trade.stop_loss if field == STOP else trade.take_profit
    assert got == units(accepted, 4)


def test_a_short_with_a_worse_fill_is_refused_past_its_slippage_limit_only() -> None:
    mk = market()
    # a SHORT sells at the bid, 100: expecting 100.1 is 0.1/100.1 = 9.99 bps worse
    code, field = mk.refused("s0", **order("SHORT", expectedPrice="100.1", maxSlippageBps=9))
    assert (code, field) == ("SLIPPAGE", "expectedPrice")
    assert mk.open("s1", **order("SHORT", expectedPrice="100.1", maxSlippageBps=10))
    # a better fill than expected is never refused, even with no slippage allowed
    assert mk.open("s2", **order("SHORT", expectedPrice="99", maxSlippageBps=0))


def test_a_long_fill_exactly_at_its_slippage_limit_is_accepted() -> None:
    mk = market()
    # a LONG buys at the ask, 101: expecting 100 is exactly 1% (100 bps) worse
    assert mk.open("l1", **order("LONG", expectedPrice="100", maxSlippageBps=100))
    code, field = mk.refused("l0", **order("LONG", expectedPrice="100", maxSlippageBps=99))
    assert (code, field) == ("SLIPPAGE", "expectedPrice")
    assert mk.open("l2", **order("LONG", expectedPrice="101", maxSlippageBps=0))
    assert mk.open("l3", **order("LONG", expectedPrice="102", maxSlippageBps=0))


@pytest.mark.parametrize(
    ("expected", "bps"), [("0", 10), ("-100", 10), ("100", -1), ("100", 10_001)]
)
def test_an_impossible_slippage_guard_is_refused(expected: str, bps: int) -> None:
    mk = market()
    code, field = mk.refused("g", **order("LONG", expectedPrice=expected, maxSlippageBps=bps))
    assert field in ("expectedPrice", "maxSlippageBps"), code


def test_the_widest_slippage_guard_is_accepted() -> None:
    mk = market()
    assert mk.open("g", **order("LONG", expectedPrice="60", maxSlippageBps=10_000))


def test_margin_equal_to_the_free_balance_is_accepted_and_one_unit_more_is_not() -> None:
    mk = market()
    code, field = mk.refused("t0", **order("LONG", margin="5000.0001"))
    assert (code, field) == ("INSUFFICIENT_BALANCE", "margin")
    trade = mk.open("t1", **order("LONG", margin="5000"))
    assert (trade.margin, mk.free(), mk.locked()) == (5_000 * USD, 0, 5_000 * USD)


def test_margin_at_the_configured_maximum_is_accepted_and_one_unit_more_is_not() -> None:
    mk = market(max_margin=10 * USD)
    code, field = mk.refused("t0", **order("LONG", margin="10.0001"))
    assert (code, field) == ("INVALID_MARGIN", "margin")
    assert mk.open("t1", **order("LONG", margin="10")).margin == 10 * USD
    for i, bad in enumerate(["0", "-1"]):
        assert mk.refused(f"z{i}", **order("LONG", margin=bad))[1] == "margin"


@pytest.mark.parametrize(("tenths", "ok"), [(9, False), (10, True), (1000, True), (1001, False)])
def test_leverage_is_accepted_at_both_bounds_and_refused_past_them(tenths: int, ok: bool) -> None:
    mk = market()
    if ok:
        assert mk.open("t", **order("SHORT", leverage=tenths)).leverage == tenths
    else:
        assert mk.refused("t", **order("SHORT", leverage=tenths)) == (
            "INVALID_LEVERAGE",
            "leverage",
        )


def test_direction_may_be_given_as_type_in_any_case() -> None:
    mk = market()
    data = order("LONG")
    del data["direction"]
    assert mk.open("t1", **(data | {"type": "short"})).is_long is False
    assert mk.open("t2", **(data | {"type": "Long"})).is_long is True
    assert mk.refused("t3", **data) == ("INVALID_DIRECTION", "direction")


def test_an_unknown_asset_is_refused_before_anything_else() -> None:
    mk = market()
    assert mk.refused("t", **order("SIDEWAYS", asset="DOGE_USDC", margin="0")) == (
        "UNKNOWN_ASSET",
        "asset",
    )
