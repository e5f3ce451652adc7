"""`LockstepRowsMixin._never_waits`: its answer against the per-lane test it bounds (a lane's slot time no later
than its clock plus the cost), and its choice of bound: the whole window first, the runs of `_BOUND_RUN` lanes
after it failed, and the whole window tried again 1, 2, 4, ... tests after each failure (stop 52)."""
from __future__ import annotations

import numpy as np
import pytest

from wafersim.sim import lockstep_rows
from wafersim.sim.lanes import Lanes
from wafersim.sim.lockstep_rows import LockstepRowsMixin

RUN = lockstep_rows._BOUND_RUN
N = 3 * RUN + 100  # (three whole runs and a short one)


class _Sim(LockstepRowsMixin):
    """The two attributes `_never_waits` reads of a wave."""

    def __init__(self, cycle: np.ndarray) -> None:
        self.cycle = cycle
        self.wide_bound_failed: dict[int, tuple[int, int]] = {}


def _drifting(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Clocks that rise by 1,000 cycles a run, and slot times each under its own lane's clock: every run's bound
    holds, the whole window's does not."""
    cycle = (np.arange(N) // RUN * 1000.0 + rng.integers(0, 3, N)).astype(np.float32)
    return cycle, cycle - rng.integers(0, 3, N).astype(np.float32)


@pytest.mark.parametrize("excluded", [None, np.arange(7, N, 757)])
def test_never_waits_answers_as_the_lanes_do(excluded: np.ndarray | None) -> None:
    """Whatever bound it takes, True only where no lane's slot time is past its clock plus the cost, and True
    wherever the whole window's latest time is no later than its earliest clock plus the cost. Excluded lanes'
    entries (huge times) are neither read as lanes' nor changed."""
    rng = np.random.default_rng(52)
    lanes = Lanes(N, excl=excluded)
    inside = np.ones(N, dtype=bool) if excluded is None else ~np.isin(np.arange(N), excluded)
    for trial in range(60):
        cycle, times = _drifting(rng) if trial % 3 else (np.full(N, 500.0, np.float32), np.full(N, 497.0, np.float32))
        if trial % 4 == 1:  # one lane's word arrives late
            late = int(rng.choice(np.flatnonzero(inside)))
            times[late] = cycle[late] + 10
        if excluded is not None:
            times[excluded] = 1e9
        sim, before = _Sim(cycle), (cycle.copy(), times.copy())
        answer = sim._never_waits(lanes, lanes, times, 3.0, object())
        waits = bool((times[inside] > cycle[inside] + np.float32(3.0)).any())
        assert not (answer and waits)
        if times[inside].max() <= cycle[inside].min() + 3.0:
            assert answer
        if not waits:  # (drifting clocks: the runs' bounds hold)
            assert answer
        assert np.array_equal(cycle, before[0]) and np.array_equal(times, before[1])


def test_whole_window_tried_again_after_failures(monkeypatch: pytest.MonkeyPatch) -> None:
    """Drifting clocks: the whole window is tried at tests 1, 3, 6, 11 (then skipped 1, 2, 4, 8 times), each
    failing; once the clocks are alike again, the next try holds and every later test takes the whole window
    only. A FIFO whose whole-window bound failed more often than it held keeps skipping: one success takes
    one failure off."""
    sizes: list[int | None] = []
    real = Lanes.chunk_extremes

    def recorded(self: Lanes, arr: np.ndarray, largest: bool, size: int | None = RUN) -> np.ndarray:
        if largest:  # (one entry a bound: the slot times' reduction)
            sizes.append(size)
        return real(self, arr, largest, size)

    monkeypatch.setattr(Lanes, "chunk_extremes", recorded)
    rng = np.random.default_rng(7)
    lanes, fifo = Lanes(N), object()
    cycle, times = _drifting(rng)
    sim = _Sim(cycle)
    whole_tries = []
    for test in range(1, 16):
        sizes.clear()
        assert sim._never_waits(lanes, lanes, times, 3.0, fifo)
        if sizes[0] is None:
            whole_tries.append(test)
    assert whole_tries == [1, 3, 6, 11]
    assert sim.wide_bound_failed[id(fifo)] == (4, 4)  # (skips 8 - 4 left, four failures in a row)
    sim.cycle = np.full(N, 500.0, np.float32)
    uniform_times = np.full(N, 499.0, np.float32)
    paths = []
    for _ in range(8):
        sizes.clear()
        assert sim._never_waits(lanes, lanes, uniform_times, 3.0, fifo)
        paths.append(tuple(sizes))
    # four more tests by runs, then the whole window holds: one failure fewer each time, the entry gone at one
    assert paths[:4] == [(RUN,)] * 4
    assert paths[4:] == [(None,)] * 4
    assert id(fifo) not in sim.wide_bound_failed


def test_parts_testing_one_fifo_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Parts of one receive on the engine's threads test the same FIFO at once (`parallel`): a test that starts
    while another is between reading and writing the FIFO's entry (here: run inside the first one's reduction)
    gives the same answer, and neither fails for the entry the other removed."""
    rng = np.random.default_rng(3)
    lanes, fifo = Lanes(N), object()
    cycle, times = _drifting(rng)
    sim = _Sim(cycle)
    assert sim._never_waits(lanes, lanes, times, 3.0, fifo)  # (the whole window fails once: an entry)
    assert sim._never_waits(lanes, lanes, times, 3.0, fifo)  # (by runs: its one skip used)
    assert sim.wide_bound_failed[id(fifo)] == (0, 1)
    sim.cycle = np.full(N, 500.0, np.float32)
    uniform_times = np.full(N, 499.0, np.float32)
    real, inner = Lanes.chunk_extremes, []

    def interleaved(self: Lanes, arr: np.ndarray, largest: bool, size: int | None = RUN) -> np.ndarray:
        if not inner:  # (the other part's whole test, while this one is inside its first reduction)
            inner.append(None)
            inner[0] = sim._never_waits(lanes, lanes, uniform_times, 3.0, fifo)
        return real(self, arr, largest, size)

    monkeypatch.setattr(Lanes, "chunk_extremes", interleaved)
    assert sim._never_waits(lanes, lanes, uniform_times, 3.0, fifo)
    assert inner == [True]
    assert id(fifo) not in sim.wide_bound_failed


def _runs_hold(cycle: np.ndarray, times: np.ndarray, inside: np.ndarray, cost: float) -> bool:
    """Plain slices: in every run of `RUN` window positions (the last one short), the latest slot time of its
    lanes inside the group no later than their earliest clock plus `cost` (float32, as the clocks); True for a
    run with no lane inside."""
    for start in range(0, len(cycle), RUN):
        run = slice(start, start + RUN)
        kept = inside[run]
        if kept.any() and times[run][kept].max() > cycle[run][kept].min() + np.float32(cost):
            return False
    return True


@pytest.mark.parametrize("excluded", [None, np.arange(5, N, 311), np.arange(RUN, 2 * RUN)])
def test_never_waits_answers_the_runs_bound_whatever_the_fifos_history(excluded: np.ndarray | None) -> None:
    """review53: one wave (its hint state kept) testing two FIFOs through 240 random tests: clocks alike, drifting,
    drifting with one late lane, or alike with one late lane, in random order, so that each FIFO's entry in
    `wide_bound_failed` is made, counted up and down and removed on the way. Every answer is the runs' bound
    exactly (the whole window's bound implies it: which one is tried is a hint, never the answer), against plain
    slices; a whole run excluded (the third case) leaves the bound of the others."""
    rng = np.random.default_rng(53)
    lanes = Lanes(N, excl=excluded)
    inside = np.ones(N, dtype=bool) if excluded is None else ~np.isin(np.arange(N), excluded)
    sim = _Sim(np.zeros(N, np.float32))
    fifos = (object(), object())
    entries_seen, answers = set(), []
    for _ in range(240):
        shape = int(rng.integers(0, 4))
        if shape in (0, 3):
            cycle = np.full(N, 500.0, np.float32)
            times = cycle - rng.integers(0, 3, N).astype(np.float32)
        else:
            cycle, times = _drifting(rng)
        if shape >= 2:  # (one lane's word late: by runs too, the bound fails)
            late = int(rng.choice(np.flatnonzero(inside)))
            times[late] = cycle[late] + 10
        if excluded is not None:
            times[excluded] = 1e9
            cycle[excluded] = -1e9
        sim.cycle = cycle
        fifo = fifos[int(rng.integers(0, 2))]
        answer = sim._never_waits(lanes, lanes, times, 3.0, fifo)
        assert answer == _runs_hold(cycle, times, inside, 3.0)
        answers.append(answer)
        entries_seen.update(sim.wide_bound_failed.values())
    assert True in answers and False in answers
    assert any(left for left, _ in entries_seen) and any(failures > 2 for _, failures in entries_seen)
