"""Engine configuration: the tradable assets and the risk parameters. Part of the snapshot."""

from __future__ import annotations

import msgspec

from engine.amounts import MAX_USD
from engine.money import BPS, USD_SCALE

# The reference protocol's assets (ETH, BTC, SOL, ADA), each at the decimals its prices carry here.
DEFAULT_ASSETS: dict[str, int] = {"BTC_USDC": 4, "ETH_USDC": 4, "SOL_USDC": 4, "ADA_USDC": 4}


class EngineConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What the core needs to know that is not in a message.

    assets: tradable asset -> price decimals.
    initial_balance: USD units credited by CREATE_ACCOUNT (5000.0000 USD).
    max_price_age_ms: a trade is refused when the asset's last price is older than this, in
        stream time (the entry IDs), never wall-clock time.
    maintenance_bps: liquidate when the loss reaches margin x (1 - maintenance); 0 = full margin.
    closed_history: closed trades kept per user (older history lives in PostgreSQL).
    idempotency_window: how many recent orderIds are remembered for repeat answers.
    max_margin: the largest margin of one trade, USD units (at most ``engine.amounts.MAX_USD``).
    price_band_bps: a tick whose bid or ask is more than this fraction (basis points) away from
        the asset's last accepted bid or ask is refused and counted, never applied; 0 = no band.
    price_band_halt_after: after this many consecutive band refusals the asset is HALTED until
        an operator resumes it (SET_MARKET_STATE); 0 = never.
    """

    assets: dict[str, int] = msgspec.field(default_factory=lambda: dict(DEFAULT_ASSETS))
    initial_balance: int = 5000 * USD_SCALE
    min_leverage: int = 10
    max_leverage: int = 1000
    max_price_age_ms: int = 60_000
    maintenance_bps: int = 0
    closed_history: int = 100
    idempotency_window: int = 100_000
    max_margin: int = MAX_USD
    price_band_bps: int = 5_000
    price_band_halt_after: int = 0

    def __post_init__(self) -> None:
        if not self.assets:
            raise ValueError("at least one asset must be configured")
        for name, decimals in self.assets.items():
            # names are written into answers as they are: letters, digits and _ only
            if not (name.isascii() and name.replace("_", "").isalnum() and len(name) <= 32):
                raise ValueError(f"asset {name!r}: a name is 1..32 letters, digits or _")
            if not 0 <= decimals <= 12:
                raise ValueError(f"asset {name!r}: decimals must be 0..12")
        if self.initial_balance < 0:
            raise ValueError("initial_balance must be >= 0")
        if not 1 <= self.min_leverage <= self.max_leverage:
            raise ValueError("leverage bounds must satisfy 1 <= min <= max")
        if not 0 <= self.maintenance_bps < BPS:
            raise ValueError("maintenance_bps must be in [0, 10000)")
        if self.closed_history < 0 or self.idempotency_window < 1:
            raise ValueError("closed_history >= 0 and idempotency_window >= 1 required")
        if not 0 < self.max_margin <= MAX_USD:
            raise ValueError(f"max_margin must be in 1..{MAX_USD}")
        if not 0 <= self.price_band_bps <= 100 * BPS:
            raise ValueError("price_band_bps must be in 0..1000000")
        if self.price_band_halt_after < 0:
            raise ValueError("price_band_halt_after must be >= 0")
