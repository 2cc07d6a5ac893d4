"""TEMPORARY stand-in for ``python -m engine`` until the engine daemon lands on main.

It runs the real engine core (engine.core.Engine) over the real streams; it is not a fake of
its answers. ``tests.gateway.stack.EngineProcess`` uses ``python -m engine`` as soon as that
exists, and this file is deleted then.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time

import redis

from engine.core import Engine
from engine.messages import Response
from engine.wire import encode_event, encode_response

PRICES, COMMANDS = "engine_input", "backend-to-engine"


def _key(entry_id: bytes) -> tuple[int, int]:
    ms, _, seq = entry_id.partition(b"-")
    return int(ms), int(seq)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--snapshot-dir", default="")
    args, _daemon_only_flags = parser.parse_known_args()
    client = redis.Redis.from_url(args.redis_url)
    engine = Engine()
    running = True

    def stop(*_: object) -> None:
        nonlocal running
        running = False

    signal.signal(signal.SIGTERM, stop)
    cursors = {PRICES: "0-0", COMMANDS: "0-0"}
    while running:
        client.set("engine:heartbeat", int(time.time() * 1000))
        batches = client.xread(cursors, count=500, block=100) or []
        entries = []
        for stream, items in batches:
            name = stream.decode()
            for entry_id, fields in items:
                entries.append((_key(entry_id), name != PRICES, name, entry_id.decode(), fields))
                cursors[name] = entry_id.decode()
        entries.sort()
        pipe = client.pipeline(transaction=False)
        for _, _, name, entry_id, fields in entries:
            apply = engine.apply_price_entry if name == PRICES else engine.apply_command_entry
            for out in apply(entry_id, fields):
                if isinstance(out, Response):
                    pipe.xadd("engine_response", encode_response(out))
                else:
                    pipe.xadd("engine_events", encode_event(out))
        pipe.execute()
    return 0


if __name__ == "__main__":
    sys.exit(main())
