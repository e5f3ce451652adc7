"""The compiled FIFO and SRAM run movers (`wafersim.sim.fifo_kernels`) against NumPy's fancy indexing and
the timing recurrences of `wafersim.sim.streams`, on float32 and float64 times, rings deeper and shallower
than the runs, and runs that wrap around the ring."""
from __future__ import annotations

import numpy as np
import pytest

from wafersim.sim import fifo_kernels as fk
from wafersim.sim.streams import receive_times

rng = np.random.default_rng(11)
DEPTH, PES = 6, 40


def lanes_and_counts(lanes: int, words: int):
    pes = np.sort(rng.choice(PES, lanes, replace=False)).astype(np.int64)
    counts = rng.integers(0, words + 1, lanes).astype(np.int64)
    counts[0] = words  # one lane moves a full run
    return pes, counts


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32])
def test_slot_runs_gather_and_scatter_like_fancy_indexing(dtype):
    block = (rng.random((DEPTH, PES)) * 100).astype(dtype)
    pes, counts = lanes_and_counts(13, DEPTH)
    slots = (rng.integers(0, 50, len(pes))[:, None] + np.arange(DEPTH)) % DEPTH
    np.testing.assert_array_equal(fk.gather_slot_runs(block, slots, pes), block[slots, pes[:, None]])
    values = rng.random((len(pes), DEPTH)) * 100  # float64 values: converted as NumPy's assignment converts
    valid = np.arange(DEPTH) < counts[:, None]
    expected = block.copy()
    expected[slots[valid], np.repeat(pes, counts)] = values[valid]
    fk.scatter_slot_runs(block, slots, pes, values, counts)
    np.testing.assert_array_equal(block, expected)


def test_word_runs_gather_and_scatter_like_fancy_indexing():
    sram = rng.integers(-1000, 1000, (30, PES)).astype(np.int32)
    pes, counts = lanes_and_counts(9, 5)
    first = rng.integers(0, 25, len(pes)).astype(np.int64)
    valid = np.arange(5) < counts[:, None]
    rows, cols = (first[:, None] + np.arange(5))[valid], np.repeat(pes, counts)
    expected = np.zeros((len(pes), 5), np.int32)
    expected[valid] = sram[rows, cols]
    np.testing.assert_array_equal(fk.gather_word_runs(sram, first, pes, counts, 5), expected)
    values = rng.integers(-1000, 1000, (len(pes), 5)).astype(np.int32)
    target = sram.copy()
    target[rows, cols] = values[valid]
    fk.scatter_word_runs(sram, first, pes, counts, values)
    np.testing.assert_array_equal(sram, target)


@pytest.mark.parametrize("time_dtype", [np.float32, np.float64])
@pytest.mark.parametrize("value_depth", [DEPTH, 4])
def test_receive_slot_runs_take_words_like_the_numpy_receive(time_dtype, value_depth):
    words = 4  # (a shallow value ring holds every queued word: runs no longer than it)
    time_block = rng.integers(0, 60, (DEPTH, PES)).astype(time_dtype) + (0.5 if time_dtype == np.float64 else 0)
    value_block = rng.integers(-99, 99, (value_depth, PES)).astype(np.int32)
    sram = np.zeros((20, PES), np.int32)
    pes, counts = lanes_and_counts(11, words)
    first_word = rng.integers(0, 40, len(pes)).astype(np.int64)
    ready = rng.integers(0, 60, len(pes)).astype(np.float64)
    first_row = rng.integers(0, 16, len(pes)).astype(np.int64)
    numbers = first_word[:, None] + np.arange(words)
    valid = np.arange(words) < counts[:, None]
    slots = numbers % DEPTH
    expected_taken = receive_times(ready, time_block[slots, pes[:, None]])
    expected_sram, expected_times = sram.copy(), time_block.copy()
    expected_sram[(first_row[:, None] + np.arange(words))[valid], np.repeat(pes, counts)] = \
        value_block[numbers % value_depth, pes[:, None]][valid]
    expected_times[slots[valid], np.repeat(pes, counts)] = expected_taken[valid]
    taken = fk.receive_slot_runs(time_block, value_block, sram, pes, first_word, ready, counts, first_row, words)
    np.testing.assert_array_equal(np.where(valid, taken, 0), np.where(valid, expected_taken, 0))
    np.testing.assert_array_equal(sram, expected_sram)
    np.testing.assert_array_equal(time_block, expected_times)


@pytest.mark.parametrize("time_dtype", [np.float32, np.float64])
@pytest.mark.parametrize("words_at", ["scattered", "one", "two"])  # the receivers' first word numbers
@pytest.mark.parametrize("value_depth", [DEPTH, DEPTH + 3])
def test_routed_slot_free_and_delivery_match_numpy(time_dtype, words_at, value_depth):
    senders, words = 5, DEPTH
    per_sender = rng.integers(0, 7, senders)  # receivers of each sender (some none)
    per_sender[0] = 3
    lane = np.repeat(np.arange(senders), per_sender).astype(np.int64)
    dest = rng.choice(PES, len(lane), replace=False).astype(np.int64)
    latency = rng.integers(2, 9, len(lane)).astype(np.float64)
    # Scattered: the loop per receiver and word; one or two numbers (a multicast in step; the last step's
    # senders behind): the passes with the slot rows hoisted, from a number whose run wraps the ring.
    first_word = {"scattered": rng.integers(0, 40, len(lane)),
                  "one": np.full(len(lane), 2 * DEPTH + 3),
                  "two": np.where(rng.random(len(lane)) < 0.5, 2 * DEPTH + 3, DEPTH - 1)}[words_at].astype(np.int64)
    time_block = rng.integers(0, 80, (DEPTH, PES)).astype(time_dtype)
    value_block = np.zeros((value_depth, PES), np.int32)
    slots = (first_word[:, None] + np.arange(words)) % DEPTH
    value_slots = (first_word[:, None] + np.arange(words)) % value_depth
    expected_free = np.full((senders, words), -np.inf)
    np.maximum.at(expected_free, lane, time_block[slots, dest[:, None]] - latency[:, None])
    np.testing.assert_array_equal(fk.routed_slot_free(time_block, dest, lane, latency, first_word, senders, words),
                                  expected_free)
    counts = rng.integers(1, words + 1, senders).astype(np.int64)
    values = rng.integers(-99, 99, (senders, words)).astype(np.int32)
    departures = rng.integers(0, 90, (senders, words)).astype(np.float64) + 0.25
    valid = np.arange(words) < counts[lane][:, None]
    expected_times, expected_values = time_block.copy(), value_block.copy()
    expected_values[value_slots[valid], np.repeat(dest, counts[lane])] = values[lane][valid]
    expected_times[slots[valid], np.repeat(dest, counts[lane])] = (departures[lane] + latency[:, None])[valid]
    fk.routed_deliver(time_block, value_block, dest, lane, latency, first_word, values, departures, counts)
    np.testing.assert_array_equal(time_block, expected_times)
    np.testing.assert_array_equal(value_block, expected_values)


@pytest.mark.parametrize("pes", [[3], [0, 1, 2, 3], [2, 3, 4, 9, 10, 20], [5, 7, 9]])
def test_lane_runs_split_pes_into_runs_of_consecutive_ones(pes):
    pes = np.array(pes, dtype=np.int64)
    runs = fk.lane_runs(pes)
    assert runs[0] == 0 and runs[-1] == len(pes)
    for r in range(len(runs) - 1):
        run = pes[runs[r]:runs[r + 1]]
        np.testing.assert_array_equal(run, run[0] + np.arange(len(run)))
        if r:
            assert pes[runs[r]] != pes[runs[r] - 1] + 1
