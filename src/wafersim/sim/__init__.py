"""The simulation engine: placement, fabric, global memory, timing, statistics."""
from .compiled.numba_cache import choose_cache_dir

choose_cache_dir()  # (before any module defines a cached Numba function)

from .engine import Launch
from .memory import GlobalMemory
from .stats import LaunchStats, PrintRecord

__all__ = ["GlobalMemory", "Launch", "LaunchStats", "PrintRecord"]
