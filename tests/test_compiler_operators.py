"""Operators and indexing in kernels against Python / NumPy: int32 constants, shifts by a run-time count,
dividing slices, `len()` and negative indices, `**`. What the compiler cannot compute as Python would is a
CompileError at the source line."""
from __future__ import annotations

import math

import numpy as np
import pytest

import wafersim as ws
from conftest import compile_error, int32_wrap, line_of
from conftest import run_on_one_block as run


@pytest.fixture(scope="module")
def dev():
    return ws.Device(ws.WaferSpec(width=8, height=8))


# ----------------------------------------------------------------------------- int32 constants
@ws.jit
def power_100(out):
    out[0] = 2 ** 100  # MARK-const


@ws.jit
def power_40(out):
    out[0] = 2 ** 40  # MARK-const


@ws.jit
def shift_40(out):
    out[0] = 1 << 40  # MARK-const


@ws.jit
def huge_exponent(out):
    out[0] = 3 ** 1000000000  # MARK-const


@pytest.mark.parametrize("kernel", [power_100, power_40, shift_40, huge_exponent])
def test_constants_that_do_not_fit_int32_are_refused(dev, kernel):
    err = compile_error(dev, kernel, np.zeros(1, np.int32))
    assert err.line == line_of(kernel, "MARK-const") and "does not fit in int32" in str(err)


@ws.jit
def constants_that_fit(out):
    out[0] = 2 ** 30
    out[1] = 1 << 30
    out[2] = np.int32(100000) * np.int32(100000)  # NumPy int32 arithmetic wraps around
    out[3] = -(2 ** 30 - 1) * 2
    out[4] = int(2 ** -1 * 8)


def test_constants_that_fit_fold_like_python(dev):
    expected = np.zeros(5, np.int32)
    with np.errstate(over="ignore"):
        constants_that_fit.py_func(expected)
    (out,) = run(dev, constants_that_fit, np.zeros(5, np.int32))
    np.testing.assert_array_equal(out, expected)


# ----------------------------------------------------------------------------- shifts by a run-time count
@ws.jit
def shift_kernel(x, k, out):
    i = ws.grid(1)
    out[i, 0] = x[i] << k[i]
    out[i, 1] = x[i] >> k[i]  # MARK-shift


def test_run_time_shift_counts_follow_python(dev):
    # The ISA shifts by the count's low five bits; Python shifts by the whole count (n << 40 is 0 in int32).
    x = np.array([1, -5, 7, 123456, -1, 3, 2**30, -(2**31)], np.int32)
    k = np.array([0, 1, 31, 32, 40, 33, 2, 100], np.int32)
    (_, _, out) = run(dev, shift_kernel, x, k, np.zeros((8, 2), np.int32), block=(8, 1))
    expected = [[int32_wrap(int(a) << int(b)), int(a) >> int(b)] for a, b in zip(x, k)]
    assert out.tolist() == expected


def test_a_negative_shift_count_stops_the_kernel_like_python():
    with pytest.raises(ValueError):
        1 << -1  # noqa: B018  (what Python does)
    dev = ws.Device(ws.WaferSpec(width=8, height=8))
    with pytest.raises(ws.KernelValueError) as info:
        run(dev, shift_kernel, np.ones(2, np.int32), np.array([3, -1], np.int32), np.zeros((2, 2), np.int32),
            block=(2, 1))
    err = info.value
    assert isinstance(err, ValueError) and err.pes == [(1, 0)] and "negative shift count" in str(err)



# ----------------------------------------------------------------------------- a scalar minus a slice
@ws.jit
def scalar_minus_slices(x, out, s):
    a = ws.local.array(8, np.float32)
    b = ws.local.array(8, np.float32)
    a[0:8] = x[0:8]
    b[0:8] = 3.0 - a[0:8]
    out[0:8] = b[0:8]
    b[0:8] = a[0:8] / (s - a[0:8])  # s - a is +0.0 where a == s: a / (+0.0) is +inf for a > 0
    out[8:16] = b[0:8]


def test_a_scalar_minus_a_slice_keeps_the_sign_of_zero(dev):
    """s - v where v == s is +0.0, as NumPy gives (it was compiled as -(v - s), which is -0.0)."""
    x = np.array([3.0, -1.5, 2.0, 3.0, 0.5, 3.0, -0.0, 7.25], np.float32)
    s = np.float32(3.0)
    (_, out) = run(dev, scalar_minus_slices, x, np.zeros(16, np.float32), s)
    with np.errstate(all="ignore"):
        expected = np.concatenate([np.float32(3.0) - x, x / (s - x)])
    np.testing.assert_array_equal(out.view(np.int32), expected.view(np.int32))  # (bits: +0.0 is not -0.0)
    assert np.isposinf(out[8])


# ----------------------------------------------------------------------------- dividing slices
@ws.jit
def divide_slices(x, out, s):
    a = ws.local.array(8, np.float32)
    b = ws.local.array(8, np.float32)
    a[0:8] = x[0:8]
    b[0:8] = x[8:16]
    a[0:8] = a[0:8] / b[0:8] + a[0:8] / s - (b[0:8] * 2.0) / (a[0:8] - b[0:8])
    b[1:7] = b[0:6] / b[2:8]  # overlapping the destination
    b[0:1] = -b[0:1] / 0.0
    out[0:8] = a[0:8]
    out[8:16] = b[0:8]


def test_slices_divide_as_numpy_does(dev):
    x = np.random.default_rng(3).uniform(-4, 4, 16).astype(np.float32)
    s = np.float32(1.5)
    (_, out) = run(dev, divide_slices, x, np.zeros(16, np.float32), s)
    a, b = x[:8].copy(), x[8:].copy()
    with np.errstate(all="ignore"):
        a = a / b + a / s - (b * np.float32(2.0)) / (a - b)
        b[1:7] = b[0:6] / b[2:8]
        b[0:1] = -b[0:1] / np.float32(0.0)
    np.testing.assert_array_equal(out, np.concatenate([a, b]))
    assert np.isinf(out[8])


@ws.jit
def scalar_left_of_slices(x, out, s):
    q = ws.local.array(8, np.float32)
    w = ws.local.array((6, 8), np.float32)
    q[0:8] = x[0:8]
    w[0, 0:8] = 1.0 / q[0:8]
    w[1, 0:8] = 1.0 - q[0:8]
    w[2, 0:8] = 1.0 / (1.0 + q[0:8])  # SRAD's 1 / (1 + q)
    w[3, 0:8] = (s / q[0:8]) * 2.0 + s / (q[0:8] - s)
    w[4, 0:8] = q[0:8]
    w[4, 1:8] = 3.0 / w[4, 0:7]  # the destination's own (shifted) elements as the divisor
    w[5, 0:8] = q[0:8]
    w[5, 0:8] = 0.5 / w[5, 0:8] - w[5, 0:8]
    w[0:2, 0:4] = 2.0 / w[0:2, 4:8]  # a block: one fill and one vdiv per row
    for r in range(6):
        out[r, 0:8] = w[r, 0:8]


def test_a_scalar_divided_by_a_slice_is_numpy_s_float32_division(dev):
    """`w[0:n] = 1.0 / q[0:n]` was refused ("fill a local array with the scalar first"): the scalar is filled
    into a vector temporary and divided by the slice (`vfill`, `vdiv`), each element the one IEEE division
    NumPy does (not s * (1 / q), which rounds twice); a zero divisor gives inf, as in NumPy."""
    x = np.array([0.5, 2.0, -3.0, 0.0, -0.0, 7.0, 1e-30, 3.0], np.float32)
    s = np.float32(1.75)
    (_, got) = run(dev, scalar_left_of_slices, x, np.zeros((6, 8), np.float32), s)
    one, q = np.float32(1.0), x
    w = np.zeros((6, 8), np.float32)
    with np.errstate(all="ignore"):
        w[0], w[1], w[2] = one / q, one - q, one / (one + q)
        w[3] = (s / q) * np.float32(2.0) + s / (q - s)
        w[4] = q
        w[4, 1:8] = np.float32(3.0) / w[4, 0:7].copy()
        w[5] = np.float32(0.5) / q - q
        w[0:2, 0:4] = np.float32(2.0) / w[0:2, 4:8]
    np.testing.assert_array_equal(got.view(np.int32), w.view(np.int32))


@ws.jit
def int_slices_divided(out):
    a = ws.local.array(4, np.int32)
    a[0:4] = 6
    a[0:4] = a[0:4] / a[0:4]  # MARK-int-divide
    out[0:4] = a[0:4]


@pytest.mark.parametrize("kernel, marker, dtype, words", [
    (int_slices_divided, "MARK-int-divide", np.int32, "int32 slice cannot hold"),
])
def test_divisions_the_vector_unit_cannot_do_are_refused_at_their_line(dev, kernel, marker, dtype, words):
    err = compile_error(dev, kernel, np.zeros(4, dtype))
    assert words in str(err) and f":{line_of(kernel, marker)}:" in str(err)


# ----------------------------------------------------------------------------- len() and negative indices
@ws.jit
def lengths_and_ends(x, out):
    a = ws.local.array(4, np.float32)
    t = ws.local.array((3, 5), np.float32)
    a[-1] = 7.0
    t[-1, -2] = 9.0
    out[0] = len(a)
    out[1] = len(t)
    out[2] = len(a[1:3])
    out[3] = len((1, 2, 3))
    out[4] = len(x)
    out[5] = x[-1]
    out[6] = x[-6]
    out[7] = a[-1] + t[2, 3]
    out[-1] = a[3]


def python_lengths_and_ends(x: np.ndarray) -> list[float]:
    a, t = [0.0] * 4, [[0.0] * 5 for _ in range(3)]
    a[-1] = 7.0
    t[-1][-2] = 9.0
    out = [len(a), len(t), len(a[1:3]), len((1, 2, 3)), len(x), x[-1], x[-6], a[-1] + t[2][3], 0.0]
    out[-1] = a[3]
    return out


def test_len_and_constant_negative_indices_follow_python(dev):
    x = np.arange(6, dtype=np.float32) * 1.5
    (_, out) = run(dev, lengths_and_ends, x, np.zeros(9, np.float32))
    assert out.tolist() == python_lengths_and_ends(x)


@ws.jit
def index_before_the_start(x, out):
    out[0] = x[-7]  # MARK-before-start


def test_a_negative_index_before_the_start_is_an_error(dev):
    with pytest.raises(ws.MemoryAccessError) as info:
        run(dev, index_before_the_start, np.zeros(6, np.float32), np.zeros(1, np.float32))
    assert "index -7 counts from the end" in str(info.value)
    assert info.value.source[1] == line_of(index_before_the_start, "MARK-before-start")


# ----------------------------------------------------------------------------- ** with a constant exponent
@ws.jit
def powers(x, n, out):
    v = x[0]
    out[0] = v ** 2
    out[1] = v ** -1
    out[2] = v ** 0
    out[3] = v ** 1
    out[4] = n ** 3
    out[5] = n ** 0
    out[6] = (n ** 13) % 1000
    out[7] = -n ** 2


def test_powers_with_a_constant_exponent_follow_python(dev):
    x, n = np.array([2.6], np.float32), 8
    (_, out) = run(dev, powers, x, n, np.zeros(8, np.float32))
    v = x[0]  # float32 arithmetic, as the kernel does it (NumPy's float32 power for these exponents)
    wrapped = lambda value: np.float32(int32_wrap(value))  # noqa: E731
    assert out.tolist() == [v ** 2, np.float32(1) / v, 1.0, v, n ** 3, 1.0, wrapped(n ** 13) % 1000, -n ** 2]


@ws.jit
def float_square_and_reciprocal(x, out):
    px, py = ws.grid(2)
    i = py * ws.blockDim.x + px
    out[i, 0] = x[i] ** 2
    out[i, 1] = x[i] ** -1


def test_float_square_and_reciprocal_are_numpys_array_power(dev):
    # Values over many magnitudes: on NumPy float32 scalars about one in a thousand would differ in the last
    # bit (C powf); np.power on float32 arrays rounds once, as the kernel does.
    rng = np.random.default_rng(5)
    x = (rng.standard_normal(64) * 10.0 ** rng.integers(-6, 8, 64)).astype(np.float32)
    x[:4] = [9262.0, 0.0, -0.0, 3.0e-39]
    with np.errstate(all="ignore"):
        expected = np.stack([np.power(x, np.float32(2)), np.power(x, np.float32(-1))], axis=1)
    (_, out) = run(dev, float_square_and_reciprocal, x, np.zeros((64, 2), np.float32), block=(8, 8))
    np.testing.assert_array_equal(out, expected)


# ----------------------------------------------------------------------------- builtins min, max, abs
FLOAT_PAIRS = [(1.0, np.nan), (np.nan, 1.0), (0.0, -0.0), (-0.0, 0.0), (np.nan, np.nan), (-np.inf, np.nan),
               (2.5, -1.0), (3.0, 3.0)]  # (8 lanes: one row of the test wafer)


@ws.jit
def min_max_pairs(a, b, out):
    i = ws.grid(1)
    x, y = a[i], b[i]
    out[i, 0] = max(x, y)
    out[i, 1] = min(x, y)
    out[i, 2] = max(x, y, 0.5)
    out[i, 3] = min(0.5, x, y)


def test_float_min_and_max_are_pythons_builtins(dev):
    """`max(a, b)` is `b if b > a else a` (`min` with `<`): with a nan or two zeros of different sign the
    result depends on the order, as in Python (not `np.maximum`), bit for bit (the sign of zero too)."""
    a = np.array([p[0] for p in FLOAT_PAIRS], np.float32)
    b = np.array([p[1] for p in FLOAT_PAIRS], np.float32)
    out, = run(dev, min_max_pairs, a, b, np.zeros((len(a), 4), np.float32), block=(len(a), 1))[2:]
    for i, (x, y) in enumerate(zip(a.tolist(), b.tolist())):
        want = np.array([max(x, y), min(x, y), max(x, y, 0.5), min(0.5, x, y)], np.float32)
        assert out[i].view(np.uint32).tolist() == want.view(np.uint32).tolist(), (x, y, out[i], want)


@ws.jit
def min_max_folded(out):
    out[0] = max(1.0, math.nan)
    out[1] = max(math.nan, 1.0)
    out[2] = max(0.0, -0.0)
    out[3] = min(-0.0, 0.0)


def test_folded_min_and_max_choose_as_the_run_time_ones(dev):
    out, = run(dev, min_max_folded, np.zeros(4, np.float32))
    want = np.array([1.0, np.nan, 0.0, -0.0], np.float32)
    assert out.view(np.uint32).tolist() == want.view(np.uint32).tolist()


@ws.jit
def numpy_int32_builtins(out):
    out[0] = abs(np.int32(-2147483648))       # wraps to itself, as NumPy's abs
    out[1] = abs(np.int32(100000)) ** 2       # still a NumPy int32: wraps
    out[2] = max(np.int32(70000), 3) * np.int32(70000)
    out[3] = min(np.int32(-5), -7)            # Python's -7 (an int): the product below would not fit int32
    out[4] = abs(-2147483647)


def test_builtins_of_numpy_int32_constants_keep_their_wrapping(dev):
    out, = run(dev, numpy_int32_builtins, np.zeros(5, np.int32))
    with np.errstate(over="ignore"):
        want = [abs(np.int32(-2**31)), abs(np.int32(100000)) ** 2, max(np.int32(70000), 3) * np.int32(70000),
                min(np.int32(-5), -7), abs(-2147483647)]
    assert out.tolist() == [int(v) for v in want]


@ws.jit
def truth_values(ints, floats, out):
    i = ws.grid(1)
    a, x = ints[i], floats[i]
    out[i, 0] = bool(a)
    out[i, 1] = bool(x)
    out[i, 2] = bool(a > 0) + bool(x) * 2 + bool(np.bool_(a)) * 4
    out[i, 3] = bool(0) + bool(-0.0) * 2 + bool(math.nan) * 4 + bool(-3) * 8   # folded


def test_bool_is_pythons_truth_of_a_number(dev):
    """`bool(v)` (a Numba-supported builtin, refused before: "'bool' cannot be called in a kernel") is 0 or 1:
    false for 0, 0.0 and -0.0, true for nan and every other number, as Python's."""
    ints = np.array([0, 1, -1, 7, -2147483648, 0, 2, 0], np.int32)
    floats = np.array([0.0, -0.0, np.nan, 1e-45, -np.inf, 0.5, 0.0, -2.0], np.float32)
    out, = run(dev, truth_values, ints, floats, np.zeros((8, 4), np.int32), block=(8, 1))[2:]
    for i, (a, x) in enumerate(zip(ints.tolist(), floats.tolist())):
        want = [bool(a), bool(x), bool(a > 0) + bool(x) * 2 + bool(a) * 4,
                bool(0) + bool(-0.0) * 2 + bool(math.nan) * 4 + bool(-3) * 8]
        assert out[i].tolist() == [int(w) for w in want], (a, x)


# ----------------------------------------------------------------------------- int32 meeting float32
@ws.jit
def mixed_constant_and_run_time(n, x, out):
    c = 16777217
    out[0] = 16777217 + 0.5   # folded
    out[1] = c + 0.5          # a constant variable, folded
    out[2] = n + 0.5          # at run time
    out[3] = float(100000004 > 1e8)
    out[4] = float(n + 83222787 > 1e8)  # 100000004 at run time
    out[5] = 1095936102 / 996633
    out[6] = (n + 1079158885) / 996633  # 1095936102 at run time
    out[7] = x * 16777217
    out[8] = x * (n + 0)


def test_an_int_meeting_a_float_is_converted_to_float32_first_folded_or_not(dev):
    """The machine converts the int32 to float32 (`itof`) before a float32 operation or comparison; folding
    does the same, so a constant and the same value at run time give one result (which, above 2**24, is
    not Python's float64 one: docs/python-supported.md)."""
    out, = run(dev, mixed_constant_and_run_time, np.int32(16777217), np.float32(1.0), np.zeros(9, np.float32))
    f = np.float32
    assert out[0] == out[1] == out[2] == f(f(16777217) + f(0.5)) == f(16777216.0)
    assert out[3] == out[4] == float(f(100000004) > f(1e8)) == 0.0
    assert out[5] == out[6] == f(f(1095936102) / f(996633))
    assert out[7] == out[8] == f(16777216.0)


# ----------------------------------------------------------------------------- membership
SOME = (2, 5, -1)


@ws.jit
def membership(x, out):
    i = ws.grid(1)
    v = x[i]
    out[i, 0] = 1 if v in (1, 2, 3) else 0
    out[i, 1] = 1 if v not in SOME else 0
    out[i, 2] = 1 if v in () else 0
    f = v * 0.5
    out[i, 3] = 1 if f in (0.5, 1.5, v) else 0


def test_in_a_tuple_of_a_run_time_number_follows_python(dev):
    x = np.array([0, 1, 2, 3, 5, -1, 7, 4], np.int32)
    out, = run(dev, membership, x, np.zeros((8, 4), np.int32), block=(8, 1))[1:]
    f = np.float32
    want = [[int(v in (1, 2, 3)), int(v not in SOME), int(v in ()), int(f(v) * f(0.5) in (0.5, 1.5, v))]
            for v in x.tolist()]
    assert out.tolist() == want


BIG = 16777217  # not a float32: as one it is 16777216


@ws.jit
def constant_membership(out, big, tiny):
    out[0] = BIG == 16777216.0  # an int32 with a float32 compares as float32 ...
    out[1] = BIG in (16777216.0,)  # ... and so does each `==` of `in`, constants and run-time values alike
    out[2] = big in (16777216.0,)
    out[3] = BIG not in (16777216.0, 2.5)
    out[4] = big not in (16777216.0, 2.5)
    out[5] = 1e-46 in (0.0,)  # 0.0 as a float32
    out[6] = tiny in (0.0,)
    out[7] = 2147483647 in (2147483648.0,)


def test_in_a_tuple_of_constants_compares_as_equality_does(dev):
    """Written-out numbers were folded with Python's float64 comparison (BIG in (16777216.0,) gave 0 where
    BIG == 16777216.0 gives 1); the reference: NumPy's float32 equality."""
    out = run(dev, constant_membership, np.zeros(8, np.int32), BIG, 1e-46)[0]
    f = np.float32
    want = [f(BIG) == f(16777216.0), f(BIG) in (f(16777216.0),), f(BIG) in (f(16777216.0),),
            f(BIG) not in (f(16777216.0), f(2.5)), f(BIG) not in (f(16777216.0), f(2.5)), f(1e-46) in (f(0.0),),
            f(1e-46) in (f(0.0),), f(2147483647) in (f(2147483648.0),)]
    assert out.tolist() == [int(w) for w in want] == [1, 1, 1, 0, 0, 1, 1, 1]


# ----------------------------------------------------------------------------- constant shift counts, one rule
@ws.jit
def shifts_by_constants(x, out):
    i = ws.grid(1)
    out[i, 0] = x[i] >> 32
    out[i, 1] = x[i] >> 100
    out[i, 2] = x[i] << 32
    out[i, 3] = x[i] << 35
    out[i, 4] = ~0 >> 100
    out[i, 5] = x[i] >> 31


def test_constant_shift_counts_follow_python_as_run_time_ones(dev):
    """A constant count gives what the same count known only at run time gives (and Python, wrapped to
    int32): `>>` by 32 or more is the sign, `<<` by 32 or more is 0; `~0 >> 100` is Python's -1."""
    x = np.array([5, -5, 0, -(2**31), 2**31 - 1, -1, 1, 123], np.int32)
    (_, out) = run(dev, shifts_by_constants, x, np.zeros((8, 6), np.int32), block=(8, 1))
    expected = [[int32_wrap(int(a) >> 32), int32_wrap(int(a) >> 100), int32_wrap(int(a) << 32),
                 int32_wrap(int(a) << 35), ~0 >> 100, int(a) >> 31] for a in x]
    assert out.tolist() == expected
    k = np.full(8, 32, np.int32)  # the same counts known only at run time
    (_, _, at_run_time) = run(dev, shift_kernel, x, k, np.zeros((8, 2), np.int32), block=(8, 1))
    assert at_run_time[:, 0].tolist() == out[:, 2].tolist() and at_run_time[:, 1].tolist() == out[:, 0].tolist()


@ws.jit
def shift_by_a_negative_constant(x, out):
    out[0] = x[0] >> -1  # MARK-negative-shift


def test_a_negative_constant_shift_count_is_refused_at_its_line(dev):
    err = compile_error(dev, shift_by_a_negative_constant, np.ones(1, np.int32), np.zeros(1, np.int32))
    assert err.line == line_of(shift_by_a_negative_constant, "MARK-negative-shift")
    assert "negative shift count -1" in str(err) and "ValueError" in str(err)


# ----------------------------------------------------------------------------- constant division by zero
@ws.jit
def int_floor_divided_by_zero(out):
    out[0] = 7 // 0  # MARK-zero


@ws.jit
def int_modulo_zero(out):
    out[0] = 7 % 0  # MARK-zero


@ws.jit
def float_divided_by_zero(out):
    out[0] = 1.0 / 0.0  # MARK-zero


@ws.jit
def np_float32_divided_by_zero(out):
    out[0] = np.float32(1) / np.float32(0)  # MARK-zero


@pytest.mark.parametrize("kernel, dtype, says, never", [
    (int_floor_divided_by_zero, np.int32, "KernelZeroDivisionError", "inf or nan"),
    (int_modulo_zero, np.int32, "KernelZeroDivisionError", "inf or nan"),
    (float_divided_by_zero, np.float32, "write math.inf, -math.inf or math.nan", "KernelZeroDivisionError"),
    (np_float32_divided_by_zero, np.float32, "NumPy's float32, like the machine at run time, gives inf", "Kernel"),
])
def test_a_constant_division_by_zero_says_what_run_time_gives(dev, kernel, dtype, says, never):
    err = compile_error(dev, kernel, np.zeros(1, dtype))
    assert err.line == line_of(kernel, "MARK-zero") and says in str(err) and never not in str(err)


@ws.jit
def int_divided_by_run_time_zero(out, z):
    out[0] = 7 // z


def test_an_int_division_by_a_run_time_zero_is_the_error_the_message_names(dev):
    err = compile_error(dev, int_floor_divided_by_zero, np.zeros(1, np.int32))
    with pytest.raises(ws.KernelZeroDivisionError):
        run(dev, int_divided_by_run_time_zero, np.zeros(1, np.int32), 0)
    assert ws.KernelZeroDivisionError.__name__ in str(err)


# ----------------------------------------------------------------------------- an exponent assigned once
@ws.jit
def power_by_a_variable(x, out):
    i = ws.grid(1)
    n = 3
    m = 2 * n + 1
    out[i, 0] = x[i] ** n
    out[i, 1] = x[i] ** m
    f = float(x[i])
    out[i, 2] = int(f ** (n - 1))


def test_an_exponent_assigned_once_from_a_constant_is_a_constant(dev):
    """`n = 3; i ** n` is `i ** 3`: Python's result wrapped to int32 (python-supported.md: a variable
    assigned once from a constant expression is usable where a constant is needed)."""
    x = np.array([0, 1, -2, 3, 1000, -1291, 46340, 7], np.int32)
    (_, out) = run(dev, power_by_a_variable, x, np.zeros((8, 3), np.int32), block=(8, 1))
    expected = [[int32_wrap(int(a) ** 3), int32_wrap(int(a) ** 7), int(float(np.float32(a) * np.float32(a)))]
                for a in x]
    assert out.tolist() == expected


@ws.jit
def power_by_a_variable_assigned_twice(x, out):
    n = 3
    if x[0] > 0:
        n = 2
    out[0] = x[0] ** n  # MARK-pow


def test_an_exponent_assigned_twice_is_still_refused(dev):
    run(dev, power_by_a_variable, np.ones(1, np.int32), np.zeros((1, 3), np.int32))  # (once: a constant)
    err = compile_error(dev, power_by_a_variable_assigned_twice, np.ones(1, np.int32), np.zeros(1, np.int32))
    assert err.line == line_of(power_by_a_variable_assigned_twice, "MARK-pow") and "constant whole exponent" in str(err)


# ----------------------------------------------------------------------------- // and % by a power of two
@ws.jit
def floor_by_powers_of_two(x, out):
    i = ws.threadIdx.y * ws.blockDim.x + ws.threadIdx.x
    v = x[i]
    out[i, 0] = v // 1
    out[i, 1] = v % 1
    out[i, 2] = v // 2
    out[i, 3] = v % 2
    out[i, 4] = v // 8
    out[i, 5] = v % 8
    out[i, 6] = v // 16384          # a mask beyond the 14-bit immediate
    out[i, 7] = v % 16384
    out[i, 8] = v // 1073741824
    out[i, 9] = v % 1073741824
    out[i, 10] = v // -4            # not a positive power of two: the divide and its fix-up
    out[i, 11] = v % 3


def test_floor_division_and_modulo_by_a_power_of_two_follow_python(dev):
    # A positive power of two compiles to one shift or mask, never a divide: `i % 2` in a loop costs one cycle.
    x = np.array([0, 1, -1, 7, -7, 2**31 - 1, -(2**31), 123456789, -123456789, 16383, -16385, 8, -8, 2**30,
                  -(2**30), 5], np.int32)
    divisors = [1, 1, 2, 2, 8, 8, 16384, 16384, 2**30, 2**30, -4, 3]
    (_, out) = run(dev, floor_by_powers_of_two, x, np.zeros((16, 12), np.int32), block=(8, 2))
    expected = [[int(v) // d if k % 2 == 0 or k == 10 else int(v) % d for k, d in enumerate(divisors)] for v in x]
    assert out.tolist() == expected
    ops = [line.split()[0] for line in floor_by_powers_of_two.inspect_asm().splitlines() if line.startswith("    ")]
    assert ops.count("div") == 1 and ops.count("rem") == 2   # v // -4 (div, rem) and v % 3 (rem only)
