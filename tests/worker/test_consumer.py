"""Parsing of raw XREADGROUP / XAUTOCLAIM replies (both Redis versions) and dead-letter fields."""

from __future__ import annotations

import pytest

from worker.consumer import (
    Entry,
    dead_letter_fields,
    parse_autoclaim_reply,
    parse_read_reply,
)


def test_read_reply_resp2_and_resp3_give_the_same_entries():
    resp2 = [
        [b"engine_events", [[b"1-0", [b"a", b"1", b"b", b"2"]], [b"2-0", [b"a", b"3"]]]],
        [b"engine_response", [[b"1-1", [b"x", b"y"]]]],
    ]
    resp3 = {b"engine_events": resp2[0][1], b"engine_response": resp2[1][1]}
    expected = [
        Entry("engine_events", "1-0", {b"a": b"1", b"b": b"2"}),
        Entry("engine_events", "2-0", {b"a": b"3"}),
        Entry("engine_response", "1-1", {b"x": b"y"}),
    ]
    assert parse_read_reply(resp2) == expected
    assert parse_read_reply(resp3) == expected
    assert parse_read_reply(None) == []
    assert parse_read_reply([]) == []


def test_autoclaim_reply_of_redis_7_lists_deleted_ids():
    raw = [b"0-0", [[b"5-0", [b"f", b"v"]]], [b"3-0", b"4-0"]]
    claimed = parse_autoclaim_reply("s", raw)
    assert claimed.next_id == "0-0"
    assert claimed.entries == [Entry("s", "5-0", {b"f": b"v"})]
    assert claimed.deleted_ids == ["3-0", "4-0"]
    assert claimed.nil_count == 0


def test_autoclaim_reply_of_redis_6_2_has_two_elements_and_nil_entries():
    raw = [b"7-0", [None, [b"5-0", [b"f", b"v"]], None]]
    claimed = parse_autoclaim_reply("s", raw)
    assert claimed.next_id == "7-0"
    assert claimed.entries == [Entry("s", "5-0", {b"f": b"v"})]
    assert claimed.deleted_ids == []
    assert claimed.nil_count == 2


@pytest.mark.parametrize("raw", [None, [], [b"0-0"], [b"0-0", [], [], []], b"0-0"])
def test_autoclaim_reply_of_unknown_shape_is_refused(raw):
    with pytest.raises(ValueError):
        parse_autoclaim_reply("s", raw)


def test_odd_field_list_is_refused():
    with pytest.raises(ValueError):
        parse_read_reply([[b"s", [[b"1-0", [b"a"]]]]])


def test_dead_letter_keeps_original_fields_and_renames_clashing_ones():
    entry = Entry("engine_events", "9-1", {b"seq": b"x", b"reason": b"mine", b"id": b"7"})
    fields = dead_letter_fields(entry, "undecodable: field 'seq' is not an integer")
    assert fields == {
        b"stream": "engine_events",
        b"id": "9-1",
        b"reason": "undecodable: field 'seq' is not an integer",
        b"seq": b"x",
        b"original:reason": b"mine",
        b"original:id": b"7",
    }


def test_dead_letter_of_a_deleted_entry_has_only_our_fields():
    assert dead_letter_fields(Entry("s", "1-0", None), "gone") == {
        b"stream": "s",
        b"id": "1-0",
        b"reason": "gone",
    }
