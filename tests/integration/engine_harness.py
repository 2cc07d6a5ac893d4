"""Running the real engine daemon (``python -m engine``) in tests, feeding it, and checking it.

``EngineProcess`` starts the daemon as a subprocess and reads its JSON log lines; ``Feeder``
writes seed-format entries to the input streams; ``replay_from_scratch`` applies both streams,
as they stand, to a fresh core in the documented order; ``published`` reads what the daemon
published. Tests compare the last two: identical outputs mean no output was lost, duplicated or
different, whatever happened to the daemon in between.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis

from engine.core import Engine
from engine.daemon.ordering import merge
from engine.messages import Command, PriceItem, Response
from engine.shards import ShardStreams
from engine.state import EngineState, dump_state
from engine.stream_ids import parse_id
from engine.wire import encode_command, encode_event, encode_price_batch, encode_response
from snapshots.state import load_checked
from snapshots.store import SnapshotStore

PRICES, COMMANDS, RESPONSES, EVENTS = (
    "engine_input",
    "backend-to-engine",
    "engine_response",
    "engine_events",
)
ROOT = Path(__file__).resolve().parents[2]
DOCUMENTED = ShardStreams(PRICES, COMMANDS, RESPONSES, EVENTS)  # one shard, plain Redis


def wait_for(condition: Callable[[], Any], timeout: float, what: str, every: float = 0.02) -> Any:
    """Poll ``condition`` until it returns something truthy; fail the test after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(every)


class EngineProcess:
    """One ``python -m engine`` subprocess at a time, over one snapshot directory."""

    def __init__(self, redis_url: str, snapshot_dir: Path, *args: str, log: Path | None = None):
        self.redis_url = redis_url
        self.snapshot_dir = snapshot_dir
        self.args = list(args)
        self.log = log or snapshot_dir.parent / f"{snapshot_dir.name}-engine.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self._offset = 0

    def start(
        self, *extra: str, recover: bool = False, env: dict[str, str] | None = None
    ) -> EngineProcess:
        assert self.proc is None or self.proc.poll() is not None, "engine already running"
        self._offset = self.log.stat().st_size if self.log.exists() else 0
        argv = [
            sys.executable,
            "-m",
            "engine",
            "--redis-url",
            self.redis_url,
            "--snapshot-dir",
            str(self.snapshot_dir),
            "--metrics-port",
            "0",
            "--log-level",
            "debug",  # the tests wait for snapshot_written and trimmed, debug-level lines
            *self.args,
            *extra,
        ]
        if recover:
            argv.append("--recover")
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                argv, stdout=log, stderr=log, cwd=ROOT, env=os.environ | (env or {})
            )
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def events(self, name: str | None = None, since_start: bool = True) -> list[dict[str, Any]]:
        """Log lines of this run (or all runs), parsed; only ``name`` events when given."""
        if not self.log.exists():
            return []
        with self.log.open("rb") as f:
            if since_start:
                f.seek(self._offset)
            lines = f.read().splitlines()
        out = []
        for line in lines:
            try:
                item = json.loads(line)
            except ValueError:
                continue
            if isinstance(item, dict) and (name is None or item.get("event") == name):
                out.append(item)
        return out

    def wait_event(self, name: str, timeout: float = 30.0) -> dict[str, Any]:
        def seen() -> dict[str, Any] | None:
            found = self.events(name)
            if found:
                return found[-1]
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(
                    f"engine exited ({self.proc.returncode}) before {name!r}:\n{self.tail()}"
                )
            return None

        return wait_for(seen, timeout, f"engine log event {name!r}")

    def tail(self, lines: int = 30) -> str:
        if not self.log.exists():
            return ""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def kill(self) -> None:
        """SIGKILL: no final snapshot, no goodbye."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def terminate(self, timeout: float = 60.0) -> int:
        """SIGTERM and wait; return the exit status."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout)

    def wait(self, timeout: float = 60.0) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout=timeout)

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)


class Feeder:
    """Writes seed-format entries to the input streams and remembers every orderId sent."""

    def __init__(self, client: redis.Redis, streams: ShardStreams = DOCUMENTED) -> None:
        self.client = client
        self.streams = streams
        self.sent: list[str] = []
        self._n = 0

    def order_id(self, prefix: str = "o") -> str:
        self._n += 1
        return f"{prefix}{self._n}"

    def command(
        self, command: str, email: str, /, order_id: str | None = None, **data: Any
    ) -> str:
        order_id = order_id or self.order_id()
        fields = encode_command(Command(order_id, command, email, data, 0))
        self.client.xadd(self.streams.commands, fields)
        self.sent.append(order_id)
        return order_id

    def price(self, asset: str, bid: int, ask: int | None = None, decimals: int = 4) -> None:
        item = PriceItem(asset, bid, decimals, bid, bid if ask is None else ask)
        self.client.xadd(self.streams.prices, encode_price_batch([item], "test", 0))


def as_bytes(fields: dict[str, Any]) -> dict[bytes, bytes]:
    return {k.encode(): v if isinstance(v, bytes) else str(v).encode() for k, v in fields.items()}


def _all(client: redis.Redis, stream: str) -> list[tuple[bytes, dict[bytes, bytes]]]:
    out: list[tuple[bytes, dict[bytes, bytes]]] = []
    after = "-"
    while True:
        chunk = client.xrange(stream, min=after, count=5000)
        out.extend(chunk)
        if len(chunk) < 5000:
            return out
        after = "(" + chunk[-1][0].decode()


def replay_from_scratch(
    client: redis.Redis, streams: ShardStreams = DOCUMENTED
) -> tuple[Engine, list[tuple[str, dict]]]:
    """A fresh core fed both input streams in the documented order; its outputs, encoded."""
    engine = Engine()
    outputs: list[tuple[str, dict[bytes, bytes]]] = []

    def parsed(stream: str):
        return [(parse_id(i), i.decode(), f) for i, f in _all(client, stream)]

    for kind, entry_id, fields in merge(parsed(streams.prices), parsed(streams.commands)):
        apply = engine.apply_price_entry if kind == 0 else engine.apply_command_entry
        for out in apply(entry_id, fields):
            if isinstance(out, Response):
                outputs.append((streams.responses, as_bytes(encode_response(out))))
            else:
                outputs.append((streams.events, as_bytes(encode_event(out))))
    return engine, outputs


def published(client: redis.Redis, streams: ShardStreams = DOCUMENTED) -> list[tuple[str, dict]]:
    """Every published output, ordered by ``seq``."""
    both = [(streams.responses, f) for _, f in _all(client, streams.responses)]
    both += [(streams.events, f) for _, f in _all(client, streams.events)]
    return sorted(both, key=lambda item: int(item[1][b"seq"]))


def responses_by_order(
    client: redis.Redis, streams: ShardStreams = DOCUMENTED
) -> dict[str, list[dict[bytes, bytes]]]:
    out: dict[str, list[dict[bytes, bytes]]] = {}
    for _, fields in _all(client, streams.responses):
        out.setdefault(fields[b"orderId"].decode(), []).append(fields)
    return out


def newest_snapshot_state(snapshot_dir: Path) -> EngineState:
    found = SnapshotStore(snapshot_dir).newest_valid(load_checked, lambda p, why: None)
    assert found is not None, f"no valid snapshot in {snapshot_dir}"
    return found[2]


def assert_same_state(a: EngineState, b: EngineState) -> None:
    """Byte-identical serialized state (the exchange-core recovery check)."""
    assert Engine(state=a).summary() == Engine(state=b).summary()
    assert dump_state(a) == dump_state(b)


def conserved(engine: Engine) -> bool:
    s = engine.summary()
    return s["free"] + s["locked"] + s["house"] == s["deposits"] and s["conserved"]
