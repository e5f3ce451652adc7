"""Route traces kept on disk, next to the kernel cache, so that a process's first launch loads them.

`routing.TRACE_CACHE` keeps traces across the launches of one process; a new process traced every route again:
a GEMM's two buses over 64 x 64 PEs (some 40 ms each), a wafer-wide broadcast (25-40 ms) and its per-PE
order (`Deliveries.one_source`, 30-40 ms). Reading a trace back costs some 0.5 ms per MB (the arrays are
fresh memory either way) against some 4 ms per MB to trace it, so a trace of at least `STORE_ENTRIES`
receivers and links is written to a file when traced, and read from it by a later process instead of
tracing (smaller ones trace faster than a file is opened). `Deliveries.one_source` of such a trace is kept
the same way, in a file of its own.

Where, and on or off: as the kernel cache (`runtime.kernel_cache` sets `folder`; `WAFERSIM_KERNEL_CACHE=0`
turns both off, and so does the test suite), in files `<key>.routes`. Unlike compiled kernels, route files
are large (a wafer-wide trace is 25 MB), so they are bounded: past `STORE_BYTES` of them, the least recently
used go (a file read is touched).

A file's name is a hash of everything its trace depends on: the caller's key (the spec's `cache_key`,
defects included, the grid, block and wave, the channel, its masks and sources, the ramp latency, ...) and
`engine_version` (the engine's routing sources and the versions of Python, NumPy and wafersim), so that a
changed engine never reads a stale trace. A file holds its key again, a checksum of its arrays and a hash
of their names, dtypes and shapes: a file that is truncated, corrupt, or from another key is ignored (the
trace is computed again), never read as a trace. Where a routing source cannot be read (no .py files
installed), nothing is kept.
"""
from __future__ import annotations

import functools
import hashlib
import json
import mmap
import os
import sys
import threading
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from .cache_files import write_atomically

#: Where the files go: a function returning the folder, or None while the store is off (set by
#: `runtime.kernel_cache`, which owns the folder and the switch; sim cannot import runtime).
folder: Callable[[], Path | None] | None = None
#: Traces with at least this many receivers and links are kept (the cost of a trace grows with them).
STORE_ENTRIES = 1 << 16
#: Route files kept at most, in bytes: past this, the least recently used are deleted after a store.
STORE_BYTES = 1 << 30

SUFFIX = ".routes"
MAGIC = b"WSROUTE2"
_ALIGN = 8
#: Background writes not finished yet, by name (`store(..., in_background=True)`), and the lock guarding it.
_pending: dict[str, threading.Thread] = {}
_pending_lock = threading.Lock()
#: The modules whose sources a stored trace depends on (how routes are traced, and the regions they are
#: traced over), relative to the package.
_SOURCES = ("sim/routing.py", "sim/trace_kernels.py", "sim/trace_store.py", "sim/layout.py", "arch/spec.py",
            "arch/defects.py", "arch/values.py", "isa/opcodes.py")


@functools.lru_cache(maxsize=1)
def engine_version() -> str | None:
    """A hash of the routing engine's sources and the versions its arrays depend on; None where a source
    cannot be read (an install without .py files): then nothing is stored, as a stale trace could not be told
    from a fresh one."""
    import wafersim

    root = Path(wafersim.__file__).resolve().parent
    digest = hashlib.sha256(f"{wafersim.__version__}|{sys.version}|{np.__version__}".encode())
    for name in _SOURCES:
        digest.update(name.encode())
        try:
            digest.update((root / name).read_bytes())
        except OSError:
            return None
    return digest.hexdigest()


def _folder() -> Path | None:
    try:
        return folder() if folder is not None else None
    except Exception:  # (a cache folder that cannot be: the kernel cache reports it; routes are just traced)
        return None


def enabled() -> bool:
    """Whether traces are kept on disk now (the kernel cache is on, with a folder, and the routing sources
    can be hashed)."""
    return _folder() is not None and engine_version() is not None


def file_key(key: tuple) -> str:
    """The file name (without suffix) of the trace with in-memory key `key` (a tuple of plain values)."""
    return hashlib.sha256(repr((engine_version(), key)).encode()).hexdigest()


def _checksum(payload: np.ndarray) -> tuple[int, int]:
    from .trace_kernels import fletcher64  # (Numba: loaded only by processes that read or write route files)

    first, second = fletcher64(payload.view(np.uint64))
    return int(first), int(second)


def load(name: str, names: Sequence[str] | None = None) -> dict[str, np.ndarray] | None:
    """The arrays stored under `name` (`file_key`), or None: no store, no file, one that is not whole, or
    (given `names`) one whose arrays are not `names`, in that order (one stored by another engine's layout)."""
    where = _folder()
    if where is None:
        return None
    wait(name)  # (this process's own write of it, still under way: read it whole)
    path = where / f"{name}{SUFFIX}"
    try:
        with open(path, "rb") as file:
            # Mapped, not read: the file's pages are in the page cache, and mapping them costs far less than
            # copying them into fresh memory (whose page faults cost as much as tracing). Copy on write: the
            # arrays are writable like a trace's, and a write never reaches the file; a file is only ever
            # replaced whole (`store`), never changed in place, so the mapping stays whole.
            buffer = np.frombuffer(mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_COPY), dtype=np.uint8)
        size = len(buffer)
        if size < 16 or bytes(buffer[:8]) != MAGIC:
            return None
        header_size = int(buffer[8:16].view(np.uint64)[0])
        if not 16 + header_size <= size:
            return None
        header = json.loads(bytes(buffer[16:16 + header_size]))
        start = _aligned(16 + header_size)
        if header["key"] != name or start + header["payload"] != size:
            return None
        if names is not None and [described[0] for described in header["arrays"]] != list(names):
            return None
        payload = buffer[start:]
        if list(_checksum(payload)) != header["checksum"] or _layout_digest(header["arrays"]) != header["layout"]:
            return None
        arrays, offset = {}, 0
        for array_name, dtype, shape in header["arrays"]:
            count = int(np.prod(shape, dtype=np.int64))
            nbytes = count * np.dtype(dtype).itemsize
            arrays[array_name] = payload[offset:offset + nbytes].view(dtype).reshape(shape)
            offset = _aligned(offset + nbytes)
        try:
            os.utime(path)  # (recently used: `_evict` keeps it)
        except OSError:  # (a cache that can be read, not written: still read)
            pass
        return arrays
    except Exception:  # (missing, unreadable, truncated, corrupt: all mean "trace it")
        return None


def store(name: str, arrays: dict[str, np.ndarray], in_background: bool = False) -> None:
    """Write `arrays` under `name` (atomically: a reader never sees half a file); errors are ignored.

    `in_background`: the file is written by a thread of its own, so that the launch that traced does not wait
    for the disk (writing a wafer-wide trace's 25 MB into the page cache took 40-60 ms of CPU on the reference
    VM, a first launch's). The checksum is taken before `store` returns, so an array changed meanwhile makes the
    file one that `load` refuses, never a wrong trace; `load` of the same name, and `wait`, wait for the write,
    and so does the process as it exits (the thread is not a daemon; `os._exit`, as a multiprocessing worker
    ends, does not wait): the file is whole or not there (then a later process traces again)."""
    where = _folder()
    if where is None:
        return
    try:
        # The arrays go to the file as they are, each padded to `_ALIGN` bytes (no copy of them all into one
        # buffer: 25 MB of fresh memory for a wafer-wide trace); the checksum of that payload is the
        # combination of each array's (`_extended`).
        parts: list = []
        described = []
        first = second = offset = 0
        for array_name, array in arrays.items():
            array = np.ascontiguousarray(array)
            data = array.reshape(-1).view(np.uint8)
            padding = _aligned(array.nbytes) - array.nbytes
            first, second = _extended(first, second, data, padding)
            parts += [data, b"\0" * padding]
            described.append([array_name, array.dtype.str, list(array.shape)])
            offset += array.nbytes + padding
        header = json.dumps({"key": name, "payload": offset, "checksum": [first, second],
                             "arrays": described, "layout": _layout_digest(described)}).encode()
        head = MAGIC + np.uint64(len(header)).tobytes() + header + b"\0" * (_aligned(16 + len(header)) - 16 - len(header))
        where.mkdir(parents=True, exist_ok=True)
    except Exception:  # (a read-only or full disk: the next process traces again)
        return
    if not in_background:
        _write(where, name, [head, *parts])
        return
    writer = threading.Thread(target=_write, args=(where, name, [head, *parts]), name=f"wafersim route file {name}")
    with _pending_lock:
        _pending[name] = writer
    try:
        writer.start()
    except RuntimeError:  # (no thread to be had: "can't start new thread", or the interpreter is shutting down)
        with _pending_lock:
            _pending.pop(name, None)
        _write(where, name, [head, *parts])


def _extended(first: int, second: int, data: np.ndarray, padding: int) -> tuple[int, int]:
    """`_checksum`'s (first, second) of a payload so far extended by the bytes `data` and `padding` zero bytes
    (their sum a multiple of 8, as the payload's words are). Fletcher's sums of a concatenation: the part's own
    sums (`fletcher64` from zero) added to the first, and to the second with the first times its words."""
    whole = len(data) // 8 * 8
    words = data[:whole].view(np.uint64)
    if len(words):
        if not (words.flags.writeable and words.flags.aligned):  # (the compiled checksum's one array type)
            words = words.copy()
        part_first, part_second = _checksum(words.view(np.uint8))
        second = (second + len(words) * first + part_second) % 2 ** 64
        first = (first + part_first) % 2 ** 64
    tail = bytes(data[whole:]) + b"\0" * padding  # (the last word: the array's last bytes, then zeros)
    for word in np.frombuffer(tail, dtype=np.uint64).tolist():
        first = (first + word) % 2 ** 64
        second = (second + first) % 2 ** 64
    return first, second


def wait(name: str | None = None) -> None:
    """Return once the background write of `name` (default: every background write begun) is done."""
    with _pending_lock:
        writers = list(_pending.values()) if name is None else [_pending[name]] if name in _pending else []
    for writer in writers:
        if writer is not threading.current_thread():
            writer.join()



def _forget_writers() -> None:
    """In a child just forked: the parent's writer threads are not in it (their files are the parent's to
    finish), and one of them may have held `_pending_lock` at the fork, which no thread of the child would
    ever release (the child's first `load` or `store` waited forever)."""
    global _pending_lock
    _pending_lock = threading.Lock()
    _pending.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_writers)


def _write(where: Path, name: str, parts: list) -> None:
    """Write the file `name` (the concatenation of `parts`: bytes or arrays of bytes) into `where` through a
    temporary file; errors are ignored."""
    try:
        write_atomically(where, f"{name}{SUFFIX}", lambda file: file.writelines(parts))
        _evict(where)
    except Exception:  # (a read-only or full disk, a folder removed meanwhile: the next process traces again)
        return
    finally:
        with _pending_lock:
            if _pending.get(name) is threading.current_thread():
                del _pending[name]


def _evict(where: Path) -> None:
    """Delete the least recently used route files while they take more than `STORE_BYTES`."""
    files = []
    for path in where.glob(f"*{SUFFIX}"):
        try:
            info = path.stat()
        except OSError:
            continue
        files.append((info.st_mtime, info.st_size, path))
    total = sum(size for _, size, _ in files)
    for _, size, path in sorted(files):
        if total <= STORE_BYTES:
            break
        try:
            path.unlink()
        except OSError:
            pass
        total -= size


def _layout_digest(arrays: list) -> str:
    """A hash of a file's list of (name, dtype, shape): the checksum covers the payload only, and a damaged
    header that still parses (a shape's digit changed) would read the payload as other arrays."""
    return hashlib.sha256(json.dumps(arrays).encode()).hexdigest()


def _aligned(offset: int) -> int:
    return -(-offset // _ALIGN) * _ALIGN
