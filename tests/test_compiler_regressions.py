"""Regression tests for the miscompilations and raw exceptions of issue 10: each kernel's result is compared
with the same code run by Python / NumPy, and what the compiler cannot compile right must be a CompileError
at the source line."""
from __future__ import annotations

import numpy as np
import pytest

import wafersim as ws
from conftest import compile_error, line_of
from conftest import run_on_one_block as run


@pytest.fixture(scope="module")
def dev():
    return ws.Device(ws.WaferSpec(width=8, height=8))


# ----------------------------------------------------------------------------- tuple assignment in loops
@ws.jit
def fibonacci(out, n):
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    out[0] = a
    out[1] = b


@ws.jit
def swap_in_loop(out, n):
    a, b = 1, 2
    k = 0
    while k < n:
        a, b = b, a
        k += 1
    out[0] = a
    out[1] = b


@ws.jit
def tuple_variable_in_loop(out, n):
    t = (0, 1)
    for _ in range(n):
        t = (t[1], t[0] + t[1])
    out[0] = t[0]
    out[1] = t[1]


@pytest.mark.parametrize("kernel", [fibonacci, swap_in_loop, tuple_variable_in_loop])
@pytest.mark.parametrize("n", [0, 1, 2, 10, 11])
def test_tuple_assignment_is_carried_around_loops(dev, kernel, n):
    expected = np.zeros(2, np.int32)
    kernel.py_func(expected, n)
    (out,) = run(dev, kernel, np.zeros(2, np.int32), n)
    np.testing.assert_array_equal(out, expected)
    if kernel is fibonacci and n == 10:
        assert out[0] == 55


# ----------------------------------------------------------------------------- tuples do not share storage
@ws.jit
def tuple_item_then_update(out, v):
    t = (v * 2, v * 3)
    a = t[0]
    a += 1
    out[0] = t[0]
    out[1] = a
    out[2] = t[1]
    u = t
    u = (u[1], 7)  # rebinding u leaves t alone
    out[3] = t[0] + u[0]


@ws.jit
def grid_unpacked(out):
    p = ws.grid(2)
    x, y = p
    x += 100
    out[p[1], p[0]] = x


def test_values_taken_from_a_tuple_are_copies(dev):
    expected = np.zeros(4, np.int32)
    tuple_item_then_update.py_func(expected, 5)
    (out,) = run(dev, tuple_item_then_update, np.zeros(4, np.int32), 5)
    np.testing.assert_array_equal(out, expected)
    assert list(out[:3]) == [10, 11, 15]


def test_unpacking_grid_does_not_change_the_tuple(dev):
    (out,) = run(dev, grid_unpacked, np.zeros((2, 4), np.int32), block=(4, 2))
    np.testing.assert_array_equal(out, np.arange(4)[None, :].repeat(2, axis=0) + 100)


# ----------------------------------------------------------------------------- chained assignment
@ws.jit
def chained_recv(out):
    x, y = ws.grid(2)
    if x == 0:
        ws.send(ws.EAST, 2.5)
    else:
        a = b = ws.recv(ws.WEST)
        a += 1.0
        out[0] = a
        out[1] = b


def test_chained_assignment_evaluates_the_value_once(dev):
    (out,) = run(dev, chained_recv, np.zeros(2, np.float32), block=(2, 1))
    np.testing.assert_array_equal(out, [3.5, 2.5])  # a second recv would deadlock


# ----------------------------------------------------------------------------- slice stores
N = 8


@ws.jit
def slice_expressions(out, x, s, t):
    b = ws.local.array(N, np.float32)
    c = ws.local.array(N, np.float32)
    r = ws.local.array(N, np.float32)
    for i in range(N):
        b[i] = x[i]
        c[i] = x[N + i]
    r[0:4] = s + 1.0                                              # a scalar expression, broadcast
    r[4:N] = -b[4:N]
    out[0, 0:N] = r[0:N]
    r[0:N] = b[0:N] * s + c[0:N] * t - (b[0:N] - c[0:N]) * 0.5
    out[1, 0:N] = r[0:N]
    r[0:N] = s * 3.0 - b[0:N] * (t - 1.0)                          # scalar - slice
    out[2, 0:N] = r[0:N]
    r[0:N] = min(b[0:N], c[0:N] + 1.0) - max(c[0:N], s) * 2.0
    out[3, 0:N] = r[0:N]
    r[0:N] = c[0:N]
    r[1:N] = r[0:N - 1] + b[1:N] * r[0:N - 1]                       # the destination read after it is written
    out[4, 0:N] = r[0:N]
    r[0:N] = c[0:N]
    r[0:4] = b[0:4] * 2.0 + r[0:4]                                  # one vfma
    out[5, 0:N] = r[0:N]


def slice_expressions_reference(x: np.ndarray, s: np.float32, t: np.float32) -> np.ndarray:
    """The same statements in NumPy float32."""
    b, c = x[:N].copy(), x[N:].copy()
    r = np.zeros(N, np.float32)
    out = np.zeros((6, N), np.float32)
    r[0:4] = s + np.float32(1.0)
    r[4:N] = -b[4:N]
    out[0] = r
    r[:] = b * s + c * t - (b - c) * np.float32(0.5)
    out[1] = r
    r[:] = s * np.float32(3.0) - b * (t - np.float32(1.0))
    out[2] = r
    r[:] = np.minimum(b, c + np.float32(1.0)) - np.maximum(c, s) * np.float32(2.0)
    out[3] = r
    r[:] = c
    r[1:N] = r[0:N - 1] + b[1:N] * r[0:N - 1]
    out[4] = r
    r[:] = c
    r[0:4] = b[0:4] * np.float32(2.0) + r[0:4]
    out[5] = r
    return out


def test_vector_expression_trees_match_numpy(dev):
    x = np.random.default_rng(3).standard_normal(2 * N).astype(np.float32)
    s, t = np.float32(1.75), np.float32(-0.625)
    out, _ = run(dev, slice_expressions, np.zeros((6, N), np.float32), x, s, t)
    np.testing.assert_array_equal(out, slice_expressions_reference(x, s, t))
    assert "vfma" in slice_expressions.inspect_asm()


@ws.jit
def int_slice_expressions(out, k):
    a = ws.local.array(N, np.int32)
    r = ws.local.array(N, np.int32)
    for i in range(N):
        a[i] = i * 3 - 7
    r[0:N] = k - (a[0:N] * 2 - -a[0:N]) + max(a[0:N], k // 2)
    for i in range(N):
        out[i] = r[i]


def test_int_vector_expression_trees_match_numpy(dev):
    a = np.arange(N, dtype=np.int32) * 3 - 7
    k = np.int32(5)
    expected = k - (a * 2 - -a) + np.maximum(a, k // 2)
    (out,) = run(dev, int_slice_expressions, np.zeros(N, np.int32), 5)
    np.testing.assert_array_equal(out, expected)


@ws.jit
def recv_into_slice_expression(out):
    x, y = ws.grid(2)
    a = ws.local.array(4, np.float32)
    for i in range(4):
        a[i] = float(i)
    if x == 0:
        ws.send(ws.EAST, 1.5)
    else:
        a[0:4] = ws.recv(ws.WEST) * 2.0 + a[0:4]
        out[0:4] = a[0:4]


def test_recv_scalar_in_a_slice_expression(dev):
    (out,) = run(dev, recv_into_slice_expression, np.zeros(4, np.float32), block=(2, 1))
    np.testing.assert_array_equal(out, np.arange(4, dtype=np.float32) + np.float32(3.0))


@ws.jit
def slice_lengths_differ(out):
    a = ws.local.array(8, np.float32)
    a[0:4] = a[0:2] + 1.0  # MARK-length
    out[0] = a[0]


@ws.jit
def slice_lengths_differ_at_run_time(out, n):
    a = ws.local.array(8, np.float32)
    a[0:4] = a[0:n] * 2.0
    out[0] = a[0]


def test_slice_operands_of_another_length_are_refused(dev):
    err = compile_error(dev, slice_lengths_differ, np.zeros(1, np.float32))
    assert err.line == line_of(slice_lengths_differ, "MARK-length") and "has 2 elements" in str(err)
    with pytest.raises(ws.MemoryAccessError):
        run(dev, slice_lengths_differ_at_run_time, np.zeros(1, np.float32), 3)
    (out,) = run(dev, slice_lengths_differ_at_run_time, np.zeros(1, np.float32), 4)
    assert out[0] == 0.0


# ----------------------------------------------------------------------------- constant slices out of bounds
@ws.jit
def row_slice_past_the_end(out):
    t = ws.local.array((2, 4), np.float32)
    t[1, 0:8] = 1.0  # MARK-row
    out[0] = t[1, 0]


@ws.jit
def reversed_slice(out):
    a = ws.local.array(8, np.float32)
    a[5:2] = 1.0  # MARK-reversed
    out[0] = a[0]


@ws.jit
def reversed_global_slice(out):
    a = ws.local.array(8, np.float32)
    a[0:3] = out[5:2]  # MARK-global
    out[0] = a[0]


@pytest.mark.parametrize("kernel,marker", [(row_slice_past_the_end, "MARK-row"), (reversed_slice, "MARK-reversed"),
                                           (reversed_global_slice, "MARK-global")])
def test_constant_slices_are_checked_at_compile_time(dev, kernel, marker):
    err = compile_error(dev, kernel, np.zeros(8, np.float32))
    assert err.line == line_of(kernel, marker) and "0 <= start <= stop <= size" in str(err)


# ----------------------------------------------------------------------------- definite assignment
@ws.jit
def assigned_in_one_branch(out, c):
    if c > 0:
        x = 1.0
    out[0] = x  # MARK-maybe


@ws.jit
def assigned_in_loop_only(out, n):
    for i in range(n):
        y = 2.0 * i
    out[0] = y  # MARK-maybe


@ws.jit
def loop_variable_after_empty_loop(out, n):
    for i in range(n):
        pass
    out[0] = i  # MARK-maybe


@pytest.mark.parametrize("kernel", [assigned_in_one_branch, assigned_in_loop_only, loop_variable_after_empty_loop])
def test_a_variable_assigned_on_some_paths_only_is_refused(dev, kernel):
    err = compile_error(dev, kernel, np.zeros(1, np.float32), 1)
    assert err.line == line_of(kernel, "MARK-maybe") and "may be used before assignment" in str(err)


@ws.jit
def assigned_on_every_path(out, c):
    if c > 2:
        x = 1.0
    elif c > 1:
        x = 2.0
    else:
        if c < 0:
            return
        x = 3.0
    k = 0
    while True:
        z = k * 2
        k += 1
        if k > c:
            break
    for i in range(3):
        w = i
    out[0] = x + z + w + i


@pytest.mark.parametrize("c", [-1, 0, 1, 2, 3])
def test_a_variable_assigned_on_every_path_compiles(dev, c):
    expected = np.zeros(1, np.float32)
    assigned_on_every_path.py_func(expected, c)
    (out,) = run(dev, assigned_on_every_path, np.zeros(1, np.float32), c)
    np.testing.assert_array_equal(out, expected)


@ws.jit
def pick_array(out, other, c):
    arr = out
    if c > 0:
        arr = other  # MARK-pick
    arr[0] = 1.0


def test_choosing_an_array_at_run_time_is_refused(dev):
    err = compile_error(dev, pick_array, np.zeros(1, np.float32), np.zeros(1, np.float32), 1)
    assert err.line == line_of(pick_array, "MARK-pick") and "cannot become" in str(err)


# ----------------------------------------------------------------------------- device functions
@ws.jit
def scaled(x, a=2.0, b=0.5):
    return a * x + b


@ws.jit
def count_up(n, times=3):
    for _ in range(times):
        n = n + 1
    return n


@ws.jit
def first_positive(v, fallback=-1):
    if v > 0:
        fallback = v
    return fallback


@ws.jit
def calls_helpers(out, v, k):
    out[0] = scaled(v)
    out[1] = scaled(v, b=1.0)
    out[2] = scaled(v, 3.0, 4.0)
    out[3] = scaled(b=1.0, x=v)
    out[4] = count_up(5)
    out[5] = count_up(k, times=2)
    out[6] = first_positive(k)
    out[7] = first_positive(-k)


def test_device_functions_take_keywords_and_defaults(dev):
    v, k = np.float32(1.25), 4
    expected = np.zeros(8, np.float32)
    calls_helpers.py_func.__globals__  # the reference is the same code run by Python
    for index, value in enumerate([scaled.py_func(v), scaled.py_func(v, b=1.0), scaled.py_func(v, 3.0, 4.0),
                                   scaled.py_func(b=1.0, x=v), count_up.py_func(5), count_up.py_func(k, times=2),
                                   first_positive.py_func(k), first_positive.py_func(-k)]):
        expected[index] = value
    (out,) = run(dev, calls_helpers, np.zeros(8, np.float32), v, k)
    np.testing.assert_array_equal(out, expected)


@ws.jit
def unknown_keyword(out, v):
    out[0] = scaled(v, c=1.0)  # MARK-call


@ws.jit
def missing_argument(out, v):
    out[0] = scaled(a=v)  # MARK-call


@pytest.mark.parametrize("kernel,text", [(unknown_keyword, "unexpected keyword argument 'c'"),
                                         (missing_argument, "missing a required argument: 'x'")])
def test_bad_device_function_calls_are_refused(dev, kernel, text):
    err = compile_error(dev, kernel, np.zeros(1, np.float32), np.float32(1))
    assert err.line == line_of(kernel, "MARK-call") and text in str(err)


# ----------------------------------------------------------------------------- int32 words through recv
@ws.jit
def running_sum(out, values):
    x, y = ws.grid(2)
    width = ws.gridsize(2)[0]
    s = 0
    if x > 0:
        s += ws.recv(ws.WEST)  # an int32 variable: the word is received as an int32
    s += values[x]
    if x + 1 < width:
        ws.send(ws.EAST, s)
    out[x] = s


@ws.jit
def annotated_recv(out):
    x, y = ws.grid(2)
    if x == 0:
        ws.send(ws.EAST, 123456789)
    else:
        v: int = ws.recv(ws.WEST)
        out[0] = v + 1
        ws.send(ws.WEST, 7)
    if x == 0:
        out[1] = ws.recv(ws.EAST)  # stored into an int32 array: received as an int32


@ws.jit
def relays_both_ways(keys, out):
    x = ws.grid(1)
    a = keys[x]
    if ws.has_neighbor(ws.WEST):
        ws.send(ws.WEST, a)
    a = ws.recv(ws.EAST) if ws.has_neighbor(ws.EAST) else 0  # a branch of a conditional: int32 too
    b = keys[x]
    if ws.has_neighbor(ws.EAST):
        ws.send(ws.EAST, b)
    b = ws.recv(ws.WEST) if ws.has_neighbor(ws.WEST) else 0
    out[x] = a * 1000 + b


def test_recv_takes_the_type_of_where_the_value_goes(dev):
    values = np.array([3, -1, 1 << 20, 7, 0, 11], np.int32)
    (out, _) = run(dev, running_sum, np.zeros(6, np.int32), values, block=(6, 1))
    np.testing.assert_array_equal(out, np.cumsum(values))
    (out,) = run(dev, annotated_recv, np.zeros(2, np.int32), block=(2, 1))
    np.testing.assert_array_equal(out, [123456790, 7])
    # (refused before, "cannot assign a float32 value to an int32 variable", when both relays were there)
    keys = np.arange(8, dtype=np.int32) + 100
    (_, out) = run(dev, relays_both_ways, keys, np.zeros(8, np.int32), block=(8, 1))
    np.testing.assert_array_equal(out, np.r_[keys[1:], 0] * 1000 + np.r_[0, keys[:-1]])


@ws.jit
def float_recv_into_int(out):
    s = 0
    s = s + ws.recv(ws.WEST) * 2  # MARK-hint


def test_the_hint_for_an_untyped_recv_names_dtype(dev):
    err = compile_error(dev, float_recv_into_int, np.zeros(1, np.int32))
    assert err.line == line_of(float_recv_into_int, "MARK-hint")
    assert "dtype=np.int32" in str(err) and "convert with int(...)" not in str(err)


# ----------------------------------------------------------------------------- module-level tuples
DIRECTIONS = (ws.EAST, ws.WEST)
WEIGHTS = (0.5, 0.25, 2.0)


@ws.jit
def module_tuples(out):
    x, y = ws.grid(2)
    for d in DIRECTIONS:
        if ws.has_neighbor(d):
            ws.send(d, float(x))
    acc = 0.0
    for d in DIRECTIONS:
        if ws.has_neighbor(d):
            acc += ws.recv(d)
    a, b, c = WEIGHTS
    out[x] = acc * WEIGHTS[0] + a + b * c


def test_module_level_tuples_of_constants(dev):
    (out,) = run(dev, module_tuples, np.zeros(4, np.float32), block=(4, 1))
    x = np.arange(4)
    acc = np.where(x > 0, x - 1, 0) + np.where(x < 3, x + 1, 0)
    np.testing.assert_array_equal(out, (acc * 0.5 + 0.5 + 0.25 * 2.0).astype(np.float32))


# ----------------------------------------------------------------------------- augmented and nested assignment
@ws.jit
def augmented_and_nested(out, v):
    buf = ws.local.array(4, np.float32)
    other = ws.local.array(4, np.float32)
    for i in range(4):
        buf[i] = float(i)
        other[i] = v * i
    buf[0:4] += other[0:4]
    buf[1:3] *= 2.0
    (a, b), c = (v, v + 1.0), v * 3.0
    out[0] += a
    out[1] -= b * c
    for i in range(4):
        out[2 + i] = buf[i]


def test_augmented_assignment_on_slices_and_nested_unpacking(dev):
    v = np.float32(1.5)
    expected = np.ones(6, np.float32)
    buf, other = np.arange(4, dtype=np.float32), v * np.arange(4, dtype=np.float32)
    buf += other
    buf[1:3] *= np.float32(2.0)
    expected[0] += v
    expected[1] -= (v + np.float32(1.0)) * (v * np.float32(3.0))
    expected[2:] = buf
    (out,) = run(dev, augmented_and_nested, np.ones(6, np.float32), v)
    np.testing.assert_array_equal(out, expected)
