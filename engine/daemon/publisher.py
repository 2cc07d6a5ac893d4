"""Publishing outputs: in ``seq`` order, one pipelined round trip per batch, exactly once.

Outputs wait in ``unsent`` until Redis has acknowledged them. After a broken connection,
``reconcile`` looks on the output streams for the ``seq`` of each queued output and drops what
got through, so a retry publishes the rest and nothing twice. (The link never retries by
itself: a resent pipeline would publish twice.) During recovery, outputs that were
published before the restart are compared with the published entries instead (see
``published``).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from engine.daemon import streams
from engine.daemon.link import Arg, Link
from engine.daemon.prior_outputs import Encoded, Mismatch, PublishedLog, entry_seq
from engine.daemon.streams import StreamNames
from engine.messages import ERROR, Output, Response
from engine.wire import encode_event, encode_response

Pending = tuple[str, int, dict[str, Any]]  # (stream, seq, fields)


class PublishError(Exception):
    """Redis refused some XADDs of a batch (they stay queued for the next attempt)."""


def as_bytes(fields: dict[str, Any]) -> Encoded:
    """Fields as Redis returns them, for comparing a replayed output with a published one."""
    return {k.encode(): v if isinstance(v, bytes) else str(v).encode() for k, v in fields.items()}


class Publisher:
    """The outputs of applied entries on their way to the output streams."""

    def __init__(
        self,
        link: Link,
        names: StreamNames,
        last_ids: dict[str, str],
        on_mismatch: Callable[[Mismatch], None],
        on_published: Callable[[str, int], None] | None = None,
    ) -> None:
        self.link = link
        self.names = names
        self.last_id = dict(last_ids)
        self.on_mismatch = on_mismatch
        self.on_published = on_published
        self.unsent: list[Pending] = []
        self.unverified: deque[Pending] = deque()
        self.log: PublishedLog | None = None
        self.error_responses = 0

    def start_verifying(self, log: PublishedLog) -> None:
        """Compare outputs up to ``log.published_max`` with the published ones, not publish them."""
        self.log = log

    @property
    def verifying(self) -> bool:
        return self.log is not None

    @property
    def idle(self) -> bool:
        """Nothing waits to be verified or published."""
        return not self.unsent and not self.unverified

    def add(self, outputs: Iterable[Output]) -> None:
        """Queue outputs in the order the engine produced them."""
        responses, events = self.names.responses, self.names.events
        log = self.log
        for out in outputs:
            if isinstance(out, Response):
                item: Pending = (responses, out.seq, encode_response(out))
                if out.status == ERROR:
                    self.error_responses += 1
            else:
                item = (events, out.seq, encode_event(out))
            if log is not None and log.covers(out.seq):
                self.unverified.append(item)
            else:
                self.unsent.append(item)

    async def flush(self, then: Sequence[Sequence[Arg]] = ()) -> list[Any]:
        """Verify and publish everything queued; raise on a Redis error (what failed stays).

        The commands ``then`` go in the same round trip, after the XADDs; their replies are
        returned (none are when a publish failed: the caller retries them too).
        """
        if self.unverified:
            await self._verify()
        if not self.unsent:
            return await self.link.execute(then) if then else []
        sent = len(self.unsent)
        replies = await streams.publish(self.link, [(s, f) for s, _, f in self.unsent], then)
        results, after = replies[:sent], replies[sent:]
        failed = [p for p, r in zip(self.unsent, results, strict=True) if isinstance(r, Exception)]
        self._record(
            [p for p, r in zip(self.unsent, results, strict=True) if not isinstance(r, Exception)],
            [r for r in results if not isinstance(r, Exception)],
        )
        self.unsent = failed
        if failed:
            raise PublishError(str(next(r for r in results if isinstance(r, Exception))))
        return after

    def _record(self, sent: list[Pending], ids: list[Any]) -> None:
        last: dict[str, Any] = {}
        counts: dict[str, int] = {}
        for (stream, _, _), entry_id in zip(sent, ids, strict=True):
            last[stream] = entry_id
            counts[stream] = counts.get(stream, 0) + 1
        for stream, entry_id in last.items():
            self.last_id[stream] = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
        if self.on_published is not None:
            for stream, n in counts.items():
                self.on_published(stream, n)

    async def _verify(self) -> None:
        log = self.log
        assert log is not None
        while self.unverified:
            stream, seq, fields = self.unverified[0]
            replayed = as_bytes(fields)
            while True:
                mismatch = await log.match(stream, seq, replayed)
                if mismatch is None:
                    break
                self.on_mismatch(mismatch)
                if mismatch.replayed is not None:
                    break  # this output is accounted for (reported); go on with the next
            cursor = log.cursors[stream]
            if cursor.last_matched is not None:
                self.last_id[stream] = cursor.last_matched
            self.unverified.popleft()

    def finish_verifying(self, engine_seq: int) -> int | None:
        """Stop verifying once replay has passed the published outputs; return how many matched."""
        log = self.log
        if log is None or self.unverified or engine_seq < log.published_max:
            return None
        self.log = None
        return log.verified

    async def reconcile(self, chunk: int = 2000) -> int:
        """After a broken connection: drop queued outputs that reached Redis; return how many.

        Reads each output stream after the last ID this publisher knows and looks for the
        ``seq`` of every queued output, so the answer is exact whatever prefix got through.
        """
        if not self.unsent:
            return 0
        wanted = {seq for _, seq, _ in self.unsent}
        found: set[int] = set()
        for name in (self.names.responses, self.names.events):
            after = self.last_id.get(name, "0-0")
            while True:
                entries = await streams.entries_after(self.link, name, after, chunk)
                for raw_id, fields in entries:
                    seq = entry_seq(fields)
                    if seq in wanted:
                        found.add(seq)
                        self.last_id[name] = raw_id.decode()
                if len(entries) < chunk:
                    break
                after = entries[-1][0].decode()
        self.unsent = [p for p in self.unsent if p[1] not in found]
        return len(found)
