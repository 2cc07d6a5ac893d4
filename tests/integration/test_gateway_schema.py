"""Schemathesis against the live gateway's /openapi.json: no 5xx, every response as documented,
and every request the document calls valid accepted (issue 14, item 8: the document is never
looser than the server).

Each operation gets positive and negative cases, anonymously and signed in (Bearer), against
the real gateway process, Redis and engine process. "Accepted" includes 422: the engine's
refusal of a well-formed request for a business reason (insufficient balance, unknown trade).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import asyncpg
import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    positive_data_acceptance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.config import PositiveDataAcceptanceConfig

from tests.gateway.stack import EngineProcess, GatewayProcess, SmtpSink, push_prices, sign_in
from worker.migrate import migrate

pytest_plugins = ["tests.gateway.fixtures"]

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    positive_data_acceptance,
]
# Rules OpenAPI cannot state: startTime <= endTime (between two parameters), and a cursor is
# valid only as a previous page wrote it. A generated "valid" request may break them and rightly
# get a 400 naming the field.
CROSS_FIELD_RULES = {"/api/v1/candles", "/api/v1/account/activity", "/api/v1/trades/history"}
EXAMPLES = 8
OPEN, OPENS = "/api/v1/trade/create", 32
ACCEPTED = ["2xx", "3xx", "401", "403", "404", "409", "422", "429", "503", "504"]


FUZZ_ADMIN = "fuzz@example.com"  # an operator at the gateway and the engine
TRADER = "trader@example.com"


@pytest.fixture
def engine(redis_url, workdir):
    proc = EngineProcess(redis_url, workdir, ADMIN_EMAILS=FUZZ_ADMIN).start()
    yield proc
    proc.stop()


@pytest.fixture
def fresh_prices(redis_url, priced) -> Iterator[None]:
    """The same prices again every 5 s while the fuzz runs: on a loaded machine it can outlast
    the engine's 60 s of price freshness, and every trade would then be refused as stale."""
    stop = threading.Event()

    def keep_fresh() -> None:
        while not stop.wait(5):
            push_prices(redis_url, priced)

    thread = threading.Thread(target=keep_fresh, daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join(timeout=10)


@pytest.fixture
def fuzz_gateway(redis_url, smtp: SmtpSink, workdir, engine, fresh_prices, database_url):
    migrate_database(database_url)  # the market and history routes read the worker's tables
    gw = GatewayProcess(
        redis_url,
        workdir,
        SMTP_URL=smtp.url,
        DATABASE_URL=database_url,
        RATE_IP_PER_MIN="100000",
        RATE_USER_PER_MIN="100000",
        RATE_SIGNUP_IP_PER_HOUR="100000",
        RATE_SIGNUP_EMAIL_PER_HOUR="100000",
        ENGINE_TIMEOUT_MS="2000",
        ADMIN_EMAILS=FUZZ_ADMIN,
    ).start()
    yield gw
    gw.stop()


def migrate_database(url: str) -> None:
    async def go() -> None:
        conn = await asyncpg.connect(url)
        try:
            await migrate(conn)
        finally:
            await conn.close()

    asyncio.run(go())


def _run(operation, headers: dict[str, str], base_url: str, examples: int = EXAMPLES) -> None:
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=examples,
            deadline=None,
            database=None,
            derandomize=True,  # the same cases every run: a failure here is never luck
            suppress_health_check=list(HealthCheck),
        )
        def check(case) -> None:
            checks = CHECKS
            if operation.path in CROSS_FIELD_RULES:
                checks = [c for c in CHECKS if c is not positive_data_acceptance]
            case.call_and_validate(base_url=base_url, headers=headers, checks=checks)

        try:
            check()
        except Unsatisfiable:
            # Negative mode has nothing to break in an operation without inputs (GET /healthz).
            assert mode == GenerationMode.NEGATIVE and not _has_inputs(operation)


def _has_inputs(operation) -> bool:
    definition = operation.definition.raw
    return bool(definition.get("parameters") or definition.get("requestBody"))


def test_every_operation_matches_the_document(fuzz_gateway: GatewayProcess, smtp: SmtpSink):
    schema = schemathesis.openapi.from_url(fuzz_gateway.url + "/openapi.json")
    schema.config.checks.positive_data_acceptance = PositiveDataAcceptanceConfig(
        expected_statuses=ACCEPTED
    )
    alice = sign_in(fuzz_gateway, smtp, FUZZ_ADMIN)
    bearer = {"Authorization": f"Bearer {alice.cookies['authToken']}"}
    trader = {"Authorization": f"Bearer {sign_in(fuzz_gateway, smtp, TRADER).cookies['authToken']}"}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 25
    # /trade/create's positive cases must open a trade (checked below). Most random ones are
    # refused for business reasons (no price for ADA, margin beyond the balance, a stop on the
    # wrong side, a slippage guard): it runs first, before other routes reserve the account's
    # money in pending orders, and with more cases than the rest.
    operations.sort(key=lambda op: op.path != OPEN)
    # The operator routes come last in the document, so a halt or a limit they set cannot
    # turn the trading routes' positive cases into refusals (checked below).
    admin_at = [i for i, op in enumerate(operations) if op.path.startswith("/api/v1/admin/")]
    assert len(admin_at) == 5 and admin_at == list(range(admin_at[0], admin_at[0] + 5))
    assert all(not op.path.startswith("/api/v1/trade") for op in operations[admin_at[0]:])
    for operation in operations:
        _run(operation, {}, fuzz_gateway.url)
        if operation.path.startswith("/api/v1/admin/"):
            _run(operation, trader, fuzz_gateway.url)  # a trader: 403, as documented
        if operation.path != "/api/v1/auth/logout":  # would revoke the token for the rest
            _run(operation, bearer, fuzz_gateway.url, OPENS if operation.path == OPEN else EXAMPLES)
    # The signed-in runs really were signed in: the token still works.
    assert httpx.get(fuzz_gateway.url + "/api/v1/auth/me", headers=bearer).status_code == 200
    assert "Internal" not in fuzz_gateway.log_text()
    # Positive cases got past validation to the engine, not just bounced off as 400s.
    metrics = httpx.get(fuzz_gateway.url + "/metrics").text
    for route in ("/api/v1/trade/create", "/api/v1/user/signup", "/api/v1/price"):
        answered = [
            line for line in metrics.splitlines()
            if f'route="{route}"' in line and 'status="4' not in line and "_total" in line
        ]  # fmt: skip
        assert answered, (route, [line for line in metrics.splitlines() if route in line])
    # The operator's positive cases reached the engine (its answer, 200 or its refusal 422:
    # random addresses have no account), not only the gateway's 400 or 403.
    for route in ("/api/v1/admin/markets/{asset}/state", "/api/v1/admin/limits",
                  "/api/v1/admin/balance-adjustments", "/api/v1/admin/report"):
        reached = [
            line for line in metrics.splitlines()
            if f'route="{route}"' in line and "_total" in line
            and ('status="200"' in line or 'status="422"' in line)
        ]  # fmt: skip
        assert reached, (route, metrics)
