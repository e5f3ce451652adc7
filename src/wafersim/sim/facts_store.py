"""Static analyses of a program kept on disk, next to the kernel cache, so that a process's first launch of it
loads them instead of analysing the code again (`CodeFacts.kept_memo`).

`CodeFacts.memo` keeps an analysis for the launches of one process; a new process ran it again at its first
launch, even with the kernel loaded from the kernel cache: which PEs of a block can send routed words
(`routed_senders.channel_conditions`, a path-sensitive abstract interpretation: 37 ms of BiCGSTAB's 571
instructions, 88 ms of the 25-point stencil's 1,438 on the reference VM) and which branches test a neighbour
(`branches.neighbour_branches` through vector instructions, ~9 ms). Reading one back costs ~0.1 ms.

Where, and on or off: the kernel cache's folder under its switch (`trace_store.folder`, which
`runtime.kernel_cache` sets; `WAFERSIM_KERNEL_CACHE=0` turns it off, and so does the test suite), in files
`<name>.facts`: a few KB each, one per program and analysis, never evicted (as compiled kernels).

A file's name is a hash of the analysis's key, the code's bytes and `version` (the kernel cache's
`compiler_version`: every source of the package, and the Python and NumPy versions), so that a changed engine
never reads a stale result; without a version (sources not installed) nothing is kept. A file holds its name
again and the SHA-256 of its pickled result: a truncated, damaged or misplaced file is ignored (the analysis
runs again), never read as a result. Only analyses of the code alone whose results are plain data (equal after
a pickle round trip) may be kept this way.
"""
from __future__ import annotations

import hashlib
from typing import Any, Callable

from . import trace_store
from .cache_files import read_checked, write_checked

#: A hash of everything an analysis's result depends on besides the code and its key, or None (nothing kept):
#: set by `runtime.kernel_cache` (its `compiler_version`; sim cannot import runtime).
version: Callable[[], str | None] | None = None

SUFFIX = ".facts"


def file_name(code: bytes, key: str) -> str | None:
    """The file name (without suffix) of analysis `key` of `code`, or None where nothing is kept: no folder or
    no version."""
    if trace_store._folder() is None:
        return None
    try:
        stamp = version() if version is not None else None
    except Exception:  # (sources that cannot be read: nothing kept, as a stale result could not be told apart)
        return None
    if stamp is None:
        return None
    return hashlib.sha256(b"|".join((stamp.encode(), key.encode(), code))).hexdigest()


def kept(code: bytes, key: str, make: Callable[[], Any]) -> Any:
    """Analysis `key` of `code`: read from its file where a process left one, else `make()`, written to the
    file for the next process (errors only mean computing it again)."""
    name = file_name(code, key)
    if name is None:
        return make()
    where = trace_store._folder()
    found, value = read_checked(where / f"{name}{SUFFIX}", name)
    if found:
        return value
    value = make()
    write_checked(where, f"{name}{SUFFIX}", name, value)  # (not written: the next process analyses again)
    return value
