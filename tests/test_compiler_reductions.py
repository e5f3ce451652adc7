"""Reductions of local slices (`sum`, `min`, `max`, `ws.dot`) against plain Python loops in float32/int32.

The machine reduces left to right, rounding (float32) or wrapping (int32) after every step, as a Python
loop over NumPy scalars does, so results are compared exactly. Costs: one vector instruction, whose element
cycles follow `WaferSpec.vector_lanes` as every vector op's do.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

import wafersim as ws
from conftest import compile_error, load_source, run_on_one_block

N = 24


@pytest.fixture(scope="module")
def dev():
    return ws.Device(ws.WaferSpec(width=8, height=8))


def kernel(tmp_path, dtype: str):
    return load_source(tmp_path, f"""import numpy as np
import wafersim as ws


@ws.jit
def kern(x, y, out, n):
    i = ws.grid(1)
    a = ws.local.array({N}, np.{dtype})
    b = ws.local.array({N}, np.{dtype})
    a[0:{N}] = x[0:{N}]
    b[0:{N}] = y[0:{N}]
    out[i, 0] = sum(a[i:n])
    out[i, 1] = min(a[i:n])
    out[i, 2] = max(a[0:n - i])
    out[i, 3] = ws.dot(a[i:n], b[0:n - i])
    out[i, 4] = sum(a)
""").kern


def sequential(values, dtype):
    total = dtype(0)
    for v in values:
        total = dtype(total + v)
    return total


def check(out, x, y, n, dtype):
    with np.errstate(over="ignore"):
        for i in range(out.shape[0]):
            products = (x[i:n] * y[0:n - i]).astype(dtype)
            want = [sequential(x[i:n], dtype), x[i:n].min(), x[0:n - i].max(), sequential(products, dtype),
                    sequential(x, dtype)]
            assert out[i].tolist() == [dtype(w).item() for w in want], (i, out[i], want)


def test_float32_reductions_are_sequential_python_sums(dev, tmp_path):
    rng = np.random.default_rng(1)
    x = (rng.standard_normal(N) * np.exp2(rng.integers(-12, 12, N))).astype(np.float32)
    y = rng.standard_normal(N).astype(np.float32)
    out, = run_on_one_block(dev, kernel(tmp_path, "float32"), x, y, np.zeros((4, 5), np.float32), 21,
                            block=(4, 1))[2:]
    check(out, x, y, 21, np.float32)


@pytest.mark.parametrize("compiled", [True, False])
def test_sums_of_negative_zeros_are_positive_zero_as_python_s_sum(dev, tmp_path, compiled):
    """Python's sum starts from 0, and 0 + -0.0 is +0.0: a sum or dot of -0.0s is +0.0 (it was -0.0: the
    accumulation started from element 0), on both engine paths; one +0.0 or nonzero term is as before."""
    from wafersim.sim.strategy import Strategy, forced
    x = np.array([-0.0] * 6 + [0.0] + [-0.0] * (N - 7), np.float32)
    y = np.ones(N, np.float32)
    with forced(Strategy(compiled=compiled)):
        out, = run_on_one_block(dev, kernel(tmp_path, "float32"), x, y, np.zeros((4, 5), np.float32), 6,
                                block=(4, 1))[2:]
    want = np.array([[sequential(x[i:6], np.float32), x[i:6].min(), x[0:6 - i].max(),
                      sequential((x[i:6] * y[0:6 - i]).astype(np.float32), np.float32), sequential(x, np.float32)]
                     for i in range(4)], np.float32)
    assert np.signbit(want[:, [0, 3]]).sum() == 0 and np.signbit(want[:, [1, 2]]).all()  # (the reference)
    assert out.view(np.int32).tolist() == want.view(np.int32).tolist()


@pytest.mark.parametrize("compiled", [True, False])
def test_min_and_max_between_zeros_of_both_signs_take_the_later_as_numpy_s_reduce(dev, tmp_path, compiled):
    """docs/python-supported.md: min/max take each element in turn as np.minimum/np.maximum do, so of +-0.0
    the later wins (np.minimum.reduce), where Python's builtin min/max keep the first."""
    from wafersim.sim.strategy import Strategy, forced
    x = np.array(([-0.0, 0.0] * N)[:N], np.float32)
    y = np.ones(N, np.float32)
    with forced(Strategy(compiled=compiled)):
        out, = run_on_one_block(dev, kernel(tmp_path, "float32"), x, y, np.zeros((4, 5), np.float32), 6,
                                block=(4, 1))[2:]
    for i in range(4):
        for column, part in ((1, x[i:6]), (2, x[0:6 - i])):
            want = (np.minimum if column == 1 else np.maximum).reduce(part)
            assert np.signbit(out[i, column]) == np.signbit(want) == np.signbit(part[-1])
    assert np.signbit(min(x[0:2])) and not np.signbit(out[0, 1])  # (Python's builtin differs, as documented)


def test_int32_reductions_wrap_as_numpy(dev, tmp_path):
    rng = np.random.default_rng(2)
    x = rng.integers(-(2**31), 2**31, N, dtype=np.int64).astype(np.int32)
    y = rng.integers(-1000, 1000, N).astype(np.int32)
    out, = run_on_one_block(dev, kernel(tmp_path, "int32"), x, y, np.zeros((4, 5), np.int32), N, block=(4, 1))[2:]
    check(out, x, y, N, np.int32)


def test_nan_propagates_through_min_and_max_and_empty_sums_are_zero(dev, tmp_path):
    kern = load_source(tmp_path, """import numpy as np
import wafersim as ws


@ws.jit
def kern(x, out, n):
    a = ws.local.array(4, np.float32)
    a[0:4] = x[0:4]
    out[0] = min(a)
    out[1] = max(a[1:4])
    out[2] = sum(a[2:n])
    out[3] = ws.dot(a[0:n - 2], a[0:n - 2])
""").kern
    x = np.array([1.0, np.nan, -2.0, 3.0], np.float32)
    out, = run_on_one_block(dev, kern, x, np.zeros(4, np.float32), 2)[1:]
    assert math.isnan(out[0]) and math.isnan(out[1]) and out[2] == 0.0 and out[3] == 0.0


def test_min_of_an_empty_slice_stops_the_kernel_as_python_raises(dev, tmp_path):
    kern = load_source(tmp_path, """import numpy as np
import wafersim as ws


@ws.jit
def kern(out, n):
    a = ws.local.array(4, np.int32)
    a[0:4] = 1
    out[0] = min(a[0:n])
""").kern
    with pytest.raises(ws.KernelValueError, match="empty slice"):
        run_on_one_block(dev, kern, np.zeros(1, np.int32), 0)
    with pytest.raises(ValueError):
        min([])  # what Python does


def test_a_reduction_is_one_vector_instruction(dev, tmp_path):
    """The cycles a longer reduction adds are its extra elements over `vector_lanes`, as for vadd."""
    kern = load_source(tmp_path, """import numpy as np
import wafersim as ws


@ws.jit
def kern(out, n):
    a = ws.local.array(4096, np.float32)
    out[0] = ws.dot(a[0:n], a[0:n])
""").kern
    lanes = dev.spec.vector_lanes
    cycles = []
    for n in (lanes * 100, lanes * 400):
        d_out = dev.device_array(1)
        stats = kern[(1, 1), (1, 1)](d_out, n)
        cycles.append(stats.cycles)
    assert cycles[1] - cycles[0] == 300


@pytest.mark.parametrize("body,text", [
    ("y = sum(x[0:4])", "global slice"),
    ("y = ws.dot(a[0:4], a[0:3])", "has 3 elements"),
    ("y = ws.dot(a[0:4], b[0:4])", "an int32 and a float32"),
    ("y = sum(a[0:4], 1.0)", "takes no start value"),
    ("y = sum(a[0:2], a[2:4], a[0:1])", "takes one slice"),
    ("y = min(1.0)", "at least two"),
])
def test_misuse_is_a_compile_error(dev, tmp_path, body, text):
    kern = load_source(tmp_path, f"""import numpy as np
import wafersim as ws


@ws.jit
def kern(x, out):
    a = ws.local.array(4, np.float32)
    b = ws.local.array(4, np.int32)
    {body}
    out[0] = 0.0
""").kern
    error = compile_error(dev, kern, np.zeros(4, np.float32), np.zeros(1, np.float32))
    assert text in str(error), str(error)
