"""Integers in query strings, paths and headers: ASCII digits only.

``str.isdigit`` is true for "²", "①" and "٣", and ``int`` accepts "٣" (as 3), "1_000" and
surrounding spaces; a parameter of this API is a plain run of ASCII digits or it is refused.
"""

from __future__ import annotations

import re

_DIGITS = re.compile(r"[0-9]{1,18}")  # re's [0-9] is ASCII only; 18 digits fit an int64


def ascii_int(raw: str | bytes) -> int | None:
    """The value of a plain ASCII decimal integer, or None for anything else."""
    text = raw.decode("latin-1") if isinstance(raw, bytes) else raw
    return int(text) if _DIGITS.fullmatch(text) else None
