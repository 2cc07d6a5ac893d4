"""Prometheus text rendering and bounded route labels."""

from __future__ import annotations

import httpx
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from gateway.metrics import Metrics, MetricsMiddleware


async def test_requests_are_labelled_by_route_template():
    metrics = Metrics()

    async def item(request):
        return PlainTextResponse("ok")

    app = Starlette(
        routes=[Route("/items/{id}", item)],
        middleware=[Middleware(MetricsMiddleware, metrics=metrics)],
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        for i in range(3):
            await client.get(f"/items/{i}")
        await client.get("/random/path/1")
        await client.get("/random/path/2")
    text = metrics.render()
    assert 'gateway_http_requests_total{route="/items/{id}",method="GET",status="200"} 3' in text
    assert 'gateway_http_requests_total{route="unmatched",method="GET",status="404"} 2' in text
    assert 'gateway_http_request_seconds_count{route="/items/{id}"} 3' in text
    assert "/random/path" not in text


def test_counters_and_gauges():
    metrics = Metrics()
    metrics.counters["signins_total"] += 2
    metrics.gauges["ws_subscribers"] = lambda: 5
    metrics.observe("/r", "GET", 200, 99.0)  # beyond the last bucket
    text = metrics.render()
    assert "gateway_signins_total 2" in text and "gateway_ws_subscribers 5" in text
    assert 'gateway_http_request_seconds_bucket{route="/r",le="10.0"} 0' in text
    assert 'gateway_http_request_seconds_bucket{route="/r",le="+Inf"} 1' in text
