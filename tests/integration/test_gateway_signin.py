"""The whole sign-in through real parts: gateway process, SMTP server, Redis, engine process."""

from __future__ import annotations

import time

import jwt
import redis

from gateway.config import DEV_JWT_SECRET
from tests.gateway.stack import GatewayProcess, SmtpSink, sign_in

pytest_plugins = ["tests.gateway.fixtures"]


def _path(link: str) -> str:
    return "/" + link.split("/", 3)[3]


def test_sign_up_mail_link_trade_and_log_out(gateway: GatewayProcess, smtp: SmtpSink, priced):
    client = gateway.client()
    r = client.post("/api/v1/user/signup", json={"email": "Alice@Example.com"})
    assert r.status_code == 202
    assert "token" not in r.text
    link = smtp.link_for("alice@example.com")
    r = client.get(_path(link))
    assert r.status_code == 303 and r.headers["location"] == "/"
    set_cookie = r.headers.get_list("set-cookie")
    auth_cookie = next(c for c in set_cookie if c.startswith("authToken="))
    assert "HttpOnly" in auth_cookie and "SameSite=lax" in auth_cookie
    assert "Max-Age=604800" in auth_cookie
    me = client.get("/api/v1/auth/me").json()
    assert me["email"] == "alice@example.com"
    client.headers["X-CSRF-Token"] = client.cookies["csrfToken"]
    r = client.get("/api/v1/account/balance/usd")
    assert r.status_code == 200, r.text
    assert r.json()["engineResponse"]["data"]["usdBalance"] == 5000  # human units: 5000 USD
    r = client.post(
        "/api/v1/trade/create", json={"asset": "BTC_USDC", "direction": "LONG", "margin": "100"}
    )
    assert r.status_code == 200, r.text
    assert r.json()["success"] is True
    r = client.delete("/api/v1/auth/logout")
    assert r.status_code == 200
    assert "authToken" not in client.cookies
    assert client.get("/api/v1/account/balance").status_code == 401


def test_logged_out_token_is_revoked_even_if_replayed(gateway: GatewayProcess, smtp: SmtpSink):
    client = sign_in(gateway, smtp, "bob@example.com")
    token = client.cookies["authToken"]
    assert client.delete("/api/v1/auth/logout").status_code == 200
    replay = gateway.client(headers={"Authorization": f"Bearer {token}"})
    assert replay.get("/api/v1/account/balance").status_code == 401


def test_link_works_once(gateway: GatewayProcess, smtp: SmtpSink):
    client = gateway.client()
    client.post("/api/v1/auth", json={"email": "carol@example.com"})
    link = smtp.link_for("carol@example.com")
    assert client.get(_path(link)).status_code == 303
    again = gateway.client().get(_path(link))
    assert again.status_code == 401
    assert "authToken" not in again.cookies
    # A browser is sent to the page, which explains; still no session.
    browser = gateway.client().get(_path(link), headers={"Accept": "text/html,*/*;q=0.8"})
    assert browser.status_code == 303
    assert browser.headers["location"] == "/?signin=invalid"
    assert "authToken" not in browser.cookies


def test_tampered_link_is_refused(gateway: GatewayProcess, smtp: SmtpSink):
    client = gateway.client()
    client.post("/api/v1/user/signup", json={"email": "dan@example.com"})
    link = smtp.link_for("dan@example.com")
    last = link[-1]
    tampered = link[:-1] + ("A" if last != "A" else "B")
    assert client.get(_path(tampered)).status_code == 401
    assert client.get("/api/v1/auth/verify?token=").status_code == 401
    assert client.get("/api/v1/auth/verify?token=%00%ff..").status_code == 401
    assert client.get("/api/v1/auth/verify").status_code == 401
    # The genuine link still works: a wrong guess does not burn it.
    assert client.get(_path(link).replace("/user/signin/post", "/auth/verify")).status_code == 303


def test_expired_link_is_refused(redis_url: str, smtp: SmtpSink, workdir, engine):
    gw = GatewayProcess(redis_url, workdir, SMTP_URL=smtp.url, MAGIC_LINK_TTL_S="1").start()
    try:
        client = gw.client()
        client.post("/api/v1/user/signup", json={"email": "erin@example.com"})
        link = smtp.link_for("erin@example.com")
        deadline = time.monotonic() + 10
        r = redis.Redis.from_url(redis_url)
        while r.keys("gateway:magic:*") and time.monotonic() < deadline:
            time.sleep(0.1)
        assert client.get(_path(link)).status_code == 401
    finally:
        gw.stop()


def _forged(claims: dict, key: str = DEV_JWT_SECRET, alg: str = "HS256") -> str:
    return jwt.encode(claims, key, algorithm=alg)


def test_forged_jwts_are_refused(gateway: GatewayProcess, smtp: SmtpSink):
    sign_in(gateway, smtp, "frank@example.com")
    now = int(time.time())
    good = {"sub": "frank@example.com", "iat": now, "exp": now + 3600, "jti": "abcdefghijkl"}
    # Control: a correctly signed token with these claims works, so the refusals below mean it.
    ok = gateway.client(headers={"Authorization": f"Bearer {_forged(good)}"})
    assert ok.get("/api/v1/auth/me").status_code == 200
    header = jwt.utils.base64url_encode(b'{"alg":"none","typ":"JWT"}').decode()
    body = jwt.utils.base64url_encode(jwt.api_jws.json.dumps(good).encode()).decode()
    forged = [
        f"{header}.{body}.",  # alg none
        _forged(good, key="not-the-secret-" * 3),  # wrong secret
        _forged({**good, "exp": now - 10, "iat": now - 100}),  # expired
        _forged(good, key=DEV_JWT_SECRET * 2, alg="HS512"),  # another algorithm
        _forged({k: v for k, v in good.items() if k != "jti"}),  # missing claim
        "garbage",
    ]
    for token in forged:
        c = gateway.client(headers={"Authorization": f"Bearer {token}"})
        assert c.get("/api/v1/auth/me").status_code == 401, token
        c = gateway.client(cookies={"authToken": token})
        assert c.get("/api/v1/account/balance").status_code == 401, token


def test_dev_without_smtp_logs_the_link_and_never_returns_it(redis_url, workdir, engine):
    gw = GatewayProcess(redis_url, workdir).start()
    try:
        r = gw.client().post("/api/v1/user/signup", json={"email": "gina@example.com"})
        assert r.status_code == 202
        assert "signin/post" not in r.text and "token" not in r.text
        deadline = time.monotonic() + 5
        while "signin/post?token=" not in gw.log_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "signin/post?token=" in gw.log_text()
    finally:
        gw.stop()
