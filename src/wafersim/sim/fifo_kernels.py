"""Compiled gathers and scatters of runs of FIFO slots and SRAM words, one run per lane.

A vector transfer of L lanes moving W words each reads and writes (L, W) entries of (slots, PEs) arrays.
NumPy's two-array fancy indexing (and the boolean selections of the valid entries before it) cost several
times what these loops do; they move the same entries (of two writes to one entry the later one in row-major
(lane, word) order wins, as in NumPy's assignment), converting values as NumPy's assignment does, so the
results are identical. Every loop runs word by word with the lanes innermost: rows of a field are 4 * PEs
bytes apart, and lanes in lockstep then read and write each row contiguously instead of touching a row per
word (rows a power-of-two stride apart share cache sets).
"""
from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def gather_slot_runs(block: np.ndarray, slots: np.ndarray, pes: np.ndarray) -> np.ndarray:
    """out[i, j] = block[slots[i, j], pes[i]]."""
    lanes, words = slots.shape
    out = np.empty((lanes, words), dtype=block.dtype)
    for j in range(words):
        for i in range(lanes):
            out[i, j] = block[slots[i, j], pes[i]]
    return out


@njit(cache=True, nogil=True)
def scatter_slot_runs(block: np.ndarray, slots: np.ndarray, pes: np.ndarray, values: np.ndarray,
                      counts: np.ndarray) -> None:
    """block[slots[i, j], pes[i]] = values[i, j] for j < counts[i] (each (slot, PE) written at most once:
    a lane's run of slots is shorter than the ring, and lanes are distinct PEs)."""
    lanes, words = slots.shape
    for j in range(words):
        for i in range(lanes):
            if j < counts[i]:
                block[slots[i, j], pes[i]] = values[i, j]


@njit(cache=True, nogil=True)
def gather_word_runs(sram: np.ndarray, first: np.ndarray, pes: np.ndarray, counts: np.ndarray,
                     words: int) -> np.ndarray:
    """out[i, j] = sram[first[i] + j, pes[i]] for j < counts[i], zero after: (lanes, words)."""
    out = np.zeros((len(pes), words), dtype=sram.dtype)
    for j in range(words):
        for i in range(len(pes)):
            if j < counts[i]:
                out[i, j] = sram[first[i] + j, pes[i]]
    return out


@njit(cache=True, nogil=True)
def scatter_word_runs(sram: np.ndarray, first: np.ndarray, pes: np.ndarray, counts: np.ndarray,
                      values: np.ndarray) -> None:
    """sram[first[i] + j, pes[i]] = values[i, j] for j < counts[i] (distinct lanes: distinct PEs)."""
    for j in range(values.shape[1]):
        for i in range(len(pes)):
            if j < counts[i]:
                sram[first[i] + j, pes[i]] = values[i, j]


@njit(cache=True, nogil=True)
def receive_slot_runs(time_block: np.ndarray, value_block: np.ndarray, sram: np.ndarray, pes: np.ndarray,
                      first_word: np.ndarray, ready: np.ndarray, counts: np.ndarray, first_row: np.ndarray,
                      words: int) -> np.ndarray:
    """A bulk receive of counts[i] words by each lane i (distinct PEs) from its own FIFO
    (`exchange._stream_bulk`): word j (number first_word[i] + j) is taken at max(taken[j - 1], its arrival)
    (taken[-1] = ready[i]), its value goes to SRAM word first_row[i] + j, and its slot's time becomes the
    take time. Returns the take times, (lanes, words) float64; entries past a lane's count repeat its last
    take (callers ignore them)."""
    depth, value_depth = time_block.shape[0], value_block.shape[0]
    lanes = len(pes)
    taken = np.empty((lanes, words), dtype=np.float64)
    latest = ready.copy()
    slot, value_slot = first_word % depth, first_word % value_depth  # (then stepped: no divisions)
    for j in range(words):
        for i in range(lanes):
            if j < counts[i]:
                pe = pes[i]
                arrival = np.float64(time_block[slot[i], pe])
                if arrival > latest[i]:
                    latest[i] = arrival
                sram[first_row[i] + j, pe] = value_block[value_slot[i], pe]
                time_block[slot[i], pe] = latest[i]
                slot[i] = slot[i] + 1 if slot[i] + 1 < depth else 0
                value_slot[i] = value_slot[i] + 1 if value_slot[i] + 1 < value_depth else 0
            taken[i, j] = latest[i]
    return taken


@njit(cache=True, nogil=True)
def routed_slot_free(time_block: np.ndarray, dest: np.ndarray, lane: np.ndarray, latency: np.ndarray,
                     first_word: np.ndarray, lanes: int, words: int) -> np.ndarray:
    """out[lane[e], j] = max over the receivers e of a lane of (the time of the slot word first_word[e] + j
    takes at dest[e]) - latency[e], -inf for none: when each word of a routed send may leave so that it
    reaches every receiver after the word `depth` ahead of it was popped there (`routed`)."""
    depth = time_block.shape[0]
    out = np.full((lanes, words), -np.inf)
    first_slot = first_word % depth
    for j in range(words):  # (words <= depth: a slot index wraps at most once)
        for e in range(len(dest)):
            slot = first_slot[e] + j
            if slot >= depth:
                slot -= depth
            free = time_block[slot, dest[e]] - latency[e]
            if free > out[lane[e], j]:
                out[lane[e], j] = free
    return out


@njit(cache=True, nogil=True)
def routed_deliver(time_block: np.ndarray, value_block: np.ndarray, dest: np.ndarray, lane: np.ndarray,
                   latency: np.ndarray, first_word: np.ndarray, values: np.ndarray, departures: np.ndarray,
                   counts: np.ndarray) -> None:
    """Write the first counts[lane[e]] words of each receiver e's sender into its FIFO (receivers distinct):
    values, and the arrival times departure + latency[e] (`routed`)."""
    depth, value_depth = time_block.shape[0], value_block.shape[0]
    first_slot, first_value_slot = first_word % depth, first_word % value_depth
    for j in range(values.shape[1]):  # (counts <= the queues the rings hold: an index wraps at most once)
        for e in range(len(dest)):
            row = lane[e]
            if j < counts[row]:
                pe = dest[e]
                slot, value_slot = first_slot[e] + j, first_value_slot[e] + j
                if slot >= depth:
                    slot -= depth
                if value_slot >= value_depth:
                    value_slot -= value_depth
                value_block[value_slot, pe] = values[row, j]
                time_block[slot, pe] = departures[row, j] + latency[e]
