"""Hypothesis state machine of issue 17: the core machine (tests/engine/test_core_properties.py)
plus pending orders, cancels, amends, trailing stops, partial closes and stream-time expiry.

After every step: money is conserved with the reserved bucket; each account's reserved margin is
the sum of its pending orders'; every pending order is in its price index (and in the expiry
index when it expires) exactly once, and nothing else is; every trailing stop is indexed exactly
once in the group the state says. The inherited ``snapshot`` rule restores a copy from serialized
state, which from then on must give byte-identical outputs.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import initialize, invariant, precondition, rule

from engine import messages as m
from engine.messages import Command
from engine.state import dump_state, load_state
from engine.wire import encode_command
from tests.engine.test_core_properties import ASSETS, EMAILS, EngineMachine, P

READS = (m.GET_BALANCE, m.GET_USD_BALANCE, m.GET_OPEN_TRADES, m.GET_CLOSED_TRADES)
READS_NOW = (*READS, m.GET_OPEN_ORDERS)
PRICES = st.integers(1, 400).map(lambda x: x * P // 2)
EXIT = st.none() | PRICES
ABSENT = object()  # MODIFY_TRADE: leave the key out


class OrdersMachine(EngineMachine):
    @initialize(bids=st.tuples(PRICES, PRICES))
    def accounts_and_prices(self, bids: tuple[int, int]) -> None:
        """Most steps should reach the new rules' logic, not ACCOUNT_NOT_FOUND or NO_PRICE."""
        for email in EMAILS[:2]:
            self.create_account(email)
        for asset, bid in zip(ASSETS, bids, strict=True):
            self.tick(asset, bid, P)

    @rule(
        email=st.sampled_from(EMAILS),
        asset=st.sampled_from(ASSETS),
        long=st.booleans(),
        stop=st.booleans(),
        price=PRICES,
        margin=st.integers(1, 600 * P),
        leverage=st.integers(10, 1000),
        sl=EXIT,
        tp=EXIT,
        trail=st.none() | st.integers(1, 50 * P),
        expires=st.none() | st.integers(1, 30),
    )
    def create_order(self, email, asset, long, stop, price, margin, leverage, sl, tp, trail,
                     expires) -> None:  # fmt: skip
        data: dict[str, Any] = {
            "asset": asset,
            "direction": "LONG" if long else "SHORT",
            "type": "STOP" if stop else "LIMIT",
            "price": price,
            "margin": margin,
            "leverage": leverage,
        }
        for key, value in (("stopLossPrice", sl), ("takeProfitPrice", tp)):
            if value is not None:
                data[key] = value
        if trail is not None:
            data["trailingDistance"] = trail
        if expires is not None:
            data["expiresAt"] = self.ms + expires
        self._command(m.CREATE_ORDER, email, **data)

    @rule(
        email=st.sampled_from(EMAILS),
        asset=st.sampled_from(ASSETS),
        long=st.booleans(),
        margin=st.integers(1, 600 * P),
        leverage=st.integers(10, 1000),
        trail=st.integers(1, 50 * P),
    )
    def create_trailing_trade(self, email, asset, long, margin, leverage, trail) -> None:
        data = {"asset": asset, "direction": "LONG" if long else "SHORT", "margin": margin}
        data |= {"leverage": leverage, "trailingDistance": trail}
        self._command(m.CREATE_TRADE, email, **data)

    @precondition(lambda self: self.engine.state.pending)
    @rule(pick=st.integers(0, 10_000), owner=st.booleans())
    def cancel_order(self, pick: int, owner: bool) -> None:
        orders = list(self.engine.state.pending.values())
        order = orders[pick % len(orders)]
        email = order.email if owner else "intruder@x.io"
        # the cancel's own entry comes a millisecond later: an order expiring then is gone first
        expires = order.expires_at and order.expires_at <= self.ms + 1
        self._command(m.CANCEL_ORDER, email, orderId=order.order_id)
        assert (order.order_id in self.engine.state.pending) == (not owner and not expires)

    @precondition(lambda self: self.engine.state.trades)
    @rule(
        pick=st.integers(0, 10_000),
        owner=st.booleans(),
        sl=st.just(ABSENT) | EXIT,
        tp=st.just(ABSENT) | EXIT,
        trail=st.just(ABSENT) | st.none() | st.integers(1, 50 * P),
    )
    def modify_trade(self, pick, owner, sl, tp, trail) -> None:
        trades = list(self.engine.state.trades.values())
        trade = trades[pick % len(trades)]
        data = {"tradeId": trade.trade_id}
        keys = ("stopLossPrice", "takeProfitPrice", "trailingDistance")
        for key, value in zip(keys, (sl, tp, trail), strict=True):
            if value is not ABSENT:
                data[key] = value
        other = next(e for e in EMAILS if e != trade.email)
        out = self._command(m.MODIFY_TRADE, trade.email if owner else other, **data)
        if not owner:
            assert out[-1].data["code"] in ("TRADE_NOT_FOUND", "ACCOUNT_NOT_FOUND")
            assert self.engine.state.trades[trade.trade_id] == trade

    @precondition(lambda self: self.engine.state.trades)
    @rule(pick=st.integers(0, 10_000), part=st.integers(1, 600 * P))
    def partial_close(self, pick: int, part: int) -> None:
        trades = list(self.engine.state.trades.values())
        trade = trades[pick % len(trades)]
        out = self._command(m.CLOSE_TRADE, trade.email, tradeId=trade.trade_id, margin=part)
        after = self.engine.state.trades.get(trade.trade_id)
        if out[-1].status == m.SUCCESS:
            if part < trade.margin:
                assert after is not None and after.margin == trade.margin - part
            else:
                assert after is None
        else:
            assert after == trade

    @rule(email=st.sampled_from(EMAILS))
    def list_orders(self, email: str) -> None:
        self._command(m.GET_OPEN_ORDERS, email)

    @rule(ms=st.integers(1, 20))
    def time_passes(self, ms: int) -> None:
        """Stream time jumps (the next entry comes later): orders may expire on it."""
        self.ms += ms

    @rule(
        email=st.sampled_from(EMAILS),
        which=st.sampled_from(sorted(m.COMMANDS)),
        pick=st.integers(1, 10_000),
    )
    def query_or_repeat(self, email: str, which: str, pick: int) -> None:
        """The inherited rule, with GET_OPEN_ORDERS among the reads run again on a repeat."""
        if which in (m.GET_BALANCE, m.GET_OPEN_TRADES, m.GET_CLOSED_TRADES, m.GET_OPEN_ORDERS):
            self._command(which, email)
        elif self.orders:
            order_id = f"o{pick % self.orders + 1}"
            before = load_state(dump_state(self.engine.state))
            cmd = Command(order_id, which, email, {}, self.ms)
            out = self._apply("c", encode_command(cmd))
            again = out[-1]
            after = self.engine.state
            expired = [o for o in out if isinstance(o, m.Event)]  # only expiry may change things
            if not expired:
                assert after.accounts == before.accounts
                assert after.trades == before.trades and after.pending == before.pending
            owner, command, first = self.answers[order_id]
            if email != owner:
                assert again.data == {"code": "DUPLICATE_ORDER_ID"}
            elif command in READS_NOW and first.status == m.SUCCESS:
                fresh = self._command(command, email)[-1]
                assert (again.status, again.data) == (fresh.status, fresh.data)
            else:
                assert (again.status, again.data, again.message) == (
                    first.status,
                    first.data,
                    first.message,
                )

    # --- invariants ----------------------------------------------------------------------------

    @invariant()
    def money_is_conserved(self) -> None:
        s = self.engine.summary()
        assert s["free"] + s["locked"] + s["reserved"] + s["house"] == s["deposits"]
        assert s["conserved"]

    @invariant()
    def reserved_is_the_margin_of_pending_orders(self) -> None:
        state = self.engine.state
        reserved: dict[str, int] = {}
        for order in state.pending.values():
            reserved[order.email] = reserved.get(order.email, 0) + order.margin
        for account in state.accounts.values():
            assert account.reserved == reserved.get(account.email, 0)
            assert account.free >= 0

    @invariant()
    def every_pending_order_is_indexed_exactly_once(self) -> None:
        desk = self.engine.desk
        pending = self.engine.state.pending
        for order in pending.values():
            assert desk.books[order.asset].contains(order)
            if order.expires_at:
                assert desk.expiry.contains(order)
                assert order.expires_at > self.engine.state.now_ms  # expired ones are gone
        keys = sum(
            len(b.ask_falls) + len(b.ask_rises) + len(b.bid_falls) + len(b.bid_rises)
            for b in desk.books.values()
        )
        assert keys == sum(len(b) for b in desk.books.values()) == len(pending)
        assert len(desk.expiry) == sum(1 for o in pending.values() if o.expires_at)
        listed = sum(len(orders) for orders in desk.user_orders.values())
        assert listed == len(pending)

    @invariant()
    def every_trailing_stop_is_indexed_exactly_once(self) -> None:
        state = self.engine.state
        trailing = [t for t in state.trades.values() if t.trailing_distance]
        assert len(state.trails) == len(trailing)
        for trade in trailing:
            assert self.engine.desk.trails[trade.asset].side(trade).contains(trade)
        for book in self.engine.desk.trails.values():
            book.long.check()
            book.short.check()
        assert sum(len(b) for b in self.engine.desk.trails.values()) == len(trailing)


OrdersMachine.TestCase.settings = settings(
    max_examples=200,
    stateful_step_count=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestOrdersMachine = OrdersMachine.TestCase
