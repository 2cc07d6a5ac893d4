"""The worker's settings: stream and group names, batch sizes, claim and retry timing."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


def default_consumer() -> str:
    """A consumer name unique to this process, so a restart never inherits a live one's name."""
    return f"{socket.gethostname()}-{os.getpid()}"


@dataclass(frozen=True, slots=True)
class Config:
    """Everything ``python -m worker run`` needs; defaults match the engine's stream names."""

    database_url: str = DEFAULT_DATABASE_URL
    redis_url: str = DEFAULT_REDIS_URL
    response_stream: str = "engine_response"
    events_stream: str = "engine_events"
    commands_stream: str = "backend-to-engine"
    dead_letter_stream: str = "worker-dead-letter"
    group: str = "worker"
    consumer: str = field(default_factory=default_consumer)
    batch_size: int = 2000  # entries per stream per read
    block_ms: int = 1000
    claim_idle_ms: int = 60_000  # an entry pending this long belongs to a dead consumer
    claim_interval_s: float = 30.0
    retry_initial_s: float = 0.1
    retry_max_s: float = 5.0
    stats_interval_s: float = 10.0

    def __post_init__(self) -> None:
        names = [self.response_stream, self.events_stream, self.commands_stream]
        if any(not n for n in [*names, self.dead_letter_stream, self.group, self.consumer]):
            raise ValueError("stream, group and consumer names must not be empty")
        if len(set(names)) != 3 or self.dead_letter_stream in names:
            raise ValueError("the input streams and the dead-letter stream must all differ")
        if not 1 <= self.batch_size <= 100_000:
            raise ValueError("batch size must be 1 to 100000")
        if self.block_ms < 0 or self.claim_idle_ms < 0:
            raise ValueError("block and claim idle times must not be negative")
        if not 0 < self.retry_initial_s <= self.retry_max_s:
            raise ValueError("retry delays must satisfy 0 < initial <= max")
        if self.claim_interval_s <= 0 or self.stats_interval_s <= 0:
            raise ValueError("intervals must be positive")
