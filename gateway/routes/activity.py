"""The signed-in user's history from the worker's PostgreSQL: what the page's activity feed and
closed trades show after a reload (the engine keeps only the latest closed trades in memory).

``GET /api/v1/account/activity?limit=&cursor=``: balance changes (the ledger), newest first.
``GET /api/v1/trades/history?limit=&cursor=``: closed trades, most recently closed first.
Both page by an opaque ``cursor`` (``nextCursor`` of the previous page). Amounts are exact
decimal text in human units (USD, the asset's price units); times are ms.
"""

from __future__ import annotations

from typing import Any

import asyncpg
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from engine.amounts import format_amount
from engine.money import USD_DECIMALS
from gateway.errors import ApiError, json_response
from gateway.routes.market import _int_param, _market
from gateway.session import guard
from worker import history


def _page_args(request: Request) -> tuple[int, str | None]:
    limit = _int_param(request, "limit", 1, history.MAX_LIMIT)
    return (history.DEFAULT_LIMIT if limit is None else limit), request.query_params.get("cursor")


async def _page(request: Request, read: Any) -> Any:
    """One page of the signed-in user's history from PostgreSQL, with the routes' errors: a bad
    cursor is a 400 naming it, an unreachable database a 503."""
    session = await guard(request, auth=True)
    assert session is not None
    limit, cursor = _page_args(request)
    try:
        return await read(
            await _market(request).pool(), session.email, limit=limit, cursor=cursor
        )
    except history.HistoryError as exc:
        raise ApiError(400, "validation_error", str(exc), field="cursor") from None
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        raise ApiError(503, "unavailable", "history store unreachable") from exc


def _usd(value: int) -> str:
    return format_amount(value, USD_DECIMALS)


async def activity(request: Request) -> Response:
    page = await _page(request, history.ledger)
    items = [
        {"seq": e.seq, "eventType": e.reason, "amount": _usd(e.amount),
         "balance": _usd(e.balance_after), "tradeId": e.trade_id, "orderId": e.order_id,
         "reference": e.reference, "timestamp": e.ts}
        for e in page.items
    ]
    return json_response({"items": items, "nextCursor": page.next_cursor})


async def closed_trades(request: Request) -> Response:
    page = await _page(request, history.closed_trades)
    config = request.app.state.gw.config
    items = []
    for t in page.items:
        info = config.asset(t.asset)
        d = info.decimals if info is not None else 4
        items.append({
            "tradeId": t.trade_id, "asset": t.asset, "direction": t.direction,
            "margin": _usd(t.margin), "leverage": format_amount(t.leverage, 1),
            "entryPrice": format_amount(t.entry_price, d),
            "exitPrice": format_amount(t.exit_price, d), "pnl": _usd(t.pnl),
            "marginReturned": _usd(t.margin_returned), "reason": t.reason,
            "openedAt": t.opened_at, "closedAt": t.closed_at,
        })
    return json_response({"items": items, "nextCursor": page.next_cursor})


routes = [
    Route("/api/v1/account/activity", activity, methods=["GET"]),
    Route("/api/v1/trades/history", closed_trades, methods=["GET"]),
]
