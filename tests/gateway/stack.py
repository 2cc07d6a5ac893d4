"""The real parts the gateway tests run against: SMTP server, engine process, gateway process.

- ``SmtpSink``: a real SMTP server (aiosmtpd) on a free port that keeps what it receives.
- ``EngineProcess``: ``python -m engine`` on the test's Redis.
- ``GatewayProcess``: ``python -m gateway`` (uvicorn) on a free port, dev mode.
The fixtures built from them are in ``tests.gateway.fixtures`` (``pytest_plugins``).
"""

from __future__ import annotations

import email
import email.policy
import os
import re
import sys
import threading
import time
from pathlib import Path

import httpx
import redis
from aiosmtpd.controller import Controller

from devstack.ports import free_port
from devstack.process import ChildProcess
from engine.messages import PriceItem
from engine.wire import encode_price_batch

ROOT = Path(__file__).resolve().parents[2]
LINK_RE = re.compile(r"https?://\S+/api/v1/user/signin/post\?token=[A-Za-z0-9_\-]+")


class _Collector:
    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.cond = threading.Condition()

    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.cond:
            self.messages.append(msg)  # type: ignore[arg-type]
            self.cond.notify_all()
        return "250 OK"


class SmtpSink:
    """A real SMTP server on 127.0.0.1 collecting mails; ``url`` is an SMTP_URL for it."""

    def __init__(self) -> None:
        self.port = free_port()
        self._collector = _Collector()
        self._controller = Controller(self._collector, hostname="127.0.0.1", port=self.port)

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def start(self) -> SmtpSink:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def wait_for(self, to: str, timeout: float = 10.0) -> email.message.EmailMessage:
        """The newest mail to ``to`` (waits for one that has not been taken yet)."""
        deadline = time.monotonic() + timeout
        with self._collector.cond:
            while True:
                for i, msg in enumerate(self._collector.messages):
                    if msg["To"] == to:
                        return self._collector.messages.pop(i)
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no mail to {to} within {timeout}s")
                self._collector.cond.wait(left)

    def link_for(self, to: str) -> str:
        """The sign-in link mailed to ``to``."""
        body = self.wait_for(to).get_content()
        match = LINK_RE.search(body)
        assert match, body
        return match.group(0)


def _wait_http(url: str, proc: ChildProcess, log: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not proc.alive():
            raise RuntimeError(f"process exited: {log.read_text()[-3000:]}")
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{url} not up after {timeout}s: {log.read_text()[-3000:]}")


class EngineProcess:
    """The engine daemon (``python -m engine``) on ``redis_url``, ``env`` added to its
    environment (``ADMIN_EMAILS=...``); ``start``/``stop``."""

    def __init__(self, redis_url: str, workdir: Path, **env: str) -> None:
        self.redis_url = redis_url
        self.env = {**os.environ, **env}
        self.snapshot_dir = workdir / "snapshots"
        self.snapshot_dir.mkdir(parents=True, exist_ok=True)
        self.log = workdir / "engine.log"
        self.proc: ChildProcess | None = None

    def argv(self) -> list[str]:
        argv = [
            sys.executable, "-m", "engine",
            "--redis-url", self.redis_url,
            "--snapshot-dir", str(self.snapshot_dir),
            "--metrics-port", "0",
        ]  # fmt: skip
        if any(self.snapshot_dir.iterdir()):
            argv.append("--recover")  # a restart: load the snapshot, replay the streams
        return argv

    def start(self) -> EngineProcess:
        client = redis.Redis.from_url(self.redis_url)
        client.delete("engine:heartbeat")
        with self.log.open("ab") as log:
            self.proc = ChildProcess(self.argv(), log=log, env=self.env, cwd=ROOT)
        deadline = time.monotonic() + 30
        while not client.exists("engine:heartbeat"):
            if not self.proc.alive() or time.monotonic() > deadline:
                raise RuntimeError(f"engine did not start: {self.log.read_text()[-3000:]}")
            time.sleep(0.05)
        client.close()
        return self

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop(timeout=15)
            self.proc = None


class GatewayProcess:
    """``python -m gateway`` on a free port (dev mode); ``url``, ``client()``, ``stop()``."""

    def __init__(self, redis_url: str, workdir: Path, **env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = workdir / f"gateway-{self.port}.log"
        self.env = {
            **os.environ,
            "GATEWAY_ENV": "dev",
            "GATEWAY_PORT": str(self.port),
            "REDIS_URL": redis_url,
            "ENGINE_TIMEOUT_MS": "3000",
            "LOG_LEVEL": "info",
            **env,
        }
        self.proc: ChildProcess | None = None

    def start(self) -> GatewayProcess:
        with self.log.open("ab") as log:
            self.proc = ChildProcess(
                [sys.executable, "-m", "gateway"], log=log, env=self.env, cwd=ROOT
            )
        _wait_http(self.url + "/healthz", self.proc, self.log)
        return self

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop(timeout=15)
            self.proc = None

    def log_text(self) -> str:
        return self.log.read_text()

    def client(self, **kwargs: object) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=15.0, **kwargs)  # type: ignore[arg-type]


def push_prices(redis_url: str, prices: dict[str, tuple[int, int, int]], decimals: int = 4) -> str:
    """XADD one engine_input batch of ``asset -> (price, bid, ask)``; returns the entry id."""
    items = [PriceItem(a, p, decimals, b, k) for a, (p, b, k) in prices.items()]
    client = redis.Redis.from_url(redis_url)
    try:
        fields = encode_price_batch(items, "test", int(time.time() * 1000))
        entry = client.xadd("engine_input", fields)  # type: ignore[arg-type]
    finally:
        client.close()
    return entry.decode()


def sign_in(gateway: GatewayProcess, smtp: SmtpSink, address: str) -> httpx.Client:
    """A client signed in as ``address`` through the real mail link, CSRF header set."""
    client = gateway.client()
    r = client.post("/api/v1/user/signup", json={"email": address})
    assert r.status_code == 202, r.text
    link = smtp.link_for(address)
    r = client.get(link.replace(f"http://127.0.0.1:{gateway.port}", ""))
    assert r.status_code == 303, r.text
    client.headers["X-CSRF-Token"] = client.cookies["csrfToken"]
    return client
