"""The one stream entry ID parser: what Redis writes parses, anything else is refused."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.stream_ids import EntryIdError, entry_ms, format_id, parse_id

U64 = 2**64 - 1


@given(ms=st.integers(0, U64), seq=st.integers(0, U64))
def test_every_redis_entry_id_round_trips(ms: int, seq: int) -> None:
    text = f"{ms}-{seq}"
    assert parse_id(text) == parse_id(text.encode()) == (ms, seq)
    assert format_id((ms, seq)) == text and entry_ms(text) == ms


@pytest.mark.parametrize(
    "bad", ["", "-", "1", "1-", "-1", "a-1", "1-b", "1-2-3", " 1-2", "1-2 ", "١-2", "²-1",
            "1" * 21 + "-0", "0-" + "1" * 21, "+1-2", "1.0-2"],
)
def test_anything_else_is_refused(bad: str) -> None:
    with pytest.raises(EntryIdError):
        parse_id(bad)
