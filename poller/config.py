"""The poller's configuration: command-line flags, each with an environment variable behind it.

A flag wins over its environment variable, which wins over the default. Every value is checked
here, so a bad flag or variable stops the poller at start with a message naming it (exit 2).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from redis.connection import parse_url

from engine.shards import ShardError, ShardMap, from_env
from engine.wire import MAX_PRICE_ITEMS
from poller.ticks import AssetSpec

SOURCES = ("backpack", "replay", "sim")
DEFAULT_ASSETS = "BTC_USDC:4,ETH_USDC:4,SOL_USDC:4,ADA_USDC:4"
MAX_DECIMALS = 18
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}")


@dataclass(frozen=True)
class Config:
    """Everything the poller needs to run; built by ``parse_config``."""

    source: str
    redis_url: str
    stream: str
    ws_url: str
    assets: tuple[AssetSpec, ...]
    replay_file: str | None  # None: the sample file shipped in the package
    replay_speed: float  # 1 = recorded pace, 10 = ten times faster, 0 = no waiting
    sim_seed: int
    sim_rate_hz: float  # rounds per second, each moving every asset once; 0 = flat out
    metrics_host: str
    metrics_port: int  # 0: no metrics endpoint
    batch_ms: float
    silence_s: float
    backoff_min_s: float
    backoff_max_s: float
    log_level: str
    sim_backfill_s: float = 0.0  # first start only: this much simulated past (make up: a day)
    command_stream: str = "backend-to-engine"  # must be empty too for a backfill
    # SHARDS / REDIS_CLUSTER: every batch goes to every shard
    shards: ShardMap = dataclasses.field(default_factory=ShardMap)

    @property
    def streams(self) -> tuple[str, ...]:
        """The price stream of every engine shard (``engine.shards``); one with one shard."""
        return tuple(self.shards.key(k, self.stream) for k in self.shards.all())


def parse_assets(text: str) -> tuple[AssetSpec, ...]:
    """Parse ``ASSET[=SYMBOL][:DECIMALS],...`` (symbol defaults to the asset, decimals to 4)."""
    specs: list[AssetSpec] = []
    for entry in text.split(","):
        entry = entry.strip()
        if not entry:
            continue
        names, sep, decimals_text = entry.partition(":")
        asset, eq, symbol = names.partition("=")
        symbol = symbol if eq else asset
        for name in (asset, symbol):
            if not _NAME.fullmatch(name):
                raise ValueError(f"bad asset or symbol name {name!r} in {entry!r}")
        decimals = 4
        if sep:
            if not decimals_text.isdigit() or not decimals_text.isascii():
                raise ValueError(f"bad decimals {decimals_text!r} in {entry!r}")
            decimals = int(decimals_text)
            if decimals > MAX_DECIMALS:
                raise ValueError(f"decimals {decimals} above {MAX_DECIMALS} in {entry!r}")
        specs.append(AssetSpec(asset=asset, symbol=symbol, decimals=decimals))
    if not specs:
        raise ValueError("no assets")
    if len(specs) > MAX_PRICE_ITEMS:
        raise ValueError(f"more than {MAX_PRICE_ITEMS} assets")
    for field in ("asset", "symbol"):
        seen = [getattr(s, field) for s in specs]
        dupes = sorted({n for n in seen if seen.count(n) > 1})
        if dupes:
            raise ValueError(f"{field} listed twice: {', '.join(dupes)}")
    return tuple(specs)


def _number(
    low: float, high: float = math.inf, *, low_open: bool = False
) -> Callable[[str], float]:
    def convert(text: str) -> float:
        value = float(text)  # a duration or a rate, never a price
        if not math.isfinite(value) or value < low or value > high or (low_open and value == low):
            bound = f"> {low}" if low_open else f">= {low}"
            raise ValueError(
                f"{text!r} is not a number {bound}"
                + (f" and <= {high}" if high != math.inf else "")
            )
        return value

    return convert


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise ValueError(f"{text!r} is not a port (0-65535)")
    return value


def _integer(text: str) -> int:
    return int(text)


def _source(text: str) -> str:
    if text not in SOURCES:
        raise ValueError(f"{text!r} is not one of {', '.join(SOURCES)}")
    return text


def _text(text: str) -> str:
    if not text.strip():
        raise ValueError("must not be empty")
    return text


def _redis_url(text: str) -> str:
    parse_url(text)  # type: ignore[no-untyped-call]  # raises ValueError naming the fault
    return text


def _ws_url(text: str) -> str:
    if not text.startswith(("ws://", "wss://")) or len(text) < 6:
        raise ValueError("must be a ws:// or wss:// URL")
    return text


def _level(text: str) -> str:
    level = text.upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ValueError(f"{text!r} is not DEBUG, INFO, WARNING or ERROR")
    return level


# (flag, environment variable, default, converter, help)
_OPTIONS: tuple[tuple[str, str, str | None, Callable[[str], Any], str], ...] = (
    (
        "--source",
        "POLLER_SOURCE",
        "backpack",
        _source,
        "where prices come from: " + "|".join(SOURCES),
    ),
    ("--redis-url", "REDIS_URL", "redis://127.0.0.1:6379/0", _redis_url, "Redis to publish to"),
    ("--stream", "ENGINE_INPUT_STREAM", "engine_input", _text, "stream the engine reads"),
    ("--url", "POLLER_WS_URL", "wss://ws.backpack.exchange", _ws_url, "Backpack WebSocket URL"),
    (
        "--assets",
        "POLLER_ASSETS",
        DEFAULT_ASSETS,
        parse_assets,
        "ASSET[=SYMBOL][:DECIMALS],... engine assets, their exchange symbols, price decimals",
    ),
    ("--replay-file", "REPLAY_FILE", None, _text, "JSONL file of bookTicker frames"),
    (
        "--speed",
        "REPLAY_SPEED",
        "1",
        _number(0),
        "replay pace: 1 = as recorded, N = N times faster, 0 = no waiting",
    ),
    ("--seed", "SIM_SEED", "1", _integer, "random seed of the simulator"),
    (
        "--rate",
        "SIM_RATE_HZ",
        "10",
        _number(0),
        "simulator rounds per second (each moves every asset); 0 = as fast as possible",
    ),
    (
        "--backfill-s",
        "SIM_BACKFILL_S",
        "0",
        _number(0, 30 * 86_400),
        "simulator, first start only (both input streams never written): write this many "
        "seconds of simulated past to the stream, one entry per 10 s",
    ),
    ("--command-stream", "COMMAND_STREAM", "backend-to-engine", _text,
     "the engine's command stream (a backfill needs it never written)"),
    ("--metrics-host", "METRICS_HOST", "0.0.0.0", _text, "address of the metrics endpoint"),
    ("--metrics-port", "METRICS_PORT", "9102", _port, "Prometheus metrics port; 0 = none"),
    (
        "--batch-ms",
        "POLLER_BATCH_MS",
        "5",
        _number(0, 10_000),
        "batch window: ticks within it become one entry, latest per asset wins",
    ),
    (
        "--silence-s",
        "POLLER_SILENCE_S",
        "15",
        _number(0, low_open=True),
        "an asset without a tick this long is reported silent; a feed silent this long "
        "is reconnected",
    ),
    ("--backoff-min-s", "POLLER_BACKOFF_MIN_S", "0.5", _number(0, low_open=True), "first retry"),
    ("--backoff-max-s", "POLLER_BACKOFF_MAX_S", "30", _number(0, low_open=True), "longest retry"),
    ("--log-level", "LOG_LEVEL", "INFO", _level, "DEBUG, INFO, WARNING or ERROR"),
)


def _dest(flag: str) -> str:
    return flag.lstrip("-").replace("-", "_")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser; ``--help`` lists every flag with its environment variable."""
    parser = argparse.ArgumentParser(
        prog="python -m poller",
        description="Publish bookTicker prices to the engine's input stream.",
        epilog="Each flag can also be set by the environment variable shown; the flag wins.",
    )
    for flag, env, default, _convert, help_text in _OPTIONS:
        shown = "the shipped sample" if default is None else default
        parser.add_argument(
            flag,
            dest=_dest(flag),
            metavar=env,
            default=None,
            help=f"{help_text} (env {env}, default {shown})",
        )
    return parser


def parse_config(argv: Sequence[str] | None, env: Mapping[str, str]) -> Config:
    """Build the config from flags and environment; exit 2 with a message naming the bad one."""
    parser = build_parser()
    args = parser.parse_args(argv)
    values: dict[str, Any] = {}
    for flag, env_name, default, convert, _help in _OPTIONS:
        raw = getattr(args, _dest(flag))
        origin = flag
        if raw is None and env.get(env_name):
            raw, origin = env[env_name], env_name
        if raw is None:
            raw, origin = default, f"default of {flag}"
        if raw is None:
            values[_dest(flag)] = None
            continue
        try:
            values[_dest(flag)] = convert(raw)
        except ValueError as exc:
            parser.error(f"{origin}={raw!r}: {exc}")
    if values["backoff_min_s"] > values["backoff_max_s"]:
        parser.error("--backoff-min-s must not exceed --backoff-max-s")
    return Config(
        source=values["source"],
        redis_url=values["redis_url"],
        stream=values["stream"],
        ws_url=values["url"],
        assets=values["assets"],
        replay_file=values["replay_file"],
        replay_speed=values["speed"],
        sim_seed=values["seed"],
        sim_rate_hz=values["rate"],
        metrics_host=values["metrics_host"],
        metrics_port=values["metrics_port"],
        batch_ms=values["batch_ms"],
        silence_s=values["silence_s"],
        backoff_min_s=values["backoff_min_s"],
        backoff_max_s=values["backoff_max_s"],
        log_level=values["log_level"],
        sim_backfill_s=values["backfill_s"],
        command_stream=values["command_stream"],
        shards=_shards(parser, env),
    )


def _shards(parser: argparse.ArgumentParser, env: Mapping[str, str]) -> ShardMap:
    try:
        return from_env(env)
    except ShardError as exc:
        parser.error(str(exc))
