"""Gateway settings: one frozen dataclass, read from the environment and overridable by CLI flags.

Every setting has an environment variable (the name in ``ENV``) and a ``--flag``; the flag wins.
Outside dev mode (``GATEWAY_ENV`` other than ``dev``) the gateway refuses to start with a missing,
short or well-known JWT secret, and cookies are marked ``Secure``.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any

from engine.config import DEFAULT_ASSETS as ENGINE_ASSETS
from engine.shards import MAX_SHARDS, ShardError, ShardMap, parse_bool
from gateway.auth import normalize_email

DEV_JWT_SECRET = "dev-only-insecure-jwt-secret-change-me-0000"
# Secrets that must never protect a real deployment: ours, and the usual placeholders.
WEAK_SECRETS = frozenset(
    {DEV_JWT_SECRET, "secret", "changeme", "change-me", "jwt-secret", "dev", "test", "password"}
)
MIN_SECRET_BYTES = 32
# The engine's own default asset table (the reference's BTC, ETH, SOL and ADA, ADA_USDC at 4
# decimals as Backpack quotes it), so the two agree unless SUPPORTED_ASSETS says otherwise.
DEFAULT_ASSETS = ",".join(f"{name}:{places}" for name, places in ENGINE_ASSETS.items())


class ConfigError(ValueError):
    """A setting that is missing, malformed or unsafe for the chosen environment."""


@dataclass(frozen=True)
class AssetInfo:
    """A tradable asset and the number of decimals its prices carry."""

    symbol: str
    decimals: int


@dataclass(frozen=True)
class GatewayConfig:
    """Everything the gateway needs to run; build it with ``load_config``."""

    env: str = "production"
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_pool_size: int = 256
    redis_pool_wait_s: float = 5.0
    jwt_secret: str = ""
    jwt_ttl_s: int = 7 * 24 * 3600
    magic_link_ttl_s: int = 15 * 60
    public_url: str = ""  # default: http://<host>:<port>
    smtp_url: str = ""
    mail_from: str = "CFD Exchange <no-reply@localhost>"
    smtp_timeout_s: float = 10.0
    engine_timeout_ms: int = 5000
    cors_origins: tuple[str, ...] = ()
    max_body_bytes: int = 16 * 1024
    rate_ip_per_min: int = 1200
    rate_user_per_min: int = 600
    rate_signup_ip_per_hour: int = 30
    rate_signup_email_per_hour: int = 5
    ws_max_backlog: int = 10_000
    ws_max_per_user: int = 20
    trusted_proxies: str = ""
    assets: tuple[AssetInfo, ...] = field(
        default_factory=lambda: parse_assets(DEFAULT_ASSETS)
    )
    command_stream: str = "backend-to-engine"
    response_stream: str = "engine_response"
    events_stream: str = "engine_events"
    price_stream: str = "engine_input"
    engine_heartbeat_key: str = "engine:heartbeat"
    engine_heartbeat_max_age_s: int = 30
    log_level: str = "info"
    database_url: str = ""  # PostgreSQL of the worker: candles, tickers, activity history
    admin_emails: tuple[str, ...] = ()
    shards: int = 1
    redis_cluster: bool = False

    @property
    def shard_map(self) -> ShardMap:
        """Where each account's engine is, and each shard's stream names (``engine.shards``)."""
        return ShardMap(self.shards, self.redis_cluster)

    @property
    def dev(self) -> bool:
        """True in dev mode: insecure defaults allowed, mail links logged when there is no SMTP."""
        return self.env == "dev"

    @property
    def cookie_secure(self) -> bool:
        return not self.dev

    def is_admin(self, email: str) -> bool:
        """True when ``email`` (a verified session's, lower case) may use the operator routes."""
        return email in self.admin_emails

    def asset(self, symbol: str) -> AssetInfo | None:
        for info in self.assets:
            if info.symbol == symbol:
                return info
        return None


# Setting name -> (environment variable, help). Flags are --setting-name.
ENV: dict[str, tuple[str, str]] = {
    "env": ("GATEWAY_ENV", "'dev' allows insecure defaults; anything else is production"),
    "host": ("GATEWAY_HOST", "address to listen on"),
    "port": ("GATEWAY_PORT", "port to listen on"),
    "workers": ("GATEWAY_WORKERS", "uvicorn worker processes"),
    "redis_url": ("REDIS_URL", "Redis holding the engine streams, tokens and rate limits"),
    "redis_pool_size": ("REDIS_POOL_SIZE", "Redis connections per gateway process"),
    "redis_pool_wait_s": (
        "REDIS_POOL_WAIT_S",
        "wait for a free Redis connection, seconds; then 429 (busy), never 503",
    ),
    "jwt_secret": ("JWT_SECRET", f"HS256 secret, at least {MIN_SECRET_BYTES} bytes outside dev"),
    "jwt_ttl_s": ("JWT_TTL_S", "session (authToken cookie) lifetime, seconds"),
    "magic_link_ttl_s": ("MAGIC_LINK_TTL_S", "sign-in link lifetime, seconds"),
    "public_url": ("PUBLIC_URL", "external base URL in sign-in links (default http://host:port)"),
    "smtp_url": ("SMTP_URL", "smtp[s]://[user:pass@]host:port; empty: links logged (dev only)"),
    "mail_from": ("MAIL_FROM", "From: address of sign-in mails"),
    "smtp_timeout_s": ("SMTP_TIMEOUT_S", "SMTP timeout, seconds"),
    "engine_timeout_ms": ("ENGINE_TIMEOUT_MS", "wait for an engine response before 504, ms"),
    "cors_origins": ("CORS_ORIGINS", "comma-separated origins allowed by CORS (empty: none)"),
    "max_body_bytes": ("MAX_BODY_BYTES", "larger request bodies get 413"),
    "rate_ip_per_min": ("RATE_IP_PER_MIN", "API requests per client IP per minute (0: off)"),
    "rate_user_per_min": ("RATE_USER_PER_MIN", "API requests per user per minute (0: off)"),
    "rate_signup_ip_per_hour": ("RATE_SIGNUP_IP_PER_HOUR", "sign-in mails per IP per hour"),
    "rate_signup_email_per_hour": ("RATE_SIGNUP_EMAIL_PER_HOUR", "sign-in mails per address/hour"),
    "ws_max_backlog": ("WS_MAX_BACKLOG", "most engine_events entries scanned on a WS resume"),
    "ws_max_per_user": ("WS_MAX_PER_USER", "open WebSockets per user and process"),
    "trusted_proxies": ("TRUSTED_PROXIES", "IPs whose X-Forwarded-For is believed (empty: none)"),
    "assets": ("SUPPORTED_ASSETS", f"SYMBOL:DECIMALS,... (default {DEFAULT_ASSETS})"),
    "command_stream": ("COMMAND_STREAM", "stream of commands to the engine"),
    "response_stream": ("RESPONSE_STREAM", "stream of engine responses"),
    "events_stream": ("EVENTS_STREAM", "stream of engine events"),
    "price_stream": ("PRICE_STREAM", "stream of price batches"),
    "engine_heartbeat_key": ("ENGINE_HEARTBEAT_KEY", "Redis key the engine refreshes when alive"),
    "engine_heartbeat_max_age_s": ("ENGINE_HEARTBEAT_MAX_AGE_S", "heartbeat older than this: down"),
    "log_level": ("LOG_LEVEL", "debug, info, warning, error"),
    "database_url": ("DATABASE_URL", "PostgreSQL with the worker's history and the candles "
                     "(empty: market data and activity answer 503)"),
    "admin_emails": (
        "ADMIN_EMAILS",
        "comma-separated emails that may use /api/v1/admin and `admin` (empty: no operator)",
    ),
    "shards": ("SHARDS", "engine shards the accounts are spread over (engine.shards)"),
    "redis_cluster": ("REDIS_CLUSTER", "1: REDIS_URL is a node of a Redis Cluster"),
}


def parse_assets(text: str) -> tuple[AssetInfo, ...]:
    """Parse ``"BTC_USDC:4,ETH_USDC:4"``; raise ``ConfigError`` when malformed."""
    out: list[AssetInfo] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        symbol, sep, decimals = part.partition(":")
        symbol = symbol.strip()
        if not symbol or not symbol.replace("_", "").isalnum() or len(symbol) > 32:
            raise ConfigError(f"bad asset symbol {symbol!r}")
        try:
            places = int(decimals) if sep else 4
        except ValueError:
            raise ConfigError(f"bad decimals for {symbol}: {decimals!r}") from None
        if not 0 <= places <= 18:
            raise ConfigError(f"decimals for {symbol} must be 0..18")
        out.append(AssetInfo(symbol, places))
    if not out:
        raise ConfigError("no supported assets")
    return tuple(out)


def parse_emails(text: str) -> tuple[str, ...]:
    """Parse ``"ops@x.io, Boss@X.io"`` into lower-case addresses (sessions are lower case);
    raise ``ConfigError`` naming a malformed one."""
    out: list[str] = []
    for part in text.split(","):
        if not part.strip():
            continue
        email = normalize_email(part)
        if email is None:
            raise ConfigError(f"ADMIN_EMAILS: {part.strip()!r} is not an email address")
        if email not in out:
            out.append(email)
    return tuple(out)


def _convert(name: str, raw: str) -> Any:
    kind = {f.name: f.type for f in fields(GatewayConfig)}[name]
    try:
        if name == "assets":
            return parse_assets(raw)
        if name == "cors_origins":
            return tuple(o.strip().rstrip("/") for o in raw.split(",") if o.strip())
        if name == "admin_emails":
            return parse_emails(raw)
        if name == "redis_cluster":
            return parse_bool(raw, "REDIS_CLUSTER")
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
    except (ValueError, ShardError) as exc:
        raise ConfigError(f"{name}: {exc}") from None
    return raw


def build_parser() -> argparse.ArgumentParser:
    """The ``python -m gateway`` argument parser; ``--help`` lists every setting and its env var."""
    parser = argparse.ArgumentParser(
        prog="python -m gateway",
        description="HTTP/WebSocket gateway of the CFD exchange (Starlette on uvicorn).",
    )
    parser.add_argument("--dev", action="store_true", help="same as GATEWAY_ENV=dev")
    for name, (var, text) in ENV.items():
        parser.add_argument(
            "--" + name.replace("_", "-"),
            dest=name,
            default=None,
            metavar=var,
            help=f"{text} [{var}]",
        )
    return parser


def load_config(
    argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None
) -> GatewayConfig:
    """Settings from ``environ`` (default os.environ), overridden by ``argv`` flags; validated."""
    return validate(read_config(argv, environ))


def read_config(
    argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None
) -> GatewayConfig:
    """Settings from ``environ`` and ``argv`` as given, not yet validated (the operator CLI
    needs no JWT secret or SMTP, so it skips the server's production checks)."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for name, (var, _) in ENV.items():
        if environ.get(var, "") != "":
            values[name] = _convert(name, environ[var])
    if argv is not None:
        args = build_parser().parse_args(list(argv))
        for name in ENV:
            raw = getattr(args, name)
            if raw is not None:
                values[name] = _convert(name, raw)
        if args.dev:
            values["env"] = "dev"
    return replace(GatewayConfig(), **values)


def validate(config: GatewayConfig) -> GatewayConfig:
    """Check ranges and refuse unsafe production settings; fill the dev JWT secret in dev."""
    if not config.jwt_secret:
        if not config.dev:
            raise ConfigError("JWT_SECRET is required outside dev (set GATEWAY_ENV=dev to develop)")
        config = replace(config, jwt_secret=DEV_JWT_SECRET)
    if not config.dev:
        if config.jwt_secret in WEAK_SECRETS:
            raise ConfigError("JWT_SECRET is a default/placeholder value; refusing to start")
        if len(config.jwt_secret.encode()) < MIN_SECRET_BYTES:
            raise ConfigError(f"JWT_SECRET must be at least {MIN_SECRET_BYTES} bytes")
    for name in ("port", "workers", "jwt_ttl_s", "magic_link_ttl_s", "engine_timeout_ms",
                 "max_body_bytes", "ws_max_backlog", "ws_max_per_user",
                 "engine_heartbeat_max_age_s", "redis_pool_size", "redis_pool_wait_s"):
        if getattr(config, name) <= 0:
            raise ConfigError(f"{name} must be positive")
    for name in ("rate_ip_per_min", "rate_user_per_min", "rate_signup_ip_per_hour",
                 "rate_signup_email_per_hour"):
        if getattr(config, name) < 0:
            raise ConfigError(f"{name} must be >= 0")
    if not 1 <= config.shards <= MAX_SHARDS:
        raise ConfigError(f"SHARDS must be between 1 and {MAX_SHARDS}")
    if not config.public_url:
        config = replace(config, public_url=f"http://{config.host}:{config.port}")
    if not config.public_url.startswith(("http://", "https://")):
        raise ConfigError("PUBLIC_URL must start with http:// or https://")
    if not config.dev and not config.smtp_url:
        raise ConfigError("SMTP_URL is required outside dev (sign-in links go by mail only)")
    if config.smtp_url and not config.smtp_url.startswith(("smtp://", "smtps://")):
        raise ConfigError("SMTP_URL must start with smtp:// or smtps://")
    if "*" in config.cors_origins:
        # Credentialed CORS with a wildcard would let any site trade as the signed-in user.
        raise ConfigError("CORS_ORIGINS cannot be '*': cookies authenticate requests")
    return config
