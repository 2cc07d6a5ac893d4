"""The engine's whole state as msgspec Structs, and its lossless (JSON) serialization.

Only facts live here; indexes that can be derived (trigger books, trades per user) are rebuilt
by ``engine.core.Engine`` on load, so a snapshot cannot disagree with itself.
"""

from __future__ import annotations

from typing import Any

import msgspec

from engine.config import EngineConfig


class Account(msgspec.Struct, gc=False):
    """A user's USD balances: ``free`` can be spent; ``locked`` is the margin of open trades;
    ``reserved`` the margin of pending orders (a third bucket: free + locked + reserved of every
    account + house == deposits)."""

    email: str
    free: int
    locked: int = 0
    deposited: int = 0
    reserved: int = 0


class Price(msgspec.Struct, gc=False, array_like=True):
    """The last price of an asset, in its decimals, and its stream time (ms)."""

    bid: int
    ask: int
    at_ms: int


class Trade(msgspec.Struct, gc=False, array_like=True, frozen=True):
    """An open position. Levels are 0 when unset; ``liquidation`` is always set (may be <= 0).

    Frozen: receipts (below) show a trade as it was when answered by holding the trade itself.
    """

    trade_id: str
    email: str
    asset: str
    is_long: bool
    margin: int
    leverage: int
    entry_price: int
    stop_loss: int
    take_profit: int
    liquidation: int
    opened_at: int
    seq: int
    trailing_distance: int = 0  # 0: no trailing stop (its level lives in ``EngineState.trails``)


class PendingOrder(msgspec.Struct, gc=False, array_like=True, frozen=True):
    """A LIMIT or STOP entry order waiting for its price; its margin is reserved.

    ``order_id`` becomes the trade's ID when it fills, ``seq`` the trade's seq (one counter for
    both, so index keys stay unique). Exits are 0 when unset; ``expires_at`` 0 = never.
    """

    order_id: str
    email: str
    asset: str
    is_long: bool
    is_stop: bool  # STOP (fills when the price moves through it) or LIMIT (at it or better)
    price: int
    margin: int
    leverage: int
    stop_loss: int
    take_profit: int
    trailing_distance: int
    expires_at: int
    placed_at: int
    seq: int


class ClosedTrade(msgspec.Struct, gc=False, array_like=True, frozen=True):
    """A closed position, kept for GET_CLOSED_TRADES (the last N per user)."""

    trade: Trade
    exit_price: int
    pnl: int  # realised, >= -margin
    total_return: int  # margin + pnl, credited to the free balance
    reason: str
    closed_at: int
    remaining: int = 0  # after a partial close, the margin left open (``trade.margin``: closed)


# --- the idempotency window --------------------------------------------------------------------
# A receipt keeps what an answer was built from, not the answer's dicts: the trade views of
# CREATE_TRADE, CLOSE_TRADE and GET_OPEN_TRADES are rebuilt from the frozen trades they show when
# an orderId is repeated (``engine.views.receipt_view``), which is rare. Holding those dicts for
# the whole window (100,000 commands by default) cost about a sixth of the mixed benchmark's time
# in allocator and cache traffic, and most of the window's memory.


class Opened(msgspec.Struct, tag="opened", array_like=True, frozen=True, gc=False):
    """A CREATE_TRADE answer: the trade opened and the free balance after it."""

    trade: Trade
    balance: int


class Closed(msgspec.Struct, tag="closed", array_like=True, frozen=True, gc=False):
    """A CLOSE_TRADE answer: the closed trade and the free balance after it."""

    closed: ClosedTrade
    balance: int


class AccountAnswer(msgspec.Struct, tag="account", array_like=True, frozen=True, gc=False):
    """A CREATE_ACCOUNT answer: whether it created the account, and its balances then."""

    created: bool
    free: int
    locked: int
    deposited: int


class Read(msgspec.Struct, tag="read", array_like=True, frozen=True, gc=False):
    """A read (GET_BALANCE, GET_OPEN_TRADES, ...): a repeat is answered again from the current
    state, so only the read itself is kept (a read changes nothing; keeping whole answers made
    snapshots grow with read traffic)."""

    command: str
    limit: int | None = None


class Adjusted(msgspec.Struct, tag="adjusted", array_like=True, frozen=True, gc=False):
    """An ADJUST_BALANCE answer: whose balance moved, by how much, why, and the balance after."""

    email: str
    amount: int
    balance: int
    reason: str
    transaction_id: str


class OpenTrades(msgspec.Struct, tag="open_trades", array_like=True, frozen=True, gc=False):
    """How snapshots before read receipts kept a GET_OPEN_TRADES answer; read, never written."""

    trades: tuple[Trade, ...]


class Placed(msgspec.Struct, tag="placed", array_like=True, frozen=True, gc=False):
    """A CREATE_ORDER answer (status PENDING) or a CANCEL_ORDER one (status CANCELLED): the
    order and the free and reserved balances after."""

    order: PendingOrder
    status: str
    balance: int
    reserved: int


class Modified(msgspec.Struct, tag="modified", array_like=True, frozen=True, gc=False):
    """A MODIFY_TRADE answer: the trade with its new exits and its trailing stop's level then."""

    trade: Trade
    trailing_stop: int


Answer = Opened | Closed | AccountAnswer | Read | Adjusted | OpenTrades | Placed | Modified


class Receipt(msgspec.Struct, array_like=True, frozen=True, gc=False):
    """An answered orderId: whose command it was, and its answer (rebuilt from ``answer`` when
    there is one, else ``data`` as it was sent; a ``Read`` is run again)."""

    email: str
    status: str
    message: str
    data: Any = None
    answer: Answer | None = None


class Limits(msgspec.Struct, array_like=True, frozen=True, gc=False):
    """Risk limits of one scope (engine units: USD in 1/10,000, leverage in tenths); None = no
    limit. Open interest is the notional of the open positions (margin x leverage) in USD."""

    max_leverage: int | None = None
    min_margin: int | None = None
    max_margin: int | None = None
    max_open_interest: int | None = None
    max_open_positions_per_account: int | None = None


class RememberedResponse(msgspec.Struct):
    """How snapshots before receipts kept an answered orderId. Read from old snapshots (and
    turned into receipts by ``load_state``), never written."""

    order_id: str
    status: str
    data: Any
    message: str
    timestamp: int
    seq: int
    email: str = ""  # absent in the oldest snapshots, which kept it in ``order_emails``


class EngineState(msgspec.Struct):
    """Everything the engine knows. Serialized whole into snapshots."""

    config: EngineConfig = msgspec.field(default_factory=EngineConfig)
    accounts: dict[str, Account] = msgspec.field(default_factory=dict)
    trades: dict[str, Trade] = msgspec.field(default_factory=dict)
    closed: dict[str, list[ClosedTrade]] = msgspec.field(default_factory=dict)
    prices: dict[str, Price] = msgspec.field(default_factory=dict)
    receipts: dict[str, Receipt] = msgspec.field(default_factory=dict)  # idempotency, oldest first
    # How older snapshots kept the window: ``load_state`` turns them into receipts, so both are
    # empty in every state the engine writes.
    orders: dict[str, RememberedResponse] = msgspec.field(default_factory=dict)
    order_emails: dict[str, str] = msgspec.field(default_factory=dict)
    house: int = 0
    deposits: int = 0
    seq: int = 0
    trade_seq: int = 0
    last_price_id: str = "0-0"
    last_command_id: str = "0-0"
    now_ms: int = 0
    rejected: dict[str, int] = msgspec.field(default_factory=dict)
    commands_applied: int = 0
    ticks_applied: int = 0
    # Input entries the operator set aside (``--skip-entry``): "price:<id>" / "command:<id>".
    quarantined: list[str] = msgspec.field(default_factory=list)
    # Operator controls (engine.markets, engine.admin): market states other than OPEN, limits
    # by scope ("*" or an asset), balance adjustments by transactionId, and each asset's run of
    # consecutive price-band rejects (for halting after N).
    markets: dict[str, str] = msgspec.field(default_factory=dict)
    limits: dict[str, Limits] = msgspec.field(default_factory=dict)
    adjustments: dict[str, Adjusted] = msgspec.field(default_factory=dict)
    band_rejects: dict[str, int] = msgspec.field(default_factory=dict)
    # Pending orders (issue 17), by ID; their margin is in ``Account.reserved``.
    pending: dict[str, PendingOrder] = msgspec.field(default_factory=dict)
    # Trailing stops: the trade's group (``trails``) and each group's mark (``trail_marks``): the
    # best watched price since the stops in it were set (LONG: highest bid; SHORT: lowest ask).
    # A stop's level is its group's mark -/+ the trade's ``trailing_distance`` (engine.trailing).
    trails: dict[str, int] = msgspec.field(default_factory=dict)
    trail_marks: dict[int, int] = msgspec.field(default_factory=dict)
    trail_group_seq: int = 0


# JSON, not msgpack: JSON integers have no width, so no amount can ever make a snapshot fail
# (msgpack stops at 2**64); measured as fast to encode and decode here (docs/durability).
_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(EngineState)
_msgpack_decoder = msgspec.msgpack.Decoder(EngineState)  # snapshots before JSON payloads


def dump_state(state: EngineState) -> bytes:
    """Serialize the state to JSON bytes (deterministic for the same state)."""
    return _encoder.encode(state)


def load_state(raw: bytes) -> EngineState:
    """Deserialize bytes from ``dump_state`` (or an older msgpack payload); raises
    ``msgspec.DecodeError`` on bad input.

    Older snapshots are brought up to date: remembered responses become receipts, and kept
    GET_OPEN_TRADES answers become read receipts.
    """
    state = (_decoder if raw[:1] == b"{" else _msgpack_decoder).decode(raw)
    for order_id, receipt in state.receipts.items():
        if isinstance(receipt.answer, OpenTrades):
            read = Read("GET_OPEN_TRADES")
            state.receipts[order_id] = Receipt(
                receipt.email, receipt.status, receipt.message, None, read
            )
    if state.orders:
        emails = state.order_emails
        state.receipts = {
            order_id: Receipt(
                response.email or emails.get(order_id, ""),
                response.status,
                response.message,
                response.data,
            )
            for order_id, response in state.orders.items()
        }
        state.orders = {}
    state.order_emails = {}
    return state
