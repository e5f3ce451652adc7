"""Host-memory behaviour of the simulator process.

The engine's NumPy temporaries are megabytes each. glibc serves such blocks with a fresh `mmap` and
returns them on `free`, so every temporary page-faults its memory in again: at wafer scale that was
40% of the wall time, spent in the kernel. Raising glibc's mmap and trim thresholds keeps freed blocks
in the heap for reuse, and NumPy's huge-page advice is turned off where the kernel would compact memory at
each fault to honour it (`tune_numpy_hugepages`). A launch's fresh large arrays have their pages mapped in by
a thread while the wave runs (`populate_in_background`). Set WAFERSIM_NO_MALLOC_TUNING=1 to leave all three alone.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import mmap
import os
import queue
import sys
import threading
from typing import Callable

import numpy as np

from ..envvars import env_flag
from ..errors import ArgumentError

_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3
_tuned = False
_libc_handle: "ctypes.CDLL | None | bool" = None


def _libc_function(name: str, argtypes: list, restype):
    """The C library's function `name`, typed; None where there is no such library or function. (The library is
    found once per process. On Linux it is the process's own, loaded already: the symbols of the program and the
    libraries it loaded, `dlopen(NULL)`, the allocator NumPy uses among them; elsewhere `ctypes.util.find_library`,
    which on Linux runs `ldconfig -p` in a subprocess: 5-40 ms of a first launch's wall time, stop 49.)"""
    global _libc_handle
    if _libc_handle is None:
        try:
            _libc_handle = ctypes.CDLL(None if sys.platform.startswith("linux") else
                                       ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        except OSError:
            _libc_handle = False
    function = getattr(_libc_handle, name, None) if _libc_handle else None
    if function is not None:
        function.argtypes, function.restype = argtypes, restype
    return function


def tune_allocator() -> bool:
    """Apply the glibc thresholds once per process; False where not applicable (non-glibc, opted out)."""
    global _tuned
    if _tuned or env_flag("WAFERSIM_NO_MALLOC_TUNING", False) or not sys.platform.startswith("linux"):
        return _tuned
    mallopt = _libc_function("mallopt", [ctypes.c_int, ctypes.c_int], ctypes.c_int)
    if mallopt is None:
        return False
    tune_numpy_hugepages()
    ok = mallopt(_M_MMAP_THRESHOLD, 32 << 20)  # the largest glibc accepts: blocks up to 32 MiB come from the heap
    ok &= mallopt(_M_TRIM_THRESHOLD, 1 << 30)  # keep up to 1 GiB of freed heap for reuse
    ok &= mallopt(_M_TOP_PAD, 64 << 20)
    _tuned = bool(ok)
    return _tuned


#: Bytes `reserve_heap` allocates at once: below glibc's mmap threshold (32 MiB, above), so they come from
#: the heap and, freed, stay there.
_RESERVE_CHUNK = 8 << 20
_reserved = 0
#: Held while a reservation runs: two threads' first large launches at once would each reserve the whole estimate
#: (a heap twice what is needed), where the second should find the first's.
_reserve_lock = threading.Lock()


def reserve_heap(nbytes: int, background: bool = False) -> int:
    """Touch `nbytes` of fresh heap once and free it, so that a later launch's arrays reuse memory the process
    already has instead of page-faulting fresh pages in (`wafersim.init` calls it, as a CUDA context reserves
    device memory ahead); returns the bytes reserved by this process so far (0 where the allocator is not tuned:
    without the raised trim threshold glibc would hand the freed memory straight back to the system).

    A whole-wafer first launch maps hundreds of MiB of per-PE state fresh (the 757 x 996 all-reduce ~400 MiB,
    95,000 page faults: a third of its wall time on the reference VM); warm launches find that memory in the
    heap. The freed blocks merge into the heap's top, which serves every later allocation of any size it
    fits, arrays above the mmap threshold included. The process's resident memory grows by `nbytes` at once
    (a launch that needs as much does not grow it again). Done once per process: later calls reserve only
    what goes beyond what is reserved already.

    `background`: where the engine may use two threads, the blocks are freed at once and the populating thread
    maps their pages in (`populate_in_background`) while the caller goes on: a launch's own first writes then
    find most of those pages mapped, and its thread does not wait for the ~1.3-1.7 us a page (a process's
    first whole-wafer launch without `wafersim.init`: ~200 MiB, ~0.06 s of CPU on the other thread). The
    pages stay the process's either way (the heap is not trimmed below 1 GiB free, `tune_allocator`)."""
    global _reserved
    if nbytes <= _reserved or not tune_allocator():
        return _reserved
    with _reserve_lock:
        if nbytes <= _reserved:  # (another thread reserved it meanwhile)
            return _reserved
        malloc = _libc_function("malloc", [ctypes.c_size_t], ctypes.c_void_p)
        free = _libc_function("free", [ctypes.c_void_p], None)
        ranges = _populating_thread() if background else None
        blocks = []
        try:
            for _ in range(-(-(nbytes - _reserved) // _RESERVE_CHUNK)):
                block = malloc(_RESERVE_CHUNK)
                if not block:
                    break
                if ranges is not None:
                    ranges.put(_whole_pages(block, _RESERVE_CHUNK))  # (mapped in, never written: freed is safe)
                elif not populate_now(block, _RESERVE_CHUNK):  # (the touch is the point: the pages are mapped in here)
                    ctypes.memset(block, 0, _RESERVE_CHUNK)
                blocks.append(block)
        finally:
            for block in reversed(blocks):  # (last first: each merges into the top of the heap as it is freed)
                free(block)
        _reserved += len(blocks) * _RESERVE_CHUNK
        return _reserved


def array_nbytes(shape: tuple[int, ...], dtype: np.dtype) -> int:
    """The bytes of an array of `shape` and `dtype` (a NumPy dtype), without making it."""
    return int(np.prod(shape, dtype=np.int64)) * dtype.itemsize


#: Arrays at least this large are mapped fresh by `sparse_zeros`; smaller ones come from the heap as usual.
SPARSE_ZEROS_MIN_BYTES = 4 << 20


def sparse_zeros(shape: tuple[int, ...], dtype, small: Callable[..., np.ndarray] = np.zeros) -> np.ndarray:
    """A zeroed array of `shape` and `dtype` in memory mapped for it alone (an anonymous `mmap`), for an array
    whose pages are mostly never written: an untouched page costs nothing, neither time nor resident memory,
    and the zeros cost no `memset`.

    `np.zeros` of a large array takes it from glibc's heap once `reserve_heap` (or an earlier launch) has
    left a large free top there: then every byte is cleared at once, and the heap that later arrays would
    reuse is used up by pages that are never written. A wafer-scale wave's FIFO time and tag stacks hold
    `fifo_depth` slots per PE, of which a launch that moves a word or two per FIFO writes one or two (the
    757 x 996 all-reduce: 115 MiB, of which about 6 MiB written): mapped so, its first launch after `init`
    cleared 115 MiB less and took 2,060 page faults instead of 25,700 (the heap reserve then held the rest).
    Arrays below `SPARSE_ZEROS_MIN_BYTES` are `small(shape, dtype)` (`np.zeros`, or the compiled interpreter's
    `fabric.page_staggered_zeros`)."""
    dtype = np.dtype(dtype)
    nbytes = array_nbytes(shape, dtype)
    if nbytes < SPARSE_ZEROS_MIN_BYTES:
        return small(shape, dtype)
    try:
        # Anonymous and private: zero-filled by the OS page by page at first touch, and copied on write into
        # a forked child (`mmap`'s default, MAP_SHARED, would share the child's writes with the parent).
        mapped = (mmap.mmap(-1, nbytes, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS) if hasattr(mmap, "MAP_PRIVATE")
                  else mmap.mmap(-1, nbytes))
    except (OSError, ValueError):
        return np.zeros(shape, dtype)
    return np.ndarray(shape, dtype=dtype, buffer=mapped)  # (its `base`: the map, unmapped with the last view)


_THP_DEFRAG = "/sys/kernel/mm/transparent_hugepage/defrag"


def compacting_hugepages(path: str = _THP_DEFRAG) -> bool:
    """Whether the kernel compacts memory synchronously to hand a huge page to a page fault in a region
    madvised for huge pages (transparent_hugepage/defrag set to always, madvise or defer+madvise)."""
    try:
        with open(path) as fh:
            text = fh.read()
    except OSError:
        return False
    chosen = text[text.find("[") + 1:text.find("]")] if "[" in text else text.strip()
    return chosen in ("always", "madvise", "defer+madvise")


def tune_numpy_hugepages(path: str = _THP_DEFRAG) -> bool:
    """Stop NumPy madvising its large arrays for huge pages where faults in such regions compact memory
    synchronously; returns whether it was turned off.

    NumPy asks for transparent huge pages on every array of 4 MiB or more. Where the kernel then compacts
    memory at the fault, a launch's fresh memory costs seconds of kernel time: on the 2-core reference VM
    a whole-wafer tiled-heat first launch spent 3.3-3.7 s in the kernel with huge pages and 0.7 s without
    (5.8-6.1 s of CPU against 3.1-3.3 s), for 0.1 s more on warm launches (4 KiB pages fault 3.5 times as
    often). The host's own arrays (inputs, results) get the same: the setting is NumPy's, process-wide."""
    setter = getattr(getattr(getattr(np, "_core", None), "multiarray", None), "_set_madvise_hugepage", None)
    if setter is None or not compacting_hugepages(path):
        return False
    setter(False)
    return True


#: Bytes of a cache line: `line_aligned_zeros` arrays begin on one.
CACHE_LINE = 64


def line_aligned_zeros(shape: int | tuple[int, ...], dtype) -> np.ndarray:
    """A zeroed C-contiguous array of `shape` and `dtype` from the heap (as `np.zeros` below glibc's mmap
    threshold) whose data begins on a cache line.

    glibc aligns its blocks to 16 bytes, so a row of an `np.zeros` array begins 16, 32 or 48 bytes into a
    line about as often as on one: then every 64-byte vector load or store of the compiled loops over
    whole rows (SRAM's rows of PEs, the rank-1 pass's gathered operands) straddles two lines. Measured
    (stop 54, 2-core AMD EPYC Zen 5, /work/scratch/gemm54/align_micro.py): eight 16 x 16 rank-1 updates over
    2,016 lanes, `descriptor_kernels.rank1_updates_float32`, one thread, median of 200, 0.248 ms with SRAM
    and scratch on lines against 0.292 ms with both 16 bytes off. The array's `base` is the bytearray that
    holds it (not an ndarray: its views' `base` is the array itself, as for an `np.zeros` array, so a
    reference count of the array still counts them, `SparePool.keep`)."""
    dtype = np.dtype(dtype)
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    nbytes = array_nbytes(shape, dtype)
    held = bytearray(nbytes + CACHE_LINE)  # (zeroed)
    offset = -np.frombuffer(held, dtype=np.uint8, count=1).ctypes.data % CACHE_LINE
    return np.ndarray(shape, dtype=dtype, buffer=held, offset=offset)


_HUGE_PAGE = 2 << 20
_MADV_HUGEPAGE = 14


class _HugePageMap(mmap.mmap):
    """The memory of a `huge_page_zeros` array (a type of its own: `SparePool.keep` keeps such arrays)."""


def huge_page_zeros(shape: tuple[int, ...], dtype) -> np.ndarray:
    """A zeroed C-contiguous array of `shape` and `dtype` in memory mapped for it alone, beginning on a 2 MiB
    boundary and advised for transparent huge pages (madvise MADV_HUGEPAGE: each 2 MiB faults in as one page,
    where the kernel has one); `line_aligned_zeros` where memory cannot be mapped or advised so (not Linux,
    WAFERSIM_NO_MALLOC_TUNING).

    For SRAM: every row of PEs is a page or more apart from the next (4,096 PEs' words: 16 KiB), so the
    compiled loops over a block of rows (a rank-1 update's destination and operands, a panel's stores) touch a
    4 KiB page per row and miss the TLB, which costs the more inside a VM. SUMMA on 64 x 64 PEs (29 MiB of
    SRAM), launches alternating in one process on the 2-core VM (stop 54, /work/scratch/gemm54/hp4.py, 10
    pairs, load 9): the rank-1 passes 133.9 -> 120.0 ms median, the pumps 56.5 -> 52.0 ms, process CPU 0.349
    -> 0.311 s. The pool keeps such an array for the next launch of its shape (`SparePool`): its huge pages
    are mapped once, not at every launch."""
    madvise = _madvise_function()
    if madvise is None or not hasattr(mmap, "MAP_PRIVATE"):
        return line_aligned_zeros(shape, dtype)
    dtype = np.dtype(dtype)
    nbytes = array_nbytes(shape, dtype)
    length = -(-max(nbytes, 1) // _HUGE_PAGE) * _HUGE_PAGE
    try:
        mapped = _HugePageMap(-1, length + _HUGE_PAGE, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    except (OSError, ValueError):
        return line_aligned_zeros(shape, dtype)
    address = np.frombuffer(mapped, dtype=np.uint8, count=1).ctypes.data
    offset = -address % _HUGE_PAGE
    madvise(address + offset, length, _MADV_HUGEPAGE)  # (refused: 4 KiB pages, still zeros)
    return np.ndarray(shape, dtype=dtype, buffer=mapped, offset=offset)


def _huge_page_backed(array: np.ndarray) -> bool:
    return isinstance(array.base, _HugePageMap)


#: Arrays at least this large are kept for reuse (`SparePool`): glibc maps larger blocks fresh at every
#: allocation and unmaps them at every free (its mmap threshold cannot be raised past 32 MiB).
SPARE_MIN_BYTES = 32 << 20
#: `SparePool.take(..., huge=True)` maps arrays from this size up to `min_bytes` for huge pages.
HUGE_MIN_BYTES = 4 << 20


class SparePool:
    """Large arrays a finished wave no longer uses, kept for the next wave that asks for the same shape and
    dtype, so that a warm launch reuses memory already mapped in instead of faulting fresh pages in.

    Bounded: at most `limit` bytes are kept, the oldest dropped first, and every kept array is dropped once
    an array of another shape or dtype, large enough to be kept itself, is asked for and none is kept:
    memory a launch of another shape needs is not held back for one that may never come (a small launch in
    between, whose arrays glibc's heap serves, lets go of nothing). Only arrays nobody else refers to are
    kept (`keep` checks the reference count: a view, a snapshot or a checkpoint holding one keeps it out),
    and `take` hands an array out once, filled with the value asked for: no state passes between launches.

    (The compiled interpreter's FIFO stacks have a pool of their own, `sim.compiled.fabric_state._SPARE`: a
    wave's five stacks go together, and are cleared from one of them, where this pool's arrays are single and
    filled whole; its reuse rule and byte bound differ accordingly.)"""

    def __init__(self, limit: int, min_bytes: int = SPARE_MIN_BYTES) -> None:
        self.limit, self.min_bytes = limit, min_bytes
        self._kept: list[np.ndarray] = []
        self._asked: set[tuple] = set()  # (the shapes and dtypes `take(huge=True)` was asked for once)
        self._lock = threading.Lock()

    def take(self, shape: tuple[int, ...], dtype, fill, huge: bool = False) -> np.ndarray:
        """An array of `shape` and `dtype` holding `fill` everywhere: a kept one, else a fresh one. `huge`: one
        of `HUGE_MIN_BYTES` up to `min_bytes` asked for a second time is made by `huge_page_zeros` (and kept by
        `keep` too). (Not the first time: a first launch finds the heap `reserve_heap` mapped in, where fresh
        huge pages cost it their faults and the kernel's compaction: gemv2d's first launch took 0.10-0.15 s of
        CPU against 0.09-0.10 s from the heap.)"""
        dtype = np.dtype(dtype)
        nbytes = array_nbytes(shape, dtype)
        huge = huge and HUGE_MIN_BYTES <= nbytes < self.min_bytes
        with self._lock:
            if huge:
                key = (shape, dtype.str)
                huge = key in self._asked
                if not huge:
                    if len(self._asked) >= 16:
                        self._asked.clear()
                    self._asked.add(key)
            for k, array in enumerate(self._kept):
                if array.shape == shape and array.dtype == dtype:
                    del self._kept[k]
                    break
            else:
                array = None
                if nbytes >= self.min_bytes:
                    self._kept.clear()  # (another shape: what is kept would only add to this launch's memory)
                elif huge:  # (the same for the huge-page arrays of other shapes; the large ones stay)
                    self._kept = [a for a in self._kept if not _huge_page_backed(a)]
        if array is None:
            if nbytes < self.min_bytes:  # (from the heap, never kept; or mapped for huge pages)
                array = huge_page_zeros(shape, dtype) if huge else line_aligned_zeros(shape, dtype)
                if fill != 0:
                    array.fill(fill)
                return array
            if fill != 0:
                return np.full(shape, fill, dtype)
            array = np.zeros(shape, dtype)
            populate_in_background(array)  # (fresh, never touched: its pages mapped in while the wave runs)
            return array
        if not (fill == 0 and zero_resident(array)):
            array.fill(fill)
        return array

    def keep(self, array: np.ndarray | None) -> None:
        """Keep `array` for a later `take`, if it is large enough to be worth it (smaller blocks come from
        glibc's heap, reused already) or a `huge_page_zeros` one, and the caller's reference (one variable) is
        its only one."""
        # getrefcount: the caller's variable, this function's parameter and getrefcount's own argument (3 up to
        # Python 3.13; an interpreter that borrows references counts fewer, so the count of an array held
        # only so is measured, `_SOLE_REFERENCES`, rather than assumed: one too few would keep an array a
        # snapshot still holds, and zero it under the snapshot at the next `take`).
        if (array is None or ((array.nbytes < self.min_bytes or array.base is not None) and not _huge_page_backed(array))
                or array.nbytes > self.limit or not array.flags.c_contiguous
                or sys.getrefcount(array) > _SOLE_REFERENCES):
            return
        with self._lock:
            while self._kept and array.nbytes + sum(a.nbytes for a in self._kept) > self.limit:
                self._kept.pop(0)
            self._kept.append(array)

    def clear(self) -> None:
        """Drop every kept array."""
        with self._lock:
            self._kept.clear()

    @property
    def kept_bytes(self) -> int:
        """Bytes held for reuse now."""
        with self._lock:
            return sum(a.nbytes for a in self._kept)


def _references_seen(array: object) -> int:
    """`sys.getrefcount` of `array` as `SparePool.keep` reads it: a parameter, passed from a variable."""
    return sys.getrefcount(array)


def _sole_references() -> int:
    """What `_references_seen` counts for an object held by one variable of its caller and nothing else."""
    only = object()
    return _references_seen(only)


#: `sys.getrefcount` of an array that `SparePool.keep`'s caller alone holds (one variable), seen in `keep`.
_SOLE_REFERENCES = _sole_references()

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_mincore = None


def _no_swap() -> bool:
    """Whether the host has no swap: then a page of anonymous memory not in memory was never written."""
    try:
        with open("/proc/meminfo") as fh:
            return any(line.split()[1] == "0" for line in fh if line.startswith("SwapTotal:"))
    except (OSError, IndexError):
        return False


def zero_resident(array: np.ndarray) -> bool:
    """Zero `array` (C-contiguous) by writing only its pages that are in memory: the others were never
    written (anonymous memory on a host without swap) and read as zero already, and stay unmapped. False,
    with nothing done, where that cannot be known (not Linux, swap, no `mincore`)."""
    global _mincore
    if _mincore is None:
        _mincore = False
        if sys.platform.startswith("linux") and _no_swap():
            _mincore = _libc_function("mincore", [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p],
                                      ctypes.c_int) or False
    # (swap is looked for at every call: one turned on since would page out written pages, which would read
    # as never written and keep what the last launch left)
    if not _mincore or not array.flags.c_contiguous or not _no_swap():
        return False
    start = array.__array_interface__["data"][0]
    first = start - start % _PAGE
    pages = -(-(start + array.nbytes - first) // _PAGE)
    resident = np.zeros(pages, dtype=np.uint8)
    if _mincore(first, pages * _PAGE, resident.ctypes.data) != 0:
        return False
    flat = array.reshape(-1).view(np.uint8)
    edges = np.flatnonzero(np.diff(np.concatenate(([0], resident & 1, [0])).astype(np.int8)))
    for lo, hi in zip(edges[0::2].tolist(), edges[1::2].tolist()):  # runs of resident pages
        flat[max(first + lo * _PAGE - start, 0):max(first + hi * _PAGE - start, 0)] = 0
    return True


_MADV_POPULATE_WRITE = 23  # (Linux 5.14 and later; older kernels refuse it with EINVAL: then nothing is done)
#: Bytes mapped in per call of the populating thread (`populate_in_background`).
POPULATE_CHUNK = 8 << 20
_populate_lock = threading.Lock()
_populate_queue: "queue.SimpleQueue[tuple[int, int]] | None" = None


_madvise: "object | None | bool" = None


def _madvise_function():
    """The C library's `madvise` where the engine maps memory in with it (Linux, WAFERSIM_NO_MALLOC_TUNING unset,
    read at each call), else None; looked up once."""
    global _madvise
    if not sys.platform.startswith("linux") or env_flag("WAFERSIM_NO_MALLOC_TUNING", False):
        return None
    if _madvise is None:
        _madvise = _libc_function("madvise", [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int], ctypes.c_int) or False
    return _madvise or None


def _whole_pages(address: int, nbytes: int) -> tuple[int, int]:
    """The first address and the length of the whole pages inside `nbytes` at `address` (madvise takes whole
    pages); the length is 0 or less where there are none."""
    first = -(-address // _PAGE) * _PAGE
    return first, (address + nbytes - first) // _PAGE * _PAGE


def populate_now(address: int, nbytes: int) -> bool:
    """Map in the whole pages of `nbytes` of memory at `address`, in one call (madvise MADV_POPULATE_WRITE:
    what first writes would fault in, page by page, without writing anything); False, with nothing done,
    where that is not possible (not Linux, a kernel before 5.14, WAFERSIM_NO_MALLOC_TUNING). On the reference
    VM it takes ~1.7 us of CPU a page against ~2.8 us for a write's page fault (256 MiB fresh: 0.11 vs 0.18 s)."""
    madvise = _madvise_function()
    if madvise is None:
        return False
    first, length = _whole_pages(address, nbytes)
    return length <= 0 or madvise(first, length, _MADV_POPULATE_WRITE) == 0


def populate_in_background(array: np.ndarray) -> bool:
    """Have a thread map in the pages of a fresh, large (at least `SPARE_MIN_BYTES`), never written array
    (madvise MADV_POPULATE_WRITE: the faults its first writes would take, taken ahead, in bulk, without
    writing anything) while the engine goes on. A whole-wafer launch writes over a GiB of fresh memory,
    SRAM, registers and device arrays, whose page faults were a fifth of a first launch's time on one core;
    this takes them on another (the engine's threads permitting, `parallel.thread_count`). Safe whatever the
    engine does meanwhile: the contents are never touched, and a range freed and mapped again by then is only
    mapped in. Returns whether it was queued (False: small, not Linux, one thread, WAFERSIM_NO_MALLOC_TUNING)."""
    if array.nbytes < SPARE_MIN_BYTES or not array.flags.c_contiguous:
        return False
    ranges = _populating_thread()
    if ranges is None:
        return False
    ranges.put(_whole_pages(array.__array_interface__["data"][0], array.nbytes))
    return True


def _populating_thread() -> "queue.SimpleQueue[tuple[int, int]] | None":
    """The queue of (address, bytes) ranges of the populating thread (`_populate`), started on first use; None
    where the engine maps nothing in by a thread (not Linux, a single thread, WAFERSIM_NO_MALLOC_TUNING)."""
    global _populate_queue
    madvise = _madvise_function()
    if madvise is None:
        return None
    from .parallel import thread_count  # (parallel imports lanes, which this module's users import)

    if thread_count() < 2:
        return None
    with _populate_lock:
        if _populate_queue is None:
            _populate_queue = queue.SimpleQueue()
            threading.Thread(target=_populate, args=(_populate_queue, madvise), name="wafersim-populate",
                             daemon=True).start()
        return _populate_queue


def _forget_populating_thread() -> None:
    """In a forked child: the parent's populating thread is not there, so the next array starts one of its own
    (under a new lock: another of the parent's threads may have held the old one at the fork, forever here)."""
    global _populate_queue, _populate_lock, _reserve_lock
    _populate_queue = None
    _populate_lock = threading.Lock()
    _reserve_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_populating_thread)


def _populate(ranges: "queue.SimpleQueue[tuple[int, int]]", madvise) -> None:
    """The populating thread: each queued (address, bytes) range mapped in, a chunk per call (ctypes lets go
    of the GIL during each), until a call fails (an old kernel, a range unmapped since: the rest is skipped)."""
    while True:
        first, length = ranges.get()
        for at in range(first, first + length, POPULATE_CHUNK):
            if madvise(at, min(POPULATE_CHUNK, first + length - at), _MADV_POPULATE_WRITE) != 0:
                break


#: The engine's pool of wave-sized arrays: link reservations, registers and SRAM (`sim.wave`).
SPARE = SparePool(1 << 30)


def available_bytes() -> int | None:
    """Host memory the simulator may still use: WAFERSIM_HOST_MEMORY (bytes) if set, else the OS's
    MemAvailable; None where neither is known."""
    limit = os.environ.get("WAFERSIM_HOST_MEMORY")
    if limit:
        try:
            value = float(limit)
        except ValueError:
            value = float("nan")
        if not value >= 0 or value == float("inf"):
            raise ArgumentError(f"WAFERSIM_HOST_MEMORY={limit!r} is not a number of bytes: set it to the host memory "
                                f"the simulator may use, in bytes (such as WAFERSIM_HOST_MEMORY=8e9), or unset it to "
                                f"use what the OS reports available", variable="WAFERSIM_HOST_MEMORY", value=limit)
        return int(value)
    try:  # (read as bytes in one call: a text file's line loop was a few percent of a small launch)
        fd = os.open("/proc/meminfo", os.O_RDONLY)
        try:
            data = os.read(fd, 1 << 16)
        finally:
            os.close(fd)
    except OSError:
        return None
    at = data.find(b"MemAvailable:")  # ("MemAvailable:   21360972 kB")
    return None if at < 0 else int(data[at:].split(None, 2)[1]) * 1024


def launch_bytes(pes: int, wafer_pes: int, registers: int, data_words: int, fifos: int, fifo_depth: int,
                 time_bytes: int) -> dict[str, int]:
    """Host memory a launch needs, by part: `pes` simulated at once (the largest wave), `fifos` the
    (direction, channel) FIFOs its program uses; NumPy temporaries are counted as a few per-PE arrays."""
    return {
        "registers": 4 * registers * pes,
        "SRAM data": 4 * data_words * pes,
        "FIFOs": fifos * pes * (fifo_depth * (4 + time_bytes) + 8),  # value rings at their deepest (sim/fabric.py)
        "PE state": pes * (6 * time_bytes + 16 + 80),  # clocks, counters, identity, masks
        "temporaries": pes * 12 * 8,
        "statistics": wafer_pes * (2 * 8 + 8 + 4 * 8),  # busy, stall, instructions, words per link
    }


def format_bytes(nbytes: float, byte_unit: str = "bytes") -> str:
    """A size in the unit that shows it (error messages): GiB, MiB or KiB with two decimals, or whole bytes
    written with `byte_unit`, so that a small size never prints as 0.00 of a larger unit."""
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if nbytes >= scale:
            return f"{nbytes / scale:,.2f} {unit}"
    return f"{nbytes:,.0f} {byte_unit}"
