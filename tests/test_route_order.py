"""Route changes run out of cycle order without racecheck (sim/route_order.py): the simulator applies a
`ws.route` when it runs it and fixes a word's path when it runs the send, so a change and a word it ran in
the other order than their cycles would give the word another route than the hardware's. Without racecheck
such a strict misorder stops the launch with a `RouteError` naming both lines and cycles and the fix (the
races racecheck='report' lists for it); a tie (change and word at one cycle) is left to racecheck; kernels
that order their changes by barriers run and give NumPy's answer, under every engine strategy.

The kernels are those of tests/test_racecheck_routes.py: a row broadcast over 3 PEs from PE 0, whose PE 1
stops forwarding east."""
from __future__ import annotations

import numpy as np
import pytest

import wafersim as ws
from conftest import line_of
from test_engine_strategies import STRATEGIES
from test_racecheck_routes import (LOOP, PADDED_CHANGE, ROUTES, async_send_first, change_first, launch, ordered,
                                   reroute_each_step, send_first, send_then_late_change, vector_send_first)
from wafersim.sim import wave
from wafersim.sim.strategy import forced

MISORDERED = [(send_first, "MARK-early-change", "MARK-late-send", True, 3),
              (change_first, "MARK-late-change", "MARK-early-send", False, 3),
              (vector_send_first, "MARK-mask-change", "MARK-vector-send", True, 24),
              (async_send_first, "MARK-async-change", "MARK-async-send", True, 24)]


def unwatched(monkeypatch) -> None:
    """Launches from now on run as the simulator did before it watched route changes without racecheck
    (no watch, no check): what it answers for a misordered kernel is not the hardware's answer."""
    monkeypatch.setattr(wave, "RouteWatch", lambda sim: None)


def launch_on(kernel, size: int, n: int = LOOP, fill: float = -1.0):
    """`kernel` without racecheck on a fresh device whose output starts as `fill`: (device array, stats)."""
    dev = ws.Device(ws.WaferSpec.preset("dev", width=8, height=4))
    out = dev.to_device(np.full(size, fill, np.float32))
    return out, kernel[1, (3, 1)](out, n, routes=ROUTES)


def test_unwatched_the_simulator_gives_another_answer_than_the_hardware(monkeypatch):
    """What the check is for: unwatched, PE 2 gets the word PE 1 no longer forwards (the hardware's PE 1
    changed its route 300 cycles before the word came), and PE 2 waits for good for the word PE 1 still
    forwards on hardware."""
    unwatched(monkeypatch)
    out, _ = launch(send_first, False)
    assert out.tolist() == [0.0, 5.0, 5.0]
    with pytest.raises(ws.DeadlockError):
        launch(change_first, False)


@pytest.mark.parametrize("kernel, change_mark, send_mark, sent_first, size", MISORDERED,
                         ids=[m[0].py_func.__name__ for m in MISORDERED])
def test_a_misordered_change_stops_the_launch_under_every_strategy(kernel, change_mark, send_mark, sent_first, size):
    try:  # the races racecheck='report' lists (on the DeadlockError where the launch then fails)
        reported = launch(kernel, "report", size=size)[1].races
    except ws.DeadlockError as deadlock:
        reported = deadlock.races
    for strategy in STRATEGIES:
        with forced(strategy), pytest.raises(ws.RouteError) as error:
            launch_on(kernel, size)
        err = error.value
        [race] = err.races
        assert race.kind == "route-change" and race.channel == 1 and race.sent_first is sent_first, strategy
        assert race.first.source[1] == line_of(kernel, change_mark) and race.first.thread_index == (1, 0)
        assert race.second.source[1] == line_of(kernel, send_mark) and race.second.thread_index == (0, 0)
        late, early = (race.second, race.first) if sent_first else (race.first, race.second)
        assert late.cycle - early.cycle > 2 * LOOP  # strictly apart: no tie
        assert err.races == reported, strategy  # the very race racecheck reports
        text = str(err)
        for side in (race.first, race.second):  # both lines and cycles, and the fix
            assert f"{side.source[0]}:{side.source[1]}" in text and f"cycle {side.cycle:,.0f}" in text
        assert "ran out of cycle order" in text and "ws.syncthreads() between the receives" in text
        assert err.state is not None  # the wave's state, as any failed launch's


def test_a_failed_launch_leaves_device_memory_as_before():
    """send_first's PEs 1 and 2 store what they receive before the wave ends: the launch fails, and the
    output is still what it was before it."""
    dev = ws.Device(ws.WaferSpec.preset("dev", width=8, height=4))
    out = dev.to_device(np.full(3, -1.0, np.float32))
    with pytest.raises(ws.RouteError) as error:
        send_first[1, (3, 1)](out, LOOP, routes=ROUTES)
    assert error.value.failure is None and error.value.__cause__ is None  # (the wave itself ran to its end)
    assert out.copy_to_host().tolist() == [-1.0, -1.0, -1.0]


def test_a_misorder_before_a_failure_is_raised_from_it():
    """change_first: the simulator routes the word by the changed route and PE 2 waits for good; the
    RouteError names the misorder and comes from the DeadlockError (`failure`, `__cause__`)."""
    with pytest.raises(ws.RouteError) as error:
        launch(change_first, False)
    assert isinstance(error.value.__cause__, ws.DeadlockError) and error.value.failure is error.value.__cause__
    assert "The launch then failed, perhaps because of them: DeadlockError" in str(error.value)
    assert error.value.state.pc((2, 0)) is not None and error.value.state.pc((0, 0)) is None  # PE 2 waits


def test_a_change_at_the_cycle_its_word_passes_is_left_to_racecheck():
    """PADDED_CHANGE: PE 1 runs k nops then the change; PE 0's word passes PE 1's router at a fixed cycle,
    the simulator runs the send first. Without racecheck, exactly the k whose change comes strictly before
    the word raise; the k whose change comes at the word's very cycle (a tie: racecheck reports it, the
    hardware may route either way) and those after it run."""
    dev = ws.Device(ws.WaferSpec.preset("dev", width=8, height=4))
    raised, ties = [], []
    for k in range(8):
        program = ws.assemble(PADDED_CHANGE.format(pad="    nop\n" * k))
        races = dev.launch(program, 1, (3, 1), [], routes=ROUTES, racecheck="report").races
        strict = [r for r in races if r.first.cycle < r.second.cycle]
        ties += [k for r in races if r.first.cycle == r.second.cycle]
        try:
            dev.launch(program, 1, (3, 1), [], routes=ROUTES)
        except ws.RouteError as error:
            assert error.races == strict
            raised.append(k)
        else:
            assert not strict
    assert len(ties) == 1 and raised == list(range(ties[0])) and raised  # every k before the tie, and only those
    # the tie runs without racecheck: the simulator's own order (the old route)
    assert dev.launch(ws.assemble(PADDED_CHANGE.format(pad="    nop\n" * ties[0])), 1, (3, 1), [],
                      routes=ROUTES).cycles > 0


def test_pairs_run_in_the_order_of_their_cycles_run_as_before():
    """No barrier, but the simulator ran the pair in the order of its cycles: the hardware's answer."""
    out, stats = launch(send_then_late_change, False)
    assert out.tolist() == [0.0, 5.0, 5.0] and stats.races == []


def test_barrier_ordered_changes_run_and_match_numpy_under_every_strategy(monkeypatch):
    expected_ordered = np.array([0.0, 5.0, 5.0, float(LOOP)], np.float32)  # the second word stops at PE 1
    partner = np.arange(6) ^ 1
    expected_steps = 3 * partner + np.arange(3).sum()  # PE x receives partner + step at each of 3 steps
    runs = []
    for strategy in STRATEGIES:
        with forced(strategy):
            out, stats = launch(ordered, False, size=4)
            np.testing.assert_array_equal(out, expected_ordered)
            dev = ws.Device(ws.WaferSpec.preset("dev", width=8, height=4, channels=4))
            steps = dev.to_device(np.zeros(6, np.int32))
            rebuilt = reroute_each_step[1, (6, 1)](steps, 3)
            np.testing.assert_array_equal(steps.copy_to_host(), expected_steps)
            runs.append((stats.cycles, rebuilt.cycles))
    assert len(set(runs)) == 1  # the same cycles under every strategy
    unwatched(monkeypatch)  # and the watch changes no cycle
    out, stats = launch(ordered, False, size=4)
    np.testing.assert_array_equal(out, expected_ordered)
    assert stats.cycles == runs[0][0]


@ws.jit
def word_ordered(out, n):
    """docs/routes.md's other order: PE 1 stops forwarding east, then sends PE 0 a word on a neighbour link;
    PE 0 broadcasts only after receiving it. No barrier: the word orders the change before the send."""
    x = ws.threadIdx.x
    if x == 0:
        ws.send(ws.RAMP, 5.0, channel=1)
        v = ws.recv(ws.EAST)
        ws.send(ws.RAMP, v + 1.0, channel=1)
    if x == 1:
        out[1] = ws.recv(ws.RAMP, channel=1)
        acc = 0.0
        for i in range(n):  # the change late in cycles, yet before the send it orders
            acc += 1.0
        ws.route(1, ws.WEST, ws.RAMP)
        ws.send(ws.WEST, 7.0)
        out[3] = ws.recv(ws.RAMP, channel=1)
    if x == 2:
        out[2] = ws.recv(ws.RAMP, channel=1)


@pytest.mark.parametrize("n", [0, LOOP])
def test_a_change_ordered_by_a_word_instead_of_a_barrier_runs_under_every_strategy(n):
    """review51b: no false RouteError for a change ordered by a word from the changing PE (plain Python's
    answer: PE 1 and 2 get the first broadcast, only PE 1 the second, 7 + 1; no word left)."""
    for strategy in STRATEGIES:
        with forced(strategy):
            out, stats = launch_on(word_ordered, 4, n, fill=0.0)
        assert out.copy_to_host().tolist() == [0.0, 5.0, 5.0, 8.0], strategy
        assert stats.words_left_in_fifos == 0, strategy
    assert launch(word_ordered, True, n=n, size=4)[1].races == []
