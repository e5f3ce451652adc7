"""Plain NumPy versions of the solver operators, to check the kernels and to build right-hand sides.

Grids are (nz, ny, nx) arrays, as the host functions take them; outside the grid the values are 0 (a
Dirichlet boundary).
"""
from __future__ import annotations

import numpy as np


def neighbour_sum(u: np.ndarray) -> np.ndarray:
    """The sum of the six face neighbours of every cell (0 outside the grid), in float64."""
    p = np.pad(np.asarray(u, dtype=np.float64), 1)
    return (p[:-2, 1:-1, 1:-1] + p[2:, 1:-1, 1:-1] + p[1:-1, :-2, 1:-1] + p[1:-1, 2:, 1:-1]
            + p[1:-1, 1:-1, :-2] + p[1:-1, 1:-1, 2:])


def laplacian_diagonal(shape: tuple[int, int, int], shift: np.ndarray | float = 0.0) -> np.ndarray:
    """The diagonal of A = (7-point Laplacian) + diag(shift): 6 + shift, as a float64 (nz, ny, nx) grid."""
    return np.broadcast_to(6.0 + np.asarray(shift, dtype=np.float64), shape).copy()


def apply_laplacian(u: np.ndarray, shift: np.ndarray | float = 0.0) -> np.ndarray:
    """A u for A = 6 I - (neighbours) + diag(shift), the operator of the Krylov kernels, in float64."""
    u = np.asarray(u, dtype=np.float64)
    return laplacian_diagonal(u.shape, shift) * u - neighbour_sum(u)


def stencil7(u: np.ndarray, coeffs: tuple[float, float, float, float], steps: int) -> np.ndarray:
    """`steps` applications of u <- c0 u + cx (W + E) + cy (N + S) + cz (down + up), 0 outside, in float64."""
    c0, cx, cy, cz = coeffs
    u = np.asarray(u, dtype=np.float64)
    for _ in range(steps):
        p = np.pad(u, 1)
        u = (c0 * u + cx * (p[1:-1, 1:-1, :-2] + p[1:-1, 1:-1, 2:]) + cy * (p[1:-1, :-2, 1:-1] + p[1:-1, 2:, 1:-1])
             + cz * (p[:-2, 1:-1, 1:-1] + p[2:, 1:-1, 1:-1]))
    return u


def smallest_laplacian_eigenvalue(shape: tuple[int, int, int]) -> float:
    """The smallest eigenvalue of the 7-point Dirichlet Laplacian (shift 0) on an (nz, ny, nx) grid:
    sum over the axes of 2 - 2 cos(pi / (n + 1)). A + diag(shift) stays positive definite while every
    shift is above minus this (a grid of one Z layer: 2 + the 5-point Laplacian's smallest, so shift -2
    gives the 2-D Poisson operator)."""
    return float(sum(2.0 - 2.0 * np.cos(np.pi / (n + 1)) for n in shape))


def largest_laplacian_eigenvalue(shape: tuple[int, int, int]) -> float:
    """The largest eigenvalue of the 7-point Dirichlet Laplacian (shift 0) on an (nz, ny, nx) grid:
    sum over the axes of 2 - 2 cos(pi n / (n + 1)) (the 1-D eigenvalues add for a Kronecker sum)."""
    return float(sum(2.0 - 2.0 * np.cos(np.pi * n / (n + 1)) for n in shape))
