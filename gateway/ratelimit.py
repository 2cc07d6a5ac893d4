"""Rate limits in Redis: fixed-window counters per client IP, per user and per sign-in address.

One pipelined round trip per request checks every applicable limit and, for a signed-in request,
whether its session was revoked. Fixed windows allow up to twice the limit across a window
boundary; that is the accepted price of one INCR per limit (no sorted sets, no Lua).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from redis.asyncio import Redis

PREFIX = "gateway:rl:"


@dataclass(frozen=True)
class Limit:
    """At most ``limit`` hits per ``window_s`` seconds for ``scope``/``ident``; 0 disables."""

    scope: str
    ident: str
    limit: int
    window_s: int


@dataclass(frozen=True)
class Verdict:
    """``limited`` names the exceeded scope (or None); ``revoked`` says the session is revoked."""

    limited: str | None
    retry_after: int
    revoked: bool


async def check(redis: Redis, limits: list[Limit], revoked_key: str | None = None) -> Verdict:
    """Count one hit against every limit; also look up ``revoked_key`` in the same round trip."""
    active = [lim for lim in limits if lim.limit > 0]
    if not active and revoked_key is None:
        return Verdict(None, 0, False)
    now = int(time.time())
    pipe = redis.pipeline(transaction=False)
    for lim in active:
        window = now // lim.window_s
        key = f"{PREFIX}{lim.scope}:{lim.ident}:{window}"
        pipe.incr(key)
        pipe.expire(key, lim.window_s + 1, nx=True)
    if revoked_key is not None:
        pipe.exists(revoked_key)
    results = await pipe.execute()
    revoked = bool(results[-1]) if revoked_key is not None else False
    for i, lim in enumerate(active):
        if int(results[2 * i]) > lim.limit:
            retry = lim.window_s - now % lim.window_s
            return Verdict(lim.scope, max(1, retry), revoked)
    return Verdict(None, 0, revoked)
