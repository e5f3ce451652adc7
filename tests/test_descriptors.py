"""Strided copies (`vcopys`) and rank-1 updates (`vger`): through kernels (slices with a step, columns of
2-D arrays, `ws.outer_add`) and through assembly, against NumPy; their cycle cost against the formula of
the opcode table; what the compiler refuses."""
from __future__ import annotations

import math

import numpy as np
import pytest

import wafersim as ws
from conftest import compile_error, line_of, run_on_one_block

N = 12
PES = 3  # a (3, 1) block: every PE has its own data
M, K = 4, 6  # rank-1 update shape


@pytest.fixture(scope="module")
def dev():
    return ws.Device(ws.WaferSpec(width=4, height=4))


# ============================================================================= strided copies
@ws.jit
def strided_copies(src, out):
    p = ws.grid(1)
    a = ws.local.array(N, np.float32)
    t = ws.local.array((3, 4), np.float32)  # the same 12 values as a 3 x 4 array
    r = ws.local.array(N, np.float32)
    a[0:N] = src[p, 0:N]
    for i in range(3):
        t[i, 0:4] = a[i * 4:i * 4 + 4]
    r[0:N] = 0.0
    r[0:6] = a[0:N:2]  # every other element
    r[6:9] = t[0:3, 1]  # a column of the 2-D array
    t[0:3, 3] = a[9:12]  # into a column
    r[9:12] = t[0:3, 3]
    out[p, 0:N] = r[0:N]


def test_slices_with_a_step_and_columns_copy_like_numpy(dev):
    src = np.random.default_rng(0).random((PES, N), dtype=np.float32)
    (_, out) = run_on_one_block(dev, strided_copies, src, np.zeros((PES, N), np.float32), block=(PES, 1))
    t = src.reshape(PES, 3, 4).copy()
    expected = np.concatenate([src[:, 0::2], t[:, :, 1], src[:, 9:12]], axis=1)
    np.testing.assert_array_equal(out, expected)


@ws.jit
def strided_runtime(src, out, start, step_count):
    p = ws.grid(1)
    a = ws.local.array(N, np.int32)
    r = ws.local.array(N, np.int32)
    a[0:N] = src[p, 0:N]
    r[0:N] = -1
    r[0:step_count] = a[start + p:start + p + 3 * step_count:3]  # run-time bounds, a different start per PE
    out[p, 0:N] = r[0:N]


def test_strided_copy_with_run_time_bounds_and_per_pe_addresses(dev):
    src = np.arange(PES * N, dtype=np.int32).reshape(PES, N) * 7
    (_, out) = run_on_one_block(dev, strided_runtime, src, np.zeros((PES, N), np.int32), 1, 3, block=(PES, 1))
    for p in range(PES):
        expected = np.full(N, -1, np.int32)
        expected[:3] = src[p, 1 + p:1 + p + 9:3]
        np.testing.assert_array_equal(out[p], expected)


@ws.jit
def strided_past_the_end(out, start):
    a = ws.local.array(N, np.float32)
    r = ws.local.array(4, np.float32)
    a[0:N] = 1.0
    r[0:4] = a[start:start + 8:2]  # start 8: stop 16 is past the end of a
    out[0:4] = r[0:4]


def test_strided_copy_bounds_are_checked_at_run_time(dev):
    with pytest.raises(ws.MemoryAccessError):
        run_on_one_block(dev, strided_past_the_end, np.zeros(4, np.float32), 8)


def _assembled_copy(dev, strides_word: int, d: int, a: int, n: int) -> np.ndarray:
    """sram[0:16] = 0..15, then one vcopys with the given fields; returns sram[16:32] as int32."""
    prog = ws.assemble(f"""
.name copy
.sram 32
.args 1
    li r1, 0
    li r2, 0
fill:
    st r1, r1, 0
    addi r1, r1, 1
    slti r3, r1, 16
    bnz r3, fill
    li r4, 16
    li r5, -1
    vfill r4, r5, r4
    li r4, {d}
    li r5, {a}
    li r6, {strides_word}
    li r7, {n}
    vcopys r4, r5, r6, r7
    li r4, 16
    li r5, 16
    arg r6, 0
    gstv r6, r4, r5
    halt
""")
    out = dev.device_array(16, np.int32)
    ws.Kernel(prog)[1, 1](out)
    return out.copy_to_host()


def test_vcopys_negative_and_zero_strides(dev):
    # destination stride 1, source stride -2 from word 10: 10, 8, 6, 4
    out = _assembled_copy(dev, (1 << 16) | (-2 & 0xFFFF), 16, 10, 4)
    np.testing.assert_array_equal(out[:5], [10, 8, 6, 4, -1])
    # destination stride -3 from word 31, source stride 1: words 31, 28, 25 get 0, 1, 2
    out = _assembled_copy(dev, ((-3 & 0xFFFF) << 16) | 1, 31, 0, 3)
    assert (out[15], out[12], out[9]) == (0, 1, 2) and (np.delete(out, [9, 12, 15]) == -1).all()
    # destination stride 0: the last element wins, as NumPy's assignment to a repeated index
    out = _assembled_copy(dev, (0 << 16) | 1, 20, 3, 5)
    assert out[4] == 7 and (np.delete(out, 4) == -1).all()


def test_vcopys_of_a_huge_length_into_one_word_takes_its_cycles_without_materialising_them(dev):
    """Both strides 0: 2**30 elements, every one the same word, land in one word (the last written). The
    element cycles (2**30, past float32's exact range) widen the times first: exact cycle counts."""
    n = 2**30
    source = """
.sram 4
.args 1
    li r1, 7
    st r1, r0, 0
    li r4, 1
    li r5, 0
    li r6, 0
    li r7, {n}
    vcopys r4, r5, r6, r7
    ld r1, r0, 1
    arg r2, 0
    gst r1, r2, 0
    halt
"""
    out = dev.device_array(1, np.int32)
    huge = ws.Kernel(ws.assemble(source.format(n=n)))[1, 1](out)
    assert out.copy_to_host()[0] == 7
    small = ws.Kernel(ws.assemble(source.format(n=3)))[1, 1](out)
    vector_lanes = dev.spec.vector_lanes
    assert huge.cycles - small.cycles == -(-n // vector_lanes) - -(-3 // vector_lanes)


def test_vcopys_outside_the_data_segment_is_a_memory_error(dev):
    with pytest.raises(ws.MemoryAccessError, match="vcopys operand a"):
        _assembled_copy(dev, (1 << 16) | 4, 16, 8, 8)  # source words 8, 12, ..., 36 > 31


@ws.jit
def step_in_arithmetic(out):
    a = ws.local.array(N, np.float32)
    r = ws.local.array(6, np.float32)
    a[0:N] = 1.0
    r[0:6] = a[0:N:2] + 1.0  # refused: a step only in a copy
    out[0:6] = r[0:6]


@ws.jit
def negative_step(out):
    a = ws.local.array(N, np.float32)
    r = ws.local.array(6, np.float32)
    a[0:N] = 1.0
    r[0:6] = a[N:0:-2]  # refused: a constant positive step
    out[0:6] = r[0:6]


@ws.jit
def strided_global(src, out):
    r = ws.local.array(6, np.float32)
    r[0:6] = src[0:N:2]  # refused: strided copies are between local arrays
    out[0:6] = r[0:6]


@ws.jit
def strided_length_mismatch(out):
    a = ws.local.array(N, np.float32)
    r = ws.local.array(6, np.float32)
    r[0:6] = a[0:N:3]  # refused: 4 elements into 6
    out[0:6] = r[0:6]


@pytest.mark.parametrize("kernel, args, message", [
    (step_in_arithmetic, (np.zeros(6, np.float32),), "step is supported only"),
    (negative_step, (np.zeros(6, np.float32),), "positive int"),
    (strided_global, (np.zeros(N, np.float32), np.zeros(6, np.float32)), "between local arrays"),
    (strided_length_mismatch, (np.zeros(6, np.float32),), "has 4 elements where the destination"),
])
def test_what_strided_copies_refuse(dev, kernel, args, message):
    error = compile_error(dev, kernel, *args)
    assert message in str(error)
    assert error.line == line_of(kernel, "refused") and "r[0:6]" in str(error)  # the statement's source line


@ws.jit
def strided_global_store(out):
    r = ws.local.array(6, np.float32)
    r[0:6] = 1.0
    out[0:N:2] = r[0:6]  # refused: a strided store to global memory


@ws.jit
def column_global_store(out):
    r = ws.local.array(3, np.float32)
    r[0:3] = 1.0
    out[0:3, 1] = r[0:3]  # refused: a column of a 2-D global array


@pytest.mark.parametrize("kernel, shape, target", [
    (strided_global_store, (N,), "out[0:N:2]"), (column_global_store, (3, 4), "out[0:3, 1]")])
def test_a_refused_strided_global_destination_points_at_the_destination(dev, kernel, shape, target):
    """The caret of a refused strided store to global memory is at its destination (it pointed at the
    local source, which is fine), and the fix names the store side (was: "copy the global data into a local
    array", advice for a load); a column of a 2-D global array is refused as a column."""
    error = compile_error(dev, kernel, np.zeros(shape, np.float32))
    line = line_of(kernel, "refused")
    source_line = str(error).splitlines()[1]
    assert error.line == line and (error.col - 1) == source_line.index(target)  # 1-based col: under `out`
    if kernel is strided_global_store:
        assert "between local arrays only" in str(error)
        assert "store element by element" in str(error) and "copy the global data" not in str(error)
    else:  # (was: "a block t[a:b, c:d] ... can only be assigned to", about blocks, not columns)
        assert "a column of the 2-D global array out is not a slice here" in str(error)


# ============================================================================= rank-1 updates
@ws.jit
def outer_2d(x, y, c, out):
    p = ws.grid(1)
    xs = ws.local.array(M, np.float32)
    ys = ws.local.array(K, np.float32)
    cs = ws.local.array((M, K), np.float32)
    flat = ws.local.array(M * K, np.float32)
    xs[0:M] = x[p, 0:M]
    ys[0:K] = y[p, 0:K]
    for i in range(M):
        cs[i, 0:K] = c[p, i * K:i * K + K]
    flat[0:M * K] = c[p, 0:M * K]
    ws.outer_add(cs, xs, ys)  # the whole array
    ws.outer_add(cs[1:3, :], xs[2:4], ys)  # a block of whole rows
    ws.outer_add(flat[0:M * K], xs[0:M], ys[0:K])  # a 1-D slice of M rows of K
    for i in range(M):
        out[p, i * K:i * K + K] = cs[i, 0:K]
    out[p, M * K:2 * M * K] = flat[0:M * K]


def test_outer_add_matches_numpy_outer(dev):
    rng = np.random.default_rng(1)
    x, y = rng.random((PES, M), dtype=np.float32), rng.random((PES, K), dtype=np.float32)
    c = rng.random((PES, M * K), dtype=np.float32)
    (*_, out) = run_on_one_block(dev, outer_2d, x, y, c, np.zeros((PES, 2 * M * K), np.float32), block=(PES, 1))
    for p in range(PES):
        expected = c[p].reshape(M, K) + np.outer(x[p], y[p])  # float32 products, then float32 sums: vfma's rounding
        expected[1:3] += np.outer(x[p, 2:4], y[p])
        np.testing.assert_array_equal(out[p, :M * K].reshape(M, K), expected)
        np.testing.assert_array_equal(out[p, M * K:], (c[p].reshape(M, K) + np.outer(x[p], y[p])).ravel())


@ws.jit
def outer_rows(x, y, c, out):
    p = ws.grid(1)
    xs = ws.local.array(M, np.float32)
    ys = ws.local.array(K, np.float32)
    g = ws.local.array((3, M * K), np.float32)
    t = ws.local.array((2, 2, M * K + 2), np.float32)
    xs[0:M] = x[p, 0:M]
    ys[0:K] = y[p, 0:K]
    for r in range(3):
        g[r, 0:M * K] = c[p, 0:M * K]
    for i in range(2):
        for j in range(2):
            t[i, j, 0:M * K + 2] = 0.5
    r = p % 3  # a run-time row
    ws.outer_add(g[r, 0:M * K], xs, ys)  # a row of a 2-D local array: M * K contiguous words
    ws.outer_add(t[1, p % 2, 2:M * K + 2], xs[0:M], ys[0:K])  # part of a row of a 3-D one
    out[p, 0:M * K] = g[r, 0:M * K]
    out[p, M * K:2 * M * K] = g[(r + 1) % 3, 0:M * K]
    out[p, 2 * M * K:3 * M * K + 2] = t[1, p % 2, 0:M * K + 2]


def test_outer_add_into_a_row_slice_matches_numpy_outer(dev):
    """c may be a row slice of a 2-D or 3-D local array (len(x) * len(y) contiguous words, as a 1-D slice)."""
    rng = np.random.default_rng(2)
    x, y = rng.random((PES, M), dtype=np.float32), rng.random((PES, K), dtype=np.float32)
    c = rng.random((PES, M * K), dtype=np.float32)
    (*_, out) = run_on_one_block(dev, outer_rows, x, y, c, np.zeros((PES, 3 * M * K + 2), np.float32),
                                 block=(PES, 1))
    for p in range(PES):
        product = np.outer(x[p], y[p]).ravel()
        np.testing.assert_array_equal(out[p, :M * K], c[p] + product)
        np.testing.assert_array_equal(out[p, M * K:2 * M * K], c[p])  # another row: untouched
        np.testing.assert_array_equal(out[p, 2 * M * K:], np.r_[np.float32([0.5, 0.5]), np.float32(0.5) + product])


@ws.jit
def outer_int(x, y, out, shift):
    p = ws.grid(1)
    xs = ws.local.array(M, np.int32)
    ys = ws.local.array(K, np.int32)
    cs = ws.local.array(M * K, np.int32)
    xs[0:M] = x[p, 0:M]
    ys[0:K] = y[p, 0:K]
    cs[0:M * K] = 7
    ws.outer_add(cs[0:M * K], xs[shift:shift + M], ys)  # a per-PE operand address when shift differs
    out[p, 0:M * K] = cs[0:M * K]


def test_outer_add_on_int32_wraps_like_numpy(dev):
    x = np.array([[2**20, -3, 5, 2**30]] * PES, np.int32)
    y = np.array([[2**12, 7, -1, 0, 9, 2**3]] * PES, np.int32)
    (*_, out) = run_on_one_block(dev, outer_int, x, y, np.zeros((PES, M * K), np.int32), 0, block=(PES, 1))
    with np.errstate(over="ignore"):
        expected = (np.int32(7) + np.outer(x[0], y[0]).astype(np.int32)).ravel()
    np.testing.assert_array_equal(out, np.tile(expected, (PES, 1)))


@ws.jit
def updates(c, n_updates):
    xs = ws.local.array(M, np.float32)
    ys = ws.local.array(K, np.float32)
    cs = ws.local.array((M, K), np.float32)
    xs[0:M] = 1.0
    ys[0:K] = 2.0
    cs[0:M, 0:K] = 0.0
    for i in range(n_updates):
        ws.outer_add(cs, xs, ys)
    c[0:K] = cs[0, 0:K]


@pytest.mark.parametrize("lanes", [1, 8])
def test_outer_add_costs_an_issue_plus_its_elements_over_the_lanes_and_counts_2_flops_each(lanes):
    dev = ws.Device(ws.WaferSpec(width=2, height=2, vector_lanes=lanes))
    c = dev.device_array(K)
    one, two = (updates[1, 1](c, n) for n in (1, 2))
    np.testing.assert_array_equal(c.copy_to_host(), np.full(K, 4.0, np.float32))
    per_trip = two.busy.sum() - one.busy.sum()  # one more update, one more loop trip
    loop = 3  # the loop's step, test and branch
    assert per_trip == 1 + math.ceil(M * K / lanes) + loop
    assert two.flops - one.flops == 2 * M * K


@ws.jit
def outer_wrong_shape(out):
    xs = ws.local.array(M, np.float32)
    ys = ws.local.array(K, np.float32)
    cs = ws.local.array((M, K), np.float32)
    ws.outer_add(cs, xs[0:3], ys)  # refused: 3 rows for a 4-row c
    out[0:K] = cs[0, 0:K]


@ws.jit
def outer_partial_columns(out):
    xs = ws.local.array(M, np.float32)
    ys = ws.local.array(K, np.float32)
    cs = ws.local.array((M, K), np.float32)
    ws.outer_add(cs[0:2, 0:3], xs[0:2], ys[0:3])  # refused: rows of c must be whole
    out[0:K] = cs[0, 0:K]


@ws.jit
def outer_strided_row(out):
    xs = ws.local.array(2, np.float32)
    ys = ws.local.array(2, np.float32)
    cs = ws.local.array((2, 8), np.float32)
    ws.outer_add(cs[0, 0:8:2], xs, ys)  # refused: not contiguous
    out[0:K] = cs[0, 0:K]


@ws.jit
def outer_1d_mismatch(out):
    xs = ws.local.array(M, np.float32)
    ys = ws.local.array(K, np.float32)
    flat = ws.local.array(M * K, np.float32)
    ws.outer_add(flat[0:M * K - 1], xs, ys)  # refused: 23 words for 4 x 6
    out[0:K] = flat[0:K]


@ws.jit
def outer_mixed_types(out):
    xs = ws.local.array(M, np.int32)
    ys = ws.local.array(K, np.float32)
    cs = ws.local.array((M, K), np.float32)
    ws.outer_add(cs, xs, ys)  # refused: dtypes differ
    out[0:K] = cs[0, 0:K]


@ws.jit
def outer_float16(out):
    xs = ws.local.array(M, np.float16)
    ys = ws.local.array(K, np.float16)
    cs = ws.local.array((M, K), np.float16)
    ws.outer_add(cs, xs, ys)  # refused: vger computes in 32-bit words (float16 gave all zeros)
    out[0:K] = cs[0, 0:K]


@pytest.mark.parametrize("kernel, message", [
    (outer_float16, "ws.outer_add takes float32 or int32 arrays, not float16"),
    (outer_wrong_shape, "has 3 elements where the destination"),
    (outer_partial_columns, "a block of its whole rows g[r0:r1, :], or len(x) * len(y) contiguous words"),
    (outer_strided_row, "a row slice of a 2-D or 3-D local array, g[r, a:b] or t[i, j, a:b]"),
    (outer_1d_mismatch, "has 24 elements where the destination"),
    (outer_mixed_types, "must all have c's dtype"),
])
def test_what_outer_add_refuses(dev, kernel, message):
    error = compile_error(dev, kernel, np.zeros(K, np.float32))
    assert message in str(error)
    assert error.line == line_of(kernel, "refused")


@ws.jit
def column_from_a_received_index(out):
    p = ws.grid(1)
    t = ws.local.array((3, 4), np.float32)
    v = ws.local.array(3, np.float32)
    t[0:3, 0:4] = 0.0
    v[0:3] = 5.0
    if p == 0:
        ws.send(ws.EAST, 2)
    else:
        t[0:3, ws.recv(ws.WEST, dtype=np.int32)] = v[0:3]  # the index expression runs once
        for i in range(3):
            out[i * 4:i * 4 + 4] = t[i, 0:4]


def test_a_strided_copy_evaluates_each_side_once(dev):
    out = dev.device_array(12)
    column_from_a_received_index[(1, 1), (2, 1)](out)  # a second recv would deadlock
    expected = np.zeros((3, 4), np.float32)
    expected[:, 2] = 5.0
    np.testing.assert_array_equal(out.copy_to_host().reshape(3, 4), expected)
