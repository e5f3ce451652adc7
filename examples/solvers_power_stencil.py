"""The power method and the 7-point stencil on a small simulated wafer.

    python examples/solvers_power_stencil.py

The largest eigenvalue of the 7-point Laplacian on an 8 x 6 x 5 grid, against its analytic value, and 20
steps of a 3-D diffusion stencil on a 16 x 8 x 8 grid, against NumPy.
"""
from __future__ import annotations

import numpy as np

from wafersim.kernels.solvers import power_method, stencil7
from wafersim.kernels.solvers import reference


def main() -> None:
    shape = (8, 6, 5)
    pair = power_method(shape, tol=1e-7, maxiter=2000)
    exact = reference.largest_laplacian_eigenvalue(shape)
    assert abs(pair.value - exact) < 1e-4 * exact
    print(f"power method: lambda_max = {pair.value:.6f} (analytic {exact:.6f}) after {pair.iterations} "
          f"iterations, {pair.stats.cycles:,} cycles")

    u = np.zeros((16, 8, 8), np.float32)
    u[8, 4, 4] = 1.0  # a point source
    alpha = 1 / 8
    coeffs = (1 - 6 * alpha, alpha, alpha, alpha)  # explicit diffusion, u <- u + alpha * (neighbours - 6 u)
    out, stats = stencil7(u, coeffs, steps=20)
    want = reference.stencil7(u, coeffs, 20)
    assert np.allclose(out, want, atol=1e-6)
    print(f"7-point stencil: 20 steps, {stats.cycles:,} cycles, {stats.flops:,} FLOP, utilization "
          f"{stats.utilization:.1%}, max |wafer - NumPy| = {np.abs(out - want).max():.1e}")


if __name__ == "__main__":
    main()
