"""Hypothesis state machine over the engine core: money is conserved after every step, no
balance goes negative, the trigger indexes hold exactly the open trades' exits, and a snapshot
(serialize -> restore) continues with byte-identical outputs."""

from __future__ import annotations

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from engine import messages as m
from engine.config import EngineConfig
from engine.core import Engine
from engine.messages import Command, PriceItem
from engine.state import dump_state, load_state
from engine.wire import encode_command, encode_event, encode_price_batch, encode_response
from tests.engine.driver import as_bytes, human
from tests.engine.scenarios import model_pnl

ASSETS = ["BTC_USDC", "ETH_USDC"]
EMAILS = ["a@x.io", "b@x.io", "c@x.io"]
P = 10_000
EXITS = (m.TRADE_STOP_LOSS, m.TRADE_TAKE_PROFIT, m.TRADE_LIQUIDATED)
READS = (m.GET_BALANCE, m.GET_USD_BALANCE, m.GET_OPEN_TRADES, m.GET_CLOSED_TRADES)


def encoded(outputs: list) -> list:
    return [encode_response(o) if isinstance(o, m.Response) else encode_event(o) for o in outputs]


class EngineMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        # no price band: the machine draws big moves on purpose (the band has its own tests)
        config = EngineConfig(
            assets={"BTC_USDC": 4, "ETH_USDC": 4}, initial_balance=1_000 * P, price_band_bps=0
        )
        self.engine = Engine(config)
        self.shadow: Engine | None = None
        self.ms = 1_000
        self.n = 0
        self.orders = 0
        self.seq = 0  # the last seq seen: every output must carry the next one
        # orderId -> (email, command, first answer)
        self.answers: dict[str, tuple[str, str, m.Response]] = {}

    def _next_id(self) -> str:
        self.ms += 1
        self.n += 1
        return f"{self.ms}-{self.n}"

    def _apply(self, kind: str, fields: dict) -> list:
        entry_id = self._next_id()
        raw = as_bytes(fields)
        apply = self.engine.apply_price_entry if kind == "p" else self.engine.apply_command_entry
        out = apply(entry_id, raw)
        for output in out:
            self.seq += 1
            assert output.seq == self.seq
        if self.shadow is not None:
            shadow_apply = (
                self.shadow.apply_price_entry if kind == "p" else self.shadow.apply_command_entry
            )
            assert encoded(shadow_apply(entry_id, raw)) == encoded(out)
        return out

    def _command(self, command: str, email: str, /, **data) -> list:
        self.orders += 1
        cmd = Command(f"o{self.orders}", command, email, human(data), self.ms)
        out = self._apply("c", encode_command(cmd))
        self.answers[cmd.order_id] = (email, command, out[-1])
        return out

    @rule(email=st.sampled_from(EMAILS))
    def create_account(self, email: str) -> None:
        self._command(m.CREATE_ACCOUNT, email)

    @rule(
        asset=st.sampled_from(ASSETS),
        bid=st.integers(1, 400).map(lambda x: x * P // 2),
        spread=st.integers(0, 3 * P),
    )
    def tick(self, asset: str, bid: int, spread: int) -> None:
        self._tick(asset, bid, bid + spread)

    @precondition(lambda self: self.engine.state.prices)
    @rule(
        pick=st.integers(0, 1),
        # quiet ticks, a few percent, and big moves (a crash to a tenth, a tripling)
        move_bps=st.sampled_from([0, 1, -1, 50, -50, 300, -300, 2_000, -2_000, -9_000, 20_000])
        | st.integers(-9_999, 30_000),
        spread_bps=st.sampled_from([0, 0, 1, 10, 100, 500]),
    )
    def move(self, pick: int, move_bps: int, spread_bps: int) -> None:
        """A move relative to the last price, with a spread relative to the new bid."""
        asset = sorted(self.engine.state.prices)[pick % len(self.engine.state.prices)]
        last = self.engine.state.prices[asset].bid
        bid = max(1, last + last * move_bps // 10_000)
        self._tick(asset, bid, bid + bid * spread_bps // 10_000)

    def _tick(self, asset: str, bid: int, ask: int) -> None:
        state = self.engine.state
        before = dict(state.trades)
        applied = state.ticks_applied
        item = PriceItem(asset, bid, 4, bid, ask)
        out = self._apply("p", encode_price_batch([item], "prop", self.ms))
        if state.ticks_applied == applied:
            assert out == []
            return
        watched = {True: bid, False: ask}  # a LONG's exits watch the bid, a SHORT's the ask
        for event in out:
            if event.event_type not in EXITS or event.trade_id not in before:
                continue  # machines built on this one add events of their own (orders, trailing)
            trade = before[event.trade_id]
            price = watched[trade.is_long]
            assert event.close_price == price
            assert event.direction == ("LONG" if trade.is_long else "SHORT")
            level = {
                m.TRADE_STOP_LOSS: trade.stop_loss,
                m.TRADE_TAKE_PROFIT: trade.take_profit,
                m.TRADE_LIQUIDATED: trade.liquidation,
            }[event.event_type]
            rising = (event.event_type == m.TRADE_TAKE_PROFIT) == trade.is_long
            assert level and (price >= level if rising else price <= level)
            # paid in full, however big the profit; never more than the margin lost
            profit = model_pnl(
                trade.margin, trade.leverage, trade.entry_price, price, trade.is_long
            )
            total = max(0, trade.margin + profit)
            assert (event.total_return, event.amount, event.pnl) == (
                total,
                total,
                total - trade.margin,
            )
            assert event.margin_returned == min(trade.margin, total)
        if state.markets.get(asset) == "HALTED":  # an operator's halt: recorded, never fired
            assert out == []
            return
        for trade in state.trades.values():  # nothing is left open past one of its levels
            if trade.asset != asset or trade.trade_id not in before:  # (a fill of this tick)
                continue
            if trade.is_long:
                assert not (trade.stop_loss and bid <= trade.stop_loss)
                assert not (trade.take_profit and bid >= trade.take_profit)
                assert not (trade.liquidation > 0 and bid <= trade.liquidation)
            else:
                assert not (trade.stop_loss and ask >= trade.stop_loss)
                assert not (trade.take_profit and ask <= trade.take_profit)
                assert ask < trade.liquidation

    @rule(
        email=st.sampled_from(EMAILS),
        asset=st.sampled_from(ASSETS),
        long=st.booleans(),
        margin=st.integers(1, 600 * P),
        leverage=st.integers(10, 1000),
        sl=st.none() | st.integers(1, 300 * P),
        tp=st.none() | st.integers(1, 300 * P),
    )
    def create_trade(self, email, asset, long, margin, leverage, sl, tp) -> None:
        data = {"asset": asset, "direction": "LONG" if long else "SHORT", "margin": margin}
        data["leverage"] = leverage
        if sl is not None:
            data["stopLossPrice"] = sl
        if tp is not None:
            data["takeProfitPrice"] = tp
        self._command(m.CREATE_TRADE, email, **data)

    @precondition(lambda self: self.engine.state.prices)
    @rule(
        email=st.sampled_from(EMAILS),
        pick=st.integers(0, 1),
        long=st.booleans(),
        margin=st.sampled_from([1, 100 * P, 1_000 * P, 1_000 * P + 1]) | st.integers(1, 500 * P),
        leverage=st.sampled_from([10, 1000]) | st.integers(10, 1000),
        # levels at the edges of the spread: on it, a tick either side, inside it, none, zero
        sl=st.sampled_from(
            ["none", "zero", "bid-1", "bid", "bid+1", "mid", "ask-1", "ask", "ask+1"]
        ),
        tp=st.sampled_from(
            ["none", "zero", "bid-1", "bid", "bid+1", "mid", "ask-1", "ask", "ask+1"]
        ),
    )
    def create_trade_at_edges(self, email, pick, long, margin, leverage, sl, tp) -> None:
        """Accepted exactly when the margin fits and each level lies beyond its side."""
        state = self.engine.state
        asset = sorted(state.prices)[pick % len(state.prices)]
        price = state.prices[asset]
        bid, ask = price.bid, price.ask
        at = {
            "zero": 0,
            "bid-1": bid - 1,
            "bid": bid,
            "bid+1": bid + 1,
            "mid": (bid + ask) // 2,
            "ask-1": ask - 1,
            "ask": ask,
            "ask+1": ask + 1,
        }
        data = {"asset": asset, "direction": "LONG" if long else "SHORT", "margin": margin}
        data["leverage"] = leverage
        stop, target = at.get(sl, 0), at.get(tp, 0)
        if sl != "none":
            data["stopLossPrice"] = stop
        if tp != "none":
            data["takeProfitPrice"] = target
        account = state.accounts.get(email)
        free = account.free if account else -1
        out = self._command(m.CREATE_TRADE, email, **data)
        if long:
            stop_ok = sl == "none" or 0 < stop < bid
            target_ok = tp == "none" or target > ask
        else:
            stop_ok = sl == "none" or stop > ask
            target_ok = tp == "none" or 0 < target < bid
        expected = 0 < margin <= free and stop_ok and target_ok
        accepted = out[-1].status == m.SUCCESS
        if state.markets or state.limits:  # an operator's limits may refuse it too
            assert expected or not accepted, (out[-1].data, data, bid, ask)
            expected = accepted
        assert accepted == expected, (out[-1].data, data, bid, ask)
        if expected:
            trade = state.trades[f"o{self.orders}"]
            assert trade.entry_price == (ask if long else bid)
            assert (trade.stop_loss, trade.take_profit) == (stop, target)
            (opened,) = [e for e in out[:-1] if e.event_type == m.TRADE_OPENED]
            assert (opened.event_type, opened.amount, opened.pnl, opened.total_return) == (
                m.TRADE_OPENED,
                -margin,
                0,
                0,
            )
            assert opened.direction == ("LONG" if long else "SHORT")
            assert opened.balance == free - margin == state.accounts[email].free

    @precondition(lambda self: self.engine.state.trades)
    @rule(pick=st.integers(0, 10_000), owner=st.booleans())
    def close_trade(self, pick: int, owner: bool) -> None:
        trades = list(self.engine.state.trades.values())
        trade = trades[pick % len(trades)]
        email = trade.email if owner else "intruder@x.io"
        price = self.engine.state.prices[trade.asset]
        out = self._command(m.CLOSE_TRADE, email, tradeId=trade.trade_id)
        assert (trade.trade_id in self.engine.state.trades) != owner
        if owner:  # by hand, a LONG sells at the bid and a SHORT buys back at the ask
            (event,) = [e for e in out[:-1] if e.event_type == m.TRADE_CLOSED]
            exit_price = price.bid if trade.is_long else price.ask
            profit = model_pnl(
                trade.margin, trade.leverage, trade.entry_price, exit_price, trade.is_long
            )
            total = max(0, trade.margin + profit)
            assert (event.close_price, event.total_return, event.amount) == (
                exit_price,
                total,
                total,
            )

    @rule(
        email=st.sampled_from(EMAILS),
        which=st.sampled_from(sorted(m.COMMANDS)),
        pick=st.integers(1, 10_000),
    )
    def query_or_repeat(self, email: str, which: str, pick: int) -> None:
        if which in (m.GET_BALANCE, m.GET_OPEN_TRADES, m.GET_CLOSED_TRADES):
            self._command(which, email)
        elif self.orders:  # repeat an earlier orderId: nothing may change
            order_id = f"o{pick % self.orders + 1}"
            before = dump_state(self.engine.state)
            cmd = Command(order_id, which, email, {}, self.ms)
            again = self._apply("c", encode_command(cmd))[-1]
            after = self.engine.state
            assert after.accounts == load_state(before).accounts
            assert after.trades == load_state(before).trades
            owner, command, first = self.answers[order_id]
            if email != owner:
                assert again.data == {"code": "DUPLICATE_ORDER_ID"}
            elif command in READS and first.status == m.SUCCESS:  # run again on the state now
                fresh = self._command(command, email)[-1]
                assert (again.status, again.data) == (fresh.status, fresh.data)
            else:  # the first answer again, whatever happened since
                assert (again.status, again.data, again.message) == (
                    first.status,
                    first.data,
                    first.message,
                )

    @rule(junk=st.dictionaries(st.binary(max_size=12), st.binary(max_size=40), max_size=5))
    def garbage(self, junk: dict) -> None:
        self._apply("p" if len(junk) % 2 else "c", junk)

    @rule()
    def snapshot(self) -> None:
        """Restore a copy from serialized state; from now on both must agree byte for byte."""
        self.shadow = Engine(state=load_state(dump_state(self.engine.state)))

    @invariant()
    def money_is_conserved(self) -> None:
        s = self.engine.summary()
        assert s["free"] + s["locked"] + s["house"] == s["deposits"]

    @invariant()
    def balances_never_negative_and_locked_matches_open_margin(self) -> None:
        state = self.engine.state
        locked: dict[str, int] = {}
        for trade in state.trades.values():
            locked[trade.email] = locked.get(trade.email, 0) + trade.margin
        for account in state.accounts.values():
            assert account.free >= 0
            assert account.locked == locked.get(account.email, 0)

    @invariant()
    def exactly_the_open_trades_are_indexed(self) -> None:
        state = self.engine.state
        expected = 0
        for trade in state.trades.values():
            assert self.engine.books[trade.asset].contains(trade)
            # one exit per side that can fire: the nearer of stop and liquidation, the target
            falls = trade.stop_loss or trade.liquidation > 0 or not trade.is_long
            expected += bool(falls) + bool(trade.take_profit)
        assert sum(len(b) for b in self.engine.books.values()) == expected


EngineMachine.TestCase.settings = settings(
    max_examples=200,
    stateful_step_count=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestEngineMachine = EngineMachine.TestCase
