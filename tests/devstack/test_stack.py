"""`python -m devstack up|stores`: settings, stores, env file, Procfile, supervision.

The whole stack (honcho and every part) is exercised by tests/e2e/test_stack.py; these tests
cover the pieces, with real Redis and PostgreSQL servers.
"""

from __future__ import annotations

import importlib.util
import io
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
import redis
from honcho.environ import parse as parse_env
from honcho.environ import parse_procfile

from devstack import stack
from devstack.ports import free_port
from devstack.process import ChildProcess, pid_alive
from devstack.stack import StackError, StackSettings, Stores, pg_data_dir, stack_env, write_env

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A fresh folder others may enter (PostgreSQL runs unprivileged when we are root)."""
    folder = Path(tempfile.mkdtemp(prefix="devstack-stack-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _settings(folder: Path, **env: str) -> StackSettings:
    return StackSettings.from_env(env, stack_dir=str(folder / "stack"))


# -- settings ---------------------------------------------------------------------------------


def test_defaults_are_the_documented_ones(tmp_path: Path) -> None:
    s = _settings(tmp_path)
    assert (s.redis_port, s.pg_port, s.smtp_port, s.gateway_port) == (6390, 5442, 2525, 8000)
    assert (s.engine_metrics_port, s.poller_metrics_port, s.feed) == (9464, 9102, "sim")
    assert s.dir == tmp_path / "stack"
    assert s.mailbox and s.app_url == "http://127.0.0.1:8000"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("FEED", "binance"),
        ("GATEWAY_PORT", "eighty"),
        ("GATEWAY_PORT", "0"),
        ("STACK_REDIS_PORT", "65536"),
        ("STACK_PG_PORT", "-1"),
        ("STACK_SMTP_PORT", "25 25"),
        ("ENGINE_METRICS_PORT", "1.5"),
        ("POLLER_METRICS_PORT", "x"),
        ("SMTP_URL", "http://mail.example.com"),
    ],
)
def test_a_malformed_setting_is_refused_by_name(tmp_path: Path, variable: str, value: str) -> None:
    with pytest.raises(StackError, match=variable):
        _settings(tmp_path, **{variable: value})


def test_up_with_a_bad_setting_starts_nothing_and_exits_2(tmp_path: Path) -> None:
    out = io.StringIO()
    code = stack.up({"FEED": "nope"}, stack_dir=str(tmp_path / "stack"), out=out)
    assert code == stack.EXIT_REFUSED
    assert "FEED='nope'" in out.getvalue()
    assert not (tmp_path / "stack").exists()


def test_a_taken_port_is_refused_before_any_server_starts(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert not stack.port_free(port)
        out = io.StringIO()
        env = {"GATEWAY_PORT": str(port), "STACK_REDIS_PORT": str(free_port())}
        code = stack.up(env, stack_dir=str(tmp_path / "stack"), procfile=str(ROOT / "Procfile"),
                        out=out)  # fmt: skip
    assert code == stack.EXIT_REFUSED
    assert f"port {port}" in out.getvalue() and "GATEWAY_PORT" in out.getvalue()
    assert "stopped" not in out.getvalue()  # nothing was started, so nothing is said to stop
    assert not (tmp_path / "stack" / "redis").exists()


def test_a_missing_procfile_is_refused(tmp_path: Path) -> None:
    out = io.StringIO()
    code = stack.up({}, stack_dir=str(tmp_path / "s"), procfile=str(tmp_path / "none"), out=out)
    assert code == stack.EXIT_REFUSED
    assert "no Procfile" in out.getvalue()


# -- env file and Procfile --------------------------------------------------------------------


def test_stack_env_points_the_parts_at_the_stores_and_the_mailbox(tmp_path: Path) -> None:
    s = _settings(tmp_path, STACK_SMTP_PORT="2600", GATEWAY_PORT="8100", FEED="backpack")
    env = stack_env(s, "redis://127.0.0.1:1/0", "postgresql://u@127.0.0.1:2/exchange")
    assert env["REDIS_URL"] == "redis://127.0.0.1:1/0"
    assert env["DATABASE_URL"] == "postgresql://u@127.0.0.1:2/exchange"
    assert env["SMTP_URL"] == "smtp://127.0.0.1:2600"
    assert env["PUBLIC_URL"] == "http://127.0.0.1:8100"
    assert env["GATEWAY_ENV"] == "dev" and env["FEED"] == "backpack"
    assert env["SNAPSHOT_DIR"] == str(s.dir / "snapshots")


def test_given_smtp_public_url_and_gateway_env_win(tmp_path: Path) -> None:
    s = _settings(
        tmp_path, SMTP_URL="smtp://mail:25", PUBLIC_URL="https://x.example", GATEWAY_ENV="prod"
    )
    env = stack_env(s, "redis://r/0", "postgresql://p/d")
    assert (env["SMTP_URL"], env["PUBLIC_URL"], env["GATEWAY_ENV"]) == (
        "smtp://mail:25", "https://x.example", "prod"
    )  # fmt: skip
    assert not s.mailbox
    assert "mailbox" not in stack.Stack(s).processes()


def test_env_file_reads_back_the_same_in_honcho_and_in_sh(tmp_path: Path) -> None:
    env = {"PLAIN": "redis://127.0.0.1:6390/0", "SPACES": "CFD <no-reply@x>", "QUOTE": "it's $HOME"}
    path = tmp_path / "env"
    write_env(path, env)
    assert path.stat().st_mode & 0o777 == 0o600
    assert parse_env(path.read_text()) == env
    script = f'. "{path}"; printf "%s\\n%s\\n%s" "$PLAIN" "$SPACES" "$QUOTE"'
    shell = subprocess.run(["sh", "-c", script], capture_output=True, text=True, check=True)
    assert shell.stdout.split("\n") == list(env.values())


def test_procfile_runs_each_part_once_with_exec() -> None:
    processes = parse_procfile((ROOT / "Procfile").read_text()).processes
    assert tuple(processes) == stack.PROCESSES
    for name, command in processes.items():
        assert command.startswith("exec python -m "), name  # signals reach the part itself
    assert "--recover" in processes["engine"]


# -- stores -----------------------------------------------------------------------------------


def test_reachable_redis_url_and_database_url_are_used_as_they_are(
    redis_url: str, database_url: str, tmp_path: Path
) -> None:
    stores = Stores(
        _settings(tmp_path, REDIS_URL=redis_url, DATABASE_URL=database_url), io.StringIO()
    )
    stores.start()
    try:
        assert (stores.redis_url, stores.database_url) == (redis_url, database_url)
        assert stores.servers == []
    finally:
        stores.stop()


def test_unreachable_urls_give_local_durable_servers_that_keep_their_data(open_dir: Path) -> None:
    dead = free_port()
    settings = _settings(
        open_dir,
        REDIS_URL=f"redis://127.0.0.1:{dead}/0",
        DATABASE_URL=f"postgresql://postgres@127.0.0.1:{dead}/x",
        STACK_REDIS_PORT=str(free_port()),
        STACK_PG_PORT=str(free_port()),
    )
    out = io.StringIO()
    stores = Stores(settings, out)
    try:
        stores.start()
        assert "does not answer" in out.getvalue()
        assert stores.redis_url == f"redis://127.0.0.1:{settings.redis_port}/0"
        client = redis.Redis.from_url(stores.redis_url)
        assert client.config_get("appendonly") == {"appendonly": "yes"}
        assert client.config_get("appendfsync") == {"appendfsync": "always"}
        client.set("kept", "1")
        client.close()
        assert stores.database_url.endswith(f":{settings.pg_port}/{stack.DATABASE}")
        assert _pg(stores.database_url, "SHOW fsync") == "on"
        _pg(stores.database_url, "CREATE TABLE kept (x int)")
        assert stores.dead() == []
    finally:
        stores.stop()
    assert (settings.dir / "redis").is_dir()

    again = Stores(settings, io.StringIO())
    try:
        again.start()
        client = redis.Redis.from_url(again.redis_url)
        assert client.get("kept") == b"1"
        client.close()
        assert _pg(again.database_url, "SELECT count(*) FROM kept") == 0
    finally:
        again.stop()


def _pg(url: str, sql: str) -> object:
    import asyncio

    async def run() -> object:
        conn = await asyncpg.connect(url, timeout=10)
        try:
            return await conn.fetchval(sql)
        finally:
            await conn.close()

    return asyncio.run(run())


def test_pg_data_dir_is_inside_the_stack_unless_root_cannot_share_it() -> None:
    folder = Path(tempfile.mkdtemp(prefix="devstack-pgdir-"))  # 0700: closed to others
    outside: Path | None = None
    try:
        chosen = pg_data_dir(folder)
        if os.geteuid() != 0:
            assert chosen == folder / "pg"
            return
        outside = chosen
        assert chosen.parent.parent == Path("/var/tmp")
        assert (folder / "pg").resolve() == chosen.resolve()
        assert pg_data_dir(folder) == chosen  # stable across runs
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        if outside is not None:
            shutil.rmtree(outside.parent, ignore_errors=True)


# -- `python -m devstack stores`: supervision -------------------------------------------------

needs_worker = pytest.mark.skipif(
    importlib.util.find_spec("worker.migrate") is None, reason="worker (migrations) not merged yet"
)


def _stores_process(folder: Path) -> tuple[ChildProcess, Path]:
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
    env.update(STACK_REDIS_PORT=str(free_port()), STACK_PG_PORT=str(free_port()))
    log_path = folder / "stores.log"
    with log_path.open("ab") as log:
        proc = ChildProcess(
            [sys.executable, "-m", "devstack", "stores", "--dir", str(folder / "stack")],
            log=log, stop_signal=signal.SIGINT, env=env, cwd=ROOT,
        )  # fmt: skip
    deadline = time.monotonic() + 120
    while "stores up" not in log_path.read_text():
        assert proc.alive(), log_path.read_text()
        assert time.monotonic() < deadline, log_path.read_text()
        time.sleep(0.1)
    return proc, log_path


def _wait_exit(proc: ChildProcess, timeout: float = 60) -> int | None:
    deadline = time.monotonic() + timeout
    while proc.alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    return proc.returncode()


def _server_pids(log: str) -> dict[str, int]:
    return {kind: int(pid) for kind, pid in re.findall(r"(redis|postgres): \S+ pid (\d+)", log)}


@needs_worker
def test_stores_stops_everything_when_its_redis_dies(open_dir: Path) -> None:
    proc, log_path = _stores_process(open_dir)
    try:
        pids = _server_pids(log_path.read_text())
        assert set(pids) == {"redis", "postgres"}
        os.kill(pids["redis"], signal.SIGKILL)
        assert _wait_exit(proc) == stack.EXIT_FAILED
        assert "redis died" in log_path.read_text()
        assert not pid_alive(pids["postgres"])
    finally:
        proc.kill()


@needs_worker
def test_stores_stop_cleanly_on_sigint_and_write_the_env_file(open_dir: Path) -> None:
    proc, log_path = _stores_process(open_dir)
    try:
        env = parse_env((open_dir / "stack" / "env").read_text())
        client = redis.Redis.from_url(env["REDIS_URL"])
        assert client.ping()
        client.close()
        assert _pg(env["DATABASE_URL"], "SELECT 1") == 1
        pids = _server_pids(log_path.read_text())
        os.kill(proc.pid, signal.SIGINT)
        assert _wait_exit(proc) == stack.EXIT_OK
        assert not any(pid_alive(pid) for pid in pids.values())
    finally:
        proc.kill()
