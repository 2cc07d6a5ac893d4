"""The operator's controls at their edges: an open-interest limit to the unit, a per-asset
position count, a market state that touches only its asset, a run of band refusals that an
accepted price breaks, and the open interest rebuilt from a snapshot."""

from __future__ import annotations

from engine import messages as m
from engine.core import Engine
from engine.state import dump_state, load_state
from tests.engine.scenarios import ALICE, Market

BTC = "BTC_USDC"
ETH = "ETH_USDC"
OPS = "ops@example.com"


def market(**config: object) -> Market:
    mk = Market({BTC: 4, ETH: 4}, **config)  # type: ignore[arg-type]
    mk.engine.admins = frozenset({OPS})
    mk.account()
    mk.tick(BTC, "100", "101")
    mk.tick(ETH, "10", "10.01")
    return mk


def operator(mk: Market, order_id: str, command: str, **data: object) -> None:
    response, _ = mk.send(order_id, command, OPS, **data)
    assert response.status == m.SUCCESS, response.message


def test_open_interest_is_limited_to_the_unit_from_the_first_position() -> None:
    mk = market()
    operator(mk, "lim", m.SET_LIMITS, asset=BTC, maxOpenInterest="0.0001")
    # 0.0001 USD at 1.1x is 0.00011 USD of notional: one tenth of a unit past the limit
    code = mk.refused("t0", asset=BTC, direction="LONG", margin="0.0001", leverage=11)
    assert code == ("LIMIT_OPEN_INTEREST", "margin")
    mk.open("t1", asset=BTC, direction="LONG", margin="0.0001", leverage=10)  # exactly at it
    code = mk.refused("t2", asset=BTC, direction="SHORT", margin="0.0001", leverage=10)
    assert code == ("LIMIT_OPEN_INTEREST", "margin")
    mk.open("e1", asset=ETH, direction="LONG", margin="1")  # another asset: no limit
    assert mk.engine.open_interest == {BTC: 10, ETH: 100_000}


def test_positions_are_counted_per_asset_and_over_all_assets() -> None:
    mk = market()
    operator(mk, "lim", m.SET_LIMITS, asset=BTC, maxOpenPositionsPerAccount=2)
    operator(mk, "all", m.SET_LIMITS, maxOpenPositionsPerAccount=3)
    order = {"asset": BTC, "direction": "LONG", "margin": "1"}
    mk.open("t1", **order)
    mk.open("t2", **order)
    assert mk.refused("t3", **order) == ("LIMIT_POSITIONS", None)
    mk.open("e1", asset=ETH, direction="SHORT", margin="1")
    assert mk.refused("e2", asset=ETH, direction="SHORT", margin="1") == ("LIMIT_POSITIONS", None)
    mk.close("t1")
    mk.open("t4", **order)


def test_a_market_state_of_one_asset_leaves_the_others_firing() -> None:
    mk = market()
    mk.open("t1", asset=BTC, direction="LONG", margin="1", stopLossPrice="95")
    operator(mk, "eth", m.SET_MARKET_STATE, asset=ETH, state="CLOSE_ONLY")
    (event,) = mk.tick(BTC, "95", "96")
    assert (event.event_type, event.trade_id) == (m.TRADE_STOP_LOSS, "t1")


def test_an_accepted_price_ends_a_run_of_band_refusals() -> None:
    mk = market(price_band_bps=1_000, price_band_halt_after=3)
    for price in ["200", "200", "101", "200", "200"]:  # two refused, one taken, two refused
        mk.tick(BTC, price)
    assert mk.engine.state.markets == {}
    assert mk.engine.state.rejected == {"price_band": 4}
    mk.tick(BTC, "200")  # the third in a row
    assert mk.engine.state.markets == {BTC: "HALTED"}


def test_open_interest_is_rebuilt_from_a_snapshot() -> None:
    mk = market()
    mk.open("t1", asset=BTC, direction="LONG", margin="10", leverage=25)
    mk.open("t2", asset=BTC, direction="SHORT", margin="1", leverage=10)
    mk.open("e1", asset=ETH, direction="LONG", margin="2", leverage=1000)
    mk.close("t2")
    restored = Engine(state=load_state(dump_state(mk.engine.state)))
    assert (
        restored.open_interest
        == mk.engine.open_interest
        == {
            BTC: 100_000 * 25,
            ETH: 20_000 * 1000,
        }
    )
    assert ALICE in restored.user_trades


def test_operator_events_name_the_account_and_move_nothing_else() -> None:
    mk = market()
    response, (event,) = mk.send(
        "adj", m.ADJUST_BALANCE, OPS, email=ALICE, amount="12.5", reason="refund",
        transactionId="tx1",
    )  # fmt: skip
    assert response.status == m.SUCCESS
    assert (event.event_type, event.email, event.order_id) == (m.BALANCE_ADJUSTED, ALICE, "adj")
    assert (event.amount, event.balance, event.pnl) == (125_000, mk.free(), 0)
    _, (event,) = mk.send("halt", m.SET_MARKET_STATE, OPS, asset=ETH, state="HALTED")
    assert (event.event_type, event.asset, event.market_state) == (
        m.MARKET_STATE_CHANGED,
        ETH,
        "HALTED",
    )
    assert (event.amount, event.balance, event.margin_returned, event.close_price) == (0, 0, 0, 0)


def test_a_market_state_change_starts_the_band_count_again() -> None:
    mk = market(price_band_bps=1_000, price_band_halt_after=3)
    mk.tick(BTC, "200")
    mk.tick(BTC, "200")
    operator(mk, "close-only", m.SET_MARKET_STATE, asset=BTC, state="CLOSE_ONLY")
    mk.tick(BTC, "200")
    assert mk.engine.state.markets == {BTC: "CLOSE_ONLY"}  # one refusal since: not halted


def test_metrics_show_every_assets_state_and_open_interest_in_usd() -> None:
    mk = market()
    mk.open("t1", asset=BTC, direction="LONG", margin="10", leverage=25)
    operator(mk, "eth", m.SET_MARKET_STATE, asset=ETH, state="CLOSE_ONLY")
    assert mk.engine.market_states() == {BTC: "OPEN", ETH: "CLOSE_ONLY"}
    assert mk.engine.open_interest_usd() == {BTC: 25.0, ETH: 0.0}  # a gauge: 10 USD at 2.5x
