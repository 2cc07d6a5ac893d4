"""Migration files: naming, ordering, checksums (applying them: tests/integration)."""

from __future__ import annotations

import pytest

from worker.migrate import MigrationError, load_migrations


def test_shipped_migrations_load_in_version_order():
    migrations = load_migrations()
    versions = [m.version for m in migrations]
    assert versions == sorted(versions) and versions[0] == 1
    assert "CREATE TABLE ledger" in migrations[0].sql
    assert len(migrations[0].checksum) == 64


def _package(tmp_path, monkeypatch, names: list[str]) -> str:
    # A fresh name per test: an imported package stays cached in sys.modules.
    package = f"fake_migrations_{abs(hash(str(tmp_path)))}"
    pkg = tmp_path / package
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    for name in names:
        (pkg / name).write_text("SELECT 1;")
    monkeypatch.syspath_prepend(str(tmp_path))
    return package


@pytest.mark.parametrize(
    "names", [["1_init.sql"], ["0001-init.sql"], ["0001_Init.sql"], ["0001_a.sql", "0001_b.sql"]]
)
def test_bad_or_duplicate_file_names_are_refused(tmp_path, monkeypatch, names):
    with pytest.raises(MigrationError):
        load_migrations(_package(tmp_path, monkeypatch, names))


def test_non_sql_files_are_ignored(tmp_path, monkeypatch):
    pkg = _package(tmp_path, monkeypatch, ["0002_b.sql", "0001_a.sql", "README.md"])
    assert [(m.version, m.name) for m in load_migrations(pkg)] == [(1, "a"), (2, "b")]
