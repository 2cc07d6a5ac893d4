"""``python -m engine [--recover]``: settle where to start from, then run the daemon under uvloop.

Exit status: 0 after SIGTERM/SIGINT and a final snapshot; 1 when the final snapshot could not
be written (outputs left unpublished); 2 for a refusal to start (bad settings, snapshot
directory in use, snapshots present without ``--recover``); 3 for a determinism error during
recovery; 4 when the core raised.
"""

from __future__ import annotations

import gc
import sys
import time
from collections.abc import Sequence

import uvloop

from engine.config import EngineConfig
from engine.core import Engine
from engine.daemon import logs
from engine.daemon.daemon import Daemon
from engine.daemon.exits import ExitCode
from engine.daemon.settings import Settings, SettingsError, parse
from snapshots.format import Header
from snapshots.state import load_checked
from snapshots.store import LockedError, SnapshotStore


def _refuse(event: str, message: str, **fields: object) -> int:
    logs.error(event, message=message, **fields)
    print(f"python -m engine: {message}", file=sys.stderr)
    return ExitCode.REFUSED


def starting_point(settings: Settings, store: SnapshotStore) -> tuple[Engine, Header | None]:
    """The engine to start with: from the newest valid snapshot, or empty (replay everything)."""
    config = EngineConfig()
    if not settings.recover:
        return Engine(config), None
    began = time.monotonic()
    found = store.newest_valid(
        load_checked,
        on_skip=lambda path, reason: logs.warning(
            "snapshot_skipped",
            path=str(path),
            reason=reason,
            hint="corrupt or unknown version; falling back to an older snapshot",
        ),
    )
    if found is None:
        logs.event(
            "no_valid_snapshot",
            snapshot_dir=str(store.dir),
            files=len(store.paths()),
            action="replaying both streams from the beginning",
        )
        return Engine(config), None
    path, header, state = found
    engine = Engine(config, state)
    logs.event(
        "snapshot_loaded",
        path=str(path),
        seq=header.seq,
        last_price_id=header.last_price_id,
        last_command_id=header.last_command_id,
        open_positions=engine.open_positions(),
        load_s=round(time.monotonic() - began, 3),
    )
    return engine, header


def main(argv: Sequence[str] | None = None) -> int:
    """Run the daemon; return its exit status."""
    started = time.monotonic()
    try:
        settings = parse(argv)
    except SettingsError as exc:
        print(f"python -m engine: {exc}", file=sys.stderr)
        return ExitCode.REFUSED
    logs.setup(settings.log_level)
    store = SnapshotStore(settings.snapshot_dir, settings.snapshot_keep)
    try:
        store.lock()
    except (LockedError, OSError) as exc:
        return _refuse("snapshot_dir_unusable", str(exc), snapshot_dir=settings.snapshot_dir)
    existing = store.paths()
    if existing and not settings.recover:
        return _refuse(
            "refusing_to_start",
            f"{settings.snapshot_dir} already holds {len(existing)} snapshot(s), so this is a "
            "restart: run `python -m engine --recover` to load the newest valid snapshot and "
            "replay the streams from it",
            snapshot_dir=settings.snapshot_dir,
        )
    gc.disable()  # loading 10^5 positions allocates millions of objects, none of them garbage
    for path in store.remove_stale_temporaries():
        logs.event("stale_temporary_removed", path=str(path))
    logs.event(
        "starting",
        recover=settings.recover,
        redis_url=_redacted(settings.redis_url),
        snapshot_dir=settings.snapshot_dir,
        snapshot_interval_s=settings.snapshot_interval_s,
        snapshot_mode=settings.snapshot_mode,
        metrics_port=settings.metrics_port,
        shard=f"{settings.shard}/{settings.shards}",
        redis_cluster=settings.redis_cluster,
        streams=[
            settings.price_stream,
            settings.command_stream,
            settings.response_stream,
            settings.events_stream,
        ],
    )
    engine, header = starting_point(settings, store)
    engine.admins = frozenset(settings.admin_emails)
    for stream, entry_id in settings.skip_entries:
        engine.quarantine(stream, entry_id)
        logs.warning(
            "entry_quarantined",
            stream=stream,
            entry_id=entry_id,
            hint="skipped and counted (rejected kind 'quarantined'), kept in the snapshots",
        )

    async def run() -> int:
        return await Daemon(settings, engine, store, header, started).run()

    status = uvloop.run(run())
    logs.event("exit", status=status)
    return status


def _redacted(url: str) -> str:
    """The URL without its password."""
    scheme, sep, rest = url.partition("://")
    creds, at, host = rest.rpartition("@")
    if not at:
        return url
    user = creds.partition(":")[0]
    return f"{scheme}{sep}{user}:***@{host}"
