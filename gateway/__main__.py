"""``python -m gateway``: run the gateway on uvicorn. ``--help`` lists every setting.

``python -m gateway admin <command>`` is the operator CLI instead (``gateway.admin_cli``).
"""

from __future__ import annotations

import logging
import os
import sys

import uvicorn

from gateway.config import ENV, ConfigError, load_config


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["admin"]:
        from gateway.admin_cli import main as admin_main

        return admin_main(argv[1:])
    try:
        config = load_config(argv)
    except ConfigError as exc:
        print(f"gateway: refusing to start: {exc}", file=sys.stderr)
        return 2
    # Worker processes rebuild the config from the environment: hand them the flags' values.
    for name, (var, _) in ENV.items():
        value = getattr(config, name)
        if name == "assets":
            value = ",".join(f"{a.symbol}:{a.decimals}" for a in value)
        elif name in ("cors_origins", "admin_emails"):
            value = ",".join(value)
        os.environ[var] = str(value)
    logging.basicConfig(
        level=config.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    uvicorn.run(
        "gateway.app:app_from_env",
        factory=True,
        host=config.host,
        port=config.port,
        workers=config.workers,
        loop="uvloop",
        http="httptools",
        ws="websockets-sansio",
        ws_max_size=4096,
        log_level=config.log_level,
        access_log=False,
        # X-Forwarded-For sets the client IP (rate limits) only when it comes from a trusted
        # proxy; trusting everyone would let any client pick its own rate-limit bucket.
        proxy_headers=bool(config.trusted_proxies),
        forwarded_allow_ips=config.trusted_proxies or None,
        server_header=False,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
