"""Differential fuzzing of the `@ws.jit` compiler, tenth part: value forms and evaluation order the other
scalar fuzzers do not draw, on the marker machinery of tests/test_compiler_fuzz_mixed.py and the helpers
and forms of tests/test_compiler_fuzz_control.py:

- `and` / `or` as values: Python gives one of the operands, not a bool (`i0 or i1` is i1 when i0 is 0;
  `f0 and i1` is f0 when f0 is 0.0 or -0.0, and i1 converted to float32 otherwise: one type for the value
  known only at run time), int32, float32 and mixed operands, constants among them, chains of them
  (`a or b and c`), and `not` of a number as an int32;
- side effects under short-circuit evaluation: a device function that changes a local array (`bump`) as an
  operand of `and` / `or`, in a branch of a conditional expression, in either side of a comparison, in the
  later operands of a chained comparison (`a < b <= bump(li, 2)`: run only when `a < b`), in `if`, `elif`
  and `while` conditions. (The reference runs the body as Python does, its chained-comparison marker made
  lazy: each later operand a thunk, called only when the comparisons before it held.)
- tuples of run-time numbers held in variables (`t = (i0 * 2, f1, i2)`): items read by constant and negative
  indices, `len`, `sum`, `min`, `max` of them (int32 and float32 items mixed: each int32 converted to float32
  where a float32 meets it, `sum` starting from 0 as Python's does, so `sum((-0.0,))` is 0.0), unpacked into
  names, looped over (the loop variable an int32 on one trip and a float32 on the next, with `break` and
  `continue`), passed to device functions that loop over and index them, and read after the names they were
  built from have changed (the items are copies).

WAFERSIM_FUZZ_EXAMPLES / WS_FUZZ_RANDOM scale it as the other fuzz tests.
"""
from __future__ import annotations

import ast

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from test_compiler_fuzz import FLOAT_VARS, INT_VARS
from test_compiler_fuzz_control import CONTROL_HELPERS, FUZZ, MARKERS, ControlGen, ControlToKernel
from test_compiler_fuzz_mixed import COMPARE_FN, CONSTANT_ARGS, MixedGen, _promote, check, dev, gen_dir  # noqa: F401

import wafersim as ws

#: Device functions taking a tuple (a plain Python function in the reference: np.float32(v) converts an
#: int32 item there as the kernel's float32 arithmetic does).
TUPLE_HELPERS = """
@ws.jit
def twalk(t):
    acc = np.float32(0.25)
    for v in t:
        if acc > np.float32(3.0):
            break
        acc = acc * np.float32(0.5) + np.float32(v)
    return acc


@ws.jit
def tends(t):
    return t[-1], t[0]
"""


def _cmp_lazy(first, *rest):
    """`a < b <= c` as Python evaluates it: each later operand (a thunk) computed only while the comparisons
    before it hold; a pair compared as the machine compares (an int32 meeting a float32 becomes float32)."""
    left = first
    for op, thunk in zip(rest[0::2], rest[1::2]):
        right = thunk()
        if not COMPARE_FN[op](*_promote(left, right)):
            return False
        left = right
    return True


def _promoted(items) -> list:
    """The items as the machine combines a tuple's: all float32 if any is."""
    if any(isinstance(item, np.float32) for item in items):
        return [np.float32(item) for item in items]
    return list(items)


def _tsum(items):
    total = np.int32(0)  # Python's sum starts from 0: sum((-0.0,)) is 0.0
    for item in items:
        total, item = _promote(total, item)
        total = total + item
    return total


def _tmin(items):
    return min(_promoted(items))  # Python's min: the first of equal items, `b < a` tested


def _tmax(items):
    return max(_promoted(items))


VALUE_MARKERS = dict(MARKERS, _CMPL=_cmp_lazy, _TSUM=_tsum, _TMIN=_tmin, _TMAX=_tmax)


class ValuesToKernel(ControlToKernel):
    """`ControlToKernel`, and `_TSUM(t)` -> `sum(t)`, `_TMIN(t)` -> `min(t)`, `_TMAX(t)` -> `max(t)`."""

    def visit_Call(self, node: ast.Call):
        name = node.func.id if isinstance(node.func, ast.Name) else None
        if name in ("_TSUM", "_TMIN", "_TMAX"):
            func = {"_TSUM": "sum", "_TMIN": "min", "_TMAX": "max"}[name]
            return ast.Call(ast.Name(func, ast.Load()), [self.visit(arg) for arg in node.args], [])
        return super().visit_Call(node)


def to_kernel(source: str) -> str:
    return ast.unparse(ast.fix_missing_locations(ValuesToKernel().visit(ast.parse(source))))


class LazyCompare(ast.NodeTransformer):
    """The reference's `_CMP(a, op, b, op, c)` -> `_CMPL(a, op, lambda: b, op, lambda: c)`."""

    def visit_Call(self, node: ast.Call):
        self.generic_visit(node)
        if isinstance(node.func, ast.Name) and node.func.id == "_CMP":
            args = list(node.args)
            for k in range(2, len(args), 2):
                args[k] = ast.Lambda(ast.arguments([], [], None, [], [], None, []), args[k])
            return ast.Call(ast.Name("_CMPL", ast.Load()), args, [])
        return node


def lazy_reference(source: str) -> str:
    return ast.unparse(ast.fix_missing_locations(LazyCompare().visit(ast.parse(source))))


class ValuesGen(ControlGen):
    """`ControlGen` with the forms above mixed in (a quarter of the nodes), and side effects (`bump`) allowed
    inside conditions too: the reference's chained comparisons are lazy, as Python's."""

    def __init__(self, draw, branching: bool) -> None:
        super().__init__(draw, branching)
        self.float_items: list[str] = []  # loop variables over tuples: an int32 or a float32 on each trip
        self.tuples = 0

    def cond(self, depth: int, top: bool = False) -> str:
        if depth > 0 and self.mine():
            # (numbers as operands only at the top: `_B(cond)` reads a nested condition's value as a bool)
            kind = self.choice(["sidefx", "sidefx", "truthy"] if top else ["sidefx"])
            if kind == "truthy":  # numbers (not comparisons) as and / or operands of a condition
                a, b = self.number(depth - 1)[0], self.number(depth - 1)[0]
                return f"({a}) {self.choice(['and', 'or'])} ({b})"
            call = f"bump(li, {self.index(0)}) {self.choice(['>', '<=', '!='])} _I({self.draw(st.integers(-2, 4))})"
            first, second = self.cond(depth - 1), call
            if self.draw(st.booleans()):
                first, second = second, first
            return f"({first}) {self.choice(['and', 'or'])} ({second})"
        return MixedGen.cond(self, depth, top)  # (not ControlGen.cond, which keeps bump out of conditions)

    def int_expr(self, depth: int) -> str:
        if depth <= 0 or not self.mine():
            return super().int_expr(depth)
        kind = self.choice(["andor", "andor", "andor3", "not", "sidefx", "len"])
        if kind == "andor":
            return f"({self.int_expr(depth - 1)} {self.choice(['and', 'or'])} {self.int_expr(depth - 1)})"
        if kind == "andor3":
            ops = [self.choice(["and", "or"]) for _ in range(2)]
            a, b, c = (self.int_expr(depth - 1) for _ in range(3))
            return f"({a} {ops[0]} {b} {ops[1]} {c})"
        if kind == "not":
            return f"(_B(not {self.number(depth - 1)[0]}) {self.choice(['+', '-', '*'])} {self.int_expr(depth - 1)})"
        if kind == "len":
            return f"(_I(len(({self.int_expr(0)}, {self.float_expr(0)}))) + {self.int_expr(depth - 1)})"
        # a side effect the evaluation may skip: an and / or operand, a branch of a conditional expression
        call = f"bump(li, {self.index(0)})"
        form = self.choice(["and", "or", "ifexp"] if self.branching else ["and", "or"])
        if form == "ifexp":
            return f"({call} if {self.cond(depth - 1)} else {self.int_expr(depth - 1)})"
        other = self.int_expr(depth - 1)
        return f"({other} {form} {call})" if self.draw(st.booleans()) else f"({call} {form} {other})"

    def float_expr(self, depth: int) -> str:
        if self.float_items and self.draw(st.integers(0, 5)) == 0:  # (a float32 on every trip, in the kernel too)
            item = self.choice(self.float_items)
            return self.choice([f"_TOF({item})", f"(_F({item}) * _R(1.0))"])
        if depth <= 0 or not self.mine():
            return super().float_expr(depth)
        kind = self.choice(["andor", "andor", "andor3", "sidefx"])
        # An int32 operand, converted to float32 (its truth is the same), after a first operand known only at
        # run time (a float32 name): a constant first operand is folded away, and the value is then the
        # deciding operand with its own type, as in Python (`1.0 and i` is the int32 i, `f and i` a float32).
        first = self.choice(FLOAT_VARS)
        if kind == "andor":
            return f"({first} {self.choice(['and', 'or'])} {self.mixed_operand(depth - 1)})"
        if kind == "andor3":
            b, c = (self.mixed_operand(depth - 1) for _ in range(2))
            return f"({first} {self.choice(['and', 'or'])} {b} {self.choice(['and', 'or'])} {c})"
        call = f"_TOF(bump(li, {self.index(0)}))"
        other = self.float_expr(depth - 1)
        return f"({other} {self.choice(['and', 'or'])} {call})"

    # tuples of run-time numbers ---------------------------------------------
    def tuple_group(self, indent: int, nest: int) -> list[str]:
        pad = "    " * indent
        name = f"t{self.tuples}"
        self.tuples += 1
        floats = [self.draw(st.booleans()) for _ in range(self.draw(st.integers(1, 4)))]
        items = [self.float_expr(1) if is_float else self.int_expr(1) for is_float in floats]
        lines = [f"{pad}{name} = ({', '.join(items)}{',' if len(items) == 1 else ''})"]
        for _ in range(self.draw(st.integers(1, 3))):
            if self.draw(st.integers(0, 2)) == 0:  # the names the items came from may change: items are copies
                lines += super().statement(indent, nest)
            lines += self.tuple_use(pad, name, floats, indent, nest)
        return lines

    def tuple_use(self, pad: str, name: str, floats: list[bool], indent: int, nest: int) -> list[str]:
        kinds = ["item", "item", "reduce", "unpack", "helper", "ends"]
        if self.branching and nest < 2:
            kinds += ["loop", "loop"]
        kind = self.choice(kinds)
        any_float = any(floats)
        if kind == "item":
            k = self.draw(st.integers(0, len(floats) - 1))
            index = str(k) if self.draw(st.booleans()) else str(k - len(floats))
            if floats[k]:
                return [f"{pad}{self.choice(FLOAT_VARS)} = {name}[{index}] {self.choice(['+', '*', '-'])} "
                        f"{self.float_expr(1)}"]
            if self.draw(st.booleans()):
                return [f"{pad}{self.choice(FLOAT_VARS)} = _F({name}[{index}])"]
            return [f"{pad}{self.choice(INT_VARS)} = {name}[{index}] ^ {self.int_expr(1)}"]
        if kind == "reduce":
            marker = self.choice(["_TSUM", "_TMIN", "_TMAX"])
            target = self.choice(FLOAT_VARS) if any_float else self.choice(INT_VARS)
            return [f"{pad}{target} = {marker}({name})"]
        if kind == "unpack":  # each item into a name of its type (a name may be a target twice: the last wins)
            targets = [self.choice(FLOAT_VARS if is_float else INT_VARS) for is_float in floats]
            return [f"{pad}{', '.join(targets)}{',' if len(targets) == 1 else ''} = {name}"]
        if kind == "helper":
            return [f"{pad}{self.choice(FLOAT_VARS)} = twalk({name}) + {self.float_expr(1)}"]
        if kind == "ends":
            last = self.choice(FLOAT_VARS if floats[-1] else INT_VARS)
            first = self.choice(FLOAT_VARS if floats[0] else INT_VARS)
            return [f"{pad}{last}, {first} = tends({name})"]
        var = f"v{self.loops}"
        self.loops += 1
        lines = [f"{pad}for {var} in {name}:"]
        self.loop_vars.append(var)
        self.float_items.append(var)
        lines += self.loop_body(indent + 1, nest + 1)
        self.float_items.pop()
        self.loop_vars.pop()
        return lines

    def statement(self, indent: int, nest: int) -> list[str]:
        if self.draw(st.integers(0, 4)) == 0:
            return self.tuple_group(indent, nest)
        return super().statement(indent, nest)


@st.composite
def programs(draw, branching: bool):
    gen = ValuesGen(draw, branching)
    return gen.block(1, draw(st.integers(2, 8)), 0)


def run(dev, gen_dir, body, seed, kci, kcf):
    check(dev, gen_dir, body, seed, kci, kcf, helpers=CONTROL_HELPERS + TUPLE_HELPERS, transform=to_kernel,
          markers=VALUE_MARKERS, ref_transform=lazy_reference)


@pytest.fixture(scope="module")
def few_registers():
    """A PE of 8 registers, as tests/test_compiler_fuzz_control.py's: nearly every value spilled to SRAM."""
    return ws.Device(ws.WaferSpec(width=8, height=8, registers=8))


@FUZZ
@given(body=programs(branching=False), seed=st.integers(0, 2**32 - 1), **CONSTANT_ARGS)
# A constant operand after the first of `and` / `or` was an internal compiler error ("bz rNone").
@example(body=["    f0 = _AUGX(f0 + (f1 and (f0 and _R(0.5) and _R(0.5))))",
               "    i0 = (i0 or _I(0) or (i0 + _I(7)))", "    i1 = (i1 and _I(3) and _I(4))"], seed=0, kci=0, kcf=0.5)
# A constant first operand is folded away: `1.0 and (bump(...) and i1)` is the int32 i1, exact, as in Python.
@example(body=["    i1 = i0 = _TOI((np.tanh(_R(16777216.0)) and (bump(li, -1) and i1)))", "    li[1:3] -= li[0:2]"],
         seed=36146669, kci=3, kcf=0.5)
def test_straight_line_value_kernels_match_the_reference(dev, gen_dir, body, seed, kci, kcf):
    run(dev, gen_dir, body, seed, kci, kcf)


@FUZZ
@given(body=programs(branching=True), seed=st.integers(0, 2**32 - 1), **CONSTANT_ARGS)
def test_branching_value_kernels_match_the_reference(dev, gen_dir, body, seed, kci, kcf):
    run(dev, gen_dir, body, seed, kci, kcf)


@FUZZ
@given(body=programs(branching=True), seed=st.integers(0, 2**32 - 1), **CONSTANT_ARGS)
def test_value_kernels_spilling_every_register_match_the_reference(few_registers, gen_dir, body, seed, kci, kcf):
    run(few_registers, gen_dir, body, seed, kci, kcf)
