"""Sessions and sign-in links: HS256 JWTs, single-use magic-link tokens, revocation, CSRF tokens.

- A magic-link token is 32 random bytes; Redis keeps only its SHA-256 (so a Redis dump cannot
  sign anyone in) with the email, for ``magic_link_ttl_s``; ``GETDEL`` consumes it exactly once.
- A session is a JWT (HS256 only: ``alg: none`` and every other algorithm are refused) with
  ``sub`` (email), ``iat``, ``exp`` and a random ``jti``. Logout revokes the ``jti`` in Redis until
  the token would have expired anyway.
- The CSRF token is an HMAC of the ``jti``: it is tied to the session, so a cookie planted by a
  sibling subdomain cannot be paired with a header of the attacker's choosing.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass

import jwt
from redis.asyncio import Redis

MAGIC_PREFIX = "gateway:magic:"
REVOKED_PREFIX = "gateway:revoked:"
TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{20,100}$")
# Deliberately plain: one @, no spaces or control characters, a dotted domain, sane lengths.
EMAIL_RE = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")


class AuthError(Exception):
    """A token that is missing, malformed, expired, revoked or not signed by us."""


@dataclass(frozen=True)
class Session:
    """A verified session: who, which token (jti) and until when (exp, seconds)."""

    email: str
    jti: str
    exp: int


def normalize_email(raw: str) -> str | None:
    """Lower-cased email when it looks valid (accounts are keyed by it), else None."""
    email = raw.strip().lower()
    if len(email) > 254 or not EMAIL_RE.fullmatch(email):
        return None
    return email


def user_key(email: str) -> str:
    """A short stable id of a user, used to scope orderIds and rate-limit keys."""
    return hashlib.sha256(email.encode()).hexdigest()[:16]


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def issue_magic_token(redis: Redis, email: str, ttl_s: int) -> str:
    """Store a fresh single-use sign-in token for ``email`` and return it."""
    token = secrets.token_urlsafe(32)
    await redis.set(MAGIC_PREFIX + _digest(token), email, ex=ttl_s)
    return token


async def peek_magic_token(redis: Redis, token: str) -> str | None:
    """The email a sign-in token is for, without consuming it; None when unknown/expired."""
    if not TOKEN_RE.fullmatch(token):
        return None
    value = await redis.get(MAGIC_PREFIX + _digest(token))
    return value.decode() if isinstance(value, bytes) else value


async def consume_magic_token(redis: Redis, token: str) -> str | None:
    """Consume a sign-in token atomically (GETDEL); None when unknown, expired or already used."""
    if not TOKEN_RE.fullmatch(token):
        return None
    value = await redis.getdel(MAGIC_PREFIX + _digest(token))
    return value.decode() if isinstance(value, bytes) else value


def issue_jwt(email: str, secret: str, ttl_s: int, now: int | None = None) -> tuple[str, Session]:
    """A signed session token for ``email`` and the session it encodes."""
    iat = int(time.time()) if now is None else now
    session = Session(email=email, jti=secrets.token_urlsafe(16), exp=iat + ttl_s)
    claims = {"sub": email, "iat": iat, "exp": session.exp, "jti": session.jti}
    return jwt.encode(claims, secret, algorithm="HS256"), session


def verify_jwt(token: str, secret: str) -> Session:
    """Verify signature (HS256 only), expiry and claims; raise ``AuthError`` otherwise."""
    if not token or len(token) > 2048:
        raise AuthError("missing or oversized token")
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=["HS256"],
            options={"require": ["sub", "iat", "exp", "jti"]},
        )
    except jwt.PyJWTError as exc:
        raise AuthError(str(exc)) from None
    email, jti, exp = claims.get("sub"), claims.get("jti"), claims.get("exp")
    if not isinstance(email, str) or normalize_email(email) != email:
        raise AuthError("bad subject")
    if not isinstance(jti, str) or not 8 <= len(jti) <= 64 or not isinstance(exp, int):
        raise AuthError("bad claims")
    return Session(email=email, jti=jti, exp=exp)


def revoked_key(jti: str) -> str:
    return REVOKED_PREFIX + jti


async def revoke(redis: Redis, session: Session) -> None:
    """Refuse this session's token from now until it expires."""
    ttl = max(1, session.exp - int(time.time()))
    await redis.set(revoked_key(session.jti), 1, ex=ttl)


def csrf_token(session: Session, secret: str) -> str:
    """The CSRF token of a session: HMAC-SHA256(secret, "csrf:" + jti), URL-safe hex."""
    return hmac.new(secret.encode(), b"csrf:" + session.jti.encode(), hashlib.sha256).hexdigest()


def csrf_ok(session: Session, secret: str, presented: str | None) -> bool:
    """True when the presented header value is this session's CSRF token (constant time)."""
    if not presented:
        return False
    return hmac.compare_digest(csrf_token(session, secret), presented)
