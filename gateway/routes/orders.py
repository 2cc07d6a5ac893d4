"""Pending orders and position management (issue 17): place, list and cancel LIMIT/STOP orders,
amend a trade's exits, and the reference's ``POST /trade/order``.

``POST /orders`` (CREATE_ORDER), ``GET /orders/open`` (GET_OPEN_ORDERS), ``DELETE
/orders/{orderId}`` (CANCEL_ORDER), ``PATCH /trades/{tradeId}`` (MODIFY_TRADE: a key absent
leaves that exit, ``null`` removes it) and ``POST /trade/order``: the reference lists it as
"Place market order", so with no ``type`` (or ``MARKET``) it is ``/trade/create``; with
``LIMIT``/``STOP`` and a ``price`` it is ``/orders``, as Backpack's ``POST /order`` takes an
orderType. The partial close is ``POST /trade/close`` with ``margin`` (gateway.routes.trading).

``expiresAt`` is the engine's stream time: milliseconds of the input entries' IDs, which the
Redis server's clock makes. A client may send it, or ``expiresInMs``, which the gateway turns
into ``expiresAt`` with Redis ``TIME`` (the clock that will stamp the command's entry).

These routes are registered before ``GET /orders/{orderId}`` (the result lookup), so ``open``
is never read as an orderId.
"""

from __future__ import annotations

from typing import Any

import msgspec
from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from engine.messages import (
    CANCEL_ORDER,
    CREATE_ORDER,
    CREATE_TRADE,
    GET_OPEN_ORDERS,
    MODIFY_TRADE,
)
from gateway import amounts, commands
from gateway.orders import resolve_order_id
from gateway.redis_pool import store_error
from gateway.schemas import (
    CreateOrderRequest,
    CreateTradeRequest,
    InvalidField,
    ModifyTradeBody,
    ModifyTradeRequest,
    PlaceOrderRequest,
    decode_body,
)
from gateway.session import guard

MAX_ID = 128


def price_decimals(request: Request, asset: str) -> int | None:
    info = request.app.state.gw.config.asset(asset)
    return info.decimals if info else None


def max_price_decimals(request: Request) -> int:
    return max(int(a.decimals) for a in request.app.state.gw.config.assets)


async def stream_now_ms(request: Request) -> int:
    """The Redis server's clock in ms: the clock of the engine's stream time."""
    gw = request.app.state.gw
    try:
        seconds, micros = await gw.redis.time()
    except (RedisError, OSError) as exc:
        raise store_error(exc, "redis time") from None
    return int(seconds) * 1000 + int(micros) // 1000


async def order_data(request: Request, req: CreateOrderRequest) -> dict[str, Any]:
    """CREATE_ORDER's tradeData, amounts checked, ``expiresInMs`` made an ``expiresAt``."""
    data = amounts.order_data(req, price_decimals(request, req.asset))
    if req.expiresInMs is not None:
        data["expiresAt"] = await stream_now_ms(request) + req.expiresInMs
    return data


def modify_data(request: Request, req: ModifyTradeRequest) -> dict[str, Any]:
    return amounts.modify_data(req, max_price_decimals(request))


async def create_order(request: Request) -> Response:
    session = await guard(request, auth=True)
    assert session is not None
    req = decode_body(await request.body(), CreateOrderRequest)
    return await commands.run(request, session, CREATE_ORDER, await order_data(request, req))


async def open_orders(request: Request) -> Response:
    session = await guard(request, auth=True)
    assert session is not None
    return await commands.run(request, session, GET_OPEN_ORDERS, {})


async def cancel_order(request: Request) -> Response:
    """Cancel by the order's full ID or by the Idempotency-Key it was placed with; another
    user's ID reaches the engine as given, which refuses it (ORDER_NOT_FOUND, 422)."""
    session = await guard(request, auth=True)
    assert session is not None
    given = request.path_params["orderId"]
    if not 1 <= len(given) <= MAX_ID:
        raise InvalidField("orderId", f"must be 1 to {MAX_ID} characters")
    order_id = resolve_order_id(session.email, given) or given
    return await commands.run(request, session, CANCEL_ORDER, {"orderId": order_id})


async def modify_trade(request: Request) -> Response:
    session = await guard(request, auth=True)
    assert session is not None
    trade_id = request.path_params["tradeId"]
    if not 1 <= len(trade_id) <= MAX_ID:
        raise InvalidField("tradeId", f"must be 1 to {MAX_ID} characters")
    body = decode_body(await request.body(), ModifyTradeBody)
    req = ModifyTradeRequest(trade_id, **msgspec.structs.asdict(body))
    return await commands.run(request, session, MODIFY_TRADE, modify_data(request, req))


async def place_order(request: Request) -> Response:
    """The reference's "Place market order": MARKET opens now, LIMIT/STOP waits."""
    session = await guard(request, auth=True)
    assert session is not None
    req = decode_body(await request.body(), PlaceOrderRequest)
    fields = msgspec.structs.asdict(req)
    kind = fields.pop("type")
    price = fields.pop("price")
    if kind == "MARKET":
        if price is not None:
            raise InvalidField("price", "a MARKET order has no price (use LIMIT or STOP)")
        for name in ("expiresAt", "expiresInMs"):
            if fields.pop(name) is not None:
                raise InvalidField(name, "a MARKET order does not wait, so it cannot expire")
        trade = CreateTradeRequest(**fields)
        data = amounts.trade_data(trade, price_decimals(request, req.asset))
        return await commands.run(request, session, CREATE_TRADE, data)
    if price is None:
        raise InvalidField("price", f"a {kind} order needs a price")
    for name in ("expectedPrice", "maxSlippageBps"):
        if fields.pop(name) is not None:
            raise InvalidField(name, "only for a MARKET order")
    order = CreateOrderRequest(type=kind, price=price, **fields)
    return await commands.run(request, session, CREATE_ORDER, await order_data(request, order))


routes = [
    Route("/api/v1/orders", create_order, methods=["POST"]),
    Route("/api/v1/orders/open", open_orders, methods=["GET"]),
    Route("/api/v1/orders/{orderId}", cancel_order, methods=["DELETE"]),
    Route("/api/v1/trades/{tradeId}", modify_trade, methods=["PATCH"]),
    Route("/api/v1/trade/order", place_order, methods=["POST"]),
]
