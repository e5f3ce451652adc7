"""Distinct values of an array, sorted, without NumPy 2's hash-based `np.unique`.

NumPy >= 2.3 answers `np.unique(values)` (no indices asked) by hashing, and its int64 hash is the value itself:
PE indices and addresses, which come in strides, fill a few buckets, and one call over a wafer's worth of PE
indices took 1.6-3.3 s (stop 47: 750,000 int64 multiples of 4096 3.5 s; a sort 0.05 s). These two sort or count
instead; `increasing` tells values that are distinct already.
"""
from __future__ import annotations

import numpy as np


def distinct(values: np.ndarray) -> np.ndarray:
    """The distinct values of `values` (flattened), sorted: `np.unique(values)` by a sort."""
    ordered = np.sort(np.ravel(values))
    if len(ordered) < 2:
        return ordered
    first = np.empty(len(ordered), dtype=bool)
    first[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=first[1:])
    return ordered[first]


def distinct_indices(indices: np.ndarray, n: int) -> np.ndarray:
    """The distinct values of `indices` (integers in [0, n)), sorted, as int64: one pass over a mask of `n`."""
    present = np.zeros(n, dtype=bool)
    present[indices] = True
    return np.flatnonzero(present)


def increasing(values: np.ndarray) -> bool:
    """Whether `values` (1-D) strictly increase (so are distinct)."""
    return values.ndim == 1 and bool((values[1:] > values[:-1]).all())
