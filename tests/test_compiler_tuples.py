"""Tuples and compile-time constants through device functions and loops, against plain Python.

Device functions returning tuples (`x, y = helper(...)`), constant arguments of any kind (strings, tuples
of ints) binding as constants in the inlined body, `for` over tuples with `enumerate` and `zip` (displays,
module globals, closures, helper arguments, tuple variables), `range` with a step known only at run time
(grid-stride loops), and directions held in variables.
"""
from __future__ import annotations

import numpy as np
import pytest

import wafersim as ws
from conftest import compile_error, load_source, run_on_one_block

PRELUDE = """import math
import numpy as np
import wafersim as ws

DIRS = (ws.EAST, ws.WEST)
WEIGHTS = (1.5, -2.0, 0.25)
"""


@pytest.fixture(scope="module")
def dev():
    return ws.Device(ws.WaferSpec(width=8, height=8))


def module(tmp_path, body: str):
    return load_source(tmp_path, PRELUDE + body)


def python_divmod(a, b):
    return a // b, a % b


def test_device_functions_return_tuples(dev, tmp_path):
    m = module(tmp_path, """

@ws.jit
def divmod_(a, b):
    return a // b, a % b


@ws.jit
def stats(v, w):
    if v > w:
        return (w, v), v - w
    return (v, w), w - v


@ws.jit
def kern(x, out):
    i = ws.grid(1)
    q, r = divmod_(x[i], 7)
    (lo, hi), gap = stats(x[i], 3)
    pair = divmod_(x[i] * 1.0, 2.5)
    out[i, 0] = q
    out[i, 1] = r
    out[i, 2] = lo * 100 + hi
    out[i, 3] = gap
    out[i, 4] = int(pair[0] * 10 + pair[1])
""")
    x = np.array([-20, -7, -1, 0, 3, 6, 50, 1000], np.int32)
    out, = run_on_one_block(dev, m.kern, x, np.zeros((8, 5), np.int32), block=(8, 1))[1:]
    for i, v in enumerate(x.tolist()):
        q, r = python_divmod(v, 7)
        lo, hi = sorted((v, 3))
        p0, p1 = python_divmod(np.float32(v), np.float32(2.5))
        assert list(out[i]) == [q, r, np.int32(lo * 100 + hi), hi - lo, int(np.float32(p0 * 10 + p1))], v


def test_constant_arguments_of_any_kind_bind_as_constants(dev, tmp_path):
    m = module(tmp_path, """

@ws.jit
def scaled(v, how, weights=(1, 2, 3), dirs=DIRS):
    if how == "first":
        return v * weights[0]
    if how in ("sum", "total"):
        total = 0
        for w in weights:
            total += v * w
        return total
    return v * len(weights) + len(dirs)


@ws.jit
def neighbours(dirs):
    count = 0
    for d in dirs:
        if ws.has_neighbor(d):
            count += 1
    return count


@ws.jit
def kern(out):
    i = ws.grid(1)
    out[i, 0] = scaled(i, "first")
    out[i, 1] = scaled(i, "sum", (4, 5))
    out[i, 2] = scaled(i, how="other", weights=(1, 1, 1, 1))
    out[i, 3] = neighbours(DIRS)
    out[i, 4] = neighbours((ws.NORTH, ws.SOUTH, ws.EAST))
""")
    out, = run_on_one_block(dev, m.kern, np.zeros((4, 5), np.int32), block=(4, 1))
    for i in range(4):
        east, west = i < 3, i > 0
        assert list(out[i]) == [i, i * 4 + i * 5, i * 4 + 2, east + west, east], i


def test_for_over_enumerate_and_zip_of_constant_tuples(dev, tmp_path):
    m = module(tmp_path, """
OFFSETS = (10, 20, 30)


def make(scale):
    @ws.jit
    def kern(x, out):
        i = ws.grid(1)
        local = (x[i], x[i] * 2.0, x[i] - 1.0)
        acc = 0.0
        for k, w in enumerate(WEIGHTS):
            acc += k * w * x[i]
        for k, (w, o) in enumerate(zip(WEIGHTS, OFFSETS), start=1):
            acc += k * w + o
        for v, w in zip(local, WEIGHTS):
            v += 1.0
            acc += v * w
        for pair in zip((1, 2), (3.5, 4.5, 5.5)):
            acc += pair[0] * pair[1] * scale
        out[i] = acc + local[0]
    return kern
""")
    kern = m.make(0.5)
    x = np.array([0.5, -1.25, 3.0, 8.0], np.float32)
    out, = run_on_one_block(dev, kern, x, np.zeros(4, np.float32), block=(4, 1))[1:]
    f = np.float32
    weights, offsets = (f(1.5), f(-2.0), f(0.25)), (10, 20, 30)
    for i, xi in enumerate(x):
        acc = f(0.0)
        for k, w in enumerate(weights):
            acc = f(acc + f(f(k * w) * xi))
        for k, (w, o) in enumerate(zip(weights, offsets), start=1):
            acc = f(acc + f(f(k * w) + o))
        for v, w in zip((xi, f(xi * 2), f(xi - 1)), weights):
            acc = f(acc + f(f(v + 1) * w))
        for a, b in zip((1, 2), (f(3.5), f(4.5))):
            acc = f(acc + f(f(a * b) * f(0.5)))
        assert out[i] == f(acc + xi), (i, out[i], acc + xi)


@pytest.mark.parametrize("start,stop,step", [(0, 37, 3), (5, 37, 8), (36, -1, -5), (0, 10, 100), (9, 9, 1),
                                             (3, 0, 2)])
def test_range_with_a_run_time_step(dev, tmp_path, start, stop, step):
    m = module(tmp_path, """

@ws.jit
def kern(out, start, stop, step):
    i = ws.grid(1)
    total = 0
    count = 0
    for j in range(start + i, stop, step):
        total += j * (count + 1)
        count += 1
        step = 1000  # Python's range evaluated its step once
    out[i, 0] = total
    out[i, 1] = count
""")
    out, = run_on_one_block(dev, m.kern, np.zeros((4, 2), np.int32), start, stop, step, block=(4, 1))
    for i in range(4):
        values = list(range(start + i, stop, step))
        assert list(out[i]) == [sum(j * (c + 1) for c, j in enumerate(values)), len(values)], i


INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
# Ranges whose counter would pass an int32 bound after its last value (Python's range never overflows).
EDGE_RANGES = [(2147483640, INT32_MAX, 5), (INT32_MAX - 9, INT32_MAX, 4), (-1, INT32_MAX, INT32_MAX),
               (INT32_MIN, INT32_MAX, INT32_MAX), (-2000000000, 2000000000, 1000000000), (INT32_MAX - 3, INT32_MAX, 2),
               (INT32_MIN + 7, INT32_MIN, -3), (INT32_MIN + 9, INT32_MIN - 0, -4), (2000000000, -2000000000, -1000000000),
               (INT32_MAX, INT32_MIN, INT32_MIN + 1), (0, INT32_MIN, -(2**30)), (5, 5, 2), (INT32_MAX - 1, INT32_MAX, 1)]


@pytest.mark.parametrize("known", ["nothing", "stop", "stop and step"])
@pytest.mark.parametrize("start,stop,step", EDGE_RANGES)
def test_ranges_near_the_int32_bounds_run_as_python(dev, tmp_path, known, start, stop, step):
    """The counter of `for j in range(...)` is int32: stepping past the last value must end the loop, not
    wrap around, whether the stop and step are known when compiling or only at run time. The lanes start
    at the case's start, half way to its stop and at its stop (trip counts differ by lane)."""
    stop_text = str(stop) if known != "nothing" else "stop"
    step_text = str(step) if known == "stop and step" else "step"
    m = module(tmp_path, f"""

@ws.jit
def kern(out, starts, stop, step):
    i = ws.grid(1)
    count = 0
    last = 0
    for j in range(starts[i], {stop_text}, {step_text}):
        count += 1
        last = j
        if count > 50:  # (a wrapped counter would run on: stop it, the result then shows it)
            break
    out[i, 0] = count
    out[i, 1] = last
""")
    starts = np.array([start, (start + stop) // 2, stop], np.int32)
    out, = run_on_one_block(dev, m.kern, np.zeros((3, 2), np.int32), starts, stop, step, block=(3, 1))[:1]
    for i, first in enumerate(starts.tolist()):
        values = range(first, stop, step)
        assert list(out[i]) == [len(values), values[-1] if len(values) else 0], (i, first)


def test_int32_min_written_out_is_a_constant(dev, tmp_path):
    m = module(tmp_path, """

@ws.jit
def kern(out):
    out[0] = -2147483648
    out[1] = -2147483647 - 1
""")
    out, = run_on_one_block(dev, m.kern, np.ones(2, np.int32), block=(1, 1))
    assert out.tolist() == [-2**31, -2**31]


def test_grid_stride_loop_covers_every_element_once(dev, tmp_path):
    m = module(tmp_path, """

@ws.jit
def kern(x, out, n):
    for j in range(ws.grid(1), n, ws.gridsize(1)):
        out[j] = x[j] * 2.0 + 1.0
""")
    x = np.arange(101, dtype=np.float32)
    d_x, d_out = dev.to_device(x), dev.device_array(101)
    m.kern[(2, 1), (3, 1)](d_x, d_out, 101)
    assert np.array_equal(d_out.copy_to_host(), x * 2 + 1)


def test_a_zero_run_time_step_stops_the_kernel_as_python_raises(dev, tmp_path):
    m = module(tmp_path, """

@ws.jit
def kern(out, step):
    for j in range(0, 10, step):
        out[0] = j
""")
    with pytest.raises(ws.KernelValueError, match="must not be zero"):
        run_on_one_block(dev, m.kern, np.zeros(1, np.int32), 0)
    assert range(0, 10, 1)  # Python: range(0, 10, 0) raises ValueError, the same message


def test_directions_held_in_variables(dev, tmp_path):
    m = module(tmp_path, """
ROUTE = "row_bus"


@ws.jit
def kern(x, out):
    i = ws.grid(1)
    east = ws.EAST
    west = DIRS[1]
    pattern = ROUTE
    if ws.has_neighbor(east):
        ws.send(east, x[i])
    left = 0.0
    if ws.has_neighbor(west):
        left = ws.recv(west)
    out[i] = left
""")
    x = np.array([1.0, 2.0, 3.0, 4.0], np.float32)
    out, = run_on_one_block(dev, m.kern, x, np.zeros(4, np.float32), block=(4, 1))[1:]
    assert list(out) == [0.0, 1.0, 2.0, 3.0]


def test_a_conditional_expression_chooses_between_tuples_as_python(dev, tmp_path):
    """`lo, hi = (a, b) if a < b else (b, a)` (was: "expected a number here, got a tuple"): only the branch
    the condition picks is evaluated -- its receive and its helper's store happen, the other's do not --
    nested tuples and an int32 meeting a float32 (a float32 result) included."""
    m = module(tmp_path, """

@ws.jit
def mark(buf, k):
    buf[k] += 1
    return k * 10


@ws.jit
def kern(a, b, x, out):
    i = ws.grid(1)
    buf = ws.local.array(4, np.int32)
    for k in range(4):
        buf[k] = 0
    if i == 0:
        if a[0] < b[0]:
            ws.send(ws.EAST, 7)
    else:
        lo, hi = (a[0], b[0]) if a[0] < b[0] else (b[0], a[0])
        r, m2 = (ws.recv(ws.WEST), mark(buf, 1)) if a[0] < b[0] else (-1, mark(buf, 2))
        (u, v), w = ((lo, x[0]), 1) if hi > 3 else ((hi, 0.5), lo)
        out[0] = lo * 100 + hi
        out[1] = r * 1000 + m2
        out[2] = buf[1] * 10 + buf[2]
        out[3] = u + v * 4 + w * 16
""")

    def python(a, b, x):
        buf = [0] * 4

        def mark(k):
            buf[k] += 1
            return k * 10
        lo, hi = (a, b) if a < b else (b, a)
        r, m2 = (7, mark(1)) if a < b else (-1, mark(2))
        (u, v), w = ((lo, x), 1) if hi > 3 else ((hi, 0.5), lo)
        return [lo * 100 + hi, r * 1000 + m2, buf[1] * 10 + buf[2], u + v * 4 + w * 16]

    for a, b, x in [(2, 5, 1.25), (5, 2, -3.5), (1, 3, 0.75), (-4, -9, 2.0)]:
        args = (np.array([a], np.int32), np.array([b], np.int32), np.array([x], np.float32))
        out, = run_on_one_block(dev, m.kern, *args, np.zeros(4, np.float32), block=(2, 1))[3:]
        assert out.tolist() == python(a, b, np.float32(x)), (a, b, x)


@pytest.mark.parametrize("body,text", [
    ("for a, b in enumerate(range(3)):\n        pass", "run over tuples"),
    ("for a, b in (1, 2):\n        pass", "cannot unpack"),
    ("d = ws.EAST\n    d = ws.WEST\n    ws.send(d, 1.0)", "direction must be an int constant"),
    ("for k in enumerate((1, 2), start=n):\n        pass", "start must be a constant"),
    ("x, y = pair(1)", "cannot unpack"),
    ("y = shape(n)", "same shape"),
    ("y = mixed(n)", "this return gives a float32 where the device function's first return gave an int32"),
    ("y = mixed_pair(n)", "return a float there (float(...)) or an int here (int(...))"),
    ("a, b = (n, 1) if n > 0 else (n, 1, 2)", "tuples of different shapes"),
    ("a, b = (n, out) if n > 0 else (n, out)", "chooses between numbers or tuples of numbers"),
    ("a, b = (n, 1) if n > 0 else 5", "gives a tuple and the other a number"),
    ("a = n if n > 0 else (n, 1)", "gives a tuple and the other a number"),
    # (was "expected a number here, got a tuple": tuples of run-time values do not compare)
    ("y = (n, 1) == (3, 1)", "comparing tuples is not supported in a kernel"),
    ("t = (n, 1)\n    y = t != (3, 1)", "compare their items, `a[0] == b[0] and a[1] == b[1]`"),
    ("y = n < (1, 2)", "comparing tuples is not supported"),
    ("y = 0 < (n, 1) < 5", "comparing tuples is not supported"),
])
def test_misuse_is_a_compile_error(dev, tmp_path, body, text):
    m = module(tmp_path, f"""

@ws.jit
def pair(v):
    return v


@ws.jit
def shape(v):
    if v > 0:
        return v, v
    return v, v, v


@ws.jit
def mixed(v):
    if v > 0:
        return 1
    return 2.5


@ws.jit
def mixed_pair(v):
    if v > 0:
        return v, 1
    return v, 0.5


@ws.jit
def kern(out, n):
    {body}
    out[0] = 0
""")
    error = compile_error(dev, m.kern, np.zeros(1, np.int32), 3)
    assert text in str(error), str(error)


def test_a_route_name_passed_to_a_helper_as_a_string(dev, tmp_path):
    """`helper(v, "row_bus")`: the string binds as a constant, so ws.use_route inside the helper takes it."""
    m = module(tmp_path, """

@ws.jit
def broadcast(value, position, bus, channel=3):
    ws.use_route(channel, bus)
    if position == 0:
        ws.send(ws.RAMP, value, channel=channel)
    else:
        value = ws.recv(ws.RAMP, channel=channel)
    return value


def make(ports):
    @ws.jit
    def kern(x, out):
        i = ws.grid(1)
        out[i] = broadcast(x[i], i, "row_bus") + len(ports)
    return kern
""")
    kern = m.make((ws.EAST, ws.WEST))  # a tuple held in a closure
    x = np.array([2.5, 7.0, 9.0, 1.0], np.float32)
    out, = run_on_one_block(dev, kern, x, np.zeros(4, np.float32), block=(4, 1))[1:]
    assert list(out) == [4.5] * 4


def test_a_direction_assigned_only_in_a_branch_is_not_a_constant(dev, tmp_path):
    m = module(tmp_path, """

@ws.jit
def kern(out, n):
    if n > 0:
        d = ws.EAST
    ws.send(d, 1.0)
    out[0] = 0.0
""")
    error = compile_error(dev, m.kern, np.zeros(1, np.float32), 1)
    assert "may be used before assignment" in str(error)


def test_tuples_compared_item_by_item_as_the_tuple_comparison_error_advises(dev, tmp_path):
    """The rewrite the error of `pair(p) == (1, 2)` advises compiles and agrees with Python's tuple `==`."""
    m = module(tmp_path, """

@ws.jit
def pair(p):
    return p % 3, p // 3


@ws.jit
def kern(out):
    i = ws.grid(1)
    a = pair(i)
    u, v = pair(i)
    out[i, 0] = 1 if a[0] == 1 and a[1] == 2 else 0
    out[i, 1] = 1 if u != 2 or v != 0 else 0
""")
    out, = run_on_one_block(dev, m.kern, np.zeros((8, 2), np.int32), block=(8, 1))
    want = [[int((p % 3, p // 3) == (1, 2)), int((p % 3, p // 3) != (2, 0))] for p in range(8)]
    assert out.tolist() == want


def test_np_int32_items_of_a_tuple_variable_wrap_as_shapes_indices_and_loop_items(dev, tmp_path):
    # A tuple variable of np.int32 constants read as a constant (an index, a shape, a loop's items) gave its items
    # as Python ints: `(t[0] + 1) // 2**30` was -2 as a value (NumPy's wrap) but indexed T[2] and sized an array
    # 2 + 5 long, and `for c in t: c + 1` was refused as 2**31 "does not fit"
    m = module(tmp_path, """
T = (10, 20, 30, 40, 50)
W = np.int32(2**31 - 1)


@ws.jit
def kern(out):
    t = (W, (W, 2))
    out[0] = (t[0] + 1) // 2**30
    out[1] = T[(t[0] + 1) // 2**30]
    out[2] = T[(t[1][0] + 1) // 2**30]
    buf = ws.local.array((t[0] + 1) // 2**30 + 5, np.int32)
    out[3] = len(buf)
    k = 4
    for c in t[1]:
        out[k] = c + 1
        k += 1
""")
    (got,) = run_on_one_block(dev, m.kern, np.zeros(6, np.int32))
    w = np.int32(2**31 - 1)
    with np.errstate(over="ignore"):
        index = (w + np.int32(1)) // 2**30
        items = [w + np.int32(1), np.int32(2) + np.int32(1)]
    T = (10, 20, 30, 40, 50)
    assert got.tolist() == [index, T[index], T[index], index + 5, *items]
