"""The gateway's defences over real HTTP: CSRF, body limit, rate limits, headers, CORS, startup."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx
import pytest

from tests.gateway.stack import ROOT, GatewayProcess, SmtpSink, sign_in

pytest_plugins = ["tests.gateway.fixtures"]

TRADE = {"asset": "BTC_USDC", "direction": "LONG", "margin": 1}


@pytest.fixture
def alice(gateway: GatewayProcess, smtp: SmtpSink, priced) -> httpx.Client:
    return sign_in(gateway, smtp, "alice@example.com")


def test_cookie_requests_that_change_state_need_the_csrf_token(
    gateway: GatewayProcess, alice: httpx.Client
):
    cookies = {"authToken": alice.cookies["authToken"]}
    bare = gateway.client(cookies=cookies)
    r = bare.post("/api/v1/trade/create", json=TRADE)
    assert r.status_code == 403 and r.json()["error"] == "csrf"
    r = bare.post("/api/v1/trade/create", json=TRADE, headers={"X-CSRF-Token": "0" * 64})
    assert r.status_code == 403
    assert bare.delete("/api/v1/auth/logout").status_code == 403
    # Reads need no token; the right token passes; a foreign Origin is refused even with it.
    assert bare.get("/api/v1/trades/open").status_code == 200
    token = {"X-CSRF-Token": alice.cookies["csrfToken"]}
    assert bare.post("/api/v1/trade/create", json=TRADE, headers=token).status_code == 200
    evil = {**token, "Origin": "https://evil.example"}
    assert bare.post("/api/v1/trade/create", json=TRADE, headers=evil).status_code == 403
    # A Bearer token is never sent by a browser on its own: no CSRF token needed.
    bearer = gateway.client(headers={"Authorization": f"Bearer {cookies['authToken']}"})
    assert bearer.post("/api/v1/trade/create", json=TRADE).status_code == 200


def test_oversized_bodies_get_413(gateway: GatewayProcess, alice: httpx.Client):
    big = b'{"asset":"' + b"A" * 20_000 + b'"}'
    json_type = {"content-type": "application/json"}
    r = alice.post("/api/v1/trade/create", content=big, headers=json_type)
    assert r.status_code == 413

    def chunks():
        for _ in range(40):
            yield b" " * 1024  # streamed without Content-Length

    r = alice.post("/api/v1/trade/create", content=chunks())
    assert r.status_code == 413
    r = gateway.client().post("/api/v1/user/signup", content=b"x" * 17_000)
    assert r.status_code == 413


def test_rate_limits_per_ip_and_per_user(redis_url, smtp: SmtpSink, workdir, engine, priced):
    gw = GatewayProcess(
        redis_url, workdir, SMTP_URL=smtp.url, RATE_USER_PER_MIN="4", RATE_IP_PER_MIN="50"
    ).start()
    try:
        alice = sign_in(gw, smtp, "alice@example.com")
        bob = sign_in(gw, smtp, "bob@example.com")
        codes = [alice.get("/api/v1/trades/open").status_code for _ in range(6)]
        assert codes[:4] == [200] * 4 and codes[4:] == [429, 429]
        limited = alice.get("/api/v1/trades/open")
        assert int(limited.headers["retry-after"]) >= 1
        assert bob.get("/api/v1/trades/open").status_code == 200  # per user, not global
        anon = gw.client()
        codes = [
            anon.get("/api/v1/supportedAssets", headers={"X-Forwarded-For": f"10.0.0.{i}"})
            for i in range(50)
        ]
        # The IP budget (shared by everyone above) is spent, and a client cannot pick another
        # bucket with X-Forwarded-For: no proxy is trusted unless TRUSTED_PROXIES says so.
        assert codes[-1].status_code == 429
    finally:
        gw.stop()


def test_sign_in_mail_is_rate_limited_per_address(redis_url, smtp, workdir, engine):
    gw = GatewayProcess(
        redis_url, workdir, SMTP_URL=smtp.url, RATE_SIGNUP_EMAIL_PER_HOUR="2"
    ).start()
    try:
        client = gw.client()
        codes = [
            client.post("/api/v1/user/signup", json={"email": "spam@example.com"}).status_code
            for _ in range(3)
        ]
        assert codes == [202, 202, 429]
        ok = client.post("/api/v1/user/signup", json={"email": "ok@example.com"})
        assert ok.status_code == 202
        for to in ("spam@example.com", "spam@example.com", "ok@example.com"):
            smtp.wait_for(to)
    finally:
        gw.stop()


def test_security_headers_and_json_errors(gateway: GatewayProcess):
    r = httpx.get(gateway.url + "/api/v1/supportedAssets")
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["referrer-policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    assert r.headers["cache-control"] == "no-store"
    assert "server" not in r.headers
    r = httpx.get(gateway.url + "/api/v1/nope")
    assert r.status_code == 404 and r.json()["error"] == "not_found"
    r = httpx.put(gateway.url + "/api/v1/trade/create")
    assert r.status_code == 405
    for bad in ("", "?asset=", "?asset=DOGE", "?asset=%00"):
        r = httpx.get(gateway.url + "/api/v1/price" + bad)
        assert r.status_code == 400 and r.json()["field"] == "asset"
    assert httpx.get(gateway.url + "/docs").status_code == 200
    assert "/api/v1/trade/create" in httpx.get(gateway.url + "/openapi.json").json()["paths"]
    assert httpx.get(gateway.url + "/").status_code == 200


def test_cors_allows_only_configured_origins(redis_url, smtp, workdir, engine):
    gw = GatewayProcess(
        redis_url, workdir, SMTP_URL=smtp.url, CORS_ORIGINS="https://app.example"
    ).start()
    try:
        preflight = {"Access-Control-Request-Method": "POST"}
        ok = httpx.options(
            gw.url + "/api/v1/trade/create", headers={"Origin": "https://app.example", **preflight}
        )
        assert ok.headers["access-control-allow-origin"] == "https://app.example"
        assert ok.headers["access-control-allow-credentials"] == "true"
        no = httpx.options(
            gw.url + "/api/v1/trade/create", headers={"Origin": "https://evil.example", **preflight}
        )
        assert "access-control-allow-origin" not in no.headers
    finally:
        gw.stop()


def test_probes(gateway: GatewayProcess, engine):
    assert httpx.get(gateway.url + "/healthz").json() == {"status": "ok"}
    assert httpx.get(gateway.url + "/livez").status_code == 200
    ready = httpx.get(gateway.url + "/readyz")
    assert ready.status_code == 200 and ready.json() == {
        "status": "ready", "redis": True, "engine": True
    }  # fmt: skip
    metrics = httpx.get(gateway.url + "/metrics").text
    assert 'gateway_http_requests_total{route="/readyz",method="GET",status="200"} 1' in metrics


def _start(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("GATEWAY_", "JWT_"))}
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args],
        env={**clean, "SMTP_URL": "smtp://127.0.0.1:1", **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )


@pytest.mark.parametrize(
    "env",
    [
        {},
        {"GATEWAY_ENV": "production"},
        {"JWT_SECRET": "secret"},
        {"JWT_SECRET": "dev-only-insecure-jwt-secret-change-me-0000"},
        {"JWT_SECRET": "short-but-not-default"},
    ],
)
def test_production_refuses_missing_or_default_secrets(env: dict[str, str]):
    done = _start(env)
    assert done.returncode == 2
    assert "JWT_SECRET" in done.stderr


def test_help_lists_every_setting():
    done = _start({}, "--help")
    assert done.returncode == 0
    for var in ("REDIS_URL", "JWT_SECRET", "SMTP_URL", "MAIL_FROM", "CORS_ORIGINS", "GATEWAY_ENV"):
        assert var in done.stdout
