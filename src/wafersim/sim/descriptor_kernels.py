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
    i < m, j < n. The caller guarantees every span is inside `sram` and that no lane's destination
    overlaps its own operands (so reading the operands while writing equals reading them first)."""
    lanes = len(pes)
    for i in range(m):
        for j in range(n):
            for k in range(lanes):  # (lanes innermost: consecutive PEs are neighbours in a row)
                pe = pes[k]
                sram[d[k] + i * n + j, pe] += sram[a[k] + i, pe] * sram[b[k] + j, pe]
