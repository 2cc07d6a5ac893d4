"""Writing snapshots without stalling trading: a forked child serializes, compresses and writes.

As Redis does for BGSAVE: ``os.fork()`` gives the child a copy-on-write image of the engine state
at that instant; the parent goes back to its loop at once, and the child dumps, gzips, hashes,
fsyncs and renames, reports through a pipe and exits. The only stall of the loop is the fork
itself (copying page tables), which is measured and exported. ``inline`` mode writes in the loop,
for comparison and for the final snapshot at shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import gc
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import orjson

from engine.state import EngineState, dump_state
from snapshots.format import Header
from snapshots.store import SnapshotStore

_PR_SET_PDEATHSIG = 1
CHILD_NICENESS = 10


@dataclass(frozen=True)
class SnapshotResult:
    """How one snapshot went."""

    header: Header
    ok: bool
    path: str | None = None
    size: int = 0
    duration_s: float = 0.0
    stall_s: float = 0.0
    error: str | None = None
    mode: str = "fork"


def write(store: SnapshotStore, state: EngineState, header: Header) -> tuple[Path, int]:
    """Serialize ``state`` and store it under ``header``; return the path and the file size."""
    path = store.write(header, dump_state(state))
    return path, path.stat().st_size


def _die_with_parent(parent: int) -> None:
    """Ask the kernel to kill this child if the engine dies (Linux); exit if it already has."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:
        os._exit(1)


def _child(fd: int, store: SnapshotStore, state: EngineState, header: Header, parent: int) -> None:
    """The forked child's whole life; never returns."""
    status = 1
    try:
        gc.disable()  # a collection would touch every object and copy the parent's pages
        with contextlib.suppress(ValueError):
            signal.set_wakeup_fd(-1)
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, signal.SIG_DFL)
        if store.lock_fd is not None:
            os.close(store.lock_fd)  # the lock stays the parent's alone
        _die_with_parent(parent)
        # Background work: on a small machine the child would otherwise take CPU from the
        # engine (and from Redis) for the whole write.
        with contextlib.suppress(OSError):
            os.nice(CHILD_NICENESS)
        started = time.perf_counter()
        path, size = write(store, state, header)
        report = {
            "ok": True,
            "path": str(path),
            "size": size,
            "duration_s": time.perf_counter() - started,
        }
        status = 0
    except BaseException as exc:
        report = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    try:
        os.write(fd, orjson.dumps(report))
    finally:
        os._exit(status)


class Snapshotter:
    """Starts snapshots and reports each one's outcome through ``on_done`` (on the loop)."""

    def __init__(
        self, store: SnapshotStore, mode: str, on_done: Callable[[SnapshotResult], None]
    ) -> None:
        if mode not in ("fork", "inline"):
            raise ValueError(f"unknown snapshot mode {mode!r}")
        self.store = store
        self.mode = mode
        self.on_done = on_done
        self._child: tuple[int, int, Header, float] | None = None  # pid, fd, header, stall
        self._chunks: list[bytes] = []
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def busy(self) -> bool:
        """A child is still writing."""
        return self._child is not None

    def start(self, state: EngineState, header: Header) -> float:
        """Start a snapshot of ``state`` now; return how long the loop was blocked, seconds."""
        if self.busy:
            raise RuntimeError("a snapshot is already being written")
        if self.mode == "inline":
            result = self.write_inline(state, header)
            self.on_done(result)
            return result.stall_s
        began = time.perf_counter()
        read_fd, write_fd = os.pipe()
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child's coverage is not collected
            os.close(read_fd)
            _child(write_fd, self.store, state, header, parent)
        os.close(write_fd)
        os.set_blocking(read_fd, False)
        stall = time.perf_counter() - began
        self._child = (pid, read_fd, header, stall)
        self._chunks = []
        self._idle.clear()
        asyncio.get_running_loop().add_reader(read_fd, self._readable)
        return stall

    def write_inline(self, state: EngineState, header: Header) -> SnapshotResult:
        """Write in this process, blocking the loop for the whole write."""
        began = time.perf_counter()
        try:
            path, size = write(self.store, state, header)
        except Exception as exc:
            took = time.perf_counter() - began
            return SnapshotResult(
                header,
                False,
                error=f"{type(exc).__name__}: {exc}",
                duration_s=took,
                stall_s=took,
                mode="inline",
            )
        took = time.perf_counter() - began
        return SnapshotResult(header, True, str(path), size, took, took, mode="inline")

    def _readable(self) -> None:
        assert self._child is not None
        pid, fd, header, stall = self._child
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            return
        if chunk:
            self._chunks.append(chunk)
            return
        asyncio.get_running_loop().remove_reader(fd)
        os.close(fd)
        _, status = os.waitpid(pid, 0)
        self._child = None
        self._idle.set()
        try:
            report = orjson.loads(b"".join(self._chunks))
        except orjson.JSONDecodeError:
            report = {"ok": False, "error": f"child exited with status {status} without a report"}
        self.on_done(
            SnapshotResult(
                header,
                bool(report.get("ok")),
                report.get("path"),
                int(report.get("size", 0)),
                float(report.get("duration_s", 0.0)),
                stall,
                report.get("error"),
            )
        )

    async def wait(self) -> None:
        """Wait for a child in flight to finish."""
        await self._idle.wait()
