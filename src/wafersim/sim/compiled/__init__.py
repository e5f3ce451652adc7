"""Compiled execution of small and divergent groups: a per-PE interpreter in Numba (`interpreter`) over
the program decoded into arrays (`table`), entered from the scheduler through `stepper.CompiledMixin`."""
from __future__ import annotations

import sys

_JIT = f"{__name__}.jit"  # (the engine's one module importing Numba: in `sys.modules` once it is loaded)


def numba_loaded() -> bool:
    """Whether this process has loaded the engine's Numba module (`jit`) already, for any path: the compiled
    passes that pay only once Numba's import and start-up are paid ask this (importing this package does not
    import Numba)."""
    return _JIT in sys.modules
