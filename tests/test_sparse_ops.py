"""Zero-skipping and sparse instructions (vfmaz, vspfma, vspchk, vpacknz) through their kernel intrinsics:
results against NumPy, cycles against the formulas of docs/sparsity.md from `WaferSpec`, errors."""
from __future__ import annotations

import math

import numpy as np
import pytest

import wafersim as ws
from wafersim.compiler import intrinsics as wsi
from conftest import compile_error, line_of, run_on_one_block

N = 24  # elements per PE
PES = 4  # a (4, 1) block: every PE has its own data


def pack(values: np.ndarray, index_words: np.ndarray) -> np.ndarray:
    """(value, index) pairs as a float32 array, index words as int32 bit patterns."""
    pairs = np.empty(2 * len(values), dtype=np.float32)
    pairs[0::2] = values
    pairs[1::2] = np.asarray(index_words, dtype=np.int64).astype(np.uint32).view(np.float32)
    return pairs


def sparse_operands(rng, zeros_per_pe=(0, 5, 12, 24)) -> np.ndarray:
    a = rng.uniform(-2, 2, (PES, N)).astype(np.float32)
    for p, zeros in enumerate(zeros_per_pe):
        a[p, rng.permutation(N)[:zeros]] = 0.0
    return a


@ws.jit
def skip_slice(a, b, y):
    p = ws.grid(1)
    av = ws.local.array(N, np.float32)
    bv = ws.local.array(N, np.float32)
    yv = ws.local.array(N, np.float32)
    av[0:N] = a[p, 0:N]
    bv[0:N] = b[p, 0:N]
    yv[0:N] = y[p, 0:N]
    wsi.fma_skip_zeros(yv, av, bv)
    y[p, 0:N] = yv[0:N]


@ws.jit
def skip_scalar(a, y, s):
    p = ws.grid(1)
    av = ws.local.array(N, np.int32)
    yv = ws.local.array(N, np.int32)
    av[0:N] = a[p, 0:N]
    yv[0:N] = y[p, 0:N]
    wsi.fma_skip_zeros(yv[0:N], av[0:N], s)
    y[p, 0:N] = yv[0:N]


def test_fma_skip_zeros_equals_the_dense_fma_where_a_is_nonzero():
    rng = np.random.default_rng(0)
    a, b, y = sparse_operands(rng), rng.random((PES, N), dtype=np.float32), rng.random((PES, N), dtype=np.float32)
    b[0, 3] = np.inf  # a skipped product never happens: inf * 0 would be nan
    a[0, 3] = 0.0
    (_, _, out) = run_on_one_block(ws.Device("dev"), skip_slice, a, b, y, block=(PES, 1))
    with np.errstate(invalid="ignore"):
        expected = np.where(a != 0, y + a * b, y)
    np.testing.assert_array_equal(out, expected)
    assert not np.isnan(out).any()


def test_fma_skip_zeros_on_int32_wraps_like_the_dense_fma():
    rng = np.random.default_rng(1)
    a = rng.integers(-3, 3, (PES, N), dtype=np.int32)
    y = rng.integers(2**31 - 10, 2**31 - 1, (PES, N), dtype=np.int32)
    (_, out) = run_on_one_block(ws.Device("dev"), skip_scalar, a, y, 5, block=(PES, 1))
    np.testing.assert_array_equal(out, (y.astype(np.int64) + a.astype(np.int64) * 5).astype(np.int32))


@pytest.mark.parametrize("lanes, skip_cycles", [(8, 0), (4, 0), (4, 0.5)])
def test_fma_skip_zeros_costs_the_nonzeros_and_zero_skip_cycles_per_zero(lanes, skip_cycles):
    spec = ws.WaferSpec(width=PES, height=1, vector_lanes=lanes, zero_skip_cycles=skip_cycles)
    dev = ws.Device(spec)
    rng = np.random.default_rng(2)
    a = sparse_operands(rng, zeros_per_pe=(0, 5, 12, 24))
    args = [dev.to_device(v) for v in (a, rng.random((PES, N), dtype=np.float32), np.zeros((PES, N), np.float32))]
    busy = skip_slice[(1, 1), (PES, 1)](*args).busy[0]
    nonzeros = (a != 0).sum(axis=1)
    element_cycles = np.ceil(nonzeros / lanes) + skip_cycles * (N - nonzeros)
    # Every PE runs the same instructions; only the vfmaz's element cycles differ.
    np.testing.assert_allclose(busy - busy[-1], element_cycles - element_cycles[-1])


@ws.jit
def apply_pairs(pairs, x, y, counts):
    p = ws.grid(1)
    pv = ws.local.array(2 * N, np.float32)
    xv = ws.local.array(N, np.float32)
    yv = ws.local.array(N, np.float32)
    pv[0:2 * N] = pairs[p, 0:2 * N]
    xv[0:N] = x[p, 0:N]
    yv[0:N] = y[p, 0:N]
    wsi.sparse_fma(yv, pv[0:2 * counts[p]], xv)
    y[p, 0:N] = yv[0:N]


@ws.jit
def scatter_scaled(pairs, y, counts, s):
    p = ws.grid(1)
    pv = ws.local.array(2 * N, np.float32)
    yv = ws.local.array(N, np.float32)
    pv[0:2 * N] = pairs[p, 0:2 * N]
    yv[0:N] = y[p, 0:N]
    wsi.sparse_fma(yv[0:N], pv[0:2 * counts[p]], s)
    y[p, 0:N] = yv[0:N]


def random_pairs(rng, counts, rows: int = N, cols: int = N, packed: bool = True):
    """Per-PE pairs with repeated rows (they accumulate in pair order) and the reference as np.add.at."""
    pairs = np.zeros((PES, 2 * N), dtype=np.float32)
    entries = []
    for p, count in enumerate(counts):  # building test data, not the device path
        values = rng.uniform(-1, 1, count).astype(np.float32)
        r, c = rng.integers(0, rows, count), rng.integers(0, cols, count)
        pairs[p, :2 * count] = pack(values, (r << 16) | c if packed else r)
        entries.append((values, r, c))
    return pairs, entries


def test_sparse_fma_accumulates_every_pair_into_its_row():
    rng = np.random.default_rng(3)
    counts = np.array([0, 1, 9, N], dtype=np.int32)
    pairs, entries = random_pairs(rng, counts)
    x, y = rng.random((PES, N), dtype=np.float32), rng.random((PES, N), dtype=np.float32)
    (_, _, out, _) = run_on_one_block(ws.Device("dev"), apply_pairs, pairs, x, y, counts, block=(PES, 1))
    expected = y.copy()
    for p, (values, r, c) in enumerate(entries):
        np.add.at(expected[p], r, values * x[p, c])
    np.testing.assert_allclose(out, expected, rtol=1e-6)


def test_sparse_fma_with_a_scalar_scatters_value_times_scalar():
    rng = np.random.default_rng(4)
    counts = np.array([3, 0, N, 7], dtype=np.int32)
    pairs, entries = random_pairs(rng, counts, packed=False)
    y = rng.random((PES, N), dtype=np.float32)
    (_, out, _) = run_on_one_block(ws.Device("dev"), scatter_scaled, pairs, y, counts, np.float32(-1.5),
                                   block=(PES, 1))
    expected = y.copy()
    for p, (values, r, _) in enumerate(entries):
        np.add.at(expected[p], r, values * np.float32(-1.5))
    np.testing.assert_allclose(out, expected, rtol=1e-6)


@pytest.mark.parametrize("pair_words", [2, 1])
def test_sparse_fma_costs_pair_words_over_lanes_per_pair(pair_words):
    spec = ws.WaferSpec(width=PES, height=1, sparse_pair_words=pair_words)
    dev = ws.Device(spec)
    rng = np.random.default_rng(5)
    counts = np.array([N, 17, 4, 0], dtype=np.int32)
    pairs, _ = random_pairs(rng, counts)
    args = [dev.to_device(v) for v in (pairs, rng.random((PES, N), dtype=np.float32),
                                        np.zeros((PES, N), np.float32), counts)]
    busy = apply_pairs[(1, 1), (PES, 1)](*args).busy[0]
    element_cycles = np.ceil(counts * pair_words / spec.vector_lanes)
    # With bounds checks on, the vspchk before the vspfma reads every pair too: twice the pair cycles.
    np.testing.assert_allclose(busy - busy[-1], 2 * (element_cycles - element_cycles[-1]))


@pytest.mark.parametrize("bad_index, message", [((N << 16) | 2, f"row {N} is out of bounds for size {N}"),
                                                 ((1 << 16) | (N + 3), f"column {N + 3} is out of bounds for size {N}")])
def test_an_index_past_y_or_x_is_a_memory_access_error_naming_the_pair(bad_index, message):
    counts = np.array([2, 2, 2, 2], dtype=np.int32)
    pairs = np.zeros((PES, 2 * N), dtype=np.float32)
    pairs[:, :4] = pack(np.ones(2, np.float32), [0, 0])
    pairs[2, 2:4] = pack(np.ones(1, np.float32), [bad_index])
    zeros = np.zeros((PES, N), np.float32)
    with pytest.raises(ws.MemoryAccessError) as info:
        run_on_one_block(ws.Device("dev"), apply_pairs, pairs, zeros, zeros, counts, block=(PES, 1))
    assert message in str(info.value) and "pair 1" in str(info.value)
    assert info.value.pes == [(2, 0)]


@ws.jit
def pack_and_count(values, pairs, counts):
    p = ws.grid(1)
    vv = ws.local.array(N, np.float32)
    pv = ws.local.array(2 * N, np.float32)
    vv[0:N] = values[p, 0:N]
    counts[p] = wsi.pack_nonzeros(pv, vv)
    pairs[p, 0:2 * N] = pv[0:2 * N]


def test_pack_nonzeros_writes_value_position_pairs_in_order():
    rng = np.random.default_rng(6)
    values = sparse_operands(rng, zeros_per_pe=(3, 0, 24, 10))
    values[0, 5] = -0.0  # a negative zero is a zero
    values[1, 2] = np.nan  # nan is not
    (_, pairs, counts) = run_on_one_block(ws.Device("dev"), pack_and_count, values, np.zeros((PES, 2 * N), np.float32),
                                          np.zeros(PES, np.int32), block=(PES, 1))
    for p in range(PES):
        positions = np.flatnonzero(values[p] != 0)
        assert counts[p] == len(positions)
        np.testing.assert_array_equal(pairs[p, 1:2 * len(positions):2].view(np.int32), positions)
        np.testing.assert_array_equal(pairs[p, 0:2 * len(positions):2], values[p, positions])


@ws.jit
def sparse_handoff(values, y, sent, received, scale):
    p = ws.grid(1)
    vv = ws.local.array(N, np.float32)
    yv = ws.local.array(N, np.float32)
    scratch = ws.local.array(2 * N, np.float32)
    if p == 0:
        vv[0:N] = values[0:N]
        sent[0] = wsi.send_nonzeros(ws.EAST, vv, scratch, channel=1)
    else:
        yv[0:N] = y[0:N]
        received[0] = wsi.recv_fma(ws.WEST, yv, scale, scratch, channel=1)
        y[0:N] = yv[0:N]


@pytest.mark.parametrize("zeros", [0, 20, N])
def test_send_nonzeros_moves_only_nonzeros_and_recv_fma_applies_them(zeros):
    rng = np.random.default_rng(7)
    values = rng.uniform(-1, 1, N).astype(np.float32)
    values[rng.permutation(N)[:zeros]] = 0.0
    y = rng.random(N, dtype=np.float32)
    dev = ws.Device("dev")
    args = [dev.to_device(v) for v in (values, y, np.zeros(1, np.int32), np.zeros(1, np.int32))]
    stats = sparse_handoff[(1, 1), (2, 1)](*args, np.float32(3.0))
    out, sent, received = (args[i].copy_to_host() for i in (1, 2, 3))
    np.testing.assert_allclose(out, y + np.float32(3.0) * values, rtol=1e-6)
    assert sent[0] == received[0] == N - zeros
    assert stats.words_moved == 1 + 2 * (N - zeros)  # the count, then a value and an index per nonzero


@ws.jit
def sparse_row_broadcast(values, y, scale):
    x, row = ws.threadIdx.x, ws.threadIdx.y
    vv = ws.local.array(N, np.float32)
    yv = ws.local.array(N, np.float32)
    scratch = ws.local.array(2 * N, np.float32)
    if x == 0:  # the root of each row sends its nonzeros once; the routers copy them along the row
        vv[0:N] = values[row, 0:N]
        ws.send_nonzeros(ws.RAMP, vv, scratch, channel=2)
    else:
        p = row * ws.blockDim.x + x
        yv[0:N] = y[p, 0:N]
        ws.recv_fma(ws.RAMP, yv, scale * x, scratch, channel=2)
        y[p, 0:N] = yv[0:N]


def test_nonzeros_multicast_along_a_route_are_applied_by_every_receiver():
    rng = np.random.default_rng(8)
    width, height = 5, 2
    values = rng.uniform(-1, 1, (height, N)).astype(np.float32)
    values[0, rng.permutation(N)[:18]] = 0.0
    values[1, :] = 0.0  # a row with nothing to send: only the count travels
    y = rng.random((width * height, N), dtype=np.float32)
    dev = ws.Device(ws.WaferSpec(width=width, height=height))
    d_y = dev.to_device(y)
    stats = sparse_row_broadcast[(1, 1), (width, height)](dev.to_device(values), d_y, np.float32(0.5),
                                                           routes=[ws.routes.row_broadcast(2, root=0)])
    out = d_y.copy_to_host().reshape(height, width, N)
    scale = np.float32(0.5) * np.arange(width, dtype=np.float32)
    expected = y.reshape(height, width, N) + scale[None, :, None] * values[:, None, :]
    np.testing.assert_allclose(out[:, 1:], expected[:, 1:], rtol=1e-6)
    np.testing.assert_array_equal(out[:, 0], y.reshape(height, width, N)[:, 0])
    sent = 1 + 2 * (values != 0).sum(axis=1)  # per row: the count, then a value and an index per nonzero
    assert stats.link_words.sum() == ((width - 1) * sent).sum()  # each word crosses every link of its row once


@ws.jit
def handoff_as_int(values, y):
    p = ws.grid(1)
    vv = ws.local.array(N, np.float32)
    yv = ws.local.array(N, np.int32)
    scratch = ws.local.array(2 * N, np.float32)
    if p == 0:
        vv[0:N] = values[0:N]
        wsi.send_nonzeros(ws.EAST, vv, scratch, channel=1)
    else:
        wsi.recv_fma(ws.WEST, yv, 1, scratch, channel=1)  # MARK-as-int
        y[0:N] = yv[0:N]


@ws.jit
def handoff_both_types(fvalues, ivalues, fy, iy):
    p = ws.grid(1)
    fv = ws.local.array(N, np.float32)
    iv = ws.local.array(N, np.int32)
    fs = ws.local.array(2 * N, np.float32)
    is_ = ws.local.array(2 * N, np.int32)
    if p == 0:
        fv[0:N] = fvalues[0:N]
        iv[0:N] = ivalues[0:N]
        wsi.send_nonzeros(ws.EAST, fv, fs, channel=1)
        wsi.send_nonzeros(ws.EAST, iv, is_, channel=1)
    else:
        fv[0:N] = 0.0
        iv[0:N] = 0
        wsi.recv_fma(ws.WEST, fv, 2.0, fs, channel=1)
        wsi.recv_fma(ws.WEST, iv, 3, is_, channel=1)
        fy[0:N] = fv[0:N]
        iy[0:N] = iv[0:N]


@ws.jit
def chain_of_two_types(ivalues, iy, fy):
    """PE 0 sends int32 nonzeros east to PE 1, which sends float32 ones on to PE 2 on the same channel and
    direction; PE 2's receive comes first in the source."""
    p = ws.grid(1)
    iv = ws.local.array(N, np.int32)
    fv = ws.local.array(N, np.float32)
    is_ = ws.local.array(2 * N, np.int32)
    fs = ws.local.array(2 * N, np.float32)
    if p == 2:
        fv[0:N] = 0.0
        wsi.recv_fma(ws.WEST, fv, 2.0, fs, channel=1)
        fy[0:N] = fv[0:N]
    if p == 0:
        iv[0:N] = ivalues[0:N]
        wsi.send_nonzeros(ws.EAST, iv, is_, channel=1)
    if p == 1:
        iv[0:N] = 0
        wsi.recv_fma(ws.WEST, iv, 3, is_, channel=1)
        iy[0:N] = iv[0:N]
        for i in range(N):
            fv[i] = float(iv[i]) * 0.5
        wsi.send_nonzeros(ws.EAST, fv, fs, channel=1)


def test_recv_fma_dtypes_are_judged_on_the_whole_kernel_not_in_source_order():
    """The check ran call by call: PE 2's float32 receive, then PE 0's int32 send, looked disjoint and a
    right kernel was refused. Judged at the end, both dtypes are sent and received that way: compiled, and
    each PE's y is NumPy's."""
    rng = np.random.default_rng(5)
    ivalues = (rng.integers(-9, 9, N) * (rng.random(N) < 0.5)).astype(np.int32)
    _, iy, fy = run_on_one_block(ws.Device("dev"), chain_of_two_types, ivalues, np.zeros(N, np.int32),
                                 np.zeros(N, np.float32), block=(3, 1))
    np.testing.assert_array_equal(iy, 3 * ivalues)
    np.testing.assert_array_equal(fy, np.float32(2.0) * (3 * ivalues).astype(np.float32) * np.float32(0.5))


def test_recv_fma_into_another_dtype_than_send_nonzeros_sends_is_a_compile_error_not_bits_read_as_it():
    # (float32 values received into an int32 y gave their bit patterns, 1069547520 for 1.5, silently)
    values = np.zeros(N, np.float32)
    values[[1, 5]] = 1.5, -2.0
    error = compile_error(ws.Device("dev"), handoff_as_int, values, np.zeros(N, np.int32), block=(2, 1))
    assert "send_nonzeros sends float32 values that recv_fma here takes into an int32 y" in str(error)
    assert error.line == line_of(handoff_as_int, 'MARK-as-int')
    # a kernel that sends both dtypes on the channel, each received as its own: compiled, and right
    rng = np.random.default_rng(11)
    fvalues = (rng.uniform(-1, 1, N) * (rng.random(N) < 0.5)).astype(np.float32)
    ivalues = (rng.integers(-9, 9, N) * (rng.random(N) < 0.5)).astype(np.int32)
    _, _, fy, iy = run_on_one_block(ws.Device("dev"), handoff_both_types, fvalues, ivalues, np.zeros(N, np.float32),
                                    np.zeros(N, np.int32), block=(2, 1))
    np.testing.assert_array_equal(fy, np.float32(2.0) * fvalues)
    np.testing.assert_array_equal(iy, 3 * ivalues)


@ws.jit
def short_pairs(values, y, n):
    p = ws.grid(1)
    vv = ws.local.array(N, np.float32)
    yv = ws.local.array(N, np.float32)
    scratch = ws.local.array(2 * N, np.float32)
    if p == 0:
        vv[0:N] = values[0:N]
        wsi.send_nonzeros(ws.EAST, vv, scratch, channel=1)
    else:
        yv[0:N] = 0.0
        wsi.recv_fma(ws.WEST, yv, 1.0, scratch[0:n], channel=1)
        y[0:N] = yv[0:N]


@ws.jit
def pack_short(values, counts, n):
    vv = ws.local.array(N, np.float32)
    pv = ws.local.array(2 * N, np.float32)
    vv[0:N] = values[0:N]
    counts[0] = wsi.pack_nonzeros(pv[0:n], vv)


def test_pairs_slices_too_short_at_run_time_name_the_words_needed_and_the_slice_s_length():
    # (were "index 24 is out of bounds for size 9" for a slice of 8 words: the check's own size + 1)
    values = np.arange(1, N + 1, dtype=np.float32)
    values[N // 2:] = 0.0  # N / 2 nonzeros: N words of pairs
    dev = ws.Device("dev")
    with pytest.raises(ws.MemoryAccessError) as info:
        run_on_one_block(dev, short_pairs, values, np.zeros(N, np.float32), 8, block=(2, 1))
    assert f"scratch (recv_fma's pairs: 2 words per received nonzero) slice end {N} is outside 0..8" in str(info.value)
    _, y = run_on_one_block(dev, short_pairs, values, np.zeros(N, np.float32), N, block=(2, 1))
    np.testing.assert_array_equal(y, values)  # room for exactly the words sent: it runs
    with pytest.raises(ws.MemoryAccessError) as info:
        run_on_one_block(dev, pack_short, values, np.zeros(1, np.int32), 5)
    assert f"slice end {2 * N} is outside 0..5" in str(info.value)  # room for every value's pair is needed


def test_sparse_intrinsics_refuse_what_they_cannot_compile():
    dev = ws.Device("dev")

    @ws.jit
    def odd_pairs(y):
        yv = ws.local.array(4, np.float32)
        pv = ws.local.array(5, np.float32)
        wsi.sparse_fma(yv, pv, yv)

    @ws.jit
    def too_small(y):
        vv = ws.local.array(4, np.float32)
        pv = ws.local.array(7, np.float32)
        wsi.pack_nonzeros(pv, vv)

    @ws.jit
    def not_a_slice(y):
        yv = ws.local.array(4, np.float32)
        wsi.fma_skip_zeros(yv, 2.0, yv)

    @ws.jit
    def mixed_types(y):
        yv = ws.local.array(4, np.float32)
        iv = ws.local.array(4, np.int32)
        wsi.fma_skip_zeros(yv, iv, yv)

    y = np.zeros(4, np.float32)
    assert "length must be even" in str(compile_error(dev, odd_pairs, y))
    assert "has 7 words, but the 4 values of vv may need 8" in str(compile_error(dev, too_small, y))
    assert "must be a 1-D local array or a slice of one" in str(compile_error(dev, not_a_slice, y))
    assert "dtype" in str(compile_error(dev, mixed_types, y))


@pytest.mark.parametrize("half", [np.float16, "bfloat16"])
def test_sparse_intrinsics_refuse_16_bit_arrays_rather_than_read_their_bits_as_integers(half):
    # vfmaz, vspfma and vpacknz compute on float32 or int32 words: a float16 y was left unchanged, a
    # bfloat16 one got 1.8e19, and pack_nonzeros counted float16 -0.0 as a nonzero.
    import ml_dtypes

    h = ml_dtypes.bfloat16 if half == "bfloat16" else half
    name = np.dtype(h).name
    dev = ws.Device("dev")

    @ws.jit
    def skip(y):
        hv = ws.local.array(4, h)
        wsi.fma_skip_zeros(hv, hv, hv)

    @ws.jit
    def scatter(y):
        hv = ws.local.array(4, h)
        pv = ws.local.array(4, np.int32)
        wsi.sparse_fma(hv, pv, 2.0)

    @ws.jit
    def pack(y):
        hv = ws.local.array(4, h)
        pv = ws.local.array(8, np.int32)
        y[0] = wsi.pack_nonzeros(pv, hv)

    @ws.jit
    def half_pairs(y):
        fv = ws.local.array(4, np.float32)
        pv = ws.local.array(8, h)
        y[0] = wsi.pack_nonzeros(pv, fv)

    @ws.jit
    def receive(y):
        hv = ws.local.array(4, h)
        pv = ws.local.array(8, np.int32)
        if ws.threadIdx.x == 0:
            wsi.send_nonzeros(ws.EAST, hv, pv)
        else:
            wsi.recv_fma(ws.WEST, hv, 1.0, pv)

    y = np.zeros(4, np.int32)
    values = "the values slice of pack_nonzeros / send_nonzeros"
    for kernel, what in ((skip, "fma_skip_zeros dst"), (scatter, "sparse_fma y"), (pack, values),
                         (half_pairs, "pack_nonzeros pairs"), (receive, values)):
        message = str(compile_error(dev, kernel, y, block=(2, 1)))
        assert f"{what} is a {name} array" in message and "widen it into a float32 array" in message


def test_zero_skip_figures_are_validated():
    for field, value in (("zero_skip_cycles", -1), ("sparse_pair_words", 0), ("sparse_pair_words", math.nan)):
        with pytest.raises(ws.SpecError, match=field):
            ws.WaferSpec(**{field: value})


BIG = 40000  # more rows than a signed 16-bit field: the packed limit word has its sign bit set


@ws.jit
def big_y(pairs, x, y):
    pv = ws.local.array(4, np.float32)
    xv = ws.local.array(4, np.float32)
    yv = ws.local.array(BIG, np.float32)
    pv[0:4] = pairs[0:4]
    xv[0:4] = x[0:4]
    ws.sparse_fma(yv, pv, xv)
    y[0] = yv[BIG - 1]
    y[1] = yv[1]


def test_rows_past_32767_are_checked_and_written_right():
    dev = ws.Device(ws.WaferSpec(width=1, height=1, sram_bytes=4 * (BIG + 1024)))
    x = np.array([5, 6, 7, 8], np.float32)
    pairs = pack(np.array([2.0, 1.0], np.float32), [((BIG - 1) << 16) | 3, (1 << 16) | 0])
    (_, _, y) = run_on_one_block(dev, big_y, pairs, x, np.zeros(2, np.float32))
    np.testing.assert_array_equal(y, [2.0 * 8, 1.0 * 5])
    with pytest.raises(ws.MemoryAccessError, match=f"row {BIG} is out of bounds for size {BIG}"):
        run_on_one_block(dev, big_y, pack(np.ones(2, np.float32), [BIG << 16, 0]), x, np.zeros(2, np.float32))


@pytest.mark.parametrize("pair_words, skip_cycles", [(2, 0), (1, 3)])
def test_vpacknz_and_vspchk_cost_their_pairs_as_docs_isa_says(pair_words, skip_cycles):
    # vpacknz: issue + ceil(nonzeros * sparse_pair_words / lanes) + zero_skip_cycles per zero; vspchk: issue +
    # ceil(c * sparse_pair_words / lanes), not the ceil(n / lanes) of the other vector ops (docs/isa.md).
    spec = ws.WaferSpec(width=1, height=1, sparse_pair_words=pair_words, zero_skip_cycles=skip_cycles)
    dev = ws.Device(spec)

    def busy(body: str) -> float:
        return dev.launch(ws.assemble(f".sram 128\nli r7, 5\n{body}\nhalt\n"), 1, 1).busy[0, 0]

    issue = spec.cost_cycles["vector"]
    for n, nonzeros in [(0, 0), (9, 9), (20, 3), (17, 0)]:
        fill = f"li r3, 0\nli r4, {nonzeros}\nvfill r3, r7, r4\n"  # nonzeros first, then zeros
        base = busy(fill)
        packed = busy(fill + f"li r2, 40\nli r4, {n}\nvpacknz r5, r2, r3, r4\n") - base - 2
        pair_cycles = math.ceil(nonzeros * pair_words / spec.vector_lanes)
        assert packed == issue + pair_cycles + skip_cycles * (n - nonzeros)
        setup = f"li r2, 0\nli r3, 0x00100010\nli r4, {n}\n"  # (the pairs are zeros: index 0 < 16 passes)
        checked = busy(setup + "vspchk r2, r3, r4\n") - busy(setup)
        assert checked == issue + math.ceil(n * pair_words / spec.vector_lanes)


@ws.jit
def _count_after_a_vector_op(out):
    a = ws.local.array(4, np.int32)
    pairs = ws.local.array(8, np.int32)
    v = ws.local.array(4, np.int32)
    a[1] = 7
    v[0:4] = pairs[0:4] * 2 + ws.pack_nonzeros(pairs, a[0:4])   # NumPy doubles pairs before the pack writes it
    out[0:4] = v[0:4]


@ws.jit
def _received_count_after_a_vector_op(out):
    a = ws.local.array(4, np.float32)
    y = ws.local.array(4, np.float32)
    pairs = ws.local.array(8, np.float32)
    a[1] = 7.0
    if ws.grid(1) == 0:
        ws.send_nonzeros(ws.EAST, a[0:4], pairs)
    else:
        y[0:4] = -y[0:4] + ws.recv_fma(ws.WEST, y, 1.0, pairs)    # -y of y before recv_fma adds to it
        out[0:4] = y[0:4]


@ws.jit
def _counts_before_the_views_are_read(out):
    a = ws.local.array(4, np.float32)
    y = ws.local.array(4, np.float32)
    pairs = ws.local.array(8, np.float32)
    a[1] = 7.0
    y[1] = 1.0
    if ws.grid(1) == 0:
        ws.send_nonzeros(ws.EAST, a[0:4], pairs)
        ws.send_nonzeros(ws.EAST, a[0:4], pairs)
    else:
        y[0:4] = ws.recv_fma(ws.WEST, y, 1.0, pairs) + y[0:4]     # the view y[0:4] is read after the call
        out[0:4] = y[0:4]
        y[0:4] = y[0:4] + ws.recv_fma(ws.WEST, y, 2.0, pairs)     # likewise: the add reads y after the call
        out[4:8] = y[0:4]


@pytest.mark.parametrize("kernel", [_count_after_a_vector_op, _received_count_after_a_vector_op])
def test_a_sparse_count_after_a_slice_operation_is_refused_not_reordered(kernel):
    """The sparse intrinsics write arrays and give a count: inside a slice expression, after an operation on slices
    that Python computes before the call, the kernel (which evaluates scalars before any vector instruction) would
    compute that operation on the arrays as the call left them."""
    dev = ws.Device(ws.WaferSpec(width=2, height=1))
    with pytest.raises(ws.CompileError, match="writes an array, after a slice operation"):
        kernel[(1, 1), (2, 1)](dev.device_array(4, kernel is _count_after_a_vector_op and np.int32 or np.float32))


def test_a_sparse_count_before_the_slices_are_read_is_computed_as_numpy_does():
    def recv_fma(y, scale):        # what recv_fma does with the one nonzero sent, 7.0 at position 1
        y[1] += np.float32(7.0) * np.float32(scale)
        return np.float32(1)

    y, expected = np.array([0, 1, 0, 0], np.float32), np.zeros(8, np.float32)
    y[0:4] = recv_fma(y, 1.0) + y[0:4]
    expected[0:4] = y
    y[0:4] = y[0:4] + recv_fma(y, 2.0)
    expected[4:8] = y
    dev = ws.Device(ws.WaferSpec(width=2, height=1))
    out = dev.device_array(8)
    _counts_before_the_views_are_read[(1, 1), (2, 1)](out)
    np.testing.assert_array_equal(out.copy_to_host(), expected)
