"""Scalar send and receive of a whole group in one compiled pass (Numba), on both cores.

The NumPy path of `exchange` (`_push`, `_pop`) makes about a dozen passes over per-PE arrays for one
scalar send or receive (the ready time, the slot's time, the departure, the stall, the counters, each a
temporary). Here each lane's word is moved and timed in one loop iteration, the loop split into chunks
that Numba runs on all cores (`parallel=True`; `NUMBA_NUM_THREADS=1` keeps it on one). Every lane does
the same float operations in the same order as the NumPy path, in the same dtype (times are float32 or
float64 arrays and the costs are cast to their dtype first), so results and cycle counts are
bit-identical; tests/test_fused_exchange.py runs kernels both ways.

A group takes this path when every lane moves its FIFO's word of the same number (one time slot and
one value slot for all, the lockstep case) and has room (send) or a word (receive); otherwise, or
under a tracer, `exchange` falls back to the NumPy path, which splits the group.

Lanes are passed as runs of consecutive region indices (`segments`): a group in full or complement
form is a few long runs, an index-form group one run per lane; Numba runs the runs on all cores.
A send's receiver is the sender's index plus `shift`.
"""
from __future__ import annotations

import contextlib
from typing import Iterator

import numpy as np

from .lanes import Lanes

try:
    import numba
except ImportError:  # the NumPy path serves every launch
    numba = None

CHUNK = 1 << 15  # the longest run one task takes (longer ones are split, for the other cores)
PARALLEL_LANES = 1 << 16  # smaller groups run on one thread: starting the others costs more than it saves
_enabled = [numba is not None]


def available() -> bool:
    """Whether the compiled path is in use (Numba installed, not switched off by `disabled`)."""
    return _enabled[-1]


@contextlib.contextmanager
def disabled() -> Iterator[None]:
    """Run launches inside the block on the NumPy path only (differential tests, benchmarks)."""
    _enabled.append(False)
    try:
        yield
    finally:
        _enabled.pop()


def segments(lanes: Lanes) -> tuple[np.ndarray, np.ndarray]:
    """(starts, stops) of the runs of consecutive region indices that make up a group."""
    if lanes.idx is not None:
        starts = lanes.idx.astype(np.int64, copy=False)
        return starts, starts + 1
    base = 0 if lanes.window is None else lanes.window.start
    if lanes.mask is not None:  # run boundaries: where the mask changes
        edges = np.flatnonzero(np.diff(lanes.mask.view(np.int8), prepend=np.int8(0), append=np.int8(0)))
        starts, stops = edges[0::2], edges[1::2]
    elif lanes.excl is not None:
        starts, stops = np.r_[0, lanes.excl + 1], np.r_[lanes.excl, lanes.n]
        keep = stops > starts
        starts, stops = starts[keep], stops[keep]
    else:
        starts, stops = np.zeros(1, dtype=np.int64), np.full(1, lanes.n, dtype=np.int64)
    pieces = (stops - starts + CHUNK - 1) // CHUNK
    if (pieces > 1).any():  # split long runs, so that every core gets a share
        first = np.repeat(starts, pieces) + CHUNK * (np.arange(int(pieces.sum())) - np.repeat(np.cumsum(pieces) - pieces, pieces))
        stops = np.minimum(first + CHUNK, np.repeat(stops, pieces))
        starts = first
    return starts.astype(np.int64, copy=False) + base, stops.astype(np.int64, copy=False) + base


# ----------------------------------------------------------------------------- kernels (plain Python here)
def _check(starts, stops, shift, counter, other, word, sending, depth):
    """Over the FIFOs at lane + shift: (how many lanes' next word is not number `word` or have no room
    (sending) / no word (receiving), the most words queued at any of them)."""
    bad = 0
    most = 0
    for r in numba.prange(len(starts)):
        for pe in range(starts[r], stops[r]):
            owner = pe + shift
            queued = counter[owner] - other[owner] if sending else other[owner] - counter[owner]
            if counter[owner] != word or (queued >= depth if sending else queued <= 0):
                bad += 1
            most = max(most, queued)
    return bad, most


def _push(starts, stops, shift, cycle, stall, values, time_row, value_row, pushed, cost, latency, word_time):
    """Each lane sends values[lane] to its receiver's (lane + shift) FIFO slots `time_row`/`value_row`:
    it leaves once ready and once the word `depth` ahead has left the slot, and arrives `latency` later."""
    for r in numba.prange(len(starts)):
        for src in range(starts[r], stops[r]):
            dst = src + shift
            ready = cycle[src] + cost
            depart = max(ready, time_row[dst])
            value_row[dst] = values[src]
            time_row[dst] = depart + latency
            pushed[dst] += 1
            stall[src] += depart - ready
            cycle[src] = depart + word_time


def _pop(starts, stops, cycle, stall, time_row, value_row, popped, dest, cost):
    """Each lane takes the word in its FIFO slot once ready and once the word has arrived; into `dest`
    (a register row) unless `dest` is empty (r0)."""
    write = len(dest) > 0
    for r in numba.prange(len(starts)):
        for pe in range(starts[r], stops[r]):
            ready = cycle[pe] + cost
            taken = max(ready, time_row[pe])
            if write:
                dest[pe] = value_row[pe]
            time_row[pe] = taken
            popped[pe] += 1
            stall[pe] += taken - ready
            cycle[pe] = taken


_KERNELS: dict[tuple[str, bool], object] = {}


def _kernel(name: str, parallel: bool):
    """The compiled kernel `name`, multi-threaded or not (compiled on first use, cached on disk)."""
    key = (name, parallel)
    if key not in _KERNELS:
        function = {"check": _check, "push": _push, "pop": _pop}[name]
        _KERNELS[key] = numba.njit(cache=True, parallel=parallel, nogil=True)(function)
    return _KERNELS[key]


# ----------------------------------------------------------------------------- entry points for `exchange`
def try_push(lanes: Lanes, shift: int, fifo, cycle: np.ndarray, stall: np.ndarray, values: np.ndarray, cost: float,
             latency: float, word_time: float) -> bool:
    """Send one word per lane of `lanes` (senders; receivers at + `shift`) in one pass, if every receiver's
    FIFO has room and is at the same word number; False (nothing done) otherwise."""
    starts, stops = segments(lanes)
    parallel = lanes.count >= PARALLEL_LANES
    word = int(fifo.pushed[starts[0] + shift])
    bad, most = _kernel("check", parallel)(starts, stops, shift, fifo.pushed, fifo.popped, word, True, fifo.depth)
    if bad:
        return False
    if fifo.shallow:
        fifo.make_room(int(most) + 1)
    dtype = cycle.dtype.type
    _kernel("push", parallel)(starts, stops, shift, cycle, stall, values,
                              fifo.time[word % fifo.depth], fifo.value[int(fifo.value_slots(word))], fifo.pushed,
                              dtype(cost), dtype(latency), dtype(word_time))
    return True


def try_pop(lanes: Lanes, fifo, cycle: np.ndarray, stall: np.ndarray, dest: np.ndarray | None, cost: float) -> bool:
    """Receive one word per lane into `dest` (None: discard) in one pass, if every lane's FIFO holds a word
    and is at the same word number; False (nothing done) otherwise."""
    starts, stops = segments(lanes)
    parallel = lanes.count >= PARALLEL_LANES
    word = int(fifo.popped[starts[0]])
    bad, _ = _kernel("check", parallel)(starts, stops, 0, fifo.popped, fifo.pushed, word, False, fifo.depth)
    if bad:
        return False
    _kernel("pop", parallel)(starts, stops, cycle, stall, fifo.time[word % fifo.depth],
                             fifo.value[int(fifo.value_slots(word))], fifo.popped,
                             _NO_DEST if dest is None else dest, cycle.dtype.type(cost))
    return True


_NO_DEST = np.zeros(0, dtype=np.int32)
