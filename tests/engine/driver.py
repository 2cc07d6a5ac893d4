"""A test driver for the engine core: builds real stream fields and feeds them with rising IDs."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from engine.amounts import format_amount
from engine.config import EngineConfig
from engine.core import Engine
from engine.messages import Command, Event, Output, PriceItem, Response
from engine.state import EngineState
from engine.wire import decode_response, encode_command, encode_price_batch, encode_response


def as_bytes(fields: dict[str, Any]) -> dict[bytes, bytes]:
    """Stream fields as redis-py returns them."""

    def b(x: Any) -> bytes:
        return x if isinstance(x, bytes) else str(x).encode()

    return {b(k): b(v) for k, v in fields.items()}


# tradeData amounts the tests write in engine units (all test assets have 4 decimals, as USD)
AMOUNT_KEYS = frozenset(
    {"margin", "stopLossPrice", "takeProfitPrice", "expectedPrice", "price", "trailingDistance"}
)


def human(trade_data: dict[str, Any], decimals: int = 4) -> dict[str, Any]:
    """tradeData with integer amounts in engine units written as exact decimal text (as the
    gateway forwards them), so a test can state amounts as the engine keeps them."""
    return {
        k: format_amount(v, decimals) if k in AMOUNT_KEYS and type(v) is int else v
        for k, v in trade_data.items()
    }


class Driver:
    """Feeds one engine with entries whose IDs advance by ``step_ms`` each. Integer amounts in
    tradeData are engine units (see ``human``)."""

    def __init__(
        self, config: EngineConfig | None = None, state: EngineState | None = None, start_ms=1_000
    ):
        self.engine = Engine(config, state)
        self.ms = max(start_ms, self.engine.state.now_ms)
        self.n = 0

    def _id(self, step_ms: int) -> str:
        self.ms += step_ms
        self.n += 1
        return f"{self.ms}-{self.n}"

    def tick(self, asset: str, bid: int, ask: int | None = None, step_ms: int = 1) -> list[Output]:
        item = PriceItem(asset, bid, 4, bid, bid if ask is None else ask)
        fields = as_bytes(encode_price_batch([item], "test", self.ms))
        return self.engine.apply_price_entry(self._id(step_ms), fields)

    def command(
        self, order_id: str, command: str, email: str, /, step_ms: int = 1, **trade_data: Any
    ) -> list[Output]:
        data = human(trade_data)
        fields = as_bytes(encode_command(Command(order_id, command, email, data, self.ms)))
        return self.engine.apply_command_entry(self._id(step_ms), fields)

    def call(self, order_id: str, command: str, email: str, /, **trade_data: Any) -> Response:
        """Run a command and return its response (the last output) as a client reads it off
        the stream: numbers with a fraction as Decimals (see ``units``)."""
        out = self.command(order_id, command, email, **trade_data)
        response = out[-1]
        assert isinstance(response, Response)
        return decode_response(as_bytes(encode_response(response)))

    def conserved(self) -> bool:
        s = self.engine.summary()
        return s["free"] + s["locked"] + s["reserved"] + s["house"] == s["deposits"]


def units(value: Any, decimals: int = 4) -> int:
    """An answer's amount (human units, as decoded) in engine units; exact or an error."""
    scaled = Decimal(value).scaleb(decimals)
    assert scaled == scaled.to_integral_value(), value
    return int(scaled)


def events(outputs: list[Output]) -> list[Event]:
    return [o for o in outputs if isinstance(o, Event)]
