"""Public routes: prices, supported assets, health probes, metrics, the API document."""

from __future__ import annotations

import asyncio
import time

from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route

from gateway.errors import ApiError, json_response
from gateway.openapi import docs_html
from gateway.session import guard


async def price(request: Request) -> Response:
    """The last price of ``asset`` seen on engine_input, as documented: ``{"asset", "price":
    "236140000", "decimal": 6}``, the scaled integer as a string; bid, ask (same form),
    timestamp and the entry id are additive."""
    gw = request.app.state.gw
    await guard(request, auth=False)
    asset = request.query_params.get("asset", "")
    if gw.config.asset(asset) is None:
        raise ApiError(400, "validation_error", "unknown or missing asset", field="asset")
    tick = gw.feed.prices.get(asset)
    if tick is None:
        raise ApiError(404, "not_found", f"no price for {asset} yet")
    return json_response(
        {
            "asset": tick.asset,
            "price": str(tick.price),
            "decimal": tick.decimal,
            "bid": str(tick.bid),
            "ask": str(tick.ask),
            "timestamp": tick.timestamp,
            "id": tick.id,
        }
    )


async def supported_assets(request: Request) -> Response:
    """The documented plain array of symbols, ``["SOL_USDC", "ETH_USDC", ...]``."""
    gw = request.app.state.gw
    await guard(request, auth=False)
    return json_response([a.symbol for a in gw.config.assets])


def asset_table(request: Request) -> dict[str, list[dict[str, object]]]:
    """Every asset with its price decimals: what a reader needs to scale prices."""
    assets = request.app.state.gw.config.assets
    return {"assets": [{"symbol": a.symbol, "decimals": a.decimals} for a in assets]}


async def assets(request: Request) -> Response:
    """``{"assets": [{"symbol", "decimals"}, ...]}`` (public; the page reads it)."""
    await guard(request, auth=False)
    return json_response(asset_table(request))


async def healthz(request: Request) -> Response:
    """The process serves HTTP."""
    return json_response({"status": "ok"})


async def livez(request: Request) -> Response:
    """The event loop runs and the background readers are alive (else: restart me)."""
    gw = request.app.state.gw
    alive = gw.engine.running and gw.feed.running
    return json_response({"status": "ok" if alive else "dead"}, 200 if alive else 503)


async def engine_alive(request: Request) -> bool:
    """The engine refreshed its heartbeat key recently, or answered this process recently."""
    gw = request.app.state.gw
    cfg = gw.config
    recent = gw.engine.last_response_at
    if recent and time.monotonic() - recent <= cfg.engine_heartbeat_max_age_s:
        return True
    shards = cfg.shard_map
    seconds, _micro = await gw.redis.time()
    for k in shards.all():  # every shard's engine must be alive
        raw = await gw.redis.get(shards.heartbeat(k, cfg.engine_heartbeat_key))
        if raw is None:
            return False
        try:
            beat_ms = int(raw)
        except ValueError:
            continue  # a heartbeat key with a TTL and no timestamp: its existence is the signal
        if seconds * 1000 - beat_ms > cfg.engine_heartbeat_max_age_s * 1000:
            return False
    return True


async def readyz(request: Request) -> Response:
    """Redis answers and the engine is alive: this instance can take traffic."""
    gw = request.app.state.gw
    redis_ok = engine_ok = False
    try:
        async with asyncio.timeout(1.0):
            redis_ok = bool(await gw.redis.ping())
            engine_ok = await engine_alive(request)
    except Exception:  # any failure to reach Redis means not ready, never a 500
        pass
    ready = redis_ok and engine_ok
    return json_response(
        {"status": "ready" if ready else "not_ready", "redis": redis_ok, "engine": engine_ok},
        200 if ready else 503,
    )


async def metrics(request: Request) -> Response:
    return PlainTextResponse(
        request.app.state.gw.metrics.render(), media_type="text/plain; version=0.0.4"
    )


async def openapi_json(request: Request) -> Response:
    return Response(request.app.state.gw.openapi, media_type="application/json")


async def docs(request: Request) -> Response:
    return HTMLResponse(docs_html(request.app.state.gw.openapi_doc))


routes = [
    Route("/api/v1/price", price, methods=["GET"]),
    Route("/api/v1/supportedAssets", supported_assets, methods=["GET"]),
    Route("/api/v1/assets", assets, methods=["GET"]),
    Route("/healthz", healthz, methods=["GET"]),
    Route("/health", healthz, methods=["GET"], name="health"),  # the documented name
    Route("/livez", livez, methods=["GET"]),
    Route("/readyz", readyz, methods=["GET"]),
    Route("/metrics", metrics, methods=["GET"]),
    Route("/openapi.json", openapi_json, methods=["GET"]),
    Route("/docs", docs, methods=["GET"]),
]
