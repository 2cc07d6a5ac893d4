"""Market states and risk limits: what an operator sets, and the checks every open runs.

A market is OPEN, CLOSE_ONLY (no new risk: no opens; closes, cancels and triggers go on) or
HALTED (no command touches the asset and no trigger fires; prices are still recorded, and the
first tick after a resume fires every level it crosses, at that tick's price). Limits apply to
every asset (scope ``"*"``) or one asset, the stricter of the two winning; lowering a limit never
touches positions already open. All pure: the core calls these before any mutation.
"""

from __future__ import annotations

from typing import Final

from engine.orders import Rejected
from engine.state import Limits

OPEN: Final = "OPEN"
CLOSE_ONLY: Final = "CLOSE_ONLY"
HALTED: Final = "HALTED"
STATES: Final = (OPEN, CLOSE_ONLY, HALTED)
ALL_ASSETS: Final = "*"


NO_LIMITS: Final = Limits()


def state_of(markets: dict[str, str], asset: str) -> str:
    """The asset's market state (OPEN when never set)."""
    return markets.get(asset, OPEN)


def check_can_open(markets: dict[str, str], asset: str) -> None:
    """Refuse new risk on a market that is not OPEN, naming its state."""
    state = markets.get(asset)
    if state is not None and state != OPEN:
        raise Rejected(f"MARKET_{state}", f"market {asset} is {state}: no new positions", "asset")


def check_not_halted(markets: dict[str, str], asset: str) -> None:
    """Refuse any command on a HALTED market, naming its state."""
    if markets.get(asset) == HALTED:
        raise Rejected("MARKET_HALTED", f"market {asset} is HALTED", "asset")


def _strictest(a: int | None, b: int | None) -> int | None:
    if a is None:
        return b
    return a if b is None else min(a, b)


def check_limits(
    limits: dict[str, Limits],
    asset: str,
    margin: int,
    leverage: int,
    open_interest: int,
    positions: tuple[int, int],
) -> None:
    """Refuse an open (``margin``, ``leverage``) that breaks a limit of its asset or of all
    assets. ``open_interest``: the asset's notional before it (margin x leverage, tenths);
    ``positions``: the account's open positions before it, on all assets and on this one."""
    if not limits:
        return
    both = (limits.get(ALL_ASSETS, NO_LIMITS), limits.get(asset, NO_LIMITS))
    cap = _strictest(both[0].max_leverage, both[1].max_leverage)
    if cap is not None and leverage > cap:
        raise Rejected("LIMIT_LEVERAGE", f"leverage above the limit of {cap} tenths", "leverage")
    low = max((x.min_margin for x in both if x.min_margin is not None), default=None)
    if low is not None and margin < low:
        raise Rejected("LIMIT_MARGIN", "margin below the minimum", "margin")
    high = _strictest(both[0].max_margin, both[1].max_margin)
    if high is not None and margin > high:
        raise Rejected("LIMIT_MARGIN", "margin above the maximum", "margin")
    interest = _strictest(both[0].max_open_interest, both[1].max_open_interest)
    if interest is not None and open_interest + margin * leverage > interest * 10:
        raise Rejected("LIMIT_OPEN_INTEREST", f"open interest of {asset} at its limit", "margin")
    for scope, held in zip(both, positions, strict=True):
        count = scope.max_open_positions_per_account
        if count is not None and held >= count:
            raise Rejected("LIMIT_POSITIONS", f"at most {count} open positions", None)
