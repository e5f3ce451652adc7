"""A whole lockstep vector transfer (`sendv` / `recvv`) of a dense group in one compiled call: its checks and moves.

`StreamRowsMixin._stream_lockstep` with `_send_rows` / `_receive_rows` in NumPy costs ~40 NumPy calls of ~1 us
around the compiled row kernels (`stream_row_kernels`): the lanes' registers, progress and FIFO counts tested
for one common value, the FIFOs' room or words, the clocks, stalls and counts written with a complement group's
excluded entries kept. Here the same tests and writes run in one pass, the row kernels called as they are, for
a group that one thread moves (not one split over the engine's threads, `parallel`).

The lanes are the window positions 0 .. m - 1 (sender at PE `src_lo` + i, receiver at `dst_lo` + i; one window
for a receive) less the sorted positions `excluded`. Each kernel first tests what the NumPy path tests, and
returns False with nothing written where any test fails (the caller then takes that path, which decides how
to go on: the word-by-word movers, an error). Otherwise it writes exactly what that path writes, in the clocks'
type (the Python floats rounded into it as NumPy does, through `box`, four entries of that type), operation by
operation: the values, times, clocks, stalls and counts are bit for bit the same (tests/test_stream_whole.py).
"""
from __future__ import annotations

import numpy as np

from .compiled.jit import njit
from .stream_row_kernels import receive_rows, send_rows


@njit(cache=True, nogil=True)
def _common(regs: np.ndarray, ra: int, rb: int, progress: np.ndarray, counter: np.ndarray, lo: int,
            counter_lo: int, m: int, excluded: np.ndarray) -> tuple[bool, int, int, int]:
    """(whether every lane has one base (register `ra`), one length (`rb`), no words moved yet (`progress` 0)
    and one count of `counter` (at `counter_lo` + i), the base, the length, the count)."""
    base = length = count = 0
    seen = False
    j = 0
    for i in range(m):
        if j < len(excluded) and excluded[j] == i:
            j += 1
            continue
        pe = lo + i
        if progress[pe] != 0:
            return False, 0, 0, 0
        if not seen:
            base, length, count, seen = regs[ra, pe], regs[rb, pe], counter[counter_lo + i], True
        elif regs[ra, pe] != base or regs[rb, pe] != length or counter[counter_lo + i] != count:
            return False, 0, 0, 0
    return seen, base, length, count


@njit(cache=True, nogil=True)
def _clocks(cycle: np.ndarray, stall: np.ndarray, counter: np.ndarray, lo: int, counter_lo: int, m: int,
            excluded: np.ndarray, moved: np.ndarray, length: int, cost: float, sending: bool, word_time: float,
            lag: float, box: np.ndarray) -> None:
    """After the rows moved (each lane's last departure or taken time `moved`, float64): counter += length;
    in the clocks' type (`box`), ready = cycle + cost, last = moved, and where any lane waited (wait != 0
    somewhere), stall += wait over every lane (`_add_rows_stall`); a send's clock = last + word_time and wait
    = (last - lag) - ready, a receive's clock = last and wait = last - ready: the NumPy path's operations on the
    clocks' arrays and the Python floats."""
    box[0], box[1], box[2] = cost, word_time, lag
    cost_c, word_time_c, lag_c = box[0], box[1], box[2]
    waits = np.empty(m, cycle.dtype)
    waited = False
    j = 0
    for i in range(m):
        if j < len(excluded) and excluded[j] == i:
            j += 1
            continue
        box[3] = moved[i]
        last = box[3]
        ready = cycle[lo + i] + cost_c
        if sending:
            waits[i] = (last - lag_c) - ready
            cycle[lo + i] = last + word_time_c
        else:
            waits[i] = last - ready
            cycle[lo + i] = last
        if waits[i] != 0:
            waited = True
        counter[counter_lo + i] += length
    if not waited:
        return
    j = 0
    for i in range(m):
        if j < len(excluded) and excluded[j] == i:
            j += 1
            continue
        stall[lo + i] += waits[i]


@njit(cache=True, nogil=True)
def _queued_within(pushed: np.ndarray, popped: np.ndarray, lo: int, m: int, excluded: np.ndarray, least: int,
                   most: int) -> bool:
    """Whether every lane's FIFO (at `lo` + i) holds between `least` and `most` words (pushed - popped): a send's
    room for its words (at most depth - length), a receive's words there (at least length)."""
    j = 0
    for i in range(m):
        if j < len(excluded) and excluded[j] == i:
            j += 1
            continue
        queued = np.int64(pushed[lo + i]) - np.int64(popped[lo + i])
        if queued < least or queued > most:
            return False
    return True


@njit(cache=True, nogil=True)
def send_whole(regs: np.ndarray, ra: int, rb: int, progress: np.ndarray, pushed: np.ndarray, popped: np.ndarray,
               depth: int, times: np.ndarray, values: np.ndarray, sram: np.ndarray, cycle: np.ndarray,
               stall: np.ndarray, src_lo: int, dst_lo: int, m: int, excluded: np.ndarray, data_words: int,
               cost: float, word_time: float, hop: np.ndarray, hop_per_pe: bool, box: np.ndarray) -> bool:
    """A whole `sendv` of SRAM words [base, base + length) by every lane to its receiver's FIFO (`pushed`,
    `popped`, `times`, `values`: the receivers'), all lanes at word 0 of it with one base and length, every
    receiver at one word number with room for all of them; False (nothing written) otherwise."""
    ok, base, length, first = _common(regs, ra, rb, progress, pushed, src_lo, dst_lo, m, excluded)
    if not ok or length <= 0 or base < 0 or base + length > data_words:
        return False
    if not _queued_within(pushed, popped, dst_lo, m, excluded, -1, depth - length):  # (room for every word)
        return False
    depart = send_rows(times, values, sram, cycle, src_lo, dst_lo, m, excluded, first, length, base, cost,
                       word_time, hop, hop_per_pe)
    # (the clock after the last word is its departure + word_time; the wait, its departure less the lag of
    # (length - 1) words after the first's ready time: `_send_rows`)
    _clocks(cycle, stall, pushed, src_lo, dst_lo, m, excluded, depart, length, cost, True, word_time,
            (length - 1) * word_time, box)
    return True


@njit(cache=True, nogil=True)
def receive_whole(regs: np.ndarray, ra: int, rb: int, progress: np.ndarray, pushed: np.ndarray, popped: np.ndarray,
                  times: np.ndarray, values: np.ndarray, sram: np.ndarray, cycle: np.ndarray, stall: np.ndarray,
                  m: int, excluded: np.ndarray, data_words: int, cost: float, box: np.ndarray) -> bool:
    """A whole `recvv` into SRAM words [base, base + length) of every lane (PEs 0 .. m - 1, unwindowed), all at
    word 0 of it with one base and length, at one word number of their FIFO with every word there; False
    (nothing written) otherwise."""
    ok, base, length, first = _common(regs, ra, rb, progress, popped, 0, 0, m, excluded)
    if not ok or length <= 0 or base < 0 or base + length > data_words:
        return False
    if not _queued_within(pushed, popped, 0, m, excluded, length, 1 << 62):  # (every word there)
        return False
    taken = receive_rows(times, values, sram, cycle, 0, m, excluded, first, length, base, cost)
    _clocks(cycle, stall, popped, 0, 0, m, excluded, taken, length, cost, False, 0.0, 0.0, box)
    return True
