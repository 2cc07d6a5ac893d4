"""``python -m poller``: publish bookTicker prices (Backpack, a replay file or the simulator)."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from collections.abc import Sequence

import uvloop

from poller.config import Config, parse_config
from poller.service import run


async def _main(config: Config) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return await run(config, stop)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse flags and environment, run the poller, return its exit code."""
    config = parse_config(argv, os.environ)
    logging.basicConfig(
        level=config.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    return uvloop.run(_main(config))


if __name__ == "__main__":
    sys.exit(main())
