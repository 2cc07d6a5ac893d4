"""What every local server shares: data dir, port, start/stop/kill/restart, cleanup.

A server owns one child process at a time. `stop()` and `kill()` end the process but keep
the data dir, so `start()` or `restart()` brings the same data back on the same port.
`close()` (also run by the context manager and at interpreter exit) stops the server and
deletes the data dir only if this object created it as a temporary one; a data dir given
by the caller (for example under `.stack/` for `make up`) is always kept.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import tempfile
import time
from abc import ABC, abstractmethod
from pathlib import Path
from types import TracebackType
from typing import ClassVar, Self

from devstack.errors import ServerError, ServerStartError
from devstack.ports import free_port
from devstack.process import ChildProcess, RunAs

_PORT_ATTEMPTS = 5
_LOG_TAIL_BYTES = 4000


class LocalServer(ABC):
    """A private server process on 127.0.0.1, tracked by PID."""

    kind: ClassVar[str]
    stop_signal: ClassVar[int] = signal.SIGTERM
    log_name: ClassVar[str] = "devstack-server.log"

    def __init__(
        self,
        *,
        port: int | None = None,
        data_dir: str | os.PathLike[str] | None = None,
        start_timeout: float = 60.0,
        stop_timeout: float = 30.0,
    ) -> None:
        if port is not None and not 0 < port < 65536:
            raise ValueError(f"port out of range: {port}")
        self._port = port
        # After the first start the port is fixed, so restarts keep the URL clients hold.
        self._port_fixed = port is not None
        self._owns_dir = data_dir is None
        self._data_dir = Path(data_dir).absolute() if data_dir is not None else None
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self._proc: ChildProcess | None = None

    # -- what a subclass provides ------------------------------------------------------

    @abstractmethod
    def _argv(self) -> list[str]:
        """The command line that runs the server in the foreground on self.port."""

    @abstractmethod
    def _ready(self, pid: int) -> bool:
        """True once the server answers and is proven to be process `pid` (not a stranger)."""

    def _prepare(self) -> None:
        """Make the data dir usable before a start (PostgreSQL runs initdb here)."""
        return None

    def _run_as(self) -> RunAs | None:
        return None

    def _cleanup_extra(self) -> None:
        """Remove whatever else the server created (PostgreSQL's socket dir)."""
        return None

    @property
    @abstractmethod
    def url(self) -> str:
        """The URL clients connect to."""

    # -- public API ---------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._port is None:
            raise ServerError(f"{self.kind} has no port before its first start()")
        return self._port

    @property
    def data_dir(self) -> Path:
        if self._data_dir is None:
            self._data_dir = Path(tempfile.mkdtemp(prefix=f"devstack-{self.kind}-"))
        return self._data_dir

    @property
    def pid(self) -> int:
        """PID of the running server process."""
        if self._proc is None or not self._proc.alive():
            raise ServerError(f"{self.kind} is not running")
        return self._proc.pid

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.alive()

    @property
    def log_path(self) -> Path:
        return self.data_dir / self.log_name

    def start(self) -> Self:
        """Start the server and return once it answers; no-op when it already runs."""
        if self.running:
            return self
        self._forget_dead_process()
        self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._prepare()
        _OPEN.add(self)
        attempts = 1 if self._port_fixed else _PORT_ATTEMPTS
        for attempt in range(1, attempts + 1):
            if not self._port_fixed:
                self._port = free_port()
            try:
                self._spawn_and_wait()
            except ServerStartError as exc:
                # Another process may take a free port before the server binds it.
                if attempt < attempts and "already in use" in exc.log_tail:
                    continue
                raise
            break
        self._port_fixed = True
        return self

    def stop(self) -> None:
        """Stop gracefully (stop signal by PID, wait, SIGKILL after stop_timeout); keep data."""
        if self._proc is not None:
            self._proc.stop(self.stop_timeout)
            self._proc = None

    def kill(self) -> None:
        """SIGKILL the server (a crash); keep data."""
        if self._proc is not None:
            self._proc.kill()
            self._proc = None

    def restart(self) -> Self:
        """Stop gracefully, then start again on the same port with the same data."""
        self.stop()
        return self.start()

    def close(self) -> None:
        """Stop, and delete the data dir if it is a temporary one this object made."""
        self.stop()
        _OPEN.discard(self)
        self._cleanup_extra()
        if self._owns_dir and self._data_dir is not None:
            shutil.rmtree(self._data_dir, ignore_errors=True)
            self._data_dir = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = f"pid={self._proc.pid}" if self.running and self._proc else "stopped"
        return f"<{type(self).__name__} port={self._port} {state} data_dir={self._data_dir}>"

    # -- internals ----------------------------------------------------------------------

    def _forget_dead_process(self) -> None:
        if self._proc is not None:
            self._proc.kill()  # reaps it and any descendant it left
            self._proc = None

    def _log_tail(self, since: int) -> str:
        try:
            with self.log_path.open("rb") as fh:
                fh.seek(max(since, fh.seek(0, os.SEEK_END) - _LOG_TAIL_BYTES))
                return fh.read().decode(errors="replace")
        except FileNotFoundError:
            return ""

    def _spawn_and_wait(self) -> None:
        log_path = self.log_path
        with log_path.open("ab") as log:
            since = log.tell()
            proc = ChildProcess(
                self._argv(),
                log=log,
                stop_signal=self.stop_signal,
                run_as=self._run_as(),
                cwd="/",
            )
        deadline = time.monotonic() + self.start_timeout
        delay = 0.01
        while True:
            if not proc.alive():
                proc.kill()
                raise ServerStartError(
                    f"{self.kind} exited with code {proc.returncode()} while starting "
                    f"on port {self._port}",
                    self._log_tail(since),
                )
            if self._ready(proc.pid) and proc.alive():
                self._proc = proc
                return
            if time.monotonic() > deadline:
                proc.kill()
                raise ServerStartError(
                    f"{self.kind} did not become ready on port {self._port} "
                    f"within {self.start_timeout}s",
                    self._log_tail(since),
                )
            time.sleep(delay)
            delay = min(delay * 2, 0.2)


_OPEN: set[LocalServer] = set()


def _close_all() -> None:
    for server in list(_OPEN):
        with contextlib.suppress(Exception):
            server.close()


atexit.register(_close_all)
