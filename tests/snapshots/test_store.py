"""The snapshot directory: atomic writes, name order, pruning, ``latest``, fallback, the lock."""

from __future__ import annotations

import os
from pathlib import Path

import msgspec
import pytest

from engine.state import EngineState
from snapshots.format import Header
from snapshots.state import load_checked
from snapshots.store import LATEST, LockedError, SnapshotStore, file_name, read_verified
from tests.snapshots.conftest import busy_state, header_for


def _header(seq: int, price: str = "5-0", command: str = "4-0") -> Header:
    return Header(created_ms=0, seq=seq, last_price_id=price, last_command_id=command)


def _write_states(store: SnapshotStore, count: int) -> list[tuple[Path, EngineState]]:
    """Write ``count`` snapshots of genuinely different states, oldest first."""
    from engine.state import dump_state

    written = []
    for i in range(count):
        state = busy_state(trades=i + 1)
        written.append((store.write(header_for(state), dump_state(state)), state))
    return written


def test_name_order_is_state_order() -> None:
    names = [
        file_name(_header(9, "99-0", "1-0")),
        file_name(_header(10, "1-0", "2-0")),
        file_name(_header(10, "1-0", "2-1")),
        file_name(_header(10, "3-0", "2-1")),
        file_name(_header(100, "3-0", "2-1")),
    ]
    assert names == sorted(names)


def test_write_is_atomic_and_points_latest_at_the_new_file(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path, keep=3)
    [(path, state)] = _write_states(store, 1)
    assert path.parent == tmp_path
    assert os.readlink(tmp_path / LATEST) == path.name
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    outcome = read_verified(path, load_checked)
    assert not isinstance(outcome, str)
    assert outcome[1] == state


def test_only_the_newest_keep_snapshots_stay(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path, keep=3)
    written = _write_states(store, 5)
    assert store.paths() == [p for p, _ in written[-3:]]
    assert os.readlink(tmp_path / LATEST) == written[-1][0].name


def test_newest_valid_falls_back_past_damaged_files_and_says_why(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path, keep=10)
    written = _write_states(store, 4)
    newest, second, third = written[3][0], written[2][0], written[1][0]
    newest.write_bytes(newest.read_bytes()[:-20])  # truncated
    damaged = bytearray(second.read_bytes())
    damaged[len(damaged) // 2] ^= 0xFF  # one flipped byte
    second.write_bytes(bytes(damaged))
    skipped: list[tuple[Path, str]] = []
    found = store.newest_valid(load_checked, lambda p, why: skipped.append((p, why)))
    assert found is not None
    path, header, state = found
    assert path == third
    assert state == written[1][1]
    assert header.seq == state.seq
    assert [p for p, _ in skipped] == [newest, second]
    assert all(why for _, why in skipped)


def test_unknown_version_and_undecodable_payload_are_skipped(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path, keep=10)
    written = _write_states(store, 3)
    line, rest = written[2][0].read_bytes().split(b"\n", 1)
    raw = msgspec.json.decode(line)
    raw["version"] = 99
    written[2][0].write_bytes(msgspec.json.encode(raw) + b"\n" + rest)
    # A well-formed file whose payload is not an engine state at all.
    fake = _header(written[1][1].seq + 1, "9999999-0", "9999999-0")
    store.write(fake, b"\x01\x02 not msgpack of a state")
    skipped: list[str] = []
    found = store.newest_valid(load_checked, lambda p, why: skipped.append(why))
    assert found is not None and found[0] == written[1][0]
    assert any("version 99" in why for why in skipped)
    assert any("does not decode" in why for why in skipped)


def test_no_valid_snapshot_gives_none(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path, keep=10)
    (tmp_path / "snapshot-0000000000000001-000000000000001-00000000000000000000.snap").write_bytes(
        b""
    )
    skipped: list[str] = []
    assert store.newest_valid(load_checked, lambda p, why: skipped.append(why)) is None
    assert len(skipped) == 1
    assert SnapshotStore(tmp_path / "missing").newest_valid(load_checked, print) is None


def test_listing_reads_headers_only_and_reports_unreadable_ones(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path, keep=10)
    written = _write_states(store, 2)
    written[0][0].write_bytes(b"garbage")
    listing = store.listing()
    assert [item.path for item in listing] == [p for p, _ in written]
    assert listing[0].header is None and listing[0].error
    assert listing[1].header is not None and listing[1].header.seq == written[1][1].seq


def test_stale_temporaries_are_removed_but_nothing_else(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path, keep=10)
    [(path, _)] = _write_states(store, 1)
    stale = tmp_path / f".{path.name}.12345.tmp"
    stale.write_bytes(b"half a snapshot")
    assert store.remove_stale_temporaries() == [stale]
    assert store.paths() == [path]


def test_the_lock_admits_one_store_at_a_time(tmp_path: Path) -> None:
    first, second = SnapshotStore(tmp_path), SnapshotStore(tmp_path)
    first.lock()
    with pytest.raises(LockedError):
        second.lock()
    first.unlock()
    second.lock()
    second.unlock()


def test_keep_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        SnapshotStore(tmp_path, keep=0)
