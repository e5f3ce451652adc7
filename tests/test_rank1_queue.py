"""Queued float32 rank-1 updates (`wafersim.sim.rank1_queue`, `Strategy.fused_rank1`): the queue's rules against
plain NumPy, and vgers through the engine queued or one pass each, bit-identical."""
from __future__ import annotations

import numpy as np
import pytest

import wafersim as ws
from wafersim.sim import descriptor_kernels
from wafersim.sim.descriptor_kernels import rank1_updates_float32
from wafersim.sim.lanes import Lanes
from wafersim.sim.rank1_queue import Rank1Queue
from wafersim.sim.strategy import Strategy, forced

rng = np.random.default_rng(11)


def test_the_queue_joins_updates_of_one_destination_and_runs_alone_what_overlaps_it(monkeypatch):
    words, pes, m, n = 64, 10, 2, 3
    sram = rng.standard_normal((words, pes)).astype(np.float32)
    expected = sram.copy()
    lanes = Lanes.from_indices(pes, np.array([1, 2, 3, 7], dtype=np.int64))
    idx = lanes.indices()
    runs: list[int] = []
    monkeypatch.setattr(descriptor_kernels, "rank1_updates_float32",
                        lambda *args: runs.append(len(args[3])) or rank1_updates_float32(*args))
    queue = Rank1Queue(lanes, sram, {})
    full = np.full(len(idx), 40, dtype=np.int64)

    def numpy_update(d, a, b):  # (one after another, every operand read first)
        for k, pe in enumerate(idx):
            x, y = expected[a[k]:a[k] + m, pe].copy(), expected[b[k]:b[k] + n, pe].copy()
            expected[d[k]:d[k] + m * n, pe] += (x[:, None] * y[None, :]).ravel()

    for a0, b0 in ((0, 10), (2, 20), (4, 30)):
        a, b = np.full(len(idx), a0, dtype=np.int64) + np.arange(len(idx)), np.full(len(idx), b0, dtype=np.int64)
        assert queue.add(m, n, full, a, b, True)
        numpy_update(full, a, b)
    assert len(queue) == 3 and not runs
    other = np.full(len(idx), 50, dtype=np.int64)  # another destination: what is queued runs first
    assert queue.add(m, n, other, full - 40, full - 30, True)
    numpy_update(other, full - 40, full - 30)
    assert runs == [3] and len(queue) == 1
    assert not queue.add(m, n, other, other + 1, full - 30, False)  # (overlapping: the caller runs it alone)
    assert runs == [3, 1] and len(queue) == 0
    queue.flush()
    np.testing.assert_array_equal(sram.view(np.int32), expected.view(np.int32))


# (no bounds checks: a `chk` between two vgers is no register instruction, so the queue would run there)
@ws.jit(boundscheck=False)
def rank1_rows(x, y, c, out, shift, split):
    """Eight outer products in a row into one tile (a GEMM's inner loop), per-PE operand addresses, then
    two into another tile, one whose operand lies in its destination, and groups that diverge."""
    p = ws.grid(1)
    xs = ws.local.array(40, np.float32)
    ys = ws.local.array(48, np.float32)
    cs = ws.local.array(24, np.float32)
    ds = ws.local.array(24, np.float32)
    xs[0:40] = x[p, 0:40]
    ys[0:48] = y[p, 0:48]
    cs[0:24] = c[p, 0:24]
    ds[0:24] = c[p, 0:24]
    s = (p * shift) % 5
    for k in (0, 1, 2, 3, 4, 5, 6, 7):  # (a tuple loop: unrolled, the vgers in a row)
        ws.outer_add(cs[0:24], xs[4 * k + s:4 * k + s + 4], ys[6 * k:6 * k + 6])
    if p % split == 0:  # another group: its own queue
        ws.outer_add(cs[0:24], xs[s:s + 4], ys[0:6])
        ws.outer_add(ds[0:24], xs[0:4], ys[6:12])
    ws.outer_add(ds[0:24], xs[s:s + 4], ys[6:12])
    ws.outer_add(ds[0:12], ds[12:14], ys[0:6])  # (an operand inside its destination: this one runs alone)
    ws.outer_add(ds[0:24], xs[0:4], ys[0:6])
    out[p, 0:24] = cs[0:24]
    out[p, 24:48] = ds[0:24]


@pytest.mark.parametrize("pes,words_per_cycle", [(24, 1), (300, 1), (300, 2)])
def test_queued_vgers_are_identical_to_one_pass_each(pes, words_per_cycle, monkeypatch):
    """A row of vgers through the engine with `Strategy.fused_rank1` and without it: the same words, cycles and
    statistics, and the queue did run (several updates at once). The queued updates' element cycles reach the
    clocks when the queue runs in a launch of whole cycles (`Rank1Queue.defer`), with each update otherwise (a
    link of 2 words a cycle: half cycles)."""
    x, y, c = (rng.random((pes, k), dtype=np.float32) for k in (40, 48, 24))
    queued = []
    monkeypatch.setattr(descriptor_kernels, "rank1_updates_float32",
                        lambda *args: queued.append(len(args[3])) or rank1_updates_float32(*args))
    runs = []
    for strategy in (Strategy(compiled=False, fused_rank1=False), Strategy(compiled=False)):
        with forced(strategy):
            dev = ws.Device(ws.WaferSpec(width=pes, height=1, link_words_per_cycle=words_per_cycle))
            d_out = dev.device_array((pes, 48))
            stats = rank1_rows[(1, 1), (pes, 1)](dev.to_device(x), dev.to_device(y), dev.to_device(c), d_out, 3, 4)
            runs.append((d_out.copy_to_host(), stats))
    (ref, ref_stats), (out, stats) = runs
    assert max(queued) == 8
    np.testing.assert_array_equal(out.view(np.int32), ref.view(np.int32))
    for name in ("cycles", "instructions", "flops", "vector_elements", "op_counts"):
        assert getattr(stats, name) == getattr(ref_stats, name), name
    for name in ("busy", "stall", "pe_instructions"):
        np.testing.assert_array_equal(getattr(stats, name), getattr(ref_stats, name))


@pytest.mark.parametrize("layout", ["runs", "scattered far apart", "one lane"])
def test_a_queue_split_over_threads_equals_numpy(layout, monkeypatch):
    """The queue's lanes in parts on two threads (forced for a small queue): each lane's words its own, the
    same words as one call; lanes far apart take no dense scratch."""
    from wafersim.sim import parallel, rank1_queue

    monkeypatch.setattr(rank1_queue, "PARALLEL_ELEMENTS", 1)
    words, pes, m, n = 40, 9000, 2, 3
    sram = rng.standard_normal((words, pes)).astype(np.float32)
    idx = {"runs": np.r_[0:50, 60:90], "scattered far apart": np.array([3, 4000, 8999]),
           "one lane": np.array([77])}[layout].astype(np.int64)
    expected = sram.copy()
    queue = Rank1Queue(Lanes.from_indices(pes, idx), sram, {})
    d = np.full(len(idx), 20, dtype=np.int64)
    for q in range(3):
        a, b = np.full(len(idx), 2 * q, dtype=np.int64), np.full(len(idx), 8 + 3 * q, dtype=np.int64)
        assert queue.add(m, n, d, a, b, True)
        for k, pe in enumerate(idx):
            expected[20:26, pe] += (expected[a[k]:a[k] + m, pe][:, None] * expected[b[k]:b[k] + n, pe][None, :]).ravel()
    with parallel.threads(2):
        queue.flush()
    np.testing.assert_array_equal(sram.view(np.int32), expected.view(np.int32))
    assert all(len(work) < 10 * pes for work in queue.work.values())


def test_operands_read_into_the_queue_join_it_past_its_first_capacity_and_on_a_new_destination(monkeypatch):
    """`rank1_operands` writing each update's addresses into the queue's own array (`Rank1Queue.slot`) and
    comparing its destination with the queued one, then `push`: more updates than the array first holds (it
    grows, the queued rows kept), a destination that differs on one lane only, a new shape, an operand inside
    its destination (run alone from the rows it wrote), registers out of SRAM (nothing queued); against the
    updates one after another in NumPy, bit for bit, and the queue run only where it must."""
    from wafersim.sim import rank1_queue

    words, pes = 200, 12
    sram = (rng.standard_normal((words, pes)) * 1e2).astype(np.float32)
    expected = sram.copy()
    idx = np.array([0, 1, 2, 5, 6, 7, 8, 11], dtype=np.int64)
    lanes = Lanes.from_indices(pes, idx)
    runs: list[int] = []
    monkeypatch.setattr(descriptor_kernels, "rank1_updates_float32",
                        lambda *args: runs.append(len(args[3])) or rank1_updates_float32(*args))
    queue = Rank1Queue(lanes, sram, {})
    regs = np.zeros((8, pes), dtype=np.int32)

    def vger(m, n, d, a, b):  # (registers 1..4: d, a, b, shape; one update through the queue, and NumPy's)
        regs[1, idx], regs[2, idx], regs[3, idx], regs[4, idx] = d, a, b, (m << 16) | n
        out, queued = queue.slot()
        status, gm, gn, disjoint, same = descriptor_kernels.rank1_operands(regs, idx, 1, 2, 3, 4, words, out, queued)
        if status != descriptor_kernels.OPERANDS_READ:
            return status
        assert (gm, gn) == (m, n) and same == (len(queued) > 0 and np.array_equal(queued, out[0]))
        if not queue.push(m, n, disjoint, same):
            descriptor_kernels.rank1_update_float32(sram, idx, out[0], out[1], out[2], m, n)
        for k, pe in enumerate(idx):  # (every operand read before the destination is written)
            x = expected[a[k]:a[k] + m, pe].copy()
            y = expected[b[k]:b[k] + n, pe].copy()
            expected[d[k]:d[k] + m * n, pe] += (x[:, None] * y[None, :]).ravel()
        return status

    lanes_of = np.arange(len(idx))
    d = np.full(len(idx), 150)
    total = rank1_queue.FIRST_CAPACITY * 2 + 3
    for q in range(total):  # (past the array's first capacity twice: it doubles, the rows queued kept)
        assert vger(3, 4, d, (q * 5 + lanes_of) % 100, 100 + (q % 7) + lanes_of) == descriptor_kernels.OPERANDS_READ
    assert not runs and len(queue) == total
    other = d.copy()
    other[3] = 170  # (one lane's destination differs: what is queued runs first)
    vger(3, 4, other, lanes_of, 100 + lanes_of)
    assert runs == [total] and len(queue) == 1
    vger(2, 4, other, 10 + lanes_of, 120 + lanes_of)  # (another shape: likewise)
    assert runs == [total, 1] and len(queue) == 1
    vger(2, 4, other, other + 1, 120 + lanes_of)  # (x inside its destination: run alone, after the queue)
    assert runs == [total, 1, 1] and len(queue) == 0
    vger(2, 4, other, 30 + lanes_of, 130 + lanes_of)
    bad = other.copy()
    bad[0] = words  # (a destination out of SRAM: nothing queued, the queue as it was)
    assert vger(2, 4, bad, lanes_of, 100 + lanes_of) == descriptor_kernels.OUTSIDE  # (NumPy's not run either)
    assert len(queue) == 1
    queue.flush()
    assert runs == [total, 1, 1, 1]
    np.testing.assert_array_equal(sram.view(np.int32), expected.view(np.int32))


def test_operands_of_lanes_of_other_shapes_or_outside_sram_are_not_read():
    """`rank1_operands`' statuses against the rule: every lane's c register the first lane's (else
    SHAPES_DIFFER, whichever lane differs, the last too), neither dimension zero, every span inside SRAM (else
    OUTSIDE); the addresses read as int64 per lane where it returns OPERANDS_READ."""
    words, pes = 100, 6
    idx = np.arange(pes, dtype=np.int64)
    queued = np.empty(0, dtype=np.int64)

    def status(regs):
        out = np.full((3, pes), -1, dtype=np.int64)
        got = descriptor_kernels.rank1_operands(regs, idx, 1, 2, 3, 4, words, out, queued)
        return got, out

    regs = np.zeros((5, pes), dtype=np.int32)
    regs[1], regs[2], regs[3], regs[4] = 40 + idx, idx, 20 + idx, (2 << 16) | 3
    (code, m, n, disjoint, same), out = status(regs)
    assert (code, m, n, disjoint, same) == (descriptor_kernels.OPERANDS_READ, 2, 3, True, False)
    np.testing.assert_array_equal(out, np.stack([40 + idx, idx, 20 + idx]))
    for lane in (1, pes - 1):
        other = regs.copy()
        other[4, lane] = (3 << 16) | 2
        assert status(other)[0][0] == descriptor_kernels.SHAPES_DIFFER
    empty = regs.copy()
    empty[4] = 5  # (0 x 5)
    assert status(empty)[0][0] == descriptor_kernels.SHAPES_DIFFER
    outside = regs.copy()
    outside[1, pes - 1] = words - 5  # (its 2 x 3 destination's last word past SRAM)
    assert status(outside)[0][0] == descriptor_kernels.OUTSIDE
    both = outside.copy()
    both[4, 2] = (1 << 16) | 1
    assert status(both)[0][0] != descriptor_kernels.OPERANDS_READ
