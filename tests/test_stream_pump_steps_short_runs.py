"""`stream_pump_steps.SHORT_RUN`: receiver runs shorter than it walked by index, longer ones through slices of the
FIFO rows; both give what a plain-Python walk of every receiver entry gives (split from test_stream_pump_steps.py)."""
from __future__ import annotations

import numpy as np
import pytest

from wafersim.sim import stream_pump_steps


def random_receivers(rng: np.random.Generator, n_pes: int, lanes: int, depth: int):
    """Receivers in PE order for `pe_segments`: runs of 1-12 consecutive PEs (so 7, 8 and 9 among them, and runs at
    the region's first and last PE), each run fed by one sender (stride 0) or by senders 1 or 2 lanes apart, at a
    word number of its own (so a run's slots start anywhere in the ring and wrap); gaps of PEs without a route."""
    p_dest, p_lane, pushed = [], [], np.zeros(n_pes, dtype=np.int64)
    pe = 0 if rng.random() < 0.5 else int(rng.integers(0, 3))
    while pe < n_pes:
        size = min(int(rng.choice([1, 2, 3, 6, 7, 8, 9, 12])), n_pes - pe)
        step = int(rng.choice([0, 1, 2]))
        lane0 = int(rng.integers(0, max(lanes - step * (size - 1), 1)))
        pushed[pe:pe + size] = rng.integers(0, 3 * depth)
        p_dest += range(pe, pe + size)
        p_lane += [lane0 + step * t for t in range(size)]
        pe += size + int(rng.integers(0, 3))
    return np.array(p_dest, dtype=np.int64), np.array(p_lane, dtype=np.int64), pushed


SHORT_RUN_SEEDS = range(6)


def test_the_random_receivers_have_runs_of_7_8_and_9_of_each_kind():
    """The receivers `test_short_runs_walked_by_index_give_what_slices_give` draws hold runs just shorter than,
    as long as and longer than `SHORT_RUN` (8), of one sender and of a sender per PE, and runs at the last PE."""
    seen, at_edge = set(), False
    for seed in SHORT_RUN_SEEDS:
        p_dest, p_lane, pushed = random_receivers(np.random.default_rng(seed), 96, 40, 5)
        for first, end, pe, step, _ in stream_pump_steps.pe_segments(p_dest, p_lane, pushed):
            seen.add((int(end - first), bool(step == 0)))
            at_edge = at_edge or pe + end - first == 96
    assert {(size, one) for size in (7, 8, 9) for one in (True, False)} <= seen and at_edge


@pytest.mark.parametrize("seed", SHORT_RUN_SEEDS)
def test_short_runs_walked_by_index_give_what_slices_give(seed, monkeypatch):
    """`SHORT_RUN`: the four passes over receiver runs (`_slot_free_one`/`_many`, `_deliver_one`/`_many` with its
    even case `_deliver_rows`) give the same maxima and the same FIFO words and times whether every run is walked by
    index (SHORT_RUN huge), every run through slices (SHORT_RUN 0), or as compiled (runs of 7 by index, 8 and 9 by
    slices); some senders send fewer words than others (a receiver FIFO's run of words cut short mid-run)."""
    rng = np.random.default_rng(seed)
    n_pes, lanes, depth, words = 96, 40, 5, 4
    p_dest, p_lane, pushed = random_receivers(rng, n_pes, lanes, depth)
    p_latency = rng.integers(1, 30, len(p_dest)).astype(np.float64) + 0.5
    segments = stream_pump_steps.pe_segments(p_dest, p_lane, pushed)
    one, many = segments[segments[:, 3] == 0], segments[segments[:, 3] != 0]
    time_block = rng.random((depth, n_pes)) * 100
    value_block = rng.random((depth + 1, n_pes)).astype(np.float32)
    values = rng.random((words, lanes)).astype(np.float32)
    departures = rng.random((words, lanes)) * 100
    counts = {"all": np.full(lanes, words, dtype=np.int64), "cut": rng.integers(1, words + 1, lanes)}
    names = ("_slot_free_one", "_slot_free_many", "_deliver_one", "_deliver_many", "_deliver_rows")

    def passes(short_run: int | None) -> list[np.ndarray]:
        with monkeypatch.context() as patch:
            if short_run is not None:  # (the passes as Python, reading SHORT_RUN as they run)
                patch.setattr(stream_pump_steps, "SHORT_RUN", short_run)
                for name in names:
                    patch.setattr(stream_pump_steps, name, getattr(stream_pump_steps, name).py_func)
            free = np.full((words, lanes), -np.inf)
            stream_pump_steps._slot_free_one(free, time_block, one, p_lane, p_latency)
            stream_pump_steps._slot_free_many(free, time_block, many, p_lane, p_latency)
            got = [free]
            for count in counts.values():
                times, fifo = time_block.copy(), value_block.copy()
                stream_pump_steps._deliver_one(times, fifo, one, p_lane, p_latency, values, departures, count)
                stream_pump_steps._deliver_many(times, fifo, many, p_lane, p_latency, values, departures, count)
                got += [times, fifo]
            return got

    # The reference: plain Python over each receiver entry (the slots it reads and writes, word by word).
    first_slot = {g: int(row[4]) % depth for g, row in enumerate(segments)}
    free = np.full((words, lanes), -np.inf)
    expected = []
    for j in range(words):
        for g, (first, end, pe, step, _) in enumerate(segments):
            slot = (first_slot[g] + j) % depth
            for t in range(end - first):
                lane = p_lane[first] if step == 0 else p_lane[first] + t * step
                free[j, lane] = max(free[j, lane], time_block[slot, pe + t] - p_latency[first + t])
    expected.append(free)
    for count in counts.values():
        times, fifo = time_block.copy(), value_block.copy()
        for j in range(words):
            for g, (first, end, pe, step, word) in enumerate(segments):
                for t in range(end - first):
                    lane = p_lane[first] + t * step
                    if j < count[lane]:
                        fifo[(word + j) % (depth + 1), pe + t] = values[j, lane]
                        times[(word + j) % depth, pe + t] = departures[j, lane] + p_latency[first + t]
        expected += [times, fifo]
    for short_run in (None, 0, 1 << 30):
        for got, want in zip(passes(short_run), expected, strict=True):
            np.testing.assert_array_equal(got, want)
