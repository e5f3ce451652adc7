"""The wafer's shared off-wafer bandwidth served in (issue cycle, PE) order (sim/bandwidth.py, docs/timing.md
"Off-wafer (global) memory"): the same cycles under every execution strategy where it binds, on loads and
stores, and the cycles a plain-Python model of the rule gives over the accesses the engine recorded.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import wafersim as ws
from test_engine_strategies import run_every_strategy
from test_fuzz_engine_strategies import FUZZ, input_words, isa_programs, launches, run_program
from wafersim.isa.assembler import assemble
from wafersim.sim.layout import Placement
from wafersim.sim.offwafer import OffWaferMixin
from wafersim.sim.strategy import FAST, REFERENCE, forced
from wafersim.sim.wave import WaveSim

# bytes/s: at 0.85 GHz, 4 bytes take 17 cycles of the wafer's bandwidth at 2e8, ~3 at 1e9 (the latency: 500)
SLOW = (2e8, 1e9, 5e9)


@FUZZ
@given(data=st.data(), setup=launches(), seed=st.integers(0, 2**16), bandwidth=st.sampled_from(SLOW))
def test_random_programs_bound_by_the_bandwidth_take_the_same_cycles_under_every_strategy(data, setup, seed,
                                                                                         bandwidth):
    spec, grid, block = setup
    spec = dataclasses.replace(spec, global_bytes_per_s=bandwidth)
    single_wave = Placement(spec, grid, block).waves == 1
    source = data.draw(isa_programs(spec.fifo_depth, block, single_wave), label="source")
    inputs = input_words(seed)
    try:
        run_every_strategy(lambda: run_program(source, spec, grid, block, inputs))
    except ws.WaferError:
        pass  # (every strategy raised it alike: `run_every_strategy` compares errors too)


# ----------------------------------------------------------------------------- the rule in plain Python
@dataclasses.dataclass
class Access:
    wave: int
    issue: float
    pe: int  # the PE's index in its wave
    xy: tuple[int, int]  # its place on the wafer
    nbytes: int
    unloaded: float
    load: bool
    engine: float  # the completion the engine gave (a store's: before its share was settled)


def recorded_launch(launch, monkeypatch):
    """`launch()`'s result, with every global access the engine executed and each PE's cycle at its halt."""
    accesses: list[Access] = []
    halts: dict[tuple[int, int], float] = {}
    waves: dict[int, int] = {}
    finish, halt = OffWaferMixin._global_finish, WaveSim._halt

    def spy_finish(sim, unloaded, nbytes, at, issued, loads):
        finished = finish(sim, unloaded, nbytes, at, issued, loads)
        pes = np.arange(sim.n) if isinstance(at, slice) else at
        sizes = np.broadcast_to(nbytes, np.shape(issued))
        x, y = sim.region.xy
        wave = waves.setdefault(id(sim), len(waves))
        for k, pe in enumerate(pes.tolist()):
            accesses.append(Access(wave, float(issued[k]), pe, (int(x[pe]), int(y[pe])), int(sizes[k]),
                                   float(unloaded[k]), loads, float(finished[k])))
        return finished

    def spy_halt(sim, lanes):
        index = lanes.to_index_form(sim.n).idx
        x, y = sim.region.xy
        for pe, cycle in zip(index.tolist(), sim.cycle[index].tolist()):
            halts[(int(x[pe]), int(y[pe]))] = cycle
        return halt(sim, lanes)

    monkeypatch.setattr(OffWaferMixin, "_global_finish", spy_finish)
    monkeypatch.setattr(WaveSim, "_halt", spy_halt)
    try:
        result = launch()
    finally:
        monkeypatch.undo()
    return result, accesses, halts


def completions(accesses: list[Access], bytes_per_cycle: float) -> list[float]:
    """The rule: accesses in (wave, issue cycle, PE) order; each completes at the later of its unloaded
    completion and the cycle by which every byte up to its own (its own included) has been served."""
    served, done = 0, [0.0] * len(accesses)
    for i in sorted(range(len(accesses)), key=lambda i: (accesses[i].wave, accesses[i].issue, accesses[i].pe)):
        served += accesses[i].nbytes
        done[i] = max(accesses[i].unloaded, float(math.ceil(served / bytes_per_cycle)))
    return done


def check_against_the_rule(stats: ws.LaunchStats, accesses: list[Access], halts: dict) -> tuple[int, int]:
    """Every load completed, and every PE finished, when the rule says; returns how many loads and stores the
    bandwidth delayed."""
    done = completions(accesses, stats.spec.global_bytes_per_cycle)
    finishes = dict(halts)
    for access, expected in zip(accesses, done):
        if access.load:
            assert access.engine == expected, access
        else:
            finishes[access.xy] = max(finishes[access.xy], expected)
    ends = stats.busy + stats.stall  # (one wave from the launch's start: each PE's finishing cycle)
    for (x, y), expected in finishes.items():
        assert ends[y, x] == expected, (x, y)
    return (sum(a.load and d > a.unloaded for a, d in zip(accesses, done)),
            sum(not a.load and d > a.unloaded for a, d in zip(accesses, done)))


SPIN = """
.args 3
    sreg r1, tid.x
    sreg r2, tid.y
    sreg r3, bdim.x
    mul r5, r2, r3
    add r5, r5, r1        # r5: the PE's index (one block)
    arg r6, 0             # input words
    arg r7, 1             # spin counts
    arg r8, 2             # output words
    shli r9, r5, 2
    add r10, r7, r9
    gld r11, r10, 0       # this PE's spin count
    li r12, 0
spin:
    bz r11, loads
    addi r12, r12, 3
    addi r11, r11, -1
    jmp spin
loads:
    li r13, 0
    li r14, {words}
    add r15, r8, r9
next:
    shli r16, r13, 2
    add r16, r16, r6
    gld r17, r16, 0       # input word k: every PE reads the same words, at its own cycles
    add r12, r12, r17
    addi r13, r13, 1
    bz r12, skip          # (data-dependent: PEs fall out of step)
    nop
skip:
    sub r18, r14, r13
    bnz r18, next
    li r19, {cols}
    mul r19, r19, r9
    add r19, r19, r8
    gst r12, r19, 0       # the sum, then the spin count
    gst r11, r19, 4
    halt
"""


def spin_launch(width: int, height: int, words: int, bandwidth: float):
    """Each PE spins a PE-dependent count, sums `words` shared input words (loads at PE-dependent cycles) and
    stores two words; -> (output, LaunchStats), the expected output."""
    rng = np.random.default_rng(width * 100 + words)
    values = rng.integers(-3, 4, words).astype(np.int32)
    spins = rng.integers(0, 40, width * height).astype(np.int32)
    dev = ws.Device(ws.WaferSpec(width=width, height=height, global_bytes_per_s=bandwidth))
    program = assemble(SPIN.format(words=words, cols=2), name="spin")
    d_in, d_spin = dev.to_device(values), dev.to_device(spins)
    d_out = dev.to_device(np.zeros(2 * width * height, dtype=np.int32))
    stats = dev.launch(program, (1, 1), (width, height), [d_in, d_spin, d_out])
    expected = np.stack([3 * spins + int(values.sum()), np.zeros_like(spins)], axis=1).reshape(-1)
    return (d_out.copy_to_host(), stats), expected


@pytest.mark.parametrize("bandwidth", [5e7, 1e8])
def test_loads_and_stores_complete_when_the_plain_python_rule_says(bandwidth, monkeypatch):
    (out, stats), accesses, halts = recorded_launch(lambda: spin_launch(6, 5, 6, bandwidth)[0], monkeypatch)
    np.testing.assert_array_equal(out, spin_launch(6, 5, 6, bandwidth)[1])
    delayed_loads, delayed_stores = check_against_the_rule(stats, accesses, halts)
    assert delayed_loads and delayed_stores  # (the bandwidth binds on both)


def test_a_neighbour_pipeline_bound_by_the_bandwidth_follows_the_plain_python_rule(monkeypatch):
    from test_offwafer_bandwidth import SLOW_GLOBAL, _expected, _launch

    for strategy in (REFERENCE, FAST):
        with forced(strategy):
            (out, stats), accesses, halts = recorded_launch(lambda: _launch(SLOW_GLOBAL), monkeypatch)
        np.testing.assert_array_equal(out, _expected())
        delayed_loads, _ = check_against_the_rule(stats, accesses, halts)
        assert delayed_loads  # (the first column's loads of the words wait for the bandwidth)


@FUZZ
@given(data=st.data(), setup=launches(), seed=st.integers(0, 2**16), bandwidth=st.sampled_from((3e7, *SLOW)))
def test_random_programs_follow_the_plain_python_rule(data, setup, seed, bandwidth):
    spec, grid, block = setup
    spec = dataclasses.replace(spec, global_bytes_per_s=bandwidth)
    if Placement(spec, grid, block).waves != 1:
        grid = (1, 1)  # (one wave: each PE's finishing cycle is its statistics' sum)
    source = data.draw(isa_programs(spec.fifo_depth, block, True), label="source")
    inputs = input_words(seed)
    with pytest.MonkeyPatch.context() as monkeypatch:
        try:
            (_, stats), accesses, halts = recorded_launch(lambda: run_program(source, spec, grid, block, inputs),
                                                          monkeypatch)
        except ws.WaferError:
            return  # (a program that fails on some PEs: the fuzzer of the strategies compares those)
    check_against_the_rule(stats, accesses, halts)


def test_accesses_settled_while_the_wave_runs_give_the_same_cycles(monkeypatch):
    """The scheduler settles and forgets the accesses no access can still precede once a wave has recorded
    many (`SETTLE_ENTRIES`): a store settled before its PE halts, or after, counts alike."""
    from wafersim.sim import bandwidth

    (_, whole), expected = spin_launch(6, 5, 6, 5e7)
    monkeypatch.setattr(bandwidth, "SETTLE_ENTRIES", 4)
    for strategy in (REFERENCE, FAST):
        with forced(strategy):
            (out, stats), accesses, halts = recorded_launch(lambda: spin_launch(6, 5, 6, 5e7)[0], monkeypatch)
            monkeypatch.setattr(bandwidth, "SETTLE_ENTRIES", 4)  # (`recorded_launch` undid it)
        np.testing.assert_array_equal(out, expected)
        check_against_the_rule(stats, accesses, halts)
        assert stats.cycles == whole.cycles
        np.testing.assert_array_equal(stats.stall, whole.stall)


TWINS = """
.args 2
    sreg r1, tid.x
    sreg r2, tid.y
    sreg r3, bdim.x
    mul r5, r2, r3
    add r5, r5, r1        # r5: the PE's index (one block)
    arg r6, 0             # two input words
    arg r7, 1             # output words
    shli r9, r5, 2
    andi r12, r1, 1
    li r13, {rounds}
    li r14, 0
again:
    bz r12, even          # odd and even columns load at one cycle, at two program counters
    gld r15, r6, 4
    add r14, r14, r15
    addi r13, r13, -1
    bnz r13, again
    jmp done
even:
    gld r15, r6, 0
    add r14, r14, r15
    addi r13, r13, -1
    bnz r13, again
done:
    add r10, r7, r9
    gst r14, r10, 0
    halt
"""


def twins_launch(rounds: int = 4):
    """Even columns sum `rounds` copies of the first input word, odd columns of the second: their loads issue
    at the same cycles from two groups. -> (output, LaunchStats), the expected output."""
    width, height = 6, 5
    dev = ws.Device(ws.WaferSpec(width=width, height=height, global_bytes_per_s=5e7))
    words = np.array([3, -5], dtype=np.int32)
    d_in, d_out = dev.to_device(words), dev.to_device(np.zeros(width * height, dtype=np.int32))
    stats = dev.launch(assemble(TWINS.format(rounds=rounds), name="twins"), (1, 1), (width, height), [d_in, d_out])
    expected = np.tile(rounds * words[np.arange(width) % 2], height)
    return (d_out.copy_to_host(), stats), expected


def test_loads_of_two_groups_at_one_cycle_are_served_by_pe_under_every_strategy(monkeypatch):
    """Two groups load at the same cycles; the bandwidth serves their PEs in index order, interleaved, and
    the scheduler runs them so (`_next_group`: the group with the lowest PE first, up to the other's)."""
    (out, stats), accesses, halts = recorded_launch(lambda: twins_launch()[0], monkeypatch)
    np.testing.assert_array_equal(out, twins_launch()[1])
    delayed_loads, _ = check_against_the_rule(stats, accesses, halts)
    assert delayed_loads
    run_every_strategy(lambda: twins_launch()[0])


@pytest.mark.parametrize("form", ["index", "mask", "complement", "full", "windowed mask"])
def test_a_bulk_loads_bytes_are_its_lanes_words_in_every_form_of_lanes(form):
    """`_load_bytes` (the bytes a held `gldv` group moves, for `_bandwidth_limit`'s check that the bandwidth
    cannot delay it) sums the lengths of the group's lanes only: a masked or complement group's lane-aligned
    array is the whole per-PE array, whose other PEs' lengths it once added too (review47)."""
    from types import SimpleNamespace

    from wafersim.sim.lanes import Lanes

    n = 96
    rng = np.random.default_rng(47)
    regs = np.zeros((16, n), dtype=np.int32)
    regs[15] = rng.integers(-3, 40, n)  # (the lengths: negative ones move nothing)
    member = rng.random(n) < 0.5
    if form == "index":
        lanes = Lanes.from_indices(n, np.flatnonzero(member)[:4])
    elif form == "mask":
        lanes = Lanes.from_mask(member)
    elif form == "complement":
        lanes = Lanes.all_but(n, np.array([3, 40, 41, 90]))
    elif form == "full":
        lanes = Lanes.full(n)
    else:
        lanes = Lanes(32, mask=member[:32], window=slice(50, 82))
    assert lanes.form == form.split()[-1]
    fake = SimpleNamespace(ops={7: (SimpleNamespace(op="gldv", c=15), 8, 1.0)}, regs=regs)
    words = regs[15][lanes.indices()].astype(np.int64)
    assert OffWaferMixin._load_bytes(fake, 7, lanes) == 4 * int(words.clip(0).sum())
    fake.ops[7] = (SimpleNamespace(op="gld", c=0), 8, 1.0)
    assert OffWaferMixin._load_bytes(fake, 7, lanes) == 4 * lanes.count


WAKE_AT_ONCE = """
.args 2
    sreg r1, tid.x
    arg r6, 0
    arg r7, 1
    bnz r1, east_pe
    recv.i32 r2, east, 0  # (PE 0: woken by PE 1's word, then loads and stores at once)
    gld r3, r6, 0
    li r4, 99
    gst r4, r6, 4         # (the word PE 1 loaded)
    add r3, r3, r2
    gst r3, r7, 0
    halt
east_pe:
    nop                   # (the only instruction with a cost: PE 1 loads at cycle 1)
    gld r3, r6, 4
    send.i32 west, 0, r3
    gst r3, r7, 4
    halt
"""


def wake_at_once_launch(latency: float, bytes_per_cycle: float = 2.0):
    """PE 1 loads word 1 at cycle 1 and sends it to PE 0, asleep at a receive, which then loads word 0 and
    overwrites word 1: every cost but `nop`'s and every link latency zero, the bandwidth `bytes_per_cycle`."""
    costs = {name: 0 for name in ws.WaferSpec().cost_cycles}
    costs["alu"] = 1
    spec = ws.WaferSpec(width=2, height=1, clock_hz=1e9, global_bytes_per_s=bytes_per_cycle * 1e9,
                        global_latency=latency,
                        hop_latency=0, cost_cycles=costs, op_cycles={"li": 0, "add": 0})
    dev = ws.Device(spec)
    d_in, d_out = dev.to_device(np.array([5, 7], np.int32)), dev.to_device(np.zeros(2, np.int32))
    stats = dev.launch(assemble(WAKE_AT_ONCE, name="wake_at_once"), (1, 1), (2, 1), [d_in, d_out])
    return d_out.copy_to_host(), stats


def test_a_load_that_completes_in_its_issue_cycle_is_refused_and_the_least_latency_follows_the_rule(monkeypatch):
    """With `global_latency` 0 (accepted before review47) PE 1's load completed at its issue cycle 1, so PE 0,
    woken by it, loaded and stored at cycle 1 too: its load's key (1, PE 0) precedes PE 1's, yet PE 1's had
    already been served (at 4 bytes a cycle: 8 bytes by cycle 1, where the rule gives PE 1 cycle 2), and PE 1's load,
    which should see a store issued at its own cycle, could not. No causal run can honour that: the spec
    refuses it. With any positive latency the wake-up comes after the load's cycle; here the rule holds under
    every strategy and PE 1 reads the word as it was."""
    with pytest.raises(ws.SpecError, match="global_latency"):
        ws.WaferSpec(width=2, height=1, global_latency=0)
    for latency in (0.5, 1):
        for strategy in (REFERENCE, FAST):
            with forced(strategy):
                (out, stats), accesses, halts = recorded_launch(lambda: wake_at_once_launch(latency), monkeypatch)
            np.testing.assert_array_equal(out, [5 + 7, 7])
            delayed_loads, _ = check_against_the_rule(stats, accesses, halts)
            assert delayed_loads  # (the bandwidth binds: PE 0's load waits for PE 1's bytes)
        run_every_strategy(lambda: wake_at_once_launch(latency))


@st.composite
def free_instruction_launches(draw):
    """`launches()` with most instruction classes free (issue cost 0, or half a cycle), the least latencies (half a
    cycle to three) and the bandwidth binding: loads and accesses of several PEs and groups tie at one cycle."""
    spec, grid, block = draw(launches())
    costs = {name: draw(st.sampled_from([0, 0, 0.5, 1])) for name in spec.cost_cycles}
    spec = dataclasses.replace(spec, global_latency=draw(st.sampled_from([0.5, 1, 3])),
                               global_bytes_per_s=draw(st.sampled_from([3e7, 1.7e9, 3.4e9])), cost_cycles=costs)
    return spec, grid, block


@FUZZ
@given(data=st.data(), setup=free_instruction_launches(), seed=st.integers(0, 2**16))
def test_random_programs_of_free_instructions_follow_the_rule_under_every_strategy(data, setup, seed):
    """(review47: tie paths of `_next_group`, zero costs, the least latencies, waves.)"""
    spec, grid, block = setup
    single_wave = Placement(spec, grid, block).waves == 1
    source = data.draw(isa_programs(spec.fifo_depth, block, single_wave), label="source")
    inputs = input_words(seed)
    try:
        run_every_strategy(lambda: run_program(source, spec, grid, block, inputs), [REFERENCE, FAST])
    except ws.WaferError:
        return
    with pytest.MonkeyPatch.context() as monkeypatch, forced(FAST):
        try:  # (one wave: each PE's finishing cycle is its statistics' sum)
            (_, stats), accesses, halts = recorded_launch(
                lambda: run_program(source, spec, grid if single_wave else (1, 1), block, inputs), monkeypatch)
        except ws.WaferError:
            return
    check_against_the_rule(stats, accesses, halts)
