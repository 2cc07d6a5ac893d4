"""Finding the engine's answer to an order after the fact (``GET /api/v1/orders/{orderId}``).

Cheap by construction, because the route is open to every signed-in user:
- an order that timed out here has its response kept in memory (``EngineClient``);
- an order that timed out anywhere has ``gateway:pending:<orderId>`` = its command's stream
  entry id (kept a day), so its response is searched forward from there: responses always follow
  their command on engine_response, usually within a few entries;
- any other order is searched among the newest ``RECENT_SCAN`` responses only.
"""

from __future__ import annotations

from typing import Literal

from redis.asyncio import Redis

from engine.messages import Response
from engine.wire import WireError, decode_response

PENDING_PREFIX = "gateway:pending:"
PENDING_TTL_S = 24 * 3600
FORWARD_SCAN = 20_000
RECENT_SCAN = 2_000
CHUNK = 500


async def remember_pending(redis: Redis, order_id: str, command_entry_id: str) -> None:
    """Note that ``order_id`` is awaiting its answer; its command is at ``command_entry_id``."""
    await redis.set(PENDING_PREFIX + order_id, command_entry_id, ex=PENDING_TTL_S)


def _decode(fields: object) -> Response | None:
    try:
        return decode_response(fields)  # type: ignore[arg-type]
    except WireError:
        return None


async def find(
    redis: Redis, response_stream: str, order_id: str
) -> Response | Literal["pending"] | None:
    """The order's response, ``"pending"`` while the engine has not answered, None if unknown."""
    wanted = order_id.encode()
    since = await redis.get(PENDING_PREFIX + order_id)
    if since is not None:
        lower, scanned = since.decode() if isinstance(since, bytes) else str(since), 0
        while scanned < FORWARD_SCAN:
            chunk = await redis.xrange(response_stream, min=lower, count=CHUNK)
            for _entry_id, fields in chunk:
                if fields.get(b"orderId") == wanted:
                    return _decode(fields)
            if len(chunk) < CHUNK:
                break
            scanned += len(chunk)
            last = chunk[-1][0]
            lower = "(" + (last.decode() if isinstance(last, bytes) else last)
        return "pending"
    upper, scanned = "+", 0
    while scanned < RECENT_SCAN:
        chunk = await redis.xrevrange(response_stream, max=upper, count=CHUNK)
        for _entry_id, fields in chunk:
            if fields.get(b"orderId") == wanted:
                return _decode(fields)
        if len(chunk) < CHUNK:
            break
        scanned += len(chunk)
        last = chunk[-1][0]
        upper = "(" + (last.decode() if isinstance(last, bytes) else last)
    return None
