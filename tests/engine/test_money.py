"""Exact decimal parsing, rescaling, PnL flooring and liquidation levels."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.money import (
    AmountError,
    format_decimal,
    liquidation_level,
    liquidation_threshold,
    parse_decimal,
    pnl,
    rescale,
)


@given(st.integers(-(10**20), 10**20), st.integers(0, 12))
def test_format_then_parse_round_trips(value: int, decimals: int) -> None:
    assert parse_decimal(format_decimal(value, decimals), decimals) == value


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
