"""Exact integer money and prices: decimal-string parsing, rescaling, PnL and liquidation levels.

USD amounts carry ``USD_DECIMALS`` (10000 = 1.00 USD). Prices carry their asset's decimals.
Every division floors, which is "against the trader" for PnL in both directions; the part the
trader does not get stays with the house, so money is conserved to the unit.
"""

from __future__ import annotations

USD_DECIMALS = 4
USD_SCALE = 10**USD_DECIMALS
LEVERAGE_SCALE = 10  # leverage on the wire is in tenths: 10 = 1x, 1000 = 100x
BPS = 10_000


class AmountError(ValueError):
    """A decimal string or scaled integer that cannot be represented exactly."""


def parse_decimal(text: str, decimals: int) -> int:
    """Parse ``"123.45"`` into an integer scaled by ``10**decimals``, exactly, or raise."""
    s = text.strip()
    if not s or len(s) > 64:
        raise AmountError(f"not a decimal number: {text!r}")
    negative = s[0] == "-"
    if s[0] in "+-":
        s = s[1:]
    whole, _, frac = s.partition(".")
    if not whole and not frac:
        raise AmountError(f"not a decimal number: {text!r}")
    if not (whole or "0").isdigit() or not (frac or "0").isdigit() or not s.isascii():
        raise AmountError(f"not a decimal number: {text!r}")
    frac = frac.rstrip("0")
    if len(frac) > decimals:
        raise AmountError(f"{text!r} has more than {decimals} decimals")
    value: int = int(whole or "0") * 10**decimals + int((frac or "0").ljust(decimals, "0"))
    return -value if negative else value


def rescale(value: int, from_decimals: int, to_decimals: int) -> int:
    """Rescale a scaled integer to other decimals; raise when precision would be lost."""
    if from_decimals == to_decimals:
        return value
    if from_decimals < to_decimals:
        factor: int = 10 ** (to_decimals - from_decimals)
        return value * factor
    divisor: int = 10 ** (from_decimals - to_decimals)
    q, r = divmod(value, divisor)
    if r:
        raise AmountError(
            f"{value} with {from_decimals} decimals does not fit {to_decimals} decimals exactly"
        )
    return q


def pnl(margin: int, leverage: int, entry: int, exit_price: int, is_long: bool) -> int:
    """Profit (USD units) of a position, floored: margin x leverage x (exit - entry) / entry."""
    move = exit_price - entry if is_long else entry - exit_price
    return (margin * leverage * move) // (LEVERAGE_SCALE * entry)


def liquidation_threshold(margin: int, maintenance_bps: int) -> int:
    """Loss (USD units) at which a position is liquidated; floored, so never later than stated."""
    return max(1, margin * (BPS - maintenance_bps) // BPS)


def liquidation_level(
    margin: int, leverage: int, entry: int, is_long: bool, maintenance_bps: int
) -> int:
    """The price at which ``pnl`` first reaches ``-threshold``, exactly, in closed form.

    LONG: the highest price p with pnl(p) <= -threshold (fires when bid <= level; a level <= 0
    never fires). SHORT: the lowest such price (fires when ask >= level).
    With N = margin x leverage and D = 10 x entry, pnl(p) = floor(N (p - entry) / D) for a LONG,
    and floor(N x move / D) <= -T  <=>  N x move <= (1 - T) x D - 1  (all integers).
    """
    threshold = liquidation_threshold(margin, maintenance_bps)
    max_move = ((1 - threshold) * LEVERAGE_SCALE * entry - 1) // (margin * leverage)
    return entry + max_move if is_long else entry - max_move
