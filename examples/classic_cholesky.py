"""Cholesky factorisation on a row of simulated PEs, and what a matrix that is not positive definite does.

    python examples/classic_cholesky.py

Factors random SPD matrices (columns dealt cyclically over the PEs), checks L against
numpy.linalg.cholesky and L L^T against A, then shows the error an indefinite matrix raises.
"""
from __future__ import annotations

import numpy as np

from wafersim.kernels.classic import NotPositiveDefiniteError, cholesky


def main() -> None:
    rng = np.random.default_rng(0)
    for n, p in [(32, 4), (128, 16)]:
        m = rng.standard_normal((n, n))
        a = (m @ m.T + n * np.eye(n)).astype(np.float32)
        low, stats = cholesky(a, p)
        want = np.linalg.cholesky(a.astype(np.float64))
        err = np.abs(low - want).max() / np.abs(want).max()
        residual = np.abs(low.astype(np.float64) @ low.T - a).max() / np.abs(a).max()
        print(f"cholesky n={n} on {p} PEs: {stats.cycles:,} cycles, utilization {stats.utilization:.1%}, "
              f"max error {err:.1e}, residual |LL^T - A| {residual:.1e}")
    a = np.eye(16, dtype=np.float32)
    a[9, 9] = -1.0
    try:
        cholesky(a, 4)
    except NotPositiveDefiniteError as err:
        print(f"{type(err).__name__}: {err} (column {err.column})")


if __name__ == "__main__":
    main()
