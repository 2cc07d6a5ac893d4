"""The snapshot file format: round trip, and every kind of damage refused with a reason."""

from __future__ import annotations

import gzip
import hashlib

import msgspec
import pytest

from engine.state import EngineState, dump_state, load_state
from snapshots.format import (
    CorruptSnapshot,
    Header,
    SnapshotError,
    UnknownVersion,
    decode,
    encode,
    parse_id,
    split,
)
from tests.snapshots.conftest import header_for


def test_round_trip_keeps_header_and_payload(state: EngineState, payload: bytes) -> None:
    data = encode(header_for(state, last_response_id="5-1", last_event_id="6-0"), payload)
    header, raw = decode(data)
    assert raw == payload
    assert load_state(raw) == state
    assert (header.seq, header.last_price_id, header.last_command_id) == (
        state.seq,
        state.last_price_id,
        state.last_command_id,
    )
    assert (header.last_response_id, header.last_event_id) == ("5-1", "6-0")
    assert header.version == 1
    assert header.payload_size == len(payload)


def test_payload_checksum_is_the_plain_sha256_of_the_state(state: EngineState) -> None:
    payload = dump_state(state)
    data = encode(header_for(state), payload)
    header, _ = decode(data)
    assert header.payload_sha256 == hashlib.sha256(payload).hexdigest()
    # The rest of the file after the header line is an ordinary gzip stream.
    assert gzip.decompress(data[data.index(b"\n") + 1 :]) == payload


@pytest.mark.parametrize("bit", [0, 5, 7])
def test_flipping_any_bit_anywhere_is_caught(state: EngineState, payload: bytes, bit: int) -> None:
    data = encode(header_for(state), payload)
    for pos in range(len(data)):  # header, gzip header, deflate data, trailer: all of it
        damaged = bytearray(data)
        damaged[pos] ^= 1 << bit
        with pytest.raises(SnapshotError):
            decode(bytes(damaged))


@pytest.mark.parametrize("keep", [0, 1, 10, 100, -1])
def test_truncated_files_are_corrupt(state: EngineState, payload: bytes, keep: int) -> None:
    data = encode(header_for(state), payload)
    with pytest.raises(CorruptSnapshot):
        decode(data[:keep] if keep >= 0 else data[:-1])


def test_empty_file_is_corrupt() -> None:
    with pytest.raises(CorruptSnapshot, match="no header"):
        decode(b"")


def test_unknown_version_is_refused_as_such(state: EngineState, payload: bytes) -> None:
    data = encode(header_for(state), payload)
    line, rest = data.split(b"\n", 1)
    raw = msgspec.json.decode(line)
    raw["version"] = 2
    with pytest.raises(UnknownVersion, match="version 2"):
        decode(msgspec.json.encode(raw) + b"\n" + rest)


@pytest.mark.parametrize(
    "head",
    [b"not json\n", b"[1,2]\n", b'{"format":"something-else","version":1}\n', b"\xff\xfe\n"],
)
def test_foreign_headers_are_corrupt(head: bytes) -> None:
    with pytest.raises(CorruptSnapshot):
        decode(head + gzip.compress(b"x"))


def test_payload_that_is_not_gzip_is_corrupt(state: EngineState, payload: bytes) -> None:
    data = encode(header_for(state), payload)
    line = data.split(b"\n", 1)[0]
    with pytest.raises(CorruptSnapshot, match="gzip"):
        decode(line + b"\n" + payload)


def test_trailing_bytes_after_the_payload_are_corrupt(state: EngineState, payload: bytes) -> None:
    with pytest.raises(CorruptSnapshot):
        decode(encode(header_for(state), payload) + b"extra")


def test_a_gzip_bomb_is_not_inflated_beyond_the_announced_size(state: EngineState) -> None:
    data = encode(header_for(state), b"small")
    line = data.split(b"\n", 1)[0]
    with pytest.raises(CorruptSnapshot):
        decode(line + b"\n" + gzip.compress(b"\0" * 50_000_000))


def test_header_with_malformed_stream_ids_is_corrupt(state: EngineState, payload: bytes) -> None:
    data = encode(header_for(state, last_price_id="12-x"), payload)
    with pytest.raises(CorruptSnapshot, match="bad header"):
        split(data)


def test_header_position_is_the_greatest_applied_id() -> None:
    header = Header(created_ms=0, seq=1, last_price_id="10-5", last_command_id="10-7")
    assert header.position() == (10, 7)


@pytest.mark.parametrize("text", ["", "1", "1-", "-1", "a-1", "1-b", "1-2-3", "1" * 50 + "-0"])
def test_parse_id_rejects_malformed_ids(text: str) -> None:
    with pytest.raises(ValueError):
        parse_id(text)
