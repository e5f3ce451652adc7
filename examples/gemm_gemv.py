"""Dense linear algebra on small simulated wafers: SUMMA gemm and a tiled gemv.

    python examples/gemm_gemv.py

Runs C = A @ B and y = A @ x at two sizes each, on devices just large enough for the block, checks
the results against NumPy, and prints the simulated cycles, the utilization (achieved FLOP/s over the
wafer's peak) and each launch's summary.
"""
from __future__ import annotations

import numpy as np

from wafersim.kernels.gemm import gemm
from wafersim.kernels.gemv import gemv


def main() -> None:
    rng = np.random.default_rng(0)
    for p, tile in [(4, 8), (4, 32)]:
        n = p * tile
        a = rng.standard_normal((n, n)).astype(np.float32)
        b = rng.standard_normal((n, n)).astype(np.float32)
        c, stats = gemm(a, b, p)
        ref = a.astype(np.float64) @ b
        err = np.linalg.norm(c - ref) / np.linalg.norm(ref)
        print(f"gemm n={n} on {p} x {p} PEs ({tile} x {tile} tiles): {stats.cycles:,} cycles, "
              f"utilization {stats.utilization:.1%}, {stats.flops:,} FLOP, relative error {err:.1e}")
        print("   ", stats.summary())
    for m, n, p, q in [(32, 32, 4, 4), (256, 256, 8, 8)]:
        a = rng.standard_normal((m, n)).astype(np.float32)
        x = rng.standard_normal(n).astype(np.float32)
        y, stats = gemv(a, x, p, q)
        ref = a.astype(np.float64) @ x
        err = np.linalg.norm(y - ref) / np.linalg.norm(ref)
        print(f"gemv {m} x {n} on {p} x {q} PEs: {stats.cycles:,} cycles, utilization {stats.utilization:.2%}, "
              f"{stats.flops:,} FLOP, relative error {err:.1e}")
        print("   ", stats.summary())


if __name__ == "__main__":
    main()
