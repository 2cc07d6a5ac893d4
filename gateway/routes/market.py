"""Public market data: ``GET /api/v1/candles`` (Backpack's klines shape) and ``GET /api/v1/ticker``.

Candles come from PostgreSQL, where the candle builder (``python -m worker candles``) folds the
price stream; see ``gateway.market`` for the shapes. ``startTime`` and ``endTime`` are UTC
seconds, as Backpack's klines take them: candles *starting* in [startTime, endTime) are
returned oldest first, at most ``limit`` (default 500, at most 1000). With ``startTime`` the page
is the first ``limit`` candles from there (the next page starts at the last one's ``endTime``);
without it, the newest ``limit`` before ``endTime`` (default: now), which is what a chart loads.
"""

from __future__ import annotations

import asyncpg
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.errors import ApiError, json_response
from gateway.market import Market, candle_json, now_ms
from gateway.session import guard
from worker.candles import INTERVALS
from worker.market_data import MAX_LIMIT, candles

DEFAULT_LIMIT = 500
MAX_SECONDS = 2**40  # far past any date; keeps ms arithmetic inside BIGINT


def _market(request: Request) -> Market:
    market: Market | None = getattr(request.app.state, "market", None)
    if market is None or not market.enabled:
        raise ApiError(503, "unavailable", "market data needs DATABASE_URL (the candle store)")
    return market


def _asset(request: Request, required: bool) -> str | None:
    asset = request.query_params.get("asset")
    if asset is None and not required:
        return None
    if not asset or request.app.state.gw.config.asset(asset) is None:
        raise ApiError(400, "validation_error", "unknown or missing asset", field="asset")
    return asset


def _int_param(request: Request, name: str, low: int, high: int) -> int | None:
    text = request.query_params.get(name)
    if text is None:
        return None
    if not (text.isascii() and text.isdigit() and len(text) <= 15) or not low <= int(text) <= high:
        raise ApiError(400, "validation_error", f"{name} must be an integer from {low} to {high}",
                       field=name)
    return int(text)


async def get_candles(request: Request) -> Response:
    await guard(request, auth=False)
    asset = _asset(request, required=True)
    assert asset is not None
    interval = request.query_params.get("interval", "")
    if interval not in INTERVALS:
        raise ApiError(400, "validation_error",
                       f"interval must be one of {', '.join(INTERVALS)}", field="interval")
    start = _int_param(request, "startTime", 0, MAX_SECONDS)
    end = _int_param(request, "endTime", 0, MAX_SECONDS)
    if start is not None and end is not None and start > end:
        raise ApiError(400, "validation_error", "startTime is after endTime", field="startTime")
    limit = _int_param(request, "limit", 1, MAX_LIMIT)
    market = _market(request)
    try:
        rows = await candles(
            await market.pool(), asset, interval, now_ms=now_ms(),
            start_ms=None if start is None else start * 1000,
            end_ms=None if end is None else end * 1000,
            limit=DEFAULT_LIMIT if limit is None else limit,
        )
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        raise ApiError(503, "unavailable", "candle store unreachable") from exc
    return json_response([candle_json(c) for c in rows])


async def get_ticker(request: Request) -> Response:
    """24 h statistics of ``asset``, or a list of every asset's without ``asset``."""
    await guard(request, auth=False)
    asset = _asset(request, required=False)
    market = _market(request)
    try:
        items = await market.tickers(asset)
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        raise ApiError(503, "unavailable", "candle store unreachable") from exc
    if asset is None:
        return json_response(items)
    if not items:
        raise ApiError(404, "not_found", f"no prices for {asset} yet")
    return json_response(items[0])


routes = [
    Route("/api/v1/candles", get_candles, methods=["GET"]),
    Route("/api/v1/ticker", get_ticker, methods=["GET"]),
]
