"""Fixtures shared by the integration tests (the servers themselves: tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    """A synchronous client of the test's (flushed) Redis."""
    c = redis.Redis.from_url(redis_url)
    yield c
    c.close()
