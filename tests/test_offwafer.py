"""Bulk global copies (`gldv` / `gstv`, sim/offwafer.py): the strided path (`_affine_bulk`) taken when a group's
transfers form one strided block must move exactly the words, and take exactly the cycles, of the general
2-D gather path, and a failed launch must still undo its bulk stores."""
from __future__ import annotations

import numpy as np
import pytest

import wafersim as ws
from test_engine_strategies import assert_same_run
from wafersim.sim import offwafer, parallel
from wafersim.sim.strategy import Strategy, forced

N = 5  # words per transfer


@ws.jit
def copy_rows(src, dst, order, fail):
    """PE i (or the PE `order` names) copies the first N words of row i of `src` into row i of `dst`, x2."""
    i = ws.grid(1)
    row = order[i]
    buf = ws.local.array(N, np.float32)
    buf[0:N] = src[row, 0:N]
    buf[0:N] = buf[0:N] * 2.0
    dst[row, 0:N] = buf[0:N]
    ws.syncthreads()
    if i == 0:
        dst[fail, 0] = 1.0  # a bounds error when `fail` is out of range


def _run(width: int, order: np.ndarray, fail: int, before: np.ndarray):
    dev = ws.Device(ws.WaferSpec(width=8, height=1))
    src = np.arange(before.size, dtype=np.float32).reshape(before.shape) + 0.5
    d_dst = dev.to_device(before)
    stats = copy_rows[(1, 1), (len(order), 1)](dev.to_device(src), d_dst, dev.to_device(order), fail)
    return src, d_dst.copy_to_host(), stats


@pytest.mark.parametrize("width", [N, 2 * N + 3])  # rows back to back, and rows with gaps between transfers
@pytest.mark.parametrize("order", ["in order", "reversed"])  # reversed: not affine, the general path
@pytest.mark.parametrize("block", [4096, 3])  # 3: transposing copies in blocks of PEs, one cut short
@pytest.mark.parametrize("threads", [1, 2])  # (with lean_bulk_stores, blocks on the engine's threads)
def test_bulk_copies_match_numpy_and_the_general_path(width, order, block, threads, monkeypatch):
    monkeypatch.setattr(offwafer, "TRANSPOSE_BLOCK", block)
    monkeypatch.setattr(parallel, "PARALLEL_LANES", 2)
    monkeypatch.setattr(parallel, "_configured", threads)
    rows = 8
    permutation = np.arange(rows, dtype=np.int32)
    if order == "reversed":
        permutation = permutation[::-1].copy()
    before = np.full((rows, width), -1.0, np.float32)
    taken = []
    bulk = offwafer.OffWaferMixin._affine_bulk
    monkeypatch.setattr(offwafer.OffWaferMixin, "_affine_bulk", lambda self, *a: taken.append(bulk(self, *a)) or taken[-1])
    src, fast, fast_stats = _run(width, permutation, 0, before)
    expected = before.copy()
    expected[:, :N] = src[:, :N] * 2
    expected[0, 0] = 1.0
    np.testing.assert_array_equal(fast, expected)
    assert any(taken) == (order == "in order")
    with forced(Strategy(lean_bulk_stores=False)):  # one transposing copy of all PEs, a copy as undo record
        assert_same_run((fast, fast_stats), _run(width, permutation, 0, before)[1:])
    monkeypatch.setattr(offwafer.OffWaferMixin, "_affine_bulk", lambda self, *a: False)
    assert_same_run((fast, fast_stats), _run(width, permutation, 0, before)[1:])


@pytest.mark.parametrize("width", [N, 2 * N + 3])
@pytest.mark.parametrize("value", [-1.0, 0.0])  # 0: the undo record of all-zero words is a lazy zero array
@pytest.mark.parametrize("lean", [True, False])
def test_a_failed_launch_undoes_its_bulk_stores(width, value, lean):
    before = np.full((8, width), value, np.float32)
    with forced(Strategy(lean_bulk_stores=lean)):
        _fail(before, width)


def _fail(before: np.ndarray, width: int) -> None:
    dev = ws.Device(ws.WaferSpec(width=8, height=1))
    d_dst = dev.to_device(before)
    src = dev.to_device(np.ones((8, width), np.float32))
    with pytest.raises(ws.MemoryAccessError):
        copy_rows[(1, 1), (8, 1)](src, d_dst, dev.to_device(np.arange(8, dtype=np.int32)), 99)
    np.testing.assert_array_equal(d_dst.copy_to_host(), before)


@ws.jit
def copy_rows_but(src, dst, skip, every):
    """Each PE i copies the first N words of row i of `src`, x2, into row i of `dst`, but PE `skip` and, for
    `every` > 0, each PE i with i % every == 0: they copy -1s (a bulk load by a group with gaps)."""
    i = ws.grid(1)
    buf = ws.local.array(N, np.float32)
    buf[0:N] = -1.0
    gap = i == skip
    if every > 0:
        gap = gap or i % every == 0
    if not gap:
        buf[0:N] = src[i, 0:N]
        buf[0:N] = buf[0:N] * 2.0
    dst[i, 0:N] = buf[0:N]


@pytest.mark.parametrize("skip, every", [(3, 0), (0, 0), (7, 0), (-1, 3), (-1, 0)])
@pytest.mark.parametrize("block", [4096, 2])  # 2: a run's copy in blocks of PEs, one cut short
def test_gapped_bulk_loads_match_numpy_and_the_general_path(skip, every, block, monkeypatch):
    """A bulk load by every PE but some (`Strategy.gapped_bulk_copies`: each run of consecutive PEs one strided
    copy; gaps in the middle, none (skip at an end, or nobody), several) moves the words, and takes the cycles,
    of the general path and of the strategy off, and NumPy's."""
    monkeypatch.setattr(offwafer, "TRANSPOSE_BLOCK", block)
    monkeypatch.setattr(offwafer, "RUN_WORDS", 1)  # (runs of any length copied as runs)
    width, rows = 2 * N + 3, 8
    src = np.arange(rows * width, dtype=np.float32).reshape(rows, width) + 0.5

    def run():
        dev = ws.Device(ws.WaferSpec(width=8, height=1))
        d_dst = dev.to_device(np.zeros((rows, width), np.float32))
        stats = copy_rows_but[(1, 1), (rows, 1)](dev.to_device(src), d_dst, skip, every)
        return d_dst.copy_to_host(), stats

    taken = []  # (whether each bulk load took the strided path)
    bulk = offwafer.OffWaferMixin._affine_bulk

    def noting(self, op, *args):
        done = bulk(self, op, *args)
        if op == "gldv":
            taken.append(done)
        return done

    monkeypatch.setattr(offwafer.OffWaferMixin, "_affine_bulk", noting)
    fast = run()
    expected = np.zeros((rows, width), np.float32)
    expected[:, :N] = src[:, :N] * 2
    gaps = [i for i in range(rows) if i == skip or (every and i % every == 0)]
    expected[gaps, :N] = -1.0
    np.testing.assert_array_equal(fast[0], expected)
    assert taken == [True]  # (the load, with gaps or without)
    with forced(Strategy(gapped_bulk_copies=False)):
        taken.clear()
        assert_same_run(fast, run())
        assert taken == [not gaps or gaps in ([0], [rows - 1])]
    monkeypatch.setattr(offwafer.OffWaferMixin, "_affine_bulk", lambda self, *a: False)
    assert_same_run(fast, run())


def test_short_runs_of_a_gapped_load_take_the_general_path(monkeypatch):
    """Runs that move fewer than `RUN_WORDS` words each on average: the gathers (a copy per run would cost
    more); the same words."""
    taken = []
    bulk = offwafer.OffWaferMixin._affine_bulk
    monkeypatch.setattr(offwafer.OffWaferMixin, "_affine_bulk",
                        lambda self, op, *a: taken.append((op, bulk(self, op, *a))) or taken[-1][1])
    dev = ws.Device(ws.WaferSpec(width=8, height=1))
    src = np.arange(8 * N, dtype=np.float32).reshape(8, N)
    d_dst = dev.to_device(np.zeros((8, N), np.float32))
    copy_rows_but[(1, 1), (8, 1)](dev.to_device(src), d_dst, -1, 2)
    assert ("gldv", False) in taken and ("gldv", True) not in taken  # (the load: runs of one PE, N words each)
    expected = src * 2
    expected[::2] = -1.0
    np.testing.assert_array_equal(d_dst.copy_to_host(), expected)


def test_a_gapped_store_record_puts_back_the_rows_and_the_words_between_them():
    """`GlobalMemory.rows_view` with `gaps` inside an undo record (`Strategy.gapped_bulk_copies`' strided stores):
    the block from the first row to the last kept, the rows and a later store into a gap undone; a block of
    more than `GAP_WORDS` times the rows' words, or no `gaps`: None (the general path keeps the words)."""
    memory = ws.Device(ws.WaferSpec(width=8, height=1)).memory
    alloc = memory.allocate(4 * 20)
    alloc.words()[:] = np.arange(20, dtype=np.int32)
    with pytest.raises(RuntimeError), memory.undo_on_error():
        rows = memory.rows_view(alloc.base, alloc.base + 4, 4, 20, 2, store=True, gaps=True)  # 2 words, 5 apart
        rows[...] = -1
        assert list(alloc.words()[:8]) == [0, -1, -1, 3, 4, 5, -1, -1]
        memory.scatter_words(np.array([alloc.base + 12], dtype=np.int64), alloc.base, np.array([99], np.int32))
        raise RuntimeError
    assert list(alloc.words()) == list(range(20))
    with memory.undo_on_error():
        assert memory.rows_view(alloc.base, alloc.base, 4, 20, 2, store=True) is None
        assert memory.rows_view(alloc.base, alloc.base, 2, 4 * 18, 2, store=True, gaps=True) is None
    assert memory.rows_view(alloc.base, alloc.base, 2, 4 * 18, 2, store=True) is not None  # (no record to keep)


K = 3  # words of each column's row of `src` per step of x


@ws.jit
def spread_rows(src, dst, shared):
    """PE (x, y) loads (x + 1) * K words of row x of `src` (every PE of a column the same words, where `shared`;
    else row x + y, each PE its own), then writes them doubled to its own row of `dst`."""
    x, y = ws.grid(2)
    m = (x + 1) * K
    buf = ws.local.array(4 * K, np.float32)
    row = x if shared else x + y
    buf[0:m] = src[row, 0:m]
    buf[0:m] = buf[0:m] * 2.0
    dst[y * 4 + x, 0:m] = buf[0:m]


@pytest.mark.parametrize("shared", [1, 0])
def test_a_load_of_one_address_by_many_pes_matches_numpy_and_the_gathers(shared, monkeypatch):
    """gldv of transfers of several lengths (the general path), each length's PEs reading one global address
    (`_load_one_row`, trsv's L: the row gathered once), or each PE its own: NumPy's words, and the cycles and
    statistics of the (PEs, words) gathers."""
    src = np.arange(7 * 4 * K, dtype=np.float32).reshape(7, 4 * K) + 0.25

    def run():
        dev = ws.Device(ws.WaferSpec(width=4, height=4))
        d_dst = dev.to_device(np.full((16, 4 * K), -1.0, np.float32))
        stats = spread_rows[1, (4, 4)](dev.to_device(src), d_dst, shared)
        return d_dst.copy_to_host(), stats

    taken = []
    one_row = offwafer.OffWaferMixin._load_one_row
    monkeypatch.setattr(offwafer.OffWaferMixin, "_load_one_row",
                        lambda self, *a: taken.append(one_row(self, *a)) or taken[-1])
    out, stats = run()
    expected = np.full((16, 4 * K), -1.0, np.float32)
    for x in range(4):
        for y in range(4):
            m = (x + 1) * K
            expected[y * 4 + x, :m] = src[x if shared else x + y, :m] * 2
    np.testing.assert_array_equal(out, expected)
    assert any(taken) == bool(shared) and taken
    monkeypatch.setattr(offwafer.OffWaferMixin, "_load_one_row", lambda self, *a: False)
    assert_same_run((out, stats), run())
