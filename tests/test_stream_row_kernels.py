"""`sim.stream_row_kernels`: whole lockstep transfers in one compiled call, against the word-by-word recurrence
written out in plain Python (a sender's word waits for its slot, a receiver's for its arrival)."""
from __future__ import annotations

import numpy as np
import pytest

from wafersim.sim import stream_row_kernels as kernels


def _state(rng, dtype, depth=8, value_depth=8, pes=12, words=10):
    times = rng.integers(0, 60, (depth, pes)).astype(dtype)
    values = rng.integers(-99, 99, (value_depth, pes)).astype(np.int32)
    sram = rng.integers(-99, 99, (words, pes)).astype(np.int32)
    cycle = rng.integers(0, 40, pes).astype(dtype)
    return times, values, sram, cycle


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("per_pe", [False, True])
def test_send_rows_follow_the_word_by_word_recurrence(dtype, per_pe):
    rng = np.random.default_rng(3)
    times, values, sram, cycle = _state(rng, dtype)
    src_lo, dst_lo, m, first, length, base, cost, word_time = 1, 3, 9, 13, 6, 2, 2.0, 3.0  # (slots wrap: 13 % 8)
    excluded = np.array([0, 4], dtype=np.int64)
    hop = rng.integers(1, 5, m).astype(np.float64) if per_pe else np.array([2.0])
    want_times, want_values = times.copy(), values.copy()
    want_last = np.empty(m)
    for i in range(m):
        s, d = src_lo + i, dst_lo + i
        depart = float(cycle[s]) + cost
        if i in excluded:
            want_last[i] = depart
            continue
        for k in range(length):
            slot = (first + k) % len(times)
            depart = max(depart + (word_time if k else 0.0), float(times[slot, d]))
            want_times[slot, d] = depart + (hop[i] if per_pe else hop[0])
            want_values[(first + k) % len(values), d] = sram[base + k, s]
        want_last[i] = depart
    last = kernels.send_rows(times, values, sram, cycle, src_lo, dst_lo, m, excluded, first, length, base, cost,
                             word_time, hop, per_pe)
    lanes = np.setdiff1d(np.arange(m), excluded)  # (excluded lanes' last times are meaningless)
    np.testing.assert_array_equal(last[lanes], want_last[lanes])
    np.testing.assert_array_equal(times, want_times)
    np.testing.assert_array_equal(values, want_values)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_receive_rows_follow_the_word_by_word_recurrence(dtype):
    rng = np.random.default_rng(4)
    times, values, sram, cycle = _state(rng, dtype, value_depth=4)
    lo, m, first, length, base, cost = 2, 10, 6, 4, 3, 1.0  # (value slots wrap: a ring of 4)
    excluded = np.array([9], dtype=np.int64)
    want_times, want_sram = times.copy(), sram.copy()
    want_last = np.empty(m)
    for i in range(m):
        p = lo + i
        taken = float(cycle[p]) + cost
        if i not in excluded:
            for k in range(length):
                slot = (first + k) % len(times)
                taken = max(taken, float(times[slot, p]))
                want_times[slot, p] = taken
                want_sram[base + k, p] = values[(first + k) % len(values), p]
        want_last[i] = taken
    last = kernels.receive_rows(times, values, sram, cycle, lo, m, excluded, first, length, base, cost)
    lanes = np.setdiff1d(np.arange(m), excluded)
    np.testing.assert_array_equal(last[lanes], want_last[lanes])
    np.testing.assert_array_equal(times, want_times)
    np.testing.assert_array_equal(sram, want_sram)
