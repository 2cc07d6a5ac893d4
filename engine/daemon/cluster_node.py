"""On a Redis Cluster, which node the daemon talks to: the master of its shard's hash slot.

All of a shard's keys carry one hash tag (``engine.shards``), so one node holds them all and the
daemon keeps its bare pipelined link (``link.py``) to that node: its rounds (``TIME`` then
``XREAD``) and its publishing stay single-node round trips. That is also what keeps the ordering
rule sound: ``TIME`` must come from the node that stamps the entry IDs of the streams it reads,
and redis-py's cluster client would send a keyless ``TIME`` to a random or default node. The
cluster client is used for what it is good at: finding the slot's master, again after each
outage (a failover moves it to the promoted replica; a ``MOVED`` answer is an outage too).
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from redis.asyncio.cluster import RedisCluster


def node_url(seed_url: str, host: str, port: int) -> str:
    """``seed_url`` with its host and port replaced (credentials, scheme and options kept)."""
    parts = urlsplit(seed_url)
    creds, at, _ = parts.netloc.rpartition("@")
    netloc = f"{creds}{at}{host}:{port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


class SlotOwner:
    """Finds the master of ``key``'s slot through redis-py's cluster client (kept between calls,
    so it remembers every node it has seen, not only the seed it started from)."""

    def __init__(self, seed_url: str, key: str) -> None:
        self.seed_url = seed_url
        self.key = key
        self._cluster: RedisCluster | None = None

    async def url(self) -> str:
        """The URL of the slot's master now (asks the cluster for its current slot map)."""
        if self._cluster is None:
            self._cluster = RedisCluster.from_url(
                self.seed_url, socket_connect_timeout=2.0, socket_timeout=5.0
            )
            await self._cluster.initialize()
        else:
            await self._cluster.nodes_manager.initialize()
        node = self._cluster.get_node_from_key(self.key)
        if node is None:
            raise ConnectionError(f"no cluster node serves the slot of {self.key}")
        return node_url(self.seed_url, node.host, int(node.port))

    async def aclose(self) -> None:
        if self._cluster is not None:
            await self._cluster.aclose()
            self._cluster = None
