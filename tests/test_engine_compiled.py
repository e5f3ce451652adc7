"""The compiled interpreter (`wafersim.sim.compiled`) against the NumPy executors, instruction by instruction.

Every instruction the interpreter runs is executed on operands full of edge cases (NaN, -0.0, infinities,
INT_MIN, shift counts past 31, overlapping vector ranges), on divergent PEs, and the results, cycle counts
and statistics must be bit-identical to the NumPy engine's (`Strategy(compiled=False)`), in each of the
interpreter's modes (segments, PE by PE, chunked, several threads). NumPy is the reference for both: the
NumPy executors apply NumPy's ufuncs, and a few results are also checked against NumPy directly.
"""
from __future__ import annotations

import math
import mmap

import numpy as np
import pytest

import wafersim as ws
from test_engine_strategies import assert_same_run
from wafersim.sim import parallel
from wafersim.isa.encoding import decode
from wafersim.sim.compiled import stepper
from wafersim.sim.compiled.table import ProgramTable
from wafersim.sim.strategy import Strategy, forced

WORDS = 16  # input words per PE
RESULTS = 80  # result words per PE (sram[16:96]; each path writes its own layout)
INT_BINARY = ("add", "sub", "mul", "div", "rem", "and", "or", "xor", "shl", "shr", "sra", "min", "max", "slt", "sle",
              "seq", "sne")
INT_IMMEDIATE = (("addi", -7), ("muli", -3), ("andi", 0x1F0F), ("ori", -256), ("xori", 0x155), ("shli", 33),
                 ("shri", 35), ("srai", 31), ("slti", -1), ("seqi", 0))
FLOAT_BINARY = ("fadd", "fsub", "fmul", "fdiv", "fmin", "fmax", "flt", "fle", "feq", "fne")
FLOAT_UNARY = ("fneg", "fabs", "fsqrt", "ffloor", "fceil", "ftrunc", "ftoi")


def program() -> str:
    """Each PE loads WORDS words of input, takes one of three paths by its index mod 3 (integer ALU, float
    ALU, vector ops), loops a data-dependent number of times, and stores RESULTS words."""
    out = iter(range(WORDS, WORDS + RESULTS - 1))  # (the last word: the loop's result)
    lines = [".sram 96", ".args 2",
             "sreg r1, tid.x", "sreg r2, tid.y", "sreg r3, bdim.x", "mul r4, r2, r3", "add r4, r4, r1",
             "sreg r5, bid.x", "sreg r6, bdim.y", "mul r6, r6, r5", "mul r6, r6, r3",
             "add r4, r4, r6",  # r4: this PE's row of the inputs (blocks side by side)
             "li r5, 16", "muli r6, r4, 64", "arg r7, 0", "add r7, r7, r6", "gldv r0, r7, r5",
             "ld r10, r0, 0", "ld r11, r0, 1", "ld r12, r0, 2", "ld r13, r0, 3", "ld r14, r0, 4", "ld r15, r0, 5",
             "li r20, 3", "rem r21, r4, r20", "bz r21, integers", "addi r21, r21, -1", "bz r21, vectors"]
    for op in FLOAT_BINARY:  # (r14 may be NaN, r12 and r13 are not)
        lines += [f"{op} r16, r12, r13", f"st r16, r0, {next(out)}", f"{op} r16, r14, r13", f"st r16, r0, {next(out)}"]
    for op in FLOAT_UNARY:
        lines += [f"{op} r16, r14", f"st r16, r0, {next(out)}"]
    lines += ["fma r16, r12, r13, r14", f"st r16, r0, {next(out)}", "itof r16, r10", f"st r16, r0, {next(out)}",
              "hasnb r16, east", f"st r16, r0, {next(out)}", "jmp join", "integers:"]
    out = iter(range(WORDS, WORDS + RESULTS - 1))
    for op in INT_BINARY:
        lines += [f"{op} r16, r10, r11", f"st r16, r0, {next(out)}"]
    for op, imm in INT_IMMEDIATE:
        lines += [f"{op} r16, r10, {imm}", f"st r16, r0, {next(out)}"]
    lines += ["neg r16, r10", f"st r16, r0, {next(out)}", "abs r16, r11", f"st r16, r0, {next(out)}",
              "sel r16, r15, r10, r11", f"st r16, r0, {next(out)}", "li r16, -123456789", f"st r16, r0, {next(out)}",
              "jmp join", "vectors:",
              # ranges: a = sram[0:6], b = sram[6:12]; results land in sram[16:64]
              "li r17, 0", "li r18, 6", "li r19, 6", "li r22, 16"]
    vector = ["vadd.f", "vsub.f", "vmul.f", "vmin.f", "vmax.f", "vdiv.f", "vadd", "vmul", "vdiv", "vmin", "vmax"]
    for k, op in enumerate(vector[:7]):
        lines += [f"li r22, {16 + 6 * k}", f"{op} r22, r17, r18, r19"]
    lines += ["li r22, 58", "vfma.fs r22, r17, r12, r19",  # scalar-operand fma over sram[58:64], reads 58..63
              "li r22, 1", "vcopy r22, r17, r19",  # overlapping: as if through a temporary
              "vredsum.f r16, r18, r19", "st r16, r0, 88", "vdot.f r16, r18, r18, r19", "st r16, r0, 89",
              "vredsum r16, r17, r19", "st r16, r0, 90", "vdot r16, r17, r18, r19", "st r16, r0, 91", "li r22, 64", "vscale.f r22, r17, r13, r19",
              "li r22, 70", "vfill r22, r10, r19", "li r22, 76", "vdiv r22, r17, r18, r19", "li r22, 82",
              "vmin.s r22, r17, r11, r19",
              "join:",
              "andi r23, r15, 7",  # a data-dependent loop: the lanes of one path diverge again
              "loop:", "bz r23, done", "fadd r12, r12, r13", "addi r23, r23, -1", "jmp loop",
              "done:", f"st r12, r0, {WORDS + RESULTS - 1}",
              f"li r5, {RESULTS}", f"muli r6, r4, {4 * RESULTS}", "arg r7, 1", "add r7, r7, r6", "li r8, 16", "gstv r7, r8, r5", "halt"]
    return "\n".join(lines) + "\n"


def inputs(pes: int, seed: int) -> np.ndarray:
    """(pes, WORDS) int32 bit patterns: random words and the edge cases of both interpretations."""
    rng = np.random.default_rng(seed)
    special_floats = np.array([np.nan, -np.nan, 0.0, -0.0, np.inf, -np.inf, 1.5, -2.5, 1e30, 1e-45, 3e9, -3e9,
                               0.49999997, 2.5, -0.5], dtype=np.float32).view(np.int32)
    special_ints = np.array([-2**31, -1, 0, 1, 2**31 - 1, 31, 32, -33, 7, -7], dtype=np.int32)
    words = rng.integers(-2**31, 2**31, (pes, WORDS), dtype=np.int64).astype(np.int32)
    pool = np.concatenate([special_floats, special_ints])
    picks = rng.random((pes, WORDS)) < 0.6
    words[picks] = rng.choice(pool, picks.sum())
    # Second operands (words 2, 3: the scalars r12, r13; words 6-11: the second range) hold no NaN: which of
    # two NaN operands a NumPy loop returns depends on its memory layout (the compiled path keeps the first).
    numbers = special_floats[~np.isnan(special_floats.view(np.float32))]
    words[:, 6:12] = rng.choice(numbers, (pes, 6))
    words[:, 2:4] = rng.choice(numbers, (pes, 2))
    return words


def launch(source: str, values: np.ndarray, grid, block):
    dev = ws.Device(ws.WaferSpec(width=16, height=16))
    d_in, d_out = dev.to_device(values), dev.device_array((values.shape[0], RESULTS), np.int32)
    stats = dev.launch(ws.assemble(source), grid, block, (d_in, d_out), print_output=False)
    return d_out.copy_to_host(), stats


MODES = {  # stepper constants that select the interpreter's modes
    "segments": {},
    "pe_by_pe": {"ALONE_BELOW": 10**9, "SMALL_GROUP": 10**9, "SMALL_REGION": 10**9},
    "chunks_of_3": {"CHUNK_LANES": 3},
    "threads": {"PARALLEL_MIN": 1},
    "small_groups": {"SMALL_GROUP": 10**9, "SMALL_REGION": 10**9},
}


@pytest.mark.parametrize("mode", sorted(MODES))
@pytest.mark.parametrize("seed", [1, 2])
def test_every_compiled_instruction_matches_the_numpy_executors(mode, seed, monkeypatch):
    grid, block = (2, 1), (6, 5)
    values = inputs(60, seed)
    source = program()
    with forced(Strategy(compiled=False)):
        reference = launch(source, values, grid, block)
    for name, value in MODES[mode].items():
        monkeypatch.setattr(stepper, name, value)
    with parallel.threads(3):
        compiled = launch(source, values, grid, block)
    assert_same_run(reference, compiled)
    out = reference[0]
    integers = np.flatnonzero(np.arange(60) % 3 == 0)  # (NumPy directly, for a few of them)
    a, b = values[integers, 0], values[integers, 1]
    np.testing.assert_array_equal(out[integers, 0], a + b)
    np.testing.assert_array_equal(out[integers, 11], np.minimum(a, b))


@pytest.mark.parametrize("mode", sorted(MODES))
def test_the_compiled_fma_rounds_once_in_every_mode(mode, monkeypatch):
    """The interpreter's two fma loops (`run_group`, PE by PE, and `simple_ops.run_simple`, over a run of PEs)
    give a * b + c rounded once, as `exact_fma`, where the float64 sum lands on a float32 tie
    (`double_rounding_cases`; rounding it again gave the even neighbour): the float path's
    `fma r16, r12, r13, r14` of `program()` with those operands, in each mode. (`ws.fma` in a short kernel
    runs on the NumPy executors: `test_fma_rounds_once_on_both_engines`.)"""
    from test_isa_float_math import double_rounding_cases, exact_fma

    a, b, c = double_rounding_cases()
    values = inputs(60, 5)
    floats = np.flatnonzero(np.arange(60) % 3 == 2)[:a.size]  # (the PEs of the float path)
    values[floats, 2], values[floats, 3], values[floats, 4] = a.view(np.int32), b.view(np.int32), c.view(np.int32)
    for name, value in MODES[mode].items():
        monkeypatch.setattr(stepper, name, value)
    with parallel.threads(3):
        out = launch(program(), values, (2, 1), (6, 5))[0]
    column = 2 * len(FLOAT_BINARY) + len(FLOAT_UNARY)  # (the fma's result, after those of the float ops)
    want = np.array([exact_fma(*t) for t in zip(a, b, c)], np.float32)
    np.testing.assert_array_equal(out[floats, column], want.view(np.int32))


def test_the_compiled_path_runs_and_can_be_switched_off(monkeypatch):
    calls = []
    original = stepper.CompiledMixin._run_compiled
    monkeypatch.setattr(stepper.CompiledMixin, "_run_compiled", lambda self, pc, group: calls.append(pc) or
                        original(self, pc, group))
    values = inputs(60, 3)
    with forced(Strategy(compiled=False)):
        launch(program(), values, (2, 1), (6, 5))
    assert calls == []
    launch(program(), values, (2, 1), (6, 5))
    assert calls


LOOPS_FOREVER = """
    sreg r1, tid.x
    andi r1, r1, 1
    bz r1, done
spin:
    addi r2, r2, 1
    jmp spin
done:
    halt
"""

OUT_OF_BOUNDS = """
.sram 4
    sreg r1, tid.x
    andi r2, r1, 1
    bz r2, done
    ld r3, r1, 2
done:
    halt
"""


def failure(source: str, compiled: bool, **options) -> ws.WaferError:
    dev = ws.Device(ws.WaferSpec(width=8, height=2))
    with forced(Strategy(compiled=compiled)), pytest.raises(ws.WaferError) as error:
        dev.launch(ws.assemble(source), (1, 1), (8, 2), print_output=False, **options)
    return error.value


@pytest.mark.parametrize("source, options, kind", [(LOOPS_FOREVER, {"max_cycles": 5000}, ws.CycleLimitError),
                                                   (OUT_OF_BOUNDS, {}, ws.MemoryAccessError)])
def test_limits_and_faults_raise_the_same_errors_on_the_compiled_path(source, options, kind):
    """The interpreter stops a PE before a branch that would pass max_cycles, or an access that would
    fail: the NumPy engine then runs it and raises, naming the same PEs, pc and line."""
    reference, compiled = failure(source, False, **options), failure(source, True, **options)
    assert type(reference) is type(compiled) is kind
    assert str(compiled) == str(reference)
    assert compiled.state.where() == reference.state.where()  # (the PEs the error left elsewhere too)


@pytest.mark.parametrize("mapped", [False, True])
def test_fifo_stacks_kept_from_a_finished_wave_start_as_fresh_ones(monkeypatch, mapped):
    """`FabricState` takes the stacks of an earlier wave of the same shapes (`fabric_state._SPARE`): every
    slot that wave wrote (a transpose's vector words fill them all) must read as a fresh stack's would.
    `mapped`: the time and tag stacks in memory mapped for them (`hostmem.sparse_zeros`, as wafer-sized
    stacks are), not the heap: the same cycles and results."""
    from test_bench_workloads import workloads
    from wafersim.sim import hostmem
    from wafersim.sim.compiled import fabric_state

    if mapped:
        monkeypatch.setattr(hostmem, "SPARSE_ZEROS_MIN_BYTES", 0)

    case = workloads.WORKLOADS["transpose"]("tiny", np.random.default_rng(5))
    fabric_state._SPARE.clear()
    fresh = case.simulate()  # stacks mapped fresh
    assert fabric_state._SPARE, "the finished wave did not hand its stacks back"
    assert isinstance(fabric_state._SPARE[-1][0].base, mmap.mmap) == mapped
    for _ in range(2):
        kept = fabric_state._SPARE[-1]
        assert kept[2].max() > 0  # (words were pushed: the slots below that count were written)
        again = case.simulate()  # on the kept stacks, as its last wave left them
        assert fabric_state._SPARE[-1][0] is kept[0], "the launch did not reuse the kept stacks"
        assert_same_run(fresh, again)
        np.testing.assert_array_equal(again[0], case.numpy())


@ws.jit
def switch_rounds(values, out, k, rounds, turn):
    """PE x takes branch x % k of six for `rounds` rounds, and a data-dependent one inside some: segments
    that split, reconverge side by side and owe different cycles (fdiv, fsqrt) when they merge. From round
    `turn` on, odd rows take the next branch (no turn when `turn` >= `rounds`: the branches' registers are
    then written before the loop only, and the interpreter reuses their conditions)."""
    x, y = ws.grid(2)
    v = values[y, x]
    branch = ws.threadIdx.x % k
    for r in range(rounds):
        if r == turn and y % 2 == 1:
            branch = (branch + 1) % k
        if branch == 0:
            v = (v + 0.25) * 0.5
        elif branch == 1:
            v = v / (v + 1.0)
            if v > 0.3:
                v = v * 0.75
        elif branch == 2:
            v = math.sqrt(v)
        elif branch == 3:
            v = 3.5 * v * (1.0 - v)
        elif branch == 4:
            v = min(v * 1.5, 1.0)
        else:
            v = max(v - 0.25, 0.0) * 1.25
        if v < 0.1:
            v = v + 0.5
    out[y, x] = v


@pytest.mark.parametrize("k", [2, 5, 6])
@pytest.mark.parametrize("chunk", [7, 1024])
@pytest.mark.parametrize("turn", [2, 99])
def test_divergent_rounds_are_identical_with_and_without_the_segment_fast_paths(k, chunk, turn, monkeypatch):
    """`Strategy.compiled_loops` (register-only loops, in-place merges, splits in order, kept time bounds)
    against the interpreter's general path and the NumPy engine, over chunks that split mid-row."""
    monkeypatch.setattr(stepper, "CHUNK_LANES", chunk)
    values = np.random.default_rng(k).random((14, 46), dtype=np.float32)

    def run():
        dev = ws.Device(ws.WaferSpec(width=46, height=14))
        d_values, d_out = dev.to_device(values), dev.device_array(values.shape, np.float32)
        stats = switch_rounds[(2, 2), (23, 7)](d_values, d_out, k, 5, turn)
        return d_out.copy_to_host(), stats

    with forced(Strategy(compiled=False)):
        reference = run()
    for strategy in (Strategy(compiled_loops=False), Strategy()):
        with forced(strategy):
            assert_same_run(reference, run())


@pytest.mark.parametrize("loops", [False, True])
def test_a_cycle_limit_in_divergent_loops_raises_the_same_error_with_the_segment_fast_paths(loops):
    dev = ws.Device(ws.WaferSpec(width=8, height=2))
    errors = []
    for strategy in (Strategy(compiled=False), Strategy(compiled_loops=loops)):
        with forced(strategy), pytest.raises(ws.CycleLimitError) as error:
            dev.launch(ws.assemble(LOOPS_FOREVER), (1, 1), (8, 2), print_output=False, max_cycles=5000)
        errors.append(error.value)
    assert str(errors[1]) == str(errors[0])
    assert errors[1].state.where() == errors[0].state.where()


def test_steady_branches_are_those_whose_register_nothing_after_them_writes():
    """`ProgramTable.steady`: r1 is written before the loop only, r2 inside it, r3 after a loop exit that a
    branch back can reach (and r0 never): the interpreter may reuse the conditions of r1's and r0's branches."""
    source = """
    sreg r1, tid.x
    andi r1, r1, 1
    li r2, 3
top:
    bnz r1, odd
    addi r2, r2, -1
odd:
    bz r3, skip
    nop
skip:
    bz r0, later
later:
    bnz r2, top
    li r3, 1
    bnz r3, top
    halt
"""
    program = ws.assemble(source)
    decoded = dict(decode(program.code))
    table = ProgramTable(decoded, len(program.code), {instr.op: 1.0 for instr in decoded.values()})
    steady = {decoded[pc].op + " r" + str(decoded[pc].a) for pc in np.flatnonzero(table.steady).tolist()}
    assert steady == {"bnz r1", "bz r0"}


@ws.jit
def count_up(out, n):
    i = 0
    while i < n:  # a one-PE loop: a small converged group, one scheduler visit per iteration in NumPy
        i += 1
    out[0] = i


def test_small_converged_groups_go_compiled_once_loading_numba_pays(monkeypatch):
    """A process runs small converged groups in NumPy until it has loaded Numba anyway, or has
    run `SMALL_RUNS_BEFORE_LOADING` of them (then compiled: a one-PE loop 18 s -> 0.03 s per million
    iterations); the count, cycles and result are the same either way (the reference: Python's count)."""
    calls = []
    original = stepper.CompiledMixin._run_compiled
    monkeypatch.setattr(stepper.CompiledMixin, "_run_compiled", lambda self, pc, group: calls.append(pc) or
                        original(self, pc, group))
    monkeypatch.setattr(stepper, "numba_loaded", lambda: False)  # (as in a process without Numba)
    monkeypatch.setattr(stepper, "_small_runs", 0)
    monkeypatch.setattr(stepper, "SMALL_RUNS_BEFORE_LOADING", 50)
    dev = ws.Device(ws.WaferSpec(width=4, height=4))
    out = dev.device_array(1, np.int32)
    short = count_up[1, 1](out, 10)  # ~10 small runs: NumPy only
    assert calls == [] and out.copy_to_host()[0] == 10
    long = count_up[1, 1](out, 200)  # passes 50 runs in all: the rest compiled
    assert calls and out.copy_to_host()[0] == 200
    with forced(Strategy(compiled=False)):
        reference = count_up[1, 1](out, 200)
    assert (long.cycles, long.instructions) == (reference.cycles, reference.instructions)
    assert (long.cycles - short.cycles) % 190 == 0  # the same cycles for each of the 190 more iterations


@ws.jit
def _loads_past_the_end_on_some_pes(values, out):
    i = ws.grid(1)
    s = 0.0
    j = 0
    while j < 5 + (i % 4):  # trip counts differ: the group diverges
        where = i * 3 + j * j
        if i % 17 == 5:
            where = where + 1000  # past the end of `values`, in the first trip
        s += values[where]
        j += 1
    out[i] = s


@pytest.mark.parametrize("alone_below", [8, 1])
@pytest.mark.parametrize("width", [80, 91])
def test_pes_failing_one_instruction_in_a_divergent_segment_are_named_together(width, alone_below, monkeypatch):
    """A few PEs (run one by one in the interpreter when fewer than `ALONE_BELOW`, else as a segment) fail the
    same load: the error names every one of them, as the NumPy engine's masked run of their group does (it
    named only the first, the others stopped where they were)."""
    monkeypatch.setattr(stepper, "ALONE_BELOW", alone_below)
    failing = [(i, 0) for i in range(width) if i % 17 == 5]  # (the reference: plain Python)
    assert (len(failing) < stepper.ALONE_BELOW) == (alone_below == 8)
    errors = []
    for compiled in (False, True):
        dev = ws.Device(ws.WaferSpec(width=width, height=1))
        with forced(Strategy(compiled=compiled)), pytest.raises(ws.MemoryAccessError) as error:
            _loads_past_the_end_on_some_pes[1, width](dev.to_device(np.ones(3 * width + 64, np.float32)),
                                                      dev.device_array(width))
        errors.append(error.value)
    for err in errors:
        assert err.pe_count == len(failing) and err.pes == failing
    assert str(errors[0]) == str(errors[1])


@ws.jit
def _one_pe_spins(out):
    i = ws.grid(1)
    v = 0
    if ws.threadIdx.x % 7 == 1:
        while v >= 0:  # never ends
            v = (v + 3) % 77
    else:
        for j in range(50):  # ends well within the limit
            v += j
    out[i] = v + i


@pytest.mark.parametrize("width", [3, 20])
def test_a_cycle_limit_error_lists_the_looping_pes_alone_whatever_the_strategy(width):
    """At max_cycles the other PEs run on until each halts, waits for good or passes the limit too: the
    error's `running` is then where every PE that had not halted stands, the same on every path (the NumPy
    path listed the PEs that were only behind it, inside their `for` loop; the compiled path, at their
    final store)."""
    spinning = [(x, 0) for x in range(width) if x % 7 == 1]  # (the reference: plain Python)
    errors = []
    for compiled in (False, True, True):  # (the compiled path twice: it must not depend on what ran before)
        dev = ws.Device(ws.WaferSpec(width=width, height=1))
        with forced(Strategy(compiled=compiled)), pytest.raises(ws.CycleLimitError) as error:
            _one_pe_spins[1, width](dev.device_array(width, np.int32), max_cycles=5000)
        errors.append(error.value)
    for err in errors:
        assert sorted(pe for place in err.running for pe in place["pes"]) == spinning
        assert err.running == errors[0].running and str(err) == str(errors[0])


@ws.jit
def _fails_late_and_early(out, n):
    i = ws.grid(1)
    d = 1
    if i == 0:  # the first PE fails late: after a loop
        for _ in range(n):
            d += 1
        d = 0
    elif i == 7:  # the last fails at once
        d = 0
    out[i] = 10 // d


@ws.jit
def _mistyped_words_at_different_times(out):
    i = ws.grid(1)
    s = 0
    j = 0
    while j < 3 + (i % 5):  # each PE's loop of its own length: its word leaves at its own time
        s += j
        j += 1
    if i % 2 == 0:
        if i % 17 == 4:
            ws.send(ws.EAST, 1.5)  # a float32 word, received as an int32 by PE i + 1
        else:
            ws.send(ws.EAST, s)
    else:
        s += ws.recv(ws.WEST, dtype=np.int32)
    out[i] = s


def _failure_under(strategy, kernel, width, *args):
    dev = ws.Device(ws.WaferSpec(width=width, height=1))
    with forced(strategy), pytest.raises(ws.WaferError) as error:
        kernel[1, width](dev.device_array(width, np.int32), *args)
    return error.value


@pytest.mark.parametrize("width", [8, 40])
def test_the_failure_first_in_simulated_time_is_reported_whatever_the_strategy(width):
    """PE 0 divides by zero after a loop, PE 7 at once: the launch reports PE 7 alone, under every strategy
    (the engine meets them in an order of its own; the other PEs run on up to the failure's cycle)."""
    from wafersim.sim.strategy import REFERENCE
    errors = [_failure_under(s, _fails_late_and_early, width, 50) for s in (REFERENCE, Strategy(compiled=False),
                                                                            Strategy())]
    for err in errors:
        assert type(err) is ws.KernelZeroDivisionError and err.pes == [(7, 0)] and err.pe_count == 1
        assert str(err) == str(errors[0])


@pytest.mark.parametrize("width", [40, 80, 91])
def test_mistyped_words_received_at_different_times_report_one_failure_on_every_strategy(width):
    """Receivers 5, 39, 73 (plain Python below) each take a float32 word as an int32, at cycles that depend
    on their senders' loops; at 91 PEs PE 90 also sends off the mesh. Every strategy reports the same one
    (the compiled path named another receiver, or even another error, before)."""
    from wafersim.sim.strategy import REFERENCE
    receivers = [i for i in range(1, width, 2) if (i - 1) % 17 == 4]
    errors = [_failure_under(s, _mistyped_words_at_different_times, width)
              for s in (REFERENCE, Strategy(compiled=False), Strategy(), Strategy(compiled_fabric=False))]
    for err in errors:
        assert type(err) is type(errors[0]) and str(err) == str(errors[0])
        if isinstance(err, ws.WordTypeError):
            assert err.pe[0] in receivers and err.sender == (err.pe[0] - 1, 0)
            assert err.pes == [err.pe] and err.pe_count == 1  # (as every error naming PEs)
        else:
            assert isinstance(err, ws.MeshBoundaryError) and err.pe == (width - 1, 0) and width % 2 == 1


@ws.jit
def _reads_past_the_end_after_loops(buf, out, n1, n2):
    i = ws.grid(1)
    s = 0
    if i == 1:
        for _ in range(n1):
            s += 1
    elif i == 2:
        for _ in range(n2):
            s += 1
    if i == 1 or i == 2:
        out[i] = buf[s + 100]  # PE i reads index 100 + its loop's trips: out of bounds after its loop


@pytest.mark.parametrize("n1, n2", [(3, 105), (105, 3)])
def test_a_failure_s_message_describes_the_pe_it_names(n1, n2):
    """PE 1 and PE 2 read out of bounds after loops of n1 and n2 trips: the shorter loop's PE fails first and
    is named, with its own index in the message (the index came from the first failing PE by number)."""
    from wafersim.sim.strategy import REFERENCE
    first, index = (1, 100 + n1) if n1 < n2 else (2, 100 + n2)  # (the reference: the loop lengths)
    for strategy in (REFERENCE, Strategy(compiled=False), Strategy()):
        dev = ws.Device(ws.WaferSpec(width=4, height=1))
        with forced(strategy), pytest.raises(ws.MemoryAccessError) as error:
            _reads_past_the_end_after_loops[1, 4](dev.device_array(16, np.int32), dev.device_array(4, np.int32),
                                                  n1, n2)
        assert error.value.pes == [(first, 0)] and error.value.index == index
        assert f"index {index} is out of bounds" in str(error.value)


# Two PEs run one `sendv` in one group, at one cycle: PE 0's words lie outside its SRAM, PE 1 sends off
# the block's east edge. The executor checks the edge first; PE 0's failure comes first in the PEs' order.
_TWO_FAILURES_AT_ONCE = {
    "one group": ".sram 8\n  li r1, 0\n  li r2, 1000\n  sendv east, 0, r1, r2\n  halt\n",
    "two branches": ".sram 8\n  sreg r1, tid.x\n  li r2, 1000\n  bz r1, x\n  sendv east, 0, r0, r2\n  halt\n"
                    "x:\n  sendv east, 0, r0, r2\n  halt\n",
}


@pytest.mark.parametrize("layout", sorted(_TWO_FAILURES_AT_ONCE))
def test_failures_of_two_kinds_at_one_cycle_report_the_first_pe_s(layout):
    """Ties in simulated time go to the failure whose first PE comes first (docs/timing.md), also when one
    instruction of one group fails in two ways: the SRAM overrun of PE (0, 0), not PE (1, 0)'s edge send."""
    from wafersim.sim.strategy import REFERENCE
    for strategy in (REFERENCE, Strategy(compiled=False), Strategy()):
        dev = ws.Device(ws.WaferSpec(width=4, height=2))
        with forced(strategy), pytest.raises(ws.MemoryAccessError) as error:
            ws.Kernel(ws.assemble(_TWO_FAILURES_AT_ONCE[layout]), dev)[1, (2, 1)]()
        assert error.value.pes == [(0, 0)] and error.value.pe_count == 1
        assert error.value.source[0] == "<assembly>"  # (the line of the sendv that failed)


FMA_KERNEL = """
import wafersim as ws


@ws.jit
def fused(a, b, c, out):
    i = ws.grid(1)
    out[i] = ws.fma(a[i], b[i], c[i])
"""


@pytest.mark.parametrize("compiled", [False, True])
def test_fma_rounds_once_on_both_engines(compiled, tmp_path, monkeypatch):
    """`ws.fma` (the `fma` instruction) in a kernel is a * b + c rounded once to float32, with the compiled
    path off and on: 641 * 6700417 + 2**56 is 2**56 + 2**32 + 1 exactly, just above a float32 tie that the
    float64 sum lands on; rounding the float64 sum again gave 2**56, not 2**56 + 2**33. This kernel is too
    short for the interpreter to take its fma (the NumPy executors run it either way): the interpreter's
    fma loops are `test_the_compiled_fma_rounds_once_in_every_mode`'s."""
    from conftest import load_source
    from test_isa_float_math import double_rounding_cases, exact_fma

    calls = []
    original = stepper.CompiledMixin._run_compiled
    monkeypatch.setattr(stepper.CompiledMixin, "_run_compiled", lambda self, pc, group: calls.append(pc) or
                        original(self, pc, group))
    for name, value in MODES["pe_by_pe"].items():
        monkeypatch.setattr(stepper, name, value)
    a, b, c = double_rounding_cases()
    n = a.size
    dev = ws.Device(ws.WaferSpec(width=n, height=1))
    out = dev.device_array(n)
    kernel = load_source(tmp_path, FMA_KERNEL).fused
    with forced(Strategy(compiled=compiled)):
        kernel[(1, 1), (n, 1)](dev.to_device(a), dev.to_device(b), dev.to_device(c), out)
    assert bool(calls) == compiled
    want = np.array([exact_fma(*t) for t in zip(a, b, c)], np.float32)
    np.testing.assert_array_equal(out.copy_to_host().view(np.int32), want.view(np.int32))
    assert out.copy_to_host()[8] == np.float32(2.0**56 + 2.0**33)
