"""``python -m snapshots verify|inspect``: exit codes, output, damaged and missing files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from engine.core import Engine
from engine.state import EngineState, dump_state
from snapshots.cli import main
from snapshots.store import SnapshotStore
from tests.snapshots.conftest import header_for


@pytest.fixture
def store(tmp_path: Path, state: EngineState) -> SnapshotStore:
    store = SnapshotStore(tmp_path / "snaps")
    store.write(header_for(state), dump_state(state))
    return store


def test_verify_accepts_a_good_snapshot(store: SnapshotStore, capsys) -> None:
    [path] = store.paths()
    assert main(["verify", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"OK {path}")


def test_verify_rejects_damage_with_a_reason(store: SnapshotStore, tmp_path: Path, capsys) -> None:
    [path] = store.paths()
    truncated = tmp_path / "truncated.snap"
    truncated.write_bytes(path.read_bytes()[:-3])
    empty = tmp_path / "empty.snap"
    empty.write_bytes(b"")
    assert main(["verify", str(path), str(truncated), str(empty), str(tmp_path / "nope")]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("OK ")
    assert [line.split(":")[0] for line in lines[1:]] == [
        f"BAD {truncated}",
        f"BAD {empty}",
        f"BAD {tmp_path / 'nope'}",
    ]


def test_verify_a_directory_checks_every_snapshot(store: SnapshotStore, capsys) -> None:
    assert main(["verify", str(store.dir)]) == 0
    assert capsys.readouterr().out.count("OK ") == 1
    assert main(["verify", str(store.dir / "empty-dir-that-does-not-exist")]) == 1


def test_inspect_summarizes_accounts_positions_streams_and_money(
    store: SnapshotStore, state: EngineState, capsys
) -> None:
    assert main(["inspect", str(store.dir)]) == 0
    summary = json.loads(capsys.readouterr().out)
    expected = Engine(state=state).summary()
    assert summary["summary"] == expected
    assert summary["open_positions"] == len(state.trades) > 0
    assert summary["streams"]["prices_last_applied"] == state.last_price_id
    assert summary["streams"]["commands_last_applied"] == state.last_command_id
    assert summary["seq"] == state.seq
    money = summary["summary"]
    assert money["free"] + money["locked"] + money["house"] == money["deposits"]


def test_inspect_skips_to_the_newest_valid_one_and_fails_when_none(
    store: SnapshotStore, tmp_path: Path, capsys
) -> None:
    [path] = store.paths()
    path.write_bytes(b"{}\n")
    assert main(["inspect", str(store.dir)]) == 1
    assert "BAD" in capsys.readouterr().err


def test_usage_errors_exit_2() -> None:
    for argv in ([], ["frobnicate"], ["verify"], ["inspect"]):
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 2


def test_runs_as_a_module(store: SnapshotStore) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "snapshots", "verify", str(store.dir)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("OK ")
