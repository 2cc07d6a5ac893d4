"""Operator routes under ``/api/v1/admin``: one per operator command of the engine.

An operator is a signed-in user whose email is in the gateway's ``ADMIN_EMAILS``: the same
sign-in, CSRF and rate limits as a trader, then 403 for anyone else before the body is read or
anything reaches the engine. The engine checks its own ``ADMIN_EMAILS`` again (the second lock).
Answers are the trading routes' envelope with the engine's ``data`` as it wrote it.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from engine.messages import ADJUST_BALANCE, FORCE_CLOSE, GET_REPORT, SET_LIMITS, SET_MARKET_STATE
from gateway import admin, commands
from gateway.auth import Session
from gateway.errors import ApiError
from gateway.schemas import decode_body
from gateway.session import guard

FORBIDDEN_MESSAGE = "operator routes are for the addresses in the gateway's ADMIN_EMAILS"


async def operator(request: Request) -> Session:
    """The signed-in operator; 401 when not signed in, 403 when not an admin."""
    session = await guard(request, auth=True)
    assert session is not None
    if not request.app.state.gw.config.is_admin(session.email):
        raise ApiError(403, "forbidden", FORBIDDEN_MESSAGE)
    return session


def _assets(request: Request) -> tuple[str, ...]:
    return tuple(a.symbol for a in request.app.state.gw.config.assets)


async def market_state(request: Request) -> Response:
    """SET_MARKET_STATE of the path's asset."""
    session = await operator(request)
    asset = admin.asset_of(request.path_params["asset"], _assets(request))
    req = decode_body(await request.body(), admin.MarketStateRequest)
    data = admin.market_state_data(asset, req)
    return await commands.run(request, session, SET_MARKET_STATE, data)


async def limits(request: Request) -> Response:
    """SET_LIMITS of one asset or of all."""
    session = await operator(request)
    req = decode_body(await request.body(), admin.LimitsRequest)
    data = admin.limits_data(req, _assets(request))
    return await commands.run(request, session, SET_LIMITS, data)


async def balance_adjustment(request: Request) -> Response:
    """ADJUST_BALANCE of any account, idempotent by transactionId."""
    session = await operator(request)
    req = decode_body(await request.body(), admin.AdjustmentRequest)
    return await commands.run(request, session, ADJUST_BALANCE, admin.adjustment_data(req))


async def force_close(request: Request) -> Response:
    """FORCE_CLOSE of any open trade at the current price."""
    session = await operator(request)
    trade_id = request.path_params["tradeId"]
    req = decode_body(await request.body(), admin.ForceCloseRequest)
    data = admin.force_close_data(trade_id, req)
    return await commands.run(request, session, FORCE_CLOSE, data)


async def report(request: Request) -> Response:
    """GET_REPORT: totals, per-asset open interest, states, limits and the state hash."""
    session = await operator(request)
    return await commands.run(request, session, GET_REPORT, {})


routes = [
    Route("/api/v1/admin/markets/{asset}/state", market_state, methods=["POST"]),
    Route("/api/v1/admin/limits", limits, methods=["POST"]),
    Route("/api/v1/admin/balance-adjustments", balance_adjustment, methods=["POST"]),
    Route("/api/v1/admin/trades/{tradeId}/force-close", force_close, methods=["POST"]),
    Route("/api/v1/admin/report", report, methods=["GET"]),
]
