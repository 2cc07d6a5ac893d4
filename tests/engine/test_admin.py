"""Operator commands in the core: each command and each refusal, worked by hand."""

from __future__ import annotations

from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import precondition, rule

from engine import messages as m
from engine.config import EngineConfig
from engine.core import Engine
from engine.state import dump_state, load_state
from tests.engine.driver import Driver, events, units
from tests.engine.test_core_properties import EMAILS, EngineMachine

BTC = "BTC_USDC"
ALICE = "alice@example.com"
OPS = "ops@example.com"
P = 10_000


def exchange(**config: Any) -> Driver:
    d = Driver(EngineConfig(**config) if config else None)
    d.engine.admins = frozenset({OPS})
    d.call("acc", m.CREATE_ACCOUNT, ALICE)
    d.tick(BTC, 60_000 * P, 60_010 * P)
    return d


def open_long(d: Driver, order_id: str, **extra: Any) -> m.Response:
    args = {"asset": BTC, "direction": "LONG", "margin": 100 * P} | extra
    return d.call(order_id, m.CREATE_TRADE, ALICE, **args)


def op(d: Driver, order_id: str, command: str, **data: Any) -> m.Response:
    return d.call(order_id, command, OPS, **data)


def test_operator_commands_from_anyone_else_are_refused_and_change_nothing() -> None:
    d = exchange()
    before = dump_state(d.engine.state)
    attempts = {
        m.SET_MARKET_STATE: {"asset": BTC, "state": "HALTED"},
        m.ADJUST_BALANCE: {"email": ALICE, "amount": "1", "reason": "x", "transactionId": "t"},
        m.SET_LIMITS: {"maxLeverage": 20},
        m.GET_REPORT: {},
    }
    for i, (command, data) in enumerate(attempts.items()):
        r = d.call(f"x{i}", command, ALICE, **data)
        assert (r.status, r.data["code"]) == (m.ERROR, "FORBIDDEN")
    after = load_state(dump_state(d.engine.state))
    old = load_state(before)
    assert (after.accounts, after.markets, after.limits) == (old.accounts, old.markets, old.limits)


def test_a_close_only_market_refuses_an_open_and_accepts_a_close() -> None:
    d = exchange()
    assert open_long(d, "t1").status == m.SUCCESS
    r = op(d, "cs", m.SET_MARKET_STATE, asset=BTC, state="CLOSE_ONLY")
    assert r.status == m.SUCCESS and r.data["previousState"] == "OPEN"
    refused = open_long(d, "t2")
    assert (refused.status, refused.data["code"]) == (m.ERROR, "MARKET_CLOSE_ONLY")
    assert "CLOSE_ONLY" in refused.message
    assert d.call("c1", m.CLOSE_TRADE, ALICE, tradeId="t1").status == m.SUCCESS


def test_a_halted_market_fires_nothing_until_resumed_then_fires_at_the_resume_tick() -> None:
    d = exchange()
    open_long(d, "t1", stopLossPrice=59_000 * P)
    out = d.command("h", m.SET_MARKET_STATE, OPS, asset=BTC, state="HALTED", reason="feed check")
    (changed,) = events(out)
    assert (changed.event_type, changed.asset, changed.market_state, changed.reason) == (
        m.MARKET_STATE_CHANGED, BTC, "HALTED", "feed check"
    )
    assert events(d.tick(BTC, 58_000 * P)) == []  # through the stop: nothing fires
    assert d.engine.state.prices[BTC].bid == 58_000 * P  # but the price is recorded
    for order_id, command, data in (
        ("t2", m.CREATE_TRADE, {"asset": BTC, "direction": "LONG", "margin": 100 * P}),
        ("c1", m.CLOSE_TRADE, {"tradeId": "t1"}),
    ):
        r = d.call(order_id, command, ALICE, **data)
        assert (r.status, r.data["code"]) == (m.ERROR, "MARKET_HALTED")
    op(d, "o", m.SET_MARKET_STATE, asset=BTC, state="OPEN")
    assert d.engine.state.markets == {}
    (fired,) = events(d.tick(BTC, 57_500 * P))  # the first tick after the resume
    assert (fired.event_type, fired.close_price) == (m.TRADE_STOP_LOSS, 57_500 * P)


def test_limits_are_checked_on_every_open_and_never_touch_open_positions() -> None:
    d = exchange(initial_balance=100_000 * P)
    assert open_long(d, "big", leverage=500).status == m.SUCCESS
    op(d, "l1", m.SET_LIMITS, maxLeverage=100, minMargin="10", maxMargin=200)
    op(d, "l2", m.SET_LIMITS, asset=BTC, maxLeverage=50, maxOpenPositionsPerAccount=2)
    cases = [
        ({"leverage": 60}, "LIMIT_LEVERAGE"),  # the asset's 50 is stricter than all-asset 100
        ({"margin": "9.9999"}, "LIMIT_MARGIN"),
        ({"margin": "200.0001"}, "LIMIT_MARGIN"),
    ]
    for i, (extra, code) in enumerate(cases):
        args = {"asset": BTC, "direction": "LONG", "margin": 100 * P} | extra
        r = d.call(f"x{i}", m.CREATE_TRADE, ALICE, **args)
        assert (r.status, r.data["code"]) == (m.ERROR, code), extra
    assert open_long(d, "ok", leverage=50).status == m.SUCCESS  # at every limit exactly
    assert "big" in d.engine.state.trades  # 50x, far above the new limit, untouched
    r = open_long(d, "third")
    assert (r.status, r.data["code"]) == (m.ERROR, "LIMIT_POSITIONS")
    # open interest: 100 USD x 50x + 100 USD x 5x = 5,500 USD notional on BTC
    op(d, "l3", m.SET_LIMITS, asset=BTC, maxOpenPositionsPerAccount=None, maxOpenInterest=5_600)
    r = open_long(d, "oi", margin=100 * P + 1)
    assert (r.status, r.data["code"]) == (m.ERROR, "LIMIT_OPEN_INTEREST")
    assert open_long(d, "oi2").status == m.SUCCESS  # 5,600 exactly
    r = op(d, "l4", m.SET_LIMITS, asset=BTC, maxLeverage=None, maxOpenInterest=None)
    assert r.data == {"scope": BTC, "limits": dict.fromkeys(
        ["maxLeverage", "minMargin", "maxMargin", "maxOpenInterest",
         "maxOpenPositionsPerAccount"])}
    assert BTC not in d.engine.state.limits


def test_an_adjustment_moves_free_balance_and_deposits_once_per_transaction_id() -> None:
    d = exchange()
    out = d.command("a1", m.ADJUST_BALANCE, OPS, email=ALICE, amount="-1000.5",
                    reason="chargeback", transactionId="tx-1")
    (event,) = events(out)
    assert (event.event_type, event.amount, event.balance, event.reason) == (
        m.BALANCE_ADJUSTED, -10_005_000, 39_995_000, "chargeback"
    )
    first = out[-1]
    assert units(d.call("usd", m.GET_USD_BALANCE, ALICE).data["usdBalance"]) == 39_995_000
    again = op(d, "a2", m.ADJUST_BALANCE, email=ALICE, amount="5", reason="x",
               transactionId="tx-1")
    assert (again.status, again.message) == (m.SUCCESS, "adjustment already applied")
    assert units(again.data["amount"]) == -10_005_000
    assert d.engine.state.accounts[ALICE].free == 39_995_000
    assert d.engine.state.deposits == 39_995_000 and d.conserved()
    assert first.status == m.SUCCESS
    # the first orderId again: the first answer, and still nothing moves
    assert op(d, "a1", m.GET_REPORT).data == op(d, "a2", m.GET_REPORT).data == again.data
    assert d.engine.state.accounts[ALICE].free == 39_995_000


def test_a_debit_past_the_free_balance_is_refused() -> None:
    d = exchange()
    open_long(d, "t1")
    r = op(d, "a", m.ADJUST_BALANCE, email=ALICE, amount="-4900.0001", reason="r",
           transactionId="tx")
    assert (r.status, r.data) == (m.ERROR, {"code": "INSUFFICIENT_BALANCE", "field": "amount"})
    assert op(d, "b", m.ADJUST_BALANCE, email=ALICE, amount="-4900", reason="r",
              transactionId="tx").status == m.SUCCESS
    assert d.engine.state.accounts[ALICE].free == 0 and d.conserved()
    for amount, code in (("0", "INVALID_AMOUNT"), ("1e3", "INVALID_AMOUNT")):
        r = op(d, f"z{amount}", m.ADJUST_BALANCE, email=ALICE, amount=amount, reason="r",
               transactionId=f"t{amount}")
        assert r.data["code"] == code
    r = op(d, "n", m.ADJUST_BALANCE, email="nobody@x.io", amount=1, reason="r",
           transactionId="tn")
    assert r.data["code"] == "ACCOUNT_NOT_FOUND"


def test_a_forced_close_settles_like_the_owner_would_and_names_the_reason() -> None:
    d = exchange()
    open_long(d, "t1", leverage=100)
    d.tick(BTC, 61_000 * P, 61_010 * P)
    out = d.command("f", m.FORCE_CLOSE, OPS, tradeId="t1", reason="account review")
    (event,) = events(out)
    assert (event.event_type, event.reason, event.close_price) == (
        m.TRADE_FORCE_CLOSED, "account review", 61_000 * P
    )
    # 10x on 100 USD from 60,010 to 61,000 (the bid): 16.4972... floored
    assert event.pnl == 164_972
    assert d.engine.open_positions() == 0 and d.conserved()
    r = op(d, "f2", m.FORCE_CLOSE, tradeId="t1", reason="again")
    assert r.data["code"] == "TRADE_NOT_FOUND"


def test_the_report_balances_and_its_hash_survives_a_snapshot() -> None:
    d = exchange()
    open_long(d, "t1", leverage=50)
    report = op(d, "r1", m.GET_REPORT).data
    assert report["totals"] == {
        "free": 4900, "locked": 100, "reserved": 0, "house": 0, "deposits": 5000,
        "conserved": True,
    }
    assert report["assets"][BTC]["openInterest"] == 500
    assert report["assets"][BTC]["positions"] == 1 and report["assets"][BTC]["state"] == "OPEN"
    restored = Engine(state=load_state(dump_state(d.engine.state)))
    restored.admins = d.engine.admins
    twin = Driver(state=restored.state)
    twin.engine.admins = d.engine.admins
    twin.ms, twin.n = d.ms, d.n
    assert twin.call("r2", m.GET_REPORT, OPS).data["stateHash"] == (
        d.call("r2", m.GET_REPORT, OPS).data["stateHash"]
    )
    d.tick(BTC, 60_001 * P, 60_011 * P)
    assert d.call("r3", m.GET_REPORT, OPS).data["stateHash"] != report["stateHash"]


def test_consecutive_band_refusals_halt_the_market_until_an_operator_resumes_it() -> None:
    d = exchange(price_band_bps=1_000, price_band_halt_after=3)
    outs = [d.tick(BTC, 90_000 * P) for _ in range(3)]
    assert d.engine.state.markets == {BTC: "HALTED"}
    (halt,) = events(outs[-1])
    reason = "price band: 3 consecutive prices refused"
    assert (halt.market_state, halt.reason) == ("HALTED", reason)
    assert d.engine.state.rejected["price_band"] == 3
    d.tick(BTC, 90_000 * P)  # while halted the band is suspended: the price is recorded
    assert d.engine.state.prices[BTC].bid == 90_000 * P
    op(d, "o", m.SET_MARKET_STATE, asset=BTC, state="OPEN")
    assert open_long(d, "t1").status == m.SUCCESS


class AdminMachine(EngineMachine):
    """The core machine with an operator: adjustments, market states and limits drawn too;
    money stays conserved, deposits moving with every adjustment."""

    def __init__(self) -> None:
        super().__init__()
        self.engine.admins = frozenset({OPS})

    @rule(
        email=st.sampled_from(EMAILS),
        amount=st.integers(-2_000, 2_000).filter(bool),
        tx=st.integers(0, 5),
    )
    def adjust(self, email: str, amount: int, tx: int) -> None:
        self._command(m.ADJUST_BALANCE, OPS, email=email, amount=str(amount), reason="test",
                      transactionId=f"tx{tx}")

    @rule(asset=st.sampled_from(["BTC_USDC", "ETH_USDC"]),
          state=st.sampled_from(["OPEN", "CLOSE_ONLY", "HALTED"]))
    def market(self, asset: str, state: str) -> None:
        self._command(m.SET_MARKET_STATE, OPS, asset=asset, state=state)

    @rule(lev=st.none() | st.integers(10, 1000), positions=st.none() | st.integers(1, 3))
    def limits(self, lev: int | None, positions: int | None) -> None:
        self._command(m.SET_LIMITS, OPS, maxLeverage=lev, maxOpenPositionsPerAccount=positions)

    @rule()
    def snapshot(self) -> None:
        super().snapshot()
        assert self.shadow is not None
        self.shadow.admins = self.engine.admins

    @precondition(lambda self: self.engine.state.trades)
    @rule(pick=st.integers(0, 10_000), owner=st.booleans())
    def close_trade(self, pick: int, owner: bool) -> None:
        """As the core machine's, but a HALTED market refuses the owner too."""
        trades = list(self.engine.state.trades.values())
        trade = trades[pick % len(trades)]
        halted = self.engine.state.markets.get(trade.asset) == "HALTED"
        self._command(m.CLOSE_TRADE, trade.email if owner else "intruder@x.io",
                      tradeId=trade.trade_id)
        assert (trade.trade_id in self.engine.state.trades) != (owner and not halted)

    @rule(pick=st.integers(0, 100))
    def force_close(self, pick: int) -> None:
        trades = sorted(self.engine.state.trades)
        if trades:
            self._command(m.FORCE_CLOSE, OPS, tradeId=trades[pick % len(trades)], reason="r")


AdminMachine.TestCase.settings = settings(
    max_examples=60, stateful_step_count=50, deadline=None
)
TestAdminMachine = AdminMachine.TestCase
