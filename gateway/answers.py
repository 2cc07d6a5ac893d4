"""The engine's answer to one order, with its ``data`` kept as the exact bytes the engine wrote.

``data`` holds amounts as JSON numbers written exactly from integers (``5445.0095``); decoding
them would make floats of them, so the gateway embeds the stream's bytes as they are
(``msgspec.Raw``) in the envelope it answers with.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec

from engine.wire import Fields, decode_response

NULL = msgspec.Raw(b"null")


@dataclass(frozen=True, slots=True)
class Answer:
    """An engine_response entry: orderId, status, message and ``data`` as raw JSON."""

    order_id: str
    status: str
    data: msgspec.Raw
    message: str


def _raw_data(fields: Fields) -> msgspec.Raw:
    raw: Any = fields.get(b"data")
    if raw is None:
        raw = fields.get("data")
    if isinstance(raw, str):
        raw = raw.encode()
    return msgspec.Raw(bytes(raw)) if raw else NULL


def decode_answer(fields: Fields) -> Answer:
    """An engine_response entry as an ``Answer``; ``engine.wire.WireError`` when malformed
    (the engine's own decoder validates the entry, ``data`` included)."""
    response = decode_response(fields)
    return Answer(response.order_id, response.status, _raw_data(fields), response.message)
