"""Security headers and the body limit, as ASGI middleware around a tiny app."""

from __future__ import annotations

import httpx
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

from gateway.errors import ApiError, api_error_handler
from gateway.security import BodyLimitMiddleware, SecurityHeadersMiddleware


async def echo(request: Request) -> JSONResponse:
    return JSONResponse({"size": len(await request.body())})


async def page(request: Request) -> PlainTextResponse:
    return PlainTextResponse("hi", headers={"x-frame-options": "SAMEORIGIN"})


def _client(secure: bool = False) -> httpx.AsyncClient:
    app = Starlette(
        routes=[Route("/api/echo", echo, methods=["POST"]), Route("/page", page)],
        middleware=[
            Middleware(SecurityHeadersMiddleware, secure=secure),
            Middleware(BodyLimitMiddleware, limit=100),
        ],
        exception_handlers={ApiError: api_error_handler},
    )
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


async def test_headers_on_every_response_and_no_store_on_api():
    client = _client()
    api = await client.post("/api/echo", content=b"x")
    assert api.headers["x-content-type-options"] == "nosniff"
    assert api.headers["referrer-policy"] == "no-referrer"
    assert api.headers["cache-control"] == "no-store"
    assert "strict-transport-security" not in api.headers
    other = await client.get("/page")
    assert "cache-control" not in other.headers
    assert other.headers["x-frame-options"] == "SAMEORIGIN"  # a route's own choice wins
    secure = await _client(secure=True).get("/page")
    assert "max-age" in secure.headers["strict-transport-security"]


async def test_body_limit_by_length_and_by_stream():
    client = _client()
    assert (await client.post("/api/echo", content=b"x" * 100)).json() == {"size": 100}
    too_big = await client.post("/api/echo", content=b"x" * 101)
    assert too_big.status_code == 413 and too_big.json()["error"] == "payload_too_large"

    async def chunks():
        yield b"x" * 60
        yield b"x" * 60

    streamed = await client.post("/api/echo", content=chunks())
    assert streamed.status_code == 413
    bogus = await client.post("/api/echo", content=b"x", headers={"content-length": "-5"})
    assert bogus.status_code in (400, 413)
