"""The OpenAPI amount patterns admit exactly what ``engine.amounts.parse_amount`` accepts."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.amounts import AmountError, parse_amount
from gateway.openapi_bodies import AMOUNT_MAX_TEXT, _decimal_pattern, amount_schema


def _server_accepts(text: str, decimals: int) -> bool:
    try:
        return parse_amount(text, decimals, "x") > 0
    except AmountError:
        return False


@pytest.mark.parametrize("decimals", [0, 1, 4, 6])
@given(text=st.text(alphabet="0000123456789.", min_size=1, max_size=16))
def test_pattern_and_parser_agree(decimals: int, text: str):
    pattern = re.compile(_decimal_pattern(decimals))
    assert bool(pattern.fullmatch(text)) == _server_accepts(text, decimals), text


@pytest.mark.parametrize(
    "text", ["0", "0.0", "0.00001", "1000000000.0001", "1000000001", "1e3", "-1", ".5", "1."]
)
def test_refused_texts_do_not_match(text: str):
    string = amount_schema(4, "x")["anyOf"][1]
    assert not re.fullmatch(string["pattern"], text)


def test_long_text_is_bounded_like_the_parser():
    text = "0" * 40 + "1"
    assert not _server_accepts(text, 4)
    assert amount_schema(4, "x")["anyOf"][1]["maxLength"] == AMOUNT_MAX_TEXT < len(text)
