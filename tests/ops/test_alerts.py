"""The operator's alert rules and dashboard (``ops/``): promtool accepts them and their unit
tests pass, every alert has a runbook entry, and every metric they name is one the real
processes export (scraped from a running engine, poller, worker and gateway)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from devstack.ports import free_port
from tests.gateway.stack import EngineProcess, GatewayProcess

pytest_plugins = ["tests.gateway.fixtures"]

ROOT = Path(__file__).resolve().parents[2]
OPS = ROOT / "ops"
ALERTS = OPS / "prometheus" / "alerts.yml"
# Prometheus's own series and PromQL words that are not metric names.
BUILTIN = {"up"}
KEYWORDS = {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left",
            "group_right", "bool", "offset", "inf", "nan"}  # fmt: skip


def rules() -> list[dict]:
    return [rule for group in yaml.safe_load(ALERTS.read_text())["groups"]
            for rule in group["rules"]]  # fmt: skip


def dashboard_exprs() -> list[str]:
    doc = json.loads((OPS / "grafana" / "cfd-exchange.json").read_text())
    return [t["expr"] for panel in doc["panels"] for t in panel["targets"]]


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads (identifiers that are not functions,
    keywords, label names or values, durations or grouping labels)."""
    text = re.sub(r'"[^"]*"', "", expr)
    text = re.sub(r"\{[^}]*\}", "", text)
    text = re.sub(r"\[[^\]]*\]", "", text)
    text = re.sub(r"\b(by|without|on|ignoring)\s*\([^)]*\)", "", text)
    names = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", text):
        rest = text[match.end():].lstrip()
        if rest.startswith("(") or match.group(0).lower() in KEYWORDS:
            continue
        names.add(match.group(0))
    return names


def test_metric_names_are_read_from_promql():
    expr = ('rate(a_total{kind="x y"}[5m]) == 0 and on() sum by (le, route) '
            '(rate(b_bucket[1m])) > 0.1 or histogram_quantile(0.99, c) unless up')
    assert metric_names(expr) == {"a_total", "b_bucket", "c", "up"}


def test_every_alert_has_a_runbook_entry_in_the_operations_docs():
    ops = (ROOT / "docs" / "operations.md").read_text()
    for rule in rules():
        page, _, anchor = rule["annotations"]["runbook_url"].partition("#")
        assert page == "docs/operations.md", rule["alert"]
        assert anchor.startswith("alert-"), rule["alert"]
        assert f'<a id="{anchor}"></a>' in ops, f"no runbook entry for {rule['alert']}"
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}


def _promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        pytest.skip("promtool is not installed (Debian's `prometheus` package ships it; "
                    "`make test` installs it when run as root with apt-get)")
    return found


@pytest.mark.parametrize(
    "args",
    [
        ("check", "rules", "alerts.yml"),
        ("test", "rules", "alerts_test.yml"),
        ("check", "config", "prometheus.yml"),
    ],
)
def test_promtool_accepts_the_rules_their_unit_tests_and_the_scrape_config(args):
    done = subprocess.run([_promtool(), *args], cwd=OPS / "prometheus", capture_output=True,
                          text=True, timeout=120, check=False)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


def _families(text: str) -> set[str]:
    """Every series name a /metrics text can carry: its samples', and for each declared family
    the names its type gives it (a labelled counter has no sample before its first use)."""
    names: set[str] = set()
    suffixes = {"counter": ("", "_total", "_created"),
                "histogram": ("_bucket", "_sum", "_count", "_created"),
                "summary": ("", "_sum", "_count", "_created")}  # fmt: skip
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(maxsplit=3)
            base = name.removesuffix("_total") if kind == "counter" else name
            names |= {base + s for s in suffixes.get(kind, ("",))}
        elif line and not line.startswith("#"):
            names.add(re.split(r"[{ ]", line, maxsplit=1)[0])
    return names


def _scrape(url: str, proc: subprocess.Popen[bytes] | None = None) -> str:
    deadline = time.monotonic() + 60
    while True:
        if proc is not None:
            assert proc.poll() is None, f"{proc.args} exited"
        try:
            r = httpx.get(url, timeout=2)
            if r.status_code == 200:
                return r.text
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, f"{url} did not answer"
        time.sleep(0.1)


@pytest.fixture
def exported(redis_url: str, database_url: str, workdir: Path) -> Iterator[set[str]]:
    """The metric names the real engine, poller, worker and gateway export."""
    ports = {part: free_port() for part in ("engine", "poller", "worker")}
    engine = EngineProcess(redis_url, workdir)
    engine.argv = lambda: [  # type: ignore[method-assign]
        sys.executable, "-m", "engine", "--redis-url", redis_url,
        "--snapshot-dir", str(engine.snapshot_dir), "--metrics-port", str(ports["engine"]),
    ]  # fmt: skip
    env = os.environ | {"REDIS_URL": redis_url, "DATABASE_URL": database_url}
    procs = [
        subprocess.Popen([sys.executable, "-m", "poller", "--source", "sim", "--metrics-host",
                          "127.0.0.1", "--metrics-port", str(ports["poller"])],
                         env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
        subprocess.Popen([sys.executable, "-m", "worker", "run", "--metrics-port",
                          str(ports["worker"]), "--log-level", "WARNING"],
                         env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
    ]  # fmt: skip
    engine.start()
    gateway = GatewayProcess(redis_url, workdir).start()
    try:
        names: set[str] = set()
        names |= _families(_scrape(f"http://127.0.0.1:{ports['engine']}/metrics"))
        names |= _families(_scrape(f"http://127.0.0.1:{ports['poller']}/metrics", procs[0]))
        names |= _families(_scrape(f"http://127.0.0.1:{ports['worker']}/metrics", procs[1]))
        names |= _families(_scrape(gateway.url + "/metrics"))
        yield names
    finally:
        gateway.stop()
        engine.stop()
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=30)


def test_alerts_and_dashboard_name_only_metrics_the_parts_export(exported: set[str]):
    # The scrape saw every part (so a missing name below is a wrong name, not a missing part).
    for sample in ("engine_ticks_applied_total", "poller_entries_published_total",
                   "worker_dead_letters_total", "gateway_engine_timeouts_total",
                   "engine_market_state", "engine_open_interest_usd"):
        assert sample in exported, sample
    for rule in rules():
        unknown = metric_names(rule["expr"]) - exported - BUILTIN
        assert not unknown, f"{rule['alert']} reads {sorted(unknown)}, which no part exports"
    for expr in dashboard_exprs():
        unknown = metric_names(expr) - exported - BUILTIN
        assert not unknown, f"dashboard panel {expr!r} reads {sorted(unknown)}"
