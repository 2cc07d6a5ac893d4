"""One engine command for one HTTP request: its orderId, the call, and the reference envelope.

Status codes: 200 when the engine says success, 422 when it refuses (insufficient balance, an
unknown or someone else's trade, ...), 504 with the orderId when it does not answer in time,
503 when the command cannot be queued.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import Response

from engine.messages import SUCCESS
from gateway import order_lookup
from gateway.auth import Session
from gateway.engine_client import EngineTimeout, EngineUnavailable
from gateway.errors import ApiError, json_response
from gateway.orders import BadIdempotencyKey, order_id_for
from gateway.redis_pool import store_error

IDEMPOTENCY_HEADER = "idempotency-key"


def envelope(
    order_id: str, status: str, data: Any, message: str, latency_ms: float
) -> dict[str, Any]:
    return {
        "success": status == SUCCESS,
        "orderId": order_id,
        "engineResponse": {"status": status, "data": data, "message": message},
        "latency": latency_ms,
    }


async def run(
    request: Request, session: Session, command: str, trade_data: dict[str, Any]
) -> Response:
    """Send ``command`` for the signed-in user and answer with the envelope."""
    gw = request.app.state.gw
    try:
        order_id = order_id_for(session.email, request.headers.get(IDEMPOTENCY_HEADER))
    except BadIdempotencyKey as exc:
        raise ApiError(400, "validation_error", str(exc), field="Idempotency-Key") from None
    start = time.perf_counter()
    try:
        response = await gw.engine.call(command, session.email, trade_data, order_id)
    except EngineTimeout as exc:
        with contextlib.suppress(RedisError, OSError):
            await order_lookup.remember_pending(gw.redis, order_id, exc.entry_id)
        raise ApiError(
            504,
            "engine_timeout",
            "the engine did not answer in time; retry with the same Idempotency-Key "
            "or GET /api/v1/orders/{orderId}",
            order_id=order_id,
        ) from None
    except EngineUnavailable as exc:
        error = store_error(exc.cause, "engine queue")
        error.order_id = order_id
        raise error from None
    latency_ms = round((time.perf_counter() - start) * 1000, 3)
    body = envelope(order_id, response.status, response.data, response.message, latency_ms)
    return json_response(body, 200 if response.status == SUCCESS else 422)
