"""The market and event feed: follows engine_input and engine_events for this process.

One reader task keeps the last price of every supported asset (for ``GET /price``) and fans
price ticks out to every WebSocket subscriber and each engine event to the subscribers of that
event's user only. It holds no trading state: it is a read-through of the engine's streams.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import msgspec
from redis.asyncio import Redis

from engine.messages import Event
from engine.shards import ShardMap
from engine.stream_ids import parse_id
from engine.wire import WireError, decode_event, decode_price_batch, encode_event
from gateway import streams as redis_streams
from gateway.engine_client import stop_reader

log = logging.getLogger("gateway.feed")
_json = msgspec.json.Encoder()
QUEUE_SIZE = 2048


@dataclass(frozen=True)
class Tick:
    asset: str
    price: int
    bid: int
    ask: int
    decimal: int
    timestamp: int
    id: str


def event_json(entry_id: str, event: Event) -> dict[str, Any]:
    """An engine event as the WebSocket sends it: the stream's fields as ``engine.wire``
    defines them (amounts as decimal strings, ``priceDecimals`` beside prices), never copied."""
    return {"type": "event", "id": entry_id, "event": encode_event(event)}


def _sid(raw: Any) -> str:
    return raw.decode() if isinstance(raw, bytes) else str(raw)


@dataclass(eq=False)
class Subscriber:
    """One WebSocket's mailbox. ``email`` None: ticks only. ``lagging``: events were dropped."""

    email: str | None
    queue: asyncio.Queue[tuple[str, str, bytes]] = field(
        default_factory=lambda: asyncio.Queue(QUEUE_SIZE)
    )
    lagging: bool = False

    def offer(self, kind: str, entry_id: str, payload: bytes) -> None:
        """Queue a message; a full queue drops ticks but marks the subscriber lagging on events
        (never silently lose a user's own event: the socket closes and the client resumes)."""
        try:
            self.queue.put_nowait((kind, entry_id, payload))
        except asyncio.QueueFull:
            if kind == "event":
                self.lagging = True


class Feed:
    """Last prices and fan-out; ``start`` before use, ``stop`` after."""

    def __init__(
        self,
        redis: Redis,
        *,
        price_stream: str,
        events_stream: str,
        assets: Iterable[str],
        shards: ShardMap | None = None,
    ) -> None:
        # Every shard gets the same prices, so shard 0's stream is the price feed; events come
        # from every shard (one reader each: a shard's streams share one slot, shards do not).
        self._shards = shards or ShardMap()
        self._redis = redis
        self._price_stream = self._shards.key(0, price_stream)
        self._events_streams = [self._shards.key(k, events_stream) for k in self._shards.all()]
        self._assets = frozenset(assets)
        self.prices: dict[str, Tick] = {}
        self._subscribers: set[Subscriber] = set()
        self._by_email: dict[str, set[Subscriber]] = {}
        self._cursors = dict.fromkeys([self._price_stream, *self._events_streams], "0-0")
        self._tasks: list[asyncio.Task[None]] = []
        self.stopping = False

    @property
    def running(self) -> bool:
        return bool(self._tasks) and not any(t.done() for t in self._tasks)

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    async def start(self) -> None:
        for stream in self._cursors:
            last = await redis_streams.xrevrange(self._redis, stream, count=1)
            if last:
                self._cursors[stream] = _sid(last[0][0])
        # Prime the price cache from the newest batches so /price answers right after a start.
        newest = await redis_streams.xrevrange(self._redis, self._price_stream, count=256)
        for entry_id, fields in reversed(newest):
            self._on_prices(_sid(entry_id), fields, broadcast=False)
        for k, events in enumerate(self._events_streams):
            streams = [self._price_stream, events] if k == 0 else [events]
            self._tasks.append(asyncio.create_task(self._follow(streams), name=f"feed-reader-{k}"))

    async def stop(self) -> None:
        for task in self._tasks:
            await stop_reader(task, self)
        self._tasks = []

    def sockets_of(self, email: str) -> int:
        """How many subscribers this user has in this process."""
        return len(self._by_email.get(email, ()))

    def subscribe(self, email: str | None) -> Subscriber:
        sub = Subscriber(email)
        self._subscribers.add(sub)
        if email is not None:
            self._by_email.setdefault(email, set()).add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        self._subscribers.discard(sub)
        if sub.email is not None:
            subs = self._by_email.get(sub.email)
            if subs is not None:
                subs.discard(sub)
                if not subs:
                    del self._by_email[sub.email]

    async def backlog(
        self, email: str, after: str, max_entries: int
    ) -> tuple[list[tuple[str, bytes]], bool]:
        """This user's events after entry ``after``, and whether some may be missing (trimmed or
        more than ``max_entries`` to scan), in which case the client should refetch its state."""
        out: list[tuple[str, bytes]] = []
        events_stream = self._events_streams[self._shards.of(email)]  # the user's own shard
        first = await redis_streams.xrange(self._redis, events_stream, count=1)
        gap = bool(first) and parse_id(_sid(first[0][0])) > parse_id(after) and after != "0-0"
        cursor, scanned = after, 0
        while scanned < max_entries:
            chunk = await redis_streams.xrange(self._redis,
                events_stream, min=f"({cursor}", count=min(1000, max_entries - scanned)
            )
            if not chunk:
                return out, gap
            for raw_id, fields in chunk:
                cursor = _sid(raw_id)
                try:
                    event = decode_event(fields)
                except WireError:
                    continue
                if event.email == email:
                    out.append((cursor, _json.encode(event_json(cursor, event))))
            scanned += len(chunk)
        more = await redis_streams.xrange(self._redis, events_stream, min=f"({cursor}", count=1)
        return out, gap or bool(more)

    async def _follow(self, streams: list[str]) -> None:
        backoff = 0.05
        while not self.stopping:
            try:
                cursors = {stream: self._cursors[stream] for stream in streams}
                batches = await redis_streams.xread(self._redis, cursors, count=500, block=1000)
                backoff = 0.05
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis down or restarting: keep the cursors, retry.
                log.warning("feed read failed: %s", exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)
                continue
            for raw_stream, entries in batches:
                stream = _sid(raw_stream)
                for raw_id, fields in entries:
                    entry_id = _sid(raw_id)
                    self._cursors[stream] = entry_id
                    if stream == self._price_stream:
                        self._on_prices(entry_id, fields, broadcast=True)
                    else:
                        self._on_event(entry_id, fields)

    def _on_prices(self, entry_id: str, fields: Any, *, broadcast: bool) -> None:
        try:
            batch = decode_price_batch(fields)
        except WireError as exc:
            log.debug("skipping undecodable price entry %s: %s", entry_id, exc)
            return
        ticks = []
        for item in batch.items:
            if item.asset not in self._assets:
                continue
            tick = Tick(
                asset=item.asset,
                price=item.price,
                bid=item.bid if item.bid is not None else item.price,
                ask=item.ask if item.ask is not None else item.price,
                decimal=item.decimal,
                timestamp=batch.timestamp or parse_id(entry_id)[0],
                id=entry_id,
            )
            self.prices[item.asset] = tick
            ticks.append(tick)
        if broadcast and ticks and self._subscribers:
            payload = _json.encode(
                {
                    "type": "prices",
                    "id": entry_id,
                    "prices": [
                        {"asset": t.asset, "price": str(t.price), "bid": str(t.bid),
                         "ask": str(t.ask), "decimal": t.decimal, "timestamp": t.timestamp}
                        for t in ticks
                    ],
                }
            )
            for sub in self._subscribers:
                sub.offer("prices", entry_id, payload)

    def broadcast(self, kind: str, payload: bytes) -> None:
        """Queue a message for every subscriber (market data such as ``ticker``)."""
        for sub in self._subscribers:
            sub.offer(kind, "", payload)

    def _on_event(self, entry_id: str, fields: Any) -> None:
        try:
            event = decode_event(fields)
        except WireError as exc:
            log.debug("skipping undecodable event %s: %s", entry_id, exc)
            return
        subs = self._by_email.get(event.email)
        if not subs:
            return
        payload = _json.encode(event_json(entry_id, event))
        for sub in subs:
            sub.offer("event", entry_id, payload)
