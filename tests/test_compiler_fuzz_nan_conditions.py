"""Differential fuzzing of the `@ws.jit` compiler: nan, infinities and signed zeros in conditions, which the other
scalar fuzzers never draw (tests/test_compiler_fuzz.py and tests/test_compiler_fuzz_mixed.py discard an example
whose reference meets a nan). A compiler that turns `not (a < b)` into `a >= b`, `if a < b: X else: Y` into
`if a >= b: Y else: X`, or a `while` condition into its inverse at the loop's bottom is right for every number
but a nan; so is one that swaps the operands of `max` (Python's `max(a, b)` is `b if b > a else a`).

Random bodies over float32 values loaded at run time (nan, +-inf, +-0.0 and ordinary numbers, per PE), float
constants among them written out (`math.nan`, `math.inf`, `-0.0`), small int32 values (within 2**24, where an
int32 compares with a float32 as Python's int does) and bool variables (`b0 = f0 < f1`):

- conditions: the six comparisons, chains (`a < b <= c`), `not`, `and`/`or` of conditions, a bare float (`if f:`,
  true for a nan), `math.isnan`, `a != a`, `x in (c, d)`;
- statements: `if`/`elif`/`else` chains storing different values, conditional expressions (nested), comparisons
  stored as int32 numbers and added (`(a < b) + 2 * (not c)`), `min`/`max` of 2 or 3 operands mixing bools, int32
  and float32 (a float32 result), `abs`, and `while` loops whose condition reads a float the body changes (at most
  four trips, counted);
- arithmetic on those values: `+ - *`, and `/`, `//`, `%` by a float variable (zeros, infinities and nan among the
  divisors: IEEE's quotient, NumPy's float `//` and `%`), and `int()` / `round()` of such results stored as int32
  (a nan gives 0, an infinity or a value beyond int32 saturates, as the docs say; the reference binds `int` and
  `round` to those rules).

The reference is the same body text run by Python on np.float32 / np.int32 scalars (a condition kept or stored as a
number is written `bool(...)`, in the kernel too: NumPy's `np.bool_` adds as a logical or, and `bool()` of a float32
is Python's truth). Every PE's results must equal it bit for bit, the sign of a zero included (a nan's sign and
payload are not compared, as in tests/test_compiler_fuzz_arrays.py).
WAFERSIM_FUZZ_EXAMPLES / WS_FUZZ_RANDOM scale it as the other fuzz tests.
"""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import wafersim as ws
from conftest import compiler_fuzz_settings, load_source

N_PE, N_F, N_I, N_B, N_OUT = 8, 4, 2, 2, 12
SPECIAL = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -1.0, 2.5, -2.5, 3e38], np.float32)
#: Float constants written out in the source (a nan among them: the compiler folds comparisons with it).
FLOAT_CONSTANTS = ["math.nan", "math.inf", "-math.inf", "-0.0", "0.0", "1.0", "-2.5", "float('nan')"]
OPS = ["<", "<=", ">", ">=", "==", "!="]

FUZZ = compiler_fuzz_settings(12)


@pytest.fixture(scope="module")
def dev():
    return ws.Device(ws.WaferSpec(width=8, height=8))


@pytest.fixture(scope="module")
def gen_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("jit_fuzz_nan")


class NanGen:
    """Draws the body: floats f0..f3, ints i0, i1, bools b0, b1 (assigned first), outputs of[k] and oi[k]."""

    def __init__(self, draw) -> None:
        self.draw = draw
        self.slot_f = self.slot_i = self.loops = 0
        self.bools: list[str] = []  # (b0, b1 once assigned)

    def choice(self, options):
        return self.draw(st.sampled_from(options))

    def fleaf(self) -> str:
        return self.choice([f"f{k}" for k in range(N_F)] * 3 + FLOAT_CONSTANTS)

    def number(self, depth: int) -> str:
        """A float32 expression (an int32 or a bool may meet it: converted to float32, as the docs say)."""
        kind = self.choice(["leaf", "leaf", "int"] + ["bool"] * bool(self.bools)
                           + ["arith", "ternary", "minmax", "abs"] * (depth > 0))
        if kind == "leaf":
            return self.fleaf()
        if kind == "int":
            return self.choice(["i0", "i1", "3", "-1"])
        if kind == "bool":
            return self.choice(self.bools)
        if kind == "arith":  # `/`, `//`, `%` (IEEE's, Python's float ones) by a value known at run time
            op = self.choice(["+", "-", "*", "/", "//", "%"])
            right = self.choice([f"f{k}" for k in range(N_F)]) if op in ("/", "//", "%") else self.fleaf()
            return f"({self.number(depth - 1)} {op} {right})"
        if kind == "ternary":
            return f"({self.number(depth - 1)} if {self.cond(depth - 1)} else {self.number(depth - 1)})"
        if kind == "abs":
            return f"abs({self.number(depth - 1)})"
        args = [self.number(depth - 1) for _ in range(self.draw(st.integers(2, 3)))]
        return f"{self.choice(['min', 'max'])}({', '.join(args)})"

    def cond(self, depth: int) -> str:
        kinds = ["cmp", "cmp", "cmp", "truth", "isnan", "self", "member"]
        if depth > 0:
            kinds += ["not", "and", "or", "chain"]
        kind = self.choice(kinds)
        if kind == "cmp":
            return f"{self.number(depth - 1 if depth else 0)} {self.choice(OPS)} {self.number(0)}"
        if kind == "truth":  # a bare number: Python's truth (a nan is true, -0.0 false)
            return self.choice([f"f{k}" for k in range(N_F)] + self.bools + ["i0"])
        if kind == "isnan":
            return f"math.isnan({self.fleaf()})"
        if kind == "self":
            return f"{self.fleaf()} {self.choice(['!=', '=='])} {self.fleaf()}"
        if kind == "member":  # written-out numbers: no identity test, a nan is in no tuple
            items = ", ".join(self.choice(FLOAT_CONSTANTS[3:] + ["2.5"]) for _ in range(2))
            return f"{self.fleaf()} {self.choice(['in', 'not in'])} ({items})"
        if kind == "not":
            return f"not ({self.cond(depth - 1)})"
        if kind == "chain":
            return f"{self.fleaf()} {self.choice(OPS)} {self.fleaf()} {self.choice(OPS)} {self.fleaf()}"
        return f"({self.cond(depth - 1)}) {kind} ({self.cond(depth - 1)})"

    def out_f(self) -> str:
        self.slot_f += 1
        return f"of[p, {(self.slot_f - 1) % N_OUT}]"

    def out_i(self) -> str:
        self.slot_i += 1
        return f"oi[p, {(self.slot_i - 1) % N_OUT}]"

    def statement(self) -> list[str]:
        kind = self.choice(["if", "if", "ternary", "stored", "count", "minmax", "while", "rebind", "convert",
                            "quotient"])
        depth = self.draw(st.integers(0, 2))
        if kind == "quotient":  # a nan, an infinity or a zero divided, floor-divided or reduced by another
            divisor = f"f{self.draw(st.integers(0, N_F - 1))}"
            return [f"{self.out_f()} = {self.number(depth)} {self.choice(['/', '//', '%'])} {divisor}"]
        if kind == "convert":  # int() / round() of a nan (0), an infinity or beyond int32 (saturated), a variable in
            # it so that it is never a constant (int() of a constant nan is refused when compiling)
            function = self.choice(["int", "round"])
            return [f"{self.out_i()} = {function}({self.number(depth)} {self.choice(['+', '*'])} "
                    f"f{self.draw(st.integers(0, N_F - 1))})"]
        if kind == "if":
            target = self.out_f()
            lines = [f"if {self.cond(depth)}:", f"    {target} = {self.number(1)}"]
            for _ in range(self.draw(st.integers(0, 2))):
                lines += [f"elif {self.cond(depth)}:", f"    {target} = {self.number(1)}"]
            if self.draw(st.booleans()):
                lines += ["else:", f"    {target} = {self.number(1)}"]
            return lines
        if kind == "ternary":
            return [f"{self.out_f()} = {self.number(1)} if {self.cond(depth)} else {self.number(1)}"]
        if kind == "stored":  # a condition as an int32 number (and/or would give an operand: not drawn here)
            return [f"{self.out_i()} = bool({self.cond(0)})"]
        if kind == "count":
            first, second, third = self.cond(0), self.cond(depth), self.cond(0)
            return [f"{self.out_i()} = bool({first}) + 2 * bool(not ({second})) + 4 * bool({third})"]
        if kind == "minmax":
            return [f"{self.out_f()} = {self.choice(['min', 'max'])}({self.number(depth)}, {self.number(depth)})"]
        if kind == "rebind":  # a bool variable or a float rebound from a condition (read by later conditions)
            if self.draw(st.booleans()):
                return [f"b{self.draw(st.integers(0, N_B - 1))} = bool({self.cond(depth)})"]
            return [f"f{self.draw(st.integers(0, N_F - 1))} = {self.number(depth)}"]
        # a while loop whose condition reads a float the body changes, at most 4 trips
        n, f = f"n{self.loops}", f"f{self.draw(st.integers(0, N_F - 1))}"
        self.loops += 1
        step = self.choice(["+ 1.0", "* -2.0", "- 0.5", "* 0.0"])
        target = self.out_i()
        return [f"{n} = 0", f"while ({self.cond(depth)}) and {n} < 4:", f"    {f} = {f} {step}", f"    {n} += 1",
                f"    if {self.cond(0)}:", "        continue", f"    {target} = {target} * 3 + {n}",
                f"{self.out_f()} = {f}"]


@st.composite
def programs(draw):
    gen = NanGen(draw)
    body = [f"b{k} = bool({gen.cond(1)})" for k in range(N_B)]
    gen.bools = [f"b{k}" for k in range(N_B)]
    for _ in range(draw(st.integers(2, 7))):
        body += gen.statement()
    return body


def render(body: list[str]) -> tuple[str, str]:
    loads = [f"f{k} = xf[p, {k}]" for k in range(N_F)] + [f"i{k} = xi[p, {k}]" for k in range(N_I)]
    kernel_body = loads + body
    module = "\n".join(["import math", "import numpy as np", "import wafersim as ws", "", "", "@ws.jit",
                        "def kern(xf, xi, of, oi):", "    p = ws.grid(1)", *[f"    {line}" for line in kernel_body],
                        ""])
    # The reference reads the ints as float32: an int32 meeting a float32 is converted to float32 first (the docs),
    # where NumPy 2 computes np.int32 with np.float32 in float64 (`(i0 + f1) + f2` rounded once, not twice). Every
    # use of them meets a float or is a truth value, and the ints drawn (-3..3) are exact in float32.
    reference_loads = [f"f{k} = xf[p, {k}]" for k in range(N_F)] + [f"i{k} = np.float32(xi[p, {k}])"
                                                                    for k in range(N_I)]
    reference = "\n".join(["def ref(p, xf, xi, of, oi):", *[f"    {line}" for line in reference_loads + body], ""])
    return module, reference


def inputs(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    xf = rng.choice(SPECIAL, (N_PE, N_F))
    ordinary = rng.random(xf.shape) < 0.3
    xf[ordinary] = rng.uniform(-3, 3, int(ordinary.sum())).astype(np.float32)
    xi = rng.integers(-3, 4, (N_PE, N_I)).astype(np.int32)
    return xf, xi


def saturated(convert):
    """`int` or `round` as the kernel computes them (the docs): a nan gives 0, an infinity or a value beyond int32
    the nearest int32, where Python raises or gives a larger int."""
    def kernel_conversion(value):
        if isinstance(value, (float, np.floating)) and math.isnan(value):
            return 0
        if isinstance(value, (float, np.floating)) and math.isinf(value):
            return 2**31 - 1 if value > 0 else -2**31
        return min(max(convert(float(value)) if convert is round else convert(value), -2**31), 2**31 - 1)
    return kernel_conversion


def same_bits(got: np.ndarray, want: np.ndarray) -> bool:
    """Equal float32 values, the sign of a zero included; any nan equals any nan."""
    nan = np.isnan(got) & np.isnan(want)
    return bool(np.all(nan | ((got == want) & (np.signbit(got) == np.signbit(want)))))


def check(dev, directory, body: list[str], seed: int, values: tuple | None = None) -> None:
    """Run `body` on every PE (inputs drawn from `seed`, or `values`: (xf, xi)) against the reference."""
    source, reference = render(body)
    module = load_source(directory, source)
    names = {"math": math, "np": np, "int": saturated(int), "round": saturated(round)}
    exec(compile(reference, "<reference>", "exec"), names)
    xf, xi = inputs(seed) if values is None else values
    want_f, want_i = np.zeros((N_PE, N_OUT), np.float32), np.zeros((N_PE, N_OUT), np.int32)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for p in range(N_PE):
            names["ref"](p, xf, xi, want_f, want_i)
    d_of, d_oi = dev.device_array((N_PE, N_OUT), np.float32), dev.device_array((N_PE, N_OUT), np.int32)
    module.kern[(1, 1), (N_PE, 1)](dev.to_device(xf), dev.to_device(xi), d_of, d_oi, max_cycles=1e6)
    got_f, got_i = d_of.copy_to_host(), d_oi.copy_to_host()
    bad = [p for p in range(N_PE) if not (same_bits(got_f[p], want_f[p]) and np.array_equal(got_i[p], want_i[p]))]
    assert not bad, (f"kernel differs from Python on PE(s) {bad}\n{source}\n"
                     + "\n".join(f"PE {p}: inputs {xf[p].tolist()} {xi[p].tolist()}\n  want {want_f[p].tolist()} "
                                 f"{want_i[p].tolist()}\n  got  {got_f[p].tolist()} {got_i[p].tolist()}"
                                 for p in bad[:3]))


@FUZZ
@given(body=programs(), seed=st.integers(0, 2**32 - 1))
def test_nan_and_signed_zero_conditions_match_python(dev, gen_dir, body, seed):
    check(dev, gen_dir, body, seed)


def test_reference_converts_an_int_meeting_a_float_to_float32_first(dev, gen_dir):
    """`(i0 + f1) + f2` with i0 = 3, f1 = 0.0123, f2 = -3.0: the kernel rounds `i0 + f1` to float32 before adding
    `f2` (0.012300015, as the docs say), where the reference computed the np.int32 with the np.float32 in float64
    (NumPy 2's promotion) and rounded once (0.0123): a false failure the random draws could meet (fuzz57)."""
    xf = np.tile(np.array([1.0, 0.0123, -3.0, -np.inf], np.float32), (N_PE, 1))
    xi = np.tile(np.array([3, -3], np.int32), (N_PE, 1))
    body = ["b0 = bool(f0 < f1)", "b1 = bool(f1 < f0)", "of[p, 0] = max(((i0 + f1) + f2), f3)",
            "f0 = ((i1 * f1) - f2)", "of[p, 1] = f0"]
    check(dev, gen_dir, body, 0, (xf, xi))
    want = (np.float32(3) + np.float32(0.0123)) + np.float32(-3.0)
    assert want != np.float32(0.0123)  # (the value the float64 reference gave)
