"""The gateway's Redis connections: a bounded pool that makes callers wait, not fail.

redis-py's default pool refuses a request outright ("Too many connections") once its limit is
reached, which the routes used to answer as 503 "session store unreachable" under nothing worse
than load. Here a request waits up to ``wait_s`` for a free connection (load gives latency),
and a wait that runs out raises ``PoolBusy``, answered as 429 with Retry-After (load gives
back-pressure), so a 503 always means Redis itself failed.
"""

from __future__ import annotations

from typing import Any

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import ConnectionError as RedisConnectionError

from gateway.errors import ApiError

RETRY_AFTER_S = 1


class PoolBusy(RedisConnectionError):
    """Every pooled connection stayed in use for the whole wait: overload, not an outage."""


class WaitingPool(BlockingConnectionPool):
    """A ``BlockingConnectionPool`` whose timed-out wait raises ``PoolBusy``."""

    async def get_connection(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return await super().get_connection(*args, **kwargs)  # type: ignore[no-untyped-call]
        except RedisConnectionError as exc:
            if isinstance(exc.__cause__, TimeoutError):
                raise PoolBusy("all Redis connections busy") from exc
            raise


def connect(url: str, size: int, wait_s: float, cluster: bool = False) -> Redis:
    """A client on a ``WaitingPool`` of ``size`` connections to ``url``.

    On a Redis Cluster (``cluster``): redis-py's cluster client, ``size`` connections per node.
    Its pools refuse rather than wait when full (``MaxConnectionsError``, answered 503), so give
    a clustered gateway a pool large enough for its load.
    """
    if cluster:
        client: Any = RedisCluster.from_url(
            url, max_connections=size, socket_connect_timeout=2.0, socket_timeout=10.0
        )
        return client  # type: ignore[no-any-return]
    pool = WaitingPool.from_url(
        url, max_connections=size, timeout=wait_s, health_check_interval=30
    )
    return Redis(connection_pool=pool)


def store_error(exc: BaseException, what: str) -> ApiError:
    """The answer to a failed Redis call: 429 when the pool was busy, else 503 unreachable."""
    if isinstance(exc, PoolBusy):
        return ApiError(
            429,
            "busy",
            "the server is busy; retry shortly",
            headers={"retry-after": str(RETRY_AFTER_S)},
        )
    return ApiError(503, "unavailable", f"{what} unreachable")
