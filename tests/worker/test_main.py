"""The command line: help, defaults from the environment, refusal of malformed flags."""

from __future__ import annotations

import subprocess
import sys

import pytest

from worker.__main__ import build_parser, config_from_args, main


def test_help_runs_and_names_both_actions():
    out = subprocess.run(
        [sys.executable, "-m", "worker", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert "run" in out and "migrate" in out and "DATABASE_URL" in out


def test_urls_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@h:1/db")
    monkeypatch.setenv("REDIS_URL", "redis://h:2/3")
    config = config_from_args(build_parser().parse_args(["run", "--consumer", "c1"]))
    assert config.database_url == "postgresql://u@h:1/db"
    assert config.redis_url == "redis://h:2/3"
    assert config.consumer == "c1"


@pytest.mark.parametrize(
    "argv",
    [
        ["serve"],
        ["--batch-size", "ten"],
        ["--batch-size", "-1"],
        ["--batch-size", "0"],
        ["--claim-interval", "0"],
        ["--claim-interval", "nan"],
        ["--retry-max", "inf"],
        ["--database-url", "mysql://x"],
        ["--redis-url", "http://x"],
        ["--events-stream", "engine_response"],
        ["--group", ""],
    ],
)
def test_malformed_flags_exit_with_usage_error(argv, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert "usage:" in capsys.readouterr().err


def test_migrate_against_nothing_listening_fails_cleanly():
    from devstack.ports import free_port

    url = f"postgresql://postgres@127.0.0.1:{free_port()}/postgres"
    result = subprocess.run(
        [sys.executable, "-m", "worker", "migrate", "--database-url", url],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "worker:" in result.stderr and "Traceback" not in result.stderr
