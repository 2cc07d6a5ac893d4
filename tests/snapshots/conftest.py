"""Snapshot fixtures: a real engine state with accounts and open positions."""

from __future__ import annotations

import pytest

from engine.state import EngineState, dump_state
from snapshots.format import Header
from tests.engine.driver import Driver


def busy_state(trades: int = 5) -> EngineState:
    """A state with two accounts, a price and some open trades (built by the real core)."""
    d = Driver()
    d.tick("BTC_USDC", 1_000_000, 1_001_000)
    for email in ("a@x.io", "b@x.io"):
        d.call(f"acct-{email}", "CREATE_ACCOUNT", email)
    for i in range(trades):
        d.call(
            f"t{i}",
            "CREATE_TRADE",
            "a@x.io" if i % 2 else "b@x.io",
            asset="BTC_USDC",
            margin="10",
            direction="LONG" if i % 3 else "SHORT",
            leverage=50,
        )
    return d.engine.state


def header_for(state: EngineState, **overrides: object) -> Header:
    values: dict = {
        "created_ms": 1_700_000_000_000,
        "seq": state.seq,
        "last_price_id": state.last_price_id,
        "last_command_id": state.last_command_id,
    }
    values.update(overrides)
    return Header(**values)


@pytest.fixture
def state() -> EngineState:
    return busy_state()


@pytest.fixture
def payload(state: EngineState) -> bytes:
    return dump_state(state)
