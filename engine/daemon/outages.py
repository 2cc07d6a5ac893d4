"""What "Redis is not answering" means to the daemon, how it connects, and how it backs off."""

from __future__ import annotations

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ClusterError, RedisClusterException, ResponseError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from engine.daemon.publisher import PublishError

# Errors that mean "Redis is not answering right now": wait and retry, never give up.
# ResponseError too (MISCONF, OOM, WRONGTYPE): the engine waits for an operator, it does not crash.
OUTAGE_ERRORS = (
    RedisConnectionError,
    RedisTimeoutError,
    ResponseError,
    ConnectionError,
    OSError,
    PublishError,
    # A cluster without a reachable node, or between a master's death and its replica's
    # promotion: the slot's owner is looked up again after the backoff.
    RedisClusterException,
    ClusterError,
)
BACKOFF_START_S = 0.05
BACKOFF_MAX_S = 2.0


def connect(url: str) -> Redis:
    """A client that never retries by itself (a retried pipeline would publish twice)."""
    return Redis.from_url(
        url,
        retry=Retry(NoBackoff(), 0),
        socket_connect_timeout=2.0,
        socket_timeout=10.0,
        socket_keepalive=True,
    )
