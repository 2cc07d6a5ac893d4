"""The apply order: live rounds, whatever their timing and COUNT cuts, equal the full merge."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.daemon.ordering import (
    COMMAND,
    PRICE,
    InputBuffer,
    merge,
    round_bound,
    time_bound,
)
from engine.stream_ids import format_id, parse_id


def test_merge_orders_by_id_with_prices_first_on_a_tie() -> None:
    prices = [((1, 0), "1-0", "p1"), ((2, 0), "2-0", "p2"), ((3, 1), "3-1", "p3")]
    commands = [((1, 1), "1-1", "c1"), ((2, 0), "2-0", "c2"), ((3, 0), "3-0", "c3")]
    assert [f for _, _, f in merge(prices, commands)] == ["p1", "c1", "p2", "c2", "c3", "p3"]


def test_time_bound_excludes_the_current_millisecond() -> None:
    assert time_bound(5_000_999) == (4_999, 2**64 - 1)
    assert parse_id("5000-0") > time_bound(5_000_000)
    assert parse_id("4999-123456") <= time_bound(5_000_000)


def test_a_read_cut_short_bounds_the_round_at_its_last_entry() -> None:
    assert round_bound(10_000_000, ["7-3"]) == (7, 3)
    assert round_bound(10_000_000, ["7-3", "5-9"]) == (5, 9)
    assert round_bound(6_000, ["7-3"]) == (5, 2**64 - 1)


def test_buffer_holds_back_entries_at_or_after_the_bound() -> None:
    buf = InputBuffer("0-0", "0-0")
    buf.add(PRICE, [(b"5-0", {"p": 1}), (b"9-0", {"p": 2})])
    buf.add(COMMAND, [(b"5-0", {"c": 1}), (b"6-0", {"c": 2})])
    assert buf.read_position == ["9-0", "6-0"]
    assert [(k, i) for k, i, _ in buf.release(time_bound(7_000))] == [
        (PRICE, "5-0"),
        (COMMAND, "5-0"),
        (COMMAND, "6-0"),
    ]
    assert len(buf) == 1 and buf.oldest() == (9, 0)
    assert buf.release(time_bound(9_000)) == []
    assert [i for _, i, _ in buf.release(time_bound(10_000))] == ["9-0"]
    assert buf.oldest() is None


# A simulated world: producers append to two streams at increasing server times; the daemon
# runs rounds at random moments with a small COUNT. What it applies must be the global merge.
@st.composite
def worlds(draw):
    events = draw(
        st.lists(
            st.tuples(st.sampled_from([PRICE, COMMAND]), st.integers(0, 3)),
            min_size=0,
            max_size=60,
        )
    )
    # Per round: how many producer writes come first (bursts outrun a small COUNT) and how many
    # milliseconds pass after it.
    rounds = draw(
        st.lists(
            st.tuples(st.integers(0, 6), st.integers(0, 4)),
            min_size=1,
            max_size=80,
        )
    )
    count = draw(st.integers(1, 5))
    return events, rounds, count


@settings(max_examples=300, deadline=None)
@given(worlds())
def test_rounds_concatenate_to_the_merge_of_the_complete_streams(world) -> None:
    events, rounds, count = world
    now_ms = 1_000
    streams: list[list[tuple[str, int]]] = [[], []]  # (id, serial) per stream
    last = [(0, 0), (0, 0)]
    pending_events = list(events)
    buf = InputBuffer("0-0", "0-0")
    applied: list[tuple[int, str]] = []

    def xadd(kind: int) -> None:
        ms, seq = last[kind]
        new = (now_ms, 0) if now_ms > ms else (ms, seq + 1)
        last[kind] = new
        streams[kind].append((format_id(new), len(streams[0]) + len(streams[1])))

    def xread(kind: int) -> list[tuple[str, dict]]:
        after = parse_id(buf.read_position[kind])
        newer = [(i, {"n": n}) for i, n in streams[kind] if parse_id(i) > after]
        return newer[:count]

    def one_round() -> None:
        server_us = now_ms * 1000 + 500
        cut = []
        for kind in (PRICE, COMMAND):
            got = xread(kind)
            buf.add(kind, got)
            if len(got) >= count:
                cut.append(buf.read_position[kind])
        applied.extend((k, i) for k, i, _ in buf.release(round_bound(server_us, cut)))

    for burst, advance in rounds:
        for _ in range(min(len(pending_events), burst)):
            kind, step = pending_events.pop(0)
            now_ms += step
            xadd(kind)
        one_round()
        now_ms += advance
    now_ms += 10  # let time pass, then drain completely
    for _ in range(len(events) + 5):
        one_round()
        now_ms += 1

    def parsed(kind: int):
        return [(parse_id(i), i, None) for i, _ in streams[kind]]

    expected = [(k, i) for k, i, _ in merge(parsed(PRICE), parsed(COMMAND))]
    assert applied == expected
