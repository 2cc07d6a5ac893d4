"""OrderIds: a client's Idempotency-Key scoped to its user, so users can never collide.

The engine keys idempotency by orderId across all users (and refuses a known orderId that comes
with another email), so the gateway never passes a client key through as is: the orderId is
``<user_key(email)>:<key>``, with a random key when the client sent none. The prefix also tells
whose order an orderId is, which is how ``GET /orders/{orderId}`` refuses other users' orders.
"""

from __future__ import annotations

import re
import uuid

from gateway.auth import user_key

IDEMPOTENCY_KEY_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")


class BadIdempotencyKey(ValueError):
    """An Idempotency-Key header outside ``[A-Za-z0-9_.:-]{1,64}``."""


def order_id_for(email: str, key: str | None) -> str:
    """The engine orderId for this user's request; ``key`` is the Idempotency-Key header or None."""
    if key is None:
        key = uuid.uuid4().hex
    elif not IDEMPOTENCY_KEY_RE.fullmatch(key):
        raise BadIdempotencyKey("Idempotency-Key must be 1-64 of A-Z a-z 0-9 _ . : -")
    return f"{user_key(email)}:{key}"


def resolve_order_id(email: str, given: str) -> str | None:
    """The full orderId for a path parameter that is either a full orderId or a bare key.

    None when it is malformed or belongs to another user.
    """
    prefix = user_key(email) + ":"
    if given.startswith(prefix):
        given = given[len(prefix):]
    elif len(given) > 17 and given[16] == ":" and re.fullmatch(r"[0-9a-f]{16}", given[:16]):
        return None  # someone else's orderId
    if not IDEMPOTENCY_KEY_RE.fullmatch(given):
        return None
    return prefix + given
