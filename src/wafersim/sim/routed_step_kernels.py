"""A routed vector send's step in one compiled call (`RoutedExchangeMixin._routed_stream_step`).

A multicast panel (the library GEMM's SUMMA) streams as `depth`-word steps of the same senders, thousands of
receivers each; with `Strategy.routed_steps` each step is half a dozen compiled passes (`fifo_kernels`) with
some twenty NumPy operations on lane-sized arrays between them, whose Python costs as much as the passes.
`Strategy.fused_routed_step` runs them as one call in the common case (whole-cycle times, single-block FIFO
fields, a value ring as deep as the FIFO, no trace): the same passes in the same order, and between them the
NumPy path's arithmetic in its operand types and order of operations, each result stored with the same
rounding, so FIFOs, times, statistics and link reservations are bit-identical.

Numba caches this file's machine code with the `fifo_kernels` passes compiled in, and re-compiles it only when
this file changes (`compiled.numba_cache` says the same of the interpreter): after a change to those passes,
drop this file's entries in the cache (or change this file) to run the new ones.
"""
from __future__ import annotations

import numpy as np
from .compiled.jit import njit

from .fifo_kernels import (deliver_segments, gather_word_runs, receiver_segments, routed_arrivals, share_links,
                           slot_free_of_segments, whole_cycle_departures)


@njit(cache=True, nogil=True)
def routed_send_step(pes: np.ndarray, done: np.ndarray, count: np.ndarray, base: np.ndarray, cost: float,
                     word_time: float, cycle: np.ndarray, stall: np.ndarray, progress: np.ndarray,
                     injected: np.ndarray, sram: np.ndarray, pushed: np.ndarray, time_block: np.ndarray,
                     value_block: np.ndarray, dest: np.ndarray, lane: np.ndarray, latency: np.ndarray,
                     by_dest: np.ndarray, by_lane: np.ndarray, by_latency: np.ndarray, link_busy: np.ndarray,
                     link: np.ndarray, link_lane: np.ndarray, link_offset: np.ndarray, previous: np.ndarray,
                     by: np.ndarray, slot_free: np.ndarray) -> tuple[np.ndarray, bool]:
    """One step of the lanes `pes` (count[i] > 0 words each, done[i] moved before): every word's departure
    (waiting for its slot at every receiver, then for the links of its path), the receivers' books and
    FIFOs, the senders' clocks, stalls, progress and injected words. `slot_free`: a (lanes, words) zero array
    of the times' type. Returns the departures (lanes, words) and True; False where a word would arrive
    before one queued earlier at its receiver (`routed_arrivals`): the receivers' books, FIFOs and senders
    then unchanged, the links already reserved (as on the NumPy path; the caller raises the RouteError)."""
    lanes, words = slot_free.shape
    ready = np.empty(lanes)
    for i in range(lanes):  # (`cycle[pes] + np.where(done == 0, cost, 0.0)`)
        ready[i] = np.float64(cycle[pes[i]]) + (cost if done[i] == 0 else 0.0)
    by_word = np.empty(len(by_dest), dtype=np.int64)
    for e in range(len(by_dest)):
        by_word[e] = np.int64(pushed[by_dest[e]])
    segments = receiver_segments(by_dest, by_lane, by_word)  # (once for both passes over the receivers)
    free = slot_free_of_segments(time_block, segments, by_lane, by_latency, by_word, lanes, words)
    # `send_departures` with whole cycles: word j leaves at j*w + the running maximum of slot_free - j*w
    # (from `ready`), the slot times first rounded to the times' type as `np.maximum(slot_free, free, out=)`.
    later = np.empty((lanes, words))
    for i in range(lanes):
        for j in range(words):
            slot_free[i, j] = free[i, j] if free[i, j] > 0.0 else 0.0
        whole_cycle_departures(slot_free, i, words, ready[i], word_time, later)
    first, last = np.empty(lanes), np.empty(lanes)
    for i in range(lanes):
        first[i], last[i] = later[i, 0], later[i, count[i] - 1]
    if len(link_lane):
        delay = share_links(link_busy, link, link_lane, link_offset, first, last, word_time, lanes)
    else:
        delay = np.zeros(lanes)
    for i in range(lanes):
        for j in range(words):
            later[i, j] += delay[i]
    starts = np.empty(lanes, dtype=np.int64)
    for i in range(lanes):
        starts[i] = base[i] + done[i]
    values = gather_word_runs(sram, starts, pes, count, words)
    if routed_arrivals(previous, by, pushed, dest, lane, pes, later, count, latency) >= 0:
        return later, False
    deliver_segments(time_block, value_block, segments, by_lane, by_latency, by_word, values, later, count)
    for i in range(lanes):
        pe = pes[i]
        end = later[i, count[i] - 1]
        # (`waits_added` with whole cycles: the waits telescope)
        stall[pe] = np.float64(stall[pe]) + (end - ready[i] - np.float64(count[i] - 1) * word_time)
        cycle[pe] = end + word_time
        progress[pe] += count[i]
        injected[pe] += count[i]
    return later, True
