"""Shared fixtures: private, real Redis and PostgreSQL servers, started lazily.

A server starts only when a test first asks for it, once per session; the function-scoped
fixtures give each test a clean view of it (a flushed Redis, a new empty database).
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

from devstack.postgres_server import PostgresServer
from devstack.redis_cluster import RedisClusterServers
from devstack.redis_server import RedisServer


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A private redis-server for the whole test session (no persistence)."""
    with RedisServer() as server:
        yield server


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The session Redis, flushed for this test; restarted first if a test stopped it."""
    redis_server.start()  # no-op while it runs
    client = redis_server.client(socket_timeout=10)
    try:
        client.flushall()
    finally:
        client.close()
    return redis_server.url


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[RedisClusterServers]:
    """A private 6-node Redis Cluster (3 masters, 1 replica each, AOF) for the session."""
    with RedisClusterServers(appendfsync="everysec") as cluster:
        yield cluster


@pytest.fixture
def cluster_url(redis_cluster: RedisClusterServers) -> str:
    """The session cluster with every master flushed (and healthy) for this test."""
    for node in redis_cluster.nodes:
        node.start()  # no-op while it runs; a test that killed one gets it back as a replica
    redis_cluster.wait_healthy()
    for node in redis_cluster.nodes:
        client = node.client(socket_timeout=10)
        try:
            if client.info("replication").get("role") == "master":
                client.flushall()
        finally:
            client.close()
    return redis_cluster.url


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A private PostgreSQL cluster for the whole test session (fsync off)."""
    with PostgresServer() as server:
        yield server


@pytest.fixture
def database_url(postgres_server: PostgresServer) -> Iterator[str]:
    """URL of a new, empty database for this test, dropped afterwards (best effort)."""
    postgres_server.start()  # no-op while it runs
    name = f"test_{uuid.uuid4().hex[:16]}"
    url = postgres_server.create_database(name)
    yield url
    # Best effort: the test may have stopped the server, and the cluster is temporary anyway.
    with contextlib.suppress(Exception):
        postgres_server.drop_database(name)


# Hypothesis on a shared 2-core machine: no per-example deadline, no slowness health checks.
settings.register_profile(
    "ci", deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
settings.load_profile("ci")
