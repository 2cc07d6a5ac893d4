"""The OpenAPI 3.1 document of the gateway, built from the msgspec Structs, and its docs page.

The document is written out by hand per route (this file is the API's table of contents); the
body schemas come from the same Structs the routes decode with, so they cannot drift apart.
"""

from __future__ import annotations

import html
from typing import Any

import msgspec

from gateway import openapi_admin, openapi_orders, schemas
from gateway.openapi_bodies import (
    IDEMPOTENCY_SCHEMA,
    engine_request_schema,
    patch_trade_amounts,
)
from gateway.openapi_market import market_paths

REF = "#/components/schemas/{name}"
_STRUCTS = (
    schemas.SignupRequest,
    schemas.CreateTradeRequest,
    schemas.CloseTradeRequest,
    schemas.EngineRequest,
    schemas.EngineEnvelope,
    schemas.ErrorBody,
    schemas.MessageBody,
    schemas.SessionBody,
    schemas.PriceBody,
    schemas.AssetsBody,
    schemas.Empty,
    schemas.ClosedTradesQuery,
    schemas.OrderPending,
    schemas.HealthBody,
    *openapi_orders.STRUCTS,
    *openapi_admin.STRUCTS,
)


def _ref(kind: type) -> dict[str, str]:
    return {"$ref": REF.format(name=kind.__name__)}


def _json(kind: type, description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(kind)}}}


def _errors(*codes: int) -> dict[str, Any]:
    text = {
        400: "Invalid input; `field` names the offending field",
        401: "Not signed in, or the session is invalid, expired or signed out",
        403: "CSRF token missing/wrong, or cross-origin request",
        404: "Not found",
        413: "Request body too large",
        429: "Rate limited; see Retry-After",
        503: "A dependency (Redis, SMTP, engine queue) is unreachable",
        504: "The engine did not answer in time; `orderId` tells which order to retry or look up",
    }
    out: dict[str, Any] = {}
    for code in codes:
        out[str(code)] = _json(schemas.ErrorBody, text[code])
        if code == 429:
            out[str(code)]["headers"] = {
                "Retry-After": {"schema": {"type": "string"}, "description": "seconds"}
            }
    return out


_IDEMPOTENCY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "Retry-safe key (1-64 of A-Z a-z 0-9 _ . : -); the same key returns the "
    "original result",
    "schema": IDEMPOTENCY_SCHEMA,
}
_CSRF = {
    "name": "X-CSRF-Token",
    "in": "header",
    "required": False,
    "description": "Required with cookie sessions: the value of the csrfToken cookie",
    "schema": {"type": "string"},
}
_SECURED: list[dict[str, list[str]]] = [{"cookieAuth": []}, {"bearerAuth": []}]


def _engine_op(
    summary: str, *, body: type | None = None, params: list[Any] | None = None
) -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": summary,
        "security": _SECURED,
        "parameters": list(params or []),
        "responses": {
            "200": _json(schemas.EngineEnvelope, "The engine accepted; its data"),
            "422": _json(schemas.EngineEnvelope, "The engine refused; its message says why"),
            **_errors(400, 401, 403, 413, 429, 503, 504),
        },
    }
    if body is not None:
        op["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": _ref(body)}},
        }
        op["parameters"] += [_IDEMPOTENCY, _CSRF]
    return op


def build_document(
    assets: list[str] | None = None, version: str = "1", price_decimals: int = 4
) -> dict[str, Any]:
    """The whole OpenAPI document as a dict; ``assets`` (the supported symbols) become enums,
    ``price_decimals`` (the most any asset has) bounds the decimals of a price."""
    _, components = msgspec.json.schema_components(_STRUCTS, ref_template=REF)
    asset_schema: dict[str, Any] = {"type": "string"}
    if assets:
        asset_schema["enum"] = list(assets)
        components["CreateTradeRequest"]["properties"]["asset"] = dict(asset_schema)
    patch_trade_amounts(components["CreateTradeRequest"], price_decimals)
    openapi_orders.patch_components(components, asset_schema, price_decimals)
    openapi_admin.patch_components(components, asset_schema)
    components["EngineRequest"] = engine_request_schema(
        {
            command: components[kind.__name__]
            for command, kind in schemas.COMMAND_PARAMS.items()
        }
    )
    components["SupportedAssets"] = {
        "type": "array",
        "items": {"type": "string"},
        "description": "The documented plain array of symbols",
    }
    signup = {
        "summary": "Mail a single-use sign-in link (15 min) to the address",
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": _ref(schemas.SignupRequest)}},
        },
        "responses": {
            "202": _json(schemas.MessageBody, "Accepted; the link is mailed"),
            **_errors(400, 413, 429, 503),
        },
    }
    signin = {
        "summary": "Follow a sign-in link: sets the authToken and csrfToken cookies, goes to /",
        "parameters": [
            {"name": "token", "in": "query", "required": True, "schema": {"type": "string"}}
        ],
        "responses": {
            "303": {"description": "Signed in; redirect to the app page"},
            **_errors(401, 429, 503),
        },
    }
    public_err = _errors(400, 404, 429, 503)
    paths: dict[str, Any] = {
        "/api/v1/user/signup": {"post": signup},
        "/api/v1/auth": {"post": {**signup, "operationId": "auth"}},
        "/api/v1/user/signin/post": {"get": signin},
        "/api/v1/auth/verify": {"get": {**signin, "operationId": "verify"}},
        "/api/v1/auth/logout": {
            "delete": {
                "summary": "Sign out: revoke the session token, clear the cookies",
                "security": _SECURED,
                "parameters": [_CSRF],
                "responses": {
                    "200": _json(schemas.MessageBody, "Signed out"),
                    **_errors(401, 403, 429, 503),
                },
            }
        },
        "/api/v1/auth/me": {
            "get": {
                "summary": "The signed-in user, session expiry and CSRF token",
                "security": _SECURED,
                "responses": {
                    "200": _json(schemas.SessionBody, "The session"),
                    **_errors(401, 429, 503),
                },
            }
        },
        "/api/v1/engine": {
            "post": _engine_op(
                "Any engine command in the reference protocol's envelope",
                body=schemas.EngineRequest,
            )
        },
        "/api/v1/trade/create": {
            "post": _engine_op("Open a trade (CREATE_TRADE)", body=schemas.CreateTradeRequest)
        },
        "/api/v1/trade/close": {
            "post": _engine_op(
                "Close one of your trades (CLOSE_TRADE), or part of it with margin",
                body=schemas.CloseTradeRequest,
            )
        },
        "/api/v1/account/balance": {"get": _engine_op("Balance record (GET_BALANCE)")},
        "/api/v1/account/balance/usd": {"get": _engine_op("Free USD (GET_USD_BALANCE)")},
        "/api/v1/account/assets": {
            "get": {
                "summary": "Supported assets and their price decimals (signed in)",
                "security": _SECURED,
                "responses": {"200": _json(schemas.AssetsBody, "Assets"), **_errors(401, 429, 503)},
            }
        },
        "/api/v1/trades/open": {"get": _engine_op("Open trades (GET_OPEN_TRADES)")},
        "/api/v1/trades/closed": {
            "get": _engine_op(
                "Closed trades, newest first (GET_CLOSED_TRADES)",
                params=[
                    {
                        "name": "limit",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "integer", "minimum": 1, "maximum": 1000},
                    }
                ],
            )
        },
        "/api/v1/orders/{orderId}": {
            "get": {
                "summary": "The engine's answer to one of your orders (after a 504, say)",
                "security": _SECURED,
                "parameters": [
                    {
                        "name": "orderId",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string"},
                    }
                ],
                "responses": {
                    "200": _json(schemas.EngineEnvelope, "The engine accepted"),
                    "202": _json(schemas.OrderPending, "Queued, not answered yet"),
                    "422": _json(schemas.EngineEnvelope, "The engine refused"),
                    **_errors(401, 404, 429, 503),
                },
            }
        },
        "/api/v1/price": {
            "get": {
                "summary": "Last price of an asset: price, bid and ask are the scaled integer as a "
                "string (\"236140000\" at decimal 6 is 236.14)",
                "parameters": [
                    {"name": "asset", "in": "query", "required": True, "schema": asset_schema}
                ],
                "responses": {"200": _json(schemas.PriceBody, "The last tick"), **public_err},
            }
        },
        "/api/v1/supportedAssets": {
            "get": {
                "summary": "Tradable asset symbols (a plain array, as documented)",
                "responses": {
                    "200": {
                        "description": "Symbols",
                        "content": {
                            "application/json": {
                                "schema": {"$ref": REF.format(name="SupportedAssets")}
                            }
                        },
                    },
                    **_errors(429, 503),
                },
            }
        },
        "/api/v1/assets": {
            "get": {
                "summary": "Tradable assets and their price decimals",
                "responses": {"200": _json(schemas.AssetsBody, "Assets"), **_errors(429, 503)},
            }
        },
        **market_paths(asset_schema, _errors, _SECURED),
        "/healthz": {"get": _probe("The process serves HTTP")},
        "/health": {"get": {**_probe("The process serves HTTP (documented name)"),
                            "operationId": "health"}},
        "/livez": {"get": _probe("Background readers alive")},
        "/readyz": {"get": _probe("Redis reachable and engine alive")},
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics",
                "responses": {
                    "200": {
                        "description": "metrics",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    }
                },
            }
        },
    }
    for path, ops in openapi_orders.paths(_engine_op, _CSRF, _IDEMPOTENCY).items():
        paths.setdefault(path, {}).update(ops)
    paths.update(openapi_admin.paths(_engine_op, asset_schema))
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "CFD exchange gateway",
            "version": version,
            "description": "Amounts are in human units, read exactly from their text: margin "
            "1000 is 1000 USD, 230.50 or \"230.5\" a price; leverage is in tenths (10 = 1x). "
            "Answers' data carry exact JSON numbers (5445.0095); /price gives the scaled "
            "integer as a string with its decimal. Live prices and your own events: WebSocket "
            "/api/v1/ws (see docs/gateway.md and docs/protocol.md).",
        },
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "cookieAuth": {"type": "apiKey", "in": "cookie", "name": "authToken"},
                "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
            },
        },
    }


def _probe(summary: str) -> dict[str, Any]:
    return {
        "summary": summary,
        "responses": {
            "200": _json(schemas.HealthBody, "Healthy"),
            "503": _json(schemas.HealthBody, "Unhealthy"),
        },
    }


def docs_html(doc: dict[str, Any]) -> str:
    """A self-contained docs page (no external scripts, so it works under our CSP)."""
    rows = []
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            codes = ", ".join(op["responses"])
            rows.append(
                f"<tr><td><b>{method.upper()}</b></td><td><code>{html.escape(path)}</code></td>"
                f"<td>{html.escape(op.get('summary', ''))}</td><td>{codes}</td></tr>"
            )
    info = doc["info"]
    return (
        "<!doctype html><html><head><meta charset=utf-8><title>"
        f"{html.escape(info['title'])}</title><style>body{{font-family:sans-serif;margin:2em}}"
        "td{padding:4px 10px;border-bottom:1px solid #ddd}</style></head><body>"
        f"<h1>{html.escape(info['title'])}</h1><p>{html.escape(info['description'])}</p>"
        '<p>Machine-readable: <a href="/openapi.json">/openapi.json</a></p>'
        "<table><tr><th>Method</th><th>Path</th><th>What</th><th>Responses</th></tr>"
        + "".join(rows)
        + "</table></body></html>"
    )
