"""Events and queries as the ledger and a trader read them: the direction and signs of every
event, zero PnL on opening events, one unbroken run of ``seq`` across everything the engine
says, and the closed history newest first, cut exactly at its limit."""

from __future__ import annotations

import msgspec

from engine import messages as m
from engine.messages import Event, Response
from engine.wire import decode_response, encode_response
from tests.engine.driver import as_bytes, units
from tests.engine.scenarios import ALICE, BOB, USD, Market

BTC = "BTC_USDC"
P = 10_000


def market(**config: object) -> Market:
    mk = Market(**config)  # type: ignore[arg-type]
    mk.account()
    mk.tick(BTC, "100", "101")
    return mk


def test_account_created_event_credits_the_deposit() -> None:
    mk = Market()
    _, (event,) = mk.send("acc", m.CREATE_ACCOUNT, ALICE)
    assert (event.event_type, event.email, event.order_id) == (m.ACCOUNT_CREATED, ALICE, "acc")
    assert (event.amount, event.balance, event.pnl, event.trade_id) == (
        5_000 * USD,
        5_000 * USD,
        0,
        "",
    )
    assert (event.margin_returned, event.close_price, event.asset) == (0, 0, "")


def test_trade_opened_events_name_the_direction_debit_the_margin_and_carry_no_pnl() -> None:
    mk = market()
    for order_id, direction, entry in [("l1", "LONG", 101 * P), ("s1", "SHORT", 100 * P)]:
        response, (event,) = mk.send(
            order_id, m.CREATE_TRADE, ALICE, asset=BTC, direction=direction, margin="12.5",
            leverage=30,
        )  # fmt: skip
        assert response.status == m.SUCCESS
        assert (event.event_type, event.trade_id, event.order_id, event.direction) == (
            m.TRADE_OPENED,
            order_id,
            order_id,
            direction,
        )
        assert (event.amount, event.balance, event.margin, event.leverage) == (
            -125_000,
            mk.free(),
            125_000,
            30,
        )
        assert (event.entry_price, event.price_decimals) == (entry, 4)
        assert (event.email, event.asset, event.timestamp) == (ALICE, BTC, mk.ms)
        trade = mk.engine.state.trades[order_id]
        assert (trade.opened_at, trade.email, trade.asset) == (mk.ms, ALICE, BTC)
        assert (event.pnl, event.margin_returned, event.total_return) == (0, 0, 0)
        assert (event.close_price, event.exit_price) == (0, 0)
    assert mk.free() == 5_000 * USD - 250_000


def test_close_events_name_the_direction_and_credit_what_is_returned() -> None:
    mk = market()
    mk.open("s1", asset=BTC, direction="SHORT", margin="100", leverage=10)
    mk.open("l1", asset=BTC, direction="LONG", margin="100", leverage=10, stopLossPrice="90")
    mk.tick(BTC, "95", "96")
    event = mk.close("s1")  # 1x short from 100 to 96: +4 USD
    assert (event.event_type, event.direction, event.order_id) == (
        m.TRADE_CLOSED,
        "SHORT",
        "close-s1",
    )
    assert (event.pnl, event.total_return, event.amount) == (4 * USD, 104 * USD, 104 * USD)
    assert event.balance == mk.free()
    (event,) = mk.tick(BTC, "90", "91")  # 1x long from 101 to 90: -10.891089.. USD
    assert (event.event_type, event.direction, event.order_id) == (m.TRADE_STOP_LOSS, "LONG", "")
    assert (event.pnl, event.amount, event.balance) == (-108_911, 891_089, mk.free())
    assert mk.free() == 5_000 * USD + 4 * USD - 108_911


def test_seq_runs_up_by_one_across_every_response_and_event() -> None:
    mk = market()
    mk.account(BOB)
    mk.open("t1", asset=BTC, direction="LONG", margin="100", leverage=100)
    mk.open("t2", email=BOB, asset=BTC, direction="SHORT", margin="10", leverage=10)
    mk.send("t1", m.CREATE_TRADE, ALICE)  # a repeat
    mk.send("t1", m.CREATE_TRADE, BOB)  # someone else's orderId
    mk.send("bad", m.CREATE_TRADE, ALICE, asset="NOPE", margin="1")
    mk.send("q1", m.GET_OPEN_TRADES, ALICE)
    mk.send("q1", m.GET_OPEN_TRADES, ALICE)  # a repeated read
    mk.tick(BTC, "90", "91")  # liquidates t1
    mk.close("t2", email=BOB)
    mk.send("h", m.GET_CLOSED_TRADES, ALICE)
    seqs = [o.seq for o in mk.outputs]
    assert seqs == list(range(1, len(seqs) + 1))
    assert len(seqs) == mk.engine.state.seq
    kinds = [type(o) for o in mk.outputs]
    assert kinds.count(Event) == 6 and kinds.count(Response) == 11


def trade_ids(response: Response) -> list[str]:
    """The tradeIds an answer lists (each trade view is kept as its JSON text)."""
    assert response.status == m.SUCCESS
    return [msgspec.json.decode(bytes(t))["tradeId"] for t in response.data["trades"]]


def closed_ids(mk: Market, order_id: str, **data: object) -> list[str]:
    return trade_ids(mk.send(order_id, m.GET_CLOSED_TRADES, ALICE, **data)[0])


def test_closed_history_is_newest_first_and_cut_exactly_at_its_limit() -> None:
    mk = market()
    for i in range(5):
        mk.open(f"t{i}", asset=BTC, direction="LONG", margin="1")
        mk.close(f"t{i}")
    assert closed_ids(mk, "all") == ["t4", "t3", "t2", "t1", "t0"]
    assert closed_ids(mk, "three", limit=3) == ["t4", "t3", "t2"]
    assert closed_ids(mk, "one", limit=1) == ["t4"]
    assert closed_ids(mk, "none", limit=0) == []
    assert closed_ids(mk, "negative", limit=-1) == []
    assert closed_ids(mk, "more", limit=6) == ["t4", "t3", "t2", "t1", "t0"]


def test_closed_history_keeps_only_the_newest_n_per_user() -> None:
    mk = market(closed_history=3)
    for i in range(5):
        mk.open(f"t{i}", asset=BTC, direction="SHORT", margin="1")
        mk.close(f"t{i}")
    assert closed_ids(mk, "all") == ["t4", "t3", "t2"]
    assert [c.trade.trade_id for c in mk.engine.state.closed[ALICE]] == ["t2", "t3", "t4"]


def test_open_trades_are_listed_in_opening_order_and_leave_when_closed() -> None:
    mk = market()
    for i in range(3):
        mk.open(f"t{i}", asset=BTC, direction="LONG", margin="1")
    mk.close("t1")
    response, _ = mk.send("q", m.GET_OPEN_TRADES, ALICE)
    assert trade_ids(response) == ["t0", "t2"]
    assert mk.engine.user_trades[ALICE].keys() == {"t0", "t2"}
    mk.close("t0")
    mk.close("t2")
    assert ALICE not in mk.engine.user_trades


def test_a_repeated_history_query_runs_again_with_its_own_limit() -> None:
    mk = market()
    for i in range(2):
        mk.open(f"t{i}", asset=BTC, direction="LONG", margin="1")
        mk.close(f"t{i}")
    assert closed_ids(mk, "h", limit=1) == ["t1"]
    mk.open("t2", asset=BTC, direction="LONG", margin="1")
    mk.close("t2")
    assert closed_ids(mk, "h") == ["t2"]  # the same orderId: the state now, its limit of 1


def test_commands_are_counted_and_an_unknown_one_is_counted_as_rejected() -> None:
    mk = market()
    response, _ = mk.send("u", "TRANSFER_ALL", ALICE)
    assert (response.status, response.data["code"]) == (m.ERROR, "UNKNOWN_COMMAND")
    mk.send("q", m.GET_BALANCE, ALICE)
    state = mk.engine.state
    assert state.rejected == {"command_unknown": 1}
    assert state.commands_applied == 3  # the account, the unknown command, the query


def test_create_account_answers_its_balances_whether_new_or_existing() -> None:
    mk = market()
    mk.open("t1", asset=BTC, direction="LONG", margin="12.5")
    mk.account(BOB)
    for order_id, email, created, free, locked in [
        ("again", ALICE, False, 49_875_000, 125_000),
        ("bob-again", BOB, False, 5_000 * USD, 0),
    ]:
        response, events = mk.send(order_id, m.CREATE_ACCOUNT, email)
        data = decode_response(as_bytes(encode_response(response))).data
        assert events == [] and response.message == "account already exists"
        assert data["created"] is created
        assert (units(data["usdBalance"]), units(data["lockedUsd"])) == (
            free,
            locked,
        )
        assert units(data["initialUsdBalance"]) == 5_000 * USD
    response, _ = mk.send("carol", m.CREATE_ACCOUNT, "carol@example.com")
    data = decode_response(as_bytes(encode_response(response))).data
    assert (response.message, data["created"]) == ("account created successfully", True)
    assert (units(data["usdBalance"]), units(data["lockedUsd"])) == (5_000 * USD, 0)


def test_every_account_command_from_an_unknown_email_is_refused_as_such() -> None:
    mk = market()
    mk.open("t1", asset=BTC, direction="LONG", margin="1")
    commands = [
        (m.CLOSE_TRADE, {"tradeId": "t1"}),
        (m.CREATE_TRADE, {"asset": BTC, "direction": "LONG", "margin": "1"}),
        (m.GET_OPEN_TRADES, {}),
        (m.GET_CLOSED_TRADES, {}),
        (m.GET_BALANCE, {}),
        (m.GET_USD_BALANCE, {}),
    ]
    for i, (command, data) in enumerate(commands):
        response, events = mk.send(f"x{i}", command, "nobody@example.com", **data)
        assert (response.status, response.data, events) == (
            m.ERROR,
            {"code": "ACCOUNT_NOT_FOUND", "field": "email"},
            [],
        ), command
        response, _ = mk.send(f"e{i}", command, "", **data)
        assert response.data == {"code": "INVALID_EMAIL", "field": "email"}, command
    assert mk.engine.state.trades.keys() == {"t1"}


def test_the_summary_counts_positions_per_asset_and_totals_the_money() -> None:
    mk = Market({"BTC_USDC": 4, "ETH_USDC": 4, "SOL_USDC": 4})
    mk.account()
    mk.account(BOB)
    mk.tick(BTC, "100", "101")
    mk.tick("ETH_USDC", "10", "10.01")
    mk.open("t1", asset=BTC, direction="LONG", margin="10")
    mk.open("t2", email=BOB, asset=BTC, direction="SHORT", margin="20")
    mk.open("t3", asset="ETH_USDC", direction="SHORT", margin="30")
    mk.close("t3")
    summary = mk.engine.summary()
    assert summary["positions_per_asset"] == {"BTC_USDC": 2, "ETH_USDC": 0, "SOL_USDC": 0}
    assert (summary["accounts"], summary["open_positions"]) == (2, 2)
    # t3, a 1x SHORT of 30 USD, sold at 10 and bought back at 10.01: 0.03 USD to the house
    assert (summary["free"], summary["locked"], summary["house"]) == (
        10_000 * USD - 30 * USD - 300,
        30 * USD,
        300,
    )
    assert (summary["deposits"], summary["conserved"]) == (10_000 * USD, True)
    assert summary["seq"] == mk.engine.state.seq == len(mk.outputs)
    assert (summary["last_price_id"], summary["last_command_id"]) == ("1004-4", f"{mk.ms}-{mk.n}")
    assert mk.engine.open_positions() == 2
