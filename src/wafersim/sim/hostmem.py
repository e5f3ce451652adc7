"""Host-memory behaviour of the simulator process.

The engine's NumPy temporaries are megabytes each. glibc serves such blocks with a fresh `mmap` and
returns them on `free`, so every temporary page-faults its memory in again: at wafer scale that was
40% of the wall time, spent in the kernel. Raising glibc's mmap and trim thresholds keeps freed blocks
in the heap for reuse. Set WAFERSIM_NO_MALLOC_TUNING=1 to leave the allocator alone.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3
_tuned = False


def tune_allocator() -> bool:
    """Apply the glibc thresholds once per process; False where not applicable (non-glibc, opted out)."""
    global _tuned
    if _tuned or os.environ.get("WAFERSIM_NO_MALLOC_TUNING") or not sys.platform.startswith("linux"):
        return _tuned
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    ok = mallopt(_M_MMAP_THRESHOLD, 32 << 20)  # the largest glibc accepts: blocks up to 32 MiB come from the heap
    ok &= mallopt(_M_TRIM_THRESHOLD, 1 << 30)  # keep up to 1 GiB of freed heap for reuse
    ok &= mallopt(_M_TOP_PAD, 64 << 20)
    _tuned = bool(ok)
    return _tuned
