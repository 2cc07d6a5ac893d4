"""Trading: the reference protocol's ``POST /engine`` envelope and the REST routes beside it.

Both styles validate with the same Structs and send the same engine commands. A client
``Idempotency-Key`` header becomes (user-scoped) the orderId, so a retry returns the original
result; ``GET /orders/{orderId}`` finds a result after a 504 without resending anything.
"""

from __future__ import annotations

from typing import Any

from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from engine.messages import (
    CLOSE_TRADE,
    CREATE_TRADE,
    GET_CLOSED_TRADES,
    GET_OPEN_TRADES,
)
from gateway import amounts, commands, order_lookup
from gateway.errors import ApiError, json_response
from gateway.orders import resolve_order_id
from gateway.params import ascii_int
from gateway.redis_pool import store_error
from gateway.routes import orders
from gateway.schemas import (
    COMMAND_PARAMS,
    ClosedTradesQuery,
    CloseTradeRequest,
    CreateOrderRequest,
    CreateTradeRequest,
    EngineRequest,
    InvalidField,
    ModifyTradeRequest,
    convert,
    decode_body,
    trade_data,
)
from gateway.session import guard

LIMIT_MESSAGE = "must be an integer from 1 to 1000 (ASCII digits)"


def _checked_trade(request: Request, req: CreateTradeRequest) -> dict[str, Any]:
    info = request.app.state.gw.config.asset(req.asset)
    return amounts.trade_data(req, info.decimals if info else None)


async def engine(request: Request) -> Response:
    """``{command, tradeData?, ...params}``: any engine command, in the reference envelope.

    The reference's requests send the parameters at top level (``{"command": "CREATE_TRADE",
    "asset": ..., "margin": 1000}``); ``tradeData`` (an object, or null for none) works too.
    """
    session = await guard(request, auth=True)
    assert session is not None
    body = decode_body(await request.body(), dict[str, Any])
    head = convert(
        {k: body[k] for k in ("command", "tradeData") if k in body}, EngineRequest
    )
    params = dict(head.tradeData or {})
    for key, value in body.items():
        if key in ("command", "tradeData"):
            continue
        if key in params:
            raise InvalidField(key, "given both at top level and in tradeData")
        params[key] = value
    try:
        parsed = convert(params, COMMAND_PARAMS[head.command])
    except InvalidField as exc:
        raise InvalidField(f"tradeData.{exc.field}", exc.message) from None
    try:
        data = await _command_data(request, parsed)
    except InvalidField as exc:
        raise InvalidField(f"tradeData.{exc.field}", exc.message) from None
    return await commands.run(request, session, head.command, data)


async def _command_data(request: Request, parsed: Any) -> dict[str, Any]:
    """The engine's tradeData for a parsed envelope: every amount checked as its REST route
    checks it."""
    if isinstance(parsed, CreateTradeRequest):
        return _checked_trade(request, parsed)
    if isinstance(parsed, CloseTradeRequest):
        return amounts.close_data(parsed)
    if isinstance(parsed, CreateOrderRequest):
        return await orders.order_data(request, parsed)
    if isinstance(parsed, ModifyTradeRequest):
        return orders.modify_data(request, parsed)
    return trade_data(parsed)


async def create_trade(request: Request) -> Response:
    session = await guard(request, auth=True)
    assert session is not None
    req = decode_body(await request.body(), CreateTradeRequest)
    return await commands.run(request, session, CREATE_TRADE, _checked_trade(request, req))


async def close_trade(request: Request) -> Response:
    session = await guard(request, auth=True)
    assert session is not None
    req = decode_body(await request.body(), CloseTradeRequest)
    return await commands.run(request, session, CLOSE_TRADE, amounts.close_data(req))


async def open_trades(request: Request) -> Response:
    session = await guard(request, auth=True)
    assert session is not None
    return await commands.run(request, session, GET_OPEN_TRADES, {})


async def closed_trades(request: Request) -> Response:
    session = await guard(request, auth=True)
    assert session is not None
    raw = request.query_params.get("limit")
    query: dict[str, Any] = {}
    if raw is not None:
        limit = ascii_int(raw)
        if limit is None:
            raise InvalidField("limit", LIMIT_MESSAGE)
        query["limit"] = limit
    return await commands.run(
        request, session, GET_CLOSED_TRADES, trade_data(convert(query, ClosedTradesQuery))
    )


async def order(request: Request) -> Response:
    """The engine's answer to one of the caller's orders: 200/422 with the envelope, 202 while
    the command waits for the engine, 404 when unknown (or someone else's)."""
    gw = request.app.state.gw
    session = await guard(request, auth=True)
    assert session is not None
    order_id = resolve_order_id(session.email, request.path_params["orderId"])
    if order_id is None:
        raise ApiError(404, "not_found", "no such order")
    response = gw.engine.late_response(order_id)
    if response is None:
        try:
            responses = gw.engine.response_stream_of(session.email)
            found = await order_lookup.find(gw.redis, responses, order_id)
        except RedisError as exc:
            raise store_error(exc, "engine streams") from None
        if found is None:
            raise ApiError(404, "not_found", "no such order")
        if found == "pending":
            return json_response({"orderId": order_id, "status": "pending"}, 202)
        response = found
    body = commands.envelope(order_id, response.status, response.data, response.message, 0.0)
    return json_response(body, 200 if body["success"] else 422)


routes = [
    Route("/api/v1/engine", engine, methods=["POST"]),
    Route("/api/v1/trade/create", create_trade, methods=["POST"]),
    Route("/api/v1/trade/close", close_trade, methods=["POST"]),
    Route("/api/v1/trades/open", open_trades, methods=["GET"]),
    Route("/api/v1/trades/closed", closed_trades, methods=["GET"]),
    Route("/api/v1/orders/{orderId}", order, methods=["GET"]),
]
