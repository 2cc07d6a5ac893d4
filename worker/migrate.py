"""Versioned SQL migrations: ``worker/migrations/NNNN_name.sql``, applied in order, once each.

Applied versions are recorded in ``schema_migrations`` with the SHA-256 of their text; a file
that changed after it was applied is an error, never silently re-run. Each migration runs in its
own transaction under an advisory lock, so workers starting together apply it exactly once.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources

import asyncpg

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
# Any constant of our own: the lock serialises migrations between workers of one database.
_LOCK_KEY = 0x57_4F_52_4B  # "WORK"


class MigrationError(RuntimeError):
    """The migration files or the database's record of them are inconsistent."""


@dataclass(frozen=True, slots=True)
class Migration:
    """One migration file."""

    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def load_migrations(package: str = "worker.migrations") -> list[Migration]:
    """The migration files shipped in ``package``, by version; raise on a bad or duplicate name."""
    found: dict[int, Migration] = {}
    for item in resources.files(package).iterdir():
        if not item.name.endswith(".sql"):
            continue
        match = _NAME.match(item.name)
        if match is None:
            raise MigrationError(f"migration file name {item.name!r} is not NNNN_name.sql")
        version = int(match.group(1))
        if version in found:
            raise MigrationError(f"two migrations have version {version}")
        found[version] = Migration(version, match.group(2), item.read_text(encoding="utf-8"))
    return [found[v] for v in sorted(found)]


async def migrate(conn: asyncpg.Connection, migrations: list[Migration] | None = None) -> list[int]:
    """Apply the pending migrations; return the versions applied now (empty if up to date)."""
    if migrations is None:
        migrations = load_migrations()
    await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
    try:
        await conn.execute(
            """CREATE TABLE IF NOT EXISTS schema_migrations (
                   version    INTEGER PRIMARY KEY,
                   name       TEXT NOT NULL,
                   checksum   TEXT NOT NULL,
                   applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
               )"""
        )
        rows = await conn.fetch("SELECT version, name, checksum FROM schema_migrations")
        applied = {r["version"]: r for r in rows}
        known = {mig.version for mig in migrations}
        unknown = sorted(set(applied) - known)
        if unknown:
            raise MigrationError(f"database has migrations this worker does not know: {unknown}")
        done: list[int] = []
        for mig in migrations:
            row = applied.get(mig.version)
            if row is not None:
                if row["checksum"] != mig.checksum:
                    raise MigrationError(
                        f"migration {mig.version:04d}_{mig.name} changed after it was applied"
                    )
                continue
            async with conn.transaction():
                await conn.execute(mig.sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                    mig.version,
                    mig.name,
                    mig.checksum,
                )
            done.append(mig.version)
        return done
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)
