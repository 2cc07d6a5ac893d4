"""Daemon settings: environment, flags winning over it, and malformed values refused."""

from __future__ import annotations

import subprocess
import sys

import pytest

from engine.daemon.settings import SPEC, Settings, SettingsError, parse


def test_defaults_are_the_seeds_streams_and_the_documented_values() -> None:
    s = parse([], {})
    assert s == Settings()
    assert (s.price_stream, s.command_stream, s.response_stream, s.events_stream) == (
        "engine_input",
        "backend-to-engine",
        "engine_response",
        "engine_events",
    )
    assert (s.redis_url, s.snapshot_dir, s.snapshot_interval_s, s.snapshot_keep) == (
        "redis://127.0.0.1:6379/0",
        "./var/snapshots",
        5.0,
        10,
    )
    assert not s.recover and not s.continue_on_mismatch


def test_environment_sets_and_flags_override() -> None:
    env = {
        "REDIS_URL": "redis://h:1/2",
        "SNAPSHOT_KEEP": "3",
        "METRICS_PORT": "0",
        "TRIM_STREAMS": "false",
        "COMMAND_STREAM": "cmds",
    }
    s = parse(["--snapshot-keep", "4", "--recover"], env)
    assert (s.redis_url, s.snapshot_keep, s.metrics_port, s.trim_streams, s.command_stream) == (
        "redis://h:1/2",
        4,
        0,
        False,
        "cmds",
    )
    assert s.recover


def test_empty_environment_values_mean_default() -> None:
    assert parse([], {"SNAPSHOT_KEEP": ""}).snapshot_keep == 10


@pytest.mark.parametrize(
    ("argv", "env"),
    [
        (["--snapshot-keep", "0"], {}),
        (["--snapshot-keep", "ten"], {}),
        ([], {"SNAPSHOT_INTERVAL_S": "0"}),
        ([], {"SNAPSHOT_INTERVAL_S": "nan"}),
        (["--snapshot-interval-s", "1e9"], {}),
        (["--metrics-port", "70000"], {}),
        (["--metrics-port", "-1"], {}),
        (["--redis-url", "http://127.0.0.1:6379"], {}),
        ([], {"TRIM_STREAMS": "maybe"}),
        (["--snapshot-mode", "thread"], {}),
        (["--log-level", "loud"], {}),
        (["--price-stream", "has space"], {}),
        (["--response-stream", "engine_events"], {}),  # two streams with one name
        (["--read-count", "-5"], {}),
    ],
)
def test_malformed_values_are_refused_naming_the_setting(argv, env) -> None:
    with pytest.raises(SettingsError) as exc:
        parse(argv, env)
    named = argv[0] if argv else next(iter(env))
    assert named in str(exc.value) or "stream names" in str(exc.value)


def test_unknown_flags_exit_with_usage() -> None:
    with pytest.raises(SystemExit) as exc:
        parse(["--no-such-flag"], {})
    assert exc.value.code == 2


def test_help_lists_every_setting_and_its_environment_variable() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "engine", "--help"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0
    for name, (env, _, _) in SPEC.items():
        assert "--" + name.replace("_", "-") in done.stdout
        assert env in done.stdout
    assert "--recover" in done.stdout and "--continue-on-mismatch" in done.stdout


def test_a_malformed_flag_makes_the_daemon_exit_2_with_a_message() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "engine", "--snapshot-keep", "zero"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "--snapshot-keep" in done.stderr


def test_a_shard_gets_its_tagged_streams_heartbeat_and_snapshot_folder() -> None:
    s = parse(["--shard", "1"], {"SHARDS": "2", "SNAPSHOT_DIR": "/snaps"})
    assert (s.price_stream, s.command_stream, s.response_stream, s.events_stream) == (
        "{shard-1}engine_input",
        "{shard-1}backend-to-engine",
        "{shard-1}engine_response",
        "{shard-1}engine_events",
    )
    assert s.heartbeat_key == "{shard-1}engine:heartbeat"
    assert s.snapshot_dir == "/snaps/shard-1"


def test_one_shard_on_a_cluster_is_tagged_but_keeps_its_folder() -> None:
    s = parse([], {"REDIS_CLUSTER": "1", "SNAPSHOT_DIR": "/snaps"})
    assert s.command_stream == "{shard-0}backend-to-engine"
    assert s.snapshot_dir == "/snaps"


@pytest.mark.parametrize(
    ("argv", "env"),
    [(["--shard", "2"], {"SHARDS": "2"}), ([], {"SHARDS": "0"}), ([], {"SHARD": "-1"})],
)
def test_a_shard_outside_the_map_is_refused(argv: list[str], env: dict[str, str]) -> None:
    with pytest.raises(SettingsError, match="SHARD"):
        parse(argv, env)
