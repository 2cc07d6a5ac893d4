"""``python -m snapshots verify PATH...`` and ``python -m snapshots inspect PATH``.

verify: checksum, version and a full decode of each file (a directory means every snapshot in
it); one line per file; exit 0 when all verify, 1 otherwise.
inspect: a JSON summary of one snapshot (a directory means its newest valid one): header, stream
positions, accounts, open positions per asset, money totals; exit 1 when it does not verify.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

from snapshots.store import SnapshotStore, read_verified


def _files(path: Path) -> list[Path]:
    if path.is_dir():
        return list(reversed(SnapshotStore(path).paths()))
    return [path]


def _verify(paths: Sequence[str]) -> int:
    from snapshots.state import load_checked

    bad = 0
    for given in paths:
        files = _files(Path(given))
        if not files:
            print(f"BAD {given}: no snapshot files")
            bad += 1
        for path in files:
            outcome = read_verified(path, load_checked)
            if isinstance(outcome, str):
                print(f"BAD {path}: {outcome}")
                bad += 1
                continue
            header, _ = outcome
            print(
                f"OK {path}: version {header.version}, seq {header.seq}, "
                f"prices at {header.last_price_id}, commands at {header.last_command_id}"
            )
    return 1 if bad else 0


def summarize(path: Path) -> dict[str, Any] | str:
    """The inspect summary of one snapshot file, or the reason it does not verify."""
    from engine.config import EngineConfig
    from engine.core import Engine
    from snapshots.state import load_checked

    outcome = read_verified(path, load_checked)
    if isinstance(outcome, str):
        return outcome
    header, state = outcome
    engine = Engine(EngineConfig(), state)
    return {
        "file": str(path),
        "version": header.version,
        "created_ms": header.created_ms,
        "seq": header.seq,
        "streams": {
            "prices_last_applied": header.last_price_id,
            "commands_last_applied": header.last_command_id,
            "responses_last_published": header.last_response_id,
            "events_last_published": header.last_event_id,
        },
        "payload_bytes": header.payload_size,
        "payload_sha256": header.payload_sha256,
        "open_positions": engine.open_positions(),
        "summary": engine.summary(),
    }


def _inspect(given: str) -> int:
    files = _files(Path(given))
    reasons = []
    for path in files:
        result = summarize(path)
        if isinstance(result, str):
            reasons.append(f"{path}: {result}")
            continue
        for reason in reasons:
            print(f"skipped {reason}", file=sys.stderr)
        sys.stdout.write(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode() + "\n")
        return 0
    for reason in reasons or [f"{given}: no snapshot files"]:
        print(f"BAD {reason}", file=sys.stderr)
    return 1


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the exit status."""
    parser = argparse.ArgumentParser(prog="python -m snapshots", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="action", required=True)
    verify = sub.add_parser("verify", help="check checksum, version and decoding of snapshots")
    verify.add_argument("paths", nargs="+", metavar="PATH", help="a snapshot file or directory")
    inspect = sub.add_parser("inspect", help="summarize a snapshot as JSON")
    inspect.add_argument("path", metavar="PATH", help="a snapshot file, or a directory (newest)")
    args = parser.parse_args(argv)
    if args.action == "verify":
        return _verify(args.paths)
    return _inspect(args.path)
