import signal
import socket
from pathlib import Path

import pytest
import redis

from devstack.errors import ServerError, ServerStartError
from devstack.process import pid_alive
from devstack.redis_server import RedisServer
from tests.devstack.helpers import start_in_orphaned_parent, wait_gone


def _get(server: RedisServer, key: str) -> bytes | None:
    client = server.client(socket_timeout=10)
    try:
        return client.get(key)  # type: ignore[return-value]
    finally:
        client.close()


def _set(server: RedisServer, key: str, value: str) -> None:
    client = server.client(socket_timeout=10)
    try:
        client.set(key, value)
    finally:
        client.close()


def test_start_answers_on_its_url() -> None:
    with RedisServer() as server:
        assert server.url == f"redis://127.0.0.1:{server.port}/0"
        client = redis.Redis.from_url(server.url)
        assert client.ping() is True
        assert int(client.info("server")["process_id"]) == server.pid
        client.close()


def test_two_servers_get_distinct_ports_and_data_dirs() -> None:
    with RedisServer() as first, RedisServer() as second:
        assert first.port != second.port
        assert first.data_dir != second.data_dir
        _set(first, "k", "first")
        assert _get(second, "k") is None


def test_stop_leaves_no_process_and_keeps_data_dir_until_close() -> None:
    server = RedisServer().start()
    pid = server.pid
    server.stop()
    assert not pid_alive(pid)
    assert not server.running
    with pytest.raises(ServerError):
        _ = server.pid
    assert server.data_dir.is_dir()
    data_dir = server.data_dir
    server.close()
    assert not data_dir.exists()


def test_kill_leaves_no_process_and_start_reuses_the_port() -> None:
    with RedisServer() as server:
        pid, port = server.pid, server.port
        server.kill()
        assert not pid_alive(pid)
        server.start()
        assert server.port == port
        assert server.pid != pid
        assert _get(server, "anything") is None


def test_restart_keeps_port_and_aof_data() -> None:
    with RedisServer(appendonly=True) as server:
        port, pid = server.port, server.pid
        _set(server, "balance", "100")
        server.restart()
        assert server.port == port
        assert server.pid != pid
        assert _get(server, "balance") == b"100"


def test_aof_data_survives_kill() -> None:
    with RedisServer(appendonly=True, appendfsync="always") as server:
        _set(server, "order", "42")
        server.kill()
        server.start()
        assert _get(server, "order") == b"42"


def test_without_persistence_restart_loses_data() -> None:
    with RedisServer() as server:
        _set(server, "volatile", "1")
        server.restart()
        assert _get(server, "volatile") is None


def test_given_data_dir_is_kept_and_reused(tmp_path: Path) -> None:
    data_dir = tmp_path / "redis"
    with RedisServer(data_dir=data_dir, appendonly=True) as server:
        _set(server, "kept", "yes")
    assert data_dir.is_dir()
    with RedisServer(data_dir=data_dir, appendonly=True) as again:
        assert _get(again, "kept") == b"yes"


def test_given_port_is_used() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with RedisServer(port=port) as server:
        assert server.port == port
        assert server.url.endswith(f":{port}/0")


def test_a_stranger_on_the_given_port_is_not_taken_for_the_server() -> None:
    with RedisServer() as stranger:
        server = RedisServer(port=stranger.port, start_timeout=20)
        with pytest.raises(ServerStartError):
            server.start()
        assert not server.running
        server.close()
        assert stranger.running


def test_stop_of_a_never_started_server_is_harmless() -> None:
    server = RedisServer()
    server.stop()
    server.kill()
    server.close()
    with pytest.raises(ServerError):
        _ = server.port


@pytest.mark.parametrize("bad", ["sometimes", "", "ALWAYS"])
def test_malformed_appendfsync_is_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        RedisServer(appendfsync=bad)


@pytest.mark.parametrize("bad", [0, -1, 65536])
def test_malformed_port_is_refused(bad: int) -> None:
    with pytest.raises(ValueError):
        RedisServer(port=bad)


def test_server_dies_with_a_killed_parent(open_dir: Path) -> None:
    parent, pid = start_in_orphaned_parent(f"RedisServer(data_dir={str(open_dir / 'data')!r})")
    try:
        assert pid_alive(pid)
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        assert wait_gone(pid)
    finally:
        parent.kill()
        parent.wait()


def test_redis_url_fixture_gives_a_flushed_server(
    redis_server: RedisServer, request: pytest.FixtureRequest
) -> None:
    _set(redis_server, "left-by-another-test", "1")
    url = request.getfixturevalue("redis_url")
    assert url == redis_server.url
    client = redis.Redis.from_url(url)
    assert client.dbsize() == 0
    client.close()
