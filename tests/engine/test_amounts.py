"""Amounts at the boundary: text -> integer -> text is exact for every valid amount, and
everything else is refused naming the field."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.amounts import (
    MAX_WHOLE_UNITS,
    AmountError,
    format_amount,
    format_event_amount,
    max_units,
    parse_amount,
    parse_event_amount,
)

decimals = st.integers(0, 12)


@given(data=st.data(), places=decimals)
def test_every_valid_amount_text_parses_exactly_and_writes_back_exactly(data, places) -> None:
    units = data.draw(st.integers(1, max_units(places)))
    text = format_amount(units, places)
    assert parse_amount(text, places, "x") == units
    # the same value with trailing zeros, as a client may write it ("230.50")
    padded = text + ("0" * data.draw(st.integers(1, 3)) if "." in text else "")
    assert parse_amount(padded, places, "x") == units
    # and its value is the text's, exactly (no float anywhere)
    assert Fraction(units, 10**places) == Fraction(text)


@given(whole=st.integers(1, MAX_WHOLE_UNITS), places=decimals)
def test_a_json_integer_means_whole_units(whole: int, places: int) -> None:
    assert parse_amount(whole, places, "x") == whole * 10**places


@given(value=st.integers(-(10**30), 10**30), places=decimals)
def test_event_text_round_trips_any_integer_and_keeps_two_decimals(value, places) -> None:
    text = format_event_amount(value, places)
    assert parse_event_amount(text, places, "x") == value
    if places >= 2:
        assert len(text.partition(".")[2]) >= 2


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("1e3", "plain"), ("-5", "plain"), ("+5", "plain"), (" 1", "plain"), ("1 ", "plain"),
        ("NaN", "plain"), ("Infinity", "plain"), ("1.", "plain"), (".5", "plain"), ("", "plain"),
        ("１", "plain"), ("0x10", "plain"), ("0", "greater than 0"), ("0.0000", "greater than 0"),
        ("0.00001", "more than 4 decimals"), ("1000000000.0001", "at most"),
        (0, "greater than 0"), (-1, "greater than 0"), (MAX_WHOLE_UNITS + 1, "at most"),
        (True, "number or a decimal string"), (1.5, "number or a decimal string"),
        (None, "number or a decimal string"),
    ],
)
def test_anything_else_is_refused_naming_the_field(value: object, why: str) -> None:
    with pytest.raises(AmountError) as err:
        parse_amount(value, 4, "margin")
    assert err.value.field == "margin" and why in err.value.message


def test_zero_and_minus_one_unit_format_exactly() -> None:
    assert [format_amount(v, 4) for v in (0, -1, 1, -10_000, 12_345)] == [
        "0", "-0.0001", "0.0001", "-1", "1.2345"
    ]
    assert [format_event_amount(v, 4) for v in (0, -50_000_000, 2_012_300)] == [
        "0.00", "-5000.00", "201.23"
    ]
