"""docker-compose.yml, Dockerfile and .env.example: parsed and checked (no Docker engine here).

`docker compose config` (or Compose v1's `docker-compose config`) also validates the file when
the machine has either; the structural checks below run everywhere.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SERVICES = {"redis", "postgres", "engine", "worker", "candles", "poller", "gateway"}
PARTS = {"engine", "worker", "candles", "poller", "gateway"}
VARIABLE = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return dict(yaml.safe_load((ROOT / "docker-compose.yml").read_text()))


def _env_example() -> dict[str, str]:
    values = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, sep, value = line.partition("=")
            assert sep, f"not KEY=value: {line!r}"
            values[key] = value
    return values


def test_every_service_is_there_with_a_healthcheck_and_a_restart_policy(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    assert set(services) == SERVICES
    for name, service in services.items():
        assert service.get("restart") == "unless-stopped", name
        check = service.get("healthcheck")
        assert check and check["test"][0] in ("CMD", "CMD-SHELL"), name


def test_redis_writes_every_command_to_the_aof_before_answering(compose: dict[str, Any]) -> None:
    command = compose["services"]["redis"]["command"]
    assert command[command.index("--appendonly") + 1] == "yes"
    assert command[command.index("--appendfsync") + 1] == "always"


def test_data_lives_in_named_volumes(compose: dict[str, Any]) -> None:
    services = compose["services"]
    mounts = {
        name: {m.split(":")[0]: m.split(":")[1] for m in s.get("volumes", [])}
        for name, s in services.items()
    }
    assert mounts["redis"] == {"redis-data": "/data"}
    assert mounts["postgres"] == {"pg-data": "/var/lib/postgresql/data"}
    assert mounts["engine"] == {"snapshots": services["engine"]["environment"]["SNAPSHOT_DIR"]}
    assert set(compose["volumes"]) == {"redis-data", "pg-data", "snapshots"}


def test_the_engine_recovers_on_start_and_has_time_for_its_final_snapshot(
    compose: dict[str, Any],
) -> None:
    engine = compose["services"]["engine"]
    assert engine["command"][:4] == ["python", "-m", "engine", "--recover"]
    assert int(engine["stop_grace_period"].rstrip("s")) >= 30
    assert "replicas" not in engine.get("deploy", {})


def test_parts_run_project_modules_and_wait_for_their_stores(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in PARTS:
        command = services[name]["command"]
        assert command[:2] == ["python", "-m"], name
        assert (ROOT / command[2]).is_dir(), f"{name} runs a module that is not in the repo"
        assert services[name]["depends_on"]["redis"]["condition"] == "service_healthy"
        assert services[name]["environment"]["REDIS_URL"] == "redis://redis:6379/0"
    for name in ("worker", "candles"):
        assert services[name]["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert "@postgres:5432/" in services[name]["environment"]["DATABASE_URL"]
    assert services["candles"]["command"] == ["python", "-m", "worker", "candles"]
    # Only the gateway is published.
    assert [n for n, s in services.items() if "ports" in s] == ["gateway"]


def test_env_example_and_compose_name_the_same_variables() -> None:
    used = set(VARIABLE.findall((ROOT / "docker-compose.yml").read_text()))
    listed = set(_env_example()) - {"COMPOSE_PROJECT_NAME"}
    assert used == listed


def test_the_image_holds_every_package_of_the_project() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    include = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = {name.rstrip("*") for name in include}
    copied = set(re.findall(r"^COPY (\w+) \./\1$", (ROOT / "Dockerfile").read_text(), re.M))
    assert copied == packages
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert ".env" in ignored and ".stack" in ignored and ".venv" in ignored


def test_the_image_serves_the_page_with_its_chart_library() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "COPY web/package.json web/package-lock.json" in dockerfile
    assert re.search(r"^\s+gateway/static/vendor/lightweight-charts\.js$", dockerfile, re.M)


def _compose_cli() -> list[str] | None:
    docker = shutil.which("docker")
    if docker:
        probe = subprocess.run(
            [docker, "compose", "version"], capture_output=True, text=True, check=False
        )
        if probe.returncode == 0:
            return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    return [legacy] if legacy else None


def test_compose_cli_validates_the_file_when_available() -> None:
    cli = _compose_cli()
    if cli is None:
        pytest.skip("neither `docker compose` nor `docker-compose` is installed")
    result = subprocess.run(
        [*cli, "--env-file", str(ROOT / ".env.example"), "-f", str(ROOT / "docker-compose.yml"),
         "config", "--quiet"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
