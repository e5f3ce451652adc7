"""`sim.hostmem`'s heap reservation, page population and sparse zeros: arrays made after a reservation take no
page faults, populating maps pages in without changing a word, sparse zeros map in only the pages written, and
forked children neither hang on a lock nor touch their parent's pages."""
from __future__ import annotations

import sys

import numpy as np
import pytest

from wafersim.sim import hostmem


_RESERVE = """
import resource, sys
import numpy as np
from wafersim.sim import hostmem

def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt

def fill():  # 24 MiB: below glibc's mmap threshold once tuned, so from the heap
    before = faults()
    array = np.ones(6 << 20, dtype=np.int32)
    return faults() - before, array

if not hostmem.tune_allocator():
    print("untuned", hostmem.reserve_heap(64 << 20))
    sys.exit()
fresh, kept = fill()  # fresh heap: every page faults in
reserved = hostmem.reserve_heap(64 << 20)
again = hostmem.reserve_heap(32 << 20)  # (already there: nothing more)
reused, kept_too = fill()
print(fresh, reserved, again, reused)
"""



def _printed_by_fresh_process(path, source: str) -> list[str]:
    """The words a fresh Python process running `source` (written to `path`) printed; it must exit with 0."""
    import subprocess
    import sys

    path.write_text(source)
    result = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout.split()

def test_reserved_heap_serves_later_arrays_without_page_faults(tmp_path):
    # A fresh process: what a launch after `ws.init()` sees. The control is the same array before the
    # reserve, on fresh heap.
    words = _printed_by_fresh_process(tmp_path / "reserve.py", _RESERVE)
    if words[0] == "untuned":  # (not glibc, or WAFERSIM_NO_MALLOC_TUNING: nothing is reserved)
        assert words[1] == "0"
        return
    fresh, reserved, again, reused = map(int, words)
    if fresh < 1000:
        pytest.skip(f"the fresh 24 MiB array faulted {fresh} times: huge pages, not counted per 4 KiB page")
    assert reserved == again == 64 << 20
    assert reused < fresh / 20, (fresh, reused)


_RESERVE_LATER = """
import resource, sys, time
import numpy as np
from wafersim.sim import hostmem, parallel

def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt

def resident():
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1])

if not hostmem.tune_allocator() or hostmem._madvise_function() is None:
    print("untuned")
    sys.exit()
before = resident()
with parallel.threads(2):
    reserved = hostmem.reserve_heap(64 << 20, background=True)
deadline = time.monotonic() + 60  # (the thread maps the freed blocks in; a failure guard, not a timing)
# (all of them: at 60 of 64 MiB the thread could still be mapping the pages the array then takes -- 641 faults in
# a loaded `make test`)
while resident() - before < (64 << 20) // hostmem._PAGE and time.monotonic() < deadline:
    time.sleep(0.01)
mapped = resident() - before
start = faults()
array = np.ones(6 << 20, dtype=np.int32)  # 24 MiB from the heap the thread mapped in
print(reserved, mapped, faults() - start, int(array.sum()))
"""


def test_a_heap_reserved_in_the_background_serves_later_arrays_without_page_faults(tmp_path):
    # A launch without `ws.init()` reserves its heap so (`engine`): the blocks freed at once, their pages mapped
    # in by the populating thread while the caller goes on. A fresh process: its heap is fresh.
    words = _printed_by_fresh_process(tmp_path / "reserve_later.py", _RESERVE_LATER)
    if words[0] == "untuned":  # (not glibc, or WAFERSIM_NO_MALLOC_TUNING: nothing is reserved or mapped)
        return
    reserved, mapped, array_faults, total = map(int, words)
    assert reserved == 64 << 20
    assert total == 6 << 20  # (the array's contents are its own: the thread writes nothing)
    if mapped < (60 << 20) // 4096:
        pytest.skip(f"{mapped} pages mapped in: a kernel before 5.14 refuses MADV_POPULATE_WRITE")
    assert array_faults < (24 << 20) // 4096 // 20, array_faults


def test_a_heap_reserved_in_the_background_on_one_thread_is_mapped_in_at_once(monkeypatch):
    from wafersim.sim import parallel
    monkeypatch.setattr(hostmem, "_reserved", 0)
    queued = []
    monkeypatch.setattr(hostmem, "_populate_queue", None)
    monkeypatch.setattr(hostmem, "populate_now", lambda address, nbytes: queued.append((address, nbytes)) or True)
    with parallel.threads(1):
        reserved = hostmem.reserve_heap(16 << 20, background=True)
    if not hostmem.tune_allocator():
        assert reserved == 0 and not queued
        return
    assert reserved == 16 << 20
    assert [nbytes for _, nbytes in queued] == [8 << 20, 8 << 20]  # (each block mapped in before it was freed)
    assert hostmem._populate_queue is None  # (no thread started)


def test_reserve_heap_adds_only_what_is_missing_and_nothing_untuned(monkeypatch):
    monkeypatch.setattr(hostmem, "_reserved", 0)
    if not hostmem.tune_allocator():
        assert hostmem.reserve_heap(16 << 20) == 0
        return
    assert hostmem.reserve_heap(10 << 20) == 16 << 20  # (whole 8 MiB blocks)
    assert hostmem.reserve_heap(12 << 20) == 16 << 20
    assert hostmem.reserve_heap(20 << 20) == 24 << 20
    monkeypatch.setattr(hostmem, "tune_allocator", lambda: False)
    monkeypatch.setattr(hostmem, "_reserved", 0)
    assert hostmem.reserve_heap(16 << 20) == 0  # (freed blocks would go straight back to the system)


def test_two_threads_reserving_at_once_reserve_the_heap_once(monkeypatch):
    """Two threads' first large launches at once each reserved the whole estimate (the running total was read and
    updated without a lock): the heap grew twice. The second now waits and finds the first's reservation."""
    import threading
    import time
    if not hostmem.tune_allocator():
        pytest.skip("the allocator is not tuned here (WAFERSIM_NO_MALLOC_TUNING or not glibc): nothing is reserved")
    monkeypatch.setattr(hostmem, "_reserved", 0)
    touched = []

    def slow_touch(address, nbytes):  # (each block takes a while: the other thread arrives meanwhile)
        touched.append(nbytes)
        time.sleep(0.05)
        return True

    monkeypatch.setattr(hostmem, "populate_now", slow_touch)
    start = threading.Barrier(2)
    results = []

    def reserve():
        start.wait()
        results.append(hostmem.reserve_heap(16 << 20))

    threads = [threading.Thread(target=reserve) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [16 << 20, 16 << 20]
    assert hostmem._reserved == 16 << 20
    assert touched == [8 << 20, 8 << 20]  # (two blocks of 8 MiB, touched once: not four)


def _resident_pages(array: np.ndarray) -> int:
    """Pages of `array` in memory (mincore), for the populating thread's test."""
    import ctypes
    import ctypes.util
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p]
    page = hostmem._PAGE
    start = array.__array_interface__["data"][0]
    first = start - start % page
    pages = -(-(start + array.nbytes - first) // page)
    resident = np.zeros(pages, np.uint8)
    assert libc.mincore(first, pages * page, resident.ctypes.data) == 0
    return int(np.count_nonzero(resident & 1))


def test_populating_maps_a_fresh_array_in_without_changing_a_word():
    import mmap
    import os
    import re
    import sys
    import time
    from wafersim.sim import parallel
    release = tuple(int(x) for x in re.findall(r"\d+", os.uname().release)[:2]) if sys.platform == "linux" else ()
    if release < (5, 14):
        pytest.skip("MADV_POPULATE_WRITE is Linux's, from 5.14")
    small = np.zeros(1000, np.int32)
    # (fresh pages of its own: a NumPy array may come from glibc's heap, in memory already)
    a = np.frombuffer(mmap.mmap(-1, hostmem.SPARE_MIN_BYTES + 3 * hostmem._PAGE), np.int32)[1000:]
    with parallel.threads(1):
        assert not hostmem.populate_in_background(a)  # one thread asked for: no populating thread either
    with parallel.threads(2):
        assert not hostmem.populate_in_background(small)  # (glibc's heap serves small blocks, mapped already)
        before = _resident_pages(a)
        a[::5000] = np.arange(len(a[::5000]), dtype=np.int32) + 1  # written meanwhile, some of it
        assert hostmem.populate_in_background(a)
    a[7::5000] = -2
    deadline = time.monotonic() + 30
    while _resident_pages(a) < a.nbytes // hostmem._PAGE and time.monotonic() < deadline:
        time.sleep(0.01)
    assert before < a.nbytes // hostmem._PAGE // 2  # (fresh: most of it was not in memory)
    assert _resident_pages(a) >= a.nbytes // hostmem._PAGE  # every page mapped in, none written by it:
    expected = np.zeros_like(a)
    expected[::5000] = np.arange(len(a[::5000]), dtype=np.int32) + 1
    expected[7::5000] = -2
    np.testing.assert_array_equal(a, expected)


def test_a_forked_child_starts_a_populating_thread_of_its_own():
    import os
    import sys
    from wafersim.sim import parallel
    if not hasattr(os, "fork") or not sys.platform.startswith("linux"):
        pytest.skip("fork is POSIX's")
    with parallel.threads(2):
        assert hostmem.populate_in_background(np.zeros(hostmem.SPARE_MIN_BYTES // 4, np.int32))
    parent_queue = hostmem._populate_queue
    pid = os.fork()
    if pid == 0:  # (the child: exit status 0 only if the parent's queue was forgotten and a new one started)
        ok = hostmem._populate_queue is None
        with parallel.threads(2):
            ok = ok and hostmem.populate_in_background(np.zeros(hostmem.SPARE_MIN_BYTES // 4, np.int32))
        os._exit(0 if ok and hostmem._populate_queue is not parent_queue else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert hostmem._populate_queue is parent_queue


def test_a_child_forked_while_the_populating_lock_is_held_does_not_hang():
    # Another thread of the parent may hold the lock at the fork; the child has no such thread to release it,
    # so its first populating call waited forever on the copied lock.
    import os
    import signal
    import sys
    from wafersim.sim import parallel
    if not hasattr(os, "fork") or not sys.platform.startswith("linux"):
        pytest.skip("fork is POSIX's")
    with hostmem._populate_lock:
        pid = os.fork()
        if pid == 0:
            signal.alarm(20)  # (a hang ends the child with SIGALRM)
            hostmem._populate_queue = None
            with parallel.threads(2):
                ok = hostmem.populate_in_background(np.zeros(hostmem.SPARE_MIN_BYTES // 4, np.int32))
            os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_sparse_zeros_are_zeros_and_map_in_only_the_pages_written():
    """`sparse_zeros`: an array equal to `np.zeros` of its shape and dtype, writable; a large one is mapped
    for itself (an anonymous map, its `base`) and writing one row of it faults in about that row, not the
    whole array (the FIFO stacks' unused slots cost nothing); a small one is an ordinary heap array."""
    import mmap
    import resource

    small = hostmem.sparse_zeros((3, 5), np.uint8)
    assert small.base is None and small.dtype == np.uint8
    np.testing.assert_array_equal(small, np.zeros((3, 5), np.uint8))
    shape = (2, 16, 1 << 20)  # 128 MiB of float32: 32,768 pages
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    big = hostmem.sparse_zeros(shape, np.float32)
    big[1, 3] = 2.5  # one row: 4 MiB, 1,024 pages
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    assert isinstance(big.base, mmap.mmap) and big.shape == shape and big.dtype == np.float32
    assert big.flags.c_contiguous and big.flags.writeable
    assert faults < 4096, f"{faults} page faults for a 1,024-page row"
    assert big[1, 3].min() == big[1, 3].max() == 2.5
    assert not big[1, :3].any() and not big[1, 4:].any() and not big[0].any()  # (reads: the zero page)


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs fork")
def test_a_forked_child_writing_sparse_zeros_leaves_the_parents_alone():
    """`sparse_zeros` maps its memory private: a forked child (a process per wave) that writes an array it
    inherited changes its own copy only, as with a heap array."""
    import os

    array = hostmem.sparse_zeros((2, 1 << 20), np.int32)  # 8 MiB: mapped for itself
    array[0, :10] = 7
    pid = os.fork()
    if pid == 0:  # the child: write everywhere, then leave at once
        array.fill(-1)
        os._exit(0 if (array == -1).all() else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert (array[0, :10] == 7).all() and not array[0, 10:].any() and not array[1].any()


def test_populating_now_maps_pages_in_and_keeps_every_word():
    import mmap
    import os
    import re
    import sys
    release = tuple(int(x) for x in re.findall(r"\d+", os.uname().release)[:2]) if sys.platform == "linux" else ()
    if release < (5, 14):
        pytest.skip("MADV_POPULATE_WRITE is Linux's, from 5.14")
    page = hostmem._PAGE
    a = np.frombuffer(mmap.mmap(-1, 64 * page), np.int32)  # (fresh pages of its own)
    a[5 * page // 4] = 9  # page 5 written before
    start = a.ctypes.data + 3 * page + 100  # from inside page 3 to inside page 40: whole pages 4 .. 39
    assert hostmem.populate_now(start, 37 * page)
    resident = [_resident_pages(a[k * page // 4:(k + 1) * page // 4]) for k in range(64)]
    assert resident == [0] * 4 + [1] * 36 + [0] * 24
    expected = np.zeros_like(a)
    expected[5 * page // 4] = 9
    np.testing.assert_array_equal(a, expected)


@pytest.mark.parametrize("system", ["no madvise", "madvise refuses", "opted out after tuning"])
def test_reserving_the_heap_without_madvise_touches_the_blocks_itself(system, monkeypatch):
    """Where madvise is missing, refuses MADV_POPULATE_WRITE (a kernel before 5.14: EINVAL) or WAFERSIM_NO_MALLOC_TUNING
    is set after the allocator was tuned, `populate_now` does nothing and says so, and `reserve_heap` writes the
    blocks instead: the same bytes reserved, in whole 8 MiB blocks (review44)."""
    if not hostmem.tune_allocator():
        pytest.skip("the allocator is not tuned here (not glibc on Linux)")
    asked = []
    if system == "no madvise":
        monkeypatch.setattr(hostmem, "_madvise_function", lambda: None)
    elif system == "madvise refuses":
        monkeypatch.setattr(hostmem, "_madvise_function", lambda: lambda *args: asked.append(args) or -1)
    else:
        monkeypatch.setenv("WAFERSIM_NO_MALLOC_TUNING", "1")
    written = []
    memset = hostmem.ctypes.memset
    monkeypatch.setattr(hostmem.ctypes, "memset", lambda at, value, size: written.append(size) or memset(at, value, size))
    page = hostmem._PAGE
    assert not hostmem.populate_now(5 * page + 1, 3 * page)
    monkeypatch.setattr(hostmem, "_reserved", 0)
    assert hostmem.reserve_heap(10 << 20) == 16 << 20
    assert written == [hostmem._RESERVE_CHUNK] * 2
    if system == "madvise refuses":  # (asked for the whole pages inside each range: 6 .. 7 of the first)
        assert asked[0] == (6 * page, 2 * page, hostmem._MADV_POPULATE_WRITE) and len(asked) == 3


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the process's own C library: Linux")
def test_the_c_library_is_the_processs_own_found_without_a_subprocess(monkeypatch):
    """On Linux the C library's functions come from the process itself (`dlopen(NULL)`), not from a search for
    the library (`ctypes.util.find_library` runs `ldconfig -p` in a subprocess: 5-40 ms of a first launch): its
    `malloc` gives memory that `memset` fills and `free` takes back, and its `strlen` counts a string's bytes."""
    import ctypes
    import subprocess

    def no_subprocess(*args, **kwargs):
        raise AssertionError(f"a subprocess was started: {args}")

    monkeypatch.setattr(subprocess, "Popen", no_subprocess)
    monkeypatch.setattr(hostmem, "_libc_handle", None)
    malloc = hostmem._libc_function("malloc", [ctypes.c_size_t], ctypes.c_void_p)
    free = hostmem._libc_function("free", [ctypes.c_void_p], None)
    strlen = hostmem._libc_function("strlen", [ctypes.c_char_p], ctypes.c_size_t)
    assert malloc is not None and free is not None and strlen is not None
    assert hostmem._libc_function("no_such_function_in_libc", [], None) is None
    block = malloc(4096)
    assert block
    ctypes.memset(block, 7, 4096)
    assert ctypes.string_at(block, 4096) == b"\x07" * 4096
    free(block)
    assert strlen(b"wafer-scale") == len("wafer-scale")
