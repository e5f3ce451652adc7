"""Solver kernels on a 3-D grid with X and Y over PEs and Z columns in SRAM (docs/solvers.md): conjugate
gradient (plain and Jacobi-preconditioned), BiCGSTAB, the power method, a 7-point stencil, and host <->
device bandwidth tests."""
from .bicgstab import bicgstab
from .cg import conjugate_gradient
from .columns import ColumnTooLongError, Solution

__all__ = ["ColumnTooLongError", "Solution", "bicgstab", "conjugate_gradient"]
