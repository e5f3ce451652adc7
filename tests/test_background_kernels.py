"""The compiled step of background receives (`wafersim.sim.background_kernels`) against a plain-Python
transcription of the NumPy path's arithmetic, lane by lane: lanes in step (one slot, row and count: whole
rows, a loop per run of consecutive PEs) and lanes at different words, rows and counts."""
from __future__ import annotations

import numpy as np
import pytest

from wafersim.sim import background_kernels as bk

rng = np.random.default_rng(5)
PES, DEPTH, WORDS = 48, 6, 40


def reference_step(pes, base, length, progress, cycle, stall, state, pushed, popped, time_block, value_block, sram,
                   cost, whole_cycles):
    """One `recva` step, a lane at a time (`background._background` and `exchange._stream_bulk`)."""
    depth, value_depth = time_block.shape[0], value_block.shape[0]
    finished, moved = np.zeros(len(pes), bool), np.zeros(len(pes), bool)
    for i, pe in enumerate(pes):
        if progress[pe] == 0:
            state[0, pe], state[1, pe] = cycle[pe], stall[pe]
            cycle[pe] = max(float(cycle[pe]), float(state[2, pe]) - cost)  # (the issue overlaps the one before)
        else:
            cycle[pe] = state[2, pe]
        done = int(progress[pe])
        count = min(int(length[i]) - done, int(pushed[pe]) - int(popped[pe]))
        moved[i] = count > 0
        if count > 0:
            ready = float(cycle[pe]) + (cost if done == 0 else 0.0)
            latest, waits = ready, float(stall[pe])
            for j in range(count):
                number = int(popped[pe]) + j
                arrival = float(time_block[number % depth, pe])
                before = latest
                latest = max(latest, arrival)
                waits += latest - before
                sram[base[i] + done + j, pe] = value_block[number % value_depth, pe]
                time_block[number % depth, pe] = latest
            popped[pe] += count
            stall[pe] = float(stall[pe]) + (latest - ready) if whole_cycles else waits
            cycle[pe] = latest
            progress[pe] += count
        finished[i] = progress[pe] >= length[i]
        if finished[i]:
            progress[pe] = 0
        state[2, pe] = cycle[pe]
        cycle[pe] = state[0, pe] + cost
        stall[pe] = state[1, pe]
        if not finished[i] and progress[pe] == 0:
            cycle[pe] = state[0, pe]
            state[2, pe] += cost  # (the end of the transfer before, where the retry finds it)
    return finished, moved


def machine(layout: str, time_dtype, value_depth: int):
    """Inputs of a step: lanes of 8-PE runs in step, or scattered lanes at their own words."""
    if layout in ("in step", "posted early"):
        pes = np.concatenate([np.arange(0, 8), np.arange(9, 25), np.arange(30, 46)])
    else:
        pes = np.sort(rng.choice(PES, 20, replace=False))
    pes = pes.astype(np.int64)
    lanes = len(pes)
    # (int32 counters, as the engine keeps them: `wave.progress`, the fabric's pushed and popped; int64 would be a
    # signature of `background_receive_step` compiled for the tests alone)
    progress = np.zeros(PES, np.int32)
    popped = np.full(PES, 2 * DEPTH + 1, np.int32)
    pushed = popped + (DEPTH - 1 if layout != "posted early" else 0)  # (posted early: no word sent yet)
    base, length = np.full(lanes, 3, np.int64), np.full(lanes, 12, np.int64)
    if layout == "scattered":
        progress[pes] = rng.integers(0, 5, lanes)
        popped[pes] = rng.integers(0, 30, lanes)
        pushed[pes] = popped[pes] + rng.integers(0, DEPTH + 1, lanes)
        base = rng.integers(0, 10, lanes).astype(np.int64)
        length = progress[pes] + rng.integers(1, 10, lanes)
    times = (rng.integers(0, 90, (DEPTH, PES)) + (0.0 if time_dtype == np.float32 else 0.375)).astype(time_dtype)
    return dict(pes=pes, base=base, length=length, progress=progress,
                cycle=rng.integers(0, 60, PES).astype(time_dtype), stall=rng.integers(0, 9, PES).astype(time_dtype),
                state=np.where(rng.random((3, PES)) < 0.5, -np.inf, rng.integers(0, 80, (3, PES))).astype(np.float64),
                pushed=pushed, popped=popped, time_block=times,
                value_block=rng.integers(-99, 99, (value_depth, PES)).astype(np.int32),
                sram=np.zeros((WORDS, PES), np.int32))


@pytest.mark.parametrize("layout", ["in step", "scattered", "posted early"])
@pytest.mark.parametrize("time_dtype, whole_cycles", [(np.float32, True), (np.float64, False)])
@pytest.mark.parametrize("value_depth", [DEPTH, DEPTH + 2])
def test_background_receive_step_matches_the_lane_by_lane_arithmetic(layout, time_dtype, whole_cycles, value_depth):
    """("posted early": every lane starts its transfer and no word has come, the step's shortcut)"""
    inputs = machine(layout, time_dtype, value_depth)
    expected = {name: np.copy(value) for name, value in inputs.items()}
    ref_finished, ref_moved = reference_step(**expected, cost=2.0, whole_cycles=whole_cycles)
    lanes = len(inputs["pes"])
    finished, moved = np.empty(lanes, bool), np.empty(lanes, bool)
    status = bk.background_receive_step(*inputs.values(), 2.0, whole_cycles, finished, moved)
    assert status == bk.DONE
    np.testing.assert_array_equal(finished, ref_finished)
    np.testing.assert_array_equal(moved, ref_moved)
    assert moved.any() == (layout != "posted early")
    for name, value in inputs.items():
        np.testing.assert_array_equal(value, expected[name], err_msg=name)


@pytest.mark.parametrize("layout", ["in step", "scattered", "posted early"])
def test_a_step_reads_bases_and_lengths_from_register_rows(layout):
    """`registers_receive_step`: the step with each lane's base and length read from int32 register rows (the
    `recva`'s registers a and b, indexed by PE), and the lanes that took a word and that finished counted."""
    inputs = machine(layout, np.float32, DEPTH)
    expected = {name: np.copy(value) for name, value in inputs.items()}
    ref_finished, ref_moved = reference_step(**expected, cost=2.0, whole_cycles=True)
    pes = inputs["pes"]
    rows = rng.integers(-5, 5, (2, PES)).astype(np.int32)  # (other PEs' registers: never read)
    rows[0, pes], rows[1, pes] = inputs.pop("base"), inputs.pop("length")
    finished, moved = np.empty(len(pes), bool), np.empty(len(pes), bool)
    status, took, done = bk.registers_receive_step(pes, rows[0], rows[1], *list(inputs.values())[1:], 2.0, True,
                                                   finished, moved)
    assert (status, took, done) == (bk.DONE, ref_moved.sum(), ref_finished.sum())
    np.testing.assert_array_equal(finished, ref_finished)
    np.testing.assert_array_equal(moved, ref_moved)
    for name, value in inputs.items():
        np.testing.assert_array_equal(value, expected[name], err_msg=name)


def test_a_transfer_outside_sram_changes_nothing():
    inputs = machine("in step", np.float32, DEPTH)
    inputs["base"][3] = WORDS - 2
    before = {name: np.copy(value) for name, value in inputs.items()}
    lanes = len(inputs["pes"])
    status = bk.background_receive_step(*inputs.values(), 2.0, True, np.empty(lanes, bool), np.empty(lanes, bool))
    assert status == bk.FALL_BACK
    for name, value in inputs.items():
        np.testing.assert_array_equal(value, before[name], err_msg=name)
