"""A server's child process: started, signalled and reaped by PID, with its descendants.

Every child is also stopped when this Python process exits (atexit), and, when started
from the main thread on Linux, gets a parent-death signal so that even a SIGKILLed test run
leaves no server behind.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class RunAs:
    """An unprivileged account to run a child as (PostgreSQL refuses to run as root)."""

    name: str
    uid: int
    gid: int


def _load_libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None


_LIBC = _load_libc()


def _parent_death_hook(sig: int, parent: int) -> Callable[[], None] | None:
    """A preexec_fn that makes the child get `sig` when its parent thread dies.

    The kernel sends it when the *thread* that forked exits, so it is only safe when that
    thread is the main one: a server started from a worker thread (asyncio.to_thread) would
    otherwise die with the thread.
    """
    libc = _LIBC
    if libc is None or threading.current_thread() is not threading.main_thread():
        return None

    def hook() -> None:
        libc.prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os.kill(os.getpid(), sig)

    return hook


def _proc_stat(pid: int) -> tuple[str, int] | None:
    """(state, parent pid) of a process from /proc, or None when it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    fields = raw[raw.rindex(")") + 2 :].split()
    return fields[0], int(fields[1])


def descendants(pid: int) -> list[int]:
    """PIDs of every live process below `pid` (Linux /proc; empty elsewhere)."""
    children: dict[int, list[int]] = {}
    try:
        entries = os.listdir("/proc")
    except FileNotFoundError:
        return []
    for entry in entries:
        if not entry.isdigit():
            continue
        stat = _proc_stat(int(entry))
        if stat is not None and stat[0] != "Z":
            children.setdefault(stat[1], []).append(int(entry))
    found: list[int] = []
    stack = [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found


def pid_alive(pid: int) -> bool:
    """True while `pid` exists and is not a zombie."""
    stat = _proc_stat(pid)
    if stat is None:
        if not Path("/proc/self").exists():  # not Linux: ask the kernel directly
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return False
            except PermissionError:
                return True
            return True
        return False
    return stat[0] != "Z"


class ChildProcess:
    """One started server process, tracked by its PID."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        log: IO[bytes],
        stop_signal: int = signal.SIGTERM,
        run_as: RunAs | None = None,
        env: dict[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
    ) -> None:
        self.stop_signal = stop_signal
        extra: dict[str, Any] = {}
        if run_as is not None:
            extra = {"user": run_as.uid, "group": run_as.gid, "extra_groups": []}
        # A new session keeps a terminal's Ctrl-C from reaching the server directly: the
        # owner decides how it stops (atexit, or the parent-death signal).
        self._popen = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
            start_new_session=True,
            preexec_fn=_parent_death_hook(stop_signal, os.getpid()),
            **extra,
        )
        _LIVE.add(self)

    @property
    def pid(self) -> int:
        return self._popen.pid

    def alive(self) -> bool:
        """True while the process itself runs (it is reaped here if it has exited)."""
        return self._popen.poll() is None

    def returncode(self) -> int | None:
        return self._popen.poll()

    def stop(self, timeout: float) -> None:
        """Send the stop signal, wait up to `timeout` seconds, then SIGKILL what is left."""
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, self.stop_signal)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._popen.wait(timeout)
        self.kill()

    def kill(self) -> None:
        """SIGKILL the process and every descendant, and wait until all are gone."""
        # Collect before killing: once the parent dies its children are re-parented away.
        # Our own child's PID cannot be reused until we reap it, so signalling it is safe
        # while alive() (which reaps) says it runs.
        victims = descendants(self.pid) if self.alive() else []
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
        for pid in victims:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        self._popen.wait()
        deadline = time.monotonic() + 10.0
        while any(pid_alive(pid) for pid in victims) and time.monotonic() < deadline:
            time.sleep(0.01)
        _LIVE.discard(self)


_LIVE: set[ChildProcess] = set()


def _kill_leftovers() -> None:
    for child in list(_LIVE):
        child.kill()


atexit.register(_kill_leftovers)
