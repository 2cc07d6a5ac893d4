"""The acceptance run of sharding: a real 6-node Redis Cluster, 2 engine shards, 2 gateways.

Accounts land on both shards; a sign-in link asked for through one gateway is followed through
the other; trades go through either gateway and each user's own events come on the WebSocket of
either; with one shard's engine killed (-9), the other shard's users keep trading through both
gateways, and the killed shard, recovered, answers its user's retried order (same
Idempotency-Key) with the result it had, once.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from websockets.sync.client import connect

from engine.messages import PriceItem
from engine.shards import ShardMap
from engine.wire import encode_price_batch
from tests.gateway.stack import GatewayProcess, SmtpSink, sign_in
from tests.integration.engine_harness import EngineProcess, wait_for
from tests.integration.shard_harness import client_for, env_of, users_of

SHARDS = ShardMap(2, cluster=True)
TRADE = {"asset": "ETH_USDC", "direction": "LONG", "margin": 50, "leverage": 50}


def _prices(client: Any) -> None:
    item = PriceItem("ETH_USDC", 2_000_000, 4, 2_000_000, 2_001_000)
    fields = encode_price_batch([item], "test", int(time.time() * 1000))
    for k in SHARDS.all():
        client.xadd(SHARDS.streams(k).prices, fields)


@pytest.fixture
def stack(cluster_url: str, tmp_path: Path) -> Iterator[dict[str, Any]]:
    env = env_of(SHARDS)
    smtp = SmtpSink().start()
    engines = [
        EngineProcess(cluster_url, tmp_path / "snapshots", "--shard", str(k),
                      log=tmp_path / f"engine-{k}.log")
        for k in SHARDS.all()
    ]  # fmt: skip
    gateways = [
        GatewayProcess(cluster_url, tmp_path, SMTP_URL=smtp.url, **env) for _ in range(2)
    ]
    client = client_for(cluster_url, cluster=True)
    try:
        for e in engines:
            e.start(env=env)
        for e in engines:
            e.wait_event("caught_up")
        _prices(client)
        for g in gateways:
            g.start()
        yield {"engines": engines, "gateways": gateways, "smtp": smtp, "redis": client}
    finally:
        for g in gateways:
            g.stop()
        for e in engines:
            e.close()
        smtp.stop()
        client.close()


def _ws(gateway: GatewayProcess, http: Any) -> Any:
    url = gateway.url.replace("http", "ws") + "/api/v1/ws"
    cookie = {"Cookie": f"authToken={http.cookies['authToken']}"}
    return connect(url, additional_headers=cookie, open_timeout=10)


def _opened_event(ws: Any, trade_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 15
    while True:
        msg = orjson.loads(ws.recv(timeout=max(0.1, deadline - time.monotonic())))
        if msg["type"] == "event" and msg["event"]["tradeId"] == trade_id:
            return msg["event"]


def test_two_shards_on_a_cluster_through_two_gateways(stack: dict[str, Any]) -> None:
    a, b = stack["gateways"]
    smtp = stack["smtp"]
    alice, bob = users_of(SHARDS, 0, 1, "alice")[0], users_of(SHARDS, 1, 1, "bob")[0]
    # Sign-in tokens are in the cluster: the link asked for through A works through B.
    assert a.client().post("/api/v1/user/signup", json={"email": bob}).status_code == 202
    link = smtp.link_for(bob)
    http_bob = b.client()
    assert http_bob.get(link.replace(a.url, "")).status_code == 303
    http_bob.headers["X-CSRF-Token"] = http_bob.cookies["csrfToken"]
    http_alice = sign_in(b, smtp, alice)
    # Each account is on its own shard: its ACCOUNT_CREATED is on that shard's events stream.
    redis = stack["redis"]
    for email, shard in ((alice, 0), (bob, 1)):
        events = redis.xrange(SHARDS.streams(shard).events)
        assert any(f[b"email"].decode() == email for _, f in events)
        other = redis.xrange(SHARDS.streams(1 - shard).events)
        assert not any(f[b"email"].decode() == email for _, f in other)
    # Trades through either gateway; own events on the WebSocket of the other one.
    with _ws(b, http_alice) as ws_alice, _ws(a, http_bob) as ws_bob:
        for user_http, gateway, ws in ((http_alice, a, ws_alice), (http_bob, b, ws_bob)):
            user_http.base_url = gateway.url
            r = user_http.post("/api/v1/trade/create", json=TRADE)
            assert r.status_code == 200, r.text
            trade_id = r.json()["engineResponse"]["data"]["tradeId"]
            assert _opened_event(ws, trade_id)["eventType"] == "TRADE_OPENED"
    for user_http in (http_alice, http_bob):
        balance = user_http.get("/api/v1/account/balance").json()
        assert balance["engineResponse"]["data"]["balances"]["USD"] == 4950
    # Kill shard 1's engine: shard 0's user keeps trading through both gateways.
    engines = stack["engines"]
    engines[1].kill()
    for gateway in (a, b):
        http_alice.base_url = gateway.url
        assert http_alice.post("/api/v1/trade/create", json=TRADE).status_code == 200
    http_bob.base_url = a.url
    key = {"Idempotency-Key": "bob-during-outage"}
    assert http_bob.post("/api/v1/trade/create", json=TRADE, headers=key).status_code == 504
    engines[1].start(recover=True, env=env_of(SHARDS))
    engines[1].wait_event("caught_up")
    first = wait_for(
        lambda: (r := http_bob.post("/api/v1/trade/create", json=TRADE, headers=key)).status_code
        == 200 and r,
        30,
        "bob's order answered after recovery",
    )
    http_bob.base_url = b.url
    again = http_bob.post("/api/v1/trade/create", json=TRADE, headers=key)
    assert again.json()["engineResponse"] == first.json()["engineResponse"]
    balances = {
        email: h.get("/api/v1/account/balance").json()["engineResponse"]["data"]["balances"]
        for email, h in ((alice, http_alice), (bob, http_bob))
    }
    assert balances == {alice: {"USD": 4850}, bob: {"USD": 4900}}  # the retried order once
