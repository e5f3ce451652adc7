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


@njit(cache=True, nogil=True)
def rank1_update_float32(sram: np.ndarray, pes: np.ndarray, d: np.ndarray, a: np.ndarray, b: np.ndarray,
                         m: int, n: int) -> None:
    """sram[d[k] + i*n + j, pes[k]] += sram[a[k] + i, pes[k]] * sram[b[k] + j, pes[k]] for every lane k,
    i < m, j < n, every operand read before any destination word is written (as NumPy does). The caller
    guarantees every span is inside `sram`."""
    lanes = len(pes)
    x = np.empty((m, lanes), dtype=np.float32)
    y = np.empty((n, lanes), dtype=np.float32)
    for k in range(lanes):
        pe = pes[k]
        for i in range(m):
            x[i, k] = sram[a[k] + i, pe]
        for j in range(n):
            y[j, k] = sram[b[k] + j, pe]
    common = True  # the usual case: one destination address for every lane
    for k in range(lanes):
        common = common and d[k] == d[0]
    for i in range(m):
        for j in range(n):
            if common:
                row = sram[d[0] + i * n + j]
                for k in range(lanes):  # (lanes innermost: consecutive PEs are neighbours in a row)
                    row[pes[k]] += x[i, k] * y[j, k]
            else:
                for k in range(lanes):
                    sram[d[k] + i * n + j, pes[k]] += x[i, k] * y[j, k]
