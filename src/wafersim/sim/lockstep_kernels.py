"""Compiled passes of the lockstep rows (`exchange`, "lockstep rows"): a dense group's scalar receive in one pass.

A lockstep receive of a whole dense group (every lane pops the same word number of a FIFO) ran as NumPy calls over
the group's window: two chunked reductions to show that no lane waits for its word (`ExchangeMixin._never_waits`),
the slot times written (when each slot was freed: the lane's clock plus the issue), and the word row copied into
the destination register, each a pass over rows of ~754k PEs in a whole-wafer stencil, with the few PEs outside
the group saved and put back around each. `receive_row` does all three in one pass, PE by PE: the slot time
becomes max(clock + issue, arrival), as the general path writes it (the clock + issue where no lane waits, the
never-wait path's value), and it reports whether some lane waited (its word arrived after it was ready): the
caller then writes the clocks and stalls as the general path does. The float operations are the NumPy path's
(the issue added to the clock in the clocks' type), so every value is bit for bit the same; PEs outside the group
are skipped (`outside`, sorted window positions).
"""
from __future__ import annotations

import numpy as np

from .compiled.jit import njit


@njit(cache=True, nogil=True)
def receive_row(cycle: np.ndarray, times: np.ndarray, words: np.ndarray, destination: np.ndarray,
                outside: np.ndarray, cost) -> bool:
    """Over window rows of a dense group (`outside`: the sorted positions of the PEs not in it, left as they are):
    times = max(cycle + cost, times) (`cost` in the clocks' type), destination = words; returns whether some lane's
    word arrived after that lane was ready (times > cycle + cost before).

    The lanes between two positions of `outside` are one run, passed as slices: a loop over a slice from 0 has
    no negative index to wrap and no exclusion to test per lane, so LLVM vectorises it (the loop over the whole
    row testing each lane against the next exclusion ran at about a third of the speed: 0.46 against 0.14 ms over
    754k lanes)."""
    waited = False
    lo = 0
    for e in range(len(outside) + 1):
        hi = outside[e] if e < len(outside) else len(times)
        if hi > lo:
            waited |= _receive_run(cycle[lo:hi], times[lo:hi], words[lo:hi], destination[lo:hi], cost)
        lo = max(lo, hi + 1)
    return waited


@njit(cache=True, nogil=True, inline="always")
def _receive_run(cycle: np.ndarray, times: np.ndarray, words: np.ndarray, destination: np.ndarray, cost) -> bool:
    """`receive_row` over one run of lanes, all in the group (a select, not a branch: vectorised)."""
    waited = False
    for i in range(len(times)):
        ready = cycle[i] + cost
        arrival = times[i]
        late = arrival > ready
        waited |= late
        times[i] = arrival if late else ready
    for i in range(len(times)):  # (apart: the arrays may alias as far as LLVM knows, which stops it vectorising both)
        destination[i] = words[i]
    return waited
