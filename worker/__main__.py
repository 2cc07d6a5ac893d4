"""``python -m worker [run|migrate|candles]``: the persistence worker's command line."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Callable, Sequence

from worker.config import DEFAULT_DATABASE_URL, DEFAULT_REDIS_URL, Config, default_consumer


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative: {text!r}")
    return value


def _port(text: str) -> int:
    value = _positive_int(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"not a port: {text!r}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number: {text!r}")
    return value


def _url(schemes: tuple[str, ...]) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if not text.startswith(tuple(s + "://" for s in schemes)):
            raise argparse.ArgumentTypeError(f"expected a {'/'.join(schemes)}:// URL")
        return text

    return parse


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m worker",
        description="Persistence worker: writes the engine's responses, events and commands to "
        "PostgreSQL exactly once (at-least-once delivery + idempotent rows).",
    )
    parser.add_argument("action", nargs="?", choices=("run", "migrate", "candles"),
                        default="run",
                        help="run the worker (default; migrates first), only migrate, or run "
                        "the candle builder (its own group on the price stream)")
    parser.add_argument("--database-url", type=_url(("postgresql", "postgres")),
                        default=os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL),
                        help="PostgreSQL URL (env DATABASE_URL)")
    parser.add_argument("--redis-url", type=_url(("redis", "rediss", "unix")),
                        default=os.environ.get("REDIS_URL", DEFAULT_REDIS_URL),
                        help="Redis URL (env REDIS_URL)")
    d = Config(consumer="x")
    parser.add_argument("--response-stream", default=d.response_stream)
    parser.add_argument("--events-stream", default=d.events_stream)
    parser.add_argument("--commands-stream", default=d.commands_stream)
    parser.add_argument("--dead-letter-stream", default=d.dead_letter_stream)
    parser.add_argument("--group", default=d.group, help="consumer group name")
    parser.add_argument("--consumer", default=None,
                        help="consumer name (default: host-pid, unique per process)")
    parser.add_argument("--batch-size", type=_positive_int, default=d.batch_size,
                        help="entries per stream per read")
    parser.add_argument("--block-ms", type=_positive_int, default=d.block_ms)
    parser.add_argument("--claim-idle-ms", type=_positive_int, default=d.claim_idle_ms,
                        help="claim entries pending longer than this (a dead consumer's)")
    parser.add_argument("--claim-interval", type=_positive_float, default=d.claim_interval_s,
                        help="seconds between claims of stale entries")
    parser.add_argument("--retry-max", type=_positive_float, default=d.retry_max_s,
                        help="longest backoff between retries, seconds")
    parser.add_argument("--metrics-port", type=_port,
                        default=os.environ.get("WORKER_METRICS_PORT", "0"),
                        help="port of the Prometheus /metrics endpoint; 0 (default): off "
                        "(env WORKER_METRICS_PORT)")
    parser.add_argument("--metrics-host", default=os.environ.get("WORKER_METRICS_HOST",
                                                                 "127.0.0.1"),
                        help="address of /metrics (env WORKER_METRICS_HOST)")
    parser.add_argument("--price-stream", default=os.environ.get("PRICE_STREAM", "engine_input"),
                        help="candles: the price stream (env PRICE_STREAM)")
    parser.add_argument("--log-level", default="INFO",
                        choices=("DEBUG", "INFO", "WARNING", "ERROR"))
    return parser


def config_from_args(args: argparse.Namespace) -> Config:
    """The ``Config`` for parsed arguments; ``ValueError`` when they do not fit together."""
    return Config(
        database_url=args.database_url,
        redis_url=args.redis_url,
        response_stream=args.response_stream,
        events_stream=args.events_stream,
        commands_stream=args.commands_stream,
        dead_letter_stream=args.dead_letter_stream,
        group=args.group,
        consumer=args.consumer or default_consumer(),
        batch_size=args.batch_size,
        block_ms=args.block_ms,
        claim_idle_ms=args.claim_idle_ms,
        claim_interval_s=args.claim_interval,
        retry_initial_s=min(0.1, args.retry_max),
        retry_max_s=args.retry_max,
    )


async def _migrate_only(config: Config) -> int:
    import asyncpg

    from worker.migrate import MigrationError, migrate
    from worker.service import PINNED_SETTINGS

    try:
        conn = await asyncpg.connect(
            config.database_url, timeout=10, server_settings=PINNED_SETTINGS
        )
        try:
            applied = await migrate(conn)
        finally:
            await conn.close()
    except (asyncpg.PostgresError, MigrationError) as exc:
        print(f"worker: migration failed: {exc}", file=sys.stderr)
        return 1
    print(f"applied {applied}" if applied else "up to date")
    return 0


async def _run(config: Config, metrics_host: str = "127.0.0.1", metrics_port: int = 0) -> int:
    from redis.asyncio import Redis

    from worker.metrics import serve
    from worker.service import Database, Worker

    redis = Redis.from_url(config.redis_url)
    worker = Worker(config, redis, Database(config.database_url))
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, worker.stop)
    server = serve(worker.stats, metrics_host, metrics_port) if metrics_port else None
    try:
        stats = await worker.run()
    finally:
        if server is not None:
            server.shutdown()
        await redis.aclose()
    logging.getLogger("worker").info("stopped: written %d, dead letters %d",
                                     stats.written, stats.dead)
    return 0


async def _run_candles(config: Config, stream: str) -> int:
    from redis.asyncio import Redis

    from worker.candle_service import CandleBuilder, CandleConfig
    from worker.service import Database

    redis = Redis.from_url(config.redis_url)
    builder = CandleBuilder(
        CandleConfig(
            database_url=config.database_url,
            redis_url=config.redis_url,
            stream=stream,
            batch_size=config.batch_size,
            block_ms=config.block_ms,
            retry_initial_s=config.retry_initial_s,
            retry_max_s=config.retry_max_s,
        ),
        redis,
        Database(config.database_url),
    )
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, builder.stop)
    try:
        stats = await builder.run()
    finally:
        await redis.aclose()
    logging.getLogger("worker.candles").info(
        "stopped: %d entries, %d ticks", stats.entries, stats.ticks)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        config = config_from_args(args)
    except ValueError as exc:
        parser.error(str(exc))
    logging.basicConfig(level=args.log_level,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency
        runner = asyncio.run
    else:
        runner = uvloop.run
    if args.action == "candles":
        coro = _run_candles(config, args.price_stream)
    elif args.action == "migrate":
        coro = _migrate_only(config)
    else:
        coro = _run(config, args.metrics_host, args.metrics_port)
    try:
        return runner(coro)
    except (OSError, ValueError, TimeoutError) as exc:
        print(f"worker: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
