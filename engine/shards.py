"""The shard map: which engine shard owns an account, and each shard's Redis names.

Every part (engine, gateway, worker, poller, devstack, tests) takes its stream names, hash tags,
heartbeat key and snapshot folder from here, so they cannot disagree. An account lives on shard
``stable_hash(email) mod N``; ``stable_hash`` is SHA-256 (never ``hash()``, which is salted per
process), so every process and Python version places an email on the same shard.

With one shard on a plain Redis (the default) every name is the documented one
(``engine_input``, ``backend-to-engine``, ``engine_response``, ``engine_events``). With more
shards, or on a Redis Cluster, each of a shard's keys starts with the hash tag ``{shard-K}``, so
all of them hash to one slot: the engine reads, publishes and pipelines against one node, and a
MULTI over them stays single-slot.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass

MAX_SHARDS = 1024
PRICES, COMMANDS, RESPONSES, EVENTS = (
    "engine_input",
    "backend-to-engine",
    "engine_response",
    "engine_events",
)
HEARTBEAT = "engine:heartbeat"
DEAD_LETTER = "worker-dead-letter"


class ShardError(ValueError):
    """A shard setting that is malformed (``SHARDS``, ``SHARD``, ``REDIS_CLUSTER``)."""


def stable_hash(email: str) -> int:
    """A 64-bit hash of ``email``'s UTF-8 bytes, the same in every process and Python version."""
    return int.from_bytes(hashlib.sha256(email.encode("utf-8")).digest()[:8], "big")


@dataclass(frozen=True)
class ShardStreams:
    """One shard's four streams (the same field names and shapes on every shard)."""

    prices: str
    commands: str
    responses: str
    events: str


@dataclass(frozen=True)
class ShardMap:
    """``shards`` engines; ``cluster``: the Redis is a Redis Cluster (names carry a hash tag)."""

    shards: int = 1
    cluster: bool = False

    def __post_init__(self) -> None:
        if not 1 <= self.shards <= MAX_SHARDS:
            raise ShardError(f"SHARDS must be between 1 and {MAX_SHARDS}, not {self.shards}")

    @property
    def tagged(self) -> bool:
        """Whether names carry a ``{shard-K}`` hash tag (not with one shard on a plain Redis)."""
        return self.shards > 1 or self.cluster

    def of(self, email: str) -> int:
        """The shard that owns ``email``'s account (exactly as the engine keys it)."""
        return stable_hash(email) % self.shards

    def check(self, shard: int) -> int:
        if not 0 <= shard < self.shards:
            last = self.shards - 1
            raise ShardError(f"shard {shard} is outside 0..{last} (SHARDS={self.shards})")
        return shard

    def tag(self, shard: int) -> str:
        """The hash tag of ``shard``'s keys (empty when names are untagged)."""
        return f"{{shard-{self.check(shard)}}}" if self.tagged else ""

    def key(self, shard: int, name: str) -> str:
        """``name`` as a key of ``shard``: in its hash slot on a cluster, unchanged otherwise."""
        return self.tag(shard) + name

    def streams(
        self,
        shard: int,
        prices: str = PRICES,
        commands: str = COMMANDS,
        responses: str = RESPONSES,
        events: str = EVENTS,
    ) -> ShardStreams:
        """``shard``'s four streams, from the base names (the documented ones by default)."""
        return ShardStreams(
            self.key(shard, prices),
            self.key(shard, commands),
            self.key(shard, responses),
            self.key(shard, events),
        )

    def heartbeat(self, shard: int, name: str = HEARTBEAT) -> str:
        return self.key(shard, name)

    def snapshot_dir(self, base: str, shard: int) -> str:
        """``shard``'s snapshot folder: ``base`` itself with one shard, else ``base/shard-K``."""
        self.check(shard)
        return base if self.shards == 1 else os.path.join(base, f"shard-{shard}")

    def all(self) -> range:
        return range(self.shards)


def parse_bool(text: str, name: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("", "0", "false", "no", "off"):
        return False
    if lowered in ("1", "true", "yes", "on"):
        return True
    raise ShardError(f"{name}={text!r}: must be true or false")


def parse_count(text: str, name: str = "SHARDS") -> int:
    stripped = text.strip()
    if not (stripped.isascii() and stripped.isdigit()):
        raise ShardError(f"{name}={text!r}: must be a whole number")
    return int(stripped)


def from_env(environ: Mapping[str, str] | None = None) -> ShardMap:
    """The shard map of ``SHARDS`` (default 1) and ``REDIS_CLUSTER`` (default off)."""
    env = os.environ if environ is None else environ
    shards = parse_count(env.get("SHARDS", "") or "1")
    return ShardMap(shards, parse_bool(env.get("REDIS_CLUSTER", ""), "REDIS_CLUSTER"))
