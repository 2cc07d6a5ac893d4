"""The signed-in user's account: balances, read from the engine (the only owner of money)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from engine.messages import GET_BALANCE, GET_USD_BALANCE
from gateway import commands
from gateway.errors import json_response
from gateway.routes.public import asset_table
from gateway.session import guard


async def balance(request: Request) -> Response:
    """GET_BALANCE: the account's full balance record."""
    session = await guard(request, auth=True)
    assert session is not None
    return await commands.run(request, session, GET_BALANCE, {})


async def usd_balance(request: Request) -> Response:
    """GET_USD_BALANCE: free USD (4 decimals)."""
    session = await guard(request, auth=True)
    assert session is not None
    return await commands.run(request, session, GET_USD_BALANCE, {})


async def assets(request: Request) -> Response:
    """The documented "supported assets" of the account routes: the asset table, signed in."""
    await guard(request, auth=True)
    return json_response(asset_table(request))


routes = [
    Route("/api/v1/account/balance", balance, methods=["GET"]),
    Route("/api/v1/account/balance/usd", usd_balance, methods=["GET"]),
    Route("/api/v1/account/assets", assets, methods=["GET"], name="assets"),
]
