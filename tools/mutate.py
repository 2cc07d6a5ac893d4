"""Mutation testing of the engine core: small deliberate bugs, one at a time, against the tests.

    .venv/bin/python tools/mutate.py                  # every file, every mutant (make mutate)
    .venv/bin/python tools/mutate.py --file engine/money.py --match pnl
    .venv/bin/python tools/mutate.py --list           # the mutants and their IDs, nothing run
    .venv/bin/python tools/mutate.py --show 'engine/money.py::pnl::arith:Sub->Add#0'

Our own AST script rather than mutmut or cosmic-ray (both tried): the list of equivalent
mutants must live outside ``engine/`` with a reason each (mutmut and cosmic-ray mark them with
pragmas in the source), the operators that matter here are domain ones neither has (a bid read
as the ask, ``max`` as ``min``, two arguments swapped) while both spend many mutants on message
strings, and mutmut's time-outs on the trigger loops cost minutes each.

Each mutant is one change to the module's AST, unparsed and loaded in place of the module in a
forked child that runs the fast engine tests (``pytest -x``, tests of the mutated file first,
the hypothesis state machine last, hypothesis derandomized so a run is reproducible). A non-zero
exit (or a time-out) kills it. Its ID is ``file::function::operator:detail#n``, ``n`` counting
the same operator and detail within the function, so IDs survive edits elsewhere in the file.
Mutants listed in ``tools/mutate_equivalent.txt`` (an ID and a one-line reason) cannot change
behaviour; they are run anyway, reported apart, and a killed one is flagged as wrongly listed.
"""

from __future__ import annotations

import argparse
import ast
import difflib
import glob
import os
import signal
import sys
import time
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TARGETS = ["engine/money.py", "engine/triggers.py", "engine/orders.py", "engine/core.py"]
EQUIVALENT_FILE = ROOT / "tools" / "mutate_equivalent.txt"
# The tests of each file run first: most mutants die in the first second.
FIRST = {
    "engine/money.py": ["tests/engine/test_money.py"],
    "engine/triggers.py": ["tests/engine/test_triggers.py"],
    "engine/orders.py": [
        "tests/engine/test_orders.py",
        "tests/engine/test_scenarios_validation.py",
    ],
    "engine/core.py": ["tests/engine/test_core.py"],
}
LAST = ["tests/engine/test_core_properties.py"]  # the slowest, and the broadest

CMP: dict[type[ast.cmpop], list[type[ast.cmpop]]] = {
    ast.Lt: [ast.LtE, ast.GtE],
    ast.LtE: [ast.Lt, ast.Gt],
    ast.Gt: [ast.GtE, ast.LtE],
    ast.GtE: [ast.Gt, ast.Lt],
    ast.Eq: [ast.NotEq],
    ast.NotEq: [ast.Eq],
    ast.Is: [ast.IsNot],
    ast.IsNot: [ast.Is],
    ast.In: [ast.NotIn],
    ast.NotIn: [ast.In],
}
ARITH: dict[type[ast.operator], list[type[ast.operator]]] = {
    ast.Add: [ast.Sub],
    ast.Sub: [ast.Add],
    ast.Mult: [ast.FloorDiv, ast.Add],
    ast.FloorDiv: [ast.Mult],
    ast.Div: [ast.Mult],
    ast.Mod: [ast.FloorDiv],
    ast.Pow: [ast.Mult],
    ast.LShift: [ast.RShift],
    ast.RShift: [ast.LShift],
    ast.BitAnd: [ast.BitOr],
    ast.BitOr: [ast.BitAnd],
}
SIDES = {"bid": "ask", "ask": "bid", "low": "high", "high": "low"}  # one side read as the other
STRINGS = {"LONG": "SHORT", "SHORT": "LONG"}  # the only strings mutated: messages are not
CALLS = {"max": "min", "min": "max"}


@dataclass
class Mutant:
    file: str
    mid: str
    line: int
    text: str  # the source line, stripped


@dataclass
class Site:
    """One possible change: its operator, detail, and how to make it on a fresh tree."""

    qualname: str
    op: str
    detail: str
    line: int
    apply: Callable[[], None]


class Sites:
    """Walks a module in a fixed order and yields every mutation site it finds."""

    def __init__(self, tree: ast.Module) -> None:
        self.tree = tree

    def __iter__(self) -> Iterator[Site]:
        yield from self._visit(self.tree, "<module>")

    def _visit(self, node: ast.AST, qual: str) -> Iterator[Site]:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            qual = node.name if qual == "<module>" else f"{qual}.{node.name}"
        yield from self._here(node, qual)
        for field, value in ast.iter_fields(node):
            if field in ("annotation", "returns", "decorator_list", "type_comment"):
                continue  # types and decorators are not behaviour
            if isinstance(node, ast.JoinedStr):
                continue  # f-string messages
            items = value if isinstance(value, list) else [value]
            if isinstance(value, list) and items and isinstance(items[0], ast.stmt):
                yield from self._removals(node, field, value, qual)
            for item in items:
                if isinstance(item, ast.AST):
                    yield from self._visit(item, qual)

    def _removals(
        self, parent: ast.AST, field: str, body: list[ast.stmt], qual: str
    ) -> Iterator[Site]:
        for i, stmt in enumerate(body):
            if i == 0 and _is_docstring(stmt):
                continue
            removable = isinstance(
                stmt, ast.Expr | ast.AugAssign | ast.Delete | ast.Raise | ast.Continue | ast.Break
            ) or (
                isinstance(stmt, ast.Assign)
                and all(isinstance(t, ast.Attribute | ast.Subscript) for t in stmt.targets)
            )
            if removable:
                kind = type(stmt).__name__

                def remove(body: list[ast.stmt] = body, i: int = i, stmt: ast.stmt = stmt) -> None:
                    body[i] = ast.copy_location(ast.Pass(), stmt)

                yield Site(qual, "del", kind, stmt.lineno, remove)

    def _here(self, node: ast.AST, qual: str) -> Iterator[Site]:
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Compare):
            for j, op in enumerate(node.ops):
                for new in CMP.get(type(op), []):

                    def flip(node: ast.Compare = node, j: int = j, new: type = new) -> None:
                        node.ops[j] = new()

                    yield Site(qual, "cmp", f"{type(op).__name__}->{new.__name__}", line, flip)
        elif isinstance(node, ast.BinOp | ast.AugAssign):
            name = "arith" if isinstance(node, ast.BinOp) else "aug"
            for new_op in ARITH.get(type(node.op), []):

                def swap(node: ast.BinOp | ast.AugAssign = node, new: type = new_op) -> None:
                    node.op = new()

                detail = f"{type(node.op).__name__}->{new_op.__name__}"
                yield Site(qual, name, detail, line, swap)
        elif isinstance(node, ast.BoolOp):
            other_op = ast.Or if isinstance(node.op, ast.And) else ast.And

            def boolop(node: ast.BoolOp = node, new: type = other_op) -> None:
                node.op = new()

            detail = f"{type(node.op).__name__}->{other_op.__name__}"
            yield Site(qual, "bool", detail, line, boolop)
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not | ast.USub):
            yield Site(
                qual, "unary", f"drop-{type(node.op).__name__}", line, _replace(node, node.operand)
            )
        elif isinstance(node, ast.Constant):
            value = node.value
            if isinstance(value, bool):
                yield Site(
                    qual, "const", f"{value}->{not value}", line, _set_const(node, not value)
                )
            elif isinstance(value, int):
                for delta in (1, -1):
                    detail = f"{value}->{value + delta}"
                    yield Site(qual, "const", detail, line, _set_const(node, value + delta))
            elif isinstance(value, str) and value in STRINGS:
                swapped = STRINGS[value]
                yield Site(qual, "const", f"{value}->{swapped}", line, _set_const(node, swapped))
        elif isinstance(node, ast.Attribute) and node.attr in SIDES:
            other = SIDES[node.attr]

            def attr(node: ast.Attribute = node, other: str = other) -> None:
                node.attr = other

            yield Site(qual, "side", f".{node.attr}->.{other}", line, attr)
        elif isinstance(node, ast.Name) and node.id in SIDES:
            if isinstance(node.ctx, ast.Load):
                other = SIDES[node.id]

                def rename(node: ast.Name = node, other: str = other) -> None:
                    node.id = other

                yield Site(qual, "side", f"{node.id}->{other}", line, rename)
        elif isinstance(node, ast.Call):
            if isinstance(node.func, ast.Name) and node.func.id in CALLS:
                other = CALLS[node.func.id]

                def call(node: ast.Call = node, other: str = other) -> None:
                    assert isinstance(node.func, ast.Name)
                    node.func.id = other

                yield Site(qual, "call", f"{node.func.id}->{other}", line, call)
            args = node.args
            if isinstance(node.func, ast.Name) and node.func.id in CALLS:
                args = []  # max and min are symmetric: swapping their arguments changes nothing
            for i in range(len(args) - 1):
                a, b = args[i], args[i + 1]
                if isinstance(a, ast.Starred) or isinstance(b, ast.Starred):
                    continue
                if not all(isinstance(x, ast.Name | ast.Attribute) for x in (a, b)):
                    continue  # values, not literals: a literal swap is a message or a code
                if ast.dump(a) == ast.dump(b):
                    continue

                def argswap(args: list[ast.expr] = args, i: int = i) -> None:
                    args[i], args[i + 1] = args[i + 1], args[i]

                yield Site(qual, "args", f"swap{i}-{i + 1}", line, argswap)
        elif isinstance(node, ast.Return) and node.value is not None:
            if not (isinstance(node.value, ast.Constant) and node.value.value is None):

                def ret(node: ast.Return = node) -> None:
                    node.value = ast.Constant(None)

                yield Site(qual, "return", "None", line, ret)
        elif isinstance(node, ast.IfExp):

            def ifexp(node: ast.IfExp = node) -> None:
                node.body, node.orelse = node.orelse, node.body

            yield Site(qual, "ifexp", "swap", line, ifexp)


def _is_docstring(stmt: ast.stmt) -> bool:
    return (
        isinstance(stmt, ast.Expr)
        and isinstance(stmt.value, ast.Constant)
        and isinstance(stmt.value.value, str)
    )


def _set_const(node: ast.Constant, value: Any) -> Callable[[], None]:
    def apply() -> None:
        node.value = value

    return apply


def _replace(node: ast.AST, by: ast.AST) -> Callable[[], None]:
    """Make ``node`` become ``by`` (in place, so its parent need not be known)."""

    def apply() -> None:
        node.__class__ = by.__class__
        node.__dict__.clear()
        node.__dict__.update(by.__dict__)

    return apply


def sites_of(source: str) -> list[tuple[str, Site]]:
    """Every site of a module with its stable ID suffix ``qual::op:detail#n``."""
    tree = ast.parse(source)
    seen: dict[tuple[str, str, str], int] = {}
    out = []
    for site in Sites(tree):
        key = (site.qualname, site.op, site.detail)
        n = seen.get(key, 0)
        seen[key] = n + 1
        out.append((f"{site.qualname}::{site.op}:{site.detail}#{n}", site))
    return out


def mutants_of(file: str) -> list[Mutant]:
    source = (ROOT / file).read_text()
    lines = source.splitlines()
    return [
        Mutant(
            file, f"{file}::{suffix}", site.line, lines[site.line - 1].strip() if site.line else ""
        )
        for suffix, site in sites_of(source)
    ]


def mutated_source(mutant: Mutant) -> str:
    """The module's source with only this mutant's change (from a freshly parsed tree)."""
    source = (ROOT / mutant.file).read_text()
    tree = ast.parse(source)
    seen: dict[tuple[str, str, str], int] = {}
    for site in Sites(tree):
        key = (site.qualname, site.op, site.detail)
        n = seen.get(key, 0)
        seen[key] = n + 1
        if f"{mutant.file}::{site.qualname}::{site.op}:{site.detail}#{n}" == mutant.mid:
            site.apply()
            return ast.unparse(ast.fix_missing_locations(tree))
    raise KeyError(mutant.mid)


def load_equivalents() -> dict[str, str]:
    """ID -> reason, from the checked-in list (``ID | reason`` per line, ``#`` comments)."""
    out: dict[str, str] = {}
    if not EQUIVALENT_FILE.exists():
        return out
    for raw in EQUIVALENT_FILE.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        mid, sep, reason = line.partition(" | ")
        if not sep or not reason.strip():
            raise SystemExit(f"{EQUIVALENT_FILE.name}: no reason given for {mid!r}")
        out[mid.strip()] = reason.strip()
    return out


def test_rank(file: str) -> Callable[[str], int]:
    """Order of the test files for mutants of ``file``: its own tests first, the scenarios next,
    the hypothesis state machine (slowest, broadest) last."""

    def rank(path: str) -> int:
        if path in FIRST.get(file, []):
            return 0
        if "/test_scenarios_" in path:
            return 1
        return 3 if path in LAST else 2

    return rank


# --- running: one pytest session, one forked child per mutant ------------------------------------
# Collecting the tests costs more than running most of them until the first failure, so the
# session collects once; each child patches the mutated function's code in place (so every
# reference the tests hold sees it) and runs the collected tests with -x.


class _MutationLoop:
    def __init__(self, jobs: list[tuple[Mutant, str]]) -> None:
        self.jobs = jobs
        self.verdicts: dict[str, tuple[str, float]] = {}
        self.baseline = 0.0

    def pytest_configure(self, config: object) -> None:
        from hypothesis import Phase, settings

        # a fixed seed and no example database: the same verdict on every run; no shrinking:
        # a failure is all a mutant needs, not the smallest one
        phases = [Phase.explicit, Phase.reuse, Phase.generate]
        settings.register_profile(
            "mutate", settings.default, derandomize=True, database=None, phases=phases
        )
        settings.load_profile("mutate")

    def pytest_runtestloop(self, session: object) -> bool:
        verdict, self.baseline = self._run(session, None, None, timeout=600)
        if verdict != "survived":
            self.baseline = -1.0
            return True
        timeout = max(20.0, 4 * self.baseline)
        print(f"tests take {self.baseline:.1f}s unmutated", file=sys.stderr, flush=True)
        for i, (mutant, source) in enumerate(self.jobs, 1):
            verdict, seconds = self._run(session, mutant, source, timeout)
            self.verdicts[mutant.mid] = (verdict, seconds)
            print(
                f"  [{i}/{len(self.jobs)}] {verdict:8} {seconds:5.1f}s {mutant.mid}",
                file=sys.stderr,
                flush=True,
            )
        return True

    def _run(
        self, session: object, mutant: Mutant | None, source: str | None, timeout: float
    ) -> tuple[str, float]:
        start = time.monotonic()
        pid = os.fork()
        if pid == 0:  # child
            code = 98
            try:
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, 1)
                os.dup2(devnull, 2)
                if mutant is not None and source is not None:
                    _patch(mutant, source)
                code = _run_items(session, mutant.file if mutant else "")
            except BaseException:
                code = 99
            finally:
                os._exit(code)
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            elapsed = time.monotonic() - start
            if done:
                return ("survived" if os.waitstatus_to_exitcode(status) == 0 else "killed"), elapsed
            if elapsed > timeout:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                return "timeout", elapsed
            time.sleep(0.01)


def _run_items(session: Any, file: str) -> int:
    """Run the collected tests, the mutated file's first, stopping at the first failure."""
    rank = test_rank(file)
    items = sorted(session.items, key=lambda item: rank(str(item.path.relative_to(ROOT))))
    for i, item in enumerate(items):
        nextitem = items[i + 1] if i + 1 < len(items) else None
        item.config.hook.pytest_runtest_protocol(item=item, nextitem=nextitem)
        if session.testsfailed or session.shouldfail or session.shouldstop:
            return 1
    return 0


def _patch(mutant: Mutant, source: str) -> None:
    """Make the loaded module behave as the mutated source, for every reference to it.

    A function's or method's code (and defaults) is replaced in place, so references taken
    with ``from engine.x import f`` see it; a class-level change rebinds the class and a
    module-level one the constant, in every engine and test module that imported it.
    """
    name = mutant.file.removesuffix(".py").replace("/", ".")
    module = sys.modules[name]
    scratch: dict[str, Any] = {"__name__": name, "__file__": module.__file__}
    exec(compile(source, str(ROOT / mutant.file), "exec"), scratch)
    qualname = mutant.mid.split("::")[1]
    if qualname == "<module>":
        for key, new in scratch.items():
            if key.startswith("__") or isinstance(
                new, type | types.FunctionType | types.ModuleType
            ):
                continue
            old = module.__dict__.get(key)
            if type(new) is type(old) and new == old:
                continue
            _rebind(key, old, new, by_value=True)
        return
    head, *rest = qualname.split(".")
    old_obj, new_obj = module.__dict__[head], scratch[head]
    for part in rest:
        if isinstance(old_obj, types.FunctionType):
            break  # a nested function: its code is a constant of the enclosing one's
        old_obj, new_obj = old_obj.__dict__[part], new_obj.__dict__[part]
    if isinstance(old_obj, types.FunctionType):
        old_obj.__code__ = new_obj.__code__
        old_obj.__defaults__ = new_obj.__defaults__
        old_obj.__kwdefaults__ = new_obj.__kwdefaults__
    elif not rest:  # a class body: the class itself is replaced
        _rebind(head, old_obj, new_obj, by_value=False)
    else:
        raise RuntimeError(f"cannot patch {mutant.mid}")


def _rebind(key: str, old: object, new: object, by_value: bool) -> None:
    for mod_name, mod in list(sys.modules.items()):
        if not mod_name.startswith(("engine", "tests")) or mod is None:
            continue
        current = mod.__dict__.get(key, _MISSING)
        if current is old or (by_value and type(current) is type(old) and current == old):
            setattr(mod, key, new)


_MISSING = object()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--file", action="append", choices=TARGETS, help="only this file")
    parser.add_argument("--match", default="", help="only mutant IDs containing this text")
    parser.add_argument(
        "--ids", metavar="PATH", help="only the mutant IDs in this file (first word of a line)"
    )
    parser.add_argument("--list", action="store_true", help="list the mutants, run nothing")
    parser.add_argument("--show", metavar="ID", help="print one mutant's diff")
    parser.add_argument("--fail-under", type=float, default=95.0, help="per-file score, %%")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    os.chdir(ROOT)
    files = args.file or TARGETS
    equivalents = load_equivalents()
    mutants = {f: [x for x in mutants_of(f) if args.match in x.mid] for f in files}
    if args.ids:
        wanted = {
            line.split()[0] for line in Path(args.ids).read_text().splitlines() if line.split()
        }
        mutants = {f: [x for x in items if x.mid in wanted] for f, items in mutants.items()}

    if args.show:
        file = args.show.partition("::")[0]
        (mutant,) = [x for x in mutants_of(file) if x.mid == args.show]
        before = ast.unparse(ast.parse((ROOT / file).read_text())).splitlines()
        after = mutated_source(mutant).splitlines()
        print("\n".join(difflib.unified_diff(before, after, file, file + " (mutant)", lineterm="")))
        return 0
    if args.list:
        for items in mutants.values():
            for x in items:
                mark = "  [equivalent]" if x.mid in equivalents else ""
                print(f"{x.mid}  (line {x.line}: {x.text}){mark}")
        return 0

    known = {x.mid for f in TARGETS for x in mutants_of(f)}
    stale = sorted(set(equivalents) - known)
    started = time.monotonic()
    jobs = [(x, mutated_source(x)) for items in mutants.values() for x in items]
    print(f"{len(jobs)} mutants in {len(files)} files", flush=True)
    loop = _MutationLoop(jobs)
    import pytest

    tests = sorted(glob.glob("tests/engine/test_*.py", root_dir=ROOT))
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)  # the session's own report says nothing useful here
    try:
        pytest.main(
            [*tests, "-x", "-q", "-p", "no:cacheprovider", "-m", "not slow"], plugins=[loop]
        )
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
    if loop.baseline <= 0:
        print("the tests fail (or were not collected) without any mutant; fix them first")
        return 2
    print(f"tests take {loop.baseline:.1f}s unmutated; one worker")

    totals = [0, 0]  # killed, counted
    failing = []
    for file, items in mutants.items():
        killed = counted = 0
        survivors: list[Mutant] = []
        wrongly_equivalent: list[Mutant] = []
        for mutant in items:
            dead = loop.verdicts[mutant.mid][0] != "survived"
            if mutant.mid in equivalents:
                if dead:
                    wrongly_equivalent.append(mutant)
                continue
            counted += 1
            killed += dead
            if not dead:
                survivors.append(mutant)
        equivalent = sum(1 for x in items if x.mid in equivalents)
        score = 100.0 * killed / counted if counted else 100.0
        print(f"{file}: killed {killed} of {counted} ({score:.1f}%; {equivalent} equivalent)")
        for x in survivors:
            print(f"    survived {x.mid}  (line {x.line}: {x.text})")
        for x in wrongly_equivalent:
            print(f"    KILLED but listed as equivalent: {x.mid}  (line {x.line})")
        if score < args.fail_under or wrongly_equivalent:
            failing.append(file)
        totals[0] += killed
        totals[1] += counted
    for mid in stale:
        print(f"stale entry in {EQUIVALENT_FILE.name} (no such mutant): {mid}")
    minutes = (time.monotonic() - started) / 60
    score = 100.0 * totals[0] / totals[1] if totals[1] else 100.0
    print(f"took {minutes:.1f} min")
    print(f"mutation score: {score:.1f}% ({totals[0]} of {totals[1]})")
    if failing:
        print(f"below {args.fail_under:g}% or with a killed 'equivalent': {', '.join(failing)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
