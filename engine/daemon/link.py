"""A bare RESP2 connection for the daemon's hot path: pipelined commands, parsed by hiredis.

redis-py spends most of its time per command in Python (packing arguments, one awaited read per
reply); at tens of thousands of XADDs a second that is the engine's whole budget. This link packs
with ``hiredis.pack_command`` and parses every reply of a pipeline from one buffer, so a round
of reads or a batch of outputs costs one write and one or a few socket reads. redis-py remains
the client for everything that is not per-entry (scans, trims, heartbeat).

It never retries by itself: a lost connection raises ``ConnectionError`` and the link reconnects
on the next call, leaving it to the caller to find out what a broken pipeline did.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Sequence
from typing import Any

import hiredis
from redis.connection import parse_url
from redis.exceptions import ResponseError

Arg = bytes | str | int


def pack(commands: Sequence[Sequence[Arg]]) -> bytes:
    """Many commands as one RESP byte string."""
    pack_command = hiredis.pack_command
    return b"".join([pack_command(tuple(c)) for c in commands])  # type: ignore[arg-type]


class Link:
    """One connection to the Redis at ``url`` (redis://, rediss:// or unix://)."""

    def __init__(self, url: str, timeout: float = 10.0, name: str = "engine") -> None:
        self.timeout = timeout
        self.name = name
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._parser = hiredis.Reader()
        self.retarget(url)

    def retarget(self, url: str) -> None:
        """Talk to the Redis at ``url`` from the next call on (a cluster failover moved it)."""
        self.close()
        self.url = url
        options = parse_url(url)  # type: ignore[no-untyped-call]
        self.host: str = options.get("host", "127.0.0.1")
        self.port: int = int(options.get("port", 6379))
        self.path: str | None = options.get("path")
        self.db: int = int(options.get("db", 0) or 0)
        self.username: str | None = options.get("username")
        self.password: str | None = options.get("password")
        self.tls = url.startswith("rediss://")

    async def _connect(self) -> None:
        try:
            if self.path:
                opened = asyncio.open_unix_connection(self.path)
            else:
                context = ssl.create_default_context() if self.tls else None
                opened = asyncio.open_connection(self.host, self.port, ssl=context)
            self._reader, self._writer = await asyncio.wait_for(opened, self.timeout)
        except (OSError, TimeoutError) as exc:
            raise ConnectionError(f"cannot connect to Redis: {exc}") from None
        self._parser = hiredis.Reader()
        hello: list[list[Arg]] = []
        if self.password is not None:
            auth: list[Arg] = ["AUTH", self.password]
            if self.username:
                auth.insert(1, self.username)
            hello.append(auth)
        if self.db:
            hello.append(["SELECT", self.db])
        hello.append(["CLIENT", "SETNAME", self.name])
        for reply in await self._roundtrip(pack(hello), len(hello)):
            if isinstance(reply, ResponseError):
                self.close()
                raise ConnectionError(f"Redis refused the connection set-up: {reply}")

    def close(self) -> None:
        """Drop the connection (the next call opens a new one)."""
        if self._writer is not None:
            with contextlib.suppress(Exception):
                self._writer.close()
        self._reader = self._writer = None

    async def execute(
        self, commands: Sequence[Sequence[Arg]], timeout: float | None = None
    ) -> list[Any]:
        """Send ``commands`` pipelined; return one reply each (an error reply as ResponseError).

        ``timeout`` bounds the wait for the replies (give blocking commands more than they block).
        """
        return await self.execute_packed(pack(commands), len(commands), timeout)

    async def execute_packed(
        self, data: bytes, count: int, timeout: float | None = None
    ) -> list[Any]:
        """``execute`` for ``count`` commands already packed into ``data``."""
        if self._writer is None:
            await self._connect()
        return await self._roundtrip(data, count, timeout)

    async def _roundtrip(self, data: bytes, count: int, timeout: float | None = None) -> list[Any]:
        writer, reader = self._writer, self._reader
        assert writer is not None and reader is not None
        try:
            writer.write(data)
            return await asyncio.wait_for(self._replies(reader, count), timeout or self.timeout)
        except (OSError, TimeoutError, asyncio.IncompleteReadError, hiredis.ProtocolError) as exc:
            self.close()
            raise ConnectionError(f"Redis connection lost: {type(exc).__name__}: {exc}") from None
        except BaseException:  # cancelled midway: the stream position is unknown
            self.close()
            raise

    async def _replies(self, reader: asyncio.StreamReader, count: int) -> list[Any]:
        parser = self._parser
        out: list[Any] = []
        while len(out) < count:
            reply = parser.gets()
            if reply is False:
                chunk = await reader.read(1 << 20)
                if not chunk:
                    raise ConnectionError("connection closed by Redis")
                parser.feed(chunk)
                continue
            if isinstance(reply, hiredis.ReplyError):
                reply = ResponseError(str(reply))
            out.append(reply)
        return out
