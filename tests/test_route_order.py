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
from wafersim.sim import racecheck_routes, wave
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


PADDED_VECTOR_CHANGE = """
.name padded_vector
.sram 16
    sreg r1, tid.x
    li r6, 0
    li r7, {words}
    seqi r2, r1, 1
    bnz r2, changer
    seqi r2, r1, 0
    bz r2, listen
    sendv ramp, 1, r6, r7
    halt
changer:
{pad}
    route 1, west, ramp
    recvv ramp, 1, r6, r7
    halt
listen:
    recvv ramp, 1, r6, r7
    halt
"""


def test_a_change_while_a_vector_send_s_words_pass_raises_exactly_where_a_word_passes_after_it(monkeypatch):
    """chain52, route51's doubt: a multi-word send with a change mid-way. PADDED_CHANGE with 8 words sent as
    one slice: PE 1 stops forwarding east after k nops; the simulator runs the send first, so every word goes
    on to PE 2. docs/routes.md's timing model: the words leave one a `1 / link_words_per_cycle` apart and pass
    PE 1's router that long apart, each taking the rule in force as it passes; so on hardware every word
    passing strictly after the change stops at PE 1 (PE 2 waits for good), which the simulation does not do.
    The launch raises exactly for the k whose change comes strictly before the last word's pass, the changes
    strictly between the first and the last word's pass too: not a false error (the unwatched simulator
    delivers all 8 words to PE 2 there, where the hardware would deliver only those before the change)."""
    words = 8
    spec = ws.WaferSpec.preset("dev", width=8, height=4)
    dev = ws.Device(spec)
    program = lambda k: ws.assemble(PADDED_VECTOR_CHANGE.format(words=words, pad="    nop\n" * k))  # noqa: E731
    changes, named, raised = {}, {}, []
    for k in range(24):
        races = dev.launch(program(k), 1, (3, 1), [], routes=ROUTES, racecheck="report").races
        assert all(race.sent_first for race in races) and len(races) <= 1
        if races:
            changes[k], named[k] = races[0].first.cycle, races[0].second.cycle
        try:
            dev.launch(program(k), 1, (3, 1), [], routes=ROUTES)
        except ws.RouteError as error:
            assert error.races == races
            raised.append(k)
    p0 = named[0]  # (PE 1's first change comes before the first word passes: that word is named)
    passes = [p0 + j / spec.link_words_per_cycle for j in range(words)]
    # the word a race names passes the router after the change, or with it (a tie): the first word where the
    # change comes before it, else the last (its cycle and the message's "gets there after the change" agree)
    assert all(named[k] == (p0 if changes[k] < p0 else passes[-1]) and changes[k] <= named[k] for k in changes)
    nop = changes[1] - changes[0]
    assert nop > 0 and all(changes[k] == changes[0] + k * nop for k in changes)
    assert sorted(changes) == list(range(len(changes))) and len(changes) < 24  # the later changes: no race
    assert raised == [k for k in changes if changes[k] < passes[-1]]
    mid_way = [k for k in raised if passes[0] < changes[k] < passes[-1]]
    assert mid_way  # changes while the words pass raise, and rightly:
    unwatched(monkeypatch)
    for k in mid_way:
        assert dev.launch(program(k), 1, (3, 1), [], routes=ROUTES).words_left_in_fifos == 0  # PE 2 got all 8
        assert sum(p < changes[k] for p in passes) < words  # the hardware would forward fewer


@ws.jit
def misordered_each_step(out, steps, n):
    """`send_first` at every step of a loop: PE 1 restores the broadcast's rule between barriers, then (no
    barrier) stops forwarding early while PE 0 sends late; every word is received before the next barrier."""
    x = ws.threadIdx.x
    total = 0.0
    for step in range(steps):
        ws.syncthreads()
        if x == 1:
            ws.route(1, ws.WEST, (ws.RAMP, ws.EAST))
        ws.syncthreads()
        if x == 0:
            acc = 0.0
            for i in range(n):
                acc += 1.0
            ws.send(ws.RAMP, step + 1.0, channel=1)  # MARK-step-send
        if x == 1:
            ws.route(1, ws.WEST, ws.RAMP)  # MARK-step-change
            total += ws.recv(ws.RAMP, channel=1)
        if x == 2:
            total += ws.recv(ws.RAMP, channel=1)
    out[x] = total


@ws.jit
def changed_twice_then_sent(out, steps):
    """PE 1 stops forwarding east and then forwards again, before a barrier; PE 0 then broadcasts a word a step,
    barriers between: every word takes the rule the second change left."""
    x = ws.threadIdx.x
    if x == 1:
        ws.route(1, ws.WEST, ws.RAMP)
        ws.route(1, ws.WEST, (ws.RAMP, ws.EAST))
    total = 0.0
    for step in range(steps):
        ws.syncthreads()
        if x == 0:
            ws.send(ws.RAMP, step + 1.0, channel=1)
        else:
            total += ws.recv(ws.RAMP, channel=1)
    out[x] = total


def test_a_watch_settled_at_barriers_finds_what_the_wave_s_end_finds(monkeypatch):
    """chain52: `RouteWatch.settle` (a barrier analyses and drops the send steps whose words have passed, and
    keeps only the rule in force of the changes before) bounds the watch's memory on long kernels. With it at
    every barrier (`SETTLE_AT` 1), the races racecheck reports, the RouteError's races and a barrier-ordered
    kernel's answer and cycles are those of one analysis at the wave's end."""
    steps = 6

    def runs():
        dev = ws.Device(ws.WaferSpec.preset("dev", width=8, height=4, channels=4))
        out = dev.to_device(np.zeros(3, np.float32))
        stats = misordered_each_step[1, (3, 1)](out, steps, LOOP, routes=ROUTES, racecheck="report")
        with pytest.raises(ws.RouteError) as error:
            misordered_each_step[1, (3, 1)](dev.to_device(np.zeros(3, np.float32)), steps, LOOP, routes=ROUTES)
        rebuilt = dev.to_device(np.zeros(6, np.int32))
        ordered_stats = reroute_each_step[1, (6, 1)](rebuilt, 4, racecheck=True)
        twice = dev.to_device(np.zeros(3, np.float32))
        twice_stats = changed_twice_then_sent[1, (3, 1)](twice, steps, routes=ROUTES, racecheck=True)
        return (out.copy_to_host().tolist(), stats.races, stats.cycles, error.value.races,
                rebuilt.copy_to_host().tolist(), ordered_stats.cycles, ordered_stats.races,
                twice.copy_to_host().tolist(), twice_stats.cycles, twice_stats.races)

    whole = runs()
    out, races, _, raised, rebuilt, _, ordered_races, twice, _, twice_races = whole
    total = steps * (steps + 1) / 2
    assert out == [0.0, total, total]  # the simulator's order: PE 2 gets every word (the hardware's would not)
    [race] = races
    assert race.count == steps and race.sent_first and raised == races
    assert race.first.source[1] == line_of(misordered_each_step, "MARK-step-change")
    assert rebuilt == [4 * int(p) + 6 for p in np.arange(6) ^ 1] and ordered_races == []
    assert twice == [0.0, total, total] and twice_races == []
    kept = []
    settle = racecheck_routes.RouteWatch.settle

    def counted(watch, earliest):
        before = len(watch.sends)
        settle(watch, earliest)
        kept.append((before, len(watch.sends), len(watch.changes)))

    monkeypatch.setattr(racecheck_routes, "SETTLE_AT", 1)
    monkeypatch.setattr(racecheck_routes.RouteWatch, "settle", counted)
    assert runs() == whole
    assert any(after < before for before, after, _ in kept)  # send steps were dropped
    assert max(changes for _, _, changes in kept) <= 3  # and the changes kept one per rule


@ws.jit
def async_words_across_a_barrier(out, n):
    """PE 0 of each block starts a background send of 16 words right before a barrier (block b after a loop of
    b * n trips: the blocks' barriers apart) and waits for it after; PE 1 stops forwarding east right after the
    barrier, while PE 0's last words still pass its router (one a cycle; the barrier takes 8)."""
    x, b = ws.threadIdx.x, 3 * ws.blockIdx.x
    buf = ws.local.array(16, np.float32)
    if x == 0:
        acc = 0.0
        for i in range(n * ws.blockIdx.x):
            acc += 1.0
        for i in range(16):
            buf[i] = i + 1.0
        ws.send_async(ws.RAMP, buf[0:16], channel=1)  # MARK-in-flight-send
    ws.syncthreads()
    if x == 0:
        ws.send_wait(ws.RAMP, channel=1)
    if x == 1:
        ws.route(1, ws.WEST, ws.RAMP)  # MARK-in-flight-change
        ws.recv(ws.RAMP, out=buf[0:16], channel=1)
        out[b + 1] = buf[15]
    if x == 2:
        ws.recv(ws.RAMP, out=buf[0:16], channel=1)
        out[b + 2] = buf[15]


@pytest.mark.parametrize("blocks", [1, 2])
def test_a_watch_settled_at_a_barrier_keeps_a_send_whose_words_pass_after_it(monkeypatch, blocks):
    """review52b, chain52's `RouteWatch.settle`: "a word still in flight across a barrier delays settling".
    Here the background send's last words pass PE 1's router after the barrier's release, where PE 1's change
    comes (run after the send: the hardware's late words would stop at PE 1). Settled at every barrier, the
    watch keeps that send step (dropped, as with its first word's pass as the step's end, the race is lost and
    the launch runs on with PE 2 given all 16 words), and finds what one analysis at the wave's end finds."""
    def runs():
        dev = ws.Device(ws.WaferSpec.preset("dev", width=8, height=4))
        out = dev.to_device(np.zeros(3 * blocks, np.float32))
        stats = async_words_across_a_barrier[blocks, (3, 1)](out, LOOP, routes=ROUTES, racecheck="report")
        with pytest.raises(ws.RouteError) as error:
            async_words_across_a_barrier[blocks, (3, 1)](dev.to_device(np.zeros(3 * blocks, np.float32)), LOOP,
                                                        routes=ROUTES)
        return out.copy_to_host().tolist(), stats.races, stats.cycles, error.value.races

    whole = runs()
    out, races, _, raised = whole
    assert out == [0.0, 16.0, 16.0] * blocks  # the simulator's order: PE 2 gets every word
    [race] = races
    assert race.count == blocks and race.sent_first and raised == races
    assert race.first.source[1] == line_of(async_words_across_a_barrier, "MARK-in-flight-change")
    assert race.second.source[1] == line_of(async_words_across_a_barrier, "MARK-in-flight-send")
    assert race.first.cycle < race.second.cycle  # a word passes after the change
    settled = []
    settle = racecheck_routes.RouteWatch.settle

    def counted(watch, earliest):
        settle(watch, earliest)
        settled.append((earliest, len(watch.sends)))

    monkeypatch.setattr(racecheck_routes, "SETTLE_AT", 1)
    monkeypatch.setattr(racecheck_routes.RouteWatch, "settle", counted)
    assert runs() == whole
    assert settled and all(earliest < race.second.cycle and kept for earliest, kept in settled)
