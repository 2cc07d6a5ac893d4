"""Bounded waiting for things that happen on another task or process."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable


async def eventually(condition: Callable[[], object], timeout_s: float = 15.0) -> None:
    """Wait until ``condition()`` (awaited if a coroutine) is true; fail after ``timeout_s``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        result = condition()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout_s} s")
        await asyncio.sleep(0.01)
