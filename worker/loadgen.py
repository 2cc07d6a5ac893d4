"""A consistent synthetic engine history, encoded by the engine's own wire codecs.

Used by the worker's tests and by ``bench/worker_pg.py`` to feed the worker without running the
engine: accounts, trades opened by commands and closed by commands or by triggers, each with the
command, its response and the events a real engine would publish, with balances that add up.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from engine import messages as m
from engine.amounts import format_amount, number
from engine.messages import Command, Event, Response
from engine.money import USD_DECIMALS
from engine.wire import encode_command, encode_event, encode_response
from worker.mapping import Kind

WireFields = dict[str, str] | dict[str, bytes | str]
DEPOSIT = 5_000 * 10_000  # 5000.00 USD, in USD units (engine integers; the wire is human)
ASSETS = (("BTC", 4), ("ETH", 4), ("SOL", 6))
TRIGGERED = (m.TRADE_STOP_LOSS, m.TRADE_TAKE_PROFIT, m.TRADE_LIQUIDATED)


@dataclass(slots=True)
class History:
    """Entries in publish order, as (stream kind, fields), and what they must add up to."""

    entries: list[tuple[Kind, WireFields]] = field(default_factory=list)
    balances: dict[str, int] = field(default_factory=dict)
    orders: int = 0
    events: int = 0
    closed_trades: int = 0

    def of(self, kind: Kind) -> list[WireFields]:
        return [f for k, f in self.entries if k is kind]


class _Builder:
    def __init__(self, seed: int, start_ms: int, prefix: str) -> None:
        self.rng = random.Random(seed)
        self.ms = start_ms
        self.seq = 0
        self.orders = 0
        self.prefix = prefix
        self.history = History()

    def _tick(self) -> int:
        self.ms += self.rng.randint(0, 3)
        return self.ms

    def _next_seq(self) -> int:
        self.seq += 1
        return self.seq

    def command(self, name: str, email: str, trade_data: dict[str, object]) -> str:
        self.orders += 1
        order_id = f"{self.prefix}o{self.orders}"
        command = Command(order_id, name, email, trade_data, self._tick())
        self.history.entries.append((Kind.COMMAND, encode_command(command)))
        return order_id

    def response(self, order_id: str, data: object, status: str = m.SUCCESS) -> None:
        response = Response(order_id, status, data, "", self._tick(), self._next_seq())
        self.history.entries.append((Kind.RESPONSE, encode_response(response)))
        self.history.orders += 1

    def event(self, **kwargs: object) -> None:
        event = Event(timestamp=self._tick(), seq=self._next_seq(), **kwargs)  # type: ignore[arg-type]
        self.history.entries.append((Kind.EVENT, encode_event(event)))
        self.history.events += 1


def synthetic_history(
    users: int, trades_per_user: int, *, seed: int = 0, start_ms: int = 1_700_000_000_000,
    prefix: str = "",
) -> History:
    """Accounts and trades for ``users`` users; about ``7 * trades_per_user`` entries each."""
    b = _Builder(seed, start_ms, prefix)
    emails = [f"{prefix}user{i}@example.com" for i in range(users)]
    balances = dict.fromkeys(emails, 0)
    for email in emails:
        oid = b.command(m.CREATE_ACCOUNT, email, {})
        balances[email] = DEPOSIT
        b.response(oid, {"email": email, "initialUsdBalance": number(DEPOSIT, USD_DECIMALS),
                         "assets": ["USD"]})
        b.event(event_type=m.ACCOUNT_CREATED, trade_id="", email=email, asset="", pnl=0,
                margin_returned=0, close_price=0, order_id=oid, amount=DEPOSIT, balance=DEPOSIT)
    trade_no = 0
    for _ in range(trades_per_user):
        for email in emails:
            trade_no += 1
            asset, decimals = b.rng.choice(ASSETS)
            direction = b.rng.choice(("LONG", "SHORT"))
            margin = b.rng.randint(1, 100) * 10_000
            leverage = b.rng.choice((10, 50, 100, 1000))
            entry = b.rng.randint(1_000, 100_000) * 10**decimals
            trade_id = f"{prefix}t{trade_no}"
            common = dict(trade_id=trade_id, email=email, asset=asset, direction=direction,
                          margin=margin, leverage=leverage, entry_price=entry,
                          price_decimals=decimals)
            # tradeData in human units, as a client writes it (a decimal string of USD)
            human_margin = format_amount(margin, USD_DECIMALS)
            if b.rng.random() < 0.1:  # a refused order: a response, no event
                oid = b.command(m.CREATE_TRADE, email, {"asset": asset, "margin": human_margin})
                b.response(oid, {"code": "INVALID_DIRECTION", "field": "direction"}, m.ERROR)
                continue
            oid = b.command(m.CREATE_TRADE, email, {"asset": asset, "type": direction.lower(),
                                                    "margin": human_margin, "leverage": leverage})
            balances[email] -= margin
            b.response(oid, {"email": email, "tradeId": trade_id,
                             "entryPrice": number(entry, decimals), "liquidationPrice": None,
                             "stopLossPrice": None, "takeProfitPrice": None,
                             "margin": number(margin, USD_DECIMALS),
                             "leverage": number(leverage, 1), "leverageTenths": leverage})
            b.event(event_type=m.TRADE_OPENED, pnl=0, margin_returned=0, close_price=0,
                    order_id=oid, amount=-margin, balance=balances[email], **common)
            exit_price = max(1, entry + b.rng.randint(-entry // 20, entry // 20))
            pnl = b.rng.randint(-margin, margin)
            total = margin + pnl  # what the close credits; the margin comes back up to margin
            balances[email] += total
            b.history.closed_trades += 1
            if b.rng.random() < 0.5:
                oid = b.command(m.CLOSE_TRADE, email, {"tradeId": trade_id})
                b.response(oid, {"email": email, "tradeId": trade_id, "asset": asset,
                                 "pnl": number(pnl, USD_DECIMALS),
                                 "totalReturn": number(total, USD_DECIMALS)})
                kind = m.TRADE_CLOSED
            else:
                oid = ""
                kind = b.rng.choice(TRIGGERED)
            b.event(event_type=kind, pnl=pnl, margin_returned=min(margin, total),
                    close_price=exit_price, exit_price=exit_price, order_id=oid, amount=total,
                    total_return=total, balance=balances[email], **common)
    b.history.balances = balances
    return b.history
