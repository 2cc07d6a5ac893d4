"""Conformance with the reference protocol at the stream level, against the real engine process.

Each request is the reference documentation's (shared/seeds/004_14ec7ce8c615527b.txt) written to
Redis as it shows it; each check is a documented key with its documented meaning and unit. The
same cases through ``POST /api/v1/engine`` are in tests/integration/test_gateway_conformance.py.
"""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.integration.engine_harness import (
    COMMANDS,
    EVENTS,
    PRICES,
    EngineProcess,
    responses_by_order,
    wait_for,
)

EMAIL = "user123@gmail.com"
# "Event amounts are decimal strings": "-5000.00", "1000.00", "201.23"
DECIMAL_STRING = re.compile(r"^-?[0-9]+\.[0-9]{2,}$")


@pytest.fixture
def engine(redis_url: str, tmp_path: Path) -> Iterator[EngineProcess]:
    proc = EngineProcess(redis_url, tmp_path / "snaps").start()
    yield proc
    proc.close()


def price_entry(client: redis.Redis, items: list[dict[str, Any]]) -> None:
    """An engine_input entry exactly as documented: base64 JSON in ``data``."""
    data = base64.b64encode(json.dumps(items).encode()).decode()
    client.xadd(
        PRICES,
        {"source": "poller", "data": data, "format": "base64_v1", "timestamp": "1758117494823"},
    )
    # The engine merges its two streams by entry ID; within one millisecond the two streams'
    # sequence numbers are unrelated, so the next command must come a millisecond later to be
    # ordered after this price (docs/durability: ordering).
    time.sleep(0.002)


def command(client: redis.Redis, order_id: str, name: str, trade_data: str) -> dict[str, Any]:
    """A backend-to-engine entry as documented (tradeData is JSON text); the parsed answer."""
    client.xadd(
        COMMANDS,
        {
            "orderId": order_id,
            "command": name,
            "email": EMAIL,
            "tradeData": trade_data,
            "timestamp": "1758117494823",
        },
    )
    fields = wait_for(
        lambda: responses_by_order(client).get(order_id), 20, f"response to {order_id}"
    )[0]
    assert set(fields) >= {b"orderId", b"status", b"data", b"message", b"timestamp"}
    return {
        "status": fields[b"status"].decode(),
        # a client reads JSON numbers; Decimal keeps what the engine wrote, exactly
        "data": json.loads(fields[b"data"], parse_float=Decimal),
        "message": fields[b"message"].decode(),
    }


def events(client: redis.Redis) -> list[dict[str, str]]:
    return [{k.decode(): v.decode() for k, v in f.items()} for _, f in client.xrange(EVENTS)]


def test_the_documented_session_over_the_streams(client: redis.Redis, engine: EngineProcess):
    # GET /price's example, 236.14 at 6 decimals, as the poller documents it: a digit string
    price_entry(client, [{"asset": "SOL_USDC", "price": "236140000", "decimal": 6}])

    r = command(client, "acc", "CREATE_ACCOUNT", "{}")
    assert r["status"] == "success"
    assert r["data"]["email"] == EMAIL
    assert r["data"]["initialUsdBalance"] == 5000
    assert r["data"]["assets"] == ["USD"]

    r = command(client, "usd", "GET_USD_BALANCE", "{}")
    assert r["data"] == r["data"] | {"email": EMAIL, "usdBalance": 5000}

    # the documented tradeData: margin 1000 is 1000 USD, leverage 50 is 5x
    r = command(
        client,
        "t1",
        "CREATE_TRADE",
        '{"asset":"SOL_USDC","direction":"LONG","margin":1000,"leverage":50,'
        '"stopLossPrice":230.50,"takeProfitPrice":250.75}',
    )
    assert r["status"] == "success", r
    trade = r["data"]
    assert trade["email"] == EMAIL and trade["tradeId"] == "t1"
    assert trade["entryPrice"] == Decimal("236.14")
    assert trade["margin"] == 1000
    assert trade["leverage"] == 5  # answers give the multiplier (docs/protocol.md)
    assert trade["stopLossPrice"] == Decimal("230.5")
    assert trade["takeProfitPrice"] == Decimal("250.75")
    # 5x LONG: liquidated near a 20 % fall
    assert Decimal("188.9") < trade["liquidationPrice"] < Decimal("189")

    r = command(client, "bal", "GET_BALANCE", "{}")
    assert r["data"]["email"] == EMAIL
    assert r["data"]["balances"]["USD"] == 4000

    # a margin of 0.07 USD, as a JSON number: exact
    r = command(
        client, "t2", "CREATE_TRADE", '{"asset":"SOL_USDC","direction":"SHORT","margin":0.07}'
    )
    assert r["status"] == "success", r
    assert r["data"]["margin"] == Decimal("0.07")
    assert r["data"]["leverage"] == 1  # the documented default, 10 tenths

    # the price moves to 240.00, written as a JSON integer at 4 decimals
    price_entry(client, [{"asset": "SOL_USDC", "price": 2400000, "decimal": 4}])
    r = command(client, "c1", "CLOSE_TRADE", '{"tradeId":"t1"}')
    assert r["status"] == "success", r
    close = r["data"]
    assert close["email"] == EMAIL and close["tradeId"] == "t1" and close["asset"] == "SOL_USDC"
    assert close["closePrice"] == 240
    # 5 x 1000 USD x (240 - 236.14) / 236.14, floored at 4 decimals
    assert close["pnl"] == Decimal("81.7311")
    assert close["marginReturned"] == 1000
    assert close["totalReturn"] == Decimal("1081.7311")
    r = command(client, "usd2", "GET_USD_BALANCE", "{}")
    assert r["data"]["usdBalance"] == Decimal("5081.7311") - Decimal("0.07")

    # a stop-loss fires: its event writes amounts as decimal strings
    command(
        client,
        "t3",
        "CREATE_TRADE",
        '{"asset":"SOL_USDC","direction":"LONG","margin":"100","leverage":10,'
        '"stopLossPrice":"230.50"}',
    )
    price_entry(client, [{"asset": "SOL_USDC", "price": "229000000", "decimal": 6}])
    fired = wait_for(
        lambda: [e for e in events(client) if e["eventType"] == "TRADE_STOP_LOSS"], 20, "stop"
    )[0]
    assert fired["tradeId"] == "t3" and fired["email"] == EMAIL and fired["asset"] == "SOL_USDC"
    for key in ("pnl", "marginReturned", "closePrice"):
        assert DECIMAL_STRING.match(fired[key]), (key, fired[key])
    assert fired["closePrice"] == "229.00"
    # 1x on 100 USD from 240 to 229: -4.583333... floored to -4.5834
    assert fired["pnl"] == "-4.5834"
    assert fired["marginReturned"] == "95.4166"
    assert set(fired) >= {"eventType", "tradeId", "email", "asset", "timestamp"}


def test_prices_in_either_documented_form_apply_and_others_are_refused(
    client: redis.Redis, engine: EngineProcess
):
    command(client, "acc", "CREATE_ACCOUNT", "{}")
    trade = '{"asset":"ETH_USDC","direction":"LONG","margin":10}'
    price_entry(client, [{"asset": "ETH_USDC", "price": "4303920000", "decimal": 6}])
    assert command(client, "t1", "CREATE_TRADE", trade)["data"]["entryPrice"] == Decimal(
        "4303.92"
    )
    # neither a digit string nor an integer: refused, the last price stays
    for bad in ("4303.93", "-1", "4e3", 4303.93):
        price_entry(client, [{"asset": "ETH_USDC", "price": bad, "decimal": 2}])
    price_entry(client, [{"asset": "ETH_USDC", "price": 430394, "decimal": 2}])
    assert command(client, "t2", "CREATE_TRADE", trade)["data"]["entryPrice"] == Decimal(
        "4303.94"
    )


@pytest.mark.parametrize(
    ("trade_data", "field"),
    [
        ('{"asset":"SOL_USDC","direction":"LONG","margin":1e3}', "margin"),
        ('{"asset":"SOL_USDC","direction":"LONG","margin":-5}', "margin"),
        ('{"asset":"SOL_USDC","direction":"LONG","margin":0}', "margin"),
        ('{"asset":"SOL_USDC","direction":"LONG","margin":0.00001}', "margin"),
        ('{"asset":"SOL_USDC","direction":"LONG","margin":"NaN"}', "margin"),
        ('{"asset":"SOL_USDC","direction":"LONG","margin":10,"takeProfitPrice":1e30}',
         "takeProfitPrice"),
        ('{"asset":"SOL_USDC","direction":"LONG","margin":10,'
         '"takeProfitPrice":"99999999999999999999"}', "takeProfitPrice"),
        ('{"asset":"SOL_USDC","direction":"LONG","margin":10,"stopLossPrice":230.123456}',
         "stopLossPrice"),
    ],
)
def test_amounts_that_are_not_exact_or_in_range_are_refused_naming_the_field(
    client: redis.Redis, engine: EngineProcess, trade_data: str, field: str
):
    price_entry(client, [{"asset": "SOL_USDC", "price": "236140000", "decimal": 6}])
    command(client, "acc", "CREATE_ACCOUNT", "{}")
    r = command(client, "bad", "CREATE_TRADE", trade_data)
    assert r["status"] == "error"
    assert r["data"] == {"code": "INVALID_AMOUNT", "field": field}
    assert command(client, "usd", "GET_USD_BALANCE", "{}")["data"]["usdBalance"] == 5000
