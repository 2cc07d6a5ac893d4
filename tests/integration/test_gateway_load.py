"""Issue 14, item 4: under 1,000 concurrent requests the gateway answers with latency or 429,
never a false 503 "unreachable" (redis-py's default pool used to refuse past ~100).

Loopback only and bounded: one burst of 1,000 requests on 1,000 connections, each request an
engine round trip (a rate-limit + revocation check in Redis, XADD, the engine's answer).
"""

from __future__ import annotations

import asyncio
from collections import Counter

import httpx
import pytest

from tests.gateway.stack import GatewayProcess, SmtpSink, sign_in

pytest_plugins = ["tests.gateway.fixtures"]

CONCURRENCY = 1000
UNLIMITED = {
    "RATE_IP_PER_MIN": "0",
    "RATE_USER_PER_MIN": "0",
    "ENGINE_TIMEOUT_MS": "60000",
}


async def _burst(url: str, token: str) -> Counter[tuple[int, str]]:
    """Fire CONCURRENCY requests at once (half trades, half balance reads); count the answers
    by (status, error code)."""
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=0)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=120, headers=headers) as c:
        start = asyncio.Event()

        async def one(i: int) -> tuple[int, str]:
            await start.wait()
            if i % 2:
                r = await c.get("/api/v1/account/balance/usd")
            else:
                trade = {"asset": "BTC_USDC", "direction": "LONG", "margin": 1}
                r = await c.post("/api/v1/trade/create", json=trade)
            body = r.json()
            return r.status_code, body.get("error", "") if isinstance(body, dict) else ""

        tasks = [asyncio.create_task(one(i)) for i in range(CONCURRENCY)]
        await asyncio.sleep(0)
        start.set()
        return Counter(await asyncio.gather(*tasks))


def _run(redis_url, smtp: SmtpSink, workdir, **env: str) -> Counter[tuple[int, str]]:
    gw = GatewayProcess(redis_url, workdir, SMTP_URL=smtp.url, **UNLIMITED, **env).start()
    try:
        token = sign_in(gw, smtp, "load@example.com").cookies["authToken"]
        return asyncio.run(_burst(gw.url, token))
    finally:
        gw.stop()


@pytest.mark.timeout(600)
def test_a_thousand_concurrent_requests_get_answers_not_503(
    redis_url, smtp: SmtpSink, workdir, engine, priced
):
    counts = _run(redis_url, smtp, workdir)
    assert sum(counts.values()) == CONCURRENCY
    assert not [k for k in counts if k[0] >= 500], counts
    assert set(counts) <= {(200, ""), (429, "busy")}, counts
    assert counts[(200, "")] > 0, counts


@pytest.mark.timeout(600)
def test_an_exhausted_pool_is_429_busy_never_503(
    redis_url, smtp: SmtpSink, workdir, engine, priced
):
    # Three connections (the two stream readers hold two while they block) and almost no wait:
    # requests find the pool busy, which is back-pressure (429 + Retry-After), not an outage.
    counts = _run(redis_url, smtp, workdir, REDIS_POOL_SIZE="3", REDIS_POOL_WAIT_S="0.001")
    assert sum(counts.values()) == CONCURRENCY
    assert not [k for k in counts if k[0] >= 500], counts
    assert counts[(429, "busy")] > 0, counts
