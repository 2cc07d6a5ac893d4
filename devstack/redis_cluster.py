"""A real local Redis Cluster: N masters with a replica each, cluster mode, AOF on.

Six ``RedisServer`` children (same life cycle as the single server: tracked by PID, loopback
only) started with ``cluster-enabled yes``, then joined by ``redis-cli --cluster create``
(Redis's own tool). The nodes keep their cluster configuration (``nodes.conf``) in their data
dirs, so with fixed ports (``make up``) a restart finds the same cluster; with free ports (tests)
each node also gets a free cluster-bus port. ``kill_master_of(key)`` kills the master of a key's
slot, whose replica the cluster then promotes (a failover).
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, cast

import redis
from redis.crc import key_slot

from devstack.binaries import find_redis_server
from devstack.errors import ServerError
from devstack.ports import free_port
from devstack.redis_server import RedisServer

SLOTS = 16384


class RedisClusterServers:
    """``masters`` x (1 + ``replicas``) redis-server nodes forming one Redis Cluster."""

    def __init__(
        self,
        *,
        masters: int = 3,
        replicas: int = 1,
        base_dir: str | Path | None = None,
        ports: list[int] | None = None,
        appendfsync: str = "always",
        node_timeout_ms: int = 2000,
    ) -> None:
        count = masters * (1 + replicas)
        if ports is not None and len(ports) != count:
            raise ValueError(f"{count} ports are needed, not {len(ports)}")
        self.masters = masters
        self.replicas = replicas
        self._owns_dir = base_dir is None
        self.base_dir = Path(base_dir or tempfile.mkdtemp(prefix="devstack-cluster-")).absolute()
        self.binary = find_redis_server()
        self.cli = self.binary.with_name("redis-cli")
        if not self.cli.exists():
            raise ServerError(f"redis-cli not found beside {self.binary} (it creates the cluster)")
        fixed = ports is not None
        self.nodes: list[RedisServer] = []
        for i in range(count):
            port = ports[i] if ports is not None else free_port()
            # Fixed ports use Redis's default bus port (port + 10000); free ports pick one.
            bus = [] if fixed else ["--cluster-port", str(free_port())]
            self.nodes.append(
                RedisServer(
                    port=port,
                    data_dir=self.base_dir / f"node-{i}",
                    appendonly=True,
                    appendfsync=appendfsync,
                    extra_args=(
                        "--cluster-enabled", "yes",
                        "--cluster-config-file", "nodes.conf",
                        "--cluster-node-timeout", str(node_timeout_ms),
                        *bus,
                    ),
                )
            )

    @property
    def url(self) -> str:
        """A seed URL (the first node); cluster clients learn the others from it."""
        return self.nodes[0].url

    @property
    def pids(self) -> list[int]:
        return [n.pid for n in self.nodes if n.running]

    def start(self, timeout: float = 60.0) -> RedisClusterServers:
        """Start every node, create the cluster unless the nodes already form one, wait for it."""
        for node in self.nodes:
            node.start()
        if not self._formed():
            addresses = [f"127.0.0.1:{n.port}" for n in self.nodes]
            subprocess.run(
                [str(self.cli), "--cluster", "create", *addresses,
                 "--cluster-replicas", str(self.replicas), "--cluster-yes"],
                check=True,
                capture_output=True,
                timeout=timeout,
            )  # fmt: skip
        self.wait_healthy(timeout)
        return self

    def _info(self, node: RedisServer) -> dict[str, str]:
        client = node.client(socket_timeout=5, socket_connect_timeout=2)
        try:
            text = _cluster(client, "INFO")
        finally:
            client.close()
        if isinstance(text, bytes):
            text = text.decode()
        return dict(
            line.split(":", 1) for line in str(text).splitlines() if ":" in line
        )

    def _formed(self) -> bool:
        info = self._info(self.nodes[0])
        return int(info.get("cluster_known_nodes", "1")) == len(self.nodes)

    def wait_healthy(self, timeout: float = 60.0) -> None:
        """Until every running node says the cluster is ok and each master has its replicas."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                running = [n for n in self.nodes if n.running]
                if all(self._info(n).get("cluster_state") == "ok" for n in running) and (
                    self._replicated()
                ):
                    return
            except (redis.RedisError, OSError):
                pass
            if time.monotonic() > deadline:
                raise ServerError(f"the Redis Cluster in {self.base_dir} did not become healthy")
            time.sleep(0.1)

    def _replicated(self) -> bool:
        masters = [n for n in self.nodes if n.running and self._role(n) == "master"]
        for node in masters:
            client = node.client(socket_timeout=5)
            try:
                if int(client.info("replication").get("connected_slaves", 0)) < self.replicas:
                    return False
            finally:
                client.close()
        return len(masters) == self.masters

    def _role(self, node: RedisServer) -> str:
        client = node.client(socket_timeout=5)
        try:
            return str(client.info("replication").get("role"))
        finally:
            client.close()

    def master_of(self, key: str) -> RedisServer:
        """The running node that is master of ``key``'s slot now."""
        slot = key_slot(key.encode())
        for node in self.nodes:
            if not node.running:
                continue
            client = node.client(socket_timeout=5)
            try:
                for start, end, master, *_ in _cluster(client, "SLOTS"):
                    if start <= slot <= end:
                        port = int(master[1])
                        return next(n for n in self.nodes if n.port == port)
            except (redis.RedisError, OSError):
                continue
            finally:
                client.close()
        raise ServerError(f"no running node knows the master of slot {slot}")

    def kill_master_of(self, key: str) -> RedisServer:
        """SIGKILL the master of ``key``'s slot (its replica is promoted after the timeout)."""
        node = self.master_of(key)
        node.kill()
        return node

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    def close(self) -> None:
        for node in self.nodes:
            node.close()
        if self._owns_dir:
            import shutil

            shutil.rmtree(self.base_dir, ignore_errors=True)

    def __enter__(self) -> RedisClusterServers:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


def slots_covered(client: redis.Redis) -> int:
    """How many of the 16384 slots a node says are assigned."""
    return sum(end - start + 1 for start, end, *_ in _cluster(client, "SLOTS"))


def _cluster(client: redis.Redis, *args: str) -> Any:
    """``CLUSTER <args>`` (redis-py's generic command call is untyped)."""
    return cast(Any, client).execute_command("CLUSTER", *args)
