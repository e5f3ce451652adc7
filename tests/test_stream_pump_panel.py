"""Runs of a stream pump's steady pairs in closed form per sender (`wafersim.sim.stream_pump_panel`): from states
SUMMA launches pumped from, as captured and changed (receivers' and senders' clocks moved by whole cycles,
links reserved ahead, times off whole cycles, a word arriving early), the pump with them leaves every array bit
for bit as the scheduler's steps pair by pair (`test_stream_pump_steps.reference_pump`) and as the pump without
them; they run where the pairs are steady and whole, and decline (changing nothing) where not."""
from __future__ import annotations

import numpy as np
import pytest

from wafersim.sim import stream_pump_kernels, stream_pump_panel

from test_stream_pump_steps import NAMES, assert_states_equal, captured, fresh, land_first_step, reference_pump

RUN_PANEL = ("s_pes s_base s_length s_cost s_state r_pes r_base r_length r_cost r_state word_time cycle stall progress "
             "injected sram pushed popped time_block value_block p_lane p_latency link_busy link link_lane link_offset "
             "previous by slot_free one many values departures sent count words last most low high before").split()


def panel_pairs(state: dict, monkeypatch, before_panel=None) -> tuple[tuple, list[int]]:
    """The pump's loop in Python on `state` (its compiled steps and `run_panel` called as they are): (its
    result, the pairs each `run_panel` call ran). `before_panel(arguments by name)`: called first."""
    ran: list[int] = []
    real = stream_pump_kernels.run_panel

    def counting(*args):
        if before_panel is not None:
            before_panel(dict(zip(RUN_PANEL, args)))
        result = real(*args)
        ran.append(result[0])
        return result

    monkeypatch.setattr(stream_pump_kernels, "run_panel", counting)
    try:
        result = stream_pump_kernels.pump.py_func(*(state[name] for name in NAMES))
    finally:
        monkeypatch.setattr(stream_pump_kernels, "run_panel", real)
    return result, ran


def assert_three_ways(args: tuple, change, monkeypatch) -> list[int]:
    """The pump with runs in closed form (compiled, and its loop in Python), without them, and the scheduler's
    steps, from `args` changed by `change(state)`: the same pairs, status and arrays. Returns the pairs of the
    Python loop's `run_panel` calls."""
    states = [fresh(args) for _ in range(4)]
    for state in states:
        change(state)
    with_runs, python_loop, without, want = states
    without["panel_runs"] = False
    expected = reference_pump(want)
    for state in (with_runs, without):
        assert stream_pump_kernels.pump(*(state[name] for name in NAMES))[:2] == expected
        assert_states_equal(state, want)
    result, ran = panel_pairs(python_loop, monkeypatch)
    assert result[:2] == expected
    assert_states_equal(python_loop, want)
    return ran


@pytest.fixture(scope="module")
def summa_states():
    """Pump calls of SUMMA launches: panels of 8 x 8 words through 16-deep FIFOs (4 pairs), of 6 x 6 through
    4-deep (9), of 5 x 5 through 3-deep (the last pair one word)."""
    monkeypatch = pytest.MonkeyPatch()
    try:
        return [args for config in [(4, 8, None), (4, 6, 4), (3, 5, 3)] for args in captured(*config, monkeypatch)]
    finally:
        monkeypatch.undo()


def test_runs_in_closed_form_in_summa_launches(summa_states, monkeypatch):
    """As captured: runs in closed form take every steady pair (the first too: its receive starts the receivers'
    transfers with the words the senders' step before held, `Strategy.pump_first_step`), bit for bit as the steps
    pair by pair; and every pair after the first where that step stored its words (its receive reads them)."""
    total = 0
    for args in summa_states:
        ran = assert_three_ways(args, lambda state: None, monkeypatch)
        total += sum(ran)
        pairs, _ = reference_pump(fresh(args))
        assert len(args[NAMES.index("first_sent")])  # (as the FAST strategy captures them)
        assert sum(ran) == pairs

        def stored(state):
            land_first_step(state)

        assert sum(assert_three_ways(args, stored, monkeypatch)) == max(pairs - 1, 0)
    assert total > 20


def test_moved_clocks(summa_states, monkeypatch):
    """Receivers' transfer clocks moved by different whole numbers of cycles (some after every arrival: the
    slots' free times then the receivers', not the departures), senders' clocks too."""
    rng = np.random.default_rng(7)
    total = 0
    for args in summa_states:
        for seed in range(3):
            moves = rng.integers(0, 60, size=(2, 4096)).astype(np.float64)

            def change(state, moves=moves):
                r_pes, s_pes = state["r_pes"], state["s_pes"]
                state["r_state"][2, r_pes] += moves[0, r_pes]
                state["s_state"][2, s_pes] += moves[1, s_pes]

            total += sum(assert_three_ways(args, change, monkeypatch))
    assert total > 20


def test_times_off_whole_cycles_run_pair_by_pair(summa_states, monkeypatch):
    """Receivers' clocks half a cycle off, after every arrival (so they stay so: exactness not known): no run in
    closed form, the same arrays."""
    for args in summa_states[:6]:
        def change(state):
            state["r_state"][2, state["r_pes"]] += 10000.5

        assert sum(assert_three_ways(args, change, monkeypatch)) == 0


def changed_before_first_run(args: tuple, change, monkeypatch) -> tuple[list[int], tuple, tuple]:
    """The pump's loop in Python from `args` with `change(state)` made just before its first `run_panel` call,
    and the scheduler's steps with the same change before the same pair: (the runs' pairs, the two results),
    their arrays compared. ([], ...) where no run was tried."""
    got, want = fresh(args), fresh(args)
    got["most"] = want["most"] = 1000  # (a run's `most` then tells the pair it starts at)
    at: list[int] = []

    def first_only(run):
        if not at:
            at.append(1000 - run["most"])
            change(run)

    result, ran = panel_pairs(got, monkeypatch, first_only)
    if not at:
        return [], result, result
    stepped = _reference_with(want, at[0], change)
    assert result[:2] == stepped
    assert_states_equal(got, want)
    return ran, result, stepped


def _reference_with(state: dict, at: int, change) -> tuple[int, int]:
    """`reference_pump` with `change(state)` before pair `at` (`most` pairs at most)."""
    most = state["most"]
    state["most"] = at
    pairs, status = reference_pump(state)
    assert (pairs, status) == (at, stream_pump_kernels.STOPPED)
    change(state)
    state["most"] = most - at
    more, status = reference_pump(state)
    return pairs + more, status


def test_links_reserved_ahead(summa_states, monkeypatch):
    """Before the first run in closed form, every link of a sender reserved until after its next words would
    leave (the run waits for them, per sender), or just one of its links (not the same for all: the run
    declines); the scheduler's steps changed alike before the same pair."""
    waited = declined = 0
    for args in summa_states:
        s = fresh(args)
        link, link_lane = s["link"], s["link_lane"]
        if not len(link):
            continue
        for every in (True, False):
            def reserve(state, every=every):
                for e in np.flatnonzero(link_lane == link_lane[0])[: None if every else 1]:
                    state["link_busy"][1, link[e]] += 40.0

            ran, _, _ = changed_before_first_run(args, reserve, monkeypatch)
            if ran:
                waited += every and ran[0] > 0
                declined += not every and ran[0] == 0
    assert waited and declined


def test_a_word_arriving_early(summa_states, monkeypatch):
    """A receiver's last arrival moved past the next word's before a run: the run's check finds it (it
    declines), the pump's steps then report it (EARLY) with the scheduler's state."""
    early = 0
    for args in summa_states:
        def change(state):
            state["previous"][state["r_pes"][-1]] += 1e6

        ran, result, _ = changed_before_first_run(args, change, monkeypatch)
        if ran:
            assert ran[0] == 0 and result[1] == stream_pump_kernels.EARLY
            early += 1
    assert early


def test_panel_applies():
    """Senders that are also receivers, a sender without receivers, a fractional word time: declined."""
    pes = np.arange(6, dtype=np.int64)
    assert stream_pump_panel.panel_applies(pes[:2], pes[2:], np.array([0, 0, 1, 1]), 1.0, 6)
    assert not stream_pump_panel.panel_applies(pes[:2], pes[1:], np.array([0, 0, 1, 1, 1]), 1.0, 6)
    assert not stream_pump_panel.panel_applies(pes[:2], pes[2:], np.array([0, 0, 0, 0]), 1.0, 6)
    assert not stream_pump_panel.panel_applies(pes[:2], pes[2:], np.array([0, 0, 1, 1]), 0.5, 6)
