"""Exact decimal parsing, rescaling, PnL flooring and liquidation levels."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.amounts import format_amount
from engine.money import (
    AmountError,
    liquidation_level,
    liquidation_threshold,
    parse_decimal,
    pnl,
    rescale,
)


@given(st.integers(-(10**20), 10**20), st.integers(0, 12))
def test_format_then_parse_round_trips(value: int, decimals: int) -> None:
    assert parse_decimal(format_amount(value, decimals), decimals) == value


@given(
    st.decimals(
        allow_nan=False, allow_infinity=False, places=4, min_value=-(10**9), max_value=10**9
    )
)
def test_parse_matches_decimal_arithmetic(d) -> None:
    assert parse_decimal(str(d) if "E" not in str(d) else f"{d:f}", 4) == int(d.scaleb(4))


@pytest.mark.parametrize("bad", ["", ".", "1.2.3", "abc", "1e5", "١٢", " - ", "1.00001", "+-1"])
def test_parse_rejects_malformed_or_too_precise(bad: str) -> None:
    with pytest.raises(AmountError):
        parse_decimal(bad, 4)


def test_rescale_is_exact_or_refuses() -> None:
    assert rescale(123, 2, 4) == 12_300
    assert rescale(12_300, 4, 2) == 123
    with pytest.raises(AmountError):
        rescale(12_345, 4, 2)


@given(
    st.integers(1, 10**10),
    st.integers(10, 1000),
    st.integers(1, 10**10),
    st.integers(1, 10**10),
    st.booleans(),
)
def test_pnl_is_floored_against_the_trader(margin, leverage, entry, exit_price, is_long) -> None:
    exact_num = margin * leverage * (exit_price - entry if is_long else entry - exit_price)
    value = pnl(margin, leverage, entry, exit_price, is_long)
    assert value * 10 * entry <= exact_num < (value + 1) * 10 * entry


@given(
    st.integers(1, 10**10),
    st.integers(10, 1000),
    st.integers(1, 10**10),
    st.booleans(),
    st.sampled_from([0, 1, 500, 9_999]),
)
def test_liquidation_level_is_the_exact_first_price_reaching_the_threshold(
    margin, leverage, entry, is_long, maintenance
) -> None:
    t = liquidation_threshold(margin, maintenance)
    level = liquidation_level(margin, leverage, entry, is_long, maintenance)
    if is_long:
        assert pnl(margin, leverage, entry, level, True) <= -t
        assert pnl(margin, leverage, entry, level + 1, True) > -t
    else:
        assert pnl(margin, leverage, entry, level, False) <= -t
        assert pnl(margin, leverage, entry, level - 1, False) > -t


@pytest.mark.parametrize(
    ("value", "decimals", "text"),
    [
        (0, 4, "0"),
        (-1, 4, "-0.0001"),
        (0, 0, "0"),
        (-1, 0, "-1"),
        (1, 0, "1"),
        (-10_000, 4, "-1"),
        (5, 2, "0.05"),
        (12_345, 2, "123.45"),
        (1_200, 3, "1.2"),
    ],
)
def test_format_decimal_of_zero_negatives_and_short_values(value, decimals, text) -> None:
    assert format_amount(value, decimals) == text
    assert parse_decimal(text, decimals) == value


def test_parse_takes_64_characters_and_refuses_65() -> None:
    assert parse_decimal("1" * 64, 0) == int("1" * 64)
    assert parse_decimal("-" + "1" * 63, 0) == -int("1" * 63)
    with pytest.raises(AmountError):
        parse_decimal("1" * 65, 0)
    assert parse_decimal(" +.5 ", 4) == 5_000
    assert parse_decimal("7.", 2) == 700


def test_rescale_keeps_the_value_at_the_same_decimals_and_scales_up_exactly() -> None:
    assert rescale(-12_345, 4, 4) == -12_345
    assert rescale(7, 3, 4) == 70
    assert rescale(-700, 4, 2) == -7
    assert rescale(0, 18, 0) == 0


def model_liquidation(margin: int, tenths: int, entry: int, is_long: bool, bps: int) -> int:
    """The same level from the plain definition, with exact fractions (no closed form)."""
    threshold = max(1, math.floor(Fraction(margin * (10_000 - bps), 10_000)))

    def loss_reached(p: int) -> bool:
        move = p - entry if is_long else entry - p
        return math.floor(Fraction(margin * tenths * move, 10 * entry)) <= -threshold

    # bisect for the first price (walking away from the entry) whose floored PnL reaches it
    step = 1 if is_long else -1
    near, far = entry, entry - step * (10 * entry * threshold // (margin * tenths) + 2 * entry)
    assert not loss_reached(near) and loss_reached(far)
    while abs(far - near) > 1:
        mid = (near + far) // 2
        near, far = (near, mid) if loss_reached(mid) else (mid, far)
    return far


@given(
    st.integers(1, 10**10),
    st.integers(10, 1000),
    st.integers(1, 10**10),
    st.booleans(),
    st.sampled_from([0, 1, 5_000, 9_999]),
)
def test_liquidation_level_matches_a_bisection_of_the_definition(
    margin, leverage, entry, is_long, maintenance
) -> None:
    expected = model_liquidation(margin, leverage, entry, is_long, maintenance)
    assert liquidation_level(margin, leverage, entry, is_long, maintenance) == expected


@pytest.mark.parametrize(
    ("margin", "bps", "threshold"),
    [(10_000, 0, 10_000), (100_001, 5_000, 50_000), (3, 5_000, 1), (1, 9_999, 1), (9, 9_000, 1)],
)
def test_liquidation_threshold_floors_and_is_at_least_one_unit(margin, bps, threshold) -> None:
    assert liquidation_threshold(margin, bps) == threshold


def test_liquidation_levels_by_hand_when_the_division_is_exact() -> None:
    # 100 USD at 10x from 100.0000: the margin is gone at exactly -10% / +10%
    assert liquidation_level(1_000_000, 100, 1_000_000, True, 0) == 900_000
    assert liquidation_level(1_000_000, 100, 1_000_000, False, 0) == 1_100_000
    # 1x LONG: only a price of 0 loses it all, and 0 is never a price
    assert liquidation_level(1_000_000, 10, 1_000_000, True, 0) == 0


@given(
    st.integers(1, 10**10), st.integers(10, 1000), st.integers(1, 10**10), st.integers(1, 10**10)
)
def test_pnl_matches_exact_fractions_both_ways(margin, leverage, entry, exit_price) -> None:
    up = Fraction(margin * leverage * (exit_price - entry), 10 * entry)
    assert pnl(margin, leverage, entry, exit_price, True) == math.floor(up)
    assert pnl(margin, leverage, entry, exit_price, False) == math.floor(-up)


def test_liquidation_level_when_the_closed_forms_numerator_is_one_past_a_multiple() -> None:
    # 0.0003 USD at 1.1x from 0.0028: pnl(p) = floor(33 (p - 28) / 280) reaches -3 first at 11
    # (-2.0036 -> -3), not at 12 (-1.886 -> -2); (1 - 3) x 280 - 1 = -561 = -17 x 33 exactly
    assert liquidation_level(3, 11, 28, True, 0) == 11
    assert liquidation_level(3, 11, 28, False, 0) == 45


def test_liquidation_level_matches_the_definition_on_every_small_case() -> None:
    for margin in range(1, 6):
        for leverage in (10, 11, 13, 17, 21, 33):
            for entry in range(1, 31):
                for is_long in (True, False):
                    expected = model_liquidation(margin, leverage, entry, is_long, 0)
                    got = liquidation_level(margin, leverage, entry, is_long, 0)
                    assert got == expected, (margin, leverage, entry, is_long)
