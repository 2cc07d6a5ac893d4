"""Daemon settings: each one an environment variable and a ``--flag`` (the flag wins)."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from typing import Any

from engine.shards import MAX_SHARDS, ShardMap


class SettingsError(ValueError):
    """A setting that is missing or malformed."""


@dataclass(frozen=True)
class Settings:
    """Everything the daemon needs to know before it starts."""

    redis_url: str = "redis://127.0.0.1:6379/0"
    snapshot_dir: str = "./var/snapshots"
    snapshot_interval_s: float = 5.0
    snapshot_keep: int = 10
    snapshot_mode: str = "fork"
    metrics_port: int = 9464
    metrics_host: str = "127.0.0.1"
    price_stream: str = "engine_input"
    command_stream: str = "backend-to-engine"
    response_stream: str = "engine_response"
    events_stream: str = "engine_events"
    heartbeat_key: str = "engine:heartbeat"
    read_count: int = 2000
    block_ms: int = 200
    trim_streams: bool = True
    log_level: str = "info"
    recover: bool = False
    continue_on_mismatch: bool = False
    skip_entries: tuple[tuple[str, str], ...] = ()  # (price|command, entry ID)
    admin_emails: tuple[str, ...] = ()
    shard: int = 0
    shards: int = 1
    redis_cluster: bool = False


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError("must be at least 1")
    return value


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value < 65536:
        raise ValueError("must be 0 (off) or a port number")
    return value


def _interval(text: str) -> float:
    value = float(text)
    if not 0.05 <= value <= 86_400:  # float is fine here: a duration, not money
        raise ValueError("must be between 0.05 and 86400 seconds")
    return value


def _bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError("must be true or false")


def _shard_count(text: str) -> int:
    value = int(text)
    if not 1 <= value <= MAX_SHARDS:
        raise ValueError(f"must be between 1 and {MAX_SHARDS}")
    return value


def _shard(text: str) -> int:
    value = int(text)
    if value < 0:
        raise ValueError("must be 0 or more")
    return value


def _stream(text: str) -> str:
    if not text or len(text) > 200 or any(c.isspace() for c in text):
        raise ValueError("must be a non-empty name without spaces")
    return text


def _choice(*allowed: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if text not in allowed:
            raise ValueError(f"must be one of {', '.join(allowed)}")
        return text

    return parse


def _skip_entry(text: str) -> tuple[str, str]:
    stream, _, entry_id = text.partition(":")
    ms, dash, seq = entry_id.partition("-")
    if stream not in ("price", "command") or not (
        dash and ms.isdigit() and seq.isdigit() and ms.isascii() and seq.isascii()
    ):
        raise ValueError("must be price:<entry ID> or command:<entry ID> (price:1700000000000-0)")
    return stream, entry_id


def _emails(text: str) -> tuple[str, ...]:
    # Lower case, as the gateway signs users in: "Ops@X.io" in the list is the ops@x.io session.
    emails = tuple(e.strip().lower() for e in text.split(",") if e.strip())
    for email in emails:
        if "@" not in email or len(email) > 254 or any(c.isspace() for c in email):
            raise ValueError(f"{email!r} is not an email address")
    return emails


def _url(text: str) -> str:
    if not text.startswith(("redis://", "rediss://", "unix://")):
        raise ValueError("must be a redis://, rediss:// or unix:// URL")
    return text


# name -> (environment variable, parser, help)
SPEC: dict[str, tuple[str, Callable[[str], Any], str]] = {
    "redis_url": ("REDIS_URL", _url, "Redis holding the four streams"),
    "snapshot_dir": ("SNAPSHOT_DIR", str, "directory of snapshot files"),
    "snapshot_interval_s": ("SNAPSHOT_INTERVAL_S", _interval, "seconds between snapshots"),
    "snapshot_keep": ("SNAPSHOT_KEEP", _positive_int, "how many snapshots to keep"),
    "snapshot_mode": (
        "SNAPSHOT_MODE",
        _choice("fork", "inline"),
        "fork: a child process writes (no stall); inline: the loop writes (for comparison)",
    ),
    "metrics_port": ("METRICS_PORT", _port, "port of the Prometheus /metrics endpoint (0: off)"),
    "metrics_host": ("METRICS_HOST", str, "address the /metrics endpoint listens on"),
    "price_stream": ("PRICE_STREAM", _stream, "input stream of price batches"),
    "command_stream": ("COMMAND_STREAM", _stream, "input stream of commands"),
    "response_stream": ("RESPONSE_STREAM", _stream, "output stream of responses"),
    "events_stream": ("EVENTS_STREAM", _stream, "output stream of events"),
    "heartbeat_key": ("ENGINE_HEARTBEAT_KEY", str, "key refreshed every second while running"),
    "read_count": ("READ_COUNT", _positive_int, "most entries read per stream per round"),
    "block_ms": ("BLOCK_MS", _positive_int, "longest blocking read when idle, ms"),
    "trim_streams": ("TRIM_STREAMS", _bool, "XTRIM MINID input streams after snapshots"),
    "log_level": ("LOG_LEVEL", _choice("debug", "info", "warning", "error"), "log level"),
    "shard": ("SHARD", _shard, "which engine shard this is (0 .. SHARDS-1)"),
    "shards": (
        "SHARDS",
        _shard_count,
        "how many engine shards share the accounts (each has its own streams and snapshots)",
    ),
    "redis_cluster": (
        "REDIS_CLUSTER",
        _bool,
        "REDIS_URL is a node of a Redis Cluster: talk to the master of this shard's hash slot",
    ),
    "admin_emails": (
        "ADMIN_EMAILS",
        _emails,
        "comma-separated emails whose operator commands the engine accepts",
    ),
}


def _sharded(settings: Settings) -> Settings:
    """The shard's own names (``engine.shards``): its tagged streams, heartbeat and folder.

    One shard on a plain Redis keeps every name as given, so nothing changes there.
    """
    shards = ShardMap(settings.shards, settings.redis_cluster)
    if settings.shard >= settings.shards:
        raise SettingsError(
            f"SHARD={settings.shard} is outside 0..{settings.shards - 1} (SHARDS={settings.shards})"
        )
    k = settings.shard
    names = shards.streams(
        k,
        settings.price_stream,
        settings.command_stream,
        settings.response_stream,
        settings.events_stream,
    )
    return replace(
        settings,
        price_stream=names.prices,
        command_stream=names.commands,
        response_stream=names.responses,
        events_stream=names.events,
        heartbeat_key=shards.heartbeat(k, settings.heartbeat_key),
        snapshot_dir=shards.snapshot_dir(settings.snapshot_dir, k),
    )


def _parser(defaults: Settings) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m engine",
        description="The CFD engine daemon: reads the input streams, applies them in a "
        "reproducible order, publishes responses and events, writes snapshots.",
        epilog="Every option can also be set by the environment variable in brackets; "
        "a flag wins over the environment.",
    )
    for name, (env, _, help_text) in SPEC.items():
        flag = "--" + name.replace("_", "-")
        parser.add_argument(
            flag,
            dest=name,
            default=None,
            metavar=env,
            help=f"{help_text} [{env}] (default: {getattr(defaults, name)})",
        )
    parser.add_argument(
        "--recover",
        action="store_true",
        help="start from the newest valid snapshot (or the streams' beginning) and replay; "
        "required when the snapshot directory already holds snapshots",
    )
    parser.add_argument(
        "--continue-on-mismatch",
        action="store_true",
        help="during recovery, log a replayed output that differs from the published one and "
        "go on instead of exiting with status 3",
    )
    parser.add_argument(
        "--skip-entry",
        action="append",
        default=[],
        metavar="STREAM:ID",
        help="set an input entry aside (price:<id> or command:<id>; repeatable): it is skipped "
        "and counted, never applied, now and in every later replay (the list is kept in the "
        "snapshots). The operator's way past an entry that stops the engine.",
    )
    return parser


def parse(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Settings from ``environ`` overridden by ``argv``; raise ``SettingsError`` when malformed.

    ``--help`` exits through argparse as usual.
    """
    environ = os.environ if environ is None else environ
    defaults = Settings()
    args = _parser(defaults).parse_args(argv)
    values: dict[str, Any] = {}
    for name, (env, convert, _) in SPEC.items():
        flag_value = getattr(args, name)
        source, text = (
            ("--" + name.replace("_", "-"), flag_value)
            if flag_value is not None
            else (env, environ.get(env, ""))
        )
        if text == "":
            continue
        try:
            values[name] = convert(text)
        except ValueError as exc:
            raise SettingsError(f"{source}={text!r}: {exc}") from None
    values["recover"] = args.recover
    values["continue_on_mismatch"] = args.continue_on_mismatch
    try:
        values["skip_entries"] = tuple(_skip_entry(text) for text in args.skip_entry)
    except ValueError as exc:
        raise SettingsError(f"--skip-entry: {exc}") from None
    known = {f.name for f in fields(Settings)}
    settings = _sharded(Settings(**{k: v for k, v in values.items() if k in known}))
    streams = (
        settings.price_stream,
        settings.command_stream,
        settings.response_stream,
        settings.events_stream,
    )
    if len(set(streams)) != len(streams):
        raise SettingsError(f"the four stream names must differ: {', '.join(streams)}")
    return settings
