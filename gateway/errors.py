"""API errors: one exception class with typed fields, answered as a JSON ``ErrorBody``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response

_json = msgspec.json.Encoder()


class ApiError(Exception):
    """An HTTP error answer: status, a short machine code, a message, optional field/orderId."""

    def __init__(
        self,
        status: int,
        error: str,
        message: str,
        *,
        field: str | None = None,
        order_id: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message
        self.field = field
        self.order_id = order_id
        self.headers = headers or {}


def json_response(
    content: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    """A JSON response encoded with msgspec (structs, dicts, lists)."""
    return Response(_json.encode(content), status, headers, media_type="application/json")


def error_body(exc: ApiError) -> dict[str, Any]:
    body: dict[str, Any] = {"error": exc.error, "message": exc.message}
    if exc.field is not None:
        body["field"] = exc.field
    if exc.order_id is not None:
        body["orderId"] = exc.order_id
    return body


async def api_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return json_response(error_body(exc), exc.status, exc.headers)
