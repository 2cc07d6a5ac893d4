"""Pending orders and position management (issue 17): the commands CREATE_ORDER, CANCEL_ORDER,
GET_OPEN_ORDERS, MODIFY_TRADE and a partial CLOSE_TRADE, and what a tick or the stream time does
to them (fills, trailing stops, expiry).

``OrderDesk`` is part of ``engine.core.Engine`` (same purity, same state); the engine calls it
from a few marked hooks. Its indexes (``engine.pending``, ``engine.trailing``) are derived from
``EngineState`` and rebuilt on load, like the trigger books.

Money: a pending order's margin moves free -> ``Account.reserved`` when placed, reserved ->
locked when it fills, reserved -> free when it is cancelled, expires or is rejected at fill. So
free + locked + reserved + house == deposits after every step.

Within one tick the order is: trailing marks move, exits fire (stop-loss, take-profit,
liquidation, trailing stops), then pending orders fill (a trade opened by a fill is first
checked by the next tick). Expiry runs before everything else of the first entry (price or
command) whose millisecond is at or after ``expiresAt``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

from engine import messages as m
from engine.markets import check_not_halted
from engine.messages import Command, Event, Output
from engine.money import liquidation_level, pnl
from engine.orders import (
    CreateOrderData,
    ModifyTradeData,
    OrderIdData,
    PartialCloseData,
    Rejected,
    amount,
    convert,
    exits,
    exits_fit,
    fresh_price,
    usd,
    validate_order,
)
from engine.pending import ExpiryIndex, PendingBook
from engine.state import (
    Account,
    Closed,
    ClosedTrade,
    Modified,
    PendingOrder,
    Placed,
    Price,
    Read,
    Trade,
)
from engine.trailing import Fired, TrailingBook
from engine.triggers import Entry
from engine.views import closed_view, order_view, placed_view, trade_view

if TYPE_CHECKING:
    from engine.core import Engine, Handled

TRAILING = 3  # the exit kind of a fired trailing stop (beside engine.triggers' kinds)
PENDING = "PENDING"
CANCELLED = "CANCELLED"
_replace = msgspec.structs.replace


class OrderDesk:
    """Pending orders, trailing stops, amends and partial closes of one engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.state = state = engine.state
        self.config = engine.config
        assets = self.config.assets
        self.books: dict[str, PendingBook] = {a: PendingBook() for a in assets}
        self.trails: dict[str, TrailingBook] = {a: TrailingBook(state) for a in assets}
        self.expiry = ExpiryIndex()
        self.user_orders: dict[str, dict[str, PendingOrder]] = {}
        by_asset: dict[str, list[PendingOrder]] = {}
        for order in state.pending.values():
            by_asset.setdefault(order.asset, []).append(order)
            self.user_orders.setdefault(order.email, {})[order.order_id] = order
        for asset, orders in by_asset.items():
            self.books[asset].load(orders)
        self.expiry.load(state.pending.values())
        trailing: dict[str, list[Trade]] = {}
        for trade in state.trades.values():
            if trade.trailing_distance:
                trailing.setdefault(trade.asset, []).append(trade)
        for asset, trades in trailing.items():
            self.trails[asset].load(trades)

    def handlers(self) -> dict[str, Any]:
        """The new commands, for the engine's handler table."""
        return {
            m.CREATE_ORDER: self.create_order,
            m.CANCEL_ORDER: self.cancel_order,
            m.GET_OPEN_ORDERS: self.get_open_orders,
            m.MODIFY_TRADE: self.modify_trade,
        }

    # --- commands ------------------------------------------------------------------------------

    def create_order(self, command: Command, outputs: list[Output]) -> Handled:
        engine, state = self.engine, self.state
        account = engine._account(command)
        data = convert(command.trade_data, CreateOrderData)
        (
            asset,
            is_long,
            is_stop,
            price,
            margin,
            leverage,
            stop_loss,
            take_profit,
            trailing,
            expires,
        ) = validate_order(data, account.free, state.prices, state.now_ms, self.config)
        self.engine.check_new_risk(asset, account.email, margin, leverage)
        order_id = command.order_id
        if order_id in state.trades or order_id in state.pending:
            raise Rejected("DUPLICATE_ORDER_ID", "orderId is the ID of an open trade", "orderId")
        state.trade_seq += 1
        order = PendingOrder(
            order_id,
            account.email,
            asset,
            is_long,
            is_stop,
            price,
            margin,
            leverage,
            stop_loss,
            take_profit,
            trailing,
            expires,
            state.now_ms,
            state.trade_seq,
        )
        account.free -= margin
        account.reserved += margin
        state.pending[order_id] = order
        self.books[asset].add(order)
        self.expiry.add(order)
        self.user_orders.setdefault(account.email, {})[order_id] = order
        outputs.append(self._order_event(m.ORDER_PLACED, order, account, -margin, order_id))
        decimals = self.config.assets[asset]
        view = placed_view(order, PENDING, decimals, account.free, account.reserved)
        return view, "Order placed", Placed(order, PENDING, account.free, account.reserved)

    def cancel_order(self, command: Command, outputs: list[Output]) -> Handled:
        account = self.engine._account(command)
        order_id = convert(command.trade_data, OrderIdData).orderId
        order = self.state.pending.get(order_id)
        if order is None or order.email != command.email:  # another's order: as if none
            raise Rejected("ORDER_NOT_FOUND", "no such pending order", "orderId")
        if self.state.markets:
            check_not_halted(self.state.markets, order.asset)
        self._remove(order)
        self.expiry.remove(order)
        self._release(order, account, m.ORDER_CANCELLED, command.order_id, "cancelled", outputs)
        decimals = self.config.assets[order.asset]
        view = placed_view(order, CANCELLED, decimals, account.free, account.reserved)
        return view, "Order cancelled", Placed(order, CANCELLED, account.free, account.reserved)

    def get_open_orders(self, command: Command, outputs: list[Output]) -> Handled:
        self.engine._account(command)
        orders = self.user_orders.get(command.email, {})
        assets = self.config.assets
        shown = [order_view(o, PENDING, assets[o.asset]) for o in orders.values()]
        return {"orders": shown}, "open orders", Read(m.GET_OPEN_ORDERS)

    def modify_trade(self, command: Command, outputs: list[Output]) -> Handled:
        engine, state = self.engine, self.state
        account = engine._account(command)
        data = convert(command.trade_data, ModifyTradeData)
        trade = state.trades.get(data.tradeId)
        if trade is None or trade.email != command.email:
            raise Rejected("TRADE_NOT_FOUND", "no such open trade", "tradeId")
        if state.markets:
            check_not_halted(state.markets, trade.asset)
        unset = msgspec.UNSET
        if (
            data.stopLossPrice is unset
            and data.takeProfitPrice is unset
            and (data.trailingDistance is unset)
        ):
            raise Rejected(
                "NOTHING_TO_MODIFY",
                "give stopLossPrice, takeProfitPrice or trailingDistance",
                "tradeId",
            )
        price = fresh_price(
            state.prices.get(trade.asset), trade.asset, state.now_ms, self.config.max_price_age_ms
        )
        decimals = self.config.assets[trade.asset]
        # validated as at creation: a LONG's stop below the bid, its target above the ask
        stop_in = None if data.stopLossPrice is unset else data.stopLossPrice
        target_in = None if data.takeProfitPrice is unset else data.takeProfitPrice
        stop_loss, take_profit = exits(
            stop_in, target_in, decimals, trade.is_long, price.bid, price.ask
        )
        if data.stopLossPrice is unset:
            stop_loss = trade.stop_loss
        if data.takeProfitPrice is unset:
            take_profit = trade.take_profit
        trailing = trade.trailing_distance
        reset = data.trailingDistance is not unset
        if data.trailingDistance is None:
            trailing = 0
        elif not isinstance(data.trailingDistance, msgspec.UnsetType):
            trailing = amount(data.trailingDistance, decimals, "trailingDistance")
        new = _replace(
            trade, stop_loss=stop_loss, take_profit=take_profit, trailing_distance=trailing
        )
        book = engine.books[trade.asset]
        book.remove(trade)
        trails = self.trails[trade.asset]
        if reset and trade.trailing_distance:
            trails.remove(trade)
        self._replace_trade(new)
        book.add(new)
        if reset and trailing:  # set anew: its mark starts at the price now
            trails.add(new, price.bid, price.ask)
        level = trails.side(new).level(new) if trailing else 0
        outputs.append(
            _replace(
                engine._trade_event(m.TRADE_MODIFIED, new, account, 0, command.order_id),
                pnl=0,  # _trade_event reads any type but TRADE_OPENED as a close
                margin_returned=0,
                total_return=0,
                stop_loss_price=stop_loss,
                take_profit_price=take_profit,
                trailing_distance=trailing,
                trailing_stop_price=level,
            )
        )
        view = trade_view(new, decimals, level if trailing else None)
        return view, "Trade modified", Modified(new, level)

    def close_part(self, command: Command, outputs: list[Output]) -> Handled | None:
        """CLOSE_TRADE with ``margin``: close that part of the position (its notional pro rata);
        None when it is the whole margin (the engine then closes the trade as usual)."""
        engine, state = self.engine, self.state
        account = engine._account(command)
        data = convert(command.trade_data, PartialCloseData)
        trade = state.trades.get(data.tradeId)
        if trade is None or trade.email != command.email:
            raise Rejected("TRADE_NOT_FOUND", "no such open trade", "tradeId")
        if data.margin is None:
            return None
        part = usd(data.margin, "margin")
        if part > trade.margin:
            raise Rejected("INVALID_MARGIN", "margin is above the trade's margin", "margin")
        if part == trade.margin:
            return None
        if state.markets:
            check_not_halted(state.markets, trade.asset)
        price = fresh_price(
            state.prices.get(trade.asset), trade.asset, state.now_ms, self.config.max_price_age_ms
        )
        exit_price = price.bid if trade.is_long else price.ask
        # PnL of the part closed, floored against the trader; the house takes the remainder
        profit = pnl(part, trade.leverage, trade.entry_price, exit_price, trade.is_long)
        returned = max(0, part + profit)
        account.locked -= part
        account.free += returned
        state.house += part - returned
        engine._add_interest(trade.asset, -part * trade.leverage)
        rest = trade.margin - part
        liquidation = liquidation_level(
            rest, trade.leverage, trade.entry_price, trade.is_long, self.config.maintenance_bps
        )
        new = _replace(trade, margin=rest, liquidation=liquidation)
        book = engine.books[trade.asset]
        book.remove(trade)
        self._replace_trade(new)
        book.add(new)  # the trailing stop's keys (distance, seq) are unchanged
        closed_part = _replace(trade, margin=part)
        closed = ClosedTrade(
            closed_part, exit_price, returned - part, returned, m.TRADE_CLOSED, state.now_ms, rest
        )
        history = state.closed.setdefault(trade.email, [])
        history.append(closed)
        if len(history) > self.config.closed_history:
            del history[0]
        event = engine._trade_event(
            m.TRADE_CLOSED, closed_part, account, returned, command.order_id, exit_price
        )
        outputs.append(_replace(event, closed_margin=part, remaining_margin=rest))
        view = closed_view(closed, self.config.assets[trade.asset], account.free)
        return view, "Trade partially closed", Closed(closed, account.free)

    # --- hooks from the engine -----------------------------------------------------------------

    def expire(self) -> list[Output]:
        """Remove the orders expired at the stream time now (the engine calls this when it
        reaches ``expiry.next_ms``), releasing their margin."""
        outputs: list[Output] = []
        for order_id in self.expiry.expired(self.state.now_ms):
            order = self.state.pending[order_id]
            self._remove(order)
            account = self.state.accounts[order.email]
            self._release(order, account, m.ORDER_EXPIRED, "", "expired", outputs)
        return outputs

    def fill(self, asset: str, price: Price, outputs: list[Output]) -> None:
        """Fill the pending orders of ``asset`` that ``price`` crosses."""
        filled = self.books[asset].filled(price.bid, price.ask)
        if not filled:
            return
        engine, state, config = self.engine, self.state, self.config
        for order_id in filled:
            order = state.pending[order_id]
            self.expiry.remove(order)
            account = state.accounts[order.email]
            is_long = order.is_long
            fill_price = price.ask if is_long else price.bid
            reason = exits_fit(is_long, order.stop_loss, order.take_profit, price.bid, price.ask)
            if not reason and order_id in state.trades:  # an orderId reused past the window
                reason = "tradeId in use by an open trade"
            if not reason and (state.markets or state.limits):
                try:  # the market and the limits as they are now, as for CREATE_TRADE
                    self.engine.check_new_risk(asset, order.email, order.margin, order.leverage)
                except Rejected as exc:
                    reason = exc.message
            if reason:
                self._release(order, account, m.ORDER_REJECTED, "", reason, outputs)
                continue
            del state.pending[order_id]
            self._unindex(order)
            trade = Trade(
                order_id,
                order.email,
                asset,
                is_long,
                order.margin,
                order.leverage,
                fill_price,
                order.stop_loss,
                order.take_profit,
                liquidation_level(
                    order.margin, order.leverage, fill_price, is_long, config.maintenance_bps
                ),
                state.now_ms,
                order.seq,
                order.trailing_distance,
            )
            account.reserved -= order.margin
            account.locked += order.margin
            state.trades[order_id] = trade
            engine._index(trade)
            engine._add_interest(asset, order.margin * order.leverage)
            engine.books[asset].add(trade)
            if trade.trailing_distance:
                self.trails[asset].add(trade, price.bid, price.ask)
            outputs.append(
                self._order_event(m.ORDER_FILLED, order, account, 0, "", entry_price=fill_price)
            )
            outputs.append(self.opened_event(trade, account, 0, ""))

    def opened_event(self, trade: Trade, account: Account, change: int, order_id: str) -> Event:
        """TRADE_OPENED; with the trailing distance when the trade has a trailing stop."""
        event = self.engine._trade_event(m.TRADE_OPENED, trade, account, change, order_id)
        if trade.trailing_distance:
            event = _replace(event, trailing_distance=trade.trailing_distance)
        return event

    def trailing_distance(self, value: int | str, asset: str) -> int:
        """A trailingDistance of CREATE_TRADE, validated before any mutation."""
        return amount(value, self.config.assets[asset], "trailingDistance")

    def trail(self, trade: Trade, price: Price) -> None:
        """Set the trailing stop of a trade just opened at ``price``."""
        self.trails[trade.asset].add(trade, price.bid, price.ask)

    def trailing_fired(self, event: Event, trade: Trade, level: int) -> Event:
        """TRADE_TRAILING_STOP with the stop's distance and the level it fired at."""
        return _replace(event, trailing_distance=trade.trailing_distance, trailing_stop_price=level)

    def trailing_view(self, trade: Trade) -> msgspec.Raw:
        """An open trade with a trailing stop, showing the stop's level now."""
        level = self.trails[trade.asset].side(trade).level(trade)
        return trade_view(trade, self.config.assets[trade.asset], level)

    def untrail(self, trade: Trade) -> None:
        """Remove a closing trade's trailing stop, unless it is the one that fired."""
        if trade.trade_id in self.state.trails:
            self.trails[trade.asset].remove(trade)

    def merge_fired(self, fired: list[Entry], trailed: list[Fired]) -> list[Entry]:
        """One exit per trade from the trigger book's and the trailing stops' fired lists.

        When both fired for one trade (a gap through both), the one nearer the old price is the
        reason: for a LONG the higher level, for a SHORT the lower; on a tie the stop-loss or
        liquidation. Order: the trigger book's, then the trailing stops' that are alone.
        """
        trailing = {trade_id: (level, seq) for level, seq, trade_id in trailed}
        out: list[Entry] = []
        trades = self.state.trades
        for entry in fired:
            level, seq, _kind, trade_id = entry
            other = trailing.pop(trade_id, None)
            if other is not None:
                trade = trades[trade_id]
                nearer = other[0] > level if trade.is_long else other[0] < level
                if nearer:
                    entry = (other[0], seq, TRAILING, trade_id)
            out.append(entry)
        out.extend((level, seq, TRAILING, trade_id) for trade_id, (level, seq) in trailing.items())
        return out

    # --- internals -----------------------------------------------------------------------------

    def _replace_trade(self, new: Trade) -> None:
        self.state.trades[new.trade_id] = new
        self.engine.user_trades[new.email][new.trade_id] = new

    def _remove(self, order: PendingOrder) -> None:
        """Take a pending order out of the price index (not the expiry index)."""
        self.books[order.asset].remove(order)

    def _unindex(self, order: PendingOrder) -> None:
        orders = self.user_orders[order.email]
        del orders[order.order_id]
        if not orders:
            del self.user_orders[order.email]

    def _release(
        self,
        order: PendingOrder,
        account: Account,
        event_type: str,
        order_id: str,
        reason: str,
        outputs: list[Output],
    ) -> None:
        """Forget ``order`` and give its reserved margin back to the free balance."""
        del self.state.pending[order.order_id]
        self._unindex(order)
        account.reserved -= order.margin
        account.free += order.margin
        outputs.append(
            self._order_event(event_type, order, account, order.margin, order_id, reason=reason)
        )

    def _order_event(
        self,
        event_type: str,
        order: PendingOrder,
        account: Account,
        change: int,
        order_id: str,
        entry_price: int = 0,
        reason: str = "",
    ) -> Event:
        state = self.state
        state.seq += 1
        return Event(
            event_type=event_type,
            trade_id=order.order_id,
            email=order.email,
            asset=order.asset,
            pnl=0,
            margin_returned=0,
            close_price=0,
            timestamp=state.now_ms,
            seq=state.seq,
            order_id=order_id,
            direction="LONG" if order.is_long else "SHORT",
            margin=order.margin,
            leverage=order.leverage,
            entry_price=entry_price,
            amount=change,
            balance=account.free,
            price_decimals=self.config.assets[order.asset],
            order_type="STOP" if order.is_stop else "LIMIT",
            order_price=order.price,
            stop_loss_price=order.stop_loss,
            take_profit_price=order.take_profit,
            trailing_distance=order.trailing_distance,
            reason=reason,
            expires_at=order.expires_at,
        )
