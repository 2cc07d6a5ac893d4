"""Cursors and arguments of the read module (the queries are tested against PostgreSQL in
tests/integration/test_worker_history.py)."""

from __future__ import annotations

import base64

import pytest

from worker.history import HistoryError, _check, decode_cursor, encode_cursor


def test_cursor_round_trips_and_is_opaque_url_safe_text():
    cursor = encode_cursor([1_700_000_000_000, "order/+=?&1"])
    assert cursor.isascii() and not set(cursor) & set("+/=&?")
    assert decode_cursor(cursor, (int, str)) == [1_700_000_000_000, "order/+=?&1"]


def _raw(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()


@pytest.mark.parametrize(
    ("cursor", "types"),
    [
        ("", (int,)),
        ("!!!", (int,)),
        ("a" * 2000, (int,)),
        (_raw("not json"), (int,)),
        (_raw('{"a": 1}'), (int,)),
        (_raw("[1, 2]"), (int,)),
        (_raw('["1"]'), (int,)),
        (_raw("[true]"), (int,)),
        (_raw("[1.5]"), (int,)),
        (_raw(f"[{2**63}]"), (int,)),
        (_raw("[1]"), (int, str)),
        (_raw('["x", 1]'), (int, str)),
    ],
)
def test_malformed_cursors_are_refused(cursor, types):
    with pytest.raises(HistoryError):
        decode_cursor(cursor, types)


@pytest.mark.parametrize(
    ("email", "limit"),
    [("", 10), ("a@x", 0), ("a@x", 501), ("a@x", True), ("a@x", "10"), (None, 10)],
)
def test_bad_email_or_limit_is_refused(email, limit):
    with pytest.raises(HistoryError):
        _check(email, limit)
