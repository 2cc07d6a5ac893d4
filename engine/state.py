"""The engine's whole state as msgspec Structs, and its lossless (msgpack) serialization.

Only facts live here; indexes that can be derived (trigger books, trades per user) are rebuilt
by ``engine.core.Engine`` on load, so a snapshot cannot disagree with itself.
"""

from __future__ import annotations

import msgspec

from engine.config import EngineConfig
from engine.messages import Response


class Account(msgspec.Struct, gc=False):
    """A user's USD balances: ``free`` can be spent; ``locked`` is the margin of open trades."""

    email: str
    free: int
    locked: int = 0
    deposited: int = 0


class Price(msgspec.Struct, gc=False, array_like=True):
    """The last price of an asset, in its decimals, and its stream time (ms)."""

    bid: int
    ask: int
    at_ms: int


class Trade(msgspec.Struct, gc=False, array_like=True):
    """An open position. Levels are 0 when unset; ``liquidation`` is always set (may be <= 0)."""

    trade_id: str
    email: str
    asset: str
    is_long: bool
    margin: int
    leverage: int
    entry_price: int
    stop_loss: int
    take_profit: int
    liquidation: int
    opened_at: int
    seq: int


class ClosedTrade(msgspec.Struct, gc=False, array_like=True):
    """A closed position, kept for GET_CLOSED_TRADES (the last N per user)."""

    trade: Trade
    exit_price: int
    pnl: int
    margin_returned: int
    reason: str
    closed_at: int


class EngineState(msgspec.Struct):
    """Everything the engine knows. Serialized whole into snapshots."""

    config: EngineConfig = msgspec.field(default_factory=EngineConfig)
    accounts: dict[str, Account] = msgspec.field(default_factory=dict)
    trades: dict[str, Trade] = msgspec.field(default_factory=dict)
    closed: dict[str, list[ClosedTrade]] = msgspec.field(default_factory=dict)
    prices: dict[str, Price] = msgspec.field(default_factory=dict)
    orders: dict[str, Response] = msgspec.field(default_factory=dict)  # the idempotency window
    # Snapshots written before responses carried their email kept it here; ``Engine`` folds it
    # into ``orders`` on load, so it is empty in every state the engine writes.
    order_emails: dict[str, str] = msgspec.field(default_factory=dict)
    house: int = 0
    deposits: int = 0
    seq: int = 0
    trade_seq: int = 0
    last_price_id: str = "0-0"
    last_command_id: str = "0-0"
    now_ms: int = 0
    rejected: dict[str, int] = msgspec.field(default_factory=dict)
    commands_applied: int = 0
    ticks_applied: int = 0


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(EngineState)


def dump_state(state: EngineState) -> bytes:
    """Serialize the state to msgpack bytes (deterministic for the same state)."""
    return _encoder.encode(state)


def load_state(raw: bytes) -> EngineState:
    """Deserialize bytes from ``dump_state``; raises ``msgspec.DecodeError`` on bad input."""
    return _decoder.decode(raw)
