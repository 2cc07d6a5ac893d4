"""``GET /api/v1/candles`` and ``/api/v1/ticker`` through the gateway process, against candles the
builder wrote to a real PostgreSQL; the ``ticker`` WebSocket message; bad input answered 4xx."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from websockets.sync.client import connect

from engine.messages import PriceItem
from engine.wire import encode_price_batch
from tests.gateway.stack import GatewayProcess
from worker.candle_store import write_batch
from worker.migrate import migrate

pytest_plugins = ["tests.gateway.fixtures"]

ASSETS = {"BTC_USDC": 4, "ETH_USDC": 4, "SOL_USDC": 4, "ADA_USDC": 4}
MIN = 60_000


def _entries(ticks: list[tuple[int, str, int]]) -> list[tuple[str, dict[str, str]]]:
    return [
        (f"{ms}-{i}", encode_price_batch([PriceItem(a, bid, 4, bid, bid + 10)], "t", 0))
        for i, (ms, a, bid) in enumerate(ticks)
    ]


@pytest.fixture
def now_minute() -> int:
    now = int(time.time() * 1000)
    return now - now % MIN


@pytest.fixture
def stored(database_url: str, now_minute: int) -> list[tuple[int, str, int]]:
    """BTC: one tick a minute for the last 30 hours, rising 1 USD a minute from 599640 (minute
    0) to 601439 (minute 1799), then 603000 in the current minute; SOL: two ticks 25 h ago."""
    start = now_minute - 30 * 60 * MIN
    ticks = [(start + i * MIN + 5, "BTC_USDC", 6_000_000_000 + (i - 360) * 10_000)
             for i in range(30 * 60 + 1)]
    ticks[-1] = (now_minute + 1, "BTC_USDC", 6_030_000_000)
    ticks = [(now_minute - 25 * 60 * MIN, "SOL_USDC", 1_500_000),
             (now_minute - 25 * 60 * MIN + 1, "SOL_USDC", 1_499_999), *ticks]

    async def go() -> None:
        conn = await asyncpg.connect(database_url)
        try:
            await migrate(conn)
            await write_batch(conn, "engine_input", _entries(ticks), ASSETS, 0)
        finally:
            await conn.close()

    asyncio.run(go())
    return ticks


@pytest.fixture
def market(redis_url: str, database_url: str, workdir: Path, stored) -> Iterator[httpx.Client]:
    proc = GatewayProcess(redis_url, workdir, DATABASE_URL=database_url,
                          RATE_IP_PER_MIN="0").start()
    try:
        with proc.client() as client:
            client.ws_url = proc.url.replace("http", "ws") + "/api/v1/ws"  # type: ignore[attr-defined]
            yield client
    finally:
        proc.stop()


def test_the_newest_candles_with_the_open_one_marked(market: httpx.Client, now_minute: int):
    r = market.get("/api/v1/candles", params={"asset": "BTC_USDC", "interval": "1m",
                                              "limit": 3})
    assert r.status_code == 200, r.text
    bars = r.json()
    assert [b["startTime"] for b in bars] == [now_minute - 2 * MIN, now_minute - MIN, now_minute]
    assert [b["closed"] for b in bars] == [True, True, False]
    last = bars[-1]
    assert last["open"] == last["close"] == "603000" and last["ticks"] == 1
    assert last["endTime"] == now_minute + MIN
    assert bars[0]["end"] == bars[1]["start"]  # Backpack's UTC text, contiguous
    assert bars[0]["close"] == "601438"  # minute 1798: 600000 + (1798 - 360) USD


def test_hourly_candles_aggregate_exactly_and_page_forward(market: httpx.Client, now_minute: int):
    first = market.get("/api/v1/candles", params={"asset": "BTC_USDC", "interval": "1h",
                                                  "startTime": 0, "limit": 2}).json()
    assert len(first) == 2 and first[0]["ticks"] in range(1, 61)
    # The next page starts at the last candle's end.
    nxt = market.get("/api/v1/candles", params={
        "asset": "BTC_USDC", "interval": "1h", "startTime": first[-1]["endTime"] // 1000,
        "limit": 1000}).json()
    assert nxt[0]["startTime"] == first[-1]["endTime"]
    everything = first + nxt
    assert sum(b["ticks"] for b in everything) == 30 * 60 + 1
    assert all(b["closed"] for b in everything[:-1]) and not everything[-1]["closed"]
    # A full hour: 60 ticks one minute apart, rising 1 USD a minute.
    full = next(b for b in everything if b["ticks"] == 60)
    assert int(full["close"]) - int(full["open"]) == 59
    assert full["low"] == full["open"] and full["high"] == full["close"]


def test_ticker_of_one_asset_and_of_all(market: httpx.Client, now_minute: int):
    t = market.get("/api/v1/ticker", params={"asset": "BTC_USDC"}).json()
    # The window: the 1440 one-minute candles up to the current one. Its first candle is
    # the one starting 1439 minutes ago, minute 30*60 - 1439 = 361: 600001 USD.
    assert t["lastPrice"] == "603000"
    assert t["firstPrice"] == "600001"
    assert t["priceChange"] == "2999"
    assert t["priceChangePercent"] == "0.49"  # 2999 / 600001 = 0.4998 %, truncated
    assert t["high"] == "603000" and t["low"] == "600001"
    assert t["ticks"] == 1440
    everything = market.get("/api/v1/ticker").json()
    assert [x["symbol"] for x in everything] == ["BTC_USDC", "SOL_USDC"]
    sol = everything[1]
    # No candle in the last 24 h: the last price stays, the 24 h figures are null.
    assert sol["lastPrice"] == "149.9999" and sol["priceChange"] is None and sol["ticks"] == 0


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"asset": "DOGE_USDC", "interval": "1m"}, "asset"),
        ({"interval": "1m"}, "asset"),
        ({"asset": "BTC_USDC", "interval": "2m"}, "interval"),
        ({"asset": "BTC_USDC"}, "interval"),
        ({"asset": "BTC_USDC", "interval": "1m", "startTime": 200, "endTime": 100}, "startTime"),
        ({"asset": "BTC_USDC", "interval": "1m", "limit": 1001}, "limit"),
        ({"asset": "BTC_USDC", "interval": "1m", "limit": 0}, "limit"),
        ({"asset": "BTC_USDC", "interval": "1m", "limit": "ten"}, "limit"),
        ({"asset": "BTC_USDC", "interval": "1m", "startTime": "-5"}, "startTime"),
        ({"asset": "BTC_USDC", "interval": "1m", "endTime": "1e9"}, "endTime"),
    ],
)
def test_bad_candle_requests_get_a_400_naming_the_field(market: httpx.Client, params, field):
    r = market.get("/api/v1/candles", params=params)
    assert r.status_code == 400, r.text
    assert r.json()["field"] == field and r.json()["error"] == "validation_error"


def test_bad_ticker_requests(market: httpx.Client):
    assert market.get("/api/v1/ticker", params={"asset": "NOPE"}).status_code == 400
    assert market.get("/api/v1/ticker", params={"asset": "ETH_USDC"}).status_code == 404


def test_a_ticker_message_reaches_every_websocket(market: httpx.Client):
    with connect(market.ws_url, origin=str(market.base_url)) as ws:  # type: ignore[attr-defined]
        for _ in range(100):
            message = json.loads(ws.recv(timeout=30))
            if message["type"] == "ticker":
                break
        else:
            raise AssertionError("no ticker message")
    btc = next(t for t in message["tickers"] if t["symbol"] == "BTC_USDC")
    assert btc["lastPrice"] == "603000" and btc["priceChangePercent"] == "0.49"


def test_without_a_database_market_data_is_503(redis_url: str, workdir: Path):
    proc = GatewayProcess(redis_url, workdir).start()
    try:
        with proc.client() as client:
            r = client.get("/api/v1/candles", params={"asset": "BTC_USDC", "interval": "1m"})
            assert r.status_code == 503 and r.json()["error"] == "unavailable"
    finally:
        proc.stop()
