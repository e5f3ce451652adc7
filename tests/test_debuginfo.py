"""The debugger's symbol table (src/wafersim/compiler/debuginfo.py): every value `dbg.locals` shows under a
name is the value plain Python has under that name at that line.

A register keeps its variable's name only until the source assigns the variable again: an assignment the
optimiser folded away (`a = 7`, `c, a = a, c`, a repeat of an earlier computation) used to leave the old
register named `a` wherever it stayed live as another variable's value, so the debugger showed `a` with
`c`'s value. The generated programs at the end are stepped line by line on two PEs and compared with a
plain-Python twin of the same lines traced by `sys.settrace`.
"""
from __future__ import annotations

import random
import sys

import numpy as np
import pytest

import wafersim as ws
from conftest import line_of, load_source
from wafersim.kernels.reduce import MAX, SUM, allreduce


@ws.jit
def _swap(out):
    x, y = ws.grid(2)
    c = 7
    a = x + 3
    c, a = a, c
    out[y, x] = c * 10 + a  # MARK-swap-after


@ws.jit
def _assigned_again(out):
    x, y = ws.grid(2)
    a = x + 3
    c = a
    a = x * 7 + y
    out[y, x] = c * 100 + a  # MARK-again-after


@ws.jit
def _repeated(out):
    x, y = ws.grid(2)
    c = x % 1000
    a = x + 3
    a = x % 1000  # the same computation as c's: read from c's register
    d = x + 3  # the same as the first a's: read from its register
    out[y, x] = c + a * 10 + d * 100  # MARK-repeated-after


@ws.jit
def _collectives(out):
    x, y = ws.grid(2)
    v = x * 10 + y
    total = allreduce(v, SUM)
    big = allreduce(v, MAX)
    r = total - big  # MARK-collectives-after
    out[y, x] = r + v


def _stop_at(kernel, marker, out, pe):
    with ws.debug(kernel[1, (2, 2)], out) as dbg:
        dbg.break_at(line=line_of(kernel, marker), pe=pe)
        assert dbg.cont().reason == "breakpoint"
        return dict(dbg.locals(pe))


@pytest.fixture
def out():
    dev = ws.Device(ws.WaferSpec(width=4, height=4))
    return dev.device_array((2, 2), np.int32)


def test_swapped_variables_are_shown_with_their_swapped_values(out):
    pe = (1, 1)
    shown = _stop_at(_swap, "MARK-swap-after", out, pe)
    python = {"c": pe[0] + 3, "a": 7, "x": 1, "y": 1}  # plain Python after `c, a = a, c`
    assert shown.get("a", python["a"]) == python["a"]  # (was x + 3: c's register, still named a)
    assert {name: shown[name] for name in shown if name in python} == {
        name: python[name] for name in shown if name in python}
    assert shown["c"] == python["c"]  # c = the old a, read from a's register
    assert out.copy_to_host()[1, 1] == (pe[0] + 3) * 10 + 7


def test_a_variable_assigned_again_shows_its_new_value_and_its_copy_the_old_one(out):
    shown = _stop_at(_assigned_again, "MARK-again-after", out, (1, 1))
    assert shown["a"] == 1 * 7 + 1  # was 4: the first a's register, still live as c
    assert shown["c"] == 1 + 3


def test_assignments_that_repeat_an_earlier_computation_show_their_own_values(out):
    pe = (1, 0)
    shown = _stop_at(_repeated, "MARK-repeated-after", out, pe)
    python = {"c": 1, "a": 1, "d": 4, "x": 1, "y": 0}
    assert shown.get("a", 1) == 1  # was 4: the first a's register, which d reads
    assert {name: shown[name] for name in shown if name in python} == {
        name: python[name] for name in shown if name in python}


def test_the_results_of_collectives_are_read_by_their_names_after_the_call(out):
    pe = (0, 1)
    shown = _stop_at(_collectives, "MARK-collectives-after", out, pe)
    values = [x * 10 + y for x in range(2) for y in range(2)]
    assert shown["total"] == sum(values) and shown["big"] == max(values)  # (were unknown names)
    assert shown["v"] == pe[0] * 10 + pe[1]


# ----------------------------------------------------------------------------- generated programs
VARIABLES = ["a", "b", "c", "d"]


def _expression(rng: random.Random, defined: list[str], depth: int = 0) -> str:
    if depth > 1 or rng.random() < 0.3:
        return rng.choice(defined) if defined and rng.random() < 0.7 else str(rng.randint(0, 9))
    op = rng.choice(["+", "-", "*", "%", "//"])
    left = _expression(rng, defined, depth + 1)
    if op in ("%", "//"):
        return f"({left} {op} {rng.randint(2, 7)})"
    return f"({left} {op} {_expression(rng, defined, depth + 1)})"


def _block(rng: random.Random, defined: list[str], indent: int, depth: int, lines: list[str], loops: list[str]) -> None:
    """Statements: assignments (values kept small: no int32 overflow), swaps, if/else, loops of run-time length."""
    pad = "    " * indent
    for _ in range(rng.randint(2, 4)):
        r = rng.random()
        if r < 0.55 or depth >= 2:
            v = rng.choice(VARIABLES)
            lines.append(f"{pad}{v} = ({_expression(rng, defined + loops)}) % 1000")
            defined += [v] if v not in defined else []
        elif r < 0.7:
            v, w = rng.sample(VARIABLES, 2)
            if v in defined and w in defined:
                lines.append(f"{pad}{v}, {w} = {w}, {v}")
            else:
                lines.append(f"{pad}{v} = x + {rng.randint(0, 5)}")
                defined += [v] if v not in defined else []
        elif r < 0.85:
            lines.append(f"{pad}if {_expression(rng, defined + loops)} % 3 == {rng.randint(0, 2)}:")
            then, other = list(defined), list(defined)
            _block(rng, then, indent + 1, depth + 1, lines, loops)
            lines.append(f"{pad}else:")
            _block(rng, other, indent + 1, depth + 1, lines, loops)
            defined += [v for v in then if v in other and v not in defined]
        else:
            loop = f"i{depth}"
            lines.append(f"{pad}for {loop} in range(n{depth % 2}):")
            _block(rng, list(defined), indent + 1, depth + 1, lines, loops + [loop])


def _program(seed: int) -> str:
    """A kernel and its plain-Python twin with the same body, the twin's lines `offset` below the kernel's."""
    rng = random.Random(seed)
    defined = ["x", "y"]
    body: list[str] = []
    _block(rng, defined, 1, 0, body, [])
    result = " + ".join(defined)
    return "\n".join(["import wafersim as ws", "", "", "@ws.jit", "def kern(out, n0, n1):", "    x, y = ws.grid(2)",
                      *body, f"    out[y, x] = {result}", "", "",
                      "def twin(x, y, n0, n1):", "    _ = 0", *body, f"    return {result}", ""])


def _python_visits(module, pe, n0, n1) -> tuple[int, dict[int, list[dict]]]:
    """The twin's locals at each visit of each line (before it runs), by the kernel's line numbers."""
    offset = module.twin.__code__.co_firstlineno - (module.kern.py_func.__code__.co_firstlineno + 1)
    visits: dict[int, list[dict]] = {}

    def tracer(frame, event, arg):
        if frame.f_code is not module.twin.__code__:
            return None
        if event == "line":
            visits.setdefault(frame.f_lineno - offset, []).append(dict(frame.f_locals))
        return tracer

    sys.settrace(tracer)
    try:
        result = module.twin(pe[0], pe[1], n0, n1)
    finally:
        sys.settrace(None)
    return result, visits


# seeds 0-59, and those that showed a wrong value before the fix (a swapped, repeated or re-assigned
# variable; in a loop; a temporary of an earlier line named after a later variable; a line whose code was
# hoisted out of its loop, which was a stop before the loop; a swap in a block the optimiser emptied, before
# out-of-SSA's copies at its end)
SEEDS = [*range(60), 135, 189, 413, 638, 787, 837, 1092, 1108, 1135, 1149, 1176, 1213, 1280, 1299, 1531, 3404]


@pytest.mark.parametrize("seed", SEEDS)
def test_every_value_shown_at_every_line_is_the_one_plain_python_has(tmp_path, seed):
    module = load_source(tmp_path, _program(seed))
    dev = ws.Device(ws.WaferSpec(width=4, height=4))
    n0, n1 = 3, 2
    for pe in [(0, 0), (1, 1)]:
        expected, visits = _python_visits(module, pe, n0, n1)
        out = dev.device_array((2, 2), np.int32)
        stops: dict[int, list[dict]] = {}
        with ws.debug(module.kern[1, (2, 2)], out, n0, n1) as dbg:
            while dbg.step(pe=pe).reason != "finished":
                if dbg.line(pe) is not None:
                    stops.setdefault(dbg.line(pe), []).append(dict(dbg.locals(pe)))
        assert out.copy_to_host()[pe[1], pe[0]] == expected
        compared = 0
        for line, shown_each in stops.items():
            python_each = visits.get(line, [])
            if len(python_each) != len(shown_each):
                continue  # (a stop that is not a visit of Python's, or the reverse: nothing to pair)
            for visit, (shown, python) in enumerate(zip(shown_each, python_each)):
                for name, value in shown.items():
                    if name in ("out", "n0", "n1"):
                        continue
                    assert name in python, f"line {line} visit {visit}: {name}={value} before Python assigns it"
                    assert int(value) == python[name], \
                        f"line {line} visit {visit}: {name}={value}, Python {python[name]}"
                    compared += 1
        assert compared > 0
