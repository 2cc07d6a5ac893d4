"""The whole exchange, run the way `make up` runs it, used the way a newcomer would use it.

`python -m devstack up` with the repository's Procfile, on free ports, in a fresh stack folder:
sign in through the local mailbox, trade over HTTP, SIGKILL the engine (honcho then stops the
whole stack), run it again and find the same balance and the same open trade; close the trade,
stop with SIGINT (Ctrl-C), run it a third time and find the closed state.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from devstack.mailbox import latest_link
from devstack.ports import free_port
from devstack.process import ChildProcess

ROOT = Path(__file__).resolve().parents[2]
PARTS = ("engine.daemon", "gateway.app", "worker.migrate", "poller.service", "honcho", "httpx")
MISSING = [name for name in PARTS if importlib.util.find_spec(name) is None]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(bool(MISSING), reason=f"parts not installed yet: {', '.join(MISSING)}"),
]

READY_TIMEOUT_S = 240.0
STOP_TIMEOUT_S = 90.0
USER = "newcomer@example.com"


class StackRun:
    """One `python -m devstack up` in the background, its output in a file."""

    def __init__(self, stack_dir: Path, env: dict[str, str], name: str) -> None:
        self.stack_dir = stack_dir
        self.env = env
        self.log = stack_dir.parent / f"{name}.log"
        self.port = int(env["GATEWAY_PORT"])
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: ChildProcess | None = None

    def start(self) -> StackRun:
        argv = [sys.executable, "-m", "devstack", "up", "--dir", str(self.stack_dir),
                "--procfile", str(ROOT / "Procfile")]  # fmt: skip
        with self.log.open("ab") as log:
            self.proc = ChildProcess(
                argv, log=log, stop_signal=signal.SIGINT, env=self.env, cwd=ROOT
            )
        return self

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def fail(self, why: str) -> None:
        pytest.fail(f"{why}\n--- devstack up output (tail) ---\n{self.text()[-6000:]}")

    def wait_ready(self) -> None:
        import httpx

        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            assert self.proc is not None
            if not self.proc.alive():
                self.fail(f"devstack up exited with {self.proc.returncode()} before ready")
            try:
                if httpx.get(self.url + "/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.25)
        self.fail(f"not ready within {READY_TIMEOUT_S}s")

    def pid_of(self, process: str) -> int:
        """PID of a Procfile process, from honcho's 'NAME.1 started (pid=N)' line."""
        found = re.findall(rf"{process}\.1 started \(pid=(\d+)\)", self.text())
        if not found:
            self.fail(f"no pid for {process}")
        return int(found[-1])

    def wait_exit(self) -> int:
        assert self.proc is not None
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while self.proc.alive():
            if time.monotonic() > deadline:
                self.proc.kill()
                self.fail(f"devstack up still running {STOP_TIMEOUT_S}s after the stop")
            time.sleep(0.1)
        code = self.proc.returncode()
        assert code is not None
        return code

    def interrupt(self) -> int:
        """Ctrl-C: SIGINT to devstack up, then its exit status."""
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGINT)
        return self.wait_exit()

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()


@pytest.fixture
def stack_env() -> Iterator[tuple[Path, dict[str, str]]]:
    # World-enterable (0755) so that PostgreSQL, run as an unprivileged user when the tests run
    # as root, can reach its data dir inside; mkdtemp alone makes it 0700.
    workdir = Path(tempfile.mkdtemp(prefix="e2e-stack-"))
    workdir.chmod(0o755)
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("REDIS_URL", "DATABASE_URL", "SMTP_URL", "PUBLIC_URL", "GATEWAY_ENV",
                       "STACK_DIR", "METRICS_PORT", "FEED", "ADMIN_EMAILS",
                       "WORKER_METRICS_PORT")
    }  # fmt: skip
    env.update({
        "STACK_REDIS_PORT": str(free_port()),
        "STACK_PG_PORT": str(free_port()),
        "STACK_SMTP_PORT": str(free_port()),
        "GATEWAY_PORT": str(free_port()),
        "ENGINE_METRICS_PORT": str(free_port()),
        "POLLER_METRICS_PORT": str(free_port()),
        "WORKER_METRICS_PORT": str(free_port()),
        # The newcomer is an operator: make up hands ADMIN_EMAILS to the engine and the gateway.
        "ADMIN_EMAILS": USER,
        # No periodic snapshot during the test: recovery after the SIGKILL must replay the trade.
        "SNAPSHOT_INTERVAL_S": "3600",
        "FEED": "sim",
    })  # fmt: skip
    yield workdir / "stack", env
    shutil.rmtree(workdir, ignore_errors=True)


def _sign_in(run: StackRun) -> Any:
    import httpx

    client = httpx.Client(base_url=run.url, timeout=20.0)
    before = len(list((run.stack_dir / "mail").glob("*.eml")))
    r = client.post("/api/v1/user/signup", json={"email": USER})
    assert r.status_code == 202, r.text
    deadline = time.monotonic() + 30
    link = None
    while link is None and time.monotonic() < deadline:
        link = latest_link(run.stack_dir / "mail", USER, contains="signin", since=before)
        time.sleep(0.1)
    assert link is not None, "no sign-in link reached the mailbox"
    assert link.startswith(run.url + "/api/v1/user/signin/post?token=")
    r = client.get(link)
    assert r.status_code == 303, r.text
    assert "authToken" in client.cookies
    client.headers["X-CSRF-Token"] = client.cookies["csrfToken"]
    return client


def _engine(client: Any, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
    r = client.request(method, path, **kwargs)
    assert r.status_code == 200, r.text
    body = json.loads(r.text, parse_float=Decimal)  # amounts are exact decimal numbers
    assert body["success"] is True, body
    return dict(body["engineResponse"]["data"])


def _balance(client: Any) -> dict[str, Any]:
    """GET_BALANCE as documented: ``balances.USD`` (free) and our ``locked.USD``, in USD."""
    data = _engine(client, "GET", "/api/v1/account/balance")
    return {"balance": data["balances"]["USD"], "locked": data["locked"]["USD"]}


def _open_trade(client: Any) -> dict[str, Any]:
    """Open a LONG once the simulator's first prices have reached the engine."""
    deadline = time.monotonic() + 60
    order = {"asset": "BTC_USDC", "direction": "LONG", "margin": "250", "leverage": 50}
    while True:
        r = client.post("/api/v1/trade/create", json=order)
        if r.status_code == 200 and r.json()["success"]:
            return dict(json.loads(r.text, parse_float=Decimal)["engineResponse"]["data"])
        if time.monotonic() > deadline:
            pytest.fail(f"could not open a trade: {r.status_code} {r.text}")
        time.sleep(0.5)


def _stack_setting(stack_dir: Path, key: str) -> str:
    from honcho.environ import parse

    return str(parse((stack_dir / "env").read_text())[key])


def _persisted_trade(database_url: str, trade_id: str) -> dict[str, Any] | None:
    import asyncpg

    async def fetch() -> dict[str, Any] | None:
        conn = await asyncpg.connect(database_url, timeout=10)
        try:
            row = await conn.fetchrow(
                "SELECT email, margin, closed_seq FROM trades WHERE trade_id = $1", trade_id
            )
            return dict(row) if row is not None else None
        finally:
            await conn.close()

    return asyncio.run(fetch())


def test_make_up_signs_in_trades_and_recovers_after_engine_sigkill(
    stack_env: tuple[Path, dict[str, str]],
) -> None:
    stack_dir, env = stack_env
    first = StackRun(stack_dir, env, "run1").start()
    try:
        first.wait_ready()
        client = _sign_in(first)
        start = _balance(client)
        trade = _open_trade(client)
        after_open = _balance(client)
        assert after_open["locked"] == start["locked"] + trade["margin"]
        assert after_open["balance"] == start["balance"] - trade["margin"]

        # The worker makes the trade durable in PostgreSQL.
        database_url = _stack_setting(stack_dir, "DATABASE_URL")
        deadline = time.monotonic() + 60
        row = None
        while time.monotonic() < deadline:
            row = _persisted_trade(database_url, trade["tradeId"])
            if row is not None:
                break
            time.sleep(0.25)
        # PostgreSQL keeps USD in 1/10,000 (the reference data model's unit)
        assert row == {"email": USER, "margin": trade["margin"] * 10_000, "closed_seq": None}

        # ADMIN_EMAILS reached both locks: the gateway's route and the engine's own check.
        report = _engine(client, "GET", "/api/v1/admin/report")
        assert report["openPositions"] == 1 and report["totals"]["conserved"] is True
        # The operator CLI with the stack's settings, and the worker's metrics on its port.
        cli = subprocess.run(
            [sys.executable, "-m", "gateway", "admin", "report"],
            env={**os.environ, "REDIS_URL": _stack_setting(stack_dir, "REDIS_URL"),
                 "ADMIN_EMAILS": _stack_setting(stack_dir, "ADMIN_EMAILS")},
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert cli.returncode == 0, cli.stderr
        assert json.loads(cli.stdout)["engineResponse"]["data"]["openPositions"] == 1
        import httpx

        worker_port = env["WORKER_METRICS_PORT"]
        metrics = httpx.get(f"http://127.0.0.1:{worker_port}/metrics", timeout=10).text
        assert 'worker_entries_written_total{stream="engine_response"}' in metrics

        # A crash of the engine: honcho stops every other part, devstack stops the servers.
        os.kill(first.pid_of("engine"), signal.SIGKILL)
        assert first.wait_exit() == 1
    finally:
        first.kill()

    second = StackRun(stack_dir, env, "run2").start()
    try:
        second.wait_ready()
        # Same session cookie, same account: recovery replayed the trade exactly.
        assert _balance(client) == after_open
        open_trades = _engine(client, "GET", "/api/v1/trades/open")["trades"]
        assert [t["tradeId"] for t in open_trades] == [trade["tradeId"]]
        closed = _engine(
            client, "POST", "/api/v1/trade/close", json={"tradeId": trade["tradeId"]}
        )
        after_close = _balance(client)
        assert after_close == {
            "balance": after_open["balance"] + closed["totalReturn"],
            "locked": start["locked"],
        }
        assert closed["usdBalance"] == after_close["balance"]
        # Ctrl-C: everything stops cleanly, the engine's final snapshot verifies.
        assert second.interrupt() == 0
    finally:
        second.kill()
    verify = subprocess.run(
        [sys.executable, "-m", "snapshots", "verify", str(stack_dir / "snapshots")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert verify.returncode == 0, verify.stdout + verify.stderr

    third = StackRun(stack_dir, env, "run3").start()
    try:
        third.wait_ready()
        assert _balance(client) == after_close
        assert _engine(client, "GET", "/api/v1/trades/open")["trades"] == []
        assert third.interrupt() == 0
    finally:
        third.kill()
