"""Fixtures over ``tests.gateway.stack``; a test module loads them with
``pytest_plugins = ["tests.gateway.fixtures"]`` (and imports classes from ``stack``)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.gateway.stack import EngineProcess, GatewayProcess, SmtpSink, push_prices


@pytest.fixture(scope="session")
def smtp() -> Iterator[SmtpSink]:
    sink = SmtpSink().start()
    yield sink
    sink.stop()


@pytest.fixture
def workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="gateway-test-") as path:
        yield Path(path)


@pytest.fixture
def engine(redis_url: str, workdir: Path) -> Iterator[EngineProcess]:
    proc = EngineProcess(redis_url, workdir).start()
    yield proc
    proc.stop()


@pytest.fixture
def gateway(
    redis_url: str, smtp: SmtpSink, workdir: Path, engine: EngineProcess
) -> Iterator[GatewayProcess]:
    proc = GatewayProcess(redis_url, workdir, SMTP_URL=smtp.url).start()
    yield proc
    proc.stop()


@pytest.fixture
def priced(redis_url: str, engine: EngineProcess) -> dict[str, tuple[int, int, int]]:
    """Fresh prices for every default asset (BTC 100000, ETH 3000, SOL 150; 4 decimals)."""
    prices = {
        "BTC_USDC": (1_000_000_000, 999_990_000, 1_000_010_000),
        "ETH_USDC": (30_000_000, 29_999_000, 30_001_000),
        "SOL_USDC": (1_500_000, 1_499_900, 1_500_100),
    }
    push_prices(redis_url, prices)
    return prices
