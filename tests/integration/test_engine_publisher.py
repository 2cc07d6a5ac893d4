"""The daemon's publisher on a real Redis: exactly once after a broken pipeline; replay checks."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from engine.daemon.link import Link
from engine.daemon.prior_outputs import Mismatch, PublishedLog, highest_published_seq
from engine.daemon.publisher import Publisher, as_bytes
from engine.daemon.streams import StreamNames
from engine.messages import Event, Output, Response
from engine.wire import encode_event, encode_response

NAMES = StreamNames("engine_input", "backend-to-engine", "engine_response", "engine_events")


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[Redis]:
    c = Redis.from_url(redis_url)
    _URLS[id(c)] = redis_url
    yield c
    await c.aclose()


def _outputs(first_seq: int, count: int) -> list[Output]:
    out: list[Output] = []
    for seq in range(first_seq, first_seq + count):
        if seq % 3:
            out.append(Response(f"o{seq}", "success", {"n": seq}, "ok", 1000 + seq, seq))
        else:
            out.append(
                Event(
                    "TRADE_CLOSED", f"t{seq}", "a@x.io", "BTC_USDC", -seq, seq, 99, 1000 + seq, seq
                )
            )
    return out


def _encoded(out: Output) -> tuple[str, dict]:
    if isinstance(out, Response):
        return NAMES.responses, encode_response(out)
    return NAMES.events, encode_event(out)


async def _seqs(client: Redis) -> list[int]:
    seqs = []
    for stream in (NAMES.responses, NAMES.events):
        seqs += [int(f[b"seq"]) for _, f in await client.xrange(stream)]
    return sorted(seqs)


_URLS: dict[int, str] = {}


def _link(client: Redis) -> Link:
    """A bare link to the same Redis as ``client``."""
    return Link(_URLS[id(client)])


def _publisher(client: Redis, mismatches: list[Mismatch] | None = None) -> Publisher:
    sink = mismatches if mismatches is not None else []
    return Publisher(
        _link(client),
        NAMES,
        {NAMES.responses: "0-0", NAMES.events: "0-0"},
        on_mismatch=sink.append,
    )


async def test_publishes_in_seq_order_and_records_the_last_ids(client: Redis) -> None:
    publisher = _publisher(client)
    publisher.add(_outputs(1, 10))
    await publisher.flush()
    assert publisher.idle
    assert await _seqs(client) == list(range(1, 11))
    last_response = (await client.xrevrange(NAMES.responses, count=1))[0][0].decode()
    assert publisher.last_id[NAMES.responses] == last_response
    assert await highest_published_seq(_link(client), (NAMES.responses, NAMES.events)) == 10


async def test_after_a_broken_pipeline_reconcile_publishes_the_rest_exactly_once(
    client: Redis,
) -> None:
    publisher = _publisher(client)
    outputs = _outputs(1, 12)
    publisher.add(outputs)
    # What a pipeline cut off after its 7th XADD leaves behind.
    for out in outputs[:7]:
        stream, fields = _encoded(out)
        await client.xadd(stream, fields)
    assert await publisher.reconcile() == 7
    assert [seq for _, seq, _ in publisher.unsent] == list(range(8, 13))
    await publisher.flush()
    assert await _seqs(client) == list(range(1, 13))
    assert await publisher.reconcile() == 0  # nothing queued: nothing to do


async def test_reconcile_finds_what_got_through_even_if_it_is_not_a_prefix(
    client: Redis,
) -> None:
    publisher = _publisher(client)
    outputs = _outputs(1, 6)
    publisher.add(outputs)
    for out in (outputs[0], outputs[2], outputs[3]):  # say, seq 2 was refused with OOM
        stream, fields = _encoded(out)
        await client.xadd(stream, fields)
    assert await publisher.reconcile() == 3
    assert [seq for _, seq, _ in publisher.unsent] == [2, 5, 6]


async def test_recovery_compares_instead_of_republishing(client: Redis) -> None:
    before = _outputs(1, 20)
    first = _publisher(client)
    first.add(before)
    await first.flush()
    # A new publisher after a restart from a snapshot at seq 5, with the streams at seq 20.
    published_max = await highest_published_seq(_link(client), (NAMES.responses, NAMES.events))
    mismatches: list[Mismatch] = []
    second = _publisher(client, mismatches)
    second.start_verifying(
        PublishedLog(
            _link(client), {NAMES.responses: "0-0", NAMES.events: "0-0"}, 5, published_max, 4
        )
    )
    second.add(_outputs(6, 20))  # replay recomputes 6..20, then goes on to 25
    await second.flush()
    assert mismatches == []
    assert second.finish_verifying(25) == 15
    assert await _seqs(client) == list(range(1, 26))


async def test_a_replayed_output_that_differs_is_reported_and_not_published(
    client: Redis,
) -> None:
    first = _publisher(client)
    first.add(_outputs(1, 6))
    await first.flush()
    mismatches: list[Mismatch] = []
    second = _publisher(client, mismatches)
    second.start_verifying(
        PublishedLog(_link(client), {NAMES.responses: "0-0", NAMES.events: "0-0"}, 0, 6)
    )
    replay = _outputs(1, 6)
    replay[3] = Response("o4", "error", {"n": 4}, "different", 1004, 4)
    second.add(replay)
    await second.flush()
    assert [m.seq for m in mismatches] == [4]
    assert mismatches[0].published == as_bytes(encode_response(_outputs(4, 1)[0]))
    assert mismatches[0].replayed == as_bytes(encode_response(replay[3]))
    assert await _seqs(client) == list(range(1, 7))


async def test_a_published_output_missing_from_the_streams_is_reported(client: Redis) -> None:
    outputs = _outputs(1, 5)
    for out in outputs[:2] + outputs[3:]:  # seq 3 never reached the stream
        stream, fields = _encoded(out)
        await client.xadd(stream, fields)
    mismatches: list[Mismatch] = []
    publisher = _publisher(client, mismatches)
    publisher.start_verifying(
        PublishedLog(_link(client), {NAMES.responses: "0-0", NAMES.events: "0-0"}, 0, 5)
    )
    publisher.add(outputs)
    await publisher.flush()
    assert [(m.seq, m.published) for m in mismatches] == [(3, None)]
