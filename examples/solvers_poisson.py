"""A 3-D Poisson problem on a small simulated wafer, by CG, Jacobi-preconditioned CG and BiCGSTAB.

    python examples/solvers_poisson.py

Solves A x = b for the 7-point Laplacian (a Dirichlet boundary) on a 32 x 12 x 10 grid, X and Y over a
10 x 12 block of PEs and a column of 32 values in each PE's SRAM; then the same with a varying diagonal
shift (a reaction term), where the Jacobi preconditioner pays off. Each solve is checked against NumPy
(the true residual ||b - A x|| / ||b||, computed in float64) and prints its iterations and cycles.
"""
from __future__ import annotations

import numpy as np

from wafersim.kernels.solvers import bicgstab, conjugate_gradient
from wafersim.kernels.solvers.reference import apply_laplacian


def report(name: str, sol, b: np.ndarray, shift) -> None:
    residual = np.linalg.norm(b - apply_laplacian(sol.x, shift)) / np.linalg.norm(b)
    assert sol.converged and residual < 1e-4, (name, residual)
    print(f"{name:28s} {sol.iterations:4d} iterations, ||b - Ax|| / ||b|| = {residual:.1e}, "
          f"{sol.stats.cycles:>9,} cycles = {sol.stats.seconds * 1e6:7.1f} us simulated, "
          f"utilization {sol.stats.utilization:.1%}")


def main() -> None:
    shape = (32, 12, 10)  # (nz, ny, nx)
    z, y, x = np.meshgrid(*(np.linspace(0, 1, n) for n in shape), indexing="ij")
    b = np.exp(-40 * ((x - 0.5) ** 2 + (y - 0.5) ** 2 + (z - 0.3) ** 2)).astype(np.float32)  # a heat source
    report("cg", conjugate_gradient(b, rtol=1e-5), b, 0.0)
    report("bicgstab", bicgstab(b, rtol=1e-5), b, 0.0)
    shift = 100 * (np.random.default_rng(0).random(shape) ** 4)  # a reaction term varying over the grid
    report("cg, varying shift", conjugate_gradient(b, shift=shift, rtol=1e-5), b, shift)
    report("cg + Jacobi, varying shift", conjugate_gradient(b, shift=shift, rtol=1e-5, preconditioner="jacobi"),
           b, shift)


if __name__ == "__main__":
    main()
