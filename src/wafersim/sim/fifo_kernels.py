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
