"""Differential fuzzing of the `@ws.jit` compiler, ninth part: control flow and statement forms the other
scalar fuzzers (tests/test_compiler_fuzz.py, tests/test_compiler_fuzz_mixed.py) do not draw, on the marker
machinery of tests/test_compiler_fuzz_mixed.py (the reference runs the body text on np.int32 / np.float32
scalars with markers bound to the documented semantics; the kernel gets the text with the markers rewritten
into the Python a user writes):

- `break` and `continue` in `for ... in range(...)` loops (constant or run-time bounds, steps up and down),
  in nested loops (leaving the inner one only), in unrolled loops over tuples of constants and over a
  device function's tuple result (`for k in settle(a, b):`), and in
  `while True:` loops left only by a `break`, `while n < K and <condition>:`; the loop variable rebound in
  the body (the next trip still takes the next item, and `range`'s bounds, read once, do not move when a
  variable they read is assigned);
- device functions with run-time early returns: from a branch, from inside a `for` loop and from nested
  loops, from a `while` loop with `continue` and `break`, a tuple result, one helper calling another, a
  helper mutating a local array its caller passed (by reference), a helper called as a statement and left
  by `return`, `return None` or `return <value>`, helpers called inside loops, in
  conditional expressions and in `and`/`or` operands (so the call may not run at all);
- statements after a `break` or `continue` (never run, so not compiled: one of them a float32 assigned to an
  int32 variable, which would be refused), a helper with an `s=None` default (`if s is None: return x`, then
  code that computes with `s`), and a helper whose local shadows the module constant another helper reads;
- every augmented assignment operator on names and on elements of local arrays: `<<=`, `>>=`, `**=`,
  `//=`, `%=`, `&=`, `|=`, `^=`, `/=` and the arithmetic ones, an int32 operand on a float32 target;
- the `operator` module's functions fuzz.py does not draw (`floordiv`, `mod`, `truediv`, `pow`, `lshift`,
  `rshift`, `and_`, `or_`, `xor`, `neg`, `pos`, `invert`, `abs`, `not_`, `lt` ... `ne`);
- comparisons, `not` and `and`/`or` of comparisons used as int32 numbers (`(a < b) + i`, Python's bools are
  ints), unary `+`, `float()` and `int()` of run-time values (negative, near 2**24, large);
- tuple assignments whose targets are elements (`li[j], li[k] = li[k], li[j]`, which may be one element),
  whose later target's index reads an earlier target (`i0, li[i0 & 3] = ...`: Python assigns left to right),
  nested targets and three-way rotations; annotated assignments (`f0: float = i1`);
- tuple variables, of run-time numbers (`tp = (i0, i1)`) and of constants (`tc = (1, 2)`), rebound anywhere,
  also after a run-time `break` or `continue` of an unrolled loop (where the path that skipped the rebinding must
  keep the tuple it had), and read into the numbers;
- all of it also on a PE of 8 registers, where the allocator spills nearly every value to SRAM.

WAFERSIM_FUZZ_EXAMPLES / WS_FUZZ_RANDOM scale it as the other fuzz tests.
"""
from __future__ import annotations

import ast
import os

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from test_compiler_fuzz import FLOAT_VARS, INT_VARS
from test_compiler_fuzz_mixed import FUZZ as MIXED_FUZZ
from test_compiler_fuzz_mixed import (CONSTANT_ARGS, REFERENCE_MARKERS, MixedGen, ToKernel, _pow, check,  # noqa: F401
                                      dev, gen_dir)

import wafersim as ws
from conftest import load_source

#: A few examples in `make test` (about 6 s on 2 cores); WAFERSIM_FUZZ_EXAMPLES=400 WS_FUZZ_RANDOM=1 searches longer.
FUZZ = settings(MIXED_FUZZ, max_examples=int(os.environ.get("WAFERSIM_FUZZ_EXAMPLES", "8")))
#: Device functions with run-time early returns (plain Python functions in the reference: every number in
#: them an np.int32 / np.float32 so that the reference stays in the two 32-bit types).
CONTROL_HELPERS = """
STEPS = (1, -2, 3)


@ws.jit
def first_hit(a, n):
    for k in range(n):
        if (a + np.int32(k)) % np.int32(3) == np.int32(0):
            return np.int32(k)
    return np.int32(-1)


@ws.jit
def clampf(x, lo, hi):
    if x < lo:
        return lo
    if x > hi:
        return hi
    return x


@ws.jit
def settle(a, b):
    k = np.int32(0)
    s = a
    while k < np.int32(6):
        k += np.int32(1)
        if s % np.int32(2) == np.int32(0):
            s = s // np.int32(2)
            continue
        if s > b:
            return s, k
        s = s * np.int32(3) + np.int32(1)
        if s > np.int32(1000):
            break
    return -s, k


@ws.jit
def grid_find(a, b):
    for i in range(3):
        for j in range(4):
            if j > i + np.int32(1):
                break
            if np.int32(i) * b + np.int32(j) == a:
                return np.int32(i * 10 + j)
    return first_hit(a, b & np.int32(3))


@ws.jit
def pick(x, i):
    acc = x
    for m in STEPS:
        if i == m:
            break
        acc = acc * np.float32(0.5) + np.float32(m)
        if acc > np.float32(4.0):
            return acc, np.int32(m)
    return acc, i


@ws.jit
def scaled(x, s=None):
    if s is None:  # folded: called without s, the rest of the body is never compiled (nor run)
        return x
    return x * s


@ws.jit
def restep(a):
    STEPS = a * np.int32(2)  # a local named like the module's tuple: assigned before it is read
    if STEPS > np.int32(3):
        return STEPS
    return np.int32(pick(np.float32(0.0), a % np.int32(4))[1])  # (pick reads the module's STEPS)


@ws.jit
def mark(buf, k, v):
    if v > np.int32(5):
        return  # a bare return and a `return None`: a statement call, its None never used
    for m in range(3):
        if buf[(k + np.int32(m)) & np.int32(3)] == v:
            return None
        buf[k] += v & np.int32(7)
    if buf[k] > np.int32(9):
        return buf[k]  # a value here, None elsewhere: fine, as mark is only called as a statement


@ws.jit
def bump(buf, k):
    buf[k] += np.int32(1)
    if buf[k] > np.int32(3):
        return buf[k]
    buf[k] = -buf[k]
    return np.int32(0)
"""
#: Operators of augmented assignments: (kernel operator, how the reference writes `t op= v`).
INT_AUG = ["+", "-", "*", "//", "%", "&", "|", "^", "<<", ">>", "**"]
FLOAT_AUG = ["+", "-", "*", "/", "//", "%", "**"]


def _b(value) -> np.int32:
    """A bool used as a number: Python's True is 1 (NumPy's bools would add as a logical or)."""
    return np.int32(bool(value))


def _augx(value):
    return value


MARKERS = {"_B": _b, "_BOOLC": _b, "_TOF": np.float32, "_AUGX": _augx, "_POWOP": _pow, "_SHLOP": REFERENCE_MARKERS["_SHL"],
           "_SHROP": REFERENCE_MARKERS["_SHR"]}
#: Markers for calls of the `operator` module whose reference is another marker's (`operator.pow` of a float32
#: is one fpow; `operator.lshift` wraps as `<<`).
OPERATOR_MARKERS = {"_POWOP": "pow", "_SHLOP": "lshift", "_SHROP": "rshift"}


class ControlToKernel(ToKernel):
    """`ToKernel`, and: `_B(c)` -> `c`, `_BOOLC(v)` -> `bool(v)`, `_TOF(v)` -> `float(v)`,
    `t = _AUGX(t <op> v)` -> `t <op>= v`."""

    def visit_Call(self, node: ast.Call):
        name = node.func.id if isinstance(node.func, ast.Name) else None
        if name == "_B":
            return self.visit(node.args[0])
        if name in ("_TOF", "_BOOLC"):  # (bool of a number: an int32 0 or 1, Python's truth, nan true)
            func = "float" if name == "_TOF" else "bool"
            return ast.Call(ast.Name(func, ast.Load()), [self.visit(node.args[0])], [])
        if name in OPERATOR_MARKERS:
            func = ast.Attribute(ast.Name("operator", ast.Load()), OPERATOR_MARKERS[name], ast.Load())
            return ast.Call(func, [self.visit(arg) for arg in node.args], [])
        return super().visit_Call(node)

    def visit_Assign(self, node: ast.Assign):
        value = node.value
        if isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id == "_AUGX":
            binop = self.visit(value.args[0])  # (markers such as _SHL become the operator itself)
            assert isinstance(binop, ast.BinOp), ast.dump(binop)
            return ast.AugAssign(node.targets[0], binop.op, binop.right)
        return self.generic_visit(node)


def to_kernel(source: str) -> str:
    return ast.unparse(ast.fix_missing_locations(ControlToKernel().visit(ast.parse(source))))


class ControlGen(MixedGen):
    """`MixedGen` with the forms above mixed in (a quarter of the nodes)."""

    def __init__(self, draw, branching: bool) -> None:
        super().__init__(draw, branching)
        self.conditions = 0  # how many conditions the expression being drawn is in
        self.tuple_vars = False  # whether the body starts `tp = (i0, i1)`, `tc = (1, 2)` (then rebinds them)

    def int_expr(self, depth: int) -> str:
        if depth <= 0 or not self.mine():
            return super().int_expr(depth)
        kind = self.choice(["bool", "bool", "plus", "toi", "first_hit", "grid_find", "settle", "bump", "operator",
                            "operator", "boolcall", "restep"])
        if kind == "restep":
            return f"restep({self.int_expr(depth - 1)} % _I(6))"
        if kind == "boolcall":  # bool() of a run-time int or float (nan, -0.0 and 0 among the values drawn)
            value = self.int_expr(depth - 1) if self.draw(st.booleans()) else self.float_expr(depth - 1)
            return f"(_BOOLC({value}) {self.choice(['+', '-', '*'])} {self.int_expr(depth - 1)})"
        if kind == "operator":  # the `operator` module's other functions (fuzz.py draws add, sub, mul)
            a, b = self.int_expr(depth - 1), self.int_expr(depth - 1)
            return self.choice([f"operator.{self.choice(['floordiv', 'mod', 'and_', 'or_', 'xor'])}({a}, {b})",
                                f"operator.{self.choice(['neg', 'pos', 'invert', 'abs'])}({a})",
                                f"operator.pow({a}, _I({self.draw(st.integers(0, 4))}))",
                                f"_{self.choice(['SHL', 'SHR'])}OP({a}, _I({self.draw(st.integers(0, 31))}))",
                                f"_B(operator.{self.choice(['lt', 'le', 'gt', 'ge', 'eq', 'ne'])}({a}, {b}))",
                                f"_B(operator.not_({a}))"])
        if kind == "bool":  # a comparison (or not / and / or of them) as a number
            return f"(_B({self.cond(depth - 1)}) {self.choice(['+', '-', '*'])} {self.int_expr(depth - 1)})"
        if kind == "plus":
            return f"(+{self.int_expr(depth - 1)})"
        if kind == "toi":  # int() of a run-time float32 (an out-of-range one discards the example)
            return self.to_int(depth - 1)
        if kind == "first_hit":
            return f"first_hit({self.int_expr(depth - 1)}, {self.int_expr(0)} & _I(7))"
        if kind == "grid_find":
            return f"grid_find({self.int_expr(depth - 1)} % _I(40), {self.int_expr(0)} % _I(9))"
        if kind == "settle":
            return f"settle({self.int_expr(depth - 1)}, {self.int_expr(depth - 1)})[{self.draw(st.integers(0, 1))}]"
        if self.conditions:  # the reference's _CMP marker evaluates every operand, where `a < b < bump(...)`
            # calls bump only when a < b: a helper with side effects stays out of conditions
            return f"first_hit({self.int_expr(depth - 1)}, _I(4))"
        return f"bump(li, {self.index(0)})"

    def cond(self, depth: int, top: bool = False) -> str:
        self.conditions += 1
        try:
            return super().cond(depth, top)
        finally:
            self.conditions -= 1

    def float_expr(self, depth: int) -> str:
        if depth <= 0 or not self.mine():
            return super().float_expr(depth)
        self.exact_consumer = False  # (MixedGen's: for this expression, not its operands)
        kind = self.choice(["tof", "plus", "clampf", "pick", "guarded", "operator", "scaled"])
        if kind == "scaled":  # a helper's `s=None` default: `if s is None: return x` then code for a given s
            if self.draw(st.booleans()):
                return f"scaled({self.float_expr(depth - 1)})"
            return f"scaled({self.float_expr(depth - 1)}, {self.choice(['_R(0.5)', '_R(-2.0)', self.float_expr(0)])})"
        if kind == "operator":
            a, b = self.mixed_operands(depth - 1, 2)
            return self.choice([f"operator.{self.choice(['truediv', 'floordiv', 'mod'])}({a}, {b})",
                                f"operator.{self.choice(['neg', 'pos', 'abs'])}({self.float_expr(depth - 1)})",
                                f"_POWOP({a}, {self.choice(['_R(0.5)', '_R(2.0)', '_R(3.0)'])})"])
        if kind == "tof":
            return f"_TOF({self.int_expr(depth - 1)})"
        if kind == "plus":
            return f"(+{self.float_expr(depth - 1)})"
        if kind == "clampf":
            lo, hi = self.float_expr(depth - 1), self.float_expr(0)
            return f"clampf({self.float_expr(depth - 1)}, {lo}, {hi})"
        if kind == "pick":
            return f"pick({self.float_expr(depth - 1)}, {self.int_expr(0)} % _I(4))[0]"
        # a helper call the condition may skip: in a conditional expression or behind and / or
        call = f"clampf({self.float_expr(depth - 1)}, _R(-1.0), _R(2.0))"
        if not self.branching:
            return f"({call} * {self.float_expr(0)})"
        if self.draw(st.booleans()):
            return f"({call} if {self.cond(depth - 1)} else {self.float_expr(depth - 1)})"
        test = f"({self.cond(0)}) {self.choice(['and', 'or'])} first_hit({self.int_expr(0)}, _I(3)) > _I(0)"
        return f"({self.float_expr(depth - 1)} if {test} else {call})"

    def aug(self, pad: str) -> list[str]:
        """`t op= v` on a name or an element of a local array, written `t = _AUGX(t op v)` for the reference."""
        if self.draw(st.booleans()):
            target = self.choice(INT_VARS + [f"li[{self.index(0)}]"])
            op = self.choice(INT_AUG)
            if op in ("<<", ">>"):  # (a count of 32 or more, and so a negative one, is fine at run time)
                count = self.choice([f"_I({self.draw(st.integers(0, 31))})", f"({self.int_expr(0)} % _I(40))"])
                return [f"{pad}{target} = _AUGX({'_SHL' if op == '<<' else '_SHR'}({target}, {count}))"]
            if op == "**":  # a constant exponent: int32 ** a run-time int32 is refused
                return [f"{pad}{target} = _AUGX({target} ** _I({self.draw(st.integers(0, 4))}))"]
            value = self.int_expr(self.draw(st.integers(0, 2)))
            return [f"{pad}{target} = _AUGX({target} {op} {value})"]
        target = self.choice(FLOAT_VARS + [f"la[{self.index(0)}]"])
        op = self.choice(FLOAT_AUG)
        if op == "**":  # a float32 exponent: one fpow (a whole constant one is `v * v`, ...: _POWI)
            if self.draw(st.booleans()):
                return [f"{pad}{target} = _AUGX(_POWI({target}, _I({self.draw(st.integers(-1, 2))})))"]
            return [f"{pad}{target} = _AUGX(_POW({target}, {self.choice(['_R(0.5)', '_R(3.0)', '_R(2.0)'])}))"]
        value = self.mixed_operand(self.draw(st.integers(0, 2)))
        return [f"{pad}{target} = _AUGX({target} {op} {value})"]

    def loop_body(self, indent: int, nest: int) -> list[str]:
        """A loop body with `if <cond>: break` / `continue` among its statements."""
        pad = "    " * indent
        lines: list[str] = []
        for _ in range(self.draw(st.integers(1, 3))):
            if self.draw(st.integers(0, 2)) == 0:
                lines += [f"{pad}if {self.cond(1)}:", f"{pad}    {self.choice(['break', 'continue'])}"]
                if self.draw(st.integers(0, 2)) == 0:  # after the exit, statements that never run (not compiled):
                    # one drawn as any other, or one the compiler would refuse (a float32 into an int32 variable)
                    lines += self.choice([self.statement(indent + 1, nest),
                                          [f"{pad}    {self.choice(INT_VARS)} = {self.float_expr(0)}"]])
            lines += self.statement(indent, nest)
        return lines

    def statement(self, indent: int, nest: int) -> list[str]:
        if not self.mine():
            return super().statement(indent, nest)
        pad = "    " * indent
        kinds = ["aug", "aug", "aug", "elemswap", "ordered", "rotate", "annotated", "mark"]
        if self.branching and nest < 2:
            kinds += ["forbc", "forbc", "tuplebc", "whiletrue", "whilecond", "tupleif"]
        if self.tuple_vars:
            kinds += ["tuplevar", "tuplevar"] + (["tupleskip"] * 3 if self.branching and nest < 2 else [])
        kind = self.choice(kinds)
        if kind == "tuplevar":  # a tuple variable of run-time numbers or of constants rebound, or read
            return [pad + self.choice(["tp = (tp[1], tp[0])", f"tp = ({self.int_expr(1)}, tp[0])",
                                       "tc = (tc[1], tc[0])", "tc = (tc[0] + tp[1], tc[1])",
                                       f"{self.choice(INT_VARS)} = tp[0] - tc[1] + tp[1] * tc[0]"])]
        if kind == "tupleskip":  # an unrolled loop rebinding them after a run-time break or continue: on the paths
            # that skipped a rebinding the tuple is the one it was
            var = f"k{self.loops}"
            self.loops += 1
            items = ", ".join(f"_I({v})" for v in self.draw(st.lists(st.integers(-4, 4), min_size=1, max_size=3)))
            self.loop_vars.append(var)
            lines = [f"{pad}for {var} in ({items},):", f"{pad}    if {self.cond(1)}:",
                     f"{pad}        {self.choice(['break', 'continue'])}"]
            lines += self.statement(indent + 1, nest + 1) if self.draw(st.booleans()) else []
            lines += [pad + "    " + self.choice(["tp = (tp[1], tp[0])", f"tp = ({self.int_expr(1)}, tp[0])",
                                                  "tc = (tc[1], tc[0])", "tc = (tc[0] + tp[1], tc[1])"])]
            self.loop_vars.pop()
            return lines + [f"{pad}{self.choice(INT_VARS)} = tp[0] - tc[1] + tp[1] * tc[0]"]
        if kind == "aug":
            return self.aug(pad)
        if kind == "mark":  # a helper called as a statement, left by `return` and `return None` on some paths
            return [f"{pad}mark(li, {self.index(0)}, {self.int_expr(1)})"]
        if kind == "elemswap":  # two elements (maybe one) exchanged: both read before either is written
            j, k = self.index(1, target=True), self.index(1, target=True)
            name = self.choice(["li", "la"])
            return [f"{pad}{name}[{j}], {name}[{k}] = {name}[{k}], {name}[{j}]"]
        if kind == "ordered":  # left to right: the element's index reads the name just assigned
            name = self.choice(INT_VARS)
            first = [f"{name}, li[{name} & _I(3)] = {self.int_expr(1)}, {self.int_expr(1)}",
                     f"li[{name} & _I(3)], {name} = {self.int_expr(1)}, {self.int_expr(1)}"]
            return [pad + self.choice(first)]
        if kind == "rotate":  # three-way rotation, nested targets
            a, b, c = self.draw(st.permutations(INT_VARS))
            if self.draw(st.booleans()):
                return [f"{pad}{a}, {b}, {c} = {b}, {c}, {a}"]
            f, g = self.draw(st.permutations(FLOAT_VARS))[:2]
            return [f"{pad}({a}, {f}), {b} = ({b}, {g}), {self.int_expr(1)}"]
        if kind == "tupleif":  # a conditional expression choosing between tuples: only the chosen one evaluated
            a, f = self.choice(INT_VARS), self.choice(FLOAT_VARS)
            chosen = f"({self.int_expr(1)}, {self.float_expr(1)})"
            other = self.choice([f"({self.int_expr(1)}, {self.float_expr(1)})",
                                 f"({self.choice(INT_VARS)}, {self.choice(FLOAT_VARS)})"])
            return [f"{pad}{a}, {f} = {chosen} if {self.cond(1)} else {other}"]
        if kind == "annotated":
            if self.draw(st.booleans()):
                return [f"{pad}{self.choice(FLOAT_VARS)}: {self.choice(['float', 'np.float32'])} = "
                        f"_F({self.int_expr(1)})"]
            return [f"{pad}{self.choice(INT_VARS)}: {self.choice(['int', 'np.int32'])} = {self.int_expr(1)}"]
        var = f"k{self.loops}"
        self.loops += 1
        if kind == "forbc":
            bounds = [str(self.draw(st.integers(-2, 5))), str(self.draw(st.integers(-2, 5)))]
            if self.draw(st.booleans()):
                bounds[self.draw(st.integers(0, 1))] = f"({self.int_expr(0)} % _I(5))"
            step = self.choice(["", ", 1", ", 2", ", -1", ", -2"])
            header = f"for {var} in range({bounds[0]}, {bounds[1]}{step}):"
        elif kind == "tuplebc":
            items = ", ".join(f"_I({v})" for v in self.draw(st.lists(st.integers(-4, 4), min_size=1, max_size=3)))
            header = f"for {var} in ({items},):"
            if self.draw(st.integers(0, 2)) == 0:  # a device function's tuple result: called once, unrolled
                header = f"for {var} in settle({self.int_expr(1)}, {self.int_expr(0)}):"
        elif kind == "whilecond":  # a counter and a drawn condition, tested before every trip
            lines = [f"{pad}{var} = 0", f"{pad}while {var} < {self.draw(st.integers(1, 3))} and ({self.cond(1)}):",
                     f"{pad}    {var} += 1"]
            return lines + self.loop_body(indent + 1, nest + 1)
        else:  # left only by its breaks; the first one bounds it
            header = "while True:"
            lines = [f"{pad}{var} = 0", pad + header, f"{pad}    {var} += 1",
                     f"{pad}    if {var} > {self.draw(st.integers(0, 3))}:", f"{pad}        break"]
            return lines + self.loop_body(indent + 1, nest + 1)
        self.loop_vars.append(var)
        lines = [pad + header]
        if self.draw(st.integers(0, 3)) == 0:  # rebinding the variable changes neither the trips nor the items
            lines.append(f"{pad}    {var} = _AUGX({var} {self.choice(['+', '*', '^'])} {self.int_expr(0)})")
        lines += self.loop_body(indent + 1, nest + 1)
        self.loop_vars.pop()
        return lines


@st.composite
def programs(draw, branching: bool):
    gen = ControlGen(draw, branching)
    gen.tuple_vars = True
    return ["    tp = (i0, i1)", "    tc = (_I(1), _I(2))"] + gen.block(1, draw(st.integers(2, 8)), 0)


def run(dev, gen_dir, body, seed, kci, kcf):
    check(dev, gen_dir, body, seed, kci, kcf, helpers=CONTROL_HELPERS, transform=to_kernel, markers=MARKERS)


@pytest.fixture(scope="module")
def few_registers():
    """A PE of 8 registers: r0 and 4 spill scratch registers leave 3 to allocate, so nearly every value of
    these kernels is spilled to SRAM and reloaded (a path kernels with 32 registers rarely take)."""
    return ws.Device(ws.WaferSpec(width=8, height=8, registers=8))


@FUZZ
@given(body=programs(branching=False), seed=st.integers(0, 2**32 - 1), **CONSTANT_ARGS)
# A negative index in a variable passed to a device function (`mark` indexes `buf[k]`): it stopped the kernel
# with "li axis 0: index -1 is out of bounds", where Python counts from the end.
@example(body=["    i0: int = (_I(-9) // i0)", "    mark(li, back1, _I(-9))", "    f0 = _AUGX(f0 + kcf)"],
         seed=0, kci=0, kcf=0.5)
# The augmented assignments `make test`'s few random draws may miss (docs/compiler.md, "Which fuzzer draws what"):
# `<<=` of a name, `**=` and `>>=` of elements (int and float), `<<=` of an element by a run-time count.
@example(body=["    i1 = _AUGX(_SHL(i1, _I(3)))", "    li[2] = _AUGX(li[2] ** _I(3))",
               "    li[back1] = _AUGX(_SHR(li[back1], (i0 % _I(40))))", "    la[1] = _AUGX(_POW(la[1], _R(3.0)))",
               "    la[back2] = _AUGX(_POWI(la[back2], _I(2)))", "    li[0] = _AUGX(_SHL(li[0], (i2 % _I(40))))",
               "    i2 = _AUGX(_SHR(i2, _I(31)))"], seed=5, kci=3, kcf=0.5)
def test_straight_line_control_kernels_match_the_reference(dev, gen_dir, body, seed, kci, kcf):
    run(dev, gen_dir, body, seed, kci, kcf)


@FUZZ
@given(body=programs(branching=True), seed=st.integers(0, 2**32 - 1), **CONSTANT_ARGS)
# int() of a conditional expression whose constant condition (`-5 in MT`: false) chooses its int32 branch: the
# int, exactly, as Python gives (the branch keeps its type). The reference converted it to float32 first, as for a
# condition known at run time (16777217 became 16777216): now the generator marks such a branch `_K` there.
@example(body=["    i0 = _TOI(+f1 if _IN(_I(-5), MT, False) else _K(i1 & _I(255) | _I(16777217)))",
               "    i2 = _TOI(f1 if _IN(kci, (_I(-9),), False) else _K(i1 | _I(-16777215)))"], seed=13936, kci=3, kcf=0.5)
def test_control_kernels_spilling_every_register_match_the_reference(few_registers, gen_dir, body, seed, kci, kcf):
    run(few_registers, gen_dir, body, seed, kci, kcf)


@FUZZ
@given(body=programs(branching=True), seed=st.integers(0, 2**32 - 1), **CONSTANT_ARGS)
# Tuples rebound after a run-time `continue` of an unrolled loop: the rebinding took effect on the path that skipped
# it too (`tc` swapped on every item, `tp`'s new registers unwritten on the skipping path).
@example(body=["    tp = (i0, i1)", "    tc = (_I(1), _I(2))", "    for k0 in (_I(0), _I(1), _I(2)):",
               "        if i2 > k0:", "            continue", "        tp = (tp[1], tp[0])",
               "        tc = (tc[1], tc[0])", "    i0 = tp[0] - tc[1] + tp[1] * tc[0]"], seed=1, kci=0, kcf=0.5)
def test_branching_control_kernels_match_the_reference(dev, gen_dir, body, seed, kci, kcf):
    run(dev, gen_dir, body, seed, kci, kcf)


#: Conditions as the fuzzers' reference writes them, and whether the compiler decides them when compiling.
CONDITIONS = {"_IN(_I(-5), MT, False)": True, "_CMP(kci, '>', _I(5))": True, "_CMP(np.sin(_R(3.0)), '>', kcf)": True,
              "_IN(i0, (), True)": None, "_CMP(i0 * _I(0), '>', _I(5))": False, "_CMP(_I(3), '<', _I(2), '<', i0)": None,
              "_IN(i1, MT, False)": False, "_CMP(first_hit(_I(3), _I(4)), '>', _I(5))": None,
              "_CMP(first_hit(i0, _I(4)), '>', _I(5))": False, "_CMP(li[0], '<', kci)": False}


def test_the_generator_tells_constant_conditions_as_the_compiler_decides(dev, gen_dir):
    """`decided_when_compiling` (which marks a conditional expression's int32 branch `_K`, of its own type, or `_F`,
    converted to float32) against the compiler: int() of `f1 if C else n` is n exactly where C is decided when
    compiling (Python's int of the int branch), int(float32(n)) where it is decided at run time (the documented
    mixed-branch rule); None (the text cannot tell) is converted written out by the generator."""
    from test_compiler_fuzz_mixed import decided_when_compiling
    lines = [f"    out[{k}] = int(f1 if {to_kernel(test)} else i0)" for k, test in enumerate(CONDITIONS)]
    source = "\n".join(["import numpy as np", "import wafersim as ws", "MT = (3, 0.5, -2, 16777216.0)",
                        CONTROL_HELPERS, "@ws.jit", "def kern(out, i0, i1, f1, li, kci: ws.constant, kcf: ws.constant):",
                        *lines, ""])
    kern = load_source(gen_dir, source).kern
    out = dev.device_array(len(CONDITIONS), np.int32)
    n = 16777217  # int32 -> float32 rounds it to 16777216
    kern[(1, 1), (1, 1)](out, n, 4, 0.5, dev.to_device(np.array([7], np.int32)), 3, 0.5)
    for (test, decided), got in zip(CONDITIONS.items(), out.copy_to_host()):
        assert decided_when_compiling(test) is decided, test
        if decided is not None:  # (the conditions are false: the int branch is chosen)
            assert got == (n if decided else int(np.float32(n))), test
