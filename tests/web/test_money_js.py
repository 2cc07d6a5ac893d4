"""The page's money arithmetic (gateway/static/js/money.js) against the engine's (engine/money.py).

Node runs the page's own module on thousands of cases and every answer must equal Python's,
digit for digit: the liquidation price and PnL a trader sees before and after sending are the
engine's, and parsing refuses exactly what the engine refuses.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from engine.amounts import format_amount, format_event_amount, parse_amount
from engine.money import (
    AmountError,
    liquidation_level,
    parse_decimal,
    pnl,
    rescale,
)

ROOT = Path(__file__).resolve().parents[2]
MONEY_JS = ROOT / "gateway" / "static" / "js" / "money.js"
NODE = shutil.which("node")

pytestmark = pytest.mark.skipif(
    NODE is None, reason="node is not installed (Node.js 20 runs the page's money.js)"
)

# Reads [[function, args...], ...] as JSON on stdin; answers each with a string or {"error"}.
RUNNER = """
import { readFileSync } from "node:fs";
import * as m from %s;
const cases = JSON.parse(readFileSync(0, "utf8"));
const big = (x) => BigInt(x);
const out = cases.map(([fn, ...a]) => {
  try {
    switch (fn) {
      case "parse": return m.parseDecimal(a[0], a[1]).toString();
      case "format": return m.formatDecimal(big(a[0]), a[1]);
      case "usd": return m.formatUsdExact(big(a[0]));
      case "usd2": return m.formatUsd(big(a[0]), { sign: a[1] });
      case "pnl": return m.pnl(big(a[0]), big(a[1]), big(a[2]), big(a[3]), a[4]).toString();
      case "liq":
        return m.liquidationLevel(big(a[0]), big(a[1]), big(a[2]), a[3], big(a[4])).toString();
      case "rescale": return m.rescale(big(a[0]), a[1], a[2]).toString();
      case "floordiv": return m.floorDiv(big(a[0]), big(a[1])).toString();
      case "wire": return JSON.stringify(m.wireAmount(big(a[0]), a[1]));
      case "fromwire": return m.fromWire(a[0], a[1]).toString();
      default: return { error: "unknown function " + fn };
    }
  } catch (err) {
    return { error: err.constructor.name };
  }
});
process.stdout.write(JSON.stringify(out));
"""


def run_js(cases: list[list[Any]]) -> list[Any]:
    """Evaluate ``cases`` with money.js in node; one answer per case."""
    done = subprocess.run(
        [NODE or "node", "--input-type=module", "-e", RUNNER % json.dumps(MONEY_JS.as_uri())],
        input=json.dumps(cases),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    answers = json.loads(done.stdout)
    assert len(answers) == len(cases)
    return answers


def python_answer(case: list[Any]) -> Any:
    fn, *a = case
    try:
        if fn == "parse":
            return str(parse_decimal(a[0], a[1]))
        if fn == "format":
            return format_amount(int(a[0]), a[1])
        if fn == "usd":
            text = format_amount(int(a[0]), 4)
            whole, _, frac = text.partition(".")
            sign = "-" if whole.startswith("-") else ""
            return f"{sign}{int(whole.lstrip('-')):,}.{frac.ljust(2, '0')}"
        if fn == "usd2":
            cents = (abs(int(a[0])) + 50) // 100  # half a cent away from zero
            text = f"{cents // 100:,}.{cents % 100:02d}"
            if cents == 0:
                return text
            return f"-{text}" if int(a[0]) < 0 else (f"+{text}" if a[1] else text)
        if fn == "pnl":
            return str(pnl(int(a[0]), int(a[1]), int(a[2]), int(a[3]), a[4]))
        if fn == "liq":
            return str(liquidation_level(int(a[0]), int(a[1]), int(a[2]), a[3], int(a[4])))
        if fn == "rescale":
            return str(rescale(int(a[0]), a[1], a[2]))
        if fn == "floordiv":
            return str(int(a[0]) // int(a[1]))
    except AmountError:
        return {"error": "AmountError"}
    raise AssertionError(f"no Python counterpart for {fn}")


def compare(cases: list[list[Any]]) -> None:
    answers = run_js(cases)
    wrong = [
        (case, got, want)
        for case, got in zip(cases, answers, strict=True)
        if got != (want := python_answer(case))
    ]
    assert not wrong, f"{len(wrong)} of {len(cases)} differ, first: {wrong[:5]}"


def test_liquidation_level_and_pnl_match_the_engine_on_random_positions() -> None:
    rng = random.Random(8)
    cases: list[list[Any]] = []
    for _ in range(1500):
        margin = rng.choice([1, 9_999, 10_000, rng.randint(1, 10**9), rng.randint(1, 10**15)])
        leverage = rng.choice([10, 1000, rng.randint(10, 1000)])
        entry = rng.choice([1, 2, rng.randint(1, 10**6), rng.randint(10**8, 10**13)])
        exit_price = max(1, entry + rng.randint(-entry, entry))
        is_long = rng.random() < 0.5
        bps = rng.choice([0, 0, 50, 9_999, rng.randint(0, 9_999)])
        cases.append(["liq", str(margin), str(leverage), str(entry), is_long, str(bps)])
        cases.append(["pnl", str(margin), str(leverage), str(entry), str(exit_price), is_long])
    compare(cases)


def test_floor_division_rounds_like_python_for_every_sign() -> None:
    rng = random.Random(3)
    cases: list[list[Any]] = [
        ["floordiv", str(a), str(b)] for a in (-7, -6, 0, 6, 7) for b in (-3, 3)
    ]
    for _ in range(500):
        a = rng.randint(-(10**30), 10**30)
        b = rng.choice([-1, 1]) * rng.randint(1, 10**15)
        cases.append(["floordiv", str(a), str(b)])
    compare(cases)


def test_decimal_strings_parse_and_format_exactly_as_the_engine() -> None:
    rng = random.Random(5)
    texts = [
        "0", "1", "1.", ".5", "0.0001", "00012.3400", "-1.5", "+2.25", " 7 ", "100.5",
        "123456789012345678901234567890.1234", "1.23456", "1.23450", "",
        ".", "-", "+", "1.2.3", "1e5", "abc", "1,000", "0x10", "1_000", "--1", "1-", "٣",
        "9" * 65, "1." + "0" * 60,
    ]  # fmt: skip
    cases: list[list[Any]] = [["parse", t, d] for t in texts for d in (0, 1, 4, 8)]
    for _ in range(500):
        value = rng.randint(-(10**20), 10**20)
        decimals = rng.randint(0, 12)
        cases.append(["format", str(value), decimals])
        cases.append(["parse", format_amount(value, decimals), decimals])
        cases.append(["rescale", str(value), decimals, rng.randint(0, 12)])
        cases.append(["usd", str(rng.choice([value, value // 10**10, 0, -1, 5])), 0])
    compare(cases)


def test_amounts_go_on_the_wire_as_exact_decimal_text_in_human_units() -> None:
    """An integer on the wire means whole units now, so the page sends exact decimal text."""
    cases = [(2**53 - 1, 4), (2**53 + 1, 4), (1_000_000, 4), (5, 4), (2_359_500, 4), (7, 0)]
    answers = run_js([["wire", str(value), places] for value, places in cases])
    sent = [json.loads(a) for a in answers]
    assert sent == [format_amount(value, places) for value, places in cases]
    assert sent[2] == "100" and sent[4] == "235.95"
    for text, (value, places) in zip(sent[2:], cases[2:], strict=True):  # within the ranges
        assert parse_amount(text, places, "margin") == value  # what the gateway reads back


def test_amounts_from_the_wire_read_every_form_exactly() -> None:
    """What parseJson leaves (a number's source text, a safe integer) and an event's decimal
    string all become the engine's scaled integer."""
    rng = random.Random(13)
    cases, expected = [], []
    for _ in range(2000):
        places = rng.choice([0, 2, 4, 6])
        value = rng.randint(-(10**15), 10**15)
        text = format_amount(value, places)
        cases.append(["fromwire", text, places])
        expected.append(str(value))
        event = format_event_amount(value, places)
        cases.append(["fromwire", event, places])
        expected.append(str(value))
    cases.append(["fromwire", 5000, 4])
    expected.append("50000000")
    assert run_js(cases) == expected


def test_usd_for_display_has_two_decimals_rounded_half_away_from_zero() -> None:
    rng = random.Random(19)
    fixed = [0, 49, 50, 51, -49, -50, -51, 12_345_6789, -12_345_6750, 99_995_000, 1, -1]
    values = fixed + [rng.randint(-(10**16), 10**16) for _ in range(300)]
    compare([["usd2", str(v), sign] for v in values for sign in (False, True)])
