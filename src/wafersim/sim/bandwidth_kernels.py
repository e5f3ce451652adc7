"""A compiled pass for the bandwidth's order (`sim.bandwidth.prefix_bytes`) without a sort.

At a wave's end every PE's store is settled at once: for each access, the bytes of the accesses of a key
(issue cycle, PE) <= its own. A sort of ~750,000 keys costs NumPy 10-25 ms (their runs, one a row of PEs,
take timsort many merges). But the accesses of a group arrive by PE, and issue cycles are few small
integers: the bytes of the cycles before an access's are a running sum over a histogram of cycles, and
within its cycle, where the accesses of each cycle arrive by increasing PE, those of a smaller PE are
exactly those of its cycle met before it. Two passes over the accesses, a table of one entry a cycle.
"""
from __future__ import annotations

import numpy as np

from .compiled.jit import njit


@njit(cache=True, nogil=True)
def cycle_prefix_bytes(issue: np.ndarray, first: float, span: int, pe: np.ndarray, nbytes: np.ndarray,
                       through: np.ndarray) -> bool:
    """Into `through`: for each access (issue cycles, of `first` + [0, span); PE indices; `nbytes` each one's
    bytes, or one count for all when of length 1), the bytes of the accesses of a key (cycle, PE) <= its own.
    False (`through` partly written) where an issue cycle is not `first` plus a whole number, or the
    accesses of some cycle do not arrive by strictly increasing PE (a key repeated, or groups interleaved):
    the caller then sorts."""
    count = len(issue)
    step = 1 if len(nbytes) > 1 else 0
    before = np.zeros(span + 1, dtype=np.int64)  # bytes of each cycle, then of the cycles before it
    last_pe = np.full(span, -1, dtype=np.int64)  # the last PE met at each cycle
    for i in range(count):
        offset = issue[i] - first
        cycle = np.int64(offset)
        if cycle != offset or pe[i] <= last_pe[cycle]:
            return False
        last_pe[cycle] = pe[i]
        before[cycle + 1] += nbytes[i * step]
        through[i] = cycle  # (until the second pass)
    for cycle in range(span):
        before[cycle + 1] += before[cycle]
    for i in range(count):  # (`before[c]` moves on by each access of cycle c met)
        cycle = through[i]
        before[cycle] += nbytes[i * step]
        through[i] = before[cycle]
    return True
