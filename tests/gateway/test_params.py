"""ASCII-only integer parameters (issue 14, item 6)."""

from __future__ import annotations

import pytest

from gateway.params import ascii_int


@pytest.mark.parametrize("raw", ["0", "7", "1000", "000123", b"42"])
def test_plain_ascii_digits_are_read(raw: str | bytes):
    text = raw.decode() if isinstance(raw, bytes) else raw
    assert ascii_int(raw) == int(text)


@pytest.mark.parametrize(
    "raw", ["²", "①", "³³", "٣", "1_000", " 12", "12 ", "+1", "-1", "", "1.0", "1e3", "x",
            "1" * 19, "１２", b"\xc2\xb2"],
)
def test_anything_else_is_refused(raw: str | bytes):
    assert ascii_int(raw) is None
