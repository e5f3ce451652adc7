"""Racecheck for route changes (sim/racecheck_routes.py): a `ws.route` that the simulation ran in the other
order than their cycles say against a word of its channel passing its router is reported as a
'route-change' race (the word took another route than the hardware would give it); route changes ordered
by barriers, or made before the words come, report nothing. Without racecheck a strict misorder stops
the launch (tests/test_route_order.py).

The kernels: a row broadcast over 3 PEs from PE 0 (`row_broadcast(1)`: PE 1 forwards east and keeps a
copy); PE 1 stops forwarding east with `ws.route(1, ws.WEST, ws.RAMP)`. One PE runs a loop of `n` trips
first, so that its side comes hundreds of cycles after the other's, while the simulator, which runs the
lowest pc first, runs it first."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import wafersim as ws
from conftest import line_of
from wafersim import collectives as wsc
from wafersim.isa.opcodes import opcode_cycles
from wafersim.sim import wave
from wafersim.sim.strategy import Strategy, forced

ROUTES = [ws.routes.row_broadcast(1)]
LOOP = 100  # trips of the delaying loop: some 300 cycles (its accumulator is dead: only the counting is left)


@ws.jit
def send_first(out, n):
    x, b = ws.threadIdx.x, 3 * ws.blockIdx.x
    if x == 0:  # runs first in the simulator, but sends late
        acc = 0.0
        for i in range(n):
            acc += 1.0
        ws.send(ws.RAMP, 5.0, channel=1)  # MARK-late-send
    if x == 1:
        ws.route(1, ws.WEST, ws.RAMP)  # MARK-early-change
        out[b + 1] = ws.recv(ws.RAMP, channel=1)
    if x == 2:
        out[b + 2] = ws.recv(ws.RAMP, channel=1)


@ws.jit
def change_first(out, n):
    x = ws.threadIdx.x
    if x == 1:  # runs first in the simulator, but changes the route late
        acc = 0.0
        for i in range(n):
            acc += 1.0
        ws.route(1, ws.WEST, ws.RAMP)  # MARK-late-change
        out[1] = ws.recv(ws.RAMP, channel=1)
    if x == 0:
        ws.send(ws.RAMP, 5.0, channel=1)  # MARK-early-send
    if x == 2:
        out[2] = ws.recv(ws.RAMP, channel=1)


@ws.jit
def ordered(out, n):
    """Two broadcasts; between them, with a barrier on either side, PE 1 stops forwarding east."""
    x = ws.threadIdx.x
    if x == 0:
        ws.send(ws.RAMP, 5.0, channel=1)
    else:
        out[x] = ws.recv(ws.RAMP, channel=1)
    ws.syncthreads()
    if x == 1:
        ws.route(1, ws.WEST, ws.RAMP)
    ws.syncthreads()
    if x == 0:
        acc = 0.0
        for i in range(n):
            acc += 1.0
        ws.send(ws.RAMP, acc, channel=1)
    if x == 1:
        out[3] = ws.recv(ws.RAMP, channel=1)


@ws.jit
def vector_send_first(out, n):
    """`send_first` with 8 words sent as one slice (a stream: its steps run in the routed stream movers)."""
    x = ws.threadIdx.x
    buf = ws.local.array(8, np.float32)
    if x == 0:
        for i in range(8):
            buf[i] = i + 1.0
        acc = 0.0
        for i in range(n):
            acc += 1.0
        ws.send(ws.RAMP, buf[0:8], channel=1)  # MARK-vector-send
    if x == 1:
        ws.route_mask(1, 1 << ws.WEST, 1 << ws.RAMP)  # MARK-mask-change
        ws.recv(ws.RAMP, out=buf[0:8], channel=1)
        for i in range(8):
            out[8 + i] = buf[i]
    if x == 2:
        ws.recv(ws.RAMP, out=buf[0:8], channel=1)
        for i in range(8):
            out[16 + i] = buf[i]


@ws.jit
def async_send_first(out, n):
    """`vector_send_first` with a background send (`ws.send_async`, then `ws.send_wait`)."""
    x = ws.threadIdx.x
    buf = ws.local.array(8, np.float32)
    if x == 0:
        for i in range(8):
            buf[i] = i + 1.0
        acc = 0.0
        for i in range(n):
            acc += 1.0
        ws.send_async(ws.RAMP, buf[0:8], channel=1)  # MARK-async-send
        ws.send_wait(ws.RAMP, channel=1)
    if x == 1:
        ws.route(1, ws.WEST, ws.RAMP)  # MARK-async-change
        ws.recv(ws.RAMP, out=buf[0:8], channel=1)
        for i in range(8):
            out[8 + i] = buf[i]
    if x == 2:
        ws.recv(ws.RAMP, out=buf[0:8], channel=1)
        for i in range(8):
            out[16 + i] = buf[i]


def launch(kernel, racecheck, n=LOOP, size=3, blocks=1):
    dev = ws.Device(ws.WaferSpec.preset("dev", width=8, height=4))
    out = dev.to_device(np.zeros(size, np.float32))
    stats = kernel[blocks, (3, 1)](out, n, routes=ROUTES, racecheck=racecheck)
    return out.copy_to_host(), stats


def check_race(race, kernel, change_mark, send_mark, sent_first):
    assert race.kind == "route-change" and race.channel == 1 and race.sent_first is sent_first
    assert race.first.source[1] == line_of(kernel, change_mark) and race.first.thread_index == (1, 0)
    assert race.second.source[1] == line_of(kernel, send_mark) and race.second.thread_index == (0, 0)
    assert race.first.block_index == race.second.block_index == (0, 0)
    # the loop puts some 400 cycles between them, on the side the simulator ran first
    late, early = (race.second, race.first) if sent_first else (race.first, race.second)
    assert late.cycle - early.cycle > 2 * LOOP
    assert race.count == 1 and not race.same_value
    # each side prints as what it does: a route change and a send, not a memory write and read
    assert (race.first.kind, race.second.kind) == ("route change", "send")
    change, send = (f"{a.source[0]}:{a.source[1]}" for a in (race.first, race.second))
    assert str(race.first) == (f"thread (1, 0) of block (0, 0) changes the route of channel 1 at {change} "
                               f"(cycle {race.first.cycle:,.0f})")
    assert str(race.second) == (f"thread (0, 0) of block (0, 0) sends a word on channel 1 at {send}, which passes "
                                f"the changed router at cycle {race.second.cycle:,.0f}")
    assert str(race).startswith(f"route-change race on channel 1: {race.first}; {race.second}; the simulation ran ")
    assert " writes " not in str(race) and " reads " not in str(race)


@pytest.mark.parametrize("strategy", [Strategy(), Strategy(routed_one=False)], ids=["routed-one", "numpy"])
def test_a_send_run_before_an_earlier_route_change_is_reported(strategy):
    with forced(strategy):
        out, stats = launch(send_first, "report")
    assert out.tolist() == [0.0, 5.0, 5.0]  # (racecheck changes nothing)
    [race] = stats.races
    check_race(race, send_first, "MARK-early-change", "MARK-late-send", sent_first=True)
    assert "ran the send first" in str(race)
    with forced(strategy), pytest.raises(ws.RaceError, match="route-change race on channel 1") as error:
        launch(send_first, True)
    assert error.value.races == [race]
    assert "of route changes against routed words" in str(error.value)
    assert "ws.syncthreads() between the receives of the last words" in str(error.value)  # the advice


def test_the_races_of_every_block_of_every_wave_are_counted():
    """20 blocks of 3 PEs on a wafer of 8 x 4 run in 3 waves: the same race in each block, one report."""
    out, stats = launch(send_first, "report", size=60, blocks=20)
    assert stats.waves == 3
    assert out.reshape(20, 3).tolist() == [[0.0, 5.0, 5.0]] * 20
    [race] = stats.races
    assert race.count == 20 and race.first.block_index == race.second.block_index
    check_race(dataclasses.replace(race, count=1), send_first, "MARK-early-change", "MARK-late-send", sent_first=True)


def test_a_route_change_run_before_an_earlier_send_is_reported_though_the_launch_deadlocks():
    """The simulator routes the word by the changed route: PE 2 waits for good. racecheck=True raises the
    RaceError (from the DeadlockError); 'report' raises the DeadlockError with the races on it."""
    with pytest.raises(ws.RaceError, match="route-change race on channel 1") as error:
        launch(change_first, True)
    [race] = error.value.races
    check_race(race, change_first, "MARK-late-change", "MARK-early-send", sent_first=False)
    assert isinstance(error.value.__cause__, ws.DeadlockError) and error.value.failure is error.value.__cause__
    assert "The launch then failed, perhaps because of them: DeadlockError" in str(error.value)
    assert error.value.state is not None  # the failed wave's state, as the DeadlockError's
    assert error.value.state.pc((2, 0)) is not None and error.value.state.pc((0, 0)) is None  # PE 2 waits
    with pytest.raises(ws.DeadlockError, match="racecheck found 1 route-change race") as deadlock:
        launch(change_first, "report")
    assert deadlock.value.races == [race]


@ws.jit
def send_then_late_change(out, n):
    x = ws.threadIdx.x
    if x == 0:  # runs first in the simulator, and sends first
        ws.send(ws.RAMP, 5.0, channel=1)
    if x == 1:
        acc = 0.0
        for i in range(n):
            acc += 1.0
        ws.route(1, ws.WEST, ws.RAMP)
        out[1] = ws.recv(ws.RAMP, channel=1)
    if x == 2:
        out[2] = ws.recv(ws.RAMP, channel=1)


@ws.jit
def change_then_late_send(out, n):
    x = ws.threadIdx.x
    if x == 1:  # runs first in the simulator, and changes the route first
        ws.route(1, ws.WEST, ws.RAMP)
        out[1] = ws.recv(ws.RAMP, channel=1)
    if x == 0:
        acc = 0.0
        for i in range(n):
            acc += 1.0
        ws.send(ws.RAMP, 5.0, channel=1)
    if x == 2:
        out[2] = ws.recv(ws.RAMP, channel=1)


def test_no_race_where_the_simulator_ran_them_in_the_order_of_their_cycles():
    """No barrier orders these, but the simulator ran each pair in the order of its cycles, so it gives
    the hardware's answer (only real misorders are reported): the word passes PE 1 long before its
    change and reaches PE 2; the change comes long before the word, and PE 2 waits for good (on hardware
    too: the launch's DeadlockError, with no races on it)."""
    out, stats = launch(send_then_late_change, True)
    assert out.tolist() == [0.0, 5.0, 5.0] and stats.races == []
    with pytest.raises(ws.DeadlockError) as error:
        launch(change_then_late_send, True)
    assert not hasattr(error.value, "races")
    # Without the loop the change, at PE 1's cycle 11, comes as the word passes its router at cycle 11 (no
    # order between them on hardware either): a race, reported, though the change is PE 1's first statement
    with pytest.raises(ws.RaceError) as race:
        launch(change_first, True, n=0)
    assert race.value.races[0].second.cycle <= race.value.races[0].first.cycle


@pytest.mark.parametrize("strategy", [None, Strategy(compiled=False, stream_pump=False),
                                      Strategy(compiled=False, routed_steps=False, fused_routed_step=False)],
                         ids=["fast", "fused-step", "numpy-step"])
@pytest.mark.parametrize("kernel, marks", [(vector_send_first, ("MARK-mask-change", "MARK-vector-send")),
                                           (async_send_first, ("MARK-async-change", "MARK-async-send"))],
                         ids=["sendv", "send_async"])
def test_a_stream_s_words_are_checked_on_every_path(strategy, kernel, marks, monkeypatch):
    """A vector send's words (a blocking one, a background one) in the compiled fused step and in the NumPy
    step; a `ws.route_mask` change. Without racecheck the launch stops at the same race (tests/
    test_route_order.py); racecheck changes nothing of the run the simulator made before it watched routes."""
    with forced(strategy or Strategy()):
        out, stats = launch(kernel, "report", size=24)
        with pytest.raises(ws.RouteError) as error:
            launch(kernel, False, size=24)
        assert error.value.races == stats.races
        monkeypatch.setattr(wave, "RouteWatch", lambda sim: None)  # (no watch)
        reference, plain = launch(kernel, False, size=24)
    np.testing.assert_array_equal(out, reference)
    assert out[16:].tolist() == list(np.arange(1.0, 9.0))  # PE 2 got the words PE 1 stopped forwarding
    assert stats.cycles == plain.cycles
    [race] = stats.races
    check_race(race, kernel, *marks, sent_first=True)


def test_route_changes_ordered_by_barriers_report_nothing_and_change_nothing():
    out, stats = launch(ordered, True, size=4)
    assert out.tolist() == [0.0, 5.0, 5.0, float(LOOP)]
    assert stats.races == []
    plain_out, plain = launch(ordered, False, size=4)
    np.testing.assert_array_equal(plain_out, out)
    for name in ("cycles", "instructions", "op_counts"):
        assert getattr(plain, name) == getattr(stats, name), name
    for name in ("busy", "stall", "pe_instructions", "link_words"):
        np.testing.assert_array_equal(getattr(plain, name), getattr(stats, name), err_msg=name)
    assert plain.routed_link_words.keys() == stats.routed_link_words.keys()
    for channel, words in plain.routed_link_words.items():
        np.testing.assert_array_equal(words, stats.routed_link_words[channel])


@ws.jit
def reroute_each_step(out, steps):
    """Every step: a barrier, each PE x routes channel 2 from its ramp east (x even) or west (x odd),
    a barrier, then sends x + step to the neighbour so routed; the neighbour receives. The rules change at
    every step, always between barriers."""
    x = ws.threadIdx.x
    total = 0
    for step in range(steps):
        ws.syncthreads()
        if x % 2 == 0:
            ws.route(2, ws.RAMP, ws.EAST)
            ws.route(2, ws.EAST, ws.RAMP)
        else:
            ws.route(2, ws.RAMP, ws.WEST)
            ws.route(2, ws.WEST, ws.RAMP)
        ws.syncthreads()
        ws.send(ws.RAMP, x + step, channel=2)
        total += ws.recv(ws.RAMP, channel=2, dtype=np.int32)
        ws.syncthreads()
        ws.route(2, (ws.RAMP, ws.EAST, ws.WEST), ())
    out[x] = total


def test_routes_rebuilt_between_barriers_at_every_step_report_nothing():
    dev = ws.Device(ws.WaferSpec.preset("dev", width=8, height=4, channels=4))
    out = dev.to_device(np.zeros(6, np.int32))
    stats = reroute_each_step[1, (6, 1)](out, 3, racecheck=True)
    assert stats.races == []
    partner = np.arange(6) ^ 1
    assert out.copy_to_host().tolist() == [3 * int(p) + 3 for p in partner]  # sum over steps of p + step


@ws.jit
def library_collectives(out, values):
    x, y = ws.threadIdx.x, ws.threadIdx.y
    i = y * ws.blockDim.x + x
    out[i] = wsc.block_all_reduce(values[i], wsc.SUM, channel=0) + wsc.row_all_reduce(values[i], wsc.MAX, channel=3)


def test_library_collectives_stay_clean_under_racecheck():
    """The library declares its routes (`ws.use_route`) and never changes them in a kernel: clean."""
    dev = ws.Device(ws.WaferSpec.preset("dev", width=8, height=8, channels=8))
    values = np.arange(24, dtype=np.float32)
    out = dev.to_device(np.zeros(24, np.float32))
    stats = library_collectives[1, (6, 4)](out, dev.to_device(values), racecheck=True)
    assert stats.races == []
    expected = values.sum() + values.reshape(4, 6).max(axis=1).repeat(6)
    np.testing.assert_allclose(out.copy_to_host(), expected, rtol=1e-6)


def test_a_route_change_race_is_saved_with_the_device(tmp_path):
    dev = ws.Device(ws.WaferSpec.preset("dev", width=8, height=4))
    out = dev.to_device(np.zeros(3, np.float32))
    stats = send_first[1, (3, 1)](out, LOOP, routes=ROUTES, racecheck="report")
    [loaded] = ws.Device.load(dev.save(tmp_path / "routes.npz")).launches
    assert loaded.races == stats.races and loaded.races[0].kind == "route-change"
    assert str(loaded.races[0]) == str(stats.races[0])
    assert (loaded.races[0].first.kind, loaded.races[0].second.kind) == ("route change", "send")
    assert "changes the route of channel 1 at" in str(loaded.races[0].first)


PADDED_CHANGE = """
.name padded
    sreg r1, tid.x
    seqi r2, r1, 1
    bnz r2, changer
    seqi r2, r1, 0
    bz r2, listen
    li r5, 7
    send ramp, 1, r5
    halt
changer:
{pad}
    route 1, west, ramp
    recv r4, ramp, 1
    halt
listen:
    recv r4, ramp, 1
    halt
"""


def test_the_change_s_cycle_counts_every_instruction_before_it_and_a_tie_is_a_race():
    """PE 1 runs k `nop`s (plain instructions, whose issue cycles its run owes until a timing instruction)
    then the change; PE 0's word passes PE 1's router at a fixed cycle. The change's cycle grows by a nop's
    cost per nop; the simulator runs the send first, so a race exactly while the change comes at or before
    the word's pass (at the same cycle the hardware may take either route), none after."""
    spec = ws.WaferSpec.preset("dev", width=8, height=4)
    dev = ws.Device(spec)
    nop = opcode_cycles(spec)["nop"]
    changes, passes = [], []
    for k in range(8):
        stats = dev.launch(ws.assemble(PADDED_CHANGE.format(pad="    nop\n" * k)), 1, (3, 1), [], routes=ROUTES,
                           racecheck="report")
        assert all(race.sent_first and race.kind == "route-change" for race in stats.races)
        changes.append(stats.races[0].first.cycle if stats.races else None)
        passes.append(stats.races[0].second.cycle if stats.races else None)
    reported = [k for k in range(8) if changes[k] is not None]
    assert reported == list(range(len(reported))) and 2 <= len(reported) < 8
    word = passes[0]
    assert all(p == word for p in passes[:len(reported)])
    assert [changes[k] - changes[0] for k in reported] == [k * nop for k in reported]
    assert changes[reported[-1]] == word and changes[0] + len(reported) * nop > word  # the last one: a tie
    tie = dev.launch(ws.assemble(PADDED_CHANGE.format(pad="    nop\n" * reported[-1])), 1, (3, 1), [], routes=ROUTES,
                     racecheck="report").races[0]
    assert "at the same cycle: the hardware may route it either way" in str(tie)


@ws.jit
def send_then_clear(out):
    x = ws.threadIdx.x
    if x == 0:
        ws.send(ws.RAMP, 3.0, channel=1)
        ws.route(1, ws.RAMP, ())  # the clean-up docs/routes.md advises: this PE sends no more
    if x == 1:
        out[1] = ws.recv(ws.RAMP, channel=1)


@pytest.mark.parametrize("preset", ["dev", "wse2"])
def test_a_pe_s_own_words_do_not_race_with_its_own_route_changes(preset):
    """On wse2 the word takes 2 cycles up the ramp, so it reaches PE 0's router at the change's very cycle;
    but a PE's own send and its own change are in its program order: no race. The races of the other PEs'
    changes are found there as on `dev`."""
    dev = ws.Device(ws.WaferSpec.preset(preset, width=8, height=4))
    out = dev.to_device(np.zeros(2, np.float32))
    stats = send_then_clear[1, (2, 1)](out, racecheck=True, routes=ROUTES)
    assert stats.races == [] and out.copy_to_host().tolist() == [0.0, 3.0]
    out = dev.to_device(np.zeros(3, np.float32))
    stats = send_first[1, (3, 1)](out, LOOP, routes=ROUTES, racecheck="report")
    [race] = stats.races
    check_race(race, send_first, "MARK-early-change", "MARK-late-send", sent_first=True)


@pytest.mark.parametrize("op_cycles", [{}, {"nop": 0.1, "route": 0.7, "addi": 0.3}], ids=["whole", "fractional"])
def test_racecheck_changes_no_cycle_and_the_change_s_cycle_is_its_pe_s(op_cycles, monkeypatch):
    """Under the route watch (racecheck's, or the launch's own for a program that changes routes) a `route`
    leaves the NumPy run loop's plain path (so that its cycle counts the issue cycles its lanes owe): every
    PE's busy and stall cycles are the same bit for bit as without the watch,
    fractional costs (whose sums depend on the order they are added in) included; the change's cycle is
    its PE's issue cycles before it plus its own cost, summed in program order (plain Python)."""
    spec = ws.WaferSpec.preset("dev", width=8, height=4, op_cycles=op_cycles)
    dev = ws.Device(spec)
    program = ws.assemble(PADDED_CHANGE.format(pad="    nop\n    addi r6, r6, 1"))
    with monkeypatch.context() as patch:  # (no route watch: the run loop's plain path for `route`)
        patch.setattr(wave, "RouteWatch", lambda sim: None)
        off = dev.launch(program, 1, (3, 1), [], routes=ROUTES)
    on = dev.launch(program, 1, (3, 1), [], routes=ROUTES, racecheck="report")
    assert on.cycles == off.cycles and on.instructions == off.instructions
    assert np.array_equal(on.busy, off.busy) and np.array_equal(on.stall, off.stall)
    [race] = on.races
    costs = opcode_cycles(spec)
    issued = ["sreg", "seqi", "bnz", "nop", "addi", "route"]  # PE 1's instructions up to the change
    cycle = 0.0
    for op in issued:
        cycle += costs[op]
    assert race.first.cycle == cycle and race.first.thread_index == (1, 0)


def test_the_debugger_stops_at_a_route_change_under_racecheck():
    """Under racecheck a `route` leaves the plain path (`_compile`): the debugger still stops at its line."""
    dev = ws.Device(ws.WaferSpec.preset("dev", width=8, height=4))
    out = dev.to_device(np.zeros(3, np.float32))
    change = line_of(send_first, "MARK-early-change")
    stops = []
    with ws.debug(send_first[1, (3, 1)], out, LOOP, routes=ROUTES, racecheck="report") as dbg:
        dbg.break_at(line=change)
        while (stop := dbg.cont()).reason != "finished":
            stops.append((stop.reason, stop.line, dbg.line((1, 0))))
    assert stops == [("breakpoint", change, change)]
    [race] = dbg.stats.races
    check_race(race, send_first, "MARK-early-change", "MARK-late-send", sent_first=True)
