"""The engine core: a pure, synchronous, deterministic state machine.

``Engine.apply_price_entry`` and ``Engine.apply_command_entry`` take one stream entry (its ID and
fields) and return the outputs it causes. No I/O, no clock, no randomness: time is the entry ID's
millisecond, IDs come from the command (orderId) or the engine's own counters. The same state and
the same ordered entries give identical outputs, which is what makes snapshot + replay exact.

Money is conserved at every step: sum(free) + sum(locked) + sum(reserved) + house == deposits
(``reserved``: the margin of pending orders, ``engine.order_commands``).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import Any

import msgspec

from engine import admin
from engine import messages as m
from engine.amounts import max_units
from engine.config import EngineConfig
from engine.markets import HALTED, OPEN, check_can_open, check_limits, check_not_halted
from engine.messages import Command, Event, Output, PriceBatch, PriceItem, Response
from engine.money import BPS, USD_SCALE, AmountError, liquidation_level, pnl, rescale
from engine.order_commands import TRAILING, OrderDesk
from engine.orders import (
    CloseTradeData,
    CreateTradeData,
    ListData,
    Rejected,
    convert,
    fresh_price,
    validate_open,
)
from engine.state import (
    Account,
    AccountAnswer,
    Answer,
    Closed,
    ClosedTrade,
    EngineState,
    Opened,
    Price,
    Read,
    Receipt,
    Trade,
)
from engine.stream_ids import entry_ms
from engine.trailing import Fired
from engine.triggers import LIQUIDATION, STOP_LOSS, Entry, TriggerBook
from engine.views import (
    account_view,
    balance_view,
    closed_view,
    opened_view,
    receipt_view,
    trade_view,
    usd_balance_view,
)
from engine.wire import WireError, decode_command, decode_price_batch

# What a command handler returns: the response's data and message, and the answer a repeat of
# its orderId is rebuilt from (None: the data itself is remembered; a Read is run again).
Handled = tuple[Any, str, Answer | None]

_REASONS = {
    LIQUIDATION: m.TRADE_LIQUIDATED,
    STOP_LOSS: m.TRADE_STOP_LOSS,
    TRAILING: m.TRADE_TRAILING_STOP,
}


class Engine:
    """Balances, positions, prices and trigger indexes of one exchange, in memory."""

    def __init__(self, config: EngineConfig | None = None, state: EngineState | None = None):
        if state is None:
            state = EngineState(config=config or EngineConfig())
        self.state = state
        self.config = state.config
        self.books: dict[str, TriggerBook] = {a: TriggerBook() for a in self.config.assets}
        self.user_trades: dict[str, dict[str, Trade]] = {}  # email -> open trades by ID
        self.open_interest: dict[str, int] = {}  # asset -> sum of margin x leverage (tenths)
        # Who may send operator commands (engine.admin): the daemon's ADMIN_EMAILS setting.
        self.admins: frozenset[str] = frozenset()
        self._skip = set(state.quarantined)
        self._order_fifo: deque[str] = deque(state.receipts)  # remembered orderIds, oldest first
        self._window = self.config.idempotency_window
        by_asset: dict[str, list[Trade]] = {}
        for trade in state.trades.values():
            self._index(trade)
            by_asset.setdefault(trade.asset, []).append(trade)
            self._add_interest(trade.asset, trade.margin * trade.leverage)
        for asset, trades in by_asset.items():
            self.books[asset].add_all(trades)  # in bulk: loading 10^5 positions stays fast
        self._handlers = {
            m.CREATE_ACCOUNT: self._create_account,
            m.GET_BALANCE: self._get_balance,
            m.GET_USD_BALANCE: self._get_usd_balance,
            m.CREATE_TRADE: self._create_trade,
            m.CLOSE_TRADE: self._close_trade,
            m.GET_OPEN_TRADES: self._get_open_trades,
            m.GET_CLOSED_TRADES: self._get_closed_trades,
        }
        for name, handler in admin.HANDLERS.items():
            self._handlers[name] = self._admin_only(handler)
        # issue 17: pending orders, trailing stops, amends, partial closes (engine/order_commands)
        self.desk = OrderDesk(self)
        self._handlers.update(self.desk.handlers())
        self._expiry = self.desk.expiry
        self._trails = self.desk.trails
        self._pending = self.desk.books

    def quarantine(self, stream: str, entry_id: str) -> None:
        """Set an input entry aside: when it is reached it is skipped and counted, not applied.

        The operator's way past an entry that would stop the engine (``--skip-entry``); the list
        is part of the state, so snapshots and every later replay skip it too.
        """
        key = f"{stream}:{entry_id}"
        if key not in self._skip:
            self._skip.add(key)
            self.state.quarantined.append(key)

    # --- entries -------------------------------------------------------------------------------

    def apply_price_entry(self, entry_id: str, fields: Mapping[Any, Any]) -> list[Output]:
        """Apply one engine_input entry. Malformed entries are counted, never raised."""
        self._advance(entry_id)
        if self.state.now_ms >= self._expiry.next_ms:  # hook: pending orders expire first
            return self.desk.expire() + self._price_entry(entry_id, fields)
        return self._price_entry(entry_id, fields)

    def _price_entry(self, entry_id: str, fields: Mapping[Any, Any]) -> list[Output]:
        self.state.last_price_id = entry_id
        if self._skip and f"price:{entry_id}" in self._skip:
            self._reject("quarantined")
            return []
        try:
            batch = decode_price_batch(fields)
        except WireError:
            self._reject("price_malformed")
            return []
        return self.apply_prices(batch)

    def apply_command_entry(self, entry_id: str, fields: Mapping[Any, Any]) -> list[Output]:
        """Apply one backend-to-engine entry; a malformed one with an orderId gets an error."""
        state = self.state
        ms = int(entry_id.partition("-")[0])  # entry_ms, inline: this runs for every command
        if ms > state.now_ms:
            state.now_ms = ms
            if ms >= self._expiry.next_ms:  # hook: pending orders expire first
                return self.desk.expire() + self._command_entry(entry_id, fields)
        return self._command_entry(entry_id, fields)

    def _command_entry(self, entry_id: str, fields: Mapping[Any, Any]) -> list[Output]:
        state = self.state
        state.last_command_id = entry_id
        if self._skip and f"command:{entry_id}" in self._skip:
            self._reject("quarantined")
            return []
        try:
            command = decode_command(fields)
        except WireError as exc:
            self._reject("command_malformed")
            if exc.order_id is None:
                return []
            return [self._response(exc.order_id, m.ERROR, {"code": "MALFORMED"}, exc.reason)]
        return self.apply_command(command)

    # --- prices --------------------------------------------------------------------------------

    def apply_prices(self, batch: PriceBatch) -> list[Output]:
        """Update prices and fire the triggers they cross."""
        outputs: list[Output] = []
        markets = self.state.markets
        for item in batch.items:
            halted = bool(markets) and markets.get(item.asset) == HALTED
            price = self._price(item, outputs, band=not halted)
            if price is None:
                continue
            self.state.prices[item.asset] = price
            self.state.ticks_applied += 1
            if halted:  # recorded, never fired: the first tick after a resume fires
                continue
            fired = self.books[item.asset].fired(price.bid, price.ask)
            # hook: trailing stops move and fire with the other exits, then pending orders fill
            trails = self._trails[item.asset]
            trailed = trails.tick(price.bid, price.ask) if trails.trade_ids else None
            if fired or trailed:
                self._fire(item.asset, fired, price, outputs, trailed)
            if self._pending[item.asset].order_ids:
                self.desk.fill(item.asset, price, outputs)
        return outputs

    def _price(self, item: PriceItem, outputs: list[Output], band: bool = True) -> Price | None:
        decimals = self.config.assets.get(item.asset)
        if decimals is None:
            self._reject("price_unknown_asset")
            return None
        bid = item.price if item.bid is None else item.bid
        ask = item.price if item.ask is None else item.ask
        try:
            if item.decimal != decimals:
                if not 0 <= item.decimal <= 18:
                    raise AmountError("decimal out of range")
                bid = rescale(bid, item.decimal, decimals)
                ask = rescale(ask, item.decimal, decimals)
        except AmountError:
            self._reject("price_precision")
            return None
        if bid <= 0 or ask < bid:
            self._reject("price_invalid")
            return None
        if ask > max_units(decimals):
            self._reject("price_out_of_range")
            return None
        width = self.config.price_band_bps if band else 0
        last = self.state.prices.get(item.asset)
        if width and last is not None and (
            abs(bid - last.bid) * BPS > width * last.bid
            or abs(ask - last.ask) * BPS > width * last.ask
        ):
            self._band_reject(item.asset, outputs)
            return None
        if self.state.band_rejects:
            self.state.band_rejects.pop(item.asset, None)
        return Price(bid, ask, self.state.now_ms)

    def _band_reject(self, asset: str, outputs: list[Output]) -> None:
        """Count a price-band refusal; after ``price_band_halt_after`` in a row, halt."""
        self._reject("price_band")
        runs = self.state.band_rejects
        runs[asset] = run = runs.get(asset, 0) + 1
        limit = self.config.price_band_halt_after
        if limit and run >= limit:
            reason = f"price band: {run} consecutive prices refused"
            self.set_market(asset, HALTED, reason, "", outputs)

    def _fire(
        self,
        asset: str,
        fired: list[Entry],
        price: Price,
        outputs: list[Output],
        trailed: list[Fired] | None = None,
    ) -> None:
        trades = self.state.trades
        book = self.books[asset]
        if trailed:
            fired = self.desk.merge_fired(fired, trailed)
        for level, _seq, kind, trade_id in fired:
            trade = trades.get(trade_id)
            if trade is None:  # defensive: the index holds one exit per side of a trade
                continue
            book.remove(trade)
            exit_price = price.bid if trade.is_long else price.ask
            event_type = _REASONS.get(kind, m.TRADE_TAKE_PROFIT)
            event = self._settle(trade, exit_price, event_type, "")[1]
            if kind == TRAILING:
                event = self.desk.trailing_fired(event, trade, level)
            outputs.append(event)

    # --- commands ------------------------------------------------------------------------------

    def apply_command(self, command: Command) -> list[Output]:
        """Apply one decoded command; a repeated orderId gets its original answer again."""
        state = self.state
        order_id = command.order_id
        stored = state.receipts.get(order_id)
        if stored is not None:
            if stored.email != command.email:
                return [
                    self._response(
                        order_id,
                        m.ERROR,
                        {"code": "DUPLICATE_ORDER_ID"},
                        "orderId already used by another account",
                    )
                ]
            read = stored.answer
            if not isinstance(read, Read):
                data = receipt_view(stored, self.config.assets)
                return [self._response(order_id, stored.status, data, stored.message)]
            params = {} if read.limit is None else {"limit": read.limit}
            command = Command(order_id, read.command, command.email, params, command.timestamp)
        handler = self._handlers.get(command.command)
        outputs: list[Output] = []
        answer: Answer | None
        if handler is None:
            self._reject("command_unknown")
            status, data, message = m.ERROR, {"code": "UNKNOWN_COMMAND"}, "unknown command"
            answer = None
        else:
            try:
                data, message, answer = handler(command, outputs)
                status = m.SUCCESS
            except Rejected as exc:
                status, data, message, answer = m.ERROR, exc.data(), exc.message, None
        state.commands_applied += 1
        state.seq += 1
        outputs.append(Response(order_id, status, data, message, state.now_ms, state.seq))
        if stored is not None:  # a repeated read: answered again, remembered already
            return outputs
        # with an answer, a repeat rebuilds the data from it: the window keeps no views (state.py)
        kept = data if answer is None else None
        self._remember(order_id, Receipt(command.email, status, message, kept, answer))
        return outputs

    def _create_account(self, command: Command, outputs: list[Output]) -> Handled:
        email = _email(command)
        account = self.state.accounts.get(email)
        created = account is None
        if account is None:
            deposit = self.config.initial_balance
            account = Account(email=email, free=deposit, deposited=deposit)
            self.state.accounts[email] = account
            self.state.deposits += deposit
            outputs.append(
                self._event(m.ACCOUNT_CREATED, email, command.order_id, deposit, deposit)
            )
        answer = AccountAnswer(created, account.free, account.locked, account.deposited)
        message = "account created successfully" if created else "account already exists"
        return account_view(email, answer), message, answer

    def _get_balance(self, command: Command, outputs: list[Output]) -> Handled:
        account = self._account(command)
        return balance_view(account), "Balance retrieved successfully", Read(m.GET_BALANCE)

    def _get_usd_balance(self, command: Command, outputs: list[Output]) -> Handled:
        account = self._account(command)
        read = Read(m.GET_USD_BALANCE)
        return usd_balance_view(account), "USD balance retrieved successfully", read

    def _create_trade(self, command: Command, outputs: list[Output]) -> Handled:
        account = self._account(command)
        data = convert(command.trade_data, CreateTradeData)
        state = self.state
        config = self.config
        asset, is_long, margin, leverage, entry, stop_loss, take_profit = validate_open(
            data, account.free, state.prices, state.now_ms, config
        )
        if state.markets or state.limits:
            self.check_new_risk(asset, account.email, margin, leverage)
        trailing = 0  # hook: a trailing stop (engine/order_commands)
        if data.trailingDistance is not None:
            trailing = self.desk.trailing_distance(data.trailingDistance, asset)
        state.trade_seq += 1
        trade = Trade(  # positional, in field order (trade_id ... seq): the hot path
            command.order_id,
            account.email,
            asset,
            is_long,
            margin,
            leverage,
            entry,
            stop_loss,
            take_profit,
            liquidation_level(margin, leverage, entry, is_long, config.maintenance_bps),
            state.now_ms,
            state.trade_seq,
            trailing,
        )
        account.free -= margin
        account.locked += margin
        state.trades[trade.trade_id] = trade
        self._index(trade)
        self._add_interest(asset, margin * leverage)
        self.books[trade.asset].add(trade)
        if trailing:
            self.desk.trail(trade, state.prices[asset])
            outputs.append(self.desk.opened_event(trade, account, -margin, command.order_id))
        else:
            outputs.append(
                self._trade_event(m.TRADE_OPENED, trade, account, -margin, command.order_id)
            )
        view = opened_view(trade, account.free, config.assets[asset])
        return view, "Trade created successfully", Opened(trade, account.free)

    def _close_trade(self, command: Command, outputs: list[Output]) -> Handled:
        if "margin" in command.trade_data:  # hook: a partial close (engine/order_commands)
            part = self.desk.close_part(command, outputs)
            if part is not None:
                return part
        self._account(command)
        trade_id = command.trade_data.get("tradeId")
        if type(trade_id) is not str:
            trade_id = convert(command.trade_data, CloseTradeData).tradeId  # names the fault
        state = self.state
        trade = state.trades.get(trade_id)
        if trade is None or trade.email != command.email:
            raise Rejected("TRADE_NOT_FOUND", "no such open trade", "tradeId")
        if state.markets:
            check_not_halted(state.markets, trade.asset)
        # closing at a stale price would be a free option
        price = fresh_price(
            state.prices.get(trade.asset), trade.asset, state.now_ms, self.config.max_price_age_ms
        )
        exit_price = price.bid if trade.is_long else price.ask
        closed, event = self.close_at(trade, exit_price, m.TRADE_CLOSED, command.order_id)
        outputs.append(event)
        balance = event.balance
        view = closed_view(closed, self.config.assets[trade.asset], balance)
        return view, "Trade closed successfully", Closed(closed, balance)

    def _get_open_trades(self, command: Command, outputs: list[Output]) -> Handled:
        self._account(command)
        trades = self.user_trades.get(command.email)
        assets = self.config.assets
        shown = (
            [
                self.desk.trailing_view(t)  # hook: with its trailing stop's level now
                if t.trailing_distance
                else trade_view(t, assets[t.asset])
                for t in trades.values()
            ]
            if trades
            else []
        )
        return {"trades": shown}, "open trades", Read(m.GET_OPEN_TRADES)

    def _get_closed_trades(self, command: Command, outputs: list[Output]) -> Handled:
        self._account(command)
        data = convert(command.trade_data, ListData)
        history = self.state.closed.get(command.email, [])
        limit = len(history) if data.limit is None else max(0, data.limit)
        assets = self.config.assets
        recent = [closed_view(c, assets[c.trade.asset]) for c in history[::-1][:limit]]
        return {"trades": recent}, "closed trades", Read(m.GET_CLOSED_TRADES, data.limit)

    # --- settlement ----------------------------------------------------------------------------

    def _settle(
        self, trade: Trade, exit_price: int, event_type: str, order_id: str
    ) -> tuple[ClosedTrade, Event]:
        """Close ``trade`` at ``exit_price``: the trader never loses more than the margin, the
        house takes the floored remainder of the PnL and absorbs any loss beyond the margin."""
        state = self.state
        account = state.accounts[trade.email]
        profit = pnl(trade.margin, trade.leverage, trade.entry_price, exit_price, trade.is_long)
        returned = max(0, trade.margin + profit)
        account.locked -= trade.margin
        account.free += returned
        state.house += trade.margin - returned
        del state.trades[trade.trade_id]
        self._unindex(trade)
        self._add_interest(trade.asset, -trade.margin * trade.leverage)
        if trade.trailing_distance:  # hook: its trailing stop goes too
            self.desk.untrail(trade)
        closed = ClosedTrade(
            trade, exit_price, returned - trade.margin, returned, event_type, state.now_ms
        )
        history = state.closed.setdefault(trade.email, [])
        history.append(closed)
        if len(history) > self.config.closed_history:
            del history[0]
        event = self._trade_event(event_type, trade, account, returned, order_id, exit_price)
        return closed, event

    def close_at(
        self, trade: Trade, exit_price: int, event_type: str, order_id: str
    ) -> tuple[ClosedTrade, Event]:
        """Close an open trade at ``exit_price`` now (a close by hand or by an operator)."""
        self.books[trade.asset].remove(trade)
        return self._settle(trade, exit_price, event_type, order_id)

    # --- operator controls -----------------------------------------------------------------------

    def _admin_only(self, handler: Any) -> Any:
        def guarded(command: Command, outputs: list[Output]) -> Handled:
            if command.email not in self.admins:
                raise Rejected("FORBIDDEN", "operator commands need an admin email", "email")
            result: Handled = handler(self, command, outputs)
            return result

        return guarded

    def check_new_risk(self, asset: str, email: str, margin: int, leverage: int) -> None:
        """Refuse a new position (a trade or an order's fill) that the asset's market state or
        an operator's limit forbids; run before any mutation."""
        state = self.state
        if state.markets:
            check_can_open(state.markets, asset)
        if state.limits:
            held = self.user_trades.get(email, {})
            same = sum(1 for t in held.values() if t.asset == asset)
            interest = self.open_interest.get(asset, 0)
            check_limits(state.limits, asset, margin, leverage, interest, (len(held), same))

    def set_market(
        self, asset: str, market_state: str, reason: str, order_id: str, outputs: list[Output]
    ) -> None:
        """Set an asset's market state and announce it (event MARKET_STATE_CHANGED)."""
        markets = self.state.markets
        if market_state == OPEN:
            markets.pop(asset, None)
        else:
            markets[asset] = market_state
        self.state.band_rejects.pop(asset, None)
        event = self._event(m.MARKET_STATE_CHANGED, "", order_id, 0, 0)
        outputs.append(
            msgspec.structs.replace(event, asset=asset, market_state=market_state, reason=reason)
        )

    def balance_event(self, event_type: str, email: str, order_id: str, amount: int) -> Event:
        """An event for a change of ``email``'s free balance by ``amount`` (already applied)."""
        balance = self.state.accounts[email].free
        return self._event(event_type, email, order_id, amount, balance)

    # --- helpers -------------------------------------------------------------------------------

    def _add_interest(self, asset: str, notional: int) -> None:
        interest = self.open_interest
        interest[asset] = interest.get(asset, 0) + notional

    def _account(self, command: Command) -> Account:
        account = self.state.accounts.get(command.email)
        if account is None:
            _email(command)  # an empty email is named as such
            raise Rejected("ACCOUNT_NOT_FOUND", "no account for this email", "email")
        return account

    def _index(self, trade: Trade) -> None:
        trades = self.user_trades.get(trade.email)
        if trades is None:
            self.user_trades[trade.email] = {trade.trade_id: trade}
        else:
            trades[trade.trade_id] = trade

    def _unindex(self, trade: Trade) -> None:
        trades = self.user_trades[trade.email]
        del trades[trade.trade_id]
        if not trades:
            del self.user_trades[trade.email]

    def _remember(self, order_id: str, receipt: Receipt) -> None:
        receipts = self.state.receipts
        receipts[order_id] = receipt
        fifo = self._order_fifo
        fifo.append(order_id)
        if len(fifo) > self._window:
            # Not next(iter(receipts)): that walks the deleted slots at the front of the dict,
            # ~9 us per command once the window is full. Same key, same order.
            oldest = fifo.popleft()
            del receipts[oldest]

    def _advance(self, entry_id: str) -> None:
        ms = entry_ms(entry_id)
        if ms > self.state.now_ms:
            self.state.now_ms = ms

    def _reject(self, kind: str) -> None:
        rejected = self.state.rejected
        rejected[kind] = rejected.get(kind, 0) + 1

    def _next_seq(self) -> int:
        self.state.seq += 1
        return self.state.seq

    def _response(self, order_id: str, status: str, data: Any, message: str) -> Response:
        return Response(order_id, status, data, message, self.state.now_ms, self._next_seq())

    def _event(
        self, event_type: str, email: str, order_id: str, amount: int, balance: int
    ) -> Event:
        return Event(
            event_type=event_type,
            trade_id="",
            email=email,
            asset="",
            pnl=0,
            margin_returned=0,
            close_price=0,
            timestamp=self.state.now_ms,
            seq=self._next_seq(),
            order_id=order_id,
            amount=amount,
            balance=balance,
        )

    def _trade_event(
        self,
        event_type: str,
        trade: Trade,
        account: Account,
        change: int,
        order_id: str,
        exit_price: int = 0,
    ) -> Event:
        closing = event_type != m.TRADE_OPENED
        self.state.seq += 1
        margin = trade.margin
        return Event(  # positional, in field order: this runs for every trade opened or closed
            event_type,
            trade.trade_id,
            trade.email,
            trade.asset,
            change - margin if closing else 0,  # pnl
            (change if change < margin else margin) if closing else 0,  # margin_returned
            exit_price,  # close_price
            self.state.now_ms,  # timestamp
            self.state.seq,
            order_id,
            "LONG" if trade.is_long else "SHORT",
            margin,
            trade.leverage,
            trade.entry_price,
            exit_price,
            change,  # amount
            account.free,  # balance
            change if closing else 0,  # total_return
            self.config.assets[trade.asset],  # price_decimals
        )

    # --- introspection -------------------------------------------------------------------------

    def open_positions(self) -> int:
        """How many trades are open."""
        return len(self.state.trades)

    def market_states(self) -> dict[str, str]:
        """Every asset's market state (for metrics)."""
        markets = self.state.markets
        return {asset: markets.get(asset, OPEN) for asset in self.config.assets}

    def open_interest_usd(self) -> dict[str, float]:
        """Open interest per asset in USD, for metrics only (a float: a gauge, not money)."""
        return {a: self.open_interest.get(a, 0) / (10 * USD_SCALE) for a in self.config.assets}

    def summary(self) -> dict[str, Any]:
        """Accounts, positions per asset and money totals (for metrics, inspect and tests)."""
        state = self.state
        per_asset: dict[str, int] = dict.fromkeys(self.config.assets, 0)
        for trade in state.trades.values():
            per_asset[trade.asset] += 1
        free = sum(a.free for a in state.accounts.values())
        locked = sum(a.locked for a in state.accounts.values())
        reserved = sum(a.reserved for a in state.accounts.values())
        return {
            "accounts": len(state.accounts),
            "open_positions": len(state.trades),
            "positions_per_asset": per_asset,
            "free": free,
            "locked": locked,
            "reserved": reserved,
            "pending_orders": len(state.pending),
            "house": state.house,
            "deposits": state.deposits,
            "conserved": free + locked + reserved + state.house == state.deposits,
            "last_price_id": state.last_price_id,
            "last_command_id": state.last_command_id,
            "seq": state.seq,
        }


def _email(command: Command) -> str:
    if not command.email:
        raise Rejected("INVALID_EMAIL", "email is required", "email")
    return command.email
