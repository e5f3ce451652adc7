"""Compiled gathers and scatters of runs of FIFO slots and SRAM words, one run per lane.

A vector transfer of L lanes moving W words each reads and writes (L, W) entries of (slots, PEs) arrays.
NumPy's two-array fancy indexing (and the boolean selections of the valid entries before it) cost several
times what these loops do; they move the same entries in the same order (of two writes to one entry the
later wins, as in NumPy's assignment), converting values as NumPy's assignment does, so the results are
identical.
"""
from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def gather_slot_runs(block: np.ndarray, slots: np.ndarray, pes: np.ndarray) -> np.ndarray:
    """out[i, j] = block[slots[i, j], pes[i]]."""
    lanes, words = slots.shape
    out = np.empty((lanes, words), dtype=block.dtype)
    for i in range(lanes):
        pe = pes[i]
        for j in range(words):
            out[i, j] = block[slots[i, j], pe]
    return out


@njit(cache=True, nogil=True)
def scatter_slot_runs(block: np.ndarray, slots: np.ndarray, pes: np.ndarray, values: np.ndarray,
                      counts: np.ndarray) -> None:
    """block[slots[i, j], pes[i]] = values[i, j] for j < counts[i], lane by lane."""
    for i in range(len(pes)):
        pe = pes[i]
        for j in range(counts[i]):
            block[slots[i, j], pe] = values[i, j]


@njit(cache=True, nogil=True)
def gather_word_runs(sram: np.ndarray, first: np.ndarray, pes: np.ndarray, counts: np.ndarray,
                     words: int) -> np.ndarray:
    """out[i, j] = sram[first[i] + j, pes[i]] for j < counts[i], zero after: (lanes, words)."""
    out = np.zeros((len(pes), words), dtype=sram.dtype)
    for i in range(len(pes)):
        pe = pes[i]
        for j in range(counts[i]):
            out[i, j] = sram[first[i] + j, pe]
    return out


@njit(cache=True, nogil=True)
def scatter_word_runs(sram: np.ndarray, first: np.ndarray, pes: np.ndarray, counts: np.ndarray,
                      values: np.ndarray) -> None:
    """sram[first[i] + j, pes[i]] = values[i, j] for j < counts[i], lane by lane."""
    for i in range(len(pes)):
        pe = pes[i]
        for j in range(counts[i]):
            sram[first[i] + j, pe] = values[i, j]


@njit(cache=True, nogil=True)
def receive_slot_runs(time_block: np.ndarray, value_block: np.ndarray, sram: np.ndarray, pes: np.ndarray,
                      first_word: np.ndarray, ready: np.ndarray, counts: np.ndarray, first_row: np.ndarray,
                      words: int) -> np.ndarray:
    """A bulk receive of counts[i] words by each lane i from its own FIFO (`exchange._stream_bulk`): word j
    (number first_word[i] + j) is taken at max(taken[j - 1], its arrival) (taken[-1] = ready[i]), its value
    goes to SRAM word first_row[i] + j, and its slot's time becomes the take time. Returns the take times,
    (lanes, words) float64; entries past a lane's count repeat its last take (callers ignore them)."""
    depth, value_depth = time_block.shape[0], value_block.shape[0]
    taken = np.empty((len(pes), words), dtype=np.float64)
    for i in range(len(pes)):
        pe = pes[i]
        latest = ready[i]
        for j in range(words):
            if j < counts[i]:
                number = first_word[i] + j
                slot = number % depth
                arrival = np.float64(time_block[slot, pe])
                if arrival > latest:
                    latest = arrival
                sram[first_row[i] + j, pe] = value_block[number % value_depth, pe]
                time_block[slot, pe] = latest
            taken[i, j] = latest
    return taken


@njit(cache=True, nogil=True)
def routed_slot_free(time_block: np.ndarray, dest: np.ndarray, lane: np.ndarray, latency: np.ndarray,
                     first_word: np.ndarray, lanes: int, words: int) -> np.ndarray:
    """out[lane[e], j] = max over the receivers e of a lane of (the time of the slot word first_word[e] + j
    takes at dest[e]) - latency[e], -inf for none: when each word of a routed send may leave so that it
    reaches every receiver after the word `depth` ahead of it was popped there (`routed`)."""
    depth = time_block.shape[0]
    out = np.full((lanes, words), -np.inf)
    for e in range(len(dest)):
        pe, row = dest[e], lane[e]
        for j in range(words):
            free = time_block[(first_word[e] + j) % depth, pe] - latency[e]
            if free > out[row, j]:
                out[row, j] = free
    return out


@njit(cache=True, nogil=True)
def routed_deliver(time_block: np.ndarray, value_block: np.ndarray, dest: np.ndarray, lane: np.ndarray,
                   latency: np.ndarray, first_word: np.ndarray, values: np.ndarray, departures: np.ndarray,
                   counts: np.ndarray) -> None:
    """Write the first counts[lane[e]] words of each receiver e's sender into its FIFO: values, and the
    arrival times departure + latency[e] (`routed`)."""
    depth, value_depth = time_block.shape[0], value_block.shape[0]
    for e in range(len(dest)):
        pe, row = dest[e], lane[e]
        for j in range(counts[row]):
            number = first_word[e] + j
            value_block[number % value_depth, pe] = values[row, j]
            time_block[number % depth, pe] = departures[row, j] + latency[e]
