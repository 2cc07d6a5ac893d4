"""OrderIds scoped per user."""

from __future__ import annotations

import pytest

from gateway.auth import user_key
from gateway.orders import BadIdempotencyKey, order_id_for, resolve_order_id

A, B = "a@example.com", "b@example.com"


def test_keys_are_scoped_per_user():
    assert order_id_for(A, "k-1") == f"{user_key(A)}:k-1"
    assert order_id_for(A, "k-1") != order_id_for(B, "k-1")
    random_one, random_two = order_id_for(A, None), order_id_for(A, None)
    assert random_one != random_two and random_one.startswith(user_key(A) + ":")
    assert len(order_id_for(A, "x" * 64)) <= 128  # the engine's orderId limit


@pytest.mark.parametrize("key", ["", "a b", "x" * 65, "é", "a/b", "a\n", "k;DROP"])
def test_bad_idempotency_keys(key: str):
    with pytest.raises(BadIdempotencyKey):
        order_id_for(A, key)


def test_resolve_refuses_other_users_orders():
    mine = order_id_for(A, "k1")
    assert resolve_order_id(A, mine) == mine
    assert resolve_order_id(A, "k1") == mine
    assert resolve_order_id(B, mine) is None
    assert resolve_order_id(A, "bad key") is None
    assert resolve_order_id(A, "") is None
