"""Sessions (JWT), sign-in tokens (Redis, single use) and CSRF tokens."""

from __future__ import annotations

import time

import jwt
import pytest
from redis.asyncio import Redis

from gateway import auth

SECRET = "s" * 40


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Alice@Example.COM", "alice@example.com"),
        ("  bob+tag@mail.example.org ", "bob+tag@mail.example.org"),
        ("no-at-sign", None),
        ("a@b", None),
        ("a b@example.com", None),
        ("a@exa mple.com", None),
        ("a@example.com\r\nBcc: x@y.z", None),
        ("x" * 65 + "@example.com", None),
        ("a@" + "b" * 250 + ".com", None),
        ("", None),
    ],
)
def test_normalize_email(raw: str, expected: str | None):
    assert auth.normalize_email(raw) == expected


def test_jwt_round_trip_and_refusals():
    token, session = auth.issue_jwt("a@example.com", SECRET, 3600)
    assert auth.verify_jwt(token, SECRET) == session
    now = int(time.time())
    claims = {"sub": "a@example.com", "iat": now, "exp": now + 60, "jti": "0123456789ab"}
    none_alg = jwt.encode(claims, None, algorithm="none")
    bad = [
        none_alg,
        jwt.encode(claims, "other" * 10, algorithm="HS256"),
        jwt.encode({**claims, "exp": now - 1}, SECRET, algorithm="HS256"),
        jwt.encode({**claims, "sub": "Not An Email"}, SECRET, algorithm="HS256"),
        jwt.encode({**claims, "jti": "short"}, SECRET, algorithm="HS256"),
        jwt.encode({k: v for k, v in claims.items() if k != "iat"}, SECRET, algorithm="HS256"),
        token[:-2] + ("AA" if token[-2:] != "AA" else "BB"),
        "",
        "a.b.c",
        "x" * 5000,
    ]
    for forged in bad:
        with pytest.raises(auth.AuthError):
            auth.verify_jwt(forged, SECRET)


def test_csrf_token_is_bound_to_the_session():
    _, one = auth.issue_jwt("a@example.com", SECRET, 60)
    _, two = auth.issue_jwt("a@example.com", SECRET, 60)
    token = auth.csrf_token(one, SECRET)
    assert auth.csrf_ok(one, SECRET, token)
    assert not auth.csrf_ok(two, SECRET, token)
    assert not auth.csrf_ok(one, "other-secret", token)
    assert not auth.csrf_ok(one, SECRET, None)
    assert not auth.csrf_ok(one, SECRET, "")


async def test_magic_tokens_are_single_use_and_stored_hashed(redis_url: str):
    redis = Redis.from_url(redis_url)
    try:
        token = await auth.issue_magic_token(redis, "a@example.com", 900)
        keys = await redis.keys("gateway:magic:*")
        assert len(keys) == 1 and token.encode() not in keys[0]
        assert 890 <= await redis.ttl(keys[0]) <= 900
        assert await auth.peek_magic_token(redis, token) == "a@example.com"
        assert await auth.consume_magic_token(redis, token) == "a@example.com"
        assert await auth.consume_magic_token(redis, token) is None
        assert await auth.peek_magic_token(redis, token) is None
        for bad in ("", "short", "x" * 200, "../../etc", "a" * 30 + "\x00"):
            assert await auth.consume_magic_token(redis, bad) is None
    finally:
        await redis.aclose()


async def test_revoke_lasts_until_the_token_expires(redis_url: str):
    redis = Redis.from_url(redis_url)
    try:
        _, session = auth.issue_jwt("a@example.com", SECRET, 120)
        await auth.revoke(redis, session)
        assert await redis.exists(auth.revoked_key(session.jti))
        assert 100 <= await redis.ttl(auth.revoked_key(session.jti)) <= 120
    finally:
        await redis.aclose()
