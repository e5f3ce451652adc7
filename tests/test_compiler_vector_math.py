"""Math functions of slices in slice assignments (compiler/vectors.py, `vmath`): each element is what the
scalar instruction gives, i.e. NumPy's float32 ufunc (isa/float_math.py for erf and the like), and each
element costs the function's own cycles over the vector lanes."""
from __future__ import annotations

import math

import numpy as np
import pytest

import wafersim as ws
from conftest import compile_error, load_source, run_on_one_block
from wafersim.isa import float_math


def same_bits(got: np.ndarray, want: np.ndarray) -> bool:
    return bool(((got.view(np.int32) == want.view(np.int32)) | (np.isnan(got) & np.isnan(want))).all())


@pytest.fixture(scope="module")
def dev():
    return ws.Device(ws.WaferSpec(width=4, height=4))


X = np.array([0.0, -0.0, 0.5, -1.5, 2.0, 10.0, -30.0, 1e-30, np.inf, -np.inf, np.nan, 3.25, 88.0, -0.75, 0.1,
              7.5], np.float32)


@pytest.mark.parametrize("call,reference", [
    ("np.exp(a[0:16])", np.exp), ("np.tanh(a[0:16])", np.tanh), ("np.sqrt(a[0:16])", np.sqrt),
    ("math.sin(a[0:16])", np.sin), ("abs(a[0:16])", np.abs), ("np.abs(a[0:16])", np.abs),
    ("np.log1p(a[0:16])", np.log1p), ("np.floor(a[0:16])", np.floor), ("math.erf(a[0:16])", float_math.erf32),
    ("math.lgamma(a[0:16])", float_math.lgamma32), ("np.rint(a[0:16])", np.rint),
])
def test_function_of_a_slice_equals_numpy_float32(dev, tmp_path, call, reference):
    source = f"""import math
import numpy as np
import wafersim as ws


@ws.jit
def kern(x, out):
    a = ws.local.array(16, np.float32)
    a[0:16] = x[0:16]
    a[0:16] = {call}
    out[0:16] = a[0:16]
"""
    kern = load_source(tmp_path, source).kern
    _, out = run_on_one_block(dev, kern, X, np.zeros(16, np.float32))
    with np.errstate(all="ignore"):
        assert same_bits(out, reference(X)), (call, out, reference(X))


def test_functions_inside_a_vector_tree_with_broadcast_scalars(dev, tmp_path):
    source = """import math
import numpy as np
import wafersim as ws


@ws.jit
def kern(x, out, s):
    a = ws.local.array(16, np.float32)
    b = ws.local.array(16, np.float32)
    a[0:16] = x[0:16]
    b[0:16] = math.sqrt(s) * np.tanh(a[0:16] * 0.5) + np.exp(-abs(a[0:16])) - a[0:16]
    a[0:16] = np.cos(a[0:16]) * b[0:16]                 # the destination is an operand: as NumPy
    out[0, 0:16] = b[0:16]
    out[1, 0:16] = a[0:16]
"""
    kern = load_source(tmp_path, source).kern
    x = np.linspace(-4, 4, 16, dtype=np.float32)
    _, out = run_on_one_block(dev, kern, x, np.zeros((2, 16), np.float32), np.float32(2.0))
    s = np.float32(math.sqrt(2.0))
    b = s * np.tanh(x * np.float32(0.5)) + np.exp(-np.abs(x)) - x
    assert same_bits(out[0], b.astype(np.float32))
    assert same_bits(out[1], (np.cos(x) * b).astype(np.float32))


def test_vector_math_costs_the_function_cycles_per_lane_group(tmp_path):
    """vmath over n elements: issue cost plus ceil(n * cost / vector_lanes), cost the scalar function's."""
    spec = ws.WaferSpec(width=2, height=2)
    dev = ws.Device(spec)
    cycles = {}
    for name in ("np.exp", "np.floor"):
        source = f"""import numpy as np
import wafersim as ws


@ws.jit
def kern(out):
    a = ws.local.array(64, np.float32)
    a[0:64] = 1.0
    a[0:64] = {name}(a[0:64])
    out[0] = a[0]
"""
        kern = load_source(tmp_path, source).kern
        out = dev.device_array(1)
        cycles[name] = kern[(1, 1), (1, 1)](out).cycles
    sfu, fpu = spec.cost_cycles["sfu"], spec.cost_cycles["fpu"]
    lanes = spec.vector_lanes
    assert cycles["np.exp"] - cycles["np.floor"] == math.ceil(64 * sfu / lanes) - math.ceil(64 * fpu / lanes)


@pytest.mark.parametrize("body,text", [
    ("b[0:4] = np.exp(b[0:4])", "int32 slice"),
    ("y = np.exp(a[0:4])", "exp() of a slice"),
    # a function that does apply to slices, called where a number goes: the place is what is wrong (it said
    # "sqrt() takes numbers ... only the float32 math functions of one argument apply", which sqrt is)
    ("y = math.sqrt(a[0:4])", "sqrt() of a slice gives a slice, and slices compute only in an assignment"),
    ("y = max(abs(a[0:4]))", "got a slice: slices compute only in an assignment to a slice (r[0:n] = abs("),
    ("y = max(0.0, a[0:4])", "sum(), min(), max() of one slice and ws.dot() of two give a number"),
    ("a[0:4] = np.power(a[0:4], 2.0)", "takes two arguments"),
    ("a[0:4] = math.floor(a[0:4])", "write np.floor(...), which gives float32 values"),
    ("a[0:4] = round(a[0:4])", "write np.rint(...)"),
    ("a[0:4] = math.atan2(a[0:4], 1.0)", "write an element loop"),
    ("b[0:4] = np.degrees(b[0:4])", "int32 slice"),
    ("b[0:4] = math.fabs(b[0:4])", "int32 slice"),  # fabs gives floats; abs of int32 slices is computed below
])
def test_refused_vector_math(dev, tmp_path, body, text):
    source = f"""import math

import numpy as np
import wafersim as ws


@ws.jit
def kern(out):
    a = ws.local.array(4, np.float32)
    b = ws.local.array(4, np.int32)
    a[0:4] = 1.0
    b[0:4] = 1
    {body}
    out[0] = 0.0
"""
    kern = load_source(tmp_path, source).kern
    assert text in str(compile_error(dev, kern, np.zeros(1, np.float32)))


@ws.jit
def block_function(x, out):
    t = ws.local.array((2, 4), np.float32)
    u = ws.local.array((2, 4), np.float32)
    for r in range(2):
        u[r, 0:4] = x[r, 0:4]
    t[0:2, 0:4] = np.exp(u[0:2, 0:4]) * 0.5 + abs(u[0:2, 0:4]) - ws.sqrt(2.0)
    for r in range(2):
        out[r, 0:4] = t[r, 0:4]


def test_functions_of_blocks_apply_row_by_row(dev):
    x = np.linspace(-2, 2, 8, dtype=np.float32).reshape(2, 4)
    _, out = run_on_one_block(dev, block_function, x, np.zeros((2, 4), np.float32))
    assert same_bits(out, np.exp(x) * np.float32(0.5) + np.abs(x) - np.sqrt(np.float32(2.0)))


@ws.jit
def int_abs(x, y, out, s):
    a = ws.local.array(6, np.int32)
    b = ws.local.array(6, np.int32)
    a[0:6] = x[0:6]
    b[0:6] = y[0:6]
    b[0:6] = abs(a[0:6] - b[0:6]) * 2 + abs(a[0:6]) - abs(s)  # b read after the first write: scratch
    out[0:6] = b[0:6]
    a[0:6] = np.abs(a[0:6])  # NumPy's spelling too
    out[6:12] = a[0:6]


def test_abs_of_int32_slices_is_numpys_int32_abs(dev):
    """abs of an int32 slice expression into an int32 slice: NumPy's int32 np.abs (abs(-2**31) wraps to
    itself), with the destination also an operand of the expression whose abs is taken."""
    x = np.array([-2**31, 2**31 - 1, -5, 0, 7, -1], np.int32)
    y = np.array([1, -1, 3, 0, 9, -2**31], np.int32)
    out = dev.device_array(12, np.int32)
    int_abs[(1, 1), (1, 1)](dev.to_device(x), dev.to_device(y), out, -3)
    with np.errstate(over="ignore"):
        want = np.abs(x - y) * np.int32(2) + np.abs(x) - np.int32(3)
    np.testing.assert_array_equal(out.copy_to_host(), np.concatenate([want, np.abs(x)]))


@ws.jit
def angles(x, out):
    a = ws.local.array(8, np.float32)
    t = ws.local.array((2, 8), np.float32)
    a[0:8] = x[0:8]
    out[0, 0:8] = a[0:8]
    a[0:8] = np.degrees(a[0:8]) - math.radians(a[0:8] * 2.0)
    out[1, 0:8] = a[0:8]
    t[0:2, 0:8] = a[0:8]  # broadcast to both rows
    t[0:2, 0:8] = np.deg2rad(t[0:2, 0:8])
    out[2, 0:8] = t[1, 0:8]
    for k in range(8):
        out[3, k] = math.degrees(x[k])  # the scalar form: the same bits as the slice form


def test_degrees_and_radians_of_slices_equal_numpy_float32(dev):
    x = np.array([0.0, -0.0, 1.0, -3.1415927, 1e-45, 3.4e38, np.inf, np.nan], np.float32)
    out = dev.device_array((4, 8))
    angles[(1, 1), (1, 1)](dev.to_device(x), out)
    got = out.copy_to_host()
    with np.errstate(all="ignore"):
        first = np.degrees(x) - np.radians(x * np.float32(2.0))
        want = [x, first, np.deg2rad(first), np.degrees(x)]
    for row, expected in enumerate(want):
        assert same_bits(got[row], expected), (row, got[row], expected)
