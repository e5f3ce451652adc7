"""Compiled loops of the descriptor executors (`descriptors`): a float32 rank-1 update over many lanes
whose operand addresses differ, in one pass without temporaries.

NumPy needs one call per distinct tuple of operand addresses, each gathering and scattering the whole
T x T destination of every lane (the library GEMM spends most of its time there). The loop below does
the same float32 arithmetic element by element: each product rounded to float32, then added to the
destination and rounded again (no fused multiply-add: Numba, like NumPy, leaves float32 `a * b + c` as
two rounded operations without `fastmath`), so its results equal NumPy's bit for bit.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from .fifo_kernels import lane_runs


#: Runs shorter than this on average take the per-lane loop: a run's slices cost more than its lanes save.
_SHORTEST_RUNS = 8


@njit(cache=True, nogil=True)
def rank1_update_float32(sram: np.ndarray, pes: np.ndarray, d: np.ndarray, a: np.ndarray, b: np.ndarray,
                         m: int, n: int) -> None:
    """sram[d[k] + i*n + j, pes[k]] += sram[a[k] + i, pes[k]] * sram[b[k] + j, pes[k]] for every lane k,
    i < m, j < n, every operand read before any destination word is written (as NumPy does). The caller
    guarantees every span is inside `sram`."""
    lanes = len(pes)
    x = np.empty((m, lanes), dtype=np.float32)
    y = np.empty((n, lanes), dtype=np.float32)
    # Gathered row by row (lanes innermost): consecutive PEs are neighbours in a row of `sram`, whose rows
    # are a power-of-two number of bytes apart (a lane's column would touch a cache set per word).
    for i in range(m):
        for k in range(lanes):
            x[i, k] = sram[a[k] + i, pes[k]]
    for j in range(n):
        for k in range(lanes):
            y[j, k] = sram[b[k] + j, pes[k]]
    common = True  # the usual case: one destination address for every lane
    for k in range(lanes):
        common = common and d[k] == d[0]
    runs = lane_runs(pes)
    if common and lanes >= _SHORTEST_RUNS * (len(runs) - 1):
        # Runs of consecutive PEs (a block's rows): contiguous slices whose loops LLVM vectorises (the
        # per-lane index `row[pes[k]]` would not be). Still a rounded product, then a rounded sum.
        for i in range(m):
            xr = x[i]
            for j in range(n):
                row = sram[d[0] + i * n + j]
                yr = y[j]
                for r in range(len(runs) - 1):
                    k0 = runs[r]
                    length = runs[r + 1] - k0
                    target = row[pes[k0]:pes[k0] + length]
                    xs = xr[k0:k0 + length]
                    ys = yr[k0:k0 + length]
                    for t in range(length):
                        target[t] += xs[t] * ys[t]
    elif common:
        for i in range(m):
            for j in range(n):
                row = sram[d[0] + i * n + j]
                for k in range(lanes):
                    row[pes[k]] += x[i, k] * y[j, k]
    else:
        for i in range(m):
            for j in range(n):
                for k in range(lanes):
                    sram[d[k] + i * n + j, pes[k]] += x[i, k] * y[j, k]
