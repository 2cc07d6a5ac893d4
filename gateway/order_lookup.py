"""Finding the engine's answer to an order after the fact (``GET /api/v1/orders/{orderId}``).

Cheap by construction, because the route is open to every signed-in user:
- an order that timed out here has its response kept in memory (``EngineClient``);
- an order that timed out anywhere has ``gateway:pending:<orderId>`` = its command's stream
  entry id (kept a day), so its response is searched forward from there: responses always follow
  their command on engine_response, usually within a few entries;
- any other order is searched among the newest ``RECENT_SCAN`` responses only.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Literal

from redis.asyncio import Redis

from engine.wire import WireError
from gateway import streams
from gateway.answers import Answer, decode_answer

PENDING_PREFIX = "gateway:pending:"
PENDING_TTL_S = 24 * 3600
FORWARD_SCAN = 20_000
RECENT_SCAN = 2_000
CHUNK = 500


async def remember_pending(redis: Redis, order_id: str, command_entry_id: str) -> None:
    """Note that ``order_id`` is awaiting its answer; its command is at ``command_entry_id``."""
    await redis.set(PENDING_PREFIX + order_id, command_entry_id, ex=PENDING_TTL_S)


def _decode(fields: object) -> Answer | None:
    try:
        return decode_answer(fields)  # type: ignore[arg-type]
    except WireError:
        return None


async def find(
    redis: Redis, response_stream: str, order_id: str
) -> Answer | Literal["pending"] | None:
    """The order's response, ``"pending"`` while the engine has not answered, None if unknown."""
    wanted = order_id.encode()
    since = await redis.get(PENDING_PREFIX + order_id)
    if since is not None:  # after a 504: search forward from where the command was sent
        start = since.decode() if isinstance(since, bytes) else str(since)
        found = await _scan(
            lambda lower: streams.xrange(redis, response_stream, min=lower, count=CHUNK),
            start,
            FORWARD_SCAN,
            wanted,
        )
        return "pending" if found is None else _decode(found)
    found = await _scan(
        lambda upper: streams.xrevrange(redis, response_stream, max=upper, count=CHUNK),
        "+",
        RECENT_SCAN,
        wanted,
    )
    return None if found is None else _decode(found)


async def _scan(
    read: Callable[[str], Awaitable[list[Any]]], bound: str, budget: int, wanted: bytes
) -> dict[bytes, bytes] | None:
    """Page through the stream from ``bound`` (either direction, as ``read`` does) for at most
    ``budget`` entries; the fields of the entry whose orderId is ``wanted``, or None."""
    scanned = 0
    while scanned < budget:
        chunk = await read(bound)
        for _entry_id, fields in chunk:
            if fields.get(b"orderId") == wanted:
                return fields  # type: ignore[no-any-return]
        if len(chunk) < CHUNK:
            return None
        scanned += len(chunk)
        last = chunk[-1][0]
        bound = "(" + (last.decode() if isinstance(last, bytes) else last)
    return None
