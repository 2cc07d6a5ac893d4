"""``OPTIONS`` on an API route: 204 with the route's ``Allow``, not the static mount's 405.

Starlette lets a method mismatch fall through to the next route, and the page's static mount at
``/`` matches every path, so ``OPTIONS /api/v1/auth`` used to answer 405 ``Allow: GET, HEAD``:
wrong for that route. A CORS preflight is answered before this (by ``CORSMiddleware``, when
origins are configured); this answers plain OPTIONS from the routes' own methods.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.routing import BaseRoute, Match, Route
from starlette.types import ASGIApp, Receive, Scope, Send


def allowed_methods(routes: Sequence[BaseRoute], scope: Scope) -> set[str]:
    """The methods the routes offer at ``scope``'s path (empty when no route has it)."""
    methods: set[str] = set()
    probe = {**scope, "method": "GET"}
    for route in routes:
        if isinstance(route, Route) and route.methods:
            match, _ = route.matches(probe)
            if match != Match.NONE:
                methods |= route.methods
    return methods


class OptionsMiddleware:
    """Answer ``OPTIONS`` on a known route with 204 and its ``Allow`` header."""

    def __init__(self, app: ASGIApp, routes: Sequence[BaseRoute]) -> None:
        self.app = app
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "OPTIONS":
            methods = allowed_methods(self.routes, scope)
            if methods:
                allow = ", ".join(sorted(methods | {"OPTIONS"}))
                await send(
                    {
                        "type": "http.response.start",
                        "status": 204,
                        "headers": [(b"allow", allow.encode())],
                    }
                )
                await send({"type": "http.response.body", "body": b""})
                return
        await self.app(scope, receive, send)
