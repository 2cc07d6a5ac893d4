"""Costs of the test servers: start, restart, and the per-test fixtures' work.

Run: .venv/bin/python bench/local_servers.py   (prints median/max over a few rounds)
"""

from __future__ import annotations

import statistics
import time
import uuid
from collections.abc import Callable

from devstack.postgres_server import PostgresServer
from devstack.redis_server import RedisServer

ROUNDS = 5


def measure(label: str, action: Callable[[], object], rounds: int = ROUNDS) -> None:
    samples = []
    for _ in range(rounds):
        began = time.perf_counter()
        action()
        samples.append((time.perf_counter() - began) * 1000)
    print(f"{label:<44} median {statistics.median(samples):8.1f} ms  max {max(samples):8.1f} ms")


def main() -> None:
    def redis_cycle() -> None:
        with RedisServer():
            pass

    def postgres_cycle() -> None:
        with PostgresServer():
            pass

    measure("redis: start + close (temp dir)", redis_cycle)
    measure("postgres: initdb + start + close (fast)", postgres_cycle, rounds=3)
    with RedisServer(appendonly=True) as redis_server:
        measure("redis: restart (AOF on)", redis_server.restart)

        def flush() -> None:
            client = redis_server.client()
            client.flushall()
            client.close()

        measure("redis_url fixture work (FLUSHALL)", flush, rounds=20)
    with PostgresServer() as pg:
        measure("postgres: restart", pg.restart)

        def fresh_database() -> None:
            name = f"test_{uuid.uuid4().hex[:16]}"
            pg.create_database(name)
            pg.drop_database(name)

        measure("database_url fixture work (CREATE+DROP DB)", fresh_database, rounds=20)


if __name__ == "__main__":
    main()
