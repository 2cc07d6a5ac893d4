"""OpenAPI entries of the market-data and history routes (``gateway/routes/market.py``,
``gateway/routes/activity.py``), merged into the document by ``gateway.openapi``."""

from __future__ import annotations

from typing import Any

from worker.candles import INTERVALS
from worker.history import MAX_LIMIT as HISTORY_MAX
from worker.market_data import MAX_LIMIT

_DECIMAL = {"type": "string", "pattern": r"^-?[0-9]+(\.[0-9]+)?$",
            "description": "exact decimal text in human units"}
_NULLABLE_DECIMAL = {"anyOf": [_DECIMAL, {"type": "null"}]}

CANDLE = {
    "type": "object",
    "required": ["start", "end", "open", "high", "low", "close", "ticks", "startTime",
                 "endTime", "closed"],
    "properties": {
        "start": {"type": "string", "description": "UTC, YYYY-MM-DD HH:MM:SS"},
        "end": {"type": "string", "description": "UTC, the next candle's start"},
        "open": _DECIMAL, "high": _DECIMAL, "low": _DECIMAL, "close": _DECIMAL,
        "ticks": {"type": "integer", "description": "prices folded into this candle"},
        "startTime": {"type": "integer", "description": "ms"},
        "endTime": {"type": "integer", "description": "ms, exclusive"},
        "closed": {"type": "boolean", "description": "false: the candle still being built"},
    },
}
TICKER = {
    "type": "object",
    "required": ["symbol", "lastPrice", "firstPrice", "high", "low", "priceChange",
                 "priceChangePercent", "ticks"],
    "properties": {
        "symbol": {"type": "string"}, "asset": {"type": "string"},
        "lastPrice": _DECIMAL, "firstPrice": _NULLABLE_DECIMAL, "high": _NULLABLE_DECIMAL,
        "low": _NULLABLE_DECIMAL, "priceChange": _NULLABLE_DECIMAL,
        "priceChangePercent": {
            "anyOf": [{"type": "string", "pattern": r"^-?[0-9]+\.[0-9]{2}$"}, {"type": "null"}],
            "description": "hundredths of a percent, truncated toward zero"},
        "ticks": {"type": "integer"}, "decimals": {"type": "integer"},
        "lastTime": {"type": "integer"},
    },
}
_PAGE = {
    "type": "object", "required": ["items", "nextCursor"],
    "properties": {"items": {"type": "array", "items": {"type": "object"}},
                   "nextCursor": {"type": ["string", "null"]}},
}


def _body(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _q(name: str, schema: dict[str, Any], required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": required, "schema": schema}


def market_paths(
    asset_schema: dict[str, Any], errors: Any, secured: list[dict[str, list[str]]]
) -> dict[str, Any]:
    """Paths of the candles, ticker, activity and closed-trade history routes."""
    seconds = {"type": "integer", "minimum": 0, "maximum": 2**40, "description": "UTC seconds"}
    page = [_q("limit", {"type": "integer", "minimum": 1, "maximum": HISTORY_MAX}),
            _q("cursor", {"type": "string"})]
    return {
        "/api/v1/candles": {"get": {
            "summary": "OHLC candles of the bid (Backpack's klines shape plus ticks); without "
            "startTime the newest `limit` before endTime (default now)",
            "parameters": [
                _q("asset", asset_schema, True),
                _q("interval", {"type": "string", "enum": list(INTERVALS)}, True),
                _q("startTime", seconds), _q("endTime", seconds),
                _q("limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT}),
            ],
            "responses": {"200": _body({"type": "array", "items": CANDLE}, "Candles, oldest "
                                       "first"), **errors(400, 429, 503)},
        }},
        "/api/v1/ticker": {"get": {
            "summary": "24 h statistics of an asset (an array of every asset's without asset)",
            "parameters": [_q("asset", asset_schema)],
            "responses": {
                "200": _body({"anyOf": [TICKER, {"type": "array", "items": TICKER}]},
                             "The ticker"),
                **errors(400, 404, 429, 503),
            },
        }},
        "/api/v1/account/activity": {"get": {
            "summary": "Your balance changes (the worker's ledger), newest first",
            "security": secured, "parameters": page,
            "responses": {"200": _body(_PAGE, "A page"), **errors(400, 401, 429, 503)},
        }},
        "/api/v1/trades/history": {"get": {
            "summary": "Your closed trades from the worker's history, most recent first",
            "security": secured, "parameters": page,
            "responses": {"200": _body(_PAGE, "A page"), **errors(400, 401, 429, 503)},
        }},
    }
