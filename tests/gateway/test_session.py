"""Who is asking: token sources, the verified-token cache, and the Origin check."""

from __future__ import annotations

import time

import pytest
from starlette.requests import Request

from gateway.auth import issue_jwt
from gateway.errors import ApiError
from gateway.session import authenticate, origin_allowed, presented_token

SECRET = "k" * 40


def _request(headers: dict[str, str]) -> Request:
    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    return Request({"type": "http", "method": "GET", "path": "/", "headers": raw})


def test_token_sources():
    assert presented_token(_request({"Authorization": "Bearer abc"})) == ("abc", False)
    assert presented_token(_request({"Cookie": "authToken=xyz"})) == ("xyz", True)
    # A malformed Authorization header is not silently replaced by the cookie.
    assert presented_token(_request({"Authorization": "Basic x", "Cookie": "authToken=y"})) == (
        None, False,
    )  # fmt: skip
    assert presented_token(_request({})) == (None, True)


def test_cached_session_still_expires():
    token, session = issue_jwt("a@example.com", SECRET, 1)
    request = _request({"Authorization": f"Bearer {token}"})
    assert authenticate(request, SECRET) == (session, False)
    assert authenticate(request, SECRET) == (session, False)  # from the cache
    with pytest.raises(ApiError):
        authenticate(request, "another-secret" * 3)  # the cache is per secret
    deadline = time.time() + 5
    while time.time() < session.exp and time.time() < deadline:
        time.sleep(0.05)
    with pytest.raises(ApiError) as info:
        authenticate(request, SECRET)
    assert info.value.status == 401


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        (None, True),
        ("http://gw.example:8000", True),
        ("https://public.example", True),
        ("https://app.example", True),
        ("https://evil.example", False),
        ("null", False),
        ("http://gw.example:8000.evil.example", False),
    ],
)
def test_origin_check(origin: str | None, allowed: bool):
    headers = {"Host": "gw.example:8000"} | ({"Origin": origin} if origin else {})
    assert (
        origin_allowed(_request(headers), "https://public.example", ("https://app.example",))
        is allowed
    )
