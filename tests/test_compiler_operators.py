"""Operators and indexing in kernels against Python / NumPy: int32 constants, shifts by a run-time count,
dividing slices, `len()` and negative indices, `**`. What the compiler cannot compute as Python would is a
CompileError at the source line."""
from __future__ import annotations

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
def scalar_over_slice(out):
    a = ws.local.array(4, np.float32)
    a[0:4] = 1.0
    a[0:4] = 2.0 / a[0:4]  # MARK-scalar-over-slice
    out[0:4] = a[0:4]


@ws.jit
def int_slices_divided(out):
    a = ws.local.array(4, np.int32)
    a[0:4] = 6
    a[0:4] = a[0:4] / a[0:4]  # MARK-int-divide
    out[0:4] = a[0:4]


@pytest.mark.parametrize("kernel, marker, dtype, words", [
    (scalar_over_slice, "MARK-scalar-over-slice", np.float32, "a scalar divided by a slice"),
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
