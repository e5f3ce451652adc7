"""Sparse kernels that never multiply by zero: SpMV, SpMM, hypersparse SpMV, the 7-point stencil matrix, SpMSpV.

    python examples/sparse_spmv.py

Each runs on a device just large enough for its block of PEs, is checked against SciPy, and prints its
simulated cycles and nonzeros; the last part compares the dense and the zero-skipping multiply at 10%
density (one multiply with the matrix resident, timed as the difference of 3 and 1 repeats).
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from wafersim.kernels.sparse import dense_spmv, hypersparse_spmv, spmm, spmspv, spmv, stencil7_matrix, stencil7_spmv


def check(name: str, got: np.ndarray, expected: np.ndarray, stats, nnz: int) -> None:
    error = np.abs(got - expected).max() / max(np.abs(expected).max(), 1e-30)
    print(f"{name}: {nnz:,} nonzeros, {stats.cycles:,} cycles, {stats.flops:,} FLOP, max relative error {error:.1e}")


def main() -> None:
    rng = np.random.default_rng(0)
    a = sp.random_array((512, 256), density=0.05, format="csr", dtype=np.float32, rng=rng)
    x = rng.random(256, dtype=np.float32)
    y, stats = spmv(a, x, pes=32)
    check("spmv 512 x 256, 32 PEs", y, a @ x, stats, a.nnz)

    b = rng.random((256, 4), dtype=np.float32)
    c, stats = spmm(a, b, pes=32)
    check("spmm with 4 right-hand sides", c, a @ b, stats, a.nnz)

    h = sp.random_array((100_000, 2_000), density=2e-6, format="csr", dtype=np.float32, rng=rng)
    xh = rng.random(2_000, dtype=np.float32)
    y, stats = hypersparse_spmv(h, xh, pes=16)
    check("hypersparse 100,000 x 2,000, 16 PEs", y, h @ xh, stats, h.nnz)

    u = rng.random((8, 8, 8), dtype=np.float32)
    lap, stats = stencil7_spmv(u, pes=16)
    check("7-point Laplacian 8^3 as SpMV, 16 PEs", lap.reshape(-1), stencil7_matrix(8, 8, 8) @ u.reshape(-1),
          stats, stencil7_matrix(8, 8, 8).nnz)

    xs = np.where(rng.random(256) < 0.1, x, 0).astype(np.float32)
    y, stats = spmspv(a, xs, pes=16)
    check(f"spmspv, x with {np.count_nonzero(xs)} nonzeros routed to 16 workers", y, a @ xs, stats, a.nnz)

    d = sp.random_array((1024, 256), density=0.1, format="csr", dtype=np.float32, rng=rng)
    xd = rng.random(256, dtype=np.float32)
    per_multiply = {}
    for name, run in (("dense", lambda r: dense_spmv(d, xd, 64, repeats=r)),
                      ("zero-skipping", lambda r: spmv(d, xd, 64, repeats=r))):
        one, three = run(1)[1].cycles, run(3)[1].cycles
        per_multiply[name] = (three - one) / 2
        print(f"{name} multiply at 10% density: {per_multiply[name]:,.0f} cycles")
    print(f"zero-skipping is {per_multiply['dense'] / per_multiply['zero-skipping']:.1f}x fewer cycles")


if __name__ == "__main__":
    main()
