"""Small helpers for the devstack tests."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from devstack.process import pid_alive

ROOT = Path(__file__).resolve().parents[2]


def wait_gone(pid: int, timeout: float = 15.0) -> bool:
    """Poll until `pid` is gone (or a zombie); bounded by `timeout`."""
    deadline = time.monotonic() + timeout
    while pid_alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def start_in_orphaned_parent(server_expr: str) -> tuple[subprocess.Popen[str], int]:
    """Start `server_expr` in a child Python that prints the server's PID and then hangs.

    The caller SIGKILLs that Python (no atexit runs) to check the server dies with it; pass
    a data_dir the test removes itself, since the killed Python cannot.
    """
    code = textwrap.dedent(
        f"""
        import sys, time
        from devstack.redis_server import RedisServer
        from devstack.postgres_server import PostgresServer
        server = {server_expr}.start()
        print(server.pid, flush=True)
        time.sleep(120)
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.strip():
        proc.kill()
        proc.wait()
        raise AssertionError("the child Python printed no server PID")
    return proc, int(line)
