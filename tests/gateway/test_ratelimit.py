"""Fixed-window rate limits on the real Redis."""

from __future__ import annotations

from redis.asyncio import Redis

from gateway.ratelimit import Limit, check


def at(seconds: float):
    """A fixed clock: every hit of a test falls in the same window, whatever the wall time."""
    return lambda: seconds


async def test_limits_count_per_identity_and_report_retry(redis_url: str):
    redis = Redis.from_url(redis_url)
    try:
        limits = [Limit("ip", "1.2.3.4", 3, 60)]
        verdicts = [await check(redis, limits, clock=at(1_800_000_015)) for _ in range(4)]
        assert [v.limited for v in verdicts] == [None, None, None, "ip"]
        assert verdicts[-1].retry_after == 45  # 15 s into its minute
        # the next window starts afresh
        assert (await check(redis, limits, clock=at(1_800_000_060))).limited is None
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
        await check(redis, both, clock=at(1_800_000_000))
        assert (await check(redis, both, clock=at(1_800_000_059))).limited == "user"
    finally:
        await redis.aclose()


async def test_the_script_is_sent_by_digest_and_reloaded_when_the_server_forgets_it(redis_url: str):
    redis = Redis.from_url(redis_url)
    try:
        limits = [Limit("ip", "9.9.9.9", 5, 60)]
        assert (await check(redis, limits)).limited is None
        await redis.script_flush()  # as after a Redis restart
        assert (await check(redis, limits)).limited is None
        before = (await redis.info("commandstats")).get("cmdstat_eval", {}).get("calls", 0)
        await check(redis, limits)
        assert (await redis.info("commandstats")).get("cmdstat_eval", {}).get("calls", 0) == before
    finally:
        await redis.aclose()
