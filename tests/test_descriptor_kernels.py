"""The compiled float32 rank-1 update (`wafersim.sim.descriptor_kernels`) against a per-lane NumPy
reference, and `vger` with per-PE operand addresses bit-identical with and without it."""
from __future__ import annotations

import numpy as np
import pytest

import wafersim as ws
from wafersim.sim import descriptor_kernels
from wafersim.sim.descriptor_kernels import rank1_update_float32
from wafersim.sim.strategy import Strategy, forced

rng = np.random.default_rng(7)


def reference_rank1(sram: np.ndarray, pes, d, a, b, m: int, n: int) -> np.ndarray:
    """NumPy, lane by lane: every operand read first, float32 products, then float32 sums."""
    out = sram.copy()
    for k, pe in enumerate(pes):
        x, y = out[a[k]:a[k] + m, pe].copy(), out[b[k]:b[k] + n, pe].copy()
        out[d[k]:d[k] + m * n, pe] = out[d[k]:d[k] + m * n, pe] + (x[:, None] * y[None, :]).ravel()
    return out


@pytest.mark.parametrize("case", ["one destination", "per-lane destinations", "destination over operands"])
@pytest.mark.parametrize("layout", ["scattered", "runs"])
def test_rank1_update_equals_numpy_bit_for_bit(case, layout):
    words, pes_total, m, n = 200, 50, 5, 7
    sram = (rng.standard_normal((words, pes_total)) * 1e3).astype(np.float32)
    if layout == "scattered":  # short runs: the loop per lane
        pes = np.sort(rng.choice(pes_total, 31, replace=False)).astype(np.int64)
    else:  # runs of consecutive PEs (a block's rows, one PE left out): a vectorised loop per run
        pes = np.concatenate([np.arange(0, 12), np.arange(13, 30), np.arange(31, 50)]).astype(np.int64)
    a = rng.integers(0, 40, len(pes)).astype(np.int64)
    b = rng.integers(40, 80, len(pes)).astype(np.int64)
    d = np.full(len(pes), 100, dtype=np.int64)
    if case == "per-lane destinations":
        d[::2] = 150
    elif case == "destination over operands":  # x and y inside the destination: read before any write
        d[:] = 30
    expected = reference_rank1(sram, pes, d, a, b, m, n)
    rank1_update_float32(sram, pes, d, a, b, m, n)
    np.testing.assert_array_equal(sram.view(np.int32), expected.view(np.int32))


@ws.jit
def shifted_outer(x, y, c, out, shift):
    p = ws.grid(1)
    xs = ws.local.array(8, np.float32)
    ys = ws.local.array(6, np.float32)
    cs = ws.local.array(24, np.float32)
    xs[0:8] = x[p, 0:8]
    ys[0:6] = y[p, 0:6]
    cs[0:24] = c[p, 0:24]
    s = (p * shift) % 5  # a per-PE operand address: lanes of one group disagree
    ws.outer_add(cs[0:24], xs[s:s + 4], ys[0:6])
    ws.outer_add(cs[0:12], xs[0:2], ys[0:6])
    out[p, 0:24] = cs[0:24]


def test_vger_with_per_pe_addresses_is_identical_compiled_or_not(monkeypatch):
    pes = 24
    x, y, c = (rng.random((pes, k), dtype=np.float32) for k in (8, 6, 24))
    calls = []
    monkeypatch.setattr(descriptor_kernels, "rank1_update_float32",
                        lambda *args: calls.append(1) or rank1_update_float32(*args))
    runs = []
    # (NumPy executors on both sides: the per-PE interpreter would run this small group itself)
    for strategy in (Strategy(compiled=False, compiled_descriptors=False),
                     Strategy(compiled=False, fused_rank1=False)):  # (one pass per vger: not queued)
        with forced(strategy):
            dev = ws.Device(ws.WaferSpec(width=pes, height=1))
            d_out = dev.device_array((pes, 24))
            stats = shifted_outer[(1, 1), (pes, 1)](dev.to_device(x), dev.to_device(y), dev.to_device(c), d_out, 3)
            runs.append((d_out.copy_to_host(), stats))
    (ref, ref_stats), (out, stats) = runs
    assert len(calls) == 2  # the second run took the compiled pass, once per vger
    np.testing.assert_array_equal(out.view(np.int32), ref.view(np.int32))
    for name in ("cycles", "instructions", "flops", "vector_elements"):
        assert getattr(stats, name) == getattr(ref_stats, name), name
    np.testing.assert_array_equal(stats.busy, ref_stats.busy)
    for p in range(pes):  # and both are NumPy's outer products
        s = (p * 3) % 5
        expected = c[p].reshape(4, 6) + np.outer(x[p, s:s + 4], y[p])
        expected[:2] += np.outer(x[p, 0:2], y[p])
        np.testing.assert_array_equal(out[p], expected.ravel())


def reference_rank1_updates(sram: np.ndarray, pes, d, a, b, m: int, n: int) -> np.ndarray:
    """The queued updates one after another (`reference_rank1`)."""
    for q in range(len(a)):
        sram = reference_rank1(sram, pes, d, a[q], b[q], m, n)
    return sram


@pytest.mark.parametrize("case", ["one destination", "per-lane destinations", "addresses differ within runs"])
@pytest.mark.parametrize("layout", ["scattered", "runs", "one run", "one lane"])
@pytest.mark.parametrize("updates", [1, 3, 8, 11])
def test_queued_rank1_updates_equal_numpy_one_after_another_bit_for_bit(case, layout, updates):
    """`rank1_updates_float32` (the dense pass over a span of PEs, or lane by lane) against the updates
    applied one by one in NumPy; operands never overlap the destination (what `Rank1Queue` guarantees). An
    odd count of rows and an odd row length (the dense pass takes destination rows two by two, then the rest
    alone) and 11 updates (two passes of four, then three one at a time)."""
    words, pes_total, m, n = 300, 70, 5, 7
    sram = (rng.standard_normal((words, pes_total)) * 1e3).astype(np.float32)
    sram[::7, ::3] = 1e-42  # (subnormal operands: computed exactly the same)
    pes = {"scattered": np.sort(rng.choice(pes_total, 20, replace=False)),
           "runs": np.concatenate([np.arange(0, 12), np.arange(13, 30), np.arange(33, 50)]),
           "one run": np.arange(5, 69), "one lane": np.array([17])}[layout].astype(np.int64)
    lanes = len(pes)
    if case == "addresses differ within runs":  # (one PE of each row of a block reads other buffers: SUMMA)
        a = np.tile(rng.integers(0, 60, (updates, 1)), (1, lanes))
        b = np.tile(rng.integers(60, 120, (updates, 1)), (1, lanes))
        a[:, ::5] += 3
        b[:, 2::7] -= 4
    else:
        a = rng.integers(0, 60, (updates, lanes))
        b = rng.integers(60, 120, (updates, lanes))
    d = np.full(lanes, 150, dtype=np.int64)
    if case == "per-lane destinations":
        d[::2] = 200
    a, b = a.astype(np.int64), b.astype(np.int64)
    expected = reference_rank1_updates(sram, pes, d, a, b, m, n)
    # (NaN scratch of just the size it asks for: a word read before it is written shows)
    span = int(pes[-1]) + 1 - int(pes[0])
    work = np.full(descriptor_kernels.work_words(updates, m, n, span), np.nan, dtype=np.float32)
    descriptor_kernels.rank1_updates_float32(sram, pes, d, a, b, m, n, work)
    np.testing.assert_array_equal(sram.view(np.int32), expected.view(np.int32))


@pytest.mark.parametrize("updates", [1, 5, 8, 19])
def test_queued_rank1_updates_over_several_blocks_equal_numpy_bit_for_bit(updates):
    """The dense pass a block of `BLOCK` PEs at a time: lanes over three blocks and more, gaps between them
    inside a block and across a block's edge (those PEs' destination words, NaN, -0.0, subnormal, must come
    back as they were), a lane reading other operands at a block's edge, a remainder of updates past the
    passes of four; against the updates one by one in NumPy."""
    block = descriptor_kernels.BLOCK
    words, m, n = 120, 4, 6
    pes = np.concatenate([np.arange(0, block - 3), np.arange(block + 2, 2 * block + 60),  # (a gap across an edge)
                          np.arange(2 * block + 61, 2 * block + 100),  # (one PE missing inside a block)
                          np.arange(2 * block + 130, 3 * block + 200)]).astype(np.int64)
    total = int(pes[-1]) + 1
    assert total <= 2 * len(pes) and total > 3 * block
    sram = (rng.standard_normal((words, total)) * 1e3).astype(np.float32)
    sram[::5, ::3] = 1e-42  # (subnormal words: operands of some lanes, and at the PEs between the lanes)
    sram[2::9, 7::11] = -0.0
    gaps = np.setdiff1d(np.arange(total), pes)
    sram[90:90 + m * n, gaps[::2]] = np.nan  # (destination words of PEs between the lanes)
    sram[90:90 + m * n, gaps[1::2]] = -0.0
    lanes = len(pes)
    a = np.tile(rng.integers(0, 40, (updates, 1)), (1, lanes))
    b = np.tile(rng.integers(40, 80, (updates, 1)), (1, lanes))
    edge = np.searchsorted(pes, block - 4)
    a[:, edge] += 2  # (the last lane before the first block's edge reads other x words)
    b[:, np.searchsorted(pes, 2 * block + 70):np.searchsorted(pes, 2 * block + 134)] -= 3  # (a run across a gap)
    d = np.full(lanes, 90, dtype=np.int64)
    expected = reference_rank1_updates(sram, pes, d, a, b, m, n)
    work = np.full(descriptor_kernels.work_words(updates, m, n, total), np.nan, dtype=np.float32)
    descriptor_kernels.rank1_updates_float32(sram, pes, d, a, b, m, n, work)
    np.testing.assert_array_equal(sram.view(np.int32), expected.view(np.int32))


def test_queued_rank1_updates_with_a_block_of_no_lanes_and_minority_runs_equal_numpy_bit_for_bit():
    """The dense pass's gather copies each operand row from the address most of a block's PEs read, then the
    other runs over it: a whole block between the lanes (no lane: zeros), blocks where the address most PEs
    read is the first run's for some updates and a middle run's for others, runs one PE long or a few hundred;
    against the updates one by one in NumPy."""
    block = descriptor_kernels.BLOCK
    words, m, n, updates = 100, 3, 5, 6
    pes = np.concatenate([np.arange(0, block), np.arange(2 * block + 7, 3 * block + 400)]).astype(np.int64)
    total = int(pes[-1]) + 1
    assert total <= 2 * len(pes)
    sram = (rng.standard_normal((words, total)) * 1e3).astype(np.float32)
    sram[1::6, ::5] = 1e-42
    gaps = np.setdiff1d(np.arange(total), pes)
    sram[60:60 + m * n, gaps] = np.nan  # (destination words of PEs between the lanes: back as they were)
    lanes = len(pes)
    a = np.tile(rng.integers(0, 25, (updates, 1)), (1, lanes))
    b = np.tile(rng.integers(25, 50, (updates, 1)), (1, lanes))
    a[::2, :300] += 1  # (updates 0, 2, 4: the first block's first 300 lanes, the most, at another address)
    a[1::2, 10:400] += 2  # (1, 3, 5: 390 lanes between two runs of another address)
    b[:, ::64] += 2  # (every 64th lane reads other y words)
    b[3, np.searchsorted(pes, 2 * block + 7):np.searchsorted(pes, 3 * block)] -= 1  # (a whole block but one run)
    d = np.full(lanes, 60, dtype=np.int64)
    expected = reference_rank1_updates(sram, pes, d, a, b, m, n)
    work = np.full(descriptor_kernels.work_words(updates, m, n, total), np.nan, dtype=np.float32)
    descriptor_kernels.rank1_updates_float32(sram, pes, d, a, b, m, n, work)
    np.testing.assert_array_equal(sram.view(np.int32), expected.view(np.int32))


@pytest.mark.parametrize("m, n", [(1, 1), (4, 1), (1, 6), (2, 2), (2, 3), (3, 2), (6, 2), (2, 17), (16, 16)])
def test_queued_rank1_updates_whose_prefetches_look_past_the_last_rows_equal_numpy_bit_for_bit(m, n):
    """The dense pass prefetches destination rows `AHEAD_GROUPS` groups of 2 x 2 rows ahead (wrapping to the next
    pair of rows, nothing past the last; each block's first groups before its gather) and operand rows
    `AHEAD_ROWS` ahead, past the end of SRAM here (the operands its last rows): tiles of no group (one row, rows
    of one word), fewer groups than that, a row of one group, an odd row, SUMMA's 16 x 16; over two blocks,
    against the updates one by one in NumPy."""
    updates, lanes = 5, descriptor_kernels.BLOCK + 40
    words = 2 * updates * max(m, n) + m * n
    sram = (rng.standard_normal((words, lanes)) * 1e3).astype(np.float32)
    pes = np.arange(lanes, dtype=np.int64)
    d = np.full(lanes, 0, dtype=np.int64)
    a = np.tile(m * n + np.arange(updates, dtype=np.int64)[:, None] * m, (1, lanes))
    b = np.tile(words - n - np.arange(updates, dtype=np.int64)[:, None] * n, (1, lanes))  # (the last: SRAM's end)
    a[:, ::9] += 1  # (minority runs: their rows gathered over the majority's)
    expected = reference_rank1_updates(sram, pes, d, a, b, m, n)
    work = np.full(descriptor_kernels.work_words(updates, m, n, lanes), np.nan, dtype=np.float32)
    descriptor_kernels.rank1_updates_float32(sram, pes, d, a, b, m, n, work)
    np.testing.assert_array_equal(sram.view(np.int32), expected.view(np.int32))


@pytest.mark.parametrize("layout", ["scattered", "runs", "one lane"])
def test_segments_are_the_runs_of_consecutive_pes_at_one_address(layout):
    """`_segments` against plain Python: per update, the maximal runs of lanes whose PEs follow one another
    and whose addresses are equal, as (first PE, PE past the last, address) rows from `lo`."""
    pes = {"scattered": np.sort(rng.choice(60, 15, replace=False)),
           "runs": np.concatenate([np.arange(3, 10), np.arange(11, 20), np.arange(25, 31)]),
           "one lane": np.array([9])}[layout].astype(np.int64)
    address = rng.integers(0, 3, (4, len(pes))).astype(np.int64)
    address[1] = 5  # (one address: the runs of PEs alone)
    lo = int(pes[0]) - 2
    segments, starts = descriptor_kernels._segments(address, pes, lo)
    expected, begins = [], [0]
    for q in range(len(address)):
        run = [int(pes[0]), int(pes[0]) + 1, int(address[q, 0])]
        for k in range(1, len(pes)):
            if pes[k] == run[1] and address[q, k] == run[2]:
                run[1] += 1
            else:
                expected.append((run[0] - lo, run[1] - lo, run[2]))
                run = [int(pes[k]), int(pes[k]) + 1, int(address[q, k])]
        expected.append((run[0] - lo, run[1] - lo, run[2]))
        begins.append(len(expected))
    assert [tuple(row) for row in segments.tolist()] == expected
    assert starts.tolist() == begins


def rank1_operands_rule(regs: np.ndarray, pes, fd: int, fa: int, fb: int, fc: int, size: int,
                        queued: np.ndarray) -> tuple:
    """`rank1_operands`' result in plain Python: (status, M, N, disjoint, same), then the d, a, b rows."""
    shapes = [int(regs[fc, pe]) for pe in pes]
    if not len(pes) or any(s != shapes[0] for s in shapes):
        return (descriptor_kernels.SHAPES_DIFFER, 0, 0, False, False), None
    m, n = (shapes[0] & 0xFFFFFFFF) >> 16, shapes[0] & 0xFFFF
    if m == 0 or n == 0:
        return (descriptor_kernels.SHAPES_DIFFER, 0, 0, False, False), None
    rows = [[int(regs[f, pe]) for pe in pes] for f in (fd, fa, fb)]
    disjoint, same = True, len(queued) == len(pes)
    for k, (d, a, b) in enumerate(zip(*rows)):
        if not (0 <= d and d + m * n <= size and 0 <= a and a + m <= size and 0 <= b and b + n <= size):
            return (descriptor_kernels.OUTSIDE, 0, 0, False, False), None
        end = d + m * n
        disjoint = disjoint and (a + m <= d or a >= end) and (b + n <= d or b >= end)
        same = same and d == queued[k]
    return (descriptor_kernels.OPERANDS_READ, m, n, disjoint, same), rows


def test_rank1_operands_over_runs_of_pes_and_scattered_lanes_follow_the_rule():
    """`rank1_operands` (a loop over each run of consecutive PEs) against the rule in plain Python on random
    registers: lanes in one run, in a few, scattered; shapes that agree or not (an empty one), addresses in
    and out of SRAM, operands inside their destination or not, a queued destination equal on every lane, on
    all but one, or none queued."""
    pick = np.random.default_rng(41)
    statuses = set()
    for trial in range(600):
        total = 48
        layout = trial % 3
        if layout == 0:
            pes = np.arange(3, 3 + int(pick.integers(1, 40)))
        elif layout == 1:
            pes = np.concatenate([np.arange(0, 10), np.arange(12, 30), np.arange(31, 47)])
        else:
            pes = np.sort(pick.choice(total, int(pick.integers(1, 20)), replace=False))
        pes = pes.astype(np.int64)
        regs = pick.integers(-3, 60, (6, total)).astype(np.int32)
        shape = int(pick.integers(0, 4)) << 16 | int(pick.integers(0, 4))
        regs[5, pes] = shape
        if pick.random() < 0.2:
            regs[5, pes[int(pick.integers(len(pes)))]] = shape + 1
        if pick.random() < 0.5:  # (in SRAM and mostly apart: the common case)
            regs[1, pes] = 40
            regs[2, pes] = pick.integers(0, 20, len(pes))
            regs[3, pes] = pick.integers(20, 36, len(pes))
            if pick.random() < 0.3:  # (one lane's x inside its destination)
                regs[2, pes[int(pick.integers(len(pes)))]] = 40
        queued = np.empty(0, dtype=np.int64)
        if pick.random() < 0.6:
            queued = regs[1, pes].astype(np.int64)
            if pick.random() < 0.5:
                queued[int(pick.integers(len(pes)))] += 1
        out = np.full((3, len(pes)), -7, dtype=np.int64)
        got = descriptor_kernels.rank1_operands(regs, pes, 1, 2, 3, 5, 57, out, queued)
        expected, rows = rank1_operands_rule(regs, pes, 1, 2, 3, 5, 57, queued)
        assert tuple(got) == expected, trial
        if rows is not None:
            np.testing.assert_array_equal(out, np.array(rows, dtype=np.int64))
        statuses.add((expected[0], expected[3], expected[4]))
    assert {status for status, _, _ in statuses} == {descriptor_kernels.OPERANDS_READ, descriptor_kernels.SHAPES_DIFFER,
                                                       descriptor_kernels.OUTSIDE}
    assert {(True, True), (True, False), (False, False)} <= {(d, s) for st, d, s in statuses if st == 0}
