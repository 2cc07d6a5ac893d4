"""Recovery's checks: the input history a replay needs is whole, and a replayed output equals
the one published before the restart (else recovery says so loudly and stops, exit 3)."""

from __future__ import annotations

from collections.abc import Sequence

from redis.asyncio import Redis

from engine.daemon import logs, streams
from engine.daemon.metrics import Metrics
from engine.daemon.prior_outputs import Mismatch


class DeterminismError(RuntimeError):
    """A replayed output differs from the one published before the restart, or the history a
    replay needs is gone."""


async def check_history(
    redis: Redis,
    inputs: Sequence[str],
    positions: Sequence[str],
    metrics: Metrics,
    keep_going: bool,
) -> None:
    """Refuse to replay over a gap: entries after the snapshot's positions were trimmed."""
    for stream, position in zip(inputs, positions, strict=True):
        gap = await streams.history_gap(redis, stream, position)
        if gap is not None:
            logs.error(
                "history_trimmed",
                stream=stream,
                position=position,
                reason=gap,
                hint="entries the replay needs are gone; the state would differ",
            )
            metrics.errors.labels("history_trimmed").inc()
            if not keep_going:
                raise DeterminismError(stream)


def report_mismatch(mismatch: Mismatch, metrics: Metrics, keep_going: bool) -> None:
    """Log a replayed output that differs from the published one; raise unless told to go on."""
    metrics.errors.labels("determinism").inc()
    logs.error(
        "determinism_error",
        seq=mismatch.seq,
        stream=mismatch.stream,
        published_id=mismatch.published_id,
        replayed=_printable(mismatch.replayed),
        published=_printable(mismatch.published),
        hint="a replayed output differs from the one published before the restart",
    )
    if not keep_going:
        raise DeterminismError(f"seq {mismatch.seq}")


def _printable(fields: dict[bytes, bytes] | None) -> dict[str, str] | None:
    if fields is None:
        return None
    return {k.decode(errors="replace"): v.decode(errors="replace") for k, v in fields.items()}
