"""``python -m worker`` as a process: migrate, and a clean stop while PostgreSQL is away."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import asyncpg

from devstack.ports import free_port
from worker.migrate import load_migrations


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "worker", *args],
        env=os.environ | env,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_migrate_applies_the_schema_once(database_url):
    # A database whose default search_path puts the documented views first, as a reporting
    # setup may: the worker's own tables must still be created in (and written to) public.
    conn = await asyncpg.connect(database_url)
    name = await conn.fetchval("SELECT current_database()")
    await conn.execute(f'ALTER DATABASE "{name}" SET search_path = reference, public')
    await conn.close()
    first = run_cli("migrate", env={"DATABASE_URL": database_url})
    shipped = [migration.version for migration in load_migrations()]
    assert shipped[:2] == [1, 2]
    assert (first.returncode, first.stdout.strip()) == (0, f"applied {shipped}"), first.stderr
    again = run_cli("migrate", env={"DATABASE_URL": database_url})
    assert (again.returncode, again.stdout.strip()) == (0, "up to date"), again.stderr
    conn = await asyncpg.connect(database_url)
    try:
        tables = {
            r[0]
            for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        }
        sql = "SELECT viewname FROM pg_views WHERE schemaname = 'reference'"
        views = {r[0] for r in await conn.fetch(sql)}
        # The database default applies to this session: the documented names reach the views.
        assert await conn.fetchval("SELECT count(*) FROM orders WHERE latencyMs IS NULL") == 0
    finally:
        await conn.close()
    assert {"users", "orders", "trades", "ledger", "schema_migrations"} <= tables
    assert views == {"users", "orders", "trades"}


def test_run_waits_for_postgres_and_stops_cleanly_on_sigterm(redis_url):
    nowhere = f"postgresql://postgres@127.0.0.1:{free_port()}/postgres"
    proc = subprocess.Popen(
        [sys.executable, "-m", "worker", "run", "--retry-max", "0.2"],
        env=os.environ | {"DATABASE_URL": nowhere, "REDIS_URL": redis_url},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        lines: list[str] = []
        while not any("retrying" in line for line in lines):
            assert proc.poll() is None, proc.stderr.read()
            assert time.monotonic() < deadline, "no retry logged"
            lines.append(proc.stderr.readline())
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()
