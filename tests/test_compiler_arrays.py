"""Local arrays: aliasing through device-function parameters, row slices of 2-D arrays, 3-D arrays, indices and
slices from the end, first contents, element stores and augmented assignments (ws.constant shapes:
test_compiler_constant_parameters.py)."""
from __future__ import annotations

import numpy as np
import pytest

import wafersim as ws

T = 4


@ws.jit
def add_shifted(dst, src):
    dst[1:5] = src[0:4] + src[0:4] + dst[0:4]  # dst is read after the first operator would write it


@ws.jit
def alias_through_parameter(out):
    a = ws.local.array(8, np.float32)
    b = ws.local.array(8, np.float32)
    for i in range(8):
        a[i] = float(i)
        b[i] = 1.0
    add_shifted(a, b)
    for i in range(8):
        out[i] = a[i]


@ws.jit
def row_slices(out):
    t = ws.local.array((T, T * 2), np.float32)  # a shape computed from a module constant
    for i in range(T):
        for j in range(T * 2):
            t[i, j] = float(i * 10 + j)
    t[1, 0:4] = t[2, 4:8] * 2.0 + t[1, 0:4]
    for i in range(T):
        for j in range(T * 2):
            out[i * T * 2 + j] = t[i, j]


def run(kernel, n):
    dev = ws.Device(ws.WaferSpec(width=1, height=1))
    out = dev.device_array(n)
    kernel[(1, 1), (1, 1)](out)
    return out.copy_to_host()


def test_aliasing_is_detected_through_a_device_function_parameter():
    a = np.arange(8, dtype=np.float32)
    a[1:5] = np.float32(1) + np.float32(1) + a[0:4]
    np.testing.assert_array_equal(run(alias_through_parameter, 8), a)


def test_row_slices_of_a_2d_local_array_are_vector_operands():
    t = np.array([[i * 10 + j for j in range(8)] for i in range(4)], np.float32)
    t[1, 0:4] = t[2, 4:8] * np.float32(2) + t[1, 0:4]
    np.testing.assert_array_equal(run(row_slices, 32).reshape(4, 8), t)
    assert "vfma" in row_slices.inspect_asm()


# ---------------------------------------------------------------------- 3-D local arrays
D0, D1, D2 = 2, 3, 4


@ws.jit
def three_d(x, out):
    t = ws.local.array((D0, D1, D2), np.float32)
    for i in range(D0):
        for j in range(D1):
            for k in range(D2):
                t[i, j, k] = x[(i * D1 + j) * D2 + k]
    t[1, 2, 0:4] = t[0, 1, 0:4] * 2.0 - t[1, 0, 0:4]  # row slices, as NumPy's t[i, j, a:b]
    t[-1, 0, -1] = t[0, -1, 1] + len(t) + t.shape[2]   # constant negative indices count from the end
    for i in range(D0):
        for j in range(D1):
            out[i * D1 + j, 0:D2] = t[i, j, 0:D2]


def test_three_dimensional_local_arrays_are_row_major_like_numpy():
    dev = ws.Device(ws.WaferSpec(width=2, height=2))
    x = np.arange(D0 * D1 * D2, dtype=np.float32) * np.float32(0.5)
    out = dev.device_array((D0 * D1, D2))
    three_d[(1, 1), (1, 1)](dev.to_device(x), out)
    want = x.reshape(D0, D1, D2).copy()
    want[1, 2, 0:4] = want[0, 1, 0:4] * 2 - want[1, 0, 0:4]
    want[-1, 0, -1] = want[0, -1, 1] + D0 + D2
    np.testing.assert_array_equal(out.copy_to_host(), want.reshape(D0 * D1, D2))


@ws.jit
def three_d_out_of_bounds(out, j):
    t = ws.local.array((2, 3, 4), np.float32)
    t[1, j, 0] = 1.0
    out[0] = t[1, 2, 0]


def test_three_dimensional_indices_are_bounds_checked_per_axis():
    dev = ws.Device(ws.WaferSpec(width=2, height=2))
    out = dev.device_array(1)
    three_d_out_of_bounds[(1, 1), (1, 1)](out, 2)
    assert out.copy_to_host()[0] == 1.0
    with pytest.raises(ws.MemoryAccessError, match="axis 1"):
        three_d_out_of_bounds[(1, 1), (1, 1)](out, 3)  # word 24 of 24: caught on its axis


@ws.jit
def _rows_from_the_end(out):
    t = ws.local.array((3, 4), np.float32)
    u = ws.local.array((2, 3, 4), np.float32)
    for i in range(3):
        for j in range(4):
            t[i, j] = i * 10.0 + j
            u[1, i, j] = i * 100.0 + j
    out[0] = sum(t[-1, 0:4])
    out[1] = sum(u[-1, -2, 1:3])
    t[-3, 0:2] = u[1, -1, 2:4]
    out[2] = t[0, 0] + t[0, 1]


def test_a_constant_negative_row_index_of_a_row_slice_counts_from_the_end():
    t = np.array([[i * 10.0 + j for j in range(4)] for i in range(3)], np.float32)
    u = np.zeros((2, 3, 4), np.float32)
    u[1] = [[i * 100.0 + j for j in range(4)] for i in range(3)]
    t[-3, 0:2] = u[1, -1, 2:4]
    dev = ws.Device(ws.WaferSpec(width=4, height=4))
    out = dev.device_array(3)
    _rows_from_the_end[(1, 1), (1, 1)](out)
    assert out.copy_to_host().tolist() == [float(np.float32(sum(np.array([20, 21, 22, 23], np.float32)))),
                                           float(u[-1, -2, 1:3].sum()), float(t[0, 0] + t[0, 1])]



@ws.jit
def _indices_in_variables(x, out):
    t = ws.local.array((4, 3), np.float32)
    col = ws.local.array(4, np.float32)
    for i in range(4):
        for j in range(3):
            t[i, j] = i * 3.0 + j
    last = -1                  # assigned once from a constant: indexes as the -1 it holds does
    k = last - 1               # (and a variable of it)
    out[0] = t[last, k]
    out[1] = x[last]
    col[0:4] = t[0:4, last]    # a column copy's index too
    out[2] = sum(col)
    out[3] = sum(t[k, 0:3])    # a row slice's row
    t[k, last] = 100.0
    out[4] = t[2, 2]


def test_a_variable_assigned_once_from_a_negative_constant_counts_from_the_end_as_python():
    """`last = -1; a[last]` is `a[-1]` in Python; the compiler read it as a run-time index (out of bounds)."""
    t = np.array([[i * 3.0 + j for j in range(3)] for i in range(4)], np.float32)
    x = np.arange(5, dtype=np.float32) + 0.5
    last, k = -1, -2
    col_sum = np.float32(0)
    for v in t[0:4, last]:
        col_sum = np.float32(col_sum + v)
    row_sum = np.float32(0)
    for v in t[k, 0:3]:
        row_sum = np.float32(row_sum + v)
    expected = [t[last, k], x[last], col_sum, row_sum, 100.0]
    dev = ws.Device(ws.WaferSpec(width=4, height=4))
    out = dev.device_array(5)
    _indices_in_variables[(1, 1), (1, 1)](dev.to_device(x), out)
    np.testing.assert_array_equal(out.copy_to_host(), np.array(expected, np.float32))


def _converted_indices(x, out):
    b = np.int32(-3)
    c = int(-2)
    d = np.int32(2) - 5        # (an expression of one)
    e = int(np.int32(-1))
    out[0] = x[b]
    out[1] = x[c]
    out[2] = x[d]
    out[3] = x[e]
    out[4] = x[np.int32(-4)]   # (written in the subscript)


def test_an_index_converted_with_int_or_np_int32_counts_from_the_end_as_python():
    """`b = np.int32(-3); a[b]` was a MemoryAccessError at run time (the conversion hid the constant), while
    `b = -3; a[b]` counts from the end: both count from the end, as plain Python indexing does."""
    x = np.arange(6, dtype=np.float32) * 1.5
    out_host = np.zeros(5, np.float32)
    _converted_indices(x, out_host)  # the same function run by Python
    assert out_host.tolist() == [x[3], x[4], x[3], x[5], x[2]]
    dev = ws.Device(ws.WaferSpec(width=4, height=4))
    out = dev.device_array(5)
    ws.jit(_converted_indices)[1, 1](dev.to_device(x), out)
    np.testing.assert_array_equal(out.copy_to_host(), out_host)


@ws.jit
def _negative_bound_in_a_variable(out):
    a = ws.local.array(8, np.float32)
    stop = -1
    out[0] = sum(a[0:stop])


def test_a_negative_slice_bound_in_a_variable_is_refused_as_a_written_one_is():
    dev = ws.Device(ws.WaferSpec(width=4, height=4))
    refused = r"a slice \[0:-1\] is out of bounds.*\(negative bounds are not supported\)"
    with pytest.raises(ws.CompileError, match=refused) as info:
        _negative_bound_in_a_variable[(1, 1), (1, 1)](dev.device_array(1))
    assert "sum(a[0:stop])" in str(info.value)


# ----------------------------------------------------------------------------- a local array's first contents
@ws.jit
def allocated_in_a_loop(out, x):
    for trip in range(3):
        u = ws.local.array(2, np.float32)  # one piece of SRAM for every trip, not a new zeroed array
        out[trip] = u[0]                   # 0.0 on the first trip, then what the trip before left
        u[0] = x + trip


def test_a_local_array_starts_zero_each_launch_and_a_loop_s_array_keeps_its_last_trip():
    """docs/python-supported.md: zero when the block starts (each launch), one storage for a loop's trips."""
    dev = ws.Device(ws.WaferSpec(width=4, height=4))
    for x in (7.5, -2.0):  # a second launch starts from zeros again, not from the first one's SRAM
        out = dev.device_array(3)
        allocated_in_a_loop[(1, 1), (1, 1)](out, x)
        np.testing.assert_array_equal(out.copy_to_host(), np.array([0.0, x, x + 1], np.float32))


N64, T32 = np.int64(5), np.int32(3)


@ws.jit
def numpy_int_shapes(out):
    a = ws.local.array(N64, np.float32)               # a NumPy integer closed over: a shape of 5
    b = ws.local.array(T32 * T32, np.float32)         # folded as Python ints: 9
    c = ws.local.array((T32, N64), np.float32)
    for i in range(N64):
        a[i] = i * 1.0
    for i in range(T32 * T32):
        b[i] = 2.0
    c[2, 4] = 7.0
    out[0] = a[4] + b[8] + c[2, 4]


def test_local_array_shapes_may_be_numpy_integers():
    # A shape np.int64(5), or T * T of np.int32s, was refused as "not a constant shape" (isinstance(int)
    # checks), so library kernels built from a NumPy-integer size (ml.matmul(tile=np.int64(4))) failed to
    # compile in the library's own code; NumPy integers fold as the Python ints they equal.
    dev = ws.Device(ws.WaferSpec(width=1, height=1))
    out = dev.to_device(np.zeros(1, np.float32))
    numpy_int_shapes[1, 1](out)
    assert out.copy_to_host()[0] == 4.0 + 2.0 + 7.0
    from wafersim.kernels import ml
    a = np.random.default_rng(0).standard_normal((6, 5)).astype(np.float32)
    product, _ = ml.matmul(a, a.T, tile=np.int64(4))
    np.testing.assert_allclose(product, a.astype(np.float64) @ a.T, atol=1e-5)


@ws.jit
def global_column_load(u, out):
    j = ws.grid(1)
    col = ws.local.array(3, np.float32)
    col[0:3] = u[0:3, j]  # refused: a column of a global array
    out[j, 0:3] = col[0:3]


@ws.jit
def global_column_by_rows(u, out):
    j = ws.grid(1)
    t = ws.local.array((3, 4), np.float32)
    col = ws.local.array(3, np.float32)
    t[0:3, 0:4] = u[0:3, 0:4]  # what the refusal says to do: load the rows, take the column locally
    col[0:3] = t[0:3, j]
    out[j, 0:3] = col[0:3]


@ws.jit
def block_of_a_3d_local(u, out):
    t = ws.local.array((2, 3, 4), np.float32)
    t[1, 0:3, 0:4] = u[0:3, 0:4]  # refused: a 3-D array's block
    out[0, 0:4] = t[1, 0, 0:4]


def test_a_column_of_a_global_array_is_refused_as_a_column_and_the_fix_it_names_works():
    """`col[0:3] = u[0:3, j]` of a 2-D global array was refused with a message about blocks ("a block t[a:b, c:d]
    ... can only be assigned to ..."); it names the column and the fix, which computes NumPy's transpose."""
    dev = ws.Device(ws.WaferSpec(width=4, height=4))
    u = np.arange(12, dtype=np.float32).reshape(3, 4)
    with pytest.raises(ws.CompileError, match=r"a column of the 2-D global array u is not a slice here") as info:
        global_column_load[1, 4](dev.to_device(u), dev.device_array((4, 3)))
    assert "u[0:3, j]" in str(info.value) and "load the rows into a local array" in str(info.value)
    out = dev.device_array((4, 3))
    global_column_by_rows[1, 4](dev.to_device(u), out)
    assert np.array_equal(out.copy_to_host(), u.T)
    with pytest.raises(ws.CompileError, match=r"a block of a 3-D array is not one: assign it row by row"):
        block_of_a_3d_local[1, 1](dev.to_device(u), dev.device_array((1, 4)))


@pytest.mark.parametrize("shape, shown", [("0", "0"), ("-4", "-4"), ("(3, 0)", r"\(3, 0\)"), ("(2, 2, 2, 2)", r"\(2, 2, 2, 2\)"),
                                          ("N - 8", "0")])
def test_a_constant_shape_that_is_no_shape_is_refused_as_such_not_as_not_constant(tmp_path, shape, shown):
    """`ws.local.array(0)` and other constant shapes SRAM cannot hold said "needs a constant shape", about
    values that are constant; the error names the shape, at its line. A valid constant shape compiles and runs."""
    from conftest import load_source
    source = ("import numpy as np\nimport wafersim as ws\nN = 8\n\n\n@ws.jit\ndef kern(out):\n"
              f"    t = ws.local.array({shape}, np.int32)\n    out[0] = 1\n")
    module = load_source(tmp_path, source)
    dev = ws.Device(ws.WaferSpec(width=2, height=2))
    with pytest.raises(ws.CompileError, match=rf"ws.local.array shape {shown} is not a valid shape: an int or a "
                                              r"tuple of 1 to 3 ints, each at least 1") as info:
        module.kern[1, 1](dev.device_array(1, np.int32))
    assert info.value.line == 8 and "constant shape" not in str(info.value)
    ok = load_source(tmp_path, source.replace(f"array({shape},", "array((N - 7, 2),"))
    out = dev.device_array(1, np.int32)
    ok.kern[1, 1](out)
    assert out.copy_to_host().tolist() == [1]


@ws.jit
def int_into_float_arrays(out, buf_out, n):
    i = ws.grid(1)
    buf = ws.local.array(2, np.float32)
    buf[0] = n + i
    out[i] = n * 3 + i
    buf_out[i] = buf[0]


@ws.jit
def float_into_int_array(out, v):
    out[ws.grid(1)] = v * 2.0  # refused: a float32 into an int32 array


@ws.jit
def float_into_int_local(out, v):
    buf = ws.local.array(2, np.int32)
    buf[0] = v  # refused: a float32 into an int32 local array
    out[0] = buf[0]


@ws.jit
def float_into_int_converted(out, v):
    out[ws.grid(1)] = int(v * 2.0)


def test_element_stores_of_the_other_type_are_as_documented():
    """docs/python-supported.md, Arrays: an int32 value stored into a float32 array converts as NumPy's
    assignment does (rounding above 2**24); a float32 into an int32 array, global or local, is refused at its
    line (NumPy would truncate silently), and `int(v)` stores NumPy's truncation."""
    from conftest import line_of
    dev = ws.Device(ws.WaferSpec(width=4, height=4))
    n = 2**24 + 1  # above 2**24: the conversion rounds, as NumPy's float32 assignment
    out, buf_out = dev.device_array(4), dev.device_array(4)
    int_into_float_arrays[1, 4](out, buf_out, n)
    expected = np.empty(4, np.float32)
    expected[:] = n * 3 + np.arange(4)
    assert np.array_equal(out.copy_to_host(), expected)
    expected[:] = n + np.arange(4)
    assert np.array_equal(buf_out.copy_to_host(), expected)
    for kernel in (float_into_int_array, float_into_int_local):
        with pytest.raises(ws.CompileError, match="cannot store a float32 into int32 array") as info:
            kernel[1, 4](dev.device_array(4, np.int32), -1.75)
        assert info.value.line == line_of(kernel, "refused")
    ints = dev.device_array(4, np.int32)
    float_into_int_converted[1, 4](ints, -1.75)
    host = np.zeros(4, np.int32)
    host[:] = np.float32(-1.75) * np.float32(2.0)  # NumPy truncates toward zero
    assert np.array_equal(ints.copy_to_host(), host)


@ws.jit
def _slice_views_keep_their_bounds(x, out, s):
    a = ws.local.array(10, np.float32)
    b = ws.local.array(12, np.float32)
    a[0:10] = x[0:10]
    v = a[s:s + 4]          # a run-time start held in s's register
    w = a[s:]               # its start is s itself
    g = x[s + 1:s + 5]      # a view of a global array
    s += 2                  # rebinding s after slicing moves none of them
    b[0:4] = v
    b[4] = sum(w)
    b[5:9] = g
    k, u = 3, a[s:s + 3]    # the slice is taken with s as it is before k, u are bound
    s, r = 0, a[s + 1:s + 2]
    b[9:12] = u
    b[9] = b[9] + sum(r)
    a[2:6] = 50.0           # a view sees its array change
    b[0:4] = b[0:4] + v
    for i in range(3):
        q = a[i:i + 2]
        i = 7               # (rebinding the loop variable too)
        b[10:12] += q
    out[0:12] = b[0:12]


def test_a_slice_variable_keeps_the_bounds_it_was_taken_with_as_numpy_views_do():
    dev = ws.Device(ws.WaferSpec(width=4, height=4))
    x = (np.arange(10, dtype=np.float32) * 1.5 - 4).astype(np.float32)
    for s0 in (1, 3):
        a = x.copy()
        b = np.zeros(12, np.float32)
        s = s0
        v, w, g = a[s:s + 4], a[s:], x[s + 1:s + 5]
        s += 2
        b[0:4] = v
        b[4] = sum(w)
        b[5:9] = g
        k, u = 3, a[s:s + 3]
        s, r = 0, a[s + 1:s + 2]
        b[9:12] = u
        b[9] = b[9] + sum(r)
        a[2:6] = 50
        b[0:4] = b[0:4] + v
        for i in range(3):
            q = a[i:i + 2]
            i = 7
            b[10:12] += q
        out = dev.device_array(12)
        _slice_views_keep_their_bounds[(1, 1), (2, 2)](dev.to_device(x), out, s0)
        np.testing.assert_array_equal(out.copy_to_host(), b)


@ws.jit
def _move_index(b, k):
    b[0] = k         # a device function that writes the array an index reads
    return 1.0


@ws.jit
def _aug_index_once(out):
    a = ws.local.array(8, np.float32)
    b = ws.local.array(4, np.int32)
    t = ws.local.array((3, 8), np.float32)
    for j in range(8):
        a[j] = j * 10.0
        t[1, j] = j + 0.5
    a[b[0]] += _move_index(b, 3)                    # a[0], as Python evaluates the index once, first
    a[b[0]:b[0] + 2] += _move_index(b, 5)           # a[3:5]
    t[b[1] + 1, b[0]:b[0] + 2] *= _move_index(b, 1) * 4.0   # t[1, 5:7]
    for k in range(2):
        a[b[0] + k] -= _move_index(b, 6 - k)        # a[1], then a[7]
    out[0:8] = a[0:8]
    out[8:16] = t[1, 0:8]


def test_an_augmented_assignment_evaluates_its_index_once_before_the_right_side():
    def move_index(b, k):
        b[0] = k
        return np.float32(1.0)

    a, b, t = np.arange(8, dtype=np.float32) * 10, np.zeros(4, np.int32), np.zeros((3, 8), np.float32)
    t[1] = np.arange(8) + 0.5
    a[b[0]] += move_index(b, 3)
    a[b[0]:b[0] + 2] += move_index(b, 5)
    t[b[1] + 1, b[0]:b[0] + 2] *= move_index(b, 1) * np.float32(4.0)
    for k in range(2):
        a[b[0] + k] -= move_index(b, 6 - k)
    np.testing.assert_array_equal(run(_aug_index_once, 16), np.concatenate([a, t[1]]))


@ws.jit
def _aug_index_beside_a_variable(out):
    a = ws.local.array(8, np.float32)
    b = ws.local.array(4, np.int32)
    for j in range(8):
        a[j] = j * 1.0
    b[0] = 2
    _aug1_ = 7               # a name the compiler once gave the index below
    a[b[0]] += 1.0
    out[0] = _aug1_
    out[1] = a[2]


def test_an_augmented_assignments_index_leaves_every_source_variable_alone():
    # The index was held in a variable `_aug1_`, which a source can name: it overwrote this one with 2
    np.testing.assert_array_equal(run(_aug_index_beside_a_variable, 2), [7.0, 3.0])


@ws.jit
def _writes_after_a_vector_op(out):
    a = ws.local.array(8, np.float32)
    a[0:4] = a[0:4] * 2.0 + _move_index(a, 1)   # NumPy doubles a[0:4] before the call changes a[0]
    out[0] = a[0]


@ws.jit
def _move_corner(t):
    t[0, 0] = 9.0
    return 1.0


@ws.jit
def _writes_after_a_block_op(out):
    t = ws.local.array((2, 4), np.float32)
    t[0:2, 0:4] = -t[0:2, 0:4] + _move_corner(t)
    out[0] = t[0, 0]


@ws.jit
def _writes_before_the_view_is_read(out):
    a = ws.local.array(8, np.float32)
    for j in range(8):
        a[j] = j + 1.0
    a[1:5] = a[0:4] + _move_index(a, 7)       # a view: NumPy reads a[0:4] at the add, after the call
    out[0:8] = a[0:8]


@pytest.mark.parametrize("kernel", [_writes_after_a_vector_op, _writes_after_a_block_op])
def test_a_call_writing_an_array_after_a_slice_operation_is_refused_not_reordered(kernel):
    dev = ws.Device(ws.WaferSpec(width=1, height=1))
    with pytest.raises(ws.CompileError, match="writes an array, after a slice operation"):
        kernel[(1, 1), (1, 1)](dev.device_array(1))
    a = np.arange(1, 9, dtype=np.float32)
    a[1:5] = a[0:4] + (a.__setitem__(0, 7) or np.float32(1.0))
    np.testing.assert_array_equal(run(_writes_before_the_view_is_read, 8), a)
