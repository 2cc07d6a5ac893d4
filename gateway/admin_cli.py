"""``python -m gateway admin <command>``: the operator's commands from a shell on the box.

It is the gateway's job to turn a request into an engine command, so the CLI is the gateway's:
the same settings (``REDIS_URL``, ``COMMAND_STREAM``, ``RESPONSE_STREAM``, ``ENGINE_TIMEOUT_MS``,
``SUPPORTED_ASSETS``, ``ADMIN_EMAILS``), the same bodies and validation as the HTTP routes
(``gateway.admin``), and the same engine client. It sends as an address of ``ADMIN_EMAILS``
(the first, or ``--as``), which the engine checks against its own list, and prints the
engine's answer in the HTTP routes' envelope. It needs Redis, not a session: whoever can reach
Redis can write commands anyway, so the CLI adds no power, only the checks.

Exit status: 0 the engine accepted, 1 it refused, 2 bad arguments or settings,
3 no answer (Redis unreachable or the engine silent; retry with the same ``--idempotency-key``).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import msgspec
from redis.exceptions import RedisError

from engine.messages import SUCCESS
from gateway import admin
from gateway.commands import envelope
from gateway.config import ConfigError, GatewayConfig, parse_emails, read_config
from gateway.engine_client import EngineTimeout, EngineUnavailable
from gateway.orders import BadIdempotencyKey, order_id_for
from gateway.redis_pool import connect
from gateway.schemas import InvalidField, convert
from gateway.shards import ShardedEngine

EXIT_OK, EXIT_REFUSED, EXIT_USAGE, EXIT_NO_ANSWER = 0, 1, 2, 3
NULLS = ("null", "none")


class UsageError(Exception):
    """Arguments or settings the CLI cannot send."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m gateway admin",
        description="Send an operator command to the engine (backend-to-engine) as an address "
        "of ADMIN_EMAILS and print its answer. Settings come from the gateway's environment "
        "(REDIS_URL, COMMAND_STREAM, RESPONSE_STREAM, ENGINE_TIMEOUT_MS, SUPPORTED_ASSETS, "
        "ADMIN_EMAILS). Exit 0 accepted, 1 refused by the engine, 2 bad arguments, 3 no answer.",
    )
    parser.add_argument("--as", dest="actor", metavar="EMAIL",
                        help="operator address to send as (one of ADMIN_EMAILS; default the first)")
    parser.add_argument("--redis-url", help="Redis of the engine's streams (default REDIS_URL)")
    parser.add_argument("--idempotency-key", metavar="KEY",
                        help="makes the orderId; the same key again returns the first answer")
    parser.add_argument("--timeout-ms", type=int, help="wait for the answer (ENGINE_TIMEOUT_MS)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="command")

    state = sub.add_parser("state", help="set an asset's market state (SET_MARKET_STATE)")
    state.add_argument("asset")
    state.add_argument("state", choices=("OPEN", "CLOSE_ONLY", "HALTED"))
    state.add_argument("--reason")

    limits = sub.add_parser(
        "limits",
        help="set risk limits (SET_LIMITS); an option left out keeps its limit, 'none' removes it",
    )
    limits.add_argument("--asset", help="one asset (default: the limit of every asset)")
    limits.add_argument("--max-leverage", metavar="TENTHS", help="in tenths (100 = 10x)")
    limits.add_argument("--min-margin", metavar="USD")
    limits.add_argument("--max-margin", metavar="USD")
    limits.add_argument("--max-open-interest", metavar="USD", help="notional, margin x leverage")
    limits.add_argument("--max-open-positions", metavar="N", help="per account")

    adjust = sub.add_parser("adjust", help="credit or debit a free balance (ADJUST_BALANCE)")
    adjust.add_argument("email")
    adjust.add_argument("amount", help="signed USD: 25, 12.5, -12.5")
    adjust.add_argument("--reason", required=True)
    adjust.add_argument("--transaction-id", required=True,
                        help="idempotency: the same id again changes nothing")

    close = sub.add_parser("force-close", help="close any open trade now (FORCE_CLOSE)")
    close.add_argument("trade_id", metavar="tradeId")
    close.add_argument("--reason", required=True)

    sub.add_parser("report", help="totals, open interest, states, limits, state hash (GET_REPORT)")
    return parser


def _nullable(text: str | None, number: bool) -> Any:
    if text is None:
        return msgspec.UNSET
    if text.strip().lower() in NULLS:
        return None
    if not number:
        return text
    if not (text.isascii() and text.isdigit()):
        raise InvalidField("", "must be a positive integer or 'none'")
    return int(text)


def command_of(args: argparse.Namespace, assets: tuple[str, ...]) -> tuple[str, dict[str, Any]]:
    """(engine command, tradeData) for parsed arguments; ``InvalidField`` naming the option."""
    kind = admin.COMMANDS[args.command]
    if args.command == "state":
        state = {"state": args.state} | ({"reason": args.reason} if args.reason else {})
        req = convert(state, admin.MarketStateRequest)
        return kind, admin.market_state_data(admin.asset_of(args.asset, assets), req)
    if args.command == "limits":
        options = {
            "maxLeverage": (args.max_leverage, True),
            "minMargin": (args.min_margin, False),
            "maxMargin": (args.max_margin, False),
            "maxOpenInterest": (args.max_open_interest, False),
            "maxOpenPositionsPerAccount": (args.max_open_positions, True),
        }
        body: dict[str, Any] = {}
        for key, (text, number) in options.items():
            try:
                value = _nullable(text, number)
            except InvalidField as exc:
                raise InvalidField(key, exc.message) from None
            if value is not msgspec.UNSET:
                body[key] = value
        if args.asset is not None:
            body["asset"] = args.asset
        return kind, admin.limits_data(convert(body, admin.LimitsRequest), assets)
    if args.command == "adjust":
        req = convert(
            {"email": args.email, "amount": args.amount, "reason": args.reason,
             "transactionId": args.transaction_id},
            admin.AdjustmentRequest,
        )
        return kind, admin.adjustment_data(req)
    if args.command == "force-close":
        req = convert({"reason": args.reason}, admin.ForceCloseRequest)
        return kind, admin.force_close_data(args.trade_id, req)
    return kind, {}


def actor_of(config: GatewayConfig, wanted: str | None) -> str:
    """The operator address to send as; ``UsageError`` when there is none or it is not one."""
    if not config.admin_emails:
        raise UsageError("ADMIN_EMAILS is empty: set it (the same list as the engine's)")
    if wanted is None:
        return config.admin_emails[0]
    email = parse_emails(wanted)
    if not email or email[0] not in config.admin_emails:
        known = ", ".join(config.admin_emails)
        raise UsageError(f"--as {wanted}: not one of ADMIN_EMAILS ({known})")
    return email[0]


async def send(
    config: GatewayConfig, actor: str, command: str, data: dict[str, Any], key: str | None
) -> tuple[int, bytes]:
    """Send one command and wait for its answer: (exit status, what to print)."""
    try:
        order_id = order_id_for(actor, key)
    except BadIdempotencyKey as exc:
        raise UsageError(str(exc)) from None
    redis = connect(config.redis_url, 8, 5.0, config.redis_cluster)
    client = ShardedEngine(
        redis,
        redis,
        config.shard_map,
        command_stream=config.command_stream,
        response_stream=config.response_stream,
        timeout_ms=config.engine_timeout_ms,
    )
    try:
        try:
            await client.start()
        except (RedisError, OSError) as exc:
            return EXIT_NO_ANSWER, f"Redis unreachable at {config.redis_url}: {exc}".encode()
        start = time.perf_counter()
        try:
            answer = await client.call(command, actor, data, order_id)
        except EngineTimeout:
            text = (f"no answer from the engine within {config.engine_timeout_ms} ms for "
                    f"orderId {order_id}; run the same command with --idempotency-key "
                    f"{order_id.partition(':')[2]} to get its answer")
            return EXIT_NO_ANSWER, text.encode()
        except EngineUnavailable as exc:
            return EXIT_NO_ANSWER, f"could not queue the command: {exc}".encode()
        latency = round((time.perf_counter() - start) * 1000, 3)
    finally:
        await client.stop()
        await redis.aclose()
    body = envelope(order_id, answer.status, answer.data, answer.message, latency)
    status = EXIT_OK if answer.status == SUCCESS else EXIT_REFUSED
    return status, msgspec.json.format(msgspec.json.encode(body), indent=2)


def main(argv: Sequence[str], environ: dict[str, str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(list(argv))
    try:
        config = read_config(None, environ)
        if args.redis_url:
            config = replace(config, redis_url=args.redis_url)
        if args.timeout_ms is not None:
            if args.timeout_ms <= 0:
                raise UsageError("--timeout-ms must be positive")
            config = replace(config, engine_timeout_ms=args.timeout_ms)
        actor = actor_of(config, args.actor)
        assets = tuple(a.symbol for a in config.assets)
        command, data = command_of(args, assets)
        status, out = asyncio.run(send(config, actor, command, data, args.idempotency_key))
    except InvalidField as exc:
        print(f"gateway admin: {exc.field}: {exc.message}", file=sys.stderr)
        return EXIT_USAGE
    except (UsageError, ConfigError) as exc:
        print(f"gateway admin: {exc}", file=sys.stderr)
        return EXIT_USAGE
    stream = sys.stdout if status in (EXIT_OK, EXIT_REFUSED) else sys.stderr
    stream.write(out.decode() + "\n")
    return status
