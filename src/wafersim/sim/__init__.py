"""The simulation engine: placement, fabric, global memory, timing, statistics."""
from .engine import Launch
from .memory import GlobalMemory
from .stats import LaunchStats, PrintRecord

__all__ = ["GlobalMemory", "Launch", "LaunchStats", "PrintRecord"]
