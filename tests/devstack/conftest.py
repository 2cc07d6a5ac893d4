"""Fixtures of the devstack tests."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A folder the unprivileged PostgreSQL user can reach even when the tests run as root
    (pytest's tmp_path sits below a folder only its owner may enter)."""
    folder = Path(tempfile.mkdtemp(prefix="devstack-test-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)
