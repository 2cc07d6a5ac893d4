"""Who is asking, and may they: session lookup, CSRF, Origin check and rate limits per request.

A session comes from ``Authorization: Bearer <jwt>`` (API clients, benchmarks) or from the
``authToken`` cookie (browsers). CSRF: a cookie-authenticated request that changes state must
carry ``X-CSRF-Token`` equal to the session's CSRF token (also in the readable ``csrfToken``
cookie), and when it has an ``Origin`` header, that origin must be ours or a configured CORS
origin. Bearer requests are exempt: a browser never attaches that header on its own.
"""

from __future__ import annotations

import time
from urllib.parse import urlsplit

from redis.exceptions import RedisError
from starlette.requests import HTTPConnection, Request

from gateway import ratelimit
from gateway.auth import AuthError, Session, csrf_ok, revoked_key, user_key, verify_jwt
from gateway.errors import ApiError
from gateway.redis_pool import store_error

AUTH_COOKIE = "authToken"
CSRF_COOKIE = "csrfToken"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def client_ip(conn: HTTPConnection) -> str:
    """The peer address (uvicorn rewrites it from X-Forwarded-For only for trusted proxies)."""
    return conn.client.host if conn.client else "unknown"


def presented_token(conn: HTTPConnection) -> tuple[str | None, bool]:
    """The session token and whether it came from the cookie (True) or a Bearer header."""
    header = conn.headers.get("authorization")
    if header is not None:
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip(), False
        return None, False
    token = conn.cookies.get(AUTH_COOKIE)
    return (token, True) if token else (None, True)


def origin_allowed(conn: HTTPConnection, public_url: str, cors_origins: tuple[str, ...]) -> bool:
    """True when the request has no Origin, or it is this host, PUBLIC_URL or a CORS origin."""
    origin = conn.headers.get("origin")
    if origin is None:
        return True
    origin = origin.rstrip("/")
    if origin in cors_origins:
        return True
    netloc = urlsplit(origin).netloc
    if not netloc:
        return False
    return netloc == conn.headers.get("host") or netloc == urlsplit(public_url).netloc


# token -> verified session. Verifying an HS256 signature on every request is the largest
# per-request cost after Redis; a token verified once stays valid until its exp (checked on every
# use) unless revoked, which is looked up per request anyway. Bounded: cleared when full.
_verified: dict[tuple[str, str], Session] = {}
_VERIFIED_MAX = 10_000


def authenticate(conn: HTTPConnection, secret: str) -> tuple[Session, bool]:
    """Verify the presented token; raise 401. Returns the session and whether it was a cookie."""
    token, via_cookie = presented_token(conn)
    if token is None:
        raise ApiError(401, "unauthorized", "sign in first")
    session = _verified.get((secret, token))
    if session is not None and time.time() < session.exp:
        return session, via_cookie
    try:
        session = verify_jwt(token, secret)
    except AuthError:
        raise ApiError(401, "unauthorized", "invalid or expired session") from None
    if len(_verified) >= _VERIFIED_MAX:
        _verified.clear()
    _verified[(secret, token)] = session
    return session, via_cookie


async def guard(request: Request, *, auth: bool) -> Session | None:
    """Authenticate (when ``auth``), enforce CSRF/Origin and rate limits; raise ``ApiError``."""
    gw = request.app.state.gw
    cfg = gw.config
    limits = [ratelimit.Limit("ip", client_ip(request), cfg.rate_ip_per_min, 60)]
    session: Session | None = None
    if auth:
        session, via_cookie = authenticate(request, cfg.jwt_secret)
        if via_cookie and request.method not in SAFE_METHODS:
            if not origin_allowed(request, cfg.public_url, cfg.cors_origins):
                raise ApiError(403, "forbidden", "cross-origin request refused")
            if not csrf_ok(session, cfg.jwt_secret, request.headers.get(CSRF_HEADER)):
                raise ApiError(403, "csrf", "missing or wrong X-CSRF-Token header")
        limits.append(
            ratelimit.Limit("user", user_key(session.email), cfg.rate_user_per_min, 60)
        )
    try:
        verdict = await ratelimit.check(
            gw.redis, limits, revoked_key(session.jti) if session else None
        )
    except (RedisError, OSError) as exc:
        raise store_error(exc, "session store") from None
    if verdict.revoked:
        raise ApiError(401, "unauthorized", "session signed out")
    if verdict.limited is not None:
        raise ApiError(
            429,
            "rate_limited",
            f"too many requests ({verdict.limited})",
            headers={"retry-after": str(verdict.retry_after)},
        )
    return session
