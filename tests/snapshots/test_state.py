"""Decoding a snapshot payload into engine state, cross-checked against its header."""

from __future__ import annotations

import msgspec
import pytest

from engine.core import Engine
from engine.state import EngineState, dump_state
from snapshots.state import load_checked
from tests.snapshots.conftest import header_for


def test_loaded_state_restores_an_identical_engine(state: EngineState, payload: bytes) -> None:
    loaded = load_checked(header_for(state), payload)
    assert dump_state(loaded) == payload
    assert Engine(state=loaded).summary() == Engine(state=state).summary()


def test_header_that_disagrees_with_the_state_is_refused(
    state: EngineState, payload: bytes
) -> None:
    with pytest.raises(ValueError, match="header says"):
        load_checked(header_for(state, seq=state.seq + 1), payload)


def test_payload_that_is_not_a_state_is_refused(state: EngineState) -> None:
    with pytest.raises(msgspec.DecodeError):
        load_checked(header_for(state), b"\x93\x01\x02\x03")
