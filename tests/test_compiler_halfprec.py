"""16-bit floats in `@ws.jit` kernels (compiler/halfprec.py): float16 and bfloat16 local arrays and kernel
arguments, element loads and stores, vector operations rounded as NumPy / ml_dtypes round them, float32
accumulation, conversions, their cost from `WaferSpec.vector_lanes_half`, and what is refused.

Every reference is NumPy (float16) or ml_dtypes (bfloat16) computing in the same precision, one operation at
a time, compared bit for bit.
"""
from __future__ import annotations

import math
import os
import random

import ml_dtypes
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import wafersim as ws
from conftest import compile_error, line_of, load_source, run_on_one_block

N = 24
KINDS = [np.float16, ml_dtypes.bfloat16]
SPEC = ws.WaferSpec(width=2, height=2)


@pytest.fixture(scope="module")
def dev():
    return ws.Device(SPEC)


def values(dtype, seed: int, n: int = N) -> np.ndarray:
    """Random 16-bit values of both signs, some large enough to overflow float16 when multiplied."""
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(n) * rng.choice([0.5, 3.0, 200.0], n)).astype(dtype)


def make_arith(dtype):
    @ws.jit
    def arith(x, y, s, out):
        a = ws.local.array(N, dtype)
        b = ws.local.array(N, dtype)
        r = ws.local.array((8, N), dtype)
        a[0:N] = x[0:N]
        b[0:N] = y[0:N]
        r[0, 0:N] = a[0:N] + b[0:N]
        r[1, 0:N] = a[0:N] - b[0:N]
        r[2, 0:N] = a[0:N] * b[0:N]
        r[3, 0:N] = min(a[0:N], b[0:N])
        r[4, 0:N] = max(a[0:N], s)
        r[5, 0:N] = a[0:N] * s - b[0:N]  # scale, then subtract: two roundings
        r[6, 0:N] = -a[0:N]
        r[7, 0:N] = b[0:N]
        r[7, 0:N] = a[0:N] * b[0:N] + r[7, 0:N]  # 16-bit fma: the product rounded, then the sum
        for i in range(8):
            out[i, 0:N] = r[i, 0:N]

    return arith


@pytest.mark.parametrize("dtype", KINDS, ids=["float16", "bfloat16"])
def test_vector_ops_round_as_numpy_does_in_16_bits(dev, dtype):
    x, y = values(dtype, 1), values(dtype, 2)
    s = np.float32(1.3)
    out = np.zeros((8, N), dtype)
    (_, _, got) = run_on_one_block(dev, make_arith(dtype), x, y, s, out)
    hs = dtype(s)  # the float32 scalar is rounded to the slice's dtype first, as NumPy keeps the array's dtype
    with np.errstate(over="ignore"):
        expected = [x + y, x - y, x * y, np.minimum(x, y), np.maximum(x, hs), x * hs - y, -x, x * y + y]
    assert got.dtype == np.dtype(dtype)
    for row, want in zip(got, expected):
        np.testing.assert_array_equal(row.view(np.uint16), np.asarray(want, dtype).view(np.uint16))


def make_min_max_scalar_first(dtype):
    @ws.jit
    def scalar_first(x, p, out):
        a = ws.local.array(6, dtype)
        r = ws.local.array((6, 6), dtype)
        a[0:6] = x[0:6]
        r[0, 0:6] = min(-0.0, a[0:6])
        r[1, 0:6] = max(0.0, a[0:6])
        r[2, 0:6] = max(-0.0, a[0:6])
        r[3, 0:6] = min(p, a[0:6])  # a scalar known only at run time
        r[4, 0:6] = max(1e-30, a[0:6])  # nonzero in float32, +0.0 in 16 bits
        r[5, 0:6] = min(2.5, a[0:6])  # neither zero nor nan: the operands may swap
        for i in range(6):
            out[i, 0:6] = r[i, 0:6]

    return scalar_first


@pytest.mark.parametrize("dtype", KINDS + [np.float32], ids=["float16", "bfloat16", "float32"])
def test_min_max_with_the_scalar_first_keep_numpys_operand_order(dev, dtype):
    """`min(s, v)` is NumPy's `np.minimum(s, v)`, not `np.minimum(v, s)`: for two zeros of different sign
    NumPy returns one of them by position (float16 the first, float32 the second), so swapping the scalar
    into the instruction's scalar slot once gave the other zero."""
    x = np.array([0.0, -0.0, 0.0, -0.0, np.nan, 2.5], dtype)
    out = np.zeros((6, 6), dtype)
    (_, got) = run_on_one_block(dev, make_min_max_scalar_first(dtype), x, np.float32(-0.0), out)
    c = (lambda v: np.float32(v).astype(dtype)) if dtype is not np.float32 else np.float32
    with np.errstate(under="ignore"):
        expected = [np.minimum(c(-0.0), x), np.maximum(c(0.0), x), np.maximum(c(-0.0), x),
                    np.minimum(c(-0.0), x), np.maximum(c(1e-30), x), np.minimum(c(2.5), x)]
    word = np.uint16 if dtype is not np.float32 else np.uint32
    for row, want in zip(got, expected):
        np.testing.assert_array_equal(row.view(word), np.asarray(want, dtype).view(word))


#: Literals just above a 16-bit tie: float64 rounds up, float32 lands on the tie (then to even, down).
TIES = {np.float16: 1.000488281250001, ml_dtypes.bfloat16: 1.00390625 + 1e-12}


def make_literal_stores(dtype):
    c = TIES[dtype]

    @ws.jit
    def literal_stores(x, out):
        a = ws.local.array(4, dtype)
        r = ws.local.array((3, 4), dtype)
        a[0:4] = x[0:4]
        r[0, 0:4] = c
        for i in range(4):
            r[1, i] = c
        r[2, 0:4] = a[0:4] * 0.0 + c
        for i in range(3):
            out[i, 0:4] = r[i, 0:4]

    return literal_stores


@pytest.mark.parametrize("dtype", KINDS, ids=["float16", "bfloat16"])
def test_a_float_literal_is_float32_before_it_rounds_to_16_bits(dev, dtype):
    """As documented: a literal is a float32 constant first, so one that float32 rounds onto a 16-bit tie is
    rounded twice (fill, element store and a vector scalar alike), not once from float64 as NumPy does."""
    c = TIES[dtype]
    x = np.ones(4, dtype)
    (_, got) = run_on_one_block(dev, make_literal_stores(dtype), x, np.zeros((3, 4), dtype))
    twice = np.float32(c).astype(dtype)
    assert twice != np.float64(c).astype(dtype)  # the literal does sit where the two differ
    np.testing.assert_array_equal(got.view(np.uint16), np.full((3, 4), twice, dtype).view(np.uint16))


def make_negate(dtype):
    @ws.jit
    def negate(x, out):
        a = ws.local.array(5, dtype)
        a[0:5] = x[0:5]
        a[0:5] = -a[0:5]
        out[0:5] = a[0:5]

    return negate


@pytest.mark.parametrize("dtype", KINDS + [np.float32], ids=["float16", "bfloat16", "float32"])
def test_unary_minus_of_a_slice_is_numpys_but_for_the_sign_of_a_nan(dev, dtype):
    """As documented: `-v` of a slice is one `vscale` by -1: NumPy's `np.negative` for every value, zeros and
    infinities included, but a nan keeps its sign bit (np.negative flips it)."""
    x = np.array([0.0, -0.0, np.inf, -2.5, np.nan], dtype)
    (_, got) = run_on_one_block(dev, make_negate(dtype), x, np.zeros(5, dtype))
    word = np.uint16 if dtype is not np.float32 else np.uint32
    np.testing.assert_array_equal(got[:4].view(word), (-x[:4]).view(word))
    assert np.isnan(got[4]) and np.signbit(got[4]) == np.signbit(x[4])


@pytest.mark.parametrize("dtype", KINDS, ids=["float16", "bfloat16"])
def test_float32_accumulation_of_16_bit_products(dev, dtype):
    """`acc = x * y + acc` and `ws.fma(x, y, acc)` with 16-bit x, y and float32 acc: the product is exact in
    float32, the sum rounds once in float32; with a float32 scalar factor the product rounds first."""

    @ws.jit
    def accumulate(x, y, acc_in, s, out):
        a = ws.local.array(N, dtype)
        b = ws.local.array(N, dtype)
        acc = ws.local.array(N, np.float32)
        a[0:N] = x[0:N]
        b[0:N] = y[0:N]
        acc[0:N] = acc_in[0:N]
        acc[0:N] = a[0:N] * b[0:N] + acc[0:N]
        acc[0:N] = ws.fma(b[0:N], a[0:N], acc[0:N])
        acc[0:N] += a[0:N] * s
        out[0:N] = acc[0:N]

    x, y = values(dtype, 3), values(dtype, 4)
    acc = np.random.default_rng(5).standard_normal(N).astype(np.float32)
    s = np.float32(0.37)
    (_, _, _, got) = run_on_one_block(dev, accumulate, x, y, acc, s, np.zeros(N, np.float32))
    x32, y32 = x.astype(np.float32), y.astype(np.float32)
    expected = acc + x32 * y32
    expected = expected + y32 * x32
    expected = expected + x32 * s
    np.testing.assert_array_equal(got, expected)


def make_constant_factor(dtype):
    @ws.jit
    def constant_factor(x, out):
        a = ws.local.array(N, dtype)
        t = ws.local.array(N, dtype)
        acc = ws.local.array(N, np.float32)
        a[0:N] = x[0:N]
        acc[0:N] += a[0:N] * 3.0           # a float32 factor: one vwfma, the product in float32
        out[0:N] = acc[0:N]
        t[0:N] = a[0:N] * 3.0              # a 16-bit tree: the product rounded to 16 bits
        acc[0:N] = t[0:N]
        out[N:2 * N] = acc[0:N]

    return constant_factor


@pytest.mark.parametrize("dtype", KINDS, ids=["float16", "bfloat16"])
def test_a_constant_factor_of_a_float32_accumulation_multiplies_in_float32(dev, dtype):
    """As documented (fuzz46): a float literal is a float32 constant, so `acc += x * 3.0` (float32 acc, 16-bit
    x) rounds the product to float32, as NumPy's `acc + x.astype(np.float32) * np.float32(3.0)`; NumPy's
    `acc + x * 3.0` with a Python float rounds it to 16 bits first, which the kernel gives for the product
    computed into a 16-bit slice (`t = x * 3.0`, then converted)."""
    x = values(dtype, 6)
    x[0] = dtype(1.0009765625) if dtype is np.float16 else dtype(1.0078125)  # (one ulp above 1: x * 3 rounds)
    (_, got) = run_on_one_block(dev, make_constant_factor(dtype), x, np.zeros(2 * N, np.float32))
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal(got[:N], np.float32(0.0) + x.astype(np.float32) * np.float32(3.0))
        np.testing.assert_array_equal(got[N:], (x * 3.0).astype(np.float32))
    assert got[0] != got[N]  # the two roundings do differ here


@pytest.mark.parametrize("dtype", KINDS, ids=["float16", "bfloat16"])
def test_conversions_elements_and_fill(dev, dtype):
    """Slice copies between float32 and 16-bit arrays convert (rounding to nearest even one way, exact the
    other); an element reads as float32 and a stored number rounds; a fill rounds its scalar once."""

    @ws.jit
    def convert(x32, h, out_h, out_32, out_scalar):
        f = ws.local.array(N, np.float32)
        t = ws.local.array(N, dtype)
        f[0:N] = x32[0:N]
        t[0:N] = f[0:N]  # round
        out_h[0:N] = t[0:N]
        t[0:N] = h[0:N]
        f[0:N] = t[0:N]  # widen
        out_32[0:N] = f[0:N]
        t[0:4] = 0.1  # fill
        t[4] = t[5] * 3.0 + 1.0  # element read (float32), float32 arithmetic, store rounds
        h[0] = f[1] / 3.0  # a global 16-bit element store
        out_scalar[0] = h[2] + t[3]  # a global 16-bit element load, float32 sum
        out_h[0:N] = t[0:N]

    x32 = np.random.default_rng(6).standard_normal(N).astype(np.float32) * 1000
    h = values(dtype, 7)
    (_, got_h_arg, got_h, got_32, got_scalar) = run_on_one_block(
        dev, convert, x32, h, np.zeros(N, dtype), np.zeros(N, np.float32), np.zeros(1, np.float32))
    np.testing.assert_array_equal(got_32, h.astype(np.float32))
    expected = h.copy()
    expected[0:4] = dtype(0.1)
    expected[4] = dtype(np.float32(h[5]) * np.float32(3.0) + np.float32(1.0))
    np.testing.assert_array_equal(got_h.view(np.uint16), expected.view(np.uint16))
    assert got_h_arg[0] == dtype(np.float32(h[1]) / np.float32(3.0))
    assert got_scalar[0] == np.float32(h[2]) + np.float32(expected[3])


def test_rounding_of_the_float32_to_16_bit_conversion_is_to_nearest_even(dev):
    """Ties between two float16 neighbours round to the even one; beyond the range: inf."""

    @ws.jit
    def narrow(x32, out):
        f = ws.local.array(6, np.float32)
        t = ws.local.array(6, np.float16)
        f[0:6] = x32[0:6]
        t[0:6] = f[0:6]
        out[0:6] = t[0:6]

    ulp = 2.0 ** -10  # float16 spacing in [1, 2)
    ties = np.array([1 + ulp / 2, 1 + 3 * ulp / 2, -(1 + ulp / 2), 70000.0, 65519.0, 2.0 ** -25], np.float32)
    (_, got) = run_on_one_block(dev, narrow, ties, np.zeros(6, np.float16))
    assert got.tolist() == [1.0, 1 + 2 * ulp, -1.0, math.inf, 65504.0, 0.0]


def test_vector_cycles_follow_vector_lanes_half():
    """A 16-bit vector op of n elements costs its issue plus ceil(n / vector_lanes_half) cycles: lengthening
    it by `lanes` elements adds one cycle per op, where a float32 op adds lanes_half / lanes cycles."""
    spec = ws.WaferSpec(width=1, height=1, vector_lanes=2, vector_lanes_half=8)

    def kernel_for(dtype, n):
        @ws.jit
        def adds(x, out):
            a = ws.local.array(64, dtype)
            a[0:64] = x[0:64]
            for _ in range(10):
                a[0:n] = a[0:n] + a[0:n]
            out[0:64] = a[0:64]

        return adds

    def cycles(dtype, n):
        d = ws.Device(spec)
        x = np.ones(64, dtype)
        stats = kernel_for(dtype, n)[(1, 1), (1, 1)](d.to_device(x), d.device_array(64, dtype))
        return stats.cycles

    assert cycles(np.float16, 40) - cycles(np.float16, 8) == 10 * (math.ceil(40 / 8) - math.ceil(8 / 8))
    assert cycles(np.float32, 40) - cycles(np.float32, 8) == 10 * (math.ceil(40 / 2) - math.ceil(8 / 2))


def test_16_bit_arrays_take_a_word_per_element_of_sram():
    """One 16-bit value per 32-bit word: a float16 array costs the SRAM a float32 one does, and the
    out-of-SRAM error counts it so."""
    spec = ws.WaferSpec(width=1, height=1, sram_bytes=4096)

    @ws.jit
    def too_big(out):
        t = ws.local.array(1100, np.float16)  # 4,400 bytes
        t[0:4] = 1.0
        out[0:4] = t[0:4]

    d = ws.Device(spec)
    with pytest.raises(ws.CompileError, match="local array t 4,400"):
        too_big[(1, 1), (1, 1)](d.device_array(4, np.float16))


REFUSALS_SOURCE = """
import ml_dtypes
import numpy as np
import wafersim as ws


@ws.jit
def kernel(h, f):
    a = ws.local.array({n}, np.float16)
    b = ws.local.array({n}, ml_dtypes.bfloat16)
    c = ws.local.array({n}, np.float32)
    a[0:{n}] = h[0:{n}]
    c[0:{n}] = f[0:{n}]
    {statement}  # REFUSED
"""
REFUSALS = {
    "c[0:4] = a[0:4] * 2.0 + c[0:4] * 2.0": "float32 accumulation of 16-bit products",
    "c[0:4] = a[0:4] * 2.0": "16-bit slices in a float32 slice expression",
    "c[0:4] = ws.fma(c[0:4], c[0:4], c[0:4])": "float16 or bfloat16",
    "a[0:4] = ws.fma(a[0:4], a[0:4], a[0:4])": "acc from a float32 one",
    "a[0:4] = a[0:4] / a[0:4]": "`/` of slices gives float32 values, and there is no float16 form: widen into a float32",
    "a[0:4] = a[0:4] / 2.0": "there is no float16 form: widen into a float32 array first",
    "b[0:4] = b[0:4] / 2.0": "there is no bfloat16 form: widen into a float32 array first",
    "a[0:4] = np.exp(a[0:4])": "math functions of slices give float32 values, and there is no float16 form: widen",
    "b[0:4] = np.sqrt(b[0:4]) + b[0:4]": "math functions of slices give float32 values, and there is no bfloat16",
    "f[0] = sum(a[0:4])": "widen it into a float32 array",
    "f[0] = ws.dot(a[0:4], a[0:4])": "widen it into a float32 array",
    "b[0:4] = a[0:4] + b[0:4]": "dtype (bfloat16), not float16",
    "c[0:4] = a[0:4] * b[0:4] + c[0:4]": "float16 and bfloat16 slices in one expression",
    "c[0:4] = h[0:4]": "conversions run between local arrays",
    # a strided copy converts nothing (was refused saying slice copies convert between float32 and float16)
    "c[0:4:2] = a[0:2]": "a strided copy moves words unchanged and does not convert",
    "b[0:2] = c[0:4:2]": "copy it into a float32 array first",
    "x = ws.recv(ws.EAST, dtype=np.float16)": "recv dtype= must be np.float32 or np.int32",
}


@pytest.mark.parametrize("statement", REFUSALS)
def test_refused_with_a_compile_error_at_the_line(dev, statement, tmp_path):
    kernel = load_source(tmp_path, REFUSALS_SOURCE.format(n=N, statement=statement)).kernel
    err = compile_error(dev, kernel, np.ones(N, np.float16), np.ones(N, np.float32))
    assert REFUSALS[statement] in str(err)
    if "int32" not in statement and "recv" not in statement:  # a 16-bit slice's own dtype is named
        assert "int32" not in str(err)
    assert err.line == line_of(kernel, "# REFUSED")


# ============================================================================= random vector trees
FUZZ_EXAMPLES = int(os.environ.get("WAFERSIM_FUZZ_EXAMPLES", "12"))
ARRAYS = "abcd"
TREE_SOURCE = """
import ml_dtypes
import numpy as np
import wafersim as ws

DT = {dtype}


@ws.jit
def kernel(x, s, out):
    a = ws.local.array(8, DT)
    b = ws.local.array(8, DT)
    c = ws.local.array(8, DT)
    d = ws.local.array(8, DT)
    a[0:8] = x[0, 0:8]
    b[0:8] = x[1, 0:8]
    c[0:8] = x[2, 0:8]
    d[0:8] = x[3, 0:8]
    {target}[0:8] = {expression}
    out[0, 0:8] = a[0:8]
    out[1, 0:8] = b[0:8]
    out[2, 0:8] = c[0:8]
    out[3, 0:8] = d[0:8]
"""


def random_tree(rng: random.Random, depth: int) -> tuple[str, str]:
    """(kernel source, NumPy source) of a vector expression: every operator has a slice operand, scalars are
    atoms (the float32 argument s or a constant), each rounded to the array's dtype (`R(...)`) as the
    16-bit instruction rounds its scalar operand."""
    if depth == 0 or rng.random() < 0.25:
        name = rng.choice(ARRAYS)
        return f"{name}[0:8]", name
    vector = random_tree(rng, depth - 1)
    op = rng.choice(["+", "-", "*", "min", "max", "neg"])
    if op == "neg":
        return f"-({vector[0]})", f"-({vector[1]})"
    if rng.random() < 0.4:
        atom = rng.choice(["s", "1.5", "-0.75", "3"])
        other = (atom, f"R({atom})")
    else:
        other = random_tree(rng, depth - 1)
    left, right = (vector, other) if rng.random() < 0.5 else (other, vector)
    if op in ("min", "max"):
        return f"{op}({left[0]}, {right[0]})", f"np.{op}imum({left[1]}, {right[1]})"
    return f"({left[0]} {op} {right[0]})", f"({left[1]} {op} {right[1]})"


@settings(max_examples=FUZZ_EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1), bfloat=st.booleans())
def test_random_16_bit_vector_trees_match_numpy(dev, tmp_path_factory, seed, bfloat):
    rng = random.Random(seed)
    dtype = ml_dtypes.bfloat16 if bfloat else np.float16
    kernel_text, numpy_text = random_tree(rng, 3)
    if "(" not in kernel_text:  # a plain copy, not a tree
        kernel_text, numpy_text = f"({kernel_text} + 0.5)", f"({numpy_text} + R(0.5))"
    target = rng.choice(ARRAYS)
    source = TREE_SOURCE.format(dtype="ml_dtypes.bfloat16" if bfloat else "np.float16", target=target,
                                expression=kernel_text)
    kernel = load_source(tmp_path_factory.mktemp("tree"), source).kernel
    x = (np.random.default_rng(seed).uniform(-4, 4, (4, 8))).astype(dtype)
    s = np.float32(np.random.default_rng(seed + 1).uniform(-2, 2))
    (_, got) = run_on_one_block(dev, kernel, x, s, np.zeros((4, 8), dtype))
    env = {name: x[k].copy() for k, name in enumerate(ARRAYS)} | {"np": np, "s": s, "R": dtype}
    with np.errstate(over="ignore", invalid="ignore"):
        expected = x.copy()
        expected[ARRAYS.index(target)] = np.asarray(eval(numpy_text, env), dtype)
    np.testing.assert_array_equal(got.view(np.uint16), expected.view(np.uint16), err_msg=kernel_text)


@ws.jit
def _int_stores(ints, out_h, out_b):
    h = ws.local.array(8, np.float16)
    b = ws.local.array(8, ml_dtypes.bfloat16)
    for k in range(8):
        h[k] = ints[k]
        b[k] = ints[k]
    out_h[0:8] = h[0:8]
    out_b[0:8] = b[0:8]


def test_an_int_stored_into_a_16_bit_element_is_converted_to_float32_first(dev):
    """docs/python-supported.md, 16-bit floats: an int32 goes to float32 (itof), then to 16 bits. Within 2**24
    that is NumPy's single rounding; beyond it bfloat16 can round twice (2**24 + 2**16 + 1: float32 rounds to
    the bfloat16 tie 2**24 + 2**16, then to even), and float16 has overflowed to inf as in NumPy."""
    ints = np.array([0, -7, 2049, 65519, 65520, 16777215, 16842753, -2**31], np.int32)
    out_h, out_b = dev.device_array(8, np.float16), dev.device_array(8, ml_dtypes.bfloat16)
    with np.errstate(over="ignore"):
        _int_stores[(1, 1), (1, 1)](dev.to_device(ints), out_h, out_b)
        want_h = ints.astype(np.float16)  # NumPy's, whichever way it rounds
        want_b = ints.astype(np.float32).astype(ml_dtypes.bfloat16)  # the kernel's two steps
    np.testing.assert_array_equal(out_h.copy_to_host().view(np.uint16), want_h.view(np.uint16))
    np.testing.assert_array_equal(out_b.copy_to_host().view(np.uint16), want_b.view(np.uint16))
    numpy_once = ints.astype(ml_dtypes.bfloat16)
    differs = out_b.copy_to_host().view(np.uint16) != numpy_once.view(np.uint16)
    assert differs.tolist() == [False] * 6 + [True, False]  # only 2**24 + 2**16 + 1 rounds twice
    assert out_b.copy_to_host()[6] == 16777216 and numpy_once[6] == 16908288
