"""Solver kernels on a 3-D grid with X and Y over PEs and Z columns in SRAM (docs/solvers.md): conjugate
gradient (plain, Jacobi-preconditioned, single-reduction), BiCGSTAB, the power method, a 7-point stencil,
and bandwidth tests (host <-> device copies, off-wafer reads, routed broadcasts)."""
from .bandwidth import BandwidthPoint, broadcast_bandwidth, global_read_bandwidth, memcpy_bandwidth
from .bicgstab import bicgstab
from .cg import conjugate_gradient
from .columns import ColumnTooLongError, Solution
from .power import Eigenpair, power_method
from .stencil7 import stencil7

__all__ = [
    "BandwidthPoint", "ColumnTooLongError", "Eigenpair", "Solution", "bicgstab", "broadcast_bandwidth",
    "conjugate_gradient", "global_read_bandwidth", "memcpy_bandwidth", "power_method", "stencil7",
]
