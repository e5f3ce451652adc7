"""Starting the compiled path ahead of a launch (`wafersim.init`): what a process's first launch that
takes the compiled path (or routes, or bulk transfers) otherwise pays on its way.

Numba's start-up is per process and cannot be avoided by a process that uses the compiled path:
importing Numba (~0.2-0.3 s on the reference VM), then, before the first cached function can be loaded,
Numba's target registries (`numba.core.cpu.CPUContext.load_additional_registries`: ~0.35-0.5 s, of which
SciPy's `scipy.linalg`, imported by Numba's BLAS check in `numba.np.arraymath`, is ~0.2 s). Our own
functions use none of those registries' implementations, but Numba loads all of them for any cached
function. Each cached function then loads on the first call of each of its signatures (2-40 ms each; the
stream pump's, with the steps compiled into it, ~0.1 s): `start` loads those of the functions that launches
call (`ENTRY_SOURCES`' public functions: ~0.26 s for all that bench/workloads.py uses) that the cache holds
(`numba_cache.load_cached`: what launches on this machine used before), so that a launch after it loads
none, as CUDA's eager module loading does.
"""
from __future__ import annotations

import importlib
import time

import numpy as np


#: The files of `numba_cache.ENGINE_SOURCES` whose public functions the engine's Python calls (the others'
#: are compiled into these); relative to `sim/`.
ENTRY_SOURCES = ("background_kernels.py", "descriptor_kernels.py", "fifo_kernels.py", "routed_step_kernels.py",
                 "stream_pump_kernels.py", "stream_pump_steps.py", "trace_kernels.py", "compiled/interpreter.py",
                 "compiled/settle.py")
_started = False


def start() -> float:
    """Import Numba and the engine's compiled modules, load Numba's registries (through one small cached
    function) and the machine code of `ENTRY_SOURCES`' public functions that Numba's on-disk cache holds;
    seconds taken.
    Idempotent: a second call takes microseconds."""
    global _started
    began = time.perf_counter()
    from .. import fifo_kernels
    from . import numba_cache

    if not _started:
        with numba_cache.damage_reported():
            fifo_kernels.lane_runs(np.arange(2, dtype=np.int64))  # (the first cached function loaded: the registries)
        for source in ENTRY_SOURCES:
            module = importlib.import_module(".." + source.removesuffix(".py").replace("/", "."), __package__)
            for name, value in list(vars(module).items()):
                if not name.startswith("_") and getattr(value, "__module__", None) == module.__name__ \
                        and hasattr(value, "_cache"):
                    numba_cache.load_cached(value)
        from . import fabric_state  # noqa: F401  (a launch with transfers imports it)
        _started = True
    return time.perf_counter() - began
