"""`sim.hostmem.SparePool`: large arrays kept between waves are handed out filled as asked, never while
something else still refers to them, and within their bound; a launch that reuses one computes exactly what
a launch on fresh memory computes."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

import wafersim as ws
from wafersim.kernels import reduce
from wafersim.sim import hostmem, wave, wave_end
from wafersim.sim.hostmem import SparePool


def test_a_kept_array_comes_back_refilled_and_only_once():
    pool = SparePool(limit=1 << 20, min_bytes=0)
    a = np.arange(12, dtype=np.float64).reshape(2, 6)
    address = a.__array_interface__["data"][0]
    pool.keep(a)
    del a
    b = pool.take((2, 6), np.float64, -np.inf)
    assert b.__array_interface__["data"][0] == address  # the same memory ...
    np.testing.assert_array_equal(b, np.full((2, 6), -np.inf))  # ... holding nothing of its last use
    c = pool.take((2, 6), np.float64, -np.inf)
    assert c.__array_interface__["data"][0] != address and np.all(c == -np.inf)  # handed out once
    assert pool.take((3,), np.int32, 0).tolist() == [0, 0, 0]
    dirty = np.full((3, 5000), 7, dtype=np.int32)  # (zeroed page by page where the host allows: `zero_resident`)
    dirty[1, 17] = -1
    address = dirty.__array_interface__["data"][0]
    pool.keep(dirty)
    del dirty
    clean = pool.take((3, 5000), np.int32, 0)
    assert clean.__array_interface__["data"][0] == address and not clean.any()


def test_an_array_something_else_refers_to_is_not_kept():
    pool = SparePool(limit=1 << 20, min_bytes=0)
    a = np.ones(8)
    view = a[2:]  # (a snapshot or checkpoint holding it, or a view of it)
    pool.keep(a)
    assert pool.kept_bytes == 0
    pool.keep(view)  # a view is never kept either: its base holds the memory
    assert pool.kept_bytes == 0
    del view
    pool.keep(a)
    assert pool.kept_bytes == a.nbytes
    np.testing.assert_array_equal(pool.take((8,), np.float64, 0.0), np.zeros(8))


def test_small_arrays_and_other_shapes_are_not_held():
    pool = SparePool(limit=100, min_bytes=16)
    pool.keep(np.ones(1))  # 8 bytes: below min_bytes (glibc's heap serves such blocks)
    pool.keep(np.ones(20))  # 160 bytes: above the limit
    assert pool.kept_bytes == 0
    for _ in range(3):
        pool.keep(np.ones(5))  # 40 bytes each: the oldest is dropped to stay within 100
    assert pool.kept_bytes == 80
    pool.take((7,), np.float64, 0.0)  # another shape, none kept: the kept ones are let go
    assert pool.kept_bytes == 0


def test_a_small_array_asked_for_lets_go_of_nothing():
    """Only a request the pool could serve (min_bytes or more) drops what is kept: a small launch between two
    large ones (its registers from glibc's heap) let the large ones' arrays go, to be mapped afresh."""
    pool = SparePool(limit=1000, min_bytes=64)
    big = np.ones(10)  # 80 bytes: kept
    address = big.__array_interface__["data"][0]
    pool.keep(big)
    del big
    assert pool.take((2,), np.float64, 0.0).tolist() == [0.0, 0.0]  # 16 bytes: never kept, drops nothing
    assert pool.kept_bytes == 80
    again = pool.take((10,), np.float64, 1.5)
    assert again.__array_interface__["data"][0] == address and np.all(again == 1.5)


def test_pages_are_not_trusted_to_be_zero_once_the_host_has_swap(monkeypatch):
    """`zero_resident` skips pages not in memory as never written, which holds only without swap: swap turned
    on after the first call is seen (it was looked for once), and the pool then fills the whole array."""
    dirty = np.full(4 * 4096, 7, dtype=np.uint8)
    hostmem.zero_resident(dirty)  # (loads mincore where the host allows)
    monkeypatch.setattr(hostmem, "_no_swap", lambda: False)
    assert hostmem.zero_resident(np.full(4 * 4096, 7, dtype=np.uint8)) is False
    pool = SparePool(limit=1 << 20, min_bytes=0)
    pool.keep(dirty)
    del dirty
    assert not pool.take((4 * 4096,), np.uint8, 0).any()


def test_an_array_held_only_by_the_callers_variable_is_counted_as_such():
    """`keep` compares the reference count with one measured the same way at import (an interpreter that
    borrows references counts fewer): an array held by the caller alone is kept, one held twice is not."""
    pool = SparePool(limit=1 << 20, min_bytes=0)
    alone = np.ones(4)
    pool.keep(alone)
    assert pool.kept_bytes == alone.nbytes
    held = np.ones(4)
    snapshot = [held]  # (as `snapshot(sim)` holds a wave's registers)
    pool.keep(held)
    assert pool.kept_bytes == alone.nbytes and snapshot[0] is held


def _use_pool(monkeypatch, pool: SparePool) -> None:
    """The engine's waves take arrays from `pool` and keep theirs there (`sim.wave` and `sim.wave_end`)."""
    for module in (wave, wave_end):
        monkeypatch.setattr(module, "SPARE", pool)


def _allreduce(values: np.ndarray):
    dev = ws.Device(ws.WaferSpec(width=values.shape[1], height=values.shape[0]))
    return reduce.block_allreduce(values, "sum", (values.shape[1], values.shape[0]), dev)


def test_launches_reusing_link_reservations_compute_what_fresh_ones_do(monkeypatch):
    rng = np.random.default_rng(5)
    first, second = rng.random((12, 20), dtype=np.float32), rng.random((12, 20), dtype=np.float32)
    fresh = [_allreduce(v) for v in (first, second)]  # (arrays this small are never kept by the default pool)
    pool = SparePool(limit=1 << 30, min_bytes=0)
    _use_pool(monkeypatch, pool)
    kept_before = pool.kept_bytes
    reused = [_allreduce(v) for v in (first, second)]
    assert pool.kept_bytes > kept_before  # the first launch's reservations were kept for the second
    for (out_a, stats_a), (out_b, stats_b) in zip(fresh, reused):
        np.testing.assert_array_equal(out_a, out_b)
        assert stats_a.cycles == stats_b.cycles
        np.testing.assert_array_equal(stats_a.link_words, stats_b.link_words)
    np.testing.assert_allclose(reused[1][0], np.full_like(second, second.sum()), rtol=1e-5)


def test_the_engine_pool_is_bounded():
    assert hostmem.SPARE.limit <= 1 << 30 and hostmem.SPARE.min_bytes == hostmem.SPARE_MIN_BYTES


@pytest.mark.parametrize("text, compacts", [
    ("always defer defer+madvise [madvise] never\n", True),
    ("[always] defer defer+madvise madvise never\n", True),
    ("always defer [defer+madvise] madvise never\n", True),
    ("always [defer] defer+madvise madvise never\n", False),
    ("always defer defer+madvise madvise [never]\n", False),
])
def test_compacting_hugepages_reads_the_kernels_choice(tmp_path, text, compacts):
    path = tmp_path / "defrag"
    path.write_text(text)
    assert hostmem.compacting_hugepages(str(path)) is compacts


def test_numpy_huge_page_advice_is_turned_off_only_where_faults_compact(tmp_path):
    from numpy._core import multiarray

    before = multiarray._get_madvise_hugepage()
    path = tmp_path / "defrag"
    try:
        multiarray._set_madvise_hugepage(True)
        path.write_text("always [defer] defer+madvise madvise never\n")
        assert hostmem.tune_numpy_hugepages(str(path)) is False and multiarray._get_madvise_hugepage()
        assert hostmem.tune_numpy_hugepages(str(tmp_path / "missing")) is False  # (no such kernel knob)
        assert multiarray._get_madvise_hugepage()
        path.write_text("always defer defer+madvise [madvise] never\n")
        assert hostmem.tune_numpy_hugepages(str(path)) is True and not multiarray._get_madvise_hugepage()
    finally:
        multiarray._set_madvise_hugepage(before)


@ws.jit
def _locals(u, out, k):
    x, y = ws.grid(2)
    kept = ws.local.array(4, dtype=np.int32)
    for t in range(4):
        kept[t] = t * k + x + 10 * y
    out[y, x] = u[y, x] + kept[3]


def test_zero_resident_clears_every_written_word():
    pages = 64
    page = hostmem._PAGE
    a = np.zeros(pages * page // 8 + 5)  # (not page-aligned: the array's start lies inside a page)
    a[:10] = 1.5
    a[len(a) // 2] = -3.0
    a[-1] = 7.0
    if not hostmem.zero_resident(a):
        pytest.skip("no mincore or the host has swap: SparePool then fills every page")
    assert not a.any()


@pytest.mark.parametrize("shape, dtype", [((1794, 4096), np.int32), ((3, 5), np.float64), (7, np.float32),
                                          ((0,), np.int64), ((2, 3, 5), np.uint8)])
def test_line_aligned_zeros_begin_on_a_cache_line_hold_zeros_and_own_their_views(shape, dtype):
    array = hostmem.line_aligned_zeros(shape, dtype)
    expected = np.zeros(shape, dtype)
    assert array.shape == expected.shape and array.dtype == expected.dtype
    assert array.__array_interface__["data"][0] % hostmem.CACHE_LINE == 0
    assert array.flags.c_contiguous and array.flags.writeable
    np.testing.assert_array_equal(array, expected)
    # (a view refers to the array, not to the buffer under it: `SparePool.keep`'s reference count sees it)
    view = array.reshape(-1)
    assert view.base is array
    before = sys.getrefcount(array)
    other = array.view(np.uint8)
    assert sys.getrefcount(array) == before + 1 and other.base is array
    array.reshape(-1)[:] = 7
    np.testing.assert_array_equal(array, np.full(shape, 7, dtype))


def test_the_pool_hands_out_arrays_it_never_keeps_on_a_cache_line_filled():
    pool = SparePool(limit=1 << 20, min_bytes=1 << 16)
    for fill in (0, -np.inf, 3.5):
        for rows in (1, 3, 17):
            array = pool.take((rows, 33), np.float64, fill)
            assert array.__array_interface__["data"][0] % hostmem.CACHE_LINE == 0
            np.testing.assert_array_equal(array, np.full((rows, 33), fill))
            pool.keep(array)  # (below min_bytes: glibc's heap serves such blocks again)
            del array
            assert pool.kept_bytes == 0


def test_huge_page_zeros_are_zeros_on_a_huge_page_boundary_and_own_their_views():
    array = hostmem.huge_page_zeros((300, 4096), np.int32)
    assert array.shape == (300, 4096) and array.dtype == np.int32 and array.flags.c_contiguous
    np.testing.assert_array_equal(array, 0)
    if hostmem._madvise_function() is not None:
        assert array.__array_interface__["data"][0] % (2 << 20) == 0
    assert array.view(np.float32).base is array and array[3:].base is array
    array[7, 9] = 5
    assert array.sum() == 5


def test_huge_page_arrays_below_min_bytes_are_kept_refilled_and_only_when_nothing_else_holds_them(monkeypatch):
    if hostmem._madvise_function() is None:
        pytest.skip("memory is mapped for huge pages only on Linux with the allocator tuning on")
    monkeypatch.setattr(hostmem, "HUGE_MIN_BYTES", 1 << 10)
    pool = SparePool(limit=1 << 30, min_bytes=1 << 20)
    first = pool.take((64, 128), np.int32, 0, huge=True)  # (the first time: from the heap, never kept)
    assert not hostmem._huge_page_backed(first)
    pool.keep(first)
    assert pool.kept_bytes == 0
    array = pool.take((64, 128), np.int32, 0, huge=True)  # 32 KiB: below min_bytes, mapped for huge pages
    assert hostmem._huge_page_backed(array)
    address = array.__array_interface__["data"][0]
    array[:] = 3
    pool.keep(array)
    del array
    assert pool.kept_bytes == 64 * 128 * 4
    again = pool.take((64, 128), np.int32, 0, huge=True)
    assert again.__array_interface__["data"][0] == address  # (the same pages, cleared: no state passes)
    np.testing.assert_array_equal(again, 0)
    view = again.view(np.float32)
    pool.keep(again)  # (a view still refers to it: not kept)
    assert pool.kept_bytes == 0
    del view
    pool.keep(again)
    del again
    assert pool.kept_bytes == 64 * 128 * 4
    small = pool.take((8, 8), np.int32, 7, huge=True)  # (below HUGE_MIN_BYTES: from the heap, never kept)
    np.testing.assert_array_equal(small, 7)
    assert pool.kept_bytes == 64 * 128 * 4
    large = np.ones(1 << 18)  # (2 MiB: kept as before)
    pool.keep(large)
    del large
    pool.take((32, 128), np.int32, 0, huge=True)
    other = pool.take((32, 128), np.int32, 0, huge=True)  # (another shape: the huge-page array goes, the large stays)
    np.testing.assert_array_equal(other, 0)
    assert pool.kept_bytes == 8 << 18


def test_registers_and_sram_reused_between_launches_start_at_zero_and_spare_kept_state(monkeypatch):
    pool = SparePool(limit=1 << 30, min_bytes=0)
    _use_pool(monkeypatch, pool)
    dev = ws.Device(ws.WaferSpec(width=8, height=8))
    u = np.arange(64, dtype=np.float32).reshape(8, 8)
    out = dev.device_array((8, 8))
    kept = _locals[(1, 1), (8, 8)](dev.to_device(u), out, 5, keep_state=True).state
    before = [kept.read_local("kept", (x, y)).copy() for x, y in [(0, 0), (7, 3)]]
    assert pool.kept_bytes == 0  # (the state holds the registers and SRAM: not handed to the next launch)
    for k in (2, 9):
        _locals[(1, 1), (8, 8)](dev.to_device(u), out, k)
        assert pool.kept_bytes > 0  # (this launch's were kept for the next)
        expected = u + np.array([[3 * k + x + 10 * y for x in range(8)] for y in range(8)], np.float32)
        np.testing.assert_array_equal(out.copy_to_host(), expected)
    after = [kept.read_local("kept", (x, y)) for x, y in [(0, 0), (7, 3)]]
    for b, a in zip(before, after):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(before[1], [10 * 3 + 7 + 5 * t for t in range(4)])


# ---- huge-page SRAM kept between launches of alternating shapes (review54b)

@ws.jit
def _accumulated(u, out, rounds):
    """Adds onto a local array never written before (SRAM starts at zero): a kept array handed back without
    being cleared would add onto the last launch's sums."""
    x, y = ws.grid(2)
    acc = ws.local.array(16, dtype=np.float32)
    for r in range(rounds):
        for t in range(16):
            acc[t] += u[y, x] * (t + 1) + r
    total = 0.0
    for t in range(16):
        total += acc[t]
    out[y, x] = total


_SHAPES = {"a": (8, 8), "b": (6, 4)}  # (block width, height) on an 8 x 8 wafer: SRAM of 64 or 24 PEs' words

_FRESH_LAUNCH = """
import sys
import numpy as np
import wafersim as ws
sys.path.insert(0, {tests!r})
from test_hostmem import _accumulated, _launch_accumulated
print(*_launch_accumulated({shape!r}))
"""


def _launch_accumulated(shape: tuple[int, int]) -> tuple[str, int]:
    """A launch of `_accumulated` on a block of `shape`: a hash of its result (checked against NumPy) and its
    cycles."""
    import hashlib

    w, h = shape
    dev = ws.Device(ws.WaferSpec(width=8, height=8))
    u = (np.arange(w * h, dtype=np.float32).reshape(h, w) % 7) - 3
    out = dev.device_array((h, w))
    rounds = 3
    stats = _accumulated[(1, 1), (w, h)](dev.to_device(u), out, rounds)
    got = out.copy_to_host()
    weights = np.arange(1, 17, dtype=np.float64)
    expected = (u[..., None].astype(np.float64) * weights * rounds + sum(range(rounds))).sum(axis=-1)
    np.testing.assert_array_equal(got, expected.astype(np.float32))
    return hashlib.sha256(got.tobytes()).hexdigest()[:16], int(stats.cycles)


def test_huge_page_sram_kept_between_launches_of_alternating_shapes_computes_what_fresh_processes_do(
        monkeypatch, tmp_path):
    """Launches 1..6 of two shapes, in the orders that keep, drop and map afresh the huge-page SRAM (every SRAM
    is mapped for huge pages from a shape's second launch here), each give the result and cycles of that
    shape's first launch in a fresh process; no two arrays of a launch share memory."""
    import subprocess

    if hostmem._madvise_function() is None:
        pytest.skip("memory is mapped for huge pages only on Linux with the allocator tuning on")
    fresh = {}
    for name, shape in _SHAPES.items():
        path = tmp_path / f"fresh_{name}.py"
        path.write_text(_FRESH_LAUNCH.format(tests=str(Path(__file__).parent), shape=shape))
        result = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr
        digest, cycles = result.stdout.split()
        fresh[name] = (digest, int(cycles))
    monkeypatch.setattr(hostmem, "HUGE_MIN_BYTES", 1)
    pool = SparePool(limit=1 << 30)
    _use_pool(monkeypatch, pool)
    taken = []  # (first byte, end, huge-page backed, kept one handed back) of each array taken: no reference
    take = pool.take

    def watched_take(*args, **kwargs):
        kept = [a.__array_interface__["data"][0] for a in pool._kept]
        array = take(*args, **kwargs)
        start = array.__array_interface__["data"][0]
        taken.append((start, start + array.nbytes, hostmem._huge_page_backed(array), start in kept))
        return array

    monkeypatch.setattr(pool, "take", watched_take)
    huge_taken = huge_kept = 0
    for order in ("aaab", "abab", "abba"):
        for name in order:
            taken.clear()
            assert _launch_accumulated(_SHAPES[name]) == fresh[name], (order, name)
            for k, (start, end, _, _) in enumerate(taken):
                assert all(end <= other or start >= other_end for other, other_end, _, _ in taken[k + 1:])
            huge_taken += sum(huge for _, _, huge, _ in taken)
            huge_kept += sum(huge and kept for _, _, huge, kept in taken)
    assert huge_taken > 0 and huge_kept > 0  # (the huge-page path ran, and handed kept SRAM back)


def test_a_kept_huge_page_array_is_handed_out_once_and_never_while_in_use(monkeypatch):
    if hostmem._madvise_function() is None:
        pytest.skip("memory is mapped for huge pages only on Linux with the allocator tuning on")
    monkeypatch.setattr(hostmem, "HUGE_MIN_BYTES", 1)
    pool = SparePool(limit=1 << 30, min_bytes=1 << 20)
    pool.take((64, 128), np.int32, 0, huge=True)  # (the first time: from the heap)
    array = pool.take((64, 128), np.int32, 0, huge=True)
    array[:] = 5
    pool.keep(array)
    del array
    first = pool.take((64, 128), np.int32, 0, huge=True)
    second = pool.take((64, 128), np.int32, 0, huge=True)
    assert hostmem._huge_page_backed(first) and hostmem._huge_page_backed(second)
    assert not np.shares_memory(first, second)
    first[:] = 9
    np.testing.assert_array_equal(second, 0)
    pool.keep(first)
    pool.keep(second)  # (both kept: each handed out once more, refilled)
    del first, second
    again = [pool.take((64, 128), np.int32, -1, huge=True) for _ in range(3)]
    assert not any(np.shares_memory(a, b) for k, a in enumerate(again) for b in again[k + 1:])
    for a in again:
        np.testing.assert_array_equal(a, -1)
