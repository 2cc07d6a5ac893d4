"""Routing to engine shards: one ``EngineClient`` per shard, each command to its account's shard.

A trader's commands go to ``ShardMap.of(email)``'s streams (``engine.shards``), so the answer is
waited for on that shard's response stream. Operator commands that are about markets rather than
an account (``SET_MARKET_STATE``, ``SET_LIMITS``) go to every shard, since each shard applies
its own copy of the market rules; ``ADJUST_BALANCE`` goes to the shard of the account it
adjusts; ``FORCE_CLOSE`` to the shard that holds the trade (asked in turn). With one shard all
of this is the single client it wraps.
"""

from __future__ import annotations

from typing import Any

import msgspec
from redis.asyncio import Redis

from engine.messages import ADJUST_BALANCE, FORCE_CLOSE, SET_LIMITS, SET_MARKET_STATE
from engine.shards import ShardMap
from gateway.answers import Answer
from gateway.engine_client import EngineClient

EVERY_SHARD = frozenset({SET_MARKET_STATE, SET_LIMITS})


class ShardedEngine:
    """The engine client the routes use; the same methods as ``EngineClient``."""

    def __init__(
        self,
        redis: Redis,
        reader: Redis,
        shards: ShardMap,
        *,
        command_stream: str,
        response_stream: str,
        timeout_ms: int,
    ) -> None:
        self.shards = shards
        self.clients = [
            EngineClient(
                redis,
                reader,
                command_stream=shards.key(k, command_stream),
                response_stream=shards.key(k, response_stream),
                timeout_ms=timeout_ms,
            )
            for k in shards.all()
        ]

    def response_stream_of(self, email: str) -> str:
        """The response stream of ``email``'s shard (where its orders' answers are)."""
        return self.clients[self.shards.of(email)].response_stream

    async def start(self) -> None:
        for client in self.clients:
            await client.start()

    async def stop(self) -> None:
        for client in self.clients:
            await client.stop()

    @property
    def running(self) -> bool:
        return all(c.running for c in self.clients)

    @property
    def pending(self) -> int:
        return sum(c.pending for c in self.clients)

    @property
    def timeouts(self) -> int:
        return sum(c.timeouts for c in self.clients)

    @property
    def responses(self) -> int:
        return sum(c.responses for c in self.clients)

    @property
    def last_response_at(self) -> float:
        """Monotonic time of the oldest shard's last response: every shard must be answering."""
        return min(c.last_response_at for c in self.clients)

    def late_response(self, order_id: str) -> Answer | None:
        for client in self.clients:
            found = client.late_response(order_id)
            if found is not None:
                return found
        return None

    async def call(
        self, command: str, email: str, trade_data: dict[str, Any], order_id: str
    ) -> Answer:
        """Send ``command`` to the shard(s) it concerns and return the engine's answer."""
        if len(self.clients) == 1:
            return await self.clients[0].call(command, email, trade_data, order_id)
        if command in EVERY_SHARD:
            answers = [await c.call(command, email, trade_data, order_id) for c in self.clients]
            refused = [a for a in answers if a.status != "success"]
            return refused[0] if refused else answers[0]
        if command == FORCE_CLOSE:
            answer: Answer | None = None
            for client in self.clients:
                answer = await client.call(command, email, trade_data, order_id)
                if _code(answer) != "TRADE_NOT_FOUND":
                    return answer
            assert answer is not None
            return answer
        owner = email
        if command == ADJUST_BALANCE and isinstance(trade_data.get("email"), str):
            owner = trade_data["email"]
        return await self.clients[self.shards.of(owner)].call(command, email, trade_data, order_id)


def _code(answer: Answer) -> str | None:
    try:
        data = msgspec.json.decode(answer.data)
    except msgspec.DecodeError:
        return None
    return data.get("code") if isinstance(data, dict) else None
