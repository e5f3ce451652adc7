"""Vectorised timing of a vector send or receive that moves several words per lane in one step.

Row i of every (lanes, words) array is one lane, column j its j-th word of this step; entries past a
lane's word count are computed but ignored (the recurrences only run left to right). The results equal
the per-word recurrences of the reference engine bit for bit:

- receive: word j is taken at max(taken[j-1], arrival[j]) (taken[-1] = ready): a running maximum, exact
  in any float type;
- send: word j departs at max(depart[j-1] + word_time, slot_free[j]) (depart[-1] + word_time = ready).
  With whole-cycle figures every time is an integer held exactly, so the closed form
  depart[j] = j*w + max(ready, max_{i<=j} (slot_free[i] - i*w)) (one `np.maximum.accumulate`) equals it;
  otherwise the recurrence runs column by column, in the reference's order of operations.
"""
from __future__ import annotations

import numpy as np


def receive_times(ready: np.ndarray, arrival: np.ndarray) -> np.ndarray:
    """When each word is taken: (lanes, words) from lane-aligned `ready` and the words' arrival times."""
    times = arrival.astype(np.result_type(ready, arrival), copy=True)
    np.maximum(times[:, 0], ready, out=times[:, 0])
    return np.maximum.accumulate(times, axis=1)


def send_departures(ready: np.ndarray, slot_free: np.ndarray, word_time: float, whole_cycles: bool) -> np.ndarray:
    """When each word leaves: (lanes, words) from lane-aligned `ready` and each word's slot-free time."""
    dtype = np.result_type(ready, slot_free)
    if whole_cycles:
        spacing = np.arange(slot_free.shape[1], dtype=dtype) * word_time
        shifted = slot_free - spacing
        np.maximum(shifted[:, 0], ready, out=shifted[:, 0])
        return np.maximum.accumulate(shifted, axis=1) + spacing
    depart = np.empty(slot_free.shape, dtype=dtype)
    depart[:, 0] = np.maximum(ready, slot_free[:, 0])
    for j in range(1, slot_free.shape[1]):
        depart[:, j] = np.maximum(depart[:, j - 1] + word_time, slot_free[:, j])
    return depart


def waits_added(stall: np.ndarray, later: np.ndarray, last: np.ndarray, ready_first: np.ndarray,
                count: np.ndarray, step: float, valid: np.ndarray, whole_cycles: bool) -> np.ndarray:
    """stall plus each valid word's wait later[j] - ready[j], where ready[0] = `ready_first` and
    ready[j] = later[j-1] + step; `last` is each lane's later[count - 1].

    The waits telescope to last - ready_first - (count - 1) * step, exact with whole-cycle figures;
    otherwise they are added word by word, in the reference's order of additions."""
    if whole_cycles:
        return stall + (last - ready_first - (count - 1) * step)
    ready = np.empty_like(later)
    ready[:, 0] = ready_first
    ready[:, 1:] = later[:, :-1] + step
    waits = np.where(valid, later - ready, 0.0)
    sums = np.concatenate([stall[:, None].astype(waits.dtype), waits], axis=1)
    return np.add.accumulate(sums, axis=1)[:, -1]
