"""Between snapshot files and the engine: decode a payload into an EngineState and check it."""

from __future__ import annotations

from engine.state import EngineState, load_state
from snapshots.format import Header


def load_checked(header: Header, payload: bytes) -> EngineState:
    """Decode the payload; raise ``ValueError`` unless it agrees with the header it came with."""
    state = load_state(payload)
    found = (state.seq, state.last_price_id, state.last_command_id)
    expected = (header.seq, header.last_price_id, header.last_command_id)
    if found != expected:
        raise ValueError(f"header says {expected}, state says {found}")
    return state
