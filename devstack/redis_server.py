"""A private, real redis-server on 127.0.0.1 for tests and `make up`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import ClassVar

import redis

from devstack.binaries import find_redis_server
from devstack.server import LocalServer

APPENDFSYNC_MODES = ("always", "everysec", "no")


class RedisServer(LocalServer):
    """redis-server on a free (or given) port with a temp (or given) data dir.

    RDB snapshots are off unless `save` is given (redis `save` syntax, e.g. "60 1").
    With `appendonly=True` every write goes to the AOF in the data dir (fsynced per
    `appendfsync`), so data survives `restart()` and even `kill()`.
    """

    kind: ClassVar[str] = "redis"
    log_name: ClassVar[str] = "redis.log"

    def __init__(
        self,
        *,
        port: int | None = None,
        data_dir: str | os.PathLike[str] | None = None,
        appendonly: bool = False,
        appendfsync: str = "always",
        save: str = "",
        binary: str | os.PathLike[str] | None = None,
        start_timeout: float = 60.0,
        stop_timeout: float = 30.0,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        if appendfsync not in APPENDFSYNC_MODES:
            raise ValueError(f"appendfsync must be one of {APPENDFSYNC_MODES}: {appendfsync!r}")
        super().__init__(
            port=port, data_dir=data_dir, start_timeout=start_timeout, stop_timeout=stop_timeout
        )
        self.appendonly = appendonly
        self.appendfsync = appendfsync
        self.save = save
        self.binary = Path(binary) if binary is not None else find_redis_server()
        self.extra_args = extra_args  # e.g. cluster mode (devstack.redis_cluster)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self, **kwargs: object) -> redis.Redis:
        """A synchronous redis-py client to this server (the caller closes it)."""
        return redis.Redis(host="127.0.0.1", port=self.port, **kwargs)  # type: ignore[arg-type]

    def _argv(self) -> list[str]:
        return [
            str(self.binary),
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--protected-mode", "yes",
            "--daemonize", "no",
            "--dir", str(self.data_dir),
            "--logfile", "",
            "--save", self.save,
            "--appendonly", "yes" if self.appendonly else "no",
            "--appendfsync", self.appendfsync,
            *self.extra_args,
        ]  # fmt: skip

    def _ready(self, pid: int) -> bool:
        client = redis.Redis(
            host="127.0.0.1", port=self.port, socket_connect_timeout=1.0, socket_timeout=2.0
        )
        try:
            # PING fails with LOADING while the AOF is replayed; INFO proves whose server it is.
            client.ping()
            return int(client.info("server")["process_id"]) == pid
        except (redis.RedisError, OSError, KeyError, ValueError):
            return False
        finally:
            client.close()
