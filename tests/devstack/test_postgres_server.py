import os
import signal
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from devstack.errors import ServerError, ServerStartError
from devstack.postgres_server import PostgresServer
from devstack.process import descendants, pid_alive
from tests.devstack.helpers import start_in_orphaned_parent, wait_gone


async def _fetchval(url: str, sql: str) -> object:
    conn = await asyncpg.connect(url, timeout=10)
    try:
        return await conn.fetchval(sql)
    finally:
        await conn.close()


@pytest.fixture(scope="module")
def own_postgres() -> Iterator[PostgresServer]:
    """A cluster these tests may stop, kill and restart (never the shared session one)."""
    with PostgresServer() as server:
        yield server


async def test_start_answers_on_its_url(own_postgres: PostgresServer) -> None:
    assert own_postgres.url == f"postgresql://postgres@127.0.0.1:{own_postgres.port}/postgres"
    directory = await _fetchval(own_postgres.url, "SHOW data_directory")
    assert Path(str(directory)).resolve() == own_postgres.data_dir.resolve()
    assert await _fetchval(own_postgres.url, "SHOW fsync") == "off"


def test_runs_unprivileged_when_we_are_root(own_postgres: PostgresServer) -> None:
    status = Path(f"/proc/{own_postgres.pid}/status").read_text()
    real_uid = int(next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1])
    if os.geteuid() == 0:
        assert real_uid != 0
    else:
        assert real_uid == os.geteuid()


async def test_restart_keeps_port_and_committed_data(own_postgres: PostgresServer) -> None:
    url = own_postgres.create_database("restart_keeps")
    own_postgres.execute("CREATE TABLE t (v bigint); INSERT INTO t VALUES (7)", "restart_keeps")
    port, pid = own_postgres.port, own_postgres.pid
    own_postgres.restart()
    assert own_postgres.port == port
    assert own_postgres.pid != pid
    assert await _fetchval(url, "SELECT v FROM t") == 7


async def test_kill_leaves_no_process_and_committed_data_survives(
    own_postgres: PostgresServer,
) -> None:
    url = own_postgres.create_database("kill_keeps")
    own_postgres.execute("CREATE TABLE t (v bigint); INSERT INTO t VALUES (9)", "kill_keeps")
    conn = await asyncpg.connect(url)  # a live backend process to be killed too
    pid = own_postgres.pid
    family = descendants(pid)
    assert family
    own_postgres.kill()
    assert not pid_alive(pid)
    assert not any(pid_alive(child) for child in family)
    conn.terminate()
    own_postgres.start()
    assert await _fetchval(url, "SELECT v FROM t") == 9


async def test_stop_ends_open_sessions_and_leaves_no_process(
    own_postgres: PostgresServer,
) -> None:
    conn = await asyncpg.connect(own_postgres.url)  # fast shutdown must not wait for it
    pid = own_postgres.pid
    family = descendants(pid)
    own_postgres.stop()
    assert not pid_alive(pid)
    assert not any(pid_alive(child) for child in family)
    conn.terminate()
    own_postgres.start()
    assert await _fetchval(own_postgres.url, "SELECT 1") == 1


def test_two_clusters_get_distinct_ports(own_postgres: PostgresServer) -> None:
    with PostgresServer() as other:
        assert other.port != own_postgres.port
        assert other.data_dir != own_postgres.data_dir


def test_close_removes_temp_data_but_keeps_a_given_dir(open_dir: Path) -> None:
    given = open_dir / "pg"
    with PostgresServer(data_dir=given) as server:
        server.create_database("kept_db")
    assert (given / "PG_VERSION").exists()
    with PostgresServer(data_dir=given, fast=False) as again:  # no second initdb
        assert again.execute("SELECT 1 FROM pg_database WHERE datname = 'kept_db'") == "SELECT 1"
        temp = PostgresServer()
        temp.start()
        temp_dir = temp.data_dir
        temp.close()
        assert not temp_dir.exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="only root hands PostgreSQL to another user")
def test_data_dir_the_unprivileged_user_cannot_reach_is_refused(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o700)
    server = PostgresServer(data_dir=locked / "pg")
    with pytest.raises(ServerError, match="cannot enter"):
        server.start()
    assert not server.running


def test_a_stranger_on_the_given_port_is_not_taken_for_the_server(
    own_postgres: PostgresServer,
) -> None:
    server = PostgresServer(port=own_postgres.port, start_timeout=30)
    with pytest.raises(ServerStartError):
        server.start()
    assert not server.running
    server.close()
    assert own_postgres.running


@pytest.mark.parametrize(
    "bad", ["", "x; DROP DATABASE postgres", 'a"b', "1abc", "a" * 64, "naïve", "a-b"]
)
def test_malformed_database_name_is_refused(own_postgres: PostgresServer, bad: str) -> None:
    with pytest.raises(ValueError):
        own_postgres.create_database(bad)


def test_drop_database_is_idempotent(own_postgres: PostgresServer) -> None:
    own_postgres.create_database("dropped_twice")
    own_postgres.drop_database("dropped_twice")
    own_postgres.drop_database("dropped_twice")
    assert own_postgres.execute("SELECT 1 FROM pg_database WHERE datname = 'dropped_twice'") == (
        "SELECT 0"
    )


def test_server_dies_with_a_killed_parent(open_dir: Path) -> None:
    parent, pid = start_in_orphaned_parent(f"PostgresServer(data_dir={str(open_dir / 'data')!r})")
    try:
        assert pid_alive(pid)
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        assert wait_gone(pid, timeout=60)
    finally:
        parent.kill()
        parent.wait()


async def test_database_url_fixture_gives_a_fresh_empty_database(
    database_url: str, postgres_server: PostgresServer
) -> None:
    name = database_url.rsplit("/", 1)[1]
    assert name.startswith("test_")
    assert database_url == postgres_server.url_for(name)
    assert await _fetchval(database_url, "SELECT current_database()") == name
    tables = await _fetchval(
        database_url, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
    )
    assert tables == 0
