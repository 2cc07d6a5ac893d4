"""A private, real PostgreSQL cluster on 127.0.0.1 for tests and `make up`."""

from __future__ import annotations

import asyncio
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import asyncpg

from devstack.binaries import find_pg_bindir
from devstack.errors import ServerError, ServerStartError
from devstack.process import RunAs
from devstack.server import LocalServer

SUPERUSER = "postgres"
RUN_AS_ENV = "DEVSTACK_PG_USER"
_DEDICATED_USER = "devstack-pg"
_DB_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
# Durability traded for speed in tests. synchronous_commit stays on: with fsync off a commit
# only write()s its WAL to the page cache, which costs little and keeps every acknowledged
# commit across kill() (with it off, the last few hundred ms of commits die with the server).
_SOCKET_SUBDIR = "devstack-socket"
_MAX_SOCKET_PATH = 100
FAST_SETTINGS = {"fsync": "off", "full_page_writes": "off"}

T = TypeVar("T")


def _run_sync(make: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine to completion from sync code, even inside a running event loop."""
    box: dict[str, object] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(make())  # type: ignore[arg-type]
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=target, name="devstack-pg", daemon=True)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["value"]  # type: ignore[return-value]


def unprivileged_user() -> RunAs:
    """The account to run PostgreSQL as when we are root: $DEVSTACK_PG_USER, nobody, or
    a dedicated system user created on the spot."""
    for name in (os.environ.get(RUN_AS_ENV), "nobody", _DEDICATED_USER):
        if not name:
            continue
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        return RunAs(name, entry.pw_uid, entry.pw_gid)
    subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
         _DEDICATED_USER],
        check=True, capture_output=True,
    )  # fmt: skip
    entry = pwd.getpwnam(_DEDICATED_USER)
    return RunAs(_DEDICATED_USER, entry.pw_uid, entry.pw_gid)


def _unreachable_parent(path: Path, user: RunAs) -> Path | None:
    """The first folder above `path` that `user` may not search (enter), if any."""
    for parent in reversed(path.parents):
        info = parent.stat()
        if info.st_uid == user.uid:
            bit = 0o100
        elif info.st_gid == user.gid:
            bit = 0o010
        else:
            bit = 0o001
        if not info.st_mode & bit:
            return parent
    return None


def _quote_ident(name: str) -> str:
    if not _DB_NAME.match(name):
        raise ValueError(f"database name must match {_DB_NAME.pattern}: {name!r}")
    return f'"{name}"'


class PostgresServer(LocalServer):
    """A PostgreSQL cluster (superuser `postgres`, trust auth) on a free (or given) port.

    `initdb` runs on first start when the data dir holds no cluster. `fast=True` (the
    default, for tests) turns fsync and full_page_writes off: data survives restart() and
    kill() of the server, but not a crash of the machine. Stopping uses PostgreSQL's fast
    shutdown (SIGINT), which ends open client sessions instead of waiting for them.
    """

    kind: ClassVar[str] = "postgres"
    stop_signal: ClassVar[int] = signal.SIGINT
    log_name: ClassVar[str] = "devstack-postgres.log"

    def __init__(
        self,
        *,
        port: int | None = None,
        data_dir: str | os.PathLike[str] | None = None,
        fast: bool = True,
        settings: dict[str, str] | None = None,
        bindir: str | os.PathLike[str] | None = None,
        start_timeout: float = 60.0,
        stop_timeout: float = 30.0,
    ) -> None:
        super().__init__(
            port=port, data_dir=data_dir, start_timeout=start_timeout, stop_timeout=stop_timeout
        )
        self.fast = fast
        self.settings = {**(FAST_SETTINGS if fast else {}), **(settings or {})}
        self.bindir = Path(bindir) if bindir is not None else find_pg_bindir()
        self._user = unprivileged_user() if os.geteuid() == 0 else None
        self._socket_dir: Path | None = None

    @property
    def url(self) -> str:
        return self.url_for("postgres")

    def url_for(self, database: str) -> str:
        """URL of one database of this cluster."""
        _quote_ident(database)
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def execute(self, sql: str, database: str = "postgres") -> str:
        """Run one SQL statement as the superuser and return its status (e.g. 'CREATE DATABASE')."""

        async def run() -> str:
            conn = await asyncpg.connect(self.url_for(database), timeout=10)
            try:
                return str(await conn.execute(sql))
            finally:
                await conn.close()

        return _run_sync(run)

    def create_database(self, name: str) -> str:
        """Create an empty database and return its URL."""
        self.execute(f"CREATE DATABASE {_quote_ident(name)}")
        return self.url_for(name)

    def drop_database(self, name: str) -> None:
        """Drop a database if it exists, ending the sessions still connected to it."""
        self.execute(f"DROP DATABASE IF EXISTS {_quote_ident(name)} WITH (FORCE)")

    # -- LocalServer hooks --------------------------------------------------------------

    def _run_as(self) -> RunAs | None:
        return self._user

    def _give_to_user(self, path: Path) -> None:
        if self._user is not None:
            os.chown(path, self._user.uid, self._user.gid)

    def _prepare(self) -> None:
        data = self.data_dir
        if self._user is not None:
            for needed in (data, self.bindir / "postgres"):
                blocked = _unreachable_parent(needed, self._user)
                if blocked is not None:
                    raise ServerError(
                        f"PostgreSQL runs as {self._user.name!r} because we are root, and that "
                        f"user cannot enter {blocked} to reach {needed}"
                    )
        if not (data / "PG_VERSION").exists():
            self._initdb(data)
        if self._socket_dir is None or not self._socket_dir.exists():
            self._socket_dir = self._make_socket_dir(data)

    def _make_socket_dir(self, data: Path) -> Path:
        # A Unix socket path must fit in 107 bytes: inside the data dir when that is short
        # (nothing to leak), else a folder of its own in /tmp.
        inside = data / _SOCKET_SUBDIR
        if len(str(inside / ".s.PGSQL.65535.lock")) <= _MAX_SOCKET_PATH:
            inside.mkdir(mode=0o700, exist_ok=True)
            folder = inside
        else:
            folder = Path(tempfile.mkdtemp(prefix="devstack-pgsock-"))
        self._give_to_user(folder)
        return folder

    def _initdb(self, data: Path) -> None:
        data.chmod(0o700)
        self._give_to_user(data)
        argv = [
            str(self.bindir / "initdb"),
            "-D", str(data),
            "-U", SUPERUSER,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
        ]  # fmt: skip
        if self.fast:
            argv.append("--no-sync")
        extra: dict[str, Any] = {}
        if self._user is not None:
            extra = {"user": self._user.uid, "group": self._user.gid, "extra_groups": []}
        result = subprocess.run(
            argv, cwd="/", capture_output=True, text=True, check=False,
            **extra,
        )  # fmt: skip
        if result.returncode != 0:
            raise ServerStartError(
                f"initdb failed with code {result.returncode} in {data}"
                + (f" (running as {self._user.name})" if self._user else ""),
                (result.stdout + result.stderr)[-4000:],
            )

    def _argv(self) -> list[str]:
        assert self._socket_dir is not None
        argv = [
            str(self.bindir / "postgres"),
            "-D", str(self.data_dir),
            "-p", str(self.port),
            "-h", "127.0.0.1",
            "-k", str(self._socket_dir),
            "-c", "logging_collector=off",
        ]  # fmt: skip
        for key, value in self.settings.items():
            argv += ["-c", f"{key}={value}"]
        return argv

    def _ready(self, pid: int) -> bool:
        # postmaster.pid says "ready" once connections are accepted; reading it is cheap.
        try:
            lines = (self.data_dir / "postmaster.pid").read_text().splitlines()
        except (FileNotFoundError, PermissionError):
            return False
        if len(lines) < 8 or lines[0].strip() != str(pid) or lines[7].strip() != "ready":
            return False
        # Then prove over TCP that what answers this port is our cluster.
        try:
            answered = _run_sync(self._data_directory)
        except (TimeoutError, OSError, asyncpg.PostgresError):
            return False
        return Path(answered).resolve() == self.data_dir.resolve()

    async def _data_directory(self) -> str:
        conn = await asyncpg.connect(self.url, timeout=5)
        try:
            return str(await conn.fetchval("SHOW data_directory"))
        finally:
            await conn.close()

    def _cleanup_extra(self) -> None:
        if self._socket_dir is not None and self._socket_dir.parent != self.data_dir:
            shutil.rmtree(self._socket_dir, ignore_errors=True)
        self._socket_dir = None

    @property
    def socket_dir(self) -> Path:
        if self._socket_dir is None:
            raise ServerError("postgres has no socket dir before its first start()")
        return self._socket_dir
