"""The live WebSocket through the real gateway and engine: ticks, own events only, resume."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

import httpx
import orjson
import pytest
import redis
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from tests.gateway.stack import GatewayProcess, SmtpSink, push_prices, sign_in

pytest_plugins = ["tests.gateway.fixtures"]

TRADE = {"asset": "ETH_USDC", "direction": "SHORT", "margin": 50, "leverage": 50}


def _ws(gateway: GatewayProcess, client: httpx.Client | None = None, query: str = "", **kw: Any):
    headers = {}
    if client is not None:
        headers["Cookie"] = f"authToken={client.cookies['authToken']}"
    url = gateway.url.replace("http", "ws") + "/api/v1/ws" + query
    return connect(url, additional_headers=headers, open_timeout=10, **kw)


def _until(ws: ClientConnection, pred, timeout: float = 10.0) -> tuple[dict, list[dict]]:
    """Read messages until one matches ``pred``; returns it and everything read before it."""
    seen: list[dict] = []
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        assert left > 0, f"no matching message; saw {seen}"
        msg = orjson.loads(ws.recv(timeout=left))
        if pred(msg):
            return msg, seen
        seen.append(msg)


def _refused_with(ws_cm, code: int) -> None:
    """The handshake succeeds, then the server closes with ``code`` (never an HTTP 403)."""
    with ws_cm as ws, pytest.raises(ConnectionClosed) as info:
        ws.recv(timeout=10)
    assert info.value.rcvd is not None and info.value.rcvd.code == code


def _event(kind: str, trade_id: str | None = None):
    def pred(msg: dict) -> bool:
        return (
            msg["type"] == "event"
            and msg["event"]["eventType"] == kind
            and (trade_id is None or msg["event"]["tradeId"] == trade_id)
        )

    return pred


@pytest.fixture
def alice(gateway: GatewayProcess, smtp: SmtpSink, priced) -> httpx.Client:
    return sign_in(gateway, smtp, "alice@example.com")


@pytest.fixture
def bob(gateway: GatewayProcess, smtp: SmtpSink, priced) -> httpx.Client:
    return sign_in(gateway, smtp, "bob@example.com")


def test_anonymous_socket_gets_price_ticks(gateway: GatewayProcess, redis_url: str):
    with _ws(gateway) as ws:
        hello = orjson.loads(ws.recv(timeout=10))
        assert hello == {"type": "hello", "user": None}
        push_prices(redis_url, {"SOL_USDC": (1_510_000, 1_509_000, 1_511_000)})
        msg, _ = _until(ws, lambda m: m["type"] == "prices")
        assert msg["prices"][0] | {"timestamp": 0} == {
            "asset": "SOL_USDC", "price": "1510000", "bid": "1509000", "ask": "1511000",
            "decimal": 4, "timestamp": 0,
        }  # fmt: skip
    r = httpx.get(gateway.url + "/api/v1/price?asset=SOL_USDC")
    assert r.status_code == 200
    assert r.json() | {"timestamp": 0, "id": ""} == {
        "asset": "SOL_USDC", "price": "1510000", "decimal": 4, "bid": "1509000",
        "ask": "1511000", "timestamp": 0, "id": "",
    }  # fmt: skip


def test_own_events_arrive_and_other_users_never_do(
    gateway: GatewayProcess, alice: httpx.Client, bob: httpx.Client, redis_url: str
):
    with _ws(gateway, alice) as wa, _ws(gateway, bob) as wb:
        assert orjson.loads(wa.recv(timeout=10))["user"] == "alice@example.com"
        assert orjson.loads(wb.recv(timeout=10))["user"] == "bob@example.com"
        a_trade = alice.post("/api/v1/trade/create", json=TRADE).json()
        a_id = a_trade["engineResponse"]["data"]["tradeId"]
        msg, _ = _until(wa, _event("TRADE_OPENED", a_id))
        assert msg["event"]["email"] == "alice@example.com"
        # The event exactly as the engine wrote it on engine_events (decimal strings).
        stream = redis.Redis.from_url(redis_url)
        try:
            [(_id, fields)] = stream.xrange("engine_events", msg["id"], msg["id"])
        finally:
            stream.close()
        assert msg["event"] == {k.decode(): v.decode() for k, v in fields.items()}
        assert msg["event"]["margin"] == "50.00"
        b_id = bob.post("/api/v1/trade/create", json=TRADE).json()["engineResponse"]["data"][
            "tradeId"
        ]
        # Events reach sockets in stream order, so anything of Alice's would come before this.
        _, before = _until(wb, _event("TRADE_OPENED", b_id))
        assert all(m["type"] != "event" for m in before), before
        alice.post("/api/v1/trade/close", json={"tradeId": a_id})
        closed, before = _until(wa, _event("TRADE_CLOSED", a_id))
        assert all(m.get("event", {}).get("tradeId") != b_id for m in before)
        assert Decimal(closed["event"]["closePrice"]) > 0


def test_resume_after_reconnect_replays_missed_events_once(
    gateway: GatewayProcess, alice: httpx.Client, bob: httpx.Client
):
    with _ws(gateway, alice) as ws:
        ws.recv(timeout=10)
        trade_id = alice.post("/api/v1/trade/create", json=TRADE).json()["engineResponse"]["data"][
            "tradeId"
        ]
        opened, _ = _until(ws, _event("TRADE_OPENED", trade_id))
    # Offline: Alice's trade closes and she opens another; Bob trades too.
    alice.post("/api/v1/trade/close", json={"tradeId": trade_id})
    bob.post("/api/v1/trade/create", json=TRADE)
    second = alice.post("/api/v1/trade/create", json=TRADE).json()["engineResponse"]["data"]
    with _ws(gateway, alice, query=f"?lastEventId={opened['id']}") as ws:
        ws.recv(timeout=10)  # hello
        first, _ = _until(ws, lambda m: m["type"] == "event")
        nxt, _ = _until(ws, lambda m: m["type"] == "event")
        assert first["event"]["eventType"] == "TRADE_CLOSED"
        assert first["event"]["tradeId"] == trade_id
        assert nxt["event"]["eventType"] == "TRADE_OPENED"
        assert nxt["event"]["tradeId"] == second["tradeId"]
        # Live events keep flowing after the backlog, and the backlog is not sent twice.
        alice.post("/api/v1/trade/close", json={"tradeId": second["tradeId"]})
        live, between = _until(ws, _event("TRADE_CLOSED", second["tradeId"]))
        assert [m for m in between if m["type"] == "event"] == []
        assert live["id"] > nxt["id"]


def test_socket_refusals_close_with_the_documented_codes(
    gateway: GatewayProcess, alice: httpx.Client
):
    for bad in ("abc", "not-an-id", "1-2-3", "%C2%B2-1"):
        _refused_with(_ws(gateway, alice, query=f"?lastEventId={bad}"), 4400)
    _refused_with(
        connect(
            gateway.url.replace("http", "ws") + "/api/v1/ws",
            additional_headers={"Cookie": "authToken=forged.token.value"},
            open_timeout=10,
        ),
        4401,
    )
    _refused_with(_ws(gateway, alice, origin="https://evil.example"), 4403)  # type: ignore[arg-type]
    # Control: the same user from our own origin is accepted.
    with _ws(gateway, alice, origin=gateway.url) as ws:  # type: ignore[arg-type]
        assert orjson.loads(ws.recv(timeout=10))["user"] == "alice@example.com"
    token = alice.cookies["authToken"]
    assert alice.delete("/api/v1/auth/logout").status_code == 200
    _refused_with(
        connect(
            gateway.url.replace("http", "ws") + "/api/v1/ws",
            additional_headers={"Cookie": f"authToken={token}"},
            open_timeout=10,
        ),
        4401,
    )


def test_sockets_per_user_are_capped(redis_url, smtp: SmtpSink, workdir, engine, priced):
    gw = GatewayProcess(redis_url, workdir, SMTP_URL=smtp.url, WS_MAX_PER_USER="2").start()
    try:
        carol = sign_in(gw, smtp, "carol@example.com")
        with _ws(gw, carol) as one, _ws(gw, carol) as two:
            one.recv(timeout=10)
            two.recv(timeout=10)
            _refused_with(_ws(gw, carol), 4429)  # the third socket of the user
            with _ws(gw) as anonymous:  # the cap is per user, not global
                assert orjson.loads(anonymous.recv(timeout=10))["user"] is None
    finally:
        gw.stop()


def test_open_socket_closes_when_its_session_signs_out(gateway: GatewayProcess, alice):
    with _ws(gateway, alice) as ws:
        ws.recv(timeout=10)
        assert alice.delete("/api/v1/auth/logout").status_code == 200
        with pytest.raises(ConnectionClosed) as info:
            for _ in range(100):
                ws.recv(timeout=15)
        assert info.value.rcvd is not None and info.value.rcvd.code == 4401
