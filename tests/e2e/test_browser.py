"""The trading page in a real browser: Debian's Chromium, headless, driven by Playwright.

The whole stack runs on free ports: a private Redis, the engine daemon, the poller's price
simulator, the gateway (which serves the page) and a local SMTP server in this process. A trader
signs in through the mailed link, watches a price move, is told plainly what is wrong with a
bad order, opens a long with a stop-loss, sees it in open positions, closes it and sees the
balance change; then a tight stop-loss fires and the page says so as it happens. Each step leaves
a screenshot in test-output/browser/.

Needs /usr/bin/chromium (``make browser``), the Playwright package (test extra) and the chart
library next to the page (``make web``); ``make test`` provides all three, and the test skips
with the reason when one cannot be had.
"""

from __future__ import annotations

import contextlib
import email
import email.policy
import importlib.util
import json
import os
import re
import shutil
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import redis

from devstack.ports import free_port
from devstack.postgres_server import PostgresServer
from devstack.process import ChildProcess
from devstack.redis_server import RedisServer
from engine.amounts import format_amount, parse_amount
from engine.messages import PriceItem
from engine.money import USD_SCALE, liquidation_level
from engine.wire import encode_price_batch

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "test-output" / "browser"
CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
CHART_LIBRARY = ROOT / "gateway" / "static" / "vendor" / "lightweight-charts.js"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LINK_RE = re.compile(r"https?://\S+/api/v1/user/signin/post\?token=[A-Za-z0-9_\-]+")
ASSET = "BTC_USDC"
DECIMALS = 4
INITIAL_BALANCE = 5000 * USD_SCALE
MARGIN = 100 * USD_SCALE
LEVERAGE = 100  # tenths: 10x
WAIT_MS = 20_000
BACKFILL_S = 2 * 3600  # the simulator's first start writes two hours of past prices


def _why_not() -> str | None:
    """Why this machine cannot run the test, or None when it can."""
    for module, what in (
        ("gateway.app", "the gateway (python -m gateway)"),
        ("engine.daemon", "the engine daemon (python -m engine)"),
        ("poller.sim", "the poller's simulator (python -m poller --source sim)"),
        ("playwright", "the Playwright package (test extra: pip install -e '.[test]')"),
        ("aiosmtpd", "aiosmtpd (test extra: pip install -e '.[test]')"),
    ):
        try:
            found = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:
            found = False
        if not found:
            return f"browser test needs {what}, which is not installed"
    if not os.access(CHROMIUM, os.X_OK):
        return (
            f"no Chromium at {CHROMIUM}: `make browser` installs Debian's chromium as root "
            "(apt-get install chromium); not possible on this machine"
        )
    if not CHART_LIBRARY.is_file():
        return f"{CHART_LIBRARY.relative_to(ROOT)} is missing: run `make web` (npm ci in web/)"
    return None


pytestmark = pytest.mark.skipif(_why_not() is not None, reason=str(_why_not()))


def usd_exact(units: int) -> str:
    """USD units as the page gives them on hover: grouped thousands, at least two decimals."""
    text = format_amount(units, 4)
    whole, _, frac = text.partition(".")
    sign = "-" if whole.startswith("-") else ""
    return f"{sign}{int(whole.lstrip('-')):,}.{frac.ljust(2, '0')}"


def usd_text(units: int) -> str:
    """USD units as the page shows them: grouped thousands, two decimals (half a cent away
    from zero); the exact amount is the element's title (usd_exact)."""
    cents = (abs(units) + 50) // 100
    text = f"{cents // 100:,}.{cents % 100:02d}"
    return f"-{text}" if units < 0 and cents else text


# --- the stack ------------------------------------------------------------------------------------


class Mailbox:
    """A real SMTP server (aiosmtpd) on a free port, keeping the mails it receives."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.port = free_port()
        self.mails: list[email.message.EmailMessage] = []
        self._cond = threading.Condition()
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        content = envelope.content
        msg = email.message_from_bytes(content, policy=email.policy.default)
        with self._cond:
            self.mails.append(msg)  # type: ignore[arg-type]
            self._cond.notify_all()
        return "250 OK"

    def link_for(self, to: str, timeout: float = 20.0) -> str:
        """The sign-in link in the newest mail to ``to``."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for msg in reversed(self.mails):
                    if msg["To"] == to:
                        body = msg.get_body(("plain", "html"))
                        text = body.get_content() if body is not None else msg.get_content()
                        match = LINK_RE.search(text)
                        assert match, f"no sign-in link in the mail: {text!r}"
                        return match.group(0)
                left = deadline - time.monotonic()
                assert left > 0, f"no mail to {to} within {timeout}s"
                self._cond.wait(left)

    def __enter__(self) -> Mailbox:
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._controller.stop()


@dataclass
class Stack:
    url: str
    redis_url: str
    mailbox: Mailbox
    logs: Path


def _start(argv: list[str], log: Path, env: dict[str, str] | None = None) -> ChildProcess:
    with log.open("ab") as out:
        return ChildProcess(argv, log=out, env=env, cwd=ROOT)


def _wait(
    what: str, ready: Callable[[], object], procs: list[tuple[ChildProcess, Path]], timeout: float
) -> None:
    """Poll ``ready()`` until true; fail with the logs when a process dies or time runs out."""
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(Exception):
            if ready():
                return
        for proc, log in procs:
            if not proc.alive():
                raise RuntimeError(
                    f"{log.name} exited while waiting for {what}:\n{log.read_text()[-3000:]}"
                )
        if time.monotonic() > deadline:
            tails = "\n".join(f"--- {log.name}\n{log.read_text()[-2000:]}" for _, log in procs)
            raise RuntimeError(f"{what} not ready after {timeout}s\n{tails}")
        time.sleep(0.1)


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    """Redis, engine daemon, simulated prices, gateway and mailbox, all private to this test."""
    logs = SHOTS / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    for old in logs.glob("*.log"):
        old.unlink()
    workdir = Path(tempfile.mkdtemp(prefix="browser-stack-"))
    procs: list[tuple[ChildProcess, Path]] = []
    py = sys.executable
    with RedisServer() as redis_server, Mailbox() as mailbox, PostgresServer() as pg:
        url = redis_server.url
        database_url = pg.create_database("browser")
        try:
            log = logs / "engine.log"
            engine = _start(
                [py, "-m", "engine", "--redis-url", url, "--snapshot-dir",
                 str(workdir / "snapshots"), "--metrics-port", "0"],
                log,
            )  # fmt: skip
            procs.append((engine, log))
            client = redis_server.client()
            _wait("engine heartbeat", lambda: client.exists("engine:heartbeat"), procs, 60)
            client.close()
            log = logs / "poller.log"
            poller = _start(
                [py, "-m", "poller", "--source", "sim", "--redis-url", url, "--rate", "5",
                 "--seed", "8", "--metrics-port", "0", "--backfill-s", str(BACKFILL_S)],
                log,
            )  # fmt: skip
            procs.append((poller, log))
            log = logs / "candles.log"
            candles = _start(
                [py, "-m", "worker", "candles", "--redis-url", url, "--database-url",
                 database_url],
                log,
            )  # fmt: skip
            procs.append((candles, log))
            # the persistence worker: the activity feed and closed trades after a reload
            log = logs / "worker.log"
            worker = _start(
                [py, "-m", "worker", "run", "--redis-url", url, "--database-url",
                 database_url, "--block-ms", "50"],
                log,
            )  # fmt: skip
            procs.append((worker, log))
            port = free_port()
            gateway_url = f"http://127.0.0.1:{port}"
            env = {
                **os.environ,
                "GATEWAY_ENV": "dev",
                "GATEWAY_HOST": "127.0.0.1",
                "GATEWAY_PORT": str(port),
                "REDIS_URL": url,
                "SMTP_URL": mailbox.url,
                "DATABASE_URL": database_url,
                "LOG_LEVEL": "info",
            }
            log = logs / "gateway.log"
            procs.append((_start([py, "-m", "gateway"], log, env), log))
            _wait(
                "gateway /readyz",
                lambda: urllib.request.urlopen(f"{gateway_url}/readyz", timeout=2).status == 200,
                procs,
                60,
            )
            yield Stack(gateway_url, url, mailbox, logs)
        finally:
            for proc, _ in reversed(procs):
                proc.stop(timeout=15)
            shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def page(stack: Stack) -> Iterator[Any]:
    """A fresh headless Chromium profile and page; fails the test on any uncaught page error."""
    from playwright.sync_api import expect, sync_playwright

    # Assertions wait as long as actions do: on a loaded 2-core machine an engine round trip
    # can take longer than Playwright's 5 s default.
    expect.set_options(timeout=WAIT_MS)
    errors: list[str] = []
    profile = Path(tempfile.mkdtemp(prefix="browser-profile-"))
    try:
        with sync_playwright() as pw:
            context = pw.chromium.launch_persistent_context(
                str(profile),
                executable_path=str(CHROMIUM),
                headless=True,
                args=CHROMIUM_ARGS,
                viewport={"width": 1440, "height": 1000},
            )
            try:
                tab = context.pages[0] if context.pages else context.new_page()
                tab.set_default_timeout(WAIT_MS)
                tab.on("pageerror", lambda exc: errors.append(f"uncaught: {exc}"))
                tab.on(
                    "console",
                    lambda msg: (
                        errors.append(f"console: {msg.text}")
                        # Expected refusals (401 before sign-in, 404 before a first price, the 422
                        # of the bad stop-loss) are logged by Chromium as failed resource loads.
                        if msg.type == "error"
                        and not msg.text.startswith("Failed to load resource")
                        else None
                    ),
                )
                yield tab
            finally:
                context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    assert not errors, "the page reported errors:\n" + "\n".join(errors)


# --- the scenario ---------------------------------------------------------------------------------


class Steps:
    """Numbered screenshots of one scenario under test-output/browser/."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.n = 0
        SHOTS.mkdir(parents=True, exist_ok=True)
        for old in SHOTS.glob("*.png"):
            old.unlink()

    def shot(self, name: str) -> None:
        self.n += 1
        self.page.screenshot(path=str(SHOTS / f"{self.n:02d}-{name}.png"), full_page=True)


def _bid(page: Any) -> int:
    row = page.locator(f'#markets tr[data-asset="{ASSET}"] .bid')
    return int(row.get_attribute("data-value"))


def test_trader_signs_in_watches_prices_trades_and_sees_a_stop_loss(
    stack: Stack, page: Any
) -> None:
    from playwright.sync_api import expect

    steps = Steps(page)
    who = "trader@example.com"
    bid_cell = page.locator(f'#markets tr[data-asset="{ASSET}"] .bid')

    # Signed out: prices are public, the ticket is replaced by the sign-in form.
    page.goto(stack.url + "/")
    expect(page.locator("#signin")).to_be_visible()
    expect(bid_cell).to_have_attribute("data-value", re.compile(r"^\d+$"), timeout=WAIT_MS)
    expect(page.locator("#ticket")).to_be_hidden()
    steps.shot("signed-out")

    # A malformed address is refused next to the field, before anything is sent.
    page.fill("#signin-email", "not-an-address")
    page.click("#signin-submit")
    expect(page.locator('[data-error-for="email"]')).to_contain_text("email")

    page.fill("#signin-email", who)
    page.click("#signin-submit")
    expect(page.locator("#signin-status")).to_contain_text("Check your inbox")
    steps.shot("link-sent")

    # Follow the mailed link: the gateway sets the session cookie and redirects to the page.
    page.goto(stack.mailbox.link_for(who))
    expect(page.locator("#user-email")).to_have_text(who)
    expect(page.locator("#balance-free")).to_have_text(usd_text(INITIAL_BALANCE))
    expect(page.locator("#feed-status")).to_have_attribute("data-state", "live")
    assert page.locator("#chart canvas").count() > 0, "the chart library did not draw"
    steps.shot("signed-in")

    # A live price moves (the simulator walks every asset a few times a second).
    first = bid_cell.get_attribute("data-value")
    expect(bid_cell).not_to_have_attribute("data-value", first, timeout=WAIT_MS)
    steps.shot("price-moved")

    # Client-side checks: a margin with too many decimals, a leverage beyond 100x.
    page.click("#dir-long")
    page.fill("#ticket-margin", "12.34567")
    expect(page.locator('[data-error-for="margin"]')).to_contain_text("decimals")
    page.fill("#ticket-leverage", "250")
    page.click("#ticket-submit")
    expect(page.locator('[data-error-for="leverage"]')).to_contain_text("100x")

    # The engine's refusal is shown next to the field it concerns: a long's stop-loss above
    # the bid (10% above: the walk cannot get there during the test).
    page.fill("#ticket-margin", format_amount(MARGIN, 4))
    page.fill("#ticket-leverage", format_amount(LEVERAGE, 1))
    page.fill("#ticket-sl", format_amount(_bid(page) * 11 // 10, DECIMALS))
    page.click("#ticket-submit")
    sl_error = page.locator('[data-error-for="stopLossPrice"]')
    expect(sl_error).to_contain_text("below the bid")
    expect(page.locator("#open-trades tbody tr")).to_have_count(0)
    steps.shot("stop-loss-refused")

    # A sensible stop-loss, 5% under the bid. The preview's liquidation price is the engine's.
    stop = _bid(page) * 95 // 100
    page.fill("#ticket-sl", format_amount(stop, DECIMALS))
    expect(sl_error).to_be_empty()
    entry, liq = page.evaluate(
        "() => [document.getElementById('preview-entry').dataset.value,"
        " document.getElementById('preview-liq').dataset.value]"
    )
    assert int(liq) == liquidation_level(MARGIN, LEVERAGE, int(entry), True, 0)
    steps.shot("ticket-filled")

    page.click("#ticket-submit")
    row = page.locator("#open-trades tbody tr")
    expect(row).to_have_count(1)
    expect(row.locator(".sl")).to_have_text(f"{stop // 10**DECIMALS:,}.{stop % 10**DECIMALS:04d}")
    expect(row.locator(".pnl")).to_have_attribute("data-value", re.compile(r"^-?\d+$"))
    expect(page.locator("#balance-free")).to_have_text(usd_text(INITIAL_BALANCE - MARGIN))
    trade_id = row.get_attribute("data-trade-id")
    expect(page.locator('#events li[data-type="TRADE_OPENED"]')).to_have_count(1)
    steps.shot("position-open")

    # Close it: the position leaves, a closed trade appears, the balance takes the result.
    row.locator("button.close-trade").click()
    expect(row).to_have_count(0)
    closed = page.locator(f'#closed-trades tbody tr[data-trade-id="{trade_id}"]')
    expect(closed).to_have_count(1)
    expect(closed.locator(".reason")).to_have_text("Closed")
    returned = int(closed.locator(".pnl").get_attribute("data-returned"))
    pnl = int(closed.locator(".pnl").get_attribute("data-value"))
    assert returned == MARGIN + pnl
    final = INITIAL_BALANCE - MARGIN + returned
    expect(page.locator("#balance-free")).to_have_text(usd_text(final))
    expect(page.locator("#balance-free")).to_have_attribute("title", f"{usd_exact(final)} USD")
    api = page.request.get(stack.url + "/api/v1/account/balance/usd")
    assert api.ok
    # The answer's usdBalance is an exact JSON number in USD; read from its text, not a float.
    answer = json.loads(api.text(), parse_float=Decimal)["engineResponse"]["data"]
    usd_balance = answer["usdBalance"]
    assert parse_amount(str(usd_balance), 4, "usdBalance") == final
    steps.shot("position-closed")

    # A stop-loss one unit under the bid fires on the next downtick; the page says so when it
    # happens. The bid may fall below the stop before the order lands: then try again.
    stopped = page.locator('#events li[data-type="TRADE_STOP_LOSS"]')
    for _attempt in range(8):
        stop = _bid(page) - 1
        page.fill("#ticket-sl", format_amount(stop, DECIMALS))
        page.click("#ticket-submit")
        page.wait_for_function(
            "() => document.querySelector('[data-error-for=\"stopLossPrice\"]').textContent"
            " || document.querySelector('[data-error-for=\"_form\"]').textContent"
            " || !document.getElementById('ticket-status').hidden"
        )
        if page.locator('[data-error-for="stopLossPrice"]').text_content() == "":
            break
    else:
        pytest.fail("the bid kept falling below every stop-loss tried")
    expect(page.locator('[data-error-for="_form"]')).to_be_empty()
    # The random walk may drift up for a long while: a downtick 1 % under the stop, written to
    # the price stream as the poller would, makes the fire certain.
    low = stop - stop // 100
    client = redis.Redis.from_url(stack.redis_url)
    try:
        tick = PriceItem(ASSET, low, DECIMALS, low, low + 1)
        client.xadd("engine_input", encode_price_batch([tick], "test", 0))
    finally:
        client.close()
    expect(stopped).to_have_count(1, timeout=60_000)
    expect(stopped).to_contain_text("Stop-loss hit")
    expect(page.locator("#open-trades tbody tr")).to_have_count(0)
    expect(page.locator('#closed-trades tbody tr[data-reason="TRADE_STOP_LOSS"]')).to_have_count(1)
    steps.shot("stop-loss-fired")

    # Signing out forgets the session: the ticket goes, the sign-in form comes back.
    page.click("#signout")
    expect(page.locator("#signin")).to_be_visible()
    expect(page.locator("#ticket")).to_be_hidden()
    expect(page.locator("#account-bar")).to_be_hidden()
    assert page.request.get(stack.url + "/api/v1/auth/me").status == 401
    steps.shot("signed-out-again")


def _chart(page: Any) -> dict[str, str]:
    return page.eval_on_selector("#chart", "el => ({...el.dataset})")


def test_chart_opens_with_history_and_its_last_candle_follows_the_live_price(
    stack: Stack, page: Any
) -> None:
    """No sign-in needed: the chart loads the candles the builder made of the backfilled past,
    then the live ticks move its last candle; the interval switch loads another history."""
    page.goto(stack.url + "/")
    # History on load: two hours of one-minute candles (the page asks for the last 300).
    page.wait_for_function(
        "() => Number(document.querySelector('#chart').dataset.candles) >= 100",
        timeout=60_000,
    )
    first = _chart(page)
    assert first["interval"] == "1m"
    # The live price moves the last candle (its close, or a new candle after a minute).
    page.wait_for_function(
        "([t, c]) => { const d = document.querySelector('#chart').dataset;"
        " return d.lastTime !== t || d.lastClose !== c; }",
        arg=[first["lastTime"], first["lastClose"]],
        timeout=60_000,
    )
    moved = _chart(page)
    assert int(moved["lastTime"]) >= int(first["lastTime"])
    assert int(moved["candles"]) >= int(first["candles"])
    # The last candle is the live price's: its close is the bid the market list shows.
    bid = Decimal(page.locator(f'#markets tr[data-asset="{ASSET}"] .bid').inner_text()
                  .replace(",", ""))
    page.wait_for_function(
        "() => document.querySelector('#chart').dataset.lastClose !== ''")
    assert abs(Decimal(_chart(page)["lastClose"]) - bid) <= bid / 100
    # The interval switch: 5-minute candles of the same two hours.
    page.click('#chart-intervals button[data-interval="5m"]')
    page.wait_for_function(
        "() => { const d = document.querySelector('#chart').dataset;"
        " return d.interval === '5m' && Number(d.candles) >= 20 && Number(d.candles) <= 40; }")
    # The market list shows each asset's 24 h change from the ticker.
    page.wait_for_function(
        "() => /%$/.test(document.querySelector("
        "'#markets tr[data-asset=\"BTC_USDC\"] .chg').textContent)",
        timeout=30_000,
    )
    page.screenshot(path=str(SHOTS / "chart-history.png"), full_page=True)


def _sign_in(page: Any, stack: Stack, who: str) -> None:
    from playwright.sync_api import expect

    page.goto(stack.url + "/")
    page.fill("#signin-email", who)
    page.click("#signin-submit")
    expect(page.locator("#signin-status")).to_contain_text("Check your inbox")
    page.goto(stack.mailbox.link_for(who))
    expect(page.locator("#user-email")).to_have_text(who)
    expect(page.locator("#balance-free")).to_have_text(usd_text(INITIAL_BALANCE))


def _price_text(value: int) -> str:
    return format_amount(value, DECIMALS)


def _line(page: Any, kind: str) -> dict[str, Any]:
    lines = page.eval_on_selector("#chart", "el => el.priceLines()")
    (line,) = [x for x in lines if x["kind"] == kind]
    return line


def test_pending_orders_amends_a_dragged_stop_and_a_partial_close_survive_a_reload(
    stack: Stack, page: Any
) -> None:
    """Issue 17 on the page: a limit order waits with its margin reserved and is cancelled;
    a market trade with a trailing stop is amended in its row, its stop-loss dragged on the
    chart, half of it closed; after a reload the activity and closed trades come back from
    the worker's history."""
    from playwright.sync_api import expect

    _sign_in(page, stack, "orders@example.com")
    expect(page.locator("#feed-status")).to_have_attribute("data-state", "live")

    # A limit order far below the ask: it waits, its margin reserved (free 4,900.00).
    page.click('[data-order-type="LIMIT"]')
    expect(page.locator("#ticket-submit")).to_have_text("Place long limit order")
    expect(page.locator("#ticket-price-hint")).to_have_text("below the ask")
    page.fill("#ticket-margin", "100")
    page.fill("#ticket-leverage", "10")
    limit = _bid(page) * 80 // 100
    page.fill("#ticket-price", _price_text(limit))
    page.click("#ticket-submit")
    order = page.locator("#pending-orders tbody tr")
    expect(order).to_have_count(1)
    expect(order.locator(".price")).to_have_attribute("data-value", str(limit))
    expect(page.locator("#balance-free")).to_have_text(usd_text(INITIAL_BALANCE - MARGIN))
    expect(page.locator("#account-reserved")).to_have_text("100.00")
    expect(page.locator('#events li[data-type="ORDER_PLACED"]')).to_have_count(1)
    page.screenshot(path=str(SHOTS / "orders-1-pending.png"), full_page=True)
    order.locator("button").click()
    expect(order).to_have_count(0)
    expect(page.locator("#balance-free")).to_have_text(usd_text(INITIAL_BALANCE))
    expect(page.locator('#events li[data-type="ORDER_CANCELLED"]')).to_have_count(1)

    # A market long with exits 5 % and 10 % away and a trailing stop 8 % under.
    page.click('[data-order-type="MARKET"]')
    expect(page.locator("#ticket-submit")).to_have_text("Open long")
    bid = _bid(page)
    page.fill("#ticket-sl", _price_text(bid * 95 // 100))
    page.fill("#ticket-tp", _price_text(bid * 110 // 100))
    page.fill("#ticket-trail", _price_text(bid * 8 // 100))
    page.click("#ticket-submit")
    row = page.locator("#open-trades tbody tr:not(.manage)")
    expect(row).to_have_count(1)
    expect(row.locator(".trail")).not_to_have_text("—")
    # the exact amount is on hover
    expect(row.locator(".margin")).to_have_attribute("title", "100.00 USD")

    # Amend the take-profit in the row (the stop-loss and trailing stop are left as they are).
    tp = bid * 112 // 100
    row.locator("button.manage").click()
    form = page.locator("form.manage-form")
    form.locator('input[name="takeProfitPrice"]').fill(_price_text(tp))
    form.locator('button[name="save"]').click()
    expect(row.locator(".tp")).to_have_attribute("data-value", str(tp))
    expect(page.locator('#events li[data-type="TRADE_MODIFIED"]')).to_have_count(1)
    stop_before = row.locator(".sl").get_attribute("data-value")

    # Drag the stop-loss line up on the chart: the trade is amended to where it was dropped.
    page.wait_for_function(
        "() => (document.querySelector('#chart').priceLines() || []).some("
        "l => l.kind === 'sl' && l.y !== null)")
    sl = _line(page, "sl")
    box = page.locator("#chart").bounding_box()
    x = box["x"] + box["width"] * 0.4
    page.mouse.move(x, box["y"] + sl["y"])
    page.mouse.down()
    page.mouse.move(x, box["y"] + sl["y"] - 15, steps=5)
    page.mouse.move(x, box["y"] + sl["y"] - 30, steps=5)
    page.mouse.up()
    expect(row.locator(".sl")).not_to_have_attribute("data-value", stop_before)
    moved = int(row.locator(".sl").get_attribute("data-value"))
    assert int(stop_before) < moved < _bid(page), (stop_before, moved)
    expect(page.locator('#events li[data-type="TRADE_MODIFIED"]')).to_have_count(2)
    page.screenshot(path=str(SHOTS / "orders-2-amended.png"), full_page=True)

    # Close 40 of the 100 USD: 60.00 stays open, the part is a closed trade of its own.
    row.locator("button.manage").click()
    form.locator('input[name="closeMargin"]').fill("40")
    form.locator('button[name="closePart"]').click()
    expect(row.locator(".margin")).to_have_text("60.00")
    closed = page.locator("#closed-trades tbody tr")
    expect(closed).to_have_count(1)
    expect(closed.locator(".reason")).to_have_text("Closed (part)")
    page.screenshot(path=str(SHOTS / "orders-3-partial-close.png"), full_page=True)

    # A reload: the feed and the closed trades come back from the worker's history (the
    # WebSocket replays nothing without a lastEventId).
    page.reload()
    expect(page.locator("#user-email")).to_have_text("orders@example.com")
    for kind in ("ORDER_PLACED", "ORDER_CANCELLED", "TRADE_OPENED", "TRADE_MODIFIED",
                 "TRADE_CLOSED"):
        expect(page.locator(f'#events li[data-type="{kind}"]')).not_to_have_count(0)
    expect(page.locator("#closed-trades tbody tr")).to_have_count(1)
    expect(page.locator("#closed-trades tbody tr")).to_have_attribute("data-margin", "400000")
    page.screenshot(path=str(SHOTS / "orders-4-reloaded.png"), full_page=True)
