"""Starting the compiled path ahead of a launch (`wafersim.init`): what a process's first launch that
takes the compiled path (or routes, or bulk transfers) otherwise pays on its way.

Numba's start-up is per process and cannot be avoided by a process that uses the compiled path: importing
Numba (~0.2 s of CPU on the reference VM) and its runtime (~0.02 s with the first function; the modules of
Numba's own that the cached code's environments name, `numba.np.arrayobj` and the like, stay unimported:
`numba_cache.environments_kept_unimported`, ~0.035 s, stop 49). Numba's target registries
(`numba.core.cpu.CPUContext.load_additional_registries`: ~0.35 s of CPU, SciPy's `scipy.linalg` among them),
which Numba loads before any cached function, are not loaded: the engine's machine code needs none of them
(`numba_cache.load_before_registries`). Each cached function then loads on the first call of each of its
signatures (1.5-40 ms of CPU each, the interpreter's the 40: linking its machine code; the LLVM module each keeps
for linking into callers, as large again, is parsed only when a caller is compiled, `numba_cache.unserialize_lazily`,
stop 42): `start` loads those of the functions that launches call (`ENTRY_SOURCES`: ~0.12 s of CPU for all that
bench/workloads.py uses, 0.43 s when each module was parsed) that the cache holds (`numba_cache.load_cached`:
what launches on this machine used before), so that a launch after it loads none, as CUDA's eager module
loading does.
"""
from __future__ import annotations

import importlib
import time

import numpy as np


#: The files of `numba_cache.ENGINE_SOURCES` with functions the engine's Python calls (the others' are compiled
#: into these), relative to `sim/`, and those functions' names (None: every public function of the file).
#: `stream_pump_steps`' other functions are compiled into the pump: loading their own machine code would
#: cost ~0.25 s for nothing.
ENTRY_SOURCES: dict[str, tuple[str, ...] | None] = {
    "background_kernels.py": None, "bandwidth_kernels.py": None, "descriptor_kernels.py": None,
    "fifo_kernels.py": None, "lockstep_kernels.py": None,
    "register_block_kernels.py": None, "routed_step_kernels.py": None, "stream_op_kernels.py": None,
    "stream_pump_kernels.py": None, "stream_row_kernels.py": None,
    "stream_pump_steps.py": ("send_step_in_pe_order", "send_step_undelivered", "deliver", "pe_order"),
    "trace_kernels.py": None, "compiled/interpreter.py": None, "compiled/settle.py": None,
    "compiled/fabric_ops.py": ("register_sleepers",),
    "half_vector_kernels.py": ("half_vector",),
}
_started = False


def start() -> float:
    """Import Numba and the engine's compiled modules, start Numba's runtime (through one small cached
    function) and load the machine code of `ENTRY_SOURCES`' functions that Numba's on-disk cache holds;
    seconds taken.
    Idempotent: a second call takes microseconds."""
    global _started
    began = time.perf_counter()
    from .. import fifo_kernels
    from . import numba_cache

    if not _started:
        with numba_cache.damage_reported():
            fifo_kernels.lane_runs(np.arange(2, dtype=np.int64))  # (the first cached function loaded: Numba's runtime)
        for source, names in ENTRY_SOURCES.items():
            module = importlib.import_module(".." + source.removesuffix(".py").replace("/", "."), __package__)
            for name, value in list(vars(module).items()):
                if (name in names if names is not None else not name.startswith("_")) \
                        and getattr(value, "__module__", None) == module.__name__ and hasattr(value, "_cache"):
                    numba_cache.load_cached(value)
        from . import fabric_state  # noqa: F401  (a launch with transfers imports it)
        _started = True
    return time.perf_counter() - began
