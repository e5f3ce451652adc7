"""Sparse matrix times *sparse* vector, driven by the data that arrives: a zero of x is never sent and
never touches the matrix.

Each row of PEs has a source PE (column 0) and workers (columns 1..). The source loads x, packs its
nonzeros and sends them once, as a count and (value, index) pairs, along a routed row broadcast
(`ws.send_nonzeros(ws.RAMP, ...)`): the routers copy them to every worker of the row. A worker holds
its rows of A by column (CSC: column pointers, then (value, local row) pairs) and, for each pair that
arrives, applies column j of its rows: ``y[rows] += A[rows, j] * x_j``, one `vspfma`. Its work is the
number of nonzeros of x plus the nonzeros of A in those columns, whatever the zeros of x.
"""
from __future__ import annotations

import functools

import numpy as np
import scipy.sparse as sp

from ...compiler import intrinsics as ws
from ...errors import ArgumentError, call_checked
from ...runtime import routes
from ...runtime.device import Device
from ...runtime.jit import Dispatcher, jit
from ...sim.stats import LaunchStats
from ..hosting import Scratch, check_block_fits, fitting_device
from .layout import CODE_RESERVE_WORDS, as_csr, block_shape, dense_vector, vector_block, without_empty_sides

CHANNEL = 1  # the row broadcast of x's nonzeros


@functools.lru_cache(maxsize=None)
def spmspv_kernel(n: int, pair_words: int, rows: int) -> Dispatcher:
    """``kernel[(1, 1), (workers_per_row + 1, rows_of_pes)](colptr, pairs, x, y, workers_per_row)``, launched
    with the route ``row_broadcast(CHANNEL, root=0)``."""

    @jit(boundscheck=False)  # the column pointers and pairs are built and checked on the host
    def spmspv(colptr, pairs, x, y, workers):
        tx, ty = ws.threadIdx.x, ws.threadIdx.y
        xv = ws.local.array(n, np.float32)  # the source's x
        scratch = ws.local.array(2 * n, np.float32)  # the source's packed nonzeros
        cp = ws.local.array(n + 1, np.int32)  # a worker's column pointers into its pairs
        ap = ws.local.array(pair_words, np.int32)  # (value bits, local row) pairs, column by column
        ys = ws.local.array(rows, np.float32)
        if tx == 0:
            xv[0:n] = x[0:n]
            ws.send_nonzeros(ws.RAMP, xv, scratch, channel=CHANNEL)
        else:
            p = ty * workers + tx - 1
            cp[0:n + 1] = colptr[p, 0:n + 1]
            ap[0:pair_words] = pairs[p, 0:pair_words]
            ys[0:rows] = 0.0
            count = ws.recv(ws.RAMP, channel=CHANNEL, dtype=np.int32)
            for _ in range(count):  # one trip per nonzero of x, as it arrives
                value = ws.recv(ws.RAMP, channel=CHANNEL)
                j = ws.recv(ws.RAMP, channel=CHANNEL, dtype=np.int32)
                ws.sparse_fma(ys, ap[2 * cp[j]:2 * cp[j + 1]], value)
            y[p, 0:rows] = ys[0:rows]

    return spmspv


def column_layout(csr: sp.csr_array, workers: int) -> tuple[np.ndarray, np.ndarray, int]:
    """(colptr (workers, n + 1), pairs (workers, 2 * max nonzeros), rows per worker): worker w owns rows
    [w*R, (w+1)*R) and holds them by column; a pair is (value bits, local row)."""
    m, n = csr.shape
    rows = max(-(-m // workers), 1)
    coo = csr.tocoo()
    worker = coo.row // rows
    order = np.lexsort((coo.row, coo.col, worker))  # by worker, then column, then row
    worker, col, row, data = worker[order], coo.col[order], coo.row[order], coo.data[order]
    key = worker.astype(np.int64) * (n + 1) + col
    queries = np.arange(workers)[:, None] * (n + 1) + np.arange(n + 1)[None, :]
    start = np.searchsorted(key, np.arange(workers) * (n + 1))
    colptr = (np.searchsorted(key, queries) - start[:, None]).astype(np.int32)
    counts = np.bincount(worker, minlength=workers)
    slot = np.arange(len(worker)) - start[worker]
    pairs = np.zeros((workers, max(2 * int(counts.max(initial=0)), 2)), dtype=np.int32)
    pairs[worker, 2 * slot] = data.astype(np.float32).view(np.int32)
    pairs[worker, 2 * slot + 1] = row - worker * rows
    return colptr, pairs, rows


@call_checked
def spmspv(a, x, pes: int, device: Device | None = None, stream=None) -> tuple[np.ndarray, LaunchStats]:
    """y = A @ x for a sparse (m, n) `a` (SciPy) and a vector `x` with zeros, on `pes` worker PEs plus one
    source PE per row of PEs. Only the nonzeros of x travel and only they trigger work; a stored inf or NaN
    of A facing a zero of x makes its row NaN, as in SciPy (set on the host: that zero is never sent).
    Returns (y, stats)."""
    csr = as_csr(a)
    m, n = csr.shape
    x = np.asarray(dense_vector(x, n))  # (a SciPy sparse vector, as the sparse x this kernel is for, is taken)
    if x.ndim != 1:
        raise ArgumentError(f"x must be a vector of length {n}, got shape {x.shape}")
    csr, x = without_empty_sides(csr, vector_block(x, n, "x", f"the columns of the {m} x {n} matrix"))
    m, n = csr.shape
    x = x[:, 0]
    width, height = block_shape(pes, device, spare=1)
    workers = width * height
    colptr, pairs, rows = column_layout(csr, workers)
    device = check_block_fits(device or fitting_device(width + 1, height), width + 1, height,
                              f"spmspv on {pes} worker PEs (and a source PE a row)")
    words = 3 * n + n + 1 + pairs.shape[1] + rows  # every PE declares every array
    limit = device.spec.sram_words - CODE_RESERVE_WORDS
    if words > limit:
        raise ArgumentError(f"spmspv: a worker's column pointers ({n + 1} words), pairs ({pairs.shape[1]} words) "
                            f"and rows ({rows}), with the source's x and its packed copy ({3 * n} words), need "
                            f"{words * 4} bytes, more than the {limit * 4} bytes of a PE's "
                            f"{device.spec.sram_bytes}-byte SRAM left for data: use more PEs or a smaller n",
                            needed=words * 4, available=limit * 4)
    kernel = spmspv_kernel(n, pairs.shape[1], rows)
    with Scratch(device, stream) as mem:
        d_colptr, d_pairs, d_x = mem.put(colptr), mem.put(pairs), mem.put(np.ascontiguousarray(x))
        d_y = mem.empty((workers, rows))
        stats = kernel[(1, 1), (width + 1, height), stream](d_colptr, d_pairs, d_x, d_y, width,
                                                              routes=[routes.row_broadcast(CHANNEL, root=0)])
        y = mem.get(d_y).reshape(-1)[:m]
    return with_nonfinite_facing_zeros(csr, x, y), stats


def with_nonfinite_facing_zeros(csr: sp.csr_array, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """`y` with NaN in each row where a stored inf or NaN of A faces a zero of x. The kernel never sends x's
    zeros, so such an entry never meets its zero, but A @ x multiplies it (SciPy's `a @ x`), and inf * 0 or
    NaN * 0 is NaN, which the row's sum keeps: without this, y gave 0 or a finite sum where SciPy gives NaN."""
    nonfinite = ~np.isfinite(csr.data)
    if nonfinite.any():
        rows = np.repeat(np.arange(csr.shape[0]), np.diff(csr.indptr))[nonfinite]
        y[rows[x[csr.indices[nonfinite]] == 0]] = np.nan
    return y
