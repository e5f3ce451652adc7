"""Differential fuzzing of the `@ws.jit` compiler with Hypothesis.

Random kernels over int32 and float32 values (straight-line, and with branches: if/elif/else blocks,
conditional expressions, and/or, small `for ... in range(k)` and counted `while` loops) are rendered as
Python source text and written to a temporary module twice: once as a `@ws.jit` kernel (each PE loads its
inputs from global arrays, runs the body, stores every variable) and once as a plain Python function with
the very same body. The kernel runs on the simulator; the Python function runs on np.int32 / np.float32
scalars (so float32 rounding and int32 wrap-around apply), and every PE's results must match exactly.
Bodies also call NumPy float32 math (np.sin, np.floor, ...), use float // and %, a device function returning
a tuple with a string constant argument, loops over enumerate/zip of constant tuples, range() with a
step known only at run time, `x in (a, b, ...)` of a run-time number, range() over the last few values
before an int32 bound (with steps up to INT32_MAX: a counter stepped past its last value must not wrap
around), the `operator` module's functions, math.remainder and math.modf, `<<` / `>>` by counts of 0 to 63
(constant or run-time) and `~`, and the int32 extremes among the constants (INT32_MIN // -1). Random slice
assignments (trees of + - * / unary - min max and math functions (np.exp, abs, ...) over slices of three
local arrays and scalars, sum/min/max of slices among the scalars, the destination often overlapping an
operand, some starts read from an element of the arrays at run time) and 2-D block assignments
(`a[1:3, 0:4] = ...`, row by row, math functions included; one-row blocks also as row slices, `a[1, 0:4]`
or `a[-3, 0:4]`; columns shifted by an element of the destination the rows write, evaluated once as NumPy
does), plain or augmented (`+=`, `-=`, `*=`, `/=`), with
written-out numbers and an int32 parameter meeting float32 scalars among the scalars, are compared the
same way with NumPy. (Mixed int32/float32 scalar code, written-out constants folded next to the same values
loaded at run time, element and slice augmented assignments: tests/test_compiler_fuzz_mixed.py; break/continue in every kind of
loop, device functions with run-time early returns, every augmented operator, bools as numbers, element
tuple targets: tests/test_compiler_fuzz_control.py.)

Every constant is written as np.int32(c) / np.float32(c) and every conversion as np.int32(...) /
np.float32(...), so the Python evaluation never leaves the two 32-bit types. Examples whose reference would
create a NaN (inf - inf, 0 * inf) or cast a non-finite / out-of-range float to int32 are discarded: the
reference detects them through NumPy's floating-point errors, and float -> int overflow is saturation on the
machine but undefined in NumPy (scalar min/max with a NaN follow Python's order rules on both sides:
tests/test_compiler_operators.py).
"""
from __future__ import annotations

import os
import types
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

import wafersim as ws
from conftest import load_source

N_PE = 8
N_INT, N_FLOAT = 3, 3
INT_VARS = [f"i{k}" for k in range(N_INT)]
FLOAT_VARS = [f"f{k}" for k in range(N_FLOAT)]
FLOAT_CONSTS = [0.5, -1.25, 2.0, 3.0, -0.75, 0.1, 1.5, -3.5, 0.0]
INT_CONSTS = st.one_of(st.integers(-9, 9), st.sampled_from([100000, -70000, 8191, 8192, -8193, 65535,
                                                            -(2**31), 2**31 - 1, 2**30, 31, 32, 33]))
DIVISORS = [2, 3, 5, 7, -2, -3, -5, -1]  # -1: INT32_MIN // -1 wraps to itself, INT32_MIN % -1 is 0
FLOAT_MATH = ["sin", "cos", "arctan", "tanh", "floor", "ceil", "trunc", "expm1", "log1p", "sqrt", "rint", "degrees",
              "radians"]
#: The `operator` module's functions, the same operators in the kernel and in Python.
OPERATORS = ["operator.add", "operator.sub", "operator.mul"]
#: Functions of slices in vector trees (one `vmath` each; the reference applies the same NumPy ufunc).
VEC_FUNCTIONS = ["np.exp", "np.tanh", "np.sin", "np.floor", "np.sqrt", "abs", "np.rint", "np.log1p"]
#: Device functions the generated bodies call (plain Python functions in the reference): a tuple returned,
#: a string constant argument.
HELPERS = """
@ws.jit
def mix(a, b, how="add"):
    if how == "add":
        return b, a + b
    return a - b, b
"""



@pytest.fixture(scope="module")
def dev():
    return ws.Device(ws.WaferSpec(width=8, height=8))


@pytest.fixture(scope="module")
def gen_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("jit_fuzz")


# ----------------------------------------------------------------------------- program generator
class Gen:
    def __init__(self, draw, branching: bool) -> None:
        self.draw = draw
        self.branching = branching
        self.loop_vars: list[str] = []
        self.loops = 0

    def choice(self, options):
        return self.draw(st.sampled_from(options))

    # expressions ------------------------------------------------------
    def int_expr(self, depth: int) -> str:
        kinds = ["var", "var", "const"]
        if self.loop_vars:
            kinds.append("loop")
        if depth > 0:
            kinds += ["bin", "bin", "bin", "divmod", "neg", "abs", "minmax", "conv", "pow", "operator", "shift",
                      "invert"]
            if self.branching:
                kinds.append("ifexp")
        kind = self.choice(kinds)
        if kind == "shift":  # a count of 0..40 (32 or more: 0, or the sign for >>), constant or run-time;
            # np.int32 shifts give Python's result wrapped to int32, as the kernel's do (a negative count
            # raises in Python and is a CompileError / KernelValueError: tests/test_compiler_operators.py)
            count = (f"np.int32({self.draw(st.integers(0, 40))})" if self.draw(st.booleans())
                     else f"({self.int_expr(depth - 1)} & np.int32(63))")
            return f"({self.int_expr(depth - 1)} {self.choice(['<<', '>>'])} {count})"
        if kind == "invert":
            return f"(~{self.int_expr(depth - 1)})"
        if kind == "var":
            return self.choice(INT_VARS)
        if kind == "pow":  # np.int32 ** n wraps as the kernel's int32 does
            return f"({self.int_expr(depth - 1)} ** {self.draw(st.integers(0, 5))})"
        if kind == "const":
            return f"np.int32({self.draw(INT_CONSTS)})"
        if kind == "loop":
            return f"np.int32({self.choice(self.loop_vars)})"
        if kind == "bin":
            op = self.choice(["+", "-", "*", "&", "|", "^"])
            return f"({self.int_expr(depth - 1)} {op} {self.int_expr(depth - 1)})"
        if kind == "divmod":
            return f"({self.int_expr(depth - 1)} {self.choice(['//', '%'])} np.int32({self.choice(DIVISORS)}))"
        if kind == "operator":
            return f"{self.choice(OPERATORS)}({self.int_expr(depth - 1)}, {self.int_expr(depth - 1)})"
        if kind == "neg":
            return f"(-{self.int_expr(depth - 1)})"
        if kind == "abs":
            return f"abs({self.int_expr(depth - 1)})"
        if kind == "minmax":
            args = [self.int_expr(depth - 1) for _ in range(self.draw(st.integers(2, 3)))]
            return f"{self.choice(['min', 'max'])}({', '.join(args)})"
        if kind == "conv":
            return f"np.int32({self.float_expr(depth - 1)})"
        return f"({self.int_expr(depth - 1)} if {self.cond(depth - 1)} else {self.int_expr(depth - 1)})"

    def float_expr(self, depth: int) -> str:
        kinds = ["var", "var", "const"]
        if depth > 0:
            kinds += ["bin", "bin", "bin", "neg", "abs", "minmax", "conv", "pow", "math", "fdivmod", "operator",
                      "remainder", "modf"]
            if self.branching:
                kinds.append("ifexp")
        kind = self.choice(kinds)
        if kind == "var":
            return self.choice(FLOAT_VARS)
        if kind == "pow":  # the reference runs on NumPy float32 scalars, whose ** 2 and ** -1 use C powf and can
            # differ in the last bit from np.power (what the kernel matches: test_compiler_operators)
            return f"({self.float_expr(depth - 1)} ** {self.choice([0, 1])})"
        if kind == "const":
            return f"np.float32({self.choice(FLOAT_CONSTS)})"
        if kind == "math":  # NumPy float32 ufuncs, the machine's math opcodes (a nan discards the example)
            return f"np.{self.choice(FLOAT_MATH)}({self.float_expr(depth - 1)})"
        if kind == "operator":
            return f"{self.choice(OPERATORS)}({self.float_expr(depth - 1)}, {self.float_expr(depth - 1)})"
        if kind == "remainder":  # exact in float64, so Python's result rounds to the machine's float32 one
            divisor = self.choice([c for c in FLOAT_CONSTS if c != 0.0])
            return f"np.float32(math.remainder({self.float_expr(depth - 1)}, np.float32({divisor})))"
        if kind == "modf":  # (fractional part, integral part): both exact
            return f"np.float32(math.modf({self.float_expr(depth - 1)})[{self.choice([0, 1])}])"
        if kind == "fdivmod":  # Python's float // and % (np.float32 scalars: npy_divmod, as the machine)
            divisor = self.choice([c for c in FLOAT_CONSTS if c != 0.0])
            return f"({self.float_expr(depth - 1)} {self.choice(['//', '%'])} np.float32({divisor}))"
        if kind == "bin":
            op = self.choice(["+", "-", "*"])
            return f"({self.float_expr(depth - 1)} {op} {self.float_expr(depth - 1)})"
        if kind == "neg":
            return f"(-{self.float_expr(depth - 1)})"
        if kind == "abs":
            return f"abs({self.float_expr(depth - 1)})"
        if kind == "minmax":
            args = [self.float_expr(depth - 1) for _ in range(self.draw(st.integers(2, 3)))]
            return f"{self.choice(['min', 'max'])}({', '.join(args)})"
        if kind == "conv":
            return f"np.float32({self.int_expr(depth - 1)})"
        return f"({self.float_expr(depth - 1)} if {self.cond(depth - 1)} else {self.float_expr(depth - 1)})"

    def cond(self, depth: int, top: bool = False) -> str:
        kinds = ["icmp", "fcmp", "member"]
        if self.branching and depth > 0:
            kinds += ["not", "and", "or", "chain"]
        if self.branching and top:
            kinds.append("truthy")  # a bare number as a condition (and/or operands must share a type)
        kind = self.choice(kinds)
        op = self.choice(["<", "<=", ">", ">=", "==", "!="])
        if kind == "icmp":
            return f"{self.int_expr(max(depth, 0))} {op} {self.int_expr(max(depth, 0))}"
        if kind == "fcmp":
            return f"{self.float_expr(max(depth, 0))} {op} {self.float_expr(max(depth, 0))}"
        if kind == "member":  # `x in (a, b, ...)` of a run-time number: a tuple of its own type
            test = self.choice(["in", "not in"])
            if self.draw(st.booleans()):
                items = [f"np.int32({self.draw(INT_CONSTS)})" for _ in range(self.draw(st.integers(0, 3)))]
                return f"{self.int_expr(max(depth, 0))} {test} ({', '.join(items)}{',' if len(items) == 1 else ''})"
            items = [f"np.float32({self.choice(FLOAT_CONSTS)})" for _ in range(self.draw(st.integers(1, 3)))]
            return f"{self.float_expr(max(depth, 0))} {test} ({', '.join(items)},)"
        if kind == "not":
            return f"not ({self.cond(depth - 1)})"
        if kind in ("and", "or"):
            return f"({self.cond(depth - 1)}) {kind} ({self.cond(depth - 1)})"
        if kind == "chain":
            op2 = self.choice(["<", "<=", "!="])
            return f"{self.int_expr(0)} {op} {self.int_expr(0)} {op2} {self.int_expr(0)}"
        return self.choice(INT_VARS + FLOAT_VARS)

    # statements -------------------------------------------------------
    def block(self, indent: int, count: int, nest: int) -> list[str]:
        lines: list[str] = []
        for _ in range(count):
            lines += self.statement(indent, nest)
        return lines

    def statement(self, indent: int, nest: int) -> list[str]:
        pad = "    " * indent
        kinds = ["int", "int", "float", "float", "aug", "tuple", "chain", "helper"]
        if self.branching and nest < 2:
            kinds += ["if", "if", "for", "while", "zipfor", "stepfor", "edgefor"]
        kind = self.choice(kinds)
        depth = self.draw(st.integers(1, 3))
        if kind == "helper":  # a device function returning a tuple, with a string constant argument
            names = INT_VARS if self.draw(st.booleans()) else FLOAT_VARS
            first, second = self.draw(st.permutations(names))[:2]
            make = self.int_expr if names is INT_VARS else self.float_expr
            how = self.choice(["add", "sub"])
            return [f"{pad}{first}, {second} = mix({make(depth)}, {make(depth)}, {how!r})"]
        if kind in ("zipfor", "stepfor", "edgefor"):
            var = f"k{self.loops}"
            self.loops += 1
            if kind == "zipfor":  # unrolled: a pair of constants per trip, through enumerate and zip
                firsts = tuple(self.draw(st.lists(st.integers(-5, 5), min_size=0, max_size=3)))
                seconds = tuple(self.draw(st.lists(st.integers(-5, 5), min_size=0, max_size=3)))
                header = f"for {var}, ({var}a, {var}b) in enumerate(zip({firsts!r}, {seconds!r})):"
                names = [var, f"{var}a", f"{var}b"]
            elif kind == "edgefor":  # a few values next to an int32 bound: a counter stepped past the last
                # one would wrap around (Python's range never does); stop and step constant or run-time
                up = self.draw(st.booleans())
                bound = self.choice([2**31 - 1, 2**31 - 4] if up else [-(2**31), -(2**31) + 3])
                size = self.choice([2, 3, 7, 2**30, 2**31 - 1])
                start = f"(np.int32({bound}) {'-' if up else '+'} abs({self.int_expr(0)}) % np.int32(9))"
                stop = f"np.int32({bound})"
                if self.draw(st.booleans()):  # the same stop, known only at run time
                    stop = f"({self.int_expr(0)} * np.int32(0) + {stop})"
                step = f"np.int32({size if up else -size})"
                if self.draw(st.booleans()):  # known only at run time
                    step = f"(abs({self.int_expr(0)}) % np.int32(2) {'+' if up else '-'} np.int32({size}))"
                header = f"for {var} in range({start}, {stop}, {step}):"
                names = [var]
            else:  # range with a step known only at run time, up or down
                start, stop = self.draw(st.integers(-3, 6)), self.draw(st.integers(-3, 6))
                step = f"max(abs({self.int_expr(0)}) % np.int32(3), np.int32(1))"
                if self.draw(st.booleans()):
                    start, stop, step = stop, start, f"-{step}"
                header = f"for {var} in range({start}, {stop}, {step}):"
                names = [var]
            self.loop_vars += names
            lines = [pad + header] + self.block(indent + 1, self.draw(st.integers(1, 3)), nest + 1)
            del self.loop_vars[-len(names):]
            return lines
        if kind == "while":
            counter = f"w{self.loops}"
            self.loops += 1
            lines = [f"{pad}{counter} = 0", f"{pad}while {counter} < {self.draw(st.integers(0, 3))}:"]
            lines += self.block(indent + 1, self.draw(st.integers(1, 3)), nest + 1)
            return lines + [f"{pad}    {counter} += 1"]
        if kind == "int":
            return [f"{pad}{self.choice(INT_VARS)} = {self.int_expr(depth)}"]
        if kind == "float":
            return [f"{pad}{self.choice(FLOAT_VARS)} = {self.float_expr(depth)}"]
        if kind == "tuple":  # targets take the values of the right side evaluated first (a swap, fib, ...)
            first, second = self.draw(st.permutations(INT_VARS + FLOAT_VARS))[:2]
            values = [self.int_expr(depth) if name in INT_VARS else self.float_expr(depth) for name in (first, second)]
            return [f"{pad}{first}, {second} = {values[0]}, {values[1]}"]
        if kind == "chain":  # every target gets the one value, evaluated once
            names = INT_VARS if self.draw(st.booleans()) else FLOAT_VARS
            first, second = self.draw(st.permutations(names))[:2]
            value = self.int_expr(depth) if names is INT_VARS else self.float_expr(depth)
            return [f"{pad}{first} = {second} = {value}"]
        if kind == "aug":
            if self.draw(st.booleans()):
                return [f"{pad}{self.choice(INT_VARS)} {self.choice(['+=', '-=', '*=', '^='])} {self.int_expr(depth)}"]
            return [f"{pad}{self.choice(FLOAT_VARS)} {self.choice(['+=', '-=', '*='])} {self.float_expr(depth)}"]
        if kind == "if":
            lines = [f"{pad}if {self.cond(2, top=True)}:"]
            lines += self.block(indent + 1, self.draw(st.integers(1, 3)), nest + 1)
            for _ in range(self.draw(st.integers(0, 2))):
                lines.append(f"{pad}elif {self.cond(1, top=True)}:")
                lines += self.block(indent + 1, self.draw(st.integers(1, 2)), nest + 1)
            if self.draw(st.booleans()):
                lines.append(f"{pad}else:")
                lines += self.block(indent + 1, self.draw(st.integers(1, 3)), nest + 1)
            return lines
        var = f"k{self.loops}"
        self.loops += 1
        lines = [f"{pad}for {var} in range({self.draw(st.integers(0, 3))}):"]
        self.loop_vars.append(var)
        lines += self.block(indent + 1, self.draw(st.integers(1, 3)), nest + 1)
        self.loop_vars.pop()
        return lines


@st.composite
def programs(draw, branching: bool):
    gen = Gen(draw, branching)
    return gen.block(1, draw(st.integers(2, 8)), 0)


def render(body: list[str]) -> str:
    def column(k: int, width: int) -> int:  # odd columns by negative indices, which count from the end
        return k - width if k % 2 else k

    loads = ([f"    i{k} = xi[p, {column(k, N_INT)}]" for k in range(N_INT)]
             + [f"    f{k} = xf[p, {column(k, N_FLOAT)}]" for k in range(N_FLOAT)])
    stores = ([f"    oi[p, {column(k, N_INT)}] = i{k}" for k in range(N_INT)]
              + [f"    of[p, {column(k, N_FLOAT)}] = f{k}" for k in range(N_FLOAT)])
    params = ", ".join(INT_VARS + FLOAT_VARS)
    return "\n".join(["import math", "import operator", "import numpy as np", "import wafersim as ws", HELPERS, "", "@ws.jit",
                      "def kern(xi, xf, oi, of):", "    p = ws.grid(1)", *loads, *body, *stores, "", "",
                      f"def ref({params}):", *body, f"    return ({params},)", ""])


load = load_source  # see conftest.py


def inputs(seed: int):
    rng = np.random.default_rng(seed)
    xi = rng.integers(-30, 31, (N_PE, N_INT)).astype(np.int32)
    wide = rng.random((N_PE, N_INT)) < 0.15
    xi[wide] = rng.integers(-(2**31), 2**31, int(wide.sum()), dtype=np.int64).astype(np.int32)
    xf = rng.uniform(-4, 4, (N_PE, N_FLOAT)).astype(np.float32)
    special = rng.random((N_PE, N_FLOAT)) < 0.15
    xf[special] = rng.choice(np.array([0.0, 1.0, -1.0, 0.5], np.float32), int(special.sum()))
    return xi, xf


def check(dev, directory, body: list[str], seed: int) -> None:
    source = render(body)
    module = load(directory, source)
    # The reference calls the device functions as the plain Python functions they are.
    reference = types.FunctionType(module.ref.__code__, dict(vars(module), mix=module.mix.py_func))
    xi, xf = inputs(seed)
    want_i = np.zeros((N_PE, N_INT), np.int32)
    want_f = np.zeros((N_PE, N_FLOAT), np.float32)
    with np.errstate(over="ignore", invalid="raise", divide="raise"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for p in range(N_PE):
            args = [np.int32(v) for v in xi[p]] + [np.float32(v) for v in xf[p]]
            try:
                result = reference(*args)
            except (FloatingPointError, OverflowError, ValueError):
                assume(False)  # a NaN or an undefined float -> int32 cast: outside what this test compares
            for k in range(N_INT):
                assert isinstance(result[k], np.int32), (source, type(result[k]))
                want_i[p, k] = result[k]
            for k in range(N_FLOAT):
                assert isinstance(result[N_INT + k], np.float32), (source, type(result[N_INT + k]))
                want_f[p, k] = result[N_INT + k]
    d_oi = dev.device_array((N_PE, N_INT), np.int32)
    d_of = dev.device_array((N_PE, N_FLOAT), np.float32)
    # (every generated loop is short: a loop that runs on, e.g. a wrapped-around counter, fails fast)
    module.kern[(1, 1), (N_PE, 1)](dev.to_device(xi), dev.to_device(xf), d_oi, d_of, max_cycles=2e6)
    got_i, got_f = d_oi.copy_to_host(), d_of.copy_to_host()
    bad = [p for p in range(N_PE) if not (np.array_equal(got_i[p], want_i[p]) and np.array_equal(got_f[p], want_f[p]))]
    assert not bad, (f"kernel differs from Python on PE(s) {bad}\n{source}\n"
                     + "\n".join(f"PE {p}: inputs {list(xi[p])} {list(xf[p])}\n  want {list(want_i[p])} "
                                 f"{list(want_f[p])}\n  got  {list(got_i[p])} {list(got_f[p])}" for p in bad[:3]))


# WAFERSIM_FUZZ_EXAMPLES=2000 WS_FUZZ_RANDOM=1 runs a longer, non-deterministic search
FUZZ = settings(max_examples=int(os.environ.get("WAFERSIM_FUZZ_EXAMPLES", "30")), deadline=None,
                derandomize=not os.environ.get("WS_FUZZ_RANDOM"),
                suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow, HealthCheck.data_too_large])


@FUZZ
@given(body=programs(branching=False), seed=st.integers(0, 2**32 - 1))
def test_straight_line_kernels_match_python(dev, gen_dir, body, seed):
    check(dev, gen_dir, body, seed)


@FUZZ
@given(body=programs(branching=True), seed=st.integers(0, 2**32 - 1))
def test_branching_kernels_match_python(dev, gen_dir, body, seed):
    check(dev, gen_dir, body, seed)


# ----------------------------------------------------------------------------- slice expression trees
VEC_SIZE = 8
VEC_ARRAYS = ("a", "b", "c")
VEC_SCALARS = ("s", "t", "np.float32(0.5)", "np.float32(-1.25)", "(s * t)", "sum(b[1:5])", "min(c[0:3])",
               "max(a[2:8])", "0.5", "-1.25", "(s + 3)")  # reductions: evaluated, as NumPy does, before the
# destination is written; written-out numbers are folded into the kernel as float32 constants.
#: The NumPy text of a written-out number: a float32, as the kernel's (docs/python-supported.md: `float` values
#: are float32, math functions of constants folded with the float32 ufuncs). NumPy keeps a bare Python float
#: float32 only as a weak scalar beside a float32 operand: `np.exp(-0.5)` is a float64, which made
#: `c[3:4] += np.exp((-0.5))` add in float64 (7 ulps off after cancellation).
WRITTEN_NUMBERS = {"0.5": "np.float32(0.5)", "-1.25": "np.float32(-1.25)"}
#: (kernel, NumPy) scalars where the int32 parameter `n` meets a float32 (converted to float32 first).
MIXED_SCALARS = (("(n * s)", "(np.float32(n) * s)"), ("(t - n)", "(t - np.float32(n))"),
                 ("(n / 3)", "(np.float32(n) / np.float32(3))"), ("(n + 0.1)", "(np.float32(n) + np.float32(0.1))"),
                 ("max(n, s)", "max(np.float32(n), s)"), ("(n if s > t else t)", "(np.float32(n) if s > t else t)"))
N_VALUES = (3, -7, 100000, 16777217, 33554431)
#: Slice and block assignments: plain, or augmented (`a[0:4] += ...` is `a[0:4] = a[0:4] + (...)` in NumPy too).
ASSIGN_OPS = ("=", "=", "+=", "-=", "*=", "/=")


@st.composite
def vector_slice(draw, name: str, length: int) -> str:
    """`name[start:start + length]`, or (one draw in three, when it fits) a start known only at run time, shifted
    by 0 or 1 by an element of one of the arrays: `a[2 + (1 if c[5] > 0 else 0):2 + (1 if c[5] > 0 else 0) + 3]`
    (the `s:s + K` form, a constant length). In an augmented assignment's target it is evaluated once, before
    the right side, as Python does; the right side's slices are read before the destination is written."""
    if length < VEC_SIZE and draw(st.integers(0, 2)) == 0:
        start = draw(st.integers(0, VEC_SIZE - length - 1))
        shift = f"(1 if {draw(st.sampled_from(VEC_ARRAYS))}[{draw(st.integers(0, VEC_SIZE - 1))}] > 0 else 0)"
        return f"{name}[{start} + {shift}:{start} + {shift} + {length}]"
    start = draw(st.integers(0, VEC_SIZE - length))
    return f"{name}[{start}:{start + length}]"


@st.composite
def vector_trees(draw, length: int, depth: int):
    """(kernel text, NumPy text) of a random tree of + - * / unary - min max over slices and scalars (a scalar
    divided by a slice too: `1.0 / a[0:4]`, a vfill then a vdiv)."""
    kinds = ["slice", "slice", "scalar"] + (["bin", "bin", "neg", "minmax", "fn"] if depth > 0 else [])
    kind = draw(st.sampled_from(kinds))
    if kind == "slice":
        text = draw(vector_slice(draw(st.sampled_from(VEC_ARRAYS)), length))
        return text, text
    if kind == "scalar":
        if draw(st.integers(0, 3)) == 0:
            return draw(st.sampled_from(MIXED_SCALARS))
        text = draw(st.sampled_from(VEC_SCALARS))
        return text, WRITTEN_NUMBERS.get(text, text)
    if kind == "neg":
        kernel, numpy = draw(vector_trees(length, depth - 1))
        return f"(-{kernel})", f"(-{numpy})"
    if kind == "fn":  # a math function of a subtree (of a scalar, the scalar instruction)
        kernel, numpy = draw(vector_trees(length, depth - 1))
        name = draw(st.sampled_from(VEC_FUNCTIONS))
        return f"{name}({kernel})", f"{name}({numpy})"
    if kind == "bin":
        op = draw(st.sampled_from(["+", "-", "*", "/"]))
        (kl, nl) = draw(vector_trees(length, depth - 1))
        (kr, nr) = draw(vector_trees(length, depth - 1))
        return f"({kl} {op} {kr})", f"({nl} {op} {nr})"
    (kl, nl) = draw(vector_trees(length, depth - 1))
    (kr, nr) = draw(vector_trees(length, depth - 1))
    name = draw(st.sampled_from(["min", "max"]))
    return f"{name}({kl}, {kr})", f"np.{'minimum' if name == 'min' else 'maximum'}({nl}, {nr})"


@st.composite
def slice_assignments(draw):
    length = draw(st.integers(1, VEC_SIZE))
    target = draw(vector_slice(draw(st.sampled_from(VEC_ARRAYS)), length))
    kernel, numpy = draw(vector_trees(length, draw(st.integers(1, 4))))
    return f"{target} {draw(st.sampled_from(ASSIGN_OPS))}", kernel, numpy


def render_slice_assignment(target: str, kernel_expr: str, numpy_expr: str) -> str:
    fill = "\n".join(f"        {name}[i] = x[{k * VEC_SIZE} + i]" for k, name in enumerate(VEC_ARRAYS))
    store = "\n".join(f"        out[{k * VEC_SIZE} + i] = {name}[i]" for k, name in enumerate(VEC_ARRAYS))
    arrays = "\n".join(f"    {name} = ws.local.array({VEC_SIZE}, np.float32)" for name in VEC_ARRAYS)
    return f"""import numpy as np
import wafersim as ws


@ws.jit
def kern(x, out, s, t, n):
{arrays}
    for i in range({VEC_SIZE}):
{fill}
    {target} {kernel_expr}
    for i in range({VEC_SIZE}):
{store}


def ref(x, s, t, n):
    {", ".join(VEC_ARRAYS)} = (x[{0}:{VEC_SIZE}].copy(), x[{VEC_SIZE}:{2 * VEC_SIZE}].copy(),
                               x[{2 * VEC_SIZE}:{3 * VEC_SIZE}].copy())
    {target} {numpy_expr}
    return np.concatenate([{", ".join(VEC_ARRAYS)}])
"""


@FUZZ
@given(assignment=slice_assignments(), seed=st.integers(0, 2**32 - 1), n=st.sampled_from(N_VALUES))
@example(assignment=("c[3:4] +=", "np.exp((-0.5))", "np.exp((-np.float32(0.5)))"), seed=0, n=3)  # float32 exp
def test_slice_expression_trees_match_numpy(dev, gen_dir, assignment, seed, n):
    module = load(gen_dir, render_slice_assignment(*assignment))
    rng = np.random.default_rng(seed)
    x = rng.uniform(-4, 4, len(VEC_ARRAYS) * VEC_SIZE).astype(np.float32)
    s, t = np.float32(rng.uniform(-2, 2)), np.float32(rng.uniform(-2, 2))
    with np.errstate(all="ignore"):
        want = module.ref(x, s, t, np.int32(n))
    d_x, d_out = dev.to_device(x), dev.device_array(x.size)
    module.kern[(1, 1), (1, 1)](d_x, d_out, s, t, n)
    np.testing.assert_array_equal(d_out.copy_to_host(), want, err_msg=f"{assignment[0]} {assignment[1]} (n={n})")


# ----------------------------------------------------------------------------- 2-D block assignments
BLOCK_ROWS, BLOCK_COLS = 4, 6


@st.composite
def block_text(draw, name: str, row: int, rows: int, col: int, cols: int, as_rows: bool, moving: str = "") -> str:
    """`name[row:row + rows, col:col + cols]`, or with `as_rows` (one row) the row slice `name[row, ...]`, its row
    counted from the start or from the end (`a[1, 0:3]`, `a[-3, 0:3]`). (A block and a row slice do not mix in
    one assignment: the compiler refuses that at the line.) `moving` (a block's columns, `col + cols` below the
    last column): `col + moving:col + moving + cols`, a shift of 0 or 1 that reads the destination, which the
    block's rows write: NumPy evaluates it once, the kernel must not evaluate it again for each row."""
    if as_rows:
        return f"{name}[{draw(st.sampled_from((row, row - BLOCK_ROWS)))}, {col}:{col + cols}]"
    if moving:
        return f"{name}[{row}:{row + rows}, {col} + {moving}:{col} + {moving} + {cols}]"
    return f"{name}[{row}:{row + rows}, {col}:{col + cols}]"


@st.composite
def moving_shift(draw, dst: str, dst_row: int, cols: int, as_rows: bool) -> str:
    """"" (most draws), or a column shift of 0 or 1 read from the destination's first row (`moving` above)."""
    if as_rows or cols >= BLOCK_COLS or draw(st.integers(0, 2)):
        return ""
    return f"(1 if {dst}[{dst_row}, {draw(st.integers(0, BLOCK_COLS - 1))}] > 0 else 0)"


@st.composite
def block_trees(draw, rows: int, cols: int, dst: str, dst_row: int, depth: int, as_rows: bool = False):
    """(kernel text, NumPy text) of a tree over blocks of the 2-D arrays a, b, c (and scalars). A block of
    the destination's array starts at the destination's row (shifted rows are refused: row by row, some would be read after being written)."""
    kinds = ["block", "block", "scalar"] + (["bin", "bin", "neg", "minmax", "fn"] if depth else [])
    kind = draw(st.sampled_from(kinds))
    if kind == "fn":  # a math function of a block: one vmath per row
        kernel, numpy = draw(block_trees(rows, cols, dst, dst_row, depth - 1, as_rows=as_rows))
        name = draw(st.sampled_from(VEC_FUNCTIONS))
        return f"{name}({kernel})", f"{name}({numpy})"
    if kind == "block":
        name = draw(st.sampled_from(VEC_ARRAYS))
        row = dst_row if name == dst else draw(st.integers(0, BLOCK_ROWS - rows))
        moving = draw(moving_shift(dst, dst_row, cols, as_rows))
        col = draw(st.integers(0, BLOCK_COLS - cols - bool(moving)))
        text = draw(block_text(name, row, rows, col, cols, as_rows, moving))
        return text, text
    if kind == "scalar":
        if draw(st.integers(0, 3)) == 0:
            return draw(st.sampled_from(MIXED_SCALARS))
        text = draw(st.sampled_from(("s", "t", "np.float32(0.5)", "(s * t)", f"{dst}[0, 0]", "0.5", "(t - 2)")))
        return text, WRITTEN_NUMBERS.get(text, text)
    if kind == "neg":
        kernel, numpy = draw(block_trees(rows, cols, dst, dst_row, depth - 1, as_rows=as_rows))
        return f"(-{kernel})", f"(-{numpy})"
    if kind == "bin":
        op = draw(st.sampled_from(["+", "-", "*", "/"]))
        kl, nl = draw(block_trees(rows, cols, dst, dst_row, depth - 1, as_rows=as_rows))
        kr, nr = draw(block_trees(rows, cols, dst, dst_row, depth - 1, as_rows=as_rows))
        return f"({kl} {op} {kr})", f"({nl} {op} {nr})"
    kl, nl = draw(block_trees(rows, cols, dst, dst_row, depth - 1, as_rows=as_rows))
    kr, nr = draw(block_trees(rows, cols, dst, dst_row, depth - 1, as_rows=as_rows))
    name = draw(st.sampled_from(["min", "max"]))
    return f"{name}({kl}, {kr})", f"np.{'minimum' if name == 'min' else 'maximum'}({nl}, {nr})"


@st.composite
def block_assignments(draw):
    rows, cols = draw(st.integers(1, BLOCK_ROWS)), draw(st.integers(1, BLOCK_COLS))
    dst = draw(st.sampled_from(VEC_ARRAYS))
    as_rows = rows == 1 and draw(st.booleans())
    row = draw(st.integers(0, BLOCK_ROWS - rows))
    moving = draw(moving_shift(dst, row, cols, as_rows))
    col = draw(st.integers(0, BLOCK_COLS - cols - bool(moving)))
    target = draw(block_text(dst, row, rows, col, cols, as_rows, moving))
    kernel, numpy = draw(block_trees(rows, cols, dst, row, draw(st.integers(1, 3)), as_rows=as_rows))
    return f"{target} {draw(st.sampled_from(ASSIGN_OPS))}", kernel, numpy


@FUZZ
@given(assignment=block_assignments(), seed=st.integers(0, 2**32 - 1), n=st.sampled_from(N_VALUES))
def test_block_assignments_match_numpy(dev, gen_dir, assignment, seed, n):
    target, kernel_expr, numpy_expr = assignment
    rows, cols = BLOCK_ROWS, BLOCK_COLS
    arrays = "\n".join(f"    {name} = ws.local.array(({rows}, {cols}), np.float32)\n"
                       f"    {name}[0:{rows}, 0:{cols}] = x[{k * rows}:{(k + 1) * rows}, 0:{cols}]"
                       for k, name in enumerate(VEC_ARRAYS))
    stores = "\n".join(f"    out[{k * rows}:{(k + 1) * rows}, 0:{cols}] = {name}[0:{rows}, 0:{cols}]"
                       for k, name in enumerate(VEC_ARRAYS))
    module = load(gen_dir, f"""import numpy as np
import wafersim as ws


@ws.jit
def kern(x, out, s, t, n):
{arrays}
    {target} {kernel_expr}
{stores}


def ref(x, s, t, n):
    a, b, c = x[0:{rows}].copy(), x[{rows}:{2 * rows}].copy(), x[{2 * rows}:].copy()
    {target} {numpy_expr}
    return np.concatenate([a, b, c])
""")
    rng = np.random.default_rng(seed)
    x = rng.uniform(-4, 4, (3 * rows, cols)).astype(np.float32)
    s, t = np.float32(rng.uniform(-2, 2)), np.float32(rng.uniform(-2, 2))
    with np.errstate(all="ignore"):
        want = module.ref(x, s, t, np.int32(n))
    d_out = dev.device_array(x.shape)
    module.kern[(1, 1), (1, 1)](dev.to_device(x), d_out, s, t, n)
    np.testing.assert_array_equal(d_out.copy_to_host(), want, err_msg=f"{target} {kernel_expr} (n={n})")
