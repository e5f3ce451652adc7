"""The dense baseline of the sparsity benchmark: y = A @ x with every entry of A stored and multiplied.

Same partition as `spmv` (PE p owns rows [p*R, (p+1)*R)), but each PE holds its rows as a dense R x n
tile, column-major, followed by all of x, loaded with one bulk copy; it computes y with one vector fma
per column, ``ys[0:R] += tile[:, j] * x[j]`` (the `gemv` kernel's loop, four columns a trip).
With ``zero_skip=True`` the same loop asks for zero-skipping (`ws.fma_skip_zeros`: a `vfmaz` pays only
the nonzeros of its column, but the loop still visits every column).
"""
from __future__ import annotations

import functools

import numpy as np

from ...compiler import intrinsics as ws
from ...errors import ArgumentError, call_checked
from ...runtime.device import Device
from ...runtime.jit import Dispatcher, jit
from ...sim.stats import LaunchStats
from ..hosting import Scratch, check_block_fits, fitting_device, float32_input
from .layout import CODE_RESERVE_WORDS, as_csr, block_shape, check_repeats, dense_vector


@functools.lru_cache(maxsize=None)
def dense_rows_kernel(rows: int, cols: int, zero_skip: bool) -> Dispatcher:
    """The kernel for R x n tiles: ``kernel[(1, 1), (width, height)](packed, y, width, repeats)`` where row
    p of `packed` is PE p's tile (column-major) then x, and y is (pes, R)."""
    R, C, RC = rows, cols, rows * cols
    ROW = RC + cols
    unroll = 4 if C % 4 == 0 else 1
    unrolled = tuple(range(unroll))  # columns a trip (a tuple loop is unrolled)

    @jit(boundscheck=False)  # tested: every slice is a constant of the tile's shape
    def dense_rows(packed, y, width, repeats):
        px, py = ws.grid(2)
        p = py * width + px
        tile = ws.local.array(ROW, np.float32)  # column j: tile[j*R:(j+1)*R]; then x
        ys = ws.local.array(R, np.float32)
        tile[0:ROW] = packed[p, 0:ROW]
        for _ in range(repeats):
            ys[0:R] = 0.0
            jo = 0
            for j in range(0, C, unroll):
                for u in unrolled:
                    if zero_skip:
                        ws.fma_skip_zeros(ys[0:R], tile[jo + u * R:jo + u * R + R], tile[RC + j + u])
                    else:
                        ys[0:R] = tile[jo + u * R:jo + u * R + R] * tile[RC + j + u] + ys[0:R]
                jo += unroll * R
        y[p, 0:R] = ys[0:R]

    return dense_rows


@call_checked
def dense_spmv(a, x, pes: int, zero_skip: bool = False, device: Device | None = None, stream=None,
               repeats: int = 1) -> tuple[np.ndarray, LaunchStats]:
    """y = A @ x with A (SciPy sparse or dense) stored densely over `pes` PEs; see the module docstring."""
    dense = as_csr(a).toarray()
    m, n = dense.shape
    x = float32_input(dense_vector(x, n), "x")
    if x.shape != (n,):
        raise ArgumentError(f"x must be a vector of length {n} (the columns of the {m} x {n} matrix), got "
                            f"shape {x.shape}")
    repeats = check_repeats(repeats)
    width, height = block_shape(pes, device)
    total = width * height
    result_rows = m
    if m == 0 or n == 0:  # (an empty product, zeros as SciPy gives it: the kernel's arrays cannot have length 0)
        m, n = max(m, 1), max(n, 1)
        dense, x = np.zeros((m, n), dtype=np.float32), np.zeros(n, dtype=np.float32)
    rows = -(-m // total)
    device = check_block_fits(device or fitting_device(width, height), width, height, f"dense_spmv on {pes} PEs")
    words = rows * n + n + rows
    limit = device.spec.sram_words - CODE_RESERVE_WORDS
    if words > limit:
        raise ArgumentError(f"dense_spmv: a {rows} x {n} tile with x and y is {words * 4} bytes, more than the "
                            f"{limit * 4} bytes of a PE's {device.spec.sram_bytes}-byte SRAM left for data: use "
                            f"more PEs", needed=words * 4, available=limit * 4)
    padded = np.zeros((total * rows, n), dtype=np.float32)
    padded[:m] = dense
    tiles = padded.reshape(total, rows, n).transpose(0, 2, 1).reshape(total, n * rows)
    packed = np.ascontiguousarray(np.concatenate([tiles, np.broadcast_to(x, (total, n))], axis=1))
    with Scratch(device, stream) as mem:
        d_packed, d_y = mem.put(packed), mem.empty((total, rows))
        kernel = dense_rows_kernel(rows, n, bool(zero_skip))
        stats = kernel[(1, 1), (width, height), stream](d_packed, d_y, width, int(repeats))
        return mem.get(d_y).reshape(-1)[:result_rows], stats
