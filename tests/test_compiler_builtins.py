"""Python builtins a numerics programmer writes in a kernel: `pow(x, y)` compiles as `x ** y` (its three-
argument modular form, `sum(t, start)` and NumPy's `np.abs` are refused at their line with what to write)."""
from __future__ import annotations

import numpy as np
import pytest

import wafersim as ws
from conftest import compile_error, int32_wrap, line_of
from conftest import run_on_one_block as run


@pytest.fixture(scope="module")
def dev():
    return ws.Device(ws.WaferSpec(width=8, height=8))


def power_f32(x: float, y: float) -> np.float32:
    """`fpow`'s documented result: the power of the float32 operands in float64, rounded once to float32."""
    with np.errstate(all="ignore"):
        return np.float32(np.power(np.float64(np.float32(x)), np.float64(np.float32(y))))


@ws.jit
def builtin_pow(ints, floats, a, f):
    ints[0] = pow(a, 3)            # int32: Python's result wrapped to int32
    ints[1] = pow(a, 0)
    ints[2] = pow(2, 10)           # folded
    floats[0] = pow(f, 2)          # f * f, rounded once
    floats[1] = pow(f, 0.5)        # fpow
    floats[2] = pow(2.0, f)
    floats[3] = pow(-f, 1.5)       # a negative base to a fractional power: nan (Python: a complex number)
    floats[4] = pow(a, 0.5)        # an int32 base with a float32 exponent: float32


@pytest.mark.parametrize("a, f", [(3, 2.25), (-7, 0.1), (1291, 3.0), (0, 0.0)])
def test_builtin_pow_is_the_power_operator(dev, a, f):
    ints, floats = run(dev, builtin_pow, np.zeros(3, np.int32), np.zeros(5, np.float32), a, np.float32(f))
    assert ints.tolist() == [int32_wrap(a ** 3), 1, 1024]
    f32 = np.float32(f)
    expected = [f32 * f32, power_f32(f, 0.5), power_f32(2.0, f), power_f32(-f, 1.5), power_f32(a, 0.5)]
    np.testing.assert_array_equal(floats, np.array(expected, np.float32))


@ws.jit
def pow_negative_int_exponent(out, a):
    out[0] = pow(a, -1)  # MARK-pow


@ws.jit
def pow_modular(out, a):
    out[0] = pow(a, 2, 5)  # MARK-pow


@ws.jit
def pow_run_time_int_exponent(out, a):
    out[0] = pow(a, a)  # MARK-pow


@ws.jit
def sum_with_start(out, a):
    out[0] = sum((a, 1), 10)  # MARK-pow


@ws.jit
def numpy_abs(out, a):
    out[0] = np.abs(a)  # MARK-pow


@pytest.mark.parametrize("kernel, message", [
    (pow_negative_int_exponent, "an int to a negative power is a float in Python"),
    (pow_modular, "pow(x, y, mod) is not supported"),
    (pow_run_time_int_exponent, "needs a constant whole exponent"),
    (sum_with_start, "sum() takes no start value in a kernel: add it to the result"),
    (numpy_abs, "write the builtin abs(x)"),
])
def test_builtins_the_compiler_cannot_compile_are_refused_at_their_line(dev, kernel, message):
    err = compile_error(dev, kernel, np.zeros(1, np.int32), 3)
    assert err.line == line_of(kernel, "MARK-pow") and message in str(err)
