"""Order validation in isolation: pure, ordered checks, exact units."""

from __future__ import annotations

import pytest

from engine.config import EngineConfig
from engine.orders import CreateTradeData, Rejected, fresh_price, validate_open
from engine.state import Price

P = 10_000
PRICES = {"BTC_USDC": Price(59_990 * P, 60_010 * P, 1_000)}


def order(**kw) -> CreateTradeData:
    return CreateTradeData(**({"asset": "BTC_USDC", "margin": "100", "direction": "long"} | kw))


def test_a_valid_long_fills_at_the_ask_in_exact_units() -> None:
    got = validate_open(order(stopLossPrice="59000.5"), 10**9, PRICES, 1_000, EngineConfig())
    assert got == ("BTC_USDC", True, 1_000_000, 10, 60_010 * P, 590_005_000, 0)


def test_a_short_fills_at_the_bid() -> None:
    got = validate_open(order(direction="SHORT"), 10**9, PRICES, 1_000, EngineConfig())
    assert (got[1], got[4]) == (False, 59_990 * P)


def test_the_first_failing_check_is_reported() -> None:
    # bad margin and a stale price: margin is checked first
    with pytest.raises(Rejected) as err:
        validate_open(order(margin=0), 10**9, PRICES, 10**9, EngineConfig())
    assert (err.value.code, err.value.field) == ("INVALID_AMOUNT", "margin")
    with pytest.raises(Rejected) as err:
        validate_open(order(), 10**9, PRICES, 10**9, EngineConfig())
    assert (err.value.code, err.value.field) == ("STALE_PRICE", "asset")


def test_validation_does_not_touch_its_inputs() -> None:
    prices = dict(PRICES)
    with pytest.raises(Rejected):
        validate_open(order(takeProfitPrice=1), 10**9, prices, 1_000, EngineConfig())
    assert prices == PRICES


def test_fresh_price_refuses_missing_and_old_prices() -> None:
    with pytest.raises(Rejected, match="no price"):
        fresh_price(None, "BTC_USDC", 0, 10)
    assert fresh_price(PRICES["BTC_USDC"], "BTC_USDC", 1_010, 10) is PRICES["BTC_USDC"]
    with pytest.raises(Rejected, match="too old"):
        fresh_price(PRICES["BTC_USDC"], "BTC_USDC", 1_011, 10)
