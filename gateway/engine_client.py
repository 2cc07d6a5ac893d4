"""The engine client: XADD a command to backend-to-engine, wait for its engine_response.

One reader task per process follows engine_response (XREAD BLOCK from the stream's end at start)
and resolves the waiters registered under each orderId; every concurrent request for the same
orderId gets the same answer. A waiter that does not hear back within the timeout raises
``EngineTimeout``; the command stays on the stream, and because the engine answers a repeated
orderId with its original response, sending the same orderId again recovers the result.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from engine.messages import Command
from engine.wire import WireError, encode_command
from gateway import streams
from gateway.answers import Answer, decode_answer

log = logging.getLogger("gateway.engine")
LATE_KEEP = 10_000  # timed-out orderIds whose late responses this process remembers


async def stop_reader(task: asyncio.Task[None], owner: Any) -> None:
    """Stop a background XREAD loop: set ``owner.stopping``, cancel, and wait for it.

    redis-py can swallow a cancellation that lands while a blocking read is being issued, so the
    loop also checks the flag after each read (they block for at most a second).
    """
    owner.stopping = True
    for _ in range(5):
        task.cancel()
        done, _pending = await asyncio.wait({task}, timeout=1.5)
        if done:
            break
    with contextlib.suppress(asyncio.CancelledError, Exception):
        if task.done():
            task.result()


class EngineTimeout(Exception):
    """No engine response within the timeout; ``order_id`` lets the client retry or look it up."""

    def __init__(self, order_id: str, entry_id: str) -> None:
        super().__init__(f"engine did not answer {order_id} in time")
        self.order_id = order_id
        self.entry_id = entry_id  # the command's backend-to-engine entry


class EngineUnavailable(Exception):
    """The command could not be queued; ``cause`` is the Redis error (``PoolBusy``: load)."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


class EngineClient:
    """Sends commands and matches responses by orderId; ``start`` before use, ``stop`` after."""

    def __init__(
        self,
        redis: Redis,
        reader: Redis,
        *,
        command_stream: str,
        response_stream: str,
        timeout_ms: int,
    ) -> None:
        self._redis = redis
        self._reader = reader
        self._command_stream = command_stream
        self._response_stream = response_stream
        self._timeout_s = timeout_ms / 1000
        self._waiters: dict[str, list[asyncio.Future[Answer]]] = {}
        self._task: asyncio.Task[None] | None = None
        self._cursor = "0-0"
        self.stopping = False
        self.last_response_at = 0.0  # monotonic time of the last response read, 0 if none
        self.timeouts = 0
        # orderId -> late response (None until it arrives), for orders that timed out here.
        self._late: OrderedDict[str, Answer | None] = OrderedDict()
        self.responses = 0

    async def start(self) -> None:
        """Start following engine_response from its current end."""
        last = await streams.xrevrange(self._reader, self._response_stream, count=1)
        if last:
            self._cursor = last[0][0].decode()
        self._task = asyncio.create_task(self._follow(), name="engine-response-reader")

    async def stop(self) -> None:
        if self._task is not None:
            await stop_reader(self._task, self)
            self._task = None
        for futures in self._waiters.values():
            for future in futures:
                if not future.done():
                    future.cancel()
        self._waiters.clear()

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    @property
    def response_stream(self) -> str:
        return self._response_stream

    @property
    def pending(self) -> int:
        return len(self._waiters)

    async def call(
        self, command: str, email: str, trade_data: dict[str, Any], order_id: str
    ) -> Answer:
        """Send one command and return the engine's response; raise EngineTimeout/Unavailable."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Answer] = loop.create_future()
        self._waiters.setdefault(order_id, []).append(future)
        try:
            fields = encode_command(
                Command(
                    order_id=order_id,
                    command=command,
                    email=email,
                    trade_data=trade_data,
                    timestamp=int(time.time() * 1000),
                )
            )
            try:
                entry = await self._redis.xadd(self._command_stream, fields)  # type: ignore[arg-type]
            except (RedisError, OSError) as exc:
                raise EngineUnavailable(exc) from None
            try:
                return await asyncio.wait_for(future, self._timeout_s)
            except TimeoutError:
                self.timeouts += 1
                self._late[order_id] = None
                while len(self._late) > LATE_KEEP:
                    self._late.popitem(last=False)
                entry_id = entry.decode() if isinstance(entry, bytes) else str(entry)
                raise EngineTimeout(order_id, entry_id) from None
        finally:
            futures = self._waiters.get(order_id)
            if futures is not None:
                with contextlib.suppress(ValueError):
                    futures.remove(future)
                if not futures:
                    del self._waiters[order_id]

    async def _follow(self) -> None:
        backoff = 0.05
        while not self.stopping:
            try:
                batches = await streams.xread(
                    self._reader, {self._response_stream: self._cursor}, count=1000, block=1000
                )
                backoff = 0.05
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis down or restarting: keep the cursor, retry.
                log.warning("engine_response read failed: %s", exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)
                continue
            for _stream, entries in batches:
                for entry_id, fields in entries:
                    self._cursor = entry_id.decode()
                    self._deliver(fields)

    def _deliver(self, fields: Any) -> None:
        try:
            response = decode_answer(fields)
        except WireError as exc:
            log.warning("undecodable engine_response entry: %s", exc)
            return
        self.responses += 1
        self.last_response_at = time.monotonic()
        futures = self._waiters.pop(response.order_id, None)
        if futures is None:
            if response.order_id in self._late:
                self._late[response.order_id] = response
            return
        for future in futures:
            if not future.done():
                future.set_result(response)

    def late_response(self, order_id: str) -> Answer | None:
        """The response to an order that timed out in this process, if it has arrived since."""
        return self._late.get(order_id)
