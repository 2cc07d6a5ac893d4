"""Order validation at its exact edges, through the engine: levels at, inside and one tick
outside the spread, zero levels, the slippage guard on both sides and at its limit, margin equal
to the free balance, leverage at its bounds. A refusal names its field and changes nothing."""

from __future__ import annotations

import pytest

from engine import messages as m
from tests.engine.scenarios import ALICE, USD, Market, units

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


# (direction, field, side, refused levels, accepted level): the accepted one is a tick outside
EDGES = [
    ("LONG", STOP, "below the bid", ["100", "100.5", "101"], "99.9999"),
    ("LONG", TARGET, "above the ask", ["101", "100.5", "100"], "101.0001"),
    ("SHORT", STOP, "above the ask", ["101", "100.5", "100"], "101.0001"),
    ("SHORT", TARGET, "below the bid", ["100", "100.5", "101"], "99.9999"),
]


@pytest.mark.parametrize(("direction", "field", "side", "refused", "accepted"), EDGES)
def test_exit_levels_must_lie_outside_the_spread_on_their_own_side(
    direction: str, field: str, side: str, refused: list[str], accepted: str
) -> None:
    mk = market()
    for i, level in enumerate(refused):  # at the watched price, inside the spread, beyond
        code, named = mk.refused(f"bad{i}", **order(direction, **{field: level}))
        assert named == field, (level, code)
        assert side in mk.message  # the trader is told which side the level belongs on
    for i, level in enumerate(["0", "-1"]):  # never "no level": refused as an amount
        assert mk.refused(f"zero{i}", **order(direction, **{field: level})) == (
            "INVALID_AMOUNT",
            field,
        )
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
    ("expected", "bps", "code"),
    [
        ("0", 10, "INVALID_AMOUNT"),
        ("-100", 10, "INVALID_AMOUNT"),
        ("100", -1, "INVALID_SLIPPAGE"),
        ("102", -1, "INVALID_SLIPPAGE"),
        ("100", 10_001, "INVALID_SLIPPAGE"),
    ],
)
def test_an_impossible_slippage_guard_is_refused(expected: str, bps: int, code: str) -> None:
    mk = market()
    assert mk.refused("g", **order("LONG", expectedPrice=expected, maxSlippageBps=bps)) == (
        code,
        "expectedPrice",
    )


def test_an_expected_price_without_a_limit_allows_no_slippage_at_all() -> None:
    mk = market()
    # one tick worse than expected (101 against 100.9999) is refused when no limit is given
    code = mk.refused("g0", **order("LONG", expectedPrice="100.9999"))
    assert code == ("SLIPPAGE", "expectedPrice")
    assert mk.open("g1", **order("LONG", expectedPrice="100.9999", maxSlippageBps=1))


def test_the_slippage_limit_is_a_fraction_of_the_expected_price_to_the_unit() -> None:
    mk = market()
    # 101 against 100.9899: 0.0101 worse, 1.0001 bps of 100.9899: just past a 1 bps limit
    code = mk.refused("g0", **order("LONG", expectedPrice="100.9899", maxSlippageBps=1))
    assert code == ("SLIPPAGE", "expectedPrice")
    assert mk.open("g1", **order("LONG", expectedPrice="100.99", maxSlippageBps=1))


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


def test_unknown_fields_beside_a_close_or_a_history_query_are_ignored() -> None:
    mk = market()
    mk.open("t1", **order("LONG"))
    response, _ = mk.send("c1", m.CLOSE_TRADE, ALICE, note="x", tradeId="t1")
    assert response.status == m.SUCCESS
    response, _ = mk.send("c2", m.CLOSE_TRADE, ALICE, note="x", tradeId=5)
    assert (response.data["code"], response.data["field"]) == ("INVALID_TRADE_DATA", "tradeId")
    response, _ = mk.send("h", m.GET_CLOSED_TRADES, ALICE, note="x", limit=1)
    assert response.status == m.SUCCESS
