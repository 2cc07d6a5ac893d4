"""Amounts at the boundary: human units in, exact integers inside, human units out.

A client writes an amount as a JSON integer (whole units: ``"margin": 1000`` is 1000 USD), a JSON
number with a fraction (``230.50``) or a decimal string (``"0.07"``). JSON numbers reach this
module as their text (``engine.wire`` decodes them with ``float_hook=str``), so every conversion
is exact: never through a float. The ranges here are the engine's (and the gateway's) stated
bounds: everything stored stays far from any limit of the arithmetic on it.
"""

from __future__ import annotations

from typing import Final

import msgspec

from engine.money import USD_DECIMALS

MAX_WHOLE_UNITS: Final = 10**9  # the largest USD amount and the largest price, in human units
MAX_USD: Final = MAX_WHOLE_UNITS * 10**USD_DECIMALS  # in USD units (1/10,000)
MAX_DECIMALS: Final = 18
_MAX_TEXT = 40


class AmountError(ValueError):
    """An amount that is malformed or out of range; ``field`` names it, ``message`` says why."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def max_units(decimals: int) -> int:
    """The largest accepted amount at ``decimals`` (10^9 whole units), as a scaled integer."""
    scale: int = 10**decimals
    return MAX_WHOLE_UNITS * scale


def parse_amount(value: object, decimals: int, field: str) -> int:
    """An exact positive scaled integer from a JSON integer (whole units) or decimal text.

    Refuses a bool, a sign, an exponent, whitespace, NaN/Infinity, more than ``decimals``
    decimals, zero and anything above ``max_units(decimals)``, naming ``field``.
    """
    if type(value) is int:
        if not 0 < value <= MAX_WHOLE_UNITS:
            raise AmountError(field, f"must be greater than 0 and at most {MAX_WHOLE_UNITS}")
        scale: int = 10**decimals
        return value * scale
    if type(value) is not str:
        raise AmountError(field, "must be a number or a decimal string")
    scaled = _parse_text(value, decimals, field)
    if not 0 < scaled <= max_units(decimals):
        raise AmountError(field, f"must be greater than 0 and at most {MAX_WHOLE_UNITS}")
    return scaled


def _parse_text(text: str, decimals: int, field: str) -> int:
    """Unsigned plain decimal text (``"123"``, ``"0.07"``) to a scaled integer, exactly."""
    whole, dot, frac = text.partition(".")
    if (
        not whole
        or len(text) > _MAX_TEXT
        or not whole.isdigit()
        or not whole.isascii()
        or (dot and not (frac.isdigit() and frac.isascii()))
    ):
        raise AmountError(field, f"not a plain decimal number: {text[:_MAX_TEXT]!r}")
    frac = frac.rstrip("0")
    if len(frac) > decimals:
        raise AmountError(field, f"{text!r} has more than {decimals} decimals")
    scale: int = 10**decimals
    return int(whole) * scale + (int(frac.ljust(decimals, "0")) if frac else 0)


def parse_usd(value: object, field: str) -> int:
    """USD units (1/10,000) from an amount as ``parse_amount`` reads it."""
    return parse_amount(value, USD_DECIMALS, field)


def format_amount(value: int, decimals: int) -> str:
    """A scaled integer as exact plain decimal text, trailing zeros dropped (``"5445.0095"``,
    ``"5000"``, ``"-0.5"``): what an answer's JSON numbers are written as."""
    if decimals == 0:
        return str(value)
    sign = "-" if value < 0 else ""
    digits = str(-value if value < 0 else value).rjust(decimals + 1, "0")
    whole, frac = digits[:-decimals], digits[-decimals:].rstrip("0")
    return f"{sign}{whole}.{frac}" if frac else f"{sign}{whole}"


def format_event_amount(value: int, decimals: int) -> str:
    """A scaled integer as an event writes it: at least two decimals where the unit has them
    (``"-5000.00"``, ``"201.23"``, ``"445.0095"``), as the reference events do."""
    text = format_amount(value, decimals)
    if decimals == 0:
        return text
    whole, _, frac = text.partition(".")
    keep = min(2, decimals)
    return f"{whole}.{frac.ljust(keep, '0')}" if len(frac) < keep else text


def parse_event_amount(text: str, decimals: int, field: str) -> int:
    """The inverse of ``format_event_amount`` (signed, any size); raise ``AmountError``."""
    negative = text.startswith("-")
    value = _parse_text(text[1:] if negative else text, decimals, field)
    return -value if negative else value


def number(value: int, decimals: int) -> msgspec.Raw:
    """A JSON number written exactly from a scaled integer, for an answer's ``data``."""
    return msgspec.Raw(format_amount(value, decimals).encode())
