"""The order in which the compiled interpreter runs the PEs its transfers woke (`interpreter.run_group`'s work
list, `fabric_ops`' `ready`): which of them make up the next batch.

A PE's results never depend on when, in host order, it runs (`fabric_ops`: a word's times are its FIFO's), so
this order is free; it decides what stays in cache. The FIFO stacks, registers and SRAM are laid out PE-minor
(`[..., PE]`, region index y * width + x): one cache line holds a word of 16 PEs side by side in a row. A
wavefront (an LCS table, one cell per PE: each PE waits for its west and north neighbours) runs along
anti-diagonals, whose PEs share no line, and a line of 16 PEs of a row is used again at each of the 16
anti-diagonals that cross it. Taking the lowest-numbered woken PEs first (the northernmost rows, west first)
runs the rows at the top of the front ahead of the others, so that the front's lines are used again sooner.
Measured (CHANGELOG, Stop 44, lcs44): the LCS wavefront of bench/workloads_user.py, 256 x 256 PEs, takes ~15%
less process CPU time a warm launch; in `perf` (5 warm launches), the interpreter's samples fall by 23% and those
of its four hottest loads (a received word's time and value, a send's slot time, the neighbour flag: 38% of them,
latest woken first) by 40%.
"""
from __future__ import annotations

import numpy as np

from .jit import njit

#: The work list is put lowest PE first only while it holds at most this many PEs (sorting it costs per batch;
#: a long list is many independent chains, a scan along every row of a wafer, whose order matters less)...
LOWEST_FIRST_MAX = 512
#: ...and after a batch whose PEs ran at least this many instructions each on average (a wavefront of long runs,
#: the LCS's ~190 a wake, each over many lines; a scan's or a sort's few do not pay for the sort). Otherwise the
#: list stays as it is: the latest woken first. Measured: CHANGELOG, Stop 44, lcs44.
LONG_RUNS = 64


@njit(cache=True, nogil=True)
def lowest_first(ready, top, runs):
    """Reorder the work list ready[:top] (a stack: the next batch is taken from its top) so that the lowest PE
    indices are on top, when it holds at most `LOWEST_FIRST_MAX` PEs and the last batch's PEs ran `runs` >=
    `LONG_RUNS` instructions each on average."""
    if top < 2 or top > LOWEST_FIRST_MAX or runs < LONG_RUNS:
        return
    ascending = np.sort(ready[:top])
    for k in range(top):
        ready[k] = ascending[top - 1 - k]
