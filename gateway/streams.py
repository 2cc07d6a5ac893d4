"""Typed reads of Redis streams for the gateway (redis-py's own return types are unions that
cover every client option; the gateway's clients return bytes, entry by entry)."""

from __future__ import annotations

from typing import Any, cast

from redis.asyncio import Redis

Fields = dict[bytes, bytes]
Entry = tuple[bytes, Fields]


async def xrange(redis: Redis, stream: str, **kwargs: Any) -> list[Entry]:
    """``XRANGE stream ...``: entries oldest first."""
    return cast(list[Entry], await redis.xrange(stream, **kwargs))


async def xrevrange(redis: Redis, stream: str, **kwargs: Any) -> list[Entry]:
    """``XREVRANGE stream ...``: entries newest first."""
    return cast(list[Entry], await redis.xrevrange(stream, **kwargs))


async def xread(
    redis: Redis, cursors: dict[str, str], **kwargs: Any
) -> list[tuple[bytes, list[Entry]]]:
    """``XREAD ... STREAMS``: each stream's new entries (empty when the block timed out)."""
    found = await redis.xread(cast(Any, cursors), **kwargs)
    return cast(list[tuple[bytes, list[Entry]]], found or [])
