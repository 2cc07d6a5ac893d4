"""Fixed-window rate limits on the real Redis."""

from __future__ import annotations

from redis.asyncio import Redis

from gateway.ratelimit import Limit, check


async def test_limits_count_per_identity_and_report_retry(redis_url: str):
    redis = Redis.from_url(redis_url)
    try:
        limits = [Limit("ip", "1.2.3.4", 3, 60)]
        verdicts = [await check(redis, limits) for _ in range(4)]
        assert [v.limited for v in verdicts] == [None, None, None, "ip"]
        assert 1 <= verdicts[-1].retry_after <= 60
        assert (await check(redis, [Limit("ip", "5.6.7.8", 3, 60)])).limited is None
        key = (await redis.keys("gateway:rl:ip:1.2.3.4:*"))[0]
        assert 0 < await redis.ttl(key) <= 61
    finally:
        await redis.aclose()


async def test_zero_disables_and_revocation_is_read_in_the_same_trip(redis_url: str):
    redis = Redis.from_url(redis_url)
    try:
        off = [Limit("user", "u", 0, 60)]
        assert [(await check(redis, off)).limited for _ in range(5)] == [None] * 5
        assert await redis.keys("gateway:rl:*") == []
        await redis.set("gateway:revoked:j1", 1)
        assert (await check(redis, off, "gateway:revoked:j1")).revoked
        assert not (await check(redis, off, "gateway:revoked:j2")).revoked
        both = [Limit("ip", "i", 10, 60), Limit("user", "u", 1, 60)]
        await check(redis, both)
        assert (await check(redis, both)).limited == "user"
    finally:
        await redis.aclose()
