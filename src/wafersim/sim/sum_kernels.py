"""Float32 sums of SRAM rows down their words, every lane at once, in one compiled pass (`vredsum`, `vdot`).

`compute._left_to_right` adds a lane-sized row a word, one NumPy call per word: a 64-word dot product of
1,024 PEs is 63 calls of ~1 us after the products' array (bicgstab7's 160 a launch, ~50 us each). Here each
lane's products (each rounded to float32) and sums (each rounded, left to right) are the same operations in the
same order, so every total that is not a NaN is bit for bit the one the NumPy path gives; which NaN a sum of
NaNs keeps is not left to this pass: `compute._first_nan_of_sums` computes those lanes again from the
operands, as it does after the NumPy path (`Strategy.compiled_sums`).
"""
from __future__ import annotations

import numpy as np

from .compiled.jit import njit


@njit(cache=True, nogil=True)
def sum_down(terms: np.ndarray) -> np.ndarray:
    """Per lane (column) of `terms` ((words >= 1, lanes) float32): ((w0 + w1) + w2) ..., each sum rounded."""
    words, lanes = terms.shape
    total = np.empty(lanes, np.float32)
    for j in range(lanes):
        total[j] = terms[0, j]
    for k in range(1, words):  # (a word's row at a time, lanes innermost: each lane's sums stay in order)
        for j in range(lanes):
            total[j] = total[j] + terms[k, j]
    return total


@njit(cache=True, nogil=True)
def dot_down(terms: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """Per lane of `terms` and `factors` ((words >= 1, lanes) float32): the products, each rounded to float32,
    summed as `sum_down` sums."""
    words, lanes = terms.shape
    total = np.empty(lanes, np.float32)
    for j in range(lanes):
        total[j] = terms[0, j] * factors[0, j]
    for k in range(1, words):
        for j in range(lanes):
            product = terms[k, j] * factors[k, j]  # (float32 by float32: a float32, rounded before the sum)
            total[j] = total[j] + product
    return total
