"""The app factory: settings in, a Starlette app out, with its Redis, engine client and feed.

``create_app(config)`` builds everything; the lifespan opens Redis and starts the two background
readers (engine responses, prices+events). Routes reach them through ``app.state.gw``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
from redis.asyncio import Redis
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from gateway import ws
from gateway.config import GatewayConfig, load_config
from gateway.errors import ApiError, api_error_handler, json_response
from gateway.feed import Feed
from gateway.market import Market
from gateway.metrics import Metrics, MetricsMiddleware
from gateway.openapi import build_document
from gateway.options import OptionsMiddleware
from gateway.redis_pool import connect
from gateway.routes import account, activity, admin, auth, market, orders, public, trading
from gateway.schemas import InvalidField
from gateway.security import BodyLimitMiddleware, SecurityHeadersMiddleware
from gateway.shards import ShardedEngine

log = logging.getLogger("gateway")
STATIC_DIR = Path(__file__).parent / "static"
PLACEHOLDER = (
    "<!doctype html><html><head><meta charset=utf-8><title>CFD exchange</title></head>"
    "<body><h1>CFD exchange</h1><p>You are signed in if the API says so: "
    '<a href="/api/v1/auth/me">/api/v1/auth/me</a>. API: <a href="/docs">/docs</a>.</p>'
    "</body></html>"
)


@dataclass
class Gateway:
    """What the routes share: settings, Redis, the engine client, the feed, metrics, the doc."""

    config: GatewayConfig
    redis: Redis
    engine: ShardedEngine
    feed: Feed
    metrics: Metrics = field(default_factory=Metrics)
    openapi_doc: dict[str, Any] = field(default_factory=build_document)
    openapi: bytes = b""

    def __post_init__(self) -> None:
        self.openapi = msgspec.json.encode(self.openapi_doc)
        self.metrics.gauges["engine_pending_orders"] = lambda: self.engine.pending
        self.metrics.gauges["engine_timeouts_total"] = lambda: self.engine.timeouts
        self.metrics.gauges["engine_responses_total"] = lambda: self.engine.responses
        self.metrics.gauges["ws_subscribers"] = lambda: self.feed.subscribers


async def _invalid_field(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, InvalidField)
    return json_response(
        {"error": "validation_error", "message": exc.message, "field": exc.field}, 400
    )


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    return json_response({"error": code, "message": str(exc.detail)}, exc.status_code, exc.headers)


async def _server_error(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return json_response({"error": "internal", "message": "internal error"}, 500)


async def _placeholder(request: Request) -> Response:
    return HTMLResponse(PLACEHOLDER)


def _page_routes() -> list[BaseRoute]:
    """The app page: gateway/static when it has an index.html, else a placeholder at ``/``."""
    if (STATIC_DIR / "index.html").is_file():
        return [Mount("/", StaticFiles(directory=STATIC_DIR, html=True), name="static")]
    return [Route("/", _placeholder, methods=["GET"])]


def create_app(config: GatewayConfig) -> Starlette:
    """Build the gateway app for ``config`` (validated by ``gateway.config``)."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        shards = config.shard_map
        redis = connect(
            config.redis_url, config.redis_pool_size, config.redis_pool_wait_s, shards.cluster
        )
        gw = Gateway(
            config=config,
            redis=redis,
            engine=ShardedEngine(
                redis,
                redis,
                shards,
                command_stream=config.command_stream,
                response_stream=config.response_stream,
                timeout_ms=config.engine_timeout_ms,
            ),
            feed=Feed(
                redis,
                price_stream=config.price_stream,
                events_stream=config.events_stream,
                assets=[a.symbol for a in config.assets],
                shards=shards,
            ),
            metrics=metrics,
            openapi_doc=build_document(
                [a.symbol for a in config.assets],
                price_decimals=max(a.decimals for a in config.assets),
            ),
        )
        await gw.engine.start()
        await gw.feed.start()
        app.state.gw = gw
        app.state.market = Market(config.database_url, [a.symbol for a in config.assets])
        app.state.market.start(gw.feed)
        log.info("gateway ready (env=%s, redis=%s)", config.env, config.redis_url)
        try:
            yield
        finally:
            await app.state.market.stop()
            await gw.feed.stop()
            await gw.engine.stop()
            await redis.aclose()

    metrics = Metrics()
    middleware = [
        Middleware(SecurityHeadersMiddleware, secure=config.cookie_secure),
        Middleware(MetricsMiddleware, metrics=metrics),
    ]
    if config.cors_origins:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=list(config.cors_origins),
                allow_credentials=True,
                allow_methods=["GET", "POST", "PATCH", "DELETE"],
                allow_headers=["Content-Type", "Authorization", "X-CSRF-Token", "Idempotency-Key"],
                max_age=600,
            )
        )
    api_routes: list[BaseRoute] = [
        *auth.routes,
        *orders.routes,  # before trading's GET /orders/{orderId}: "open" is no orderId
        *trading.routes,
        *account.routes,
        *public.routes,
        *market.routes,
        *activity.routes,
        *admin.routes,
        *ws.routes,
    ]
    middleware.append(Middleware(BodyLimitMiddleware, limit=config.max_body_bytes))
    middleware.append(Middleware(OptionsMiddleware, routes=api_routes))
    routes = [*api_routes, *_page_routes()]
    return Starlette(
        routes=routes,
        middleware=middleware,
        lifespan=lifespan,
        exception_handlers={
            ApiError: api_error_handler,
            InvalidField: _invalid_field,
            HTTPException: _http_error,
            Exception: _server_error,
        },
    )


def app_from_env() -> Starlette:
    """Factory for ``uvicorn --factory gateway.app:app_from_env`` (settings from env)."""
    return create_app(load_config())
