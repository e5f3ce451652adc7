"""Compiled whole transfers of a dense lockstep group (`stream_rows`): every word of a `sendv` / `recvv` in one call.

The lanes are the window positions 0 .. m - 1 of a sender (receiver) window starting at PE `src_lo` (`dst_lo`),
less the window positions `excluded` (a complement group's few PEs). Each lane runs the same recurrence as the
word-by-word rows (`ExchangeMixin._push_rows` / `_pop_rows`): a sender's word k departs at
max(depart_(k-1) + word_time, its slot's time) (depart_(-1) + word_time = cycle + cost) and arrives a hop
later; a receiver takes word k at max(taken_(k-1), its arrival) (taken_(-1) = cycle + cost). Times are whole
numbers of cycles (`WaveSim.whole_times`), so float64 sums are exact and stored into float32 rows unchanged:
the same times as NumPy's rows. Each lane's last departure (taken time) is returned for the caller's clocks and
stalls (excluded lanes' entries are meaningless: their slots and words are kept). One pass over the rows instead
of a NumPy pass a row and operation (`sendv` of 16 words by 992 PEs: ~10 passes of 16 rows).
"""
from __future__ import annotations

import numpy as np

from .compiled.jit import njit


@njit(cache=True, nogil=True)
def send_rows(times: np.ndarray, values: np.ndarray, sram: np.ndarray, cycle: np.ndarray, src_lo: int,
              dst_lo: int, m: int, excluded: np.ndarray, first: int, length: int, base: int, cost: float,
              word_time: float, hop: np.ndarray, hop_per_pe: bool) -> np.ndarray:
    """Push words first .. first + length - 1 from SRAM rows base .. of senders src_lo + i into the slot rows of
    `times` ((depth, PEs)) and `values` ((value depth, PEs)) of receivers dst_lo + i; hop[i] (`hop_per_pe`) or
    hop[0] is the link latency. Returns each lane's last departure."""
    depth, value_depth = times.shape[0], values.shape[0]
    depart = cycle[src_lo:src_lo + m].astype(np.float64) + cost
    latency = hop if hop_per_pe else np.full(m, hop[0])
    kept_time, kept_value = np.empty(len(excluded), times.dtype), np.empty(len(excluded), values.dtype)
    for k in range(length):  # (word by word, lanes innermost: rows are a power-of-two stride apart)
        slot, value_slot = (first + k) % depth, (first + k) % value_depth
        time_row, value_row = times[slot, dst_lo:dst_lo + m], values[value_slot, dst_lo:dst_lo + m]
        words = sram[base + k, src_lo:src_lo + m]
        for j in range(len(excluded)):  # (excluded lanes' entries put back below: the loop runs unmasked)
            kept_time[j], kept_value[j] = time_row[excluded[j]], value_row[excluded[j]]
        step = word_time if k else 0.0
        for i in range(m):
            free = np.float64(time_row[i])
            ready = depart[i] + step
            depart[i] = free if free > ready else ready
            time_row[i] = depart[i] + latency[i]
            value_row[i] = words[i]
        for j in range(len(excluded)):
            time_row[excluded[j]], value_row[excluded[j]] = kept_time[j], kept_value[j]
    return depart


@njit(cache=True, nogil=True)
def receive_rows(times: np.ndarray, values: np.ndarray, sram: np.ndarray, cycle: np.ndarray, lo: int, m: int,
                 excluded: np.ndarray, first: int, length: int, base: int, cost: float) -> np.ndarray:
    """Pop words first .. first + length - 1 of receivers lo + i into their SRAM rows base ..; each slot's time
    becomes its word's taken time. Returns each lane's last taken time."""
    depth, value_depth = times.shape[0], values.shape[0]
    taken = cycle[lo:lo + m].astype(np.float64) + cost
    kept_time, kept_word = np.empty(len(excluded), times.dtype), np.empty(len(excluded), sram.dtype)
    for k in range(length):  # (word by word, lanes innermost, as in `send_rows`)
        slot, value_slot = (first + k) % depth, (first + k) % value_depth
        time_row, value_row, words = times[slot, lo:lo + m], values[value_slot, lo:lo + m], sram[base + k, lo:lo + m]
        for j in range(len(excluded)):
            kept_time[j], kept_word[j] = time_row[excluded[j]], words[excluded[j]]
        for i in range(m):
            arrival = np.float64(time_row[i])
            if arrival > taken[i]:
                taken[i] = arrival
            time_row[i] = taken[i]
            words[i] = value_row[i]
        for j in range(len(excluded)):
            time_row[excluded[j]], words[excluded[j]] = kept_time[j], kept_word[j]
    return taken
