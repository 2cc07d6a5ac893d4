"""A directory of snapshots: atomic writes, newest-first listing, pruning, a ``latest`` pointer.

Files are named ``snapshot-<seq>-<ms>-<n>.snap`` from the output sequence number and the greatest
applied input entry ID, zero-padded, so that name order is state order. A write goes to a hidden
temporary file that is fsynced, renamed into place and followed by an fsync of the directory;
``latest`` is a symlink replaced the same way. Recovery never trusts ``latest`` (a crash can leave
it one snapshot behind): it lists the directory and verifies from the newest down.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from snapshots.format import Header, SnapshotError, decode, encode, split

PREFIX = "snapshot-"
SUFFIX = ".snap"
LATEST = "latest"
LOCK = ".lock"
TMP_SUFFIX = ".tmp"
_HEADER_READ = 64 * 1024

T = TypeVar("T")


@dataclass(frozen=True)
class Listed:
    """A snapshot file found in the directory, with its header when the header is readable."""

    path: Path
    header: Header | None
    error: str | None = None


class LockedError(RuntimeError):
    """Another process holds the snapshot directory."""


def file_name(header: Header) -> str:
    """The name a snapshot with ``header`` is stored under."""
    ms, n = header.position()
    return f"{PREFIX}{header.seq:016d}-{ms:015d}-{n:020d}{SUFFIX}"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class SnapshotStore:
    """The snapshot directory of one engine."""

    def __init__(self, directory: str | os.PathLike[str], keep: int = 10) -> None:
        if keep < 1:
            raise ValueError("keep must be at least 1")
        self.dir = Path(directory)
        self.keep = keep
        self._lock_fd: int | None = None

    # -- exclusive use -------------------------------------------------------------------------

    def lock(self) -> None:
        """Take the directory's lock (flock), so two engines never share one; raise if held."""
        self.dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.dir / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EAGAIN, errno.EACCES):
                raise LockedError(f"{self.dir} is in use by another engine") from None
            raise
        self._lock_fd = fd

    @property
    def lock_fd(self) -> int | None:
        """The lock's descriptor: a forked child closes it so it never holds the lock."""
        return self._lock_fd

    def unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    # -- writing ---------------------------------------------------------------------------------

    def write(self, header: Header, payload: bytes) -> Path:
        """Write a snapshot atomically, point ``latest`` at it, prune old ones; return its path."""
        self.dir.mkdir(parents=True, exist_ok=True)
        data = encode(header, payload)
        final = self.dir / file_name(header)
        tmp = self.dir / f".{final.name}.{os.getpid()}{TMP_SUFFIX}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, final)
        self._point_latest(final.name)
        _fsync_dir(self.dir)
        self.prune()
        return final

    def _point_latest(self, name: str) -> None:
        tmp = self.dir / f".{LATEST}.{os.getpid()}{TMP_SUFFIX}"
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        os.symlink(name, tmp)
        os.replace(tmp, self.dir / LATEST)

    def prune(self) -> list[Path]:
        """Delete all but the newest ``keep`` snapshots; return what was deleted."""
        paths = self.paths()
        doomed = paths[: max(0, len(paths) - self.keep)]
        for path in doomed:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        return doomed

    def remove_stale_temporaries(self) -> list[Path]:
        """Delete temporary files a killed writer left behind (call while holding the lock)."""
        removed: list[Path] = []
        if not self.dir.is_dir():
            return removed
        for path in self.dir.iterdir():
            if path.name.startswith(".") and path.name.endswith(TMP_SUFFIX):
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                    removed.append(path)
        return removed

    # -- reading ---------------------------------------------------------------------------------

    def paths(self) -> list[Path]:
        """Snapshot files, oldest first (name order is state order)."""
        if not self.dir.is_dir():
            return []
        return sorted(
            p for p in self.dir.iterdir() if p.name.startswith(PREFIX) and p.name.endswith(SUFFIX)
        )

    def listing(self) -> list[Listed]:
        """Snapshot files with their checked headers (payload not inflated), oldest first."""
        out = []
        for path in self.paths():
            try:
                with path.open("rb") as f:
                    head = f.read(_HEADER_READ)
                header, _ = split(head)
                out.append(Listed(path, header))
            except (OSError, SnapshotError) as exc:
                out.append(Listed(path, None, getattr(exc, "reason", str(exc))))
        return out

    def newest_valid(
        self, load: Callable[[Header, bytes], T], on_skip: Callable[[Path, str], None]
    ) -> tuple[Path, Header, T] | None:
        """The newest snapshot that verifies and that ``load(header, payload)`` accepts, or None.

        Every file skipped on the way is reported through ``on_skip(path, reason)``.
        """
        for path, outcome in self._verified_newest_first(load):
            if isinstance(outcome, str):
                on_skip(path, outcome)
                continue
            return (path, *outcome)
        return None

    def _verified_newest_first(
        self, load: Callable[[Header, bytes], T]
    ) -> Iterator[tuple[Path, tuple[Header, T] | str]]:
        for path in reversed(self.paths()):
            yield path, read_verified(path, load)


def read_verified(path: Path, load: Callable[[Header, bytes], T]) -> tuple[Header, T] | str:
    """Header and loaded payload of the snapshot at ``path``, or the reason it is unusable."""
    try:
        header, payload = decode(path.read_bytes())
    except OSError as exc:
        return f"unreadable: {exc.strerror or exc}"
    except SnapshotError as exc:
        return exc.reason
    try:
        state = load(header, payload)
    except Exception as exc:  # any failure to decode the state makes the snapshot unusable
        return f"payload does not decode: {type(exc).__name__}: {exc}"
    return header, state
