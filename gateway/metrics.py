"""Process metrics in the Prometheus text format, kept in plain dicts (one process, one loop).

Labels are bounded: the route is the matched route template (never the raw path), so a scan of
random URLs cannot grow the label set.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """Request counters and latency histograms by route, plus gauges read at scrape time."""

    def __init__(self) -> None:
        self.requests: defaultdict[tuple[str, str, int], int] = defaultdict(int)
        self.latency: defaultdict[str, list[int]] = defaultdict(lambda: [0] * (len(BUCKETS) + 1))
        self.latency_sum: defaultdict[str, float] = defaultdict(float)
        self.counters: defaultdict[str, int] = defaultdict(int)
        self.gauges: dict[str, Callable[[], float]] = {}

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        self.requests[(route, method, status)] += 1
        buckets = self.latency[route]
        for i, bound in enumerate(BUCKETS):
            if seconds <= bound:
                buckets[i] += 1
                break
        else:
            buckets[-1] += 1
        self.latency_sum[route] += seconds

    def render(self) -> str:
        lines = [
            "# HELP gateway_http_requests_total HTTP requests by route, method and status.",
            "# TYPE gateway_http_requests_total counter",
        ]
        for (route, method, status), n in sorted(self.requests.items()):
            lines.append(
                f'gateway_http_requests_total{{route="{route}",method="{method}",'
                f'status="{status}"}} {n}'
            )
        lines += [
            "# HELP gateway_http_request_seconds HTTP request latency by route.",
            "# TYPE gateway_http_request_seconds histogram",
        ]
        for route, buckets in sorted(self.latency.items()):
            total = 0
            for bound, n in zip((*BUCKETS, "+Inf"), buckets, strict=True):
                total += n
                lines.append(
                    f'gateway_http_request_seconds_bucket{{route="{route}",le="{bound}"}} {total}'
                )
            total_s = self.latency_sum[route]
            lines.append(f'gateway_http_request_seconds_sum{{route="{route}"}} {total_s}')
            lines.append(f'gateway_http_request_seconds_count{{route="{route}"}} {total}')
        for name, n in sorted(self.counters.items()):
            lines += [f"# TYPE gateway_{name} counter", f"gateway_{name} {n}"]
        for name, read in sorted(self.gauges.items()):
            lines += [f"# TYPE gateway_{name} gauge", f"gateway_{name} {read()}"]
        return "\n".join(lines) + "\n"


class MetricsMiddleware:
    """Times every HTTP request and records it under its route template."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            self.metrics.observe(template, scope["method"], status, time.perf_counter() - start)
