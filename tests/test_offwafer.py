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
    monkeypatch.setattr(parallel, "_threads", [threads])
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
