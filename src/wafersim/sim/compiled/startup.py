"""Starting the compiled path ahead of a launch (`wafersim.init`): what a process's first launch that
takes the compiled path (or routes, or bulk transfers) otherwise pays on its way.

Numba's start-up is per process and cannot be avoided by a process that uses the compiled path:
importing Numba (~0.2-0.3 s on the reference VM), then, before the first cached function can be loaded,
Numba's target registries (`numba.core.cpu.CPUContext.load_additional_registries`: ~0.35-0.5 s, of which
SciPy's `scipy.linalg`, imported by Numba's BLAS check in `numba.np.arraymath`, is ~0.2 s). Our own
functions use none of those registries' implementations, but Numba loads all of them for any cached
function. Each cached function then loads in a few milliseconds on the first call that needs it.
"""
from __future__ import annotations

import time

import numpy as np


def start() -> float:
    """Import Numba and the engine's compiled modules, and load Numba's registries (through one small
    cached function); seconds taken. Idempotent: a second call takes microseconds."""
    began = time.perf_counter()
    from .. import fifo_kernels, trace_kernels  # noqa: F401  (each imports Numba)
    from . import interpreter, numba_cache, settle  # noqa: F401

    with numba_cache.damage_reported():
        fifo_kernels.lane_runs(np.arange(2, dtype=np.int64))  # (the first cached function loaded: the registries)
    return time.perf_counter() - began
