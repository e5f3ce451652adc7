"""Differential fuzzing of the `@ws.jit` compiler: kernel arguments launched as `np.int64`, which no other fuzzer
passes (tests/test_compiler_fuzz_compile_time.py folds np.int64 module constants; every other fuzzer launches
Python ints or int32 arrays).

docs/python-supported.md ("kernel arguments of NumPy scalar types"): an np.int64 argument is an int32 register
that holds NumPy's int64; comparisons, `range`, indices, stores, `min`/`max`, conditional expressions, `bool`
and conversions (`int(n)`, `np.int32(n)`, `float(n)`) compile and give NumPy's values, and int arithmetic,
negation or `abs` of it is a `CompileError` naming the parameter (NumPy would compute in int64 where the
kernel's int32 wraps). Random bodies over two np.int64 arguments (`n0`, `n1`: values near 0, 2**24 and the int32
limits), an int32 (`i0`), a float32 (`f0`) and an np.int64 index (`n2`, 0 to 3) draw every accepted form:
comparisons with each other and with int and float constants (chained too; an int64 meeting a float32 compares
as float32, as the docs say of an int meeting a float32), `in` of a tuple, stores into int32 and float32
arrays, an element of a local array indexed by `n2`, `range` loops bounded by them, `min`/`max`, conditional
expressions, and int32 arithmetic after a conversion (wrapping as NumPy's int32); sometimes one line does
int arithmetic on an np.int64, and the kernel must then be refused.

The reference runs the same text as plain Python on np.int64 / np.int32 / np.float32 scalars, with a marker
`_F(a, b)` (the kernel's text has the bare pair) converting both operands of a comparison to float32 where
a float is among them. WAFERSIM_FUZZ_EXAMPLES / WS_FUZZ_RANDOM scale it as the other fuzz tests.
"""
from __future__ import annotations

import types
import warnings

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

import wafersim as ws
from conftest import load_source
from test_compiler_fuzz import FUZZ, dev, gen_dir  # noqa: F401

INT64_VALUES = [0, 1, -1, 7, -7, 2**24, 2**24 + 1, -(2**24) - 1, 2**31 - 1, -(2**31), 2**31 - 2, 100000]
INT_CONSTANTS = ["0", "1", "-1", "7", "16777216", "16777217", "2147483647", "-2147483648"]
FLOAT_CONSTANTS = ["0.5", "-0.0", "16777216.0", "16777218.0", "2147483648.0", "-2.5"]
OPERATORS = ["<", "<=", ">", ">=", "==", "!="]
SLOTS = 8


class Int64Gen:
    """Expressions and statements as (kernel text, reference text) pairs."""

    def __init__(self, draw) -> None:
        self.draw = draw
        self.refused = False  # a line doing int arithmetic on an np.int64 was drawn

    def choice(self, options):
        return self.draw(st.sampled_from(options))

    def operand(self) -> tuple[str, bool]:
        """A comparison operand (text, is a float)."""
        kind = self.choice(["n0", "n1", "n0", "i0", "f0", "int", "float"])
        if kind == "int":
            return self.choice(INT_CONSTANTS), False
        if kind == "float":
            return self.choice(FLOAT_CONSTANTS), True
        return kind, kind == "f0"

    def comparison(self) -> tuple[str, str]:
        """`a op b` (or a chain of two), the reference's operands converted to float32 where a float is among
        a pair (`_F`); or `n0 in (...)`."""
        if self.draw(st.integers(0, 5)) == 0:
            items = [self.choice(INT_CONSTANTS + FLOAT_CONSTANTS) for _ in range(self.draw(st.integers(1, 3)))]
            test, n = self.choice(["in", "not in"]), self.choice(["n0", "n1"])
            found = " or ".join(f"(_F({n}, {c}, {c in FLOAT_CONSTANTS})[0] == _F({n}, {c}, {c in FLOAT_CONSTANTS})[1])"
                                for c in items)
            return f"{n} {test} ({', '.join(items)},)", f"({'not ' if test == 'not in' else ''}({found}))"
        operands = [self.operand() for _ in range(self.draw(st.integers(2, 3)))]
        ops = [self.choice(OPERATORS) for _ in operands[1:]]
        text = operands[0][0] + "".join(f" {op} {b}" for op, (b, _) in zip(ops, operands[1:]))
        pairs = [f"_F({a}, {b}, {af or bf})[0] {op} _F({a}, {b}, {af or bf})[1]"
                 for op, (a, af), (b, bf) in zip(ops, operands, operands[1:])]
        return text, " and ".join(f"({p})" for p in pairs)

    def int_value(self) -> tuple[str, str]:
        """An int32 value built from the np.int64 arguments without int arithmetic on them."""
        kind = self.choice(["convert", "arith", "minmax", "ifexp", "bool", "plain"])
        n = self.choice(["n0", "n1"])
        if kind == "convert":
            conv = self.choice(["int", "np.int32"])
            return f"{conv}({n})", f"np.int32({n})"
        if kind == "arith":  # int32 arithmetic after a conversion: wraps as NumPy's int32
            op = self.choice(["+", "-", "*"])
            k = self.choice(["3", "-2", "65536"])
            return f"(int({n}) {op} {k} {op} i0)", f"(np.int32({n}) {op} np.int32({k}) {op} i0)"
        if kind == "minmax":
            func, other = self.choice(["min", "max"]), self.choice(["i0", "n1", "5", "-2147483648"])
            ref_other = other if other in ("i0", "n1") else f"np.int64({other})"
            return f"{func}({n}, {other})", f"{func}({n}, {ref_other})"
        if kind == "ifexp":
            cond, ref_cond = self.comparison()
            other = self.choice(["i0", "n1", "3"])
            return f"({n} if {cond} else {other})", f"({n} if {ref_cond} else {other})"
        if kind == "bool":
            return f"bool({n})", f"bool({n})"
        return n, n

    def statement(self, slot: int) -> tuple[list[str], list[str]]:
        kind = self.choice(["compare", "compare", "value", "value", "float", "index", "range", "if"])
        if kind == "compare":
            text, ref = self.comparison()
            return [f"oi[p, {slot}] = {text}"], [f"oi[p, {slot}] = {ref}"]
        if kind == "value":
            text, ref = self.int_value()
            return [f"oi[p, {slot}] = {text}"], [f"oi[p, {slot}] = {ref}"]
        if kind == "float":  # the int64 stored into a float32 array, or converted: rounded to float32 once
            n = self.choice(["n0", "n1"])
            text = self.choice([n, f"float({n})"])
            return [f"of[p, {slot % 4}] = {text}"], [f"of[p, {slot % 4}] = np.float32({n})"]
        if kind == "index":  # an element of a local array indexed by an np.int64
            line = f"buf[n2] = buf[n2] + {slot}"
            return [line, f"oi[p, {slot}] = buf[n2] * 10 + buf[3 - int(n2)]"], \
                [line, f"oi[p, {slot}] = buf[n2] * 10 + buf[3 - int(n2)]"]
        if kind == "range":  # bounded by np.int64s, stepped so that the loop is short (Python's range: ints)
            start, stop = self.draw(st.permutations(["n0", "n1"]))
            step = self.choice(["2**29", "-(2**29)", "2**30 + 1", "-(2**30) - 7", "2**31 - 1"])
            lines = ["s = 0", f"for j in range({start}, {stop}, {step}):", "    s = s * 3 + 1",
                     f"oi[p, {slot}] = s"]
            return lines, lines
        if kind == "if":
            cond, ref = self.comparison()
            return [f"if {cond}:", f"    oi[p, {slot}] = 1", "else:", f"    oi[p, {slot}] = 2"], \
                [f"if {ref}:", f"    oi[p, {slot}] = 1", "else:", f"    oi[p, {slot}] = 2"]
        raise AssertionError(kind)

    def refused_statement(self, slot: int) -> list[str]:
        """Int arithmetic, negation or abs of an np.int64: refused at the line."""
        self.refused = True
        text = self.choice(["n0 + 1", "n0 * i0", "-n1", "abs(n0)", "n0 - n1", "n1 // 2", "n0 << 1"])
        return [f"oi[p, {slot}] = {text}"]


@st.composite
def bodies(draw):
    gen = Int64Gen(draw)
    kernel, reference = [], []
    refused_at = draw(st.integers(0, 5 * SLOTS))  # (one body in five has such a line)
    for slot in range(SLOTS):
        if slot == refused_at:
            kernel += gen.refused_statement(slot)
            continue
        text, ref = gen.statement(slot)
        kernel += text
        reference += ref
    return kernel, reference, gen.refused


def render(kernel: list[str], reference: list[str]) -> str:
    return "\n".join(["import numpy as np", "import wafersim as ws", "", "", "@ws.jit",
                      "def kern(oi, of, n0, n1, i0, f0, n2):", "    p = ws.grid(1)",
                      "    buf = ws.local.array(4, np.int32)", *[f"    {line}" for line in kernel], "", "",
                      "def ref(oi, of, n0, n1, i0, f0, n2):", "    p = 0", "    buf = np.zeros(4, np.int32)",
                      *[f"    {line}" for line in reference], ""])


def _F(a, b, either_float: bool):
    """A comparison's operands as the kernel compares them: both float32 where a float is among them."""
    return (np.float32(a), np.float32(b)) if either_float else (a, b)


@FUZZ
@given(body=bodies(), n0=st.sampled_from(INT64_VALUES), n1=st.sampled_from(INT64_VALUES),
       i0=st.sampled_from([0, 3, -5, 2**31 - 1, -(2**31)]), f0=st.sampled_from([0.5, -0.0, 16777216.0, -3.75]),
       n2=st.integers(0, 3))
def test_int64_arguments_match_numpy(dev, gen_dir, body, n0, n1, i0, f0, n2):
    kernel, reference, refused = body
    source = render(kernel, reference)
    module = load_source(gen_dir, source)
    args = (np.int64(n0), np.int64(n1), np.int32(i0), np.float32(f0), np.int64(n2))
    oi, of = dev.device_array((1, SLOTS), np.int32), dev.device_array((1, 4), np.float32)
    if refused:
        try:
            module.kern[(1, 1), (1, 1)](oi, of, *args)
        except ws.CompileError as error:
            assert "np.int64" in str(error), (source, str(error))
            return
        raise AssertionError(f"int arithmetic on an np.int64 argument compiled\n{source}")
    want_i, want_f = np.zeros((1, SLOTS), np.int32), np.zeros((1, 4), np.float32)
    scope = dict(vars(module), _F=_F)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # (np.int32 arithmetic wraps, as the kernel's)
        types.FunctionType(module.ref.__code__, scope)(want_i, want_f, *args)
    module.kern[(1, 1), (1, 1)](oi, of, *args)
    got_i, got_f = oi.copy_to_host(), of.copy_to_host()
    assert np.array_equal(got_i, want_i) and np.array_equal(got_f, want_f), \
        f"kernel {got_i.tolist()} {got_f.tolist()} != NumPy {want_i.tolist()} {want_f.tolist()}\n{source}"
