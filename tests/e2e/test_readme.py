"""The configuration table (docs/configuration.md) names every variable the project reads, and
the README is the front door: the two commands a newcomer needs, and links that lead somewhere."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _table_variables() -> set[str]:
    page = (ROOT / "docs" / "configuration.md").read_text()
    start = page.index("## Configuration")
    section = page[start : page.index("\n## ", start + 1)]
    names: set[str] = set()
    for line in section.splitlines():
        if line.startswith("| `"):
            names.update(re.findall(r"`([A-Z][A-Z0-9_]*)`", line.split(" | ")[0]))
    return names


def _env_example() -> set[str]:
    lines = (ROOT / ".env.example").read_text().splitlines()
    return {line.split("=", 1)[0] for line in lines if line and not line.startswith("#")}


def _stack_variables() -> set[str]:
    from devstack.stack import PASSTHROUGH

    source = (ROOT / "devstack" / "stack.py").read_text()
    read = re.findall(r'(?:(?<!os\.)environ\.get\(|_int_port\(environ, )"([A-Z_]+)"', source)
    return set(read) | set(PASSTHROUGH)


def test_every_env_example_variable_is_in_the_table() -> None:
    assert _env_example() - _table_variables() == set()


def test_every_make_up_variable_is_in_the_table() -> None:
    names = _stack_variables()
    assert {"REDIS_URL", "DATABASE_URL", "FEED", "STACK_REDIS_PORT"} <= names  # the scan works
    assert names - _table_variables() == set()


def _part_variables(part: str) -> set[str]:
    if part == "engine":
        return {spec[0] for spec in importlib.import_module("engine.daemon.settings").SPEC.values()}
    if part == "gateway":
        return {spec[0] for spec in importlib.import_module("gateway.config").ENV.values()}
    if part == "poller":
        return {option[1] for option in importlib.import_module("poller.config")._OPTIONS}
    raise AssertionError(part)


@pytest.mark.parametrize(
    ("part", "module"),
    [
        ("engine", "engine.daemon.settings"),
        ("gateway", "gateway.config"),
        ("poller", "poller.config"),
    ],
)
def test_every_variable_a_part_reads_is_in_the_table(part: str, module: str) -> None:
    importlib.import_module(module)
    assert _part_variables(part) - _table_variables() == set()


def _slug(heading: str) -> str:
    """A heading's anchor as GitHub makes it."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_the_readme_is_a_front_door_whose_links_all_lead_somewhere() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "make up" in readme and "make test" in readme
    assert len(readme.splitlines()) <= 250
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = page.read_text()
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if target.startswith(("http://", "https://", "mailto:")):
                continue
            path, _, anchor = target.partition("#")
            resolved = (page.parent / path).resolve() if path else page
            assert resolved.exists(), (page.name, target)
            if anchor and resolved.suffix == ".md":
                headings = re.findall(r"^#+ (.*)$", resolved.read_text(), re.MULTILINE)
                assert anchor in {_slug(h) for h in headings}, (page.name, target)
