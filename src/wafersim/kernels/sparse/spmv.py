"""Sparse matrix times dense vector(s) on a block of PEs, multiplying only the nonzeros.

Each PE holds the nonzeros of its rows as (value, index) pairs and the window of x they touch, both
loaded with one bulk copy each, and computes its rows of y = A @ X with one `vspfma` per column of X:
y[row] += value * x[column] for every pair, ceil(nonzeros * sparse_pair_words / vector_lanes) cycles. A
zero is never stored, loaded or multiplied (docs/sparsity.md).

- `spmv(a, x, pes)`: CSR rows over PEs (PE p owns rows [p*R, (p+1)*R));
- `spmm(a, b, pes)`: the same with a dense (n, k) right-hand side, one `vspfma` per column of b;
- `hypersparse_spmv(a, x, pes)`: only the rows that have nonzeros, split over PEs by nonzero count (most
  rows empty: no PE holds or writes an empty row);
- `stencil7_matrix(nx, ny, nz)` and `stencil7_spmv(u, pes)`: the 7-point 3-D Laplacian as a sparse matrix
  (a band of x per PE, not all of it).

`repeats` runs the multiply that many times with the matrix resident in SRAM (as an iterative solver
would), so that a benchmark can time the multiply apart from loading the matrix over off-wafer links.
"""
from __future__ import annotations

import functools

import numpy as np
import scipy.sparse as sp

from ...compiler import intrinsics as ws
from ...errors import ArgumentError, call_checked
from ...runtime.device import Device
from ...runtime.jit import Dispatcher, jit
from ...sim.stats import LaunchStats
from ..hosting import Scratch, check_block_fits, fitting_device, float32_input
from .layout import (SparseLayout, as_csr, block_shape, check_repeats, dense_vector, layout_rows, nonempty_row_blocks,
                     row_blocks, vector_block, without_empty_sides)


@functools.lru_cache(maxsize=None)
def sparse_rows_kernel(pair_words: int, window: int, rows: int, rhs: int) -> Dispatcher:
    """The kernel for one layout's sizes (local-array shapes are compile-time constants).

    Launch on one block: ``kernel[(1, 1), (width, height)](pairs, x_windows, y, width, repeats)`` with the
    arrays of a `SparseLayout`; y is (pes, rhs * rows)."""
    XW, YW = rhs * window, rhs * rows

    @jit(boundscheck=False)  # every index is built and checked on the host (`layout_rows`)
    def sparse_rows(pairs, xw, y, width, repeats):
        px, py = ws.grid(2)
        p = py * width + px
        nz = ws.local.array(pair_words, np.int32)  # count, then (value, index) pairs
        xs = ws.local.array(XW, np.float32)  # the x window of each right-hand side
        ys = ws.local.array(YW, np.float32)
        nz[0:pair_words] = pairs[p, 0:pair_words]
        xs[0:XW] = xw[p, 0:XW]
        count = nz[0]
        for _ in range(repeats):
            ys[0:YW] = 0.0
            for j in range(rhs):
                ws.sparse_fma(ys[j * rows:(j + 1) * rows], nz[1:1 + 2 * count], xs[j * window:(j + 1) * window])
        y[p, 0:YW] = ys[0:YW]

    return sparse_rows


def run_layout(layout: SparseLayout, x: np.ndarray, m: int, what: str, device: Device | None, stream,
               repeats: int) -> tuple[np.ndarray, LaunchStats]:
    """Launch the sparse kernel over `layout` for the (n, k) block x; returns ((m, k) y, stats)."""
    repeats = check_repeats(repeats)
    device = check_block_fits(device or fitting_device(layout.width, layout.height), layout.width, layout.height,
                              f"{what} on {layout.pes} PEs")
    k = x.shape[1]
    layout.check_fits(device.spec, k, what)
    kernel = sparse_rows_kernel(layout.pairs.shape[1], layout.window, layout.rows, k)
    with Scratch(device, stream) as mem:
        d_pairs, d_x = mem.put(layout.pairs), mem.put(layout.x_windows(x))
        d_y = mem.empty((layout.pes, k * layout.rows))
        stats = kernel[(1, 1), (layout.width, layout.height), stream](d_pairs, d_x, d_y, layout.width, int(repeats))
        return layout.gather_rows(mem.get(d_y), m, k), stats


def one_vector(x, n: int, m: int) -> np.ndarray:
    """x (a NumPy or SciPy sparse vector) as an (n, 1) block, refusing anything but a length-n vector."""
    x = np.asarray(dense_vector(x, n))
    if x.ndim != 1:
        raise ArgumentError(f"x must be a vector of length {n}, got shape {x.shape} (spmm takes matrices)")
    return vector_block(x, n, "x", f"the columns of the {m} x {n} matrix")


def rows_over_pes(csr: sp.csr_array, b: np.ndarray, pes: int, what: str, device: Device | None, stream,
                  repeats: int) -> tuple[np.ndarray, LaunchStats]:
    """CSR rows over `pes` PEs (PE p owns rows [p*R, (p+1)*R)) times the (n, k) block b."""
    width, height = block_shape(pes, device)
    k = b.shape[1]
    csr, b = without_empty_sides(csr, b)
    row_ids, counts = row_blocks(csr.shape[0], width * height)
    y, stats = run_layout(layout_rows(csr, row_ids, counts, width, height), b, csr.shape[0], what, device, stream,
                          repeats)
    return y[:, :k], stats


@call_checked
def spmm(a, b, pes: int, device: Device | None = None, stream=None,
         repeats: int = 1) -> tuple[np.ndarray, LaunchStats]:
    """A @ B for a sparse (m, n) matrix `a` (SciPy) and a dense (n, k) `b`, CSR rows over `pes` PEs.

    Returns (the (m, k) float32 product, LaunchStats)."""
    csr = as_csr(a)
    m, n = csr.shape
    b = vector_block(b, n, "b", f"the columns of the {m} x {n} matrix")
    return rows_over_pes(csr, b, pes, "spmm", device, stream, repeats)


@call_checked
def spmv(a, x, pes: int, device: Device | None = None, stream=None,
         repeats: int = 1) -> tuple[np.ndarray, LaunchStats]:
    """y = A @ x for a sparse (m, n) matrix `a` (SciPy) and a length-n `x`, CSR rows over `pes` PEs.

    Returns (y as a float32 array of length m, LaunchStats)."""
    csr = as_csr(a)
    y, stats = rows_over_pes(csr, one_vector(x, csr.shape[1], csr.shape[0]), pes, "spmv", device, stream, repeats)
    return y[:, 0], stats


@call_checked
def hypersparse_spmv(a, x, pes: int, device: Device | None = None, stream=None,
                     repeats: int = 1) -> tuple[np.ndarray, LaunchStats]:
    """y = A @ x for a hypersparse `a` (far fewer nonzeros than rows): only rows with nonzeros are placed,
    split over `pes` PEs by nonzero count; empty rows of y are 0 without any PE holding them."""
    csr = as_csr(a)
    m, n = csr.shape
    csr, x = without_empty_sides(csr, one_vector(x, n, m))
    width, height = block_shape(pes, device)
    row_ids, counts = nonempty_row_blocks(csr, width * height)
    y, stats = run_layout(layout_rows(csr, row_ids, counts, width, height), x, m, "hypersparse_spmv", device,
                          stream, repeats)
    return y[:, 0], stats


@call_checked
def stencil7_matrix(nx: int, ny: int, nz: int) -> sp.csr_array:
    """The 7-point 3-D Laplacian on an nx x ny x nz grid (Dirichlet zero outside), as a float32 CSR matrix:
    6 on the diagonal, -1 for each of the up to six neighbours. Unknown (x, y, z) is number (z*ny + y)*nx + x."""
    for name, size in (("nx", nx), ("ny", ny), ("nz", nz)):
        if not isinstance(size, (int, np.integer)) or isinstance(size, bool) or size < 1:
            raise ArgumentError(f"{name} must be a whole number >= 1, got {size!r}")

    def line(k: int) -> sp.csr_array:
        return sp.diags_array([-np.ones(k - 1), -np.ones(k - 1)], offsets=[-1, 1], shape=(k, k))

    eye = [sp.eye_array(k) for k in (nx, ny, nz)]
    off = sp.kron(eye[2], sp.kron(eye[1], line(nx))) + sp.kron(eye[2], sp.kron(line(ny), eye[0])) \
        + sp.kron(line(nz), sp.kron(eye[1], eye[0]))
    n = nx * ny * nz
    return sp.csr_array(off + 6.0 * sp.eye_array(n), dtype=np.float32)


@call_checked
def stencil7_spmv(u: np.ndarray, pes: int, device: Device | None = None, stream=None,
                  repeats: int = 1) -> tuple[np.ndarray, LaunchStats]:
    """The 7-point Laplacian of a (nz, ny, nx) grid `u` as a sparse matrix-vector product; returns the
    (nz, ny, nx) result and LaunchStats. Each PE holds a band of x, about 2 * nx * ny words wide."""
    u = float32_input(u, "u")
    if u.ndim != 3:
        raise ArgumentError(f"u must be a 3-D (nz, ny, nx) grid, got shape {u.shape}")
    nz, ny, nx = u.shape
    y, stats = spmv(stencil7_matrix(nx, ny, nz), u.reshape(-1), pes, device, stream, repeats)
    return y.reshape(u.shape), stats
