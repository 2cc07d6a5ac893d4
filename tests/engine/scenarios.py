"""A market for scenario tests: assets of any decimals, ticks with a real spread, amounts written
as decimal strings (the same meaning before and after the protocol's units change), and the
expected values computed here, independently of the engine, with exact fractions."""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction
from typing import Any

from engine import messages as m
from engine.config import EngineConfig
from engine.core import Engine
from engine.messages import Command, Event, Output, PriceItem, Response
from engine.state import Trade
from engine.wire import encode_command, encode_price_batch
from tests.engine.driver import as_bytes

USD = 10_000  # USD units per dollar: 4 decimals, as the protocol states
ALICE = "alice@example.com"
BOB = "bob@example.com"


def units(text: str, decimals: int) -> int:
    """``"100.25"`` at ``decimals`` as an integer, by decimal arithmetic (not the engine's)."""
    scaled = Decimal(text).scaleb(decimals)
    assert scaled == scaled.to_integral_value(), (text, decimals)
    return int(scaled)


def model_pnl(margin: int, leverage_tenths: int, entry: int, exit_price: int, is_long: bool) -> int:
    """Profit in USD units: margin x leverage x relative move, floored (against the trader)."""
    move = Fraction(exit_price - entry, entry) if is_long else Fraction(entry - exit_price, entry)
    return math.floor(margin * Fraction(leverage_tenths, 10) * move)


def model_liquidation(margin: int, tenths: int, entry: int, is_long: bool, bps: int = 0) -> int:
    """The first price at which the loss reaches ``margin x (1 - bps/10000)`` (floored, at least
    one unit): the highest such price for a LONG, the lowest for a SHORT."""
    threshold = max(1, math.floor(Fraction(margin * (10_000 - bps), 10_000)))
    # floor(x) <= -T  <=>  x < 1 - T, with x = margin x leverage x move / entry
    limit = Fraction(1 - threshold) / (margin * Fraction(tenths, 10)) * entry  # the move's bound
    if is_long:  # the highest p with p - entry < limit
        return entry + math.ceil(limit) - 1
    return entry - math.ceil(limit) + 1  # the lowest p with entry - p < limit


class Market:
    """One engine fed with rising entry IDs; prices and amounts in human text."""

    def __init__(self, assets: dict[str, int] | None = None, **config: Any) -> None:
        self.config = EngineConfig(assets=assets or {"BTC_USDC": 4}, **config)
        self.engine = Engine(self.config)
        self.ms = 1_000
        self.n = 0
        self.outputs: list[Output] = []  # everything the engine said, in order
        self.message = ""  # the last refusal's message

    def _id(self) -> str:
        self.ms += 1
        self.n += 1
        return f"{self.ms}-{self.n}"

    def px(self, asset: str, text: str) -> int:
        return units(text, self.config.assets[asset])

    def tick(self, asset: str, bid: str, ask: str | None = None) -> list[Event]:
        """A tick in the asset's own decimals; returns the events it caused."""
        b, a = self.px(asset, bid), self.px(asset, ask or bid)
        return self.raw_tick(PriceItem(asset, b, self.config.assets.get(asset, 4), b, a))

    def raw_tick(self, *items: PriceItem) -> list[Event]:
        fields = as_bytes(encode_price_batch(list(items), "scenario", self.ms))
        out = self.engine.apply_price_entry(self._id(), fields)
        self.outputs += out
        return [o for o in out if isinstance(o, Event)]

    def send(
        self, order_id: str, command: str, email: str, /, **data: Any
    ) -> tuple[Response, list[Event]]:
        cmd = Command(order_id, command, email, data, self.ms)
        out = self.engine.apply_command_entry(self._id(), as_bytes(encode_command(cmd)))
        self.outputs += out
        response = out[-1]
        assert isinstance(response, Response)
        return response, [o for o in out if isinstance(o, Event)]

    def account(self, email: str = ALICE) -> None:
        response, _ = self.send(f"acc-{email}", m.CREATE_ACCOUNT, email)
        assert response.status == m.SUCCESS

    def open(self, order_id: str, email: str = ALICE, **data: Any) -> Trade:
        """Open a trade that must be accepted; returns it as the engine holds it."""
        response, _ = self.send(order_id, m.CREATE_TRADE, email, **data)
        assert response.status == m.SUCCESS, response.message
        return self.engine.state.trades[order_id]

    def refused(self, order_id: str, email: str = ALICE, **data: Any) -> tuple[str, str | None]:
        """A CREATE_TRADE that must be refused with nothing changed; returns (code, field)."""
        before = (self.free(email), dict(self.engine.state.trades), self.engine.state.house)
        response, events = self.send(order_id, m.CREATE_TRADE, email, **data)
        assert response.status == m.ERROR, data
        assert events == []
        assert (self.free(email), self.engine.state.trades, self.engine.state.house) == before
        self.message = response.message
        return response.data["code"], response.data.get("field")

    def close(self, trade_id: str, email: str = ALICE) -> Event:
        response, events = self.send(f"close-{trade_id}", m.CLOSE_TRADE, email, tradeId=trade_id)
        assert response.status == m.SUCCESS, response.message
        (event,) = events
        return event

    def free(self, email: str = ALICE) -> int:
        return self.engine.state.accounts[email].free

    def locked(self, email: str = ALICE) -> int:
        return self.engine.state.accounts[email].locked

    def conserved(self) -> bool:
        state = self.engine.state
        total = sum(a.free + a.locked for a in state.accounts.values())
        return total + state.house == state.deposits
