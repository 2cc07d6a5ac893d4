"""The signed-in user's account: balances, read from the engine (the only owner of money)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from engine.messages import GET_BALANCE, GET_USD_BALANCE
from gateway import commands
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


routes = [
    Route("/api/v1/account/balance", balance, methods=["GET"]),
    Route("/api/v1/account/balance/usd", usd_balance, methods=["GET"]),
    # A CFD account holds USD only; its "assets" are the balance record (free, locked, equity).
    Route("/api/v1/account/assets", balance, methods=["GET"], name="assets"),
]
