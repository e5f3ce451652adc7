"""Which groups `CompiledMixin._wants_compiled` sends to the interpreter: a few PEs of a large region that loop
alone do (once loading Numba pays), a stencil's block edges do not; either way results and cycles are those of
the NumPy engine, and results those of NumPy; so does a mid-sized converged group with a loop ahead, and a converged group at a block all-reduce's chain split
(`Strategy.compiled_chains`)."""
from __future__ import annotations

import numpy as np

import wafersim as ws
from wafersim.kernels import heat, reference
from wafersim.sim.compiled import stepper
from wafersim.sim.compiled.table import ProgramTable
from wafersim.sim.lanes import Lanes
from wafersim.isa.encoding import decode
from wafersim.sim.strategy import FAST, REFERENCE, Strategy, forced
from test_engine_strategies import assert_same_run
from test_bench_workloads import workloads

# (the kernels of bench's `sparse` and `matvec` workloads and their NumPy versions)
sparse_work, numpy_sparse = workloads.workloads_patterns.sparse_work, workloads.workloads_patterns.numpy_sparse
matvec, numpy_matvec = workloads.workloads_ported.matvec, workloads.workloads_ported.numpy_matvec

F = np.float32


def record_compiled_runs(monkeypatch) -> list[tuple[int, int, bool]]:
    """(region PEs, group PEs, index form) of every group `_run_compiled` runs from now on."""
    runs = []
    original = stepper.CompiledMixin._run_compiled

    def recording(self, pc, group):
        runs.append((self.n, group.lanes.count, group.lanes.idx is not None))
        return original(self, pc, group)
    monkeypatch.setattr(stepper.CompiledMixin, "_run_compiled", recording)
    return runs


def test_a_few_pes_looping_alone_in_a_large_region_go_compiled_once_loading_numba_pays(monkeypatch):
    """8 of 256 PEs (index form, a region past `SMALL_REGION`) loop while the rest wait at a barrier: NumPy
    runs them until the process has run `SMALL_RUNS_BEFORE_LOADING` small runs' worth of such groups, then
    the interpreter runs their loop; results match NumPy's, cycles and counts the NumPy engine's."""
    width, height = 32, 8
    rng = np.random.default_rng(7)
    seeds = (rng.random((height, width), dtype=F) * F(0.8) + F(0.1)).astype(F)
    active = np.zeros((height, width), dtype=np.int32)
    active.flat[rng.choice(width * height, 8, replace=False)] = 1
    assert 8 < width * height / 16 and width * height > stepper.SMALL_REGION  # (index form, a large region)
    runs = record_compiled_runs(monkeypatch)
    monkeypatch.setattr(stepper, "numba_loaded", lambda: False)  # (as in a process without Numba)
    monkeypatch.setattr(stepper, "_small_runs", 0)
    monkeypatch.setattr(stepper, "SMALL_RUNS_BEFORE_LOADING", 100)
    dev = ws.Device(ws.WaferSpec(width=width, height=height))
    d_seeds, d_active, d_out = dev.to_device(seeds), dev.to_device(active), dev.device_array((height, width), F)

    def run(iterations):
        stats = sparse_work[(1, 1), (width, height)](d_seeds, d_active, d_out, iterations)
        np.testing.assert_array_equal(d_out.copy_to_host(), numpy_sparse(seeds, active, iterations))
        return stats

    run(20)  # ~20 runs of the loop (each one small run's worth: 8 PEs): NumPy only
    assert runs == []
    long = run(300)  # passes 100 in all: the rest of the loop compiled
    assert runs and all(region == width * height and pes == 8 and index for region, pes, index in runs)
    with forced(Strategy(compiled=False)):
        numpy_engine = run(300)
    assert (long.cycles, long.instructions) == (numpy_engine.cycles, numpy_engine.instructions)
    np.testing.assert_array_equal(long.pe_instructions, numpy_engine.pe_instructions)


def test_a_stencils_block_edges_stay_in_numpy(monkeypatch):
    """The heat stencil's edge rows and columns (index form in a region past `SMALL_REGION`) come back to their
    pcs once per step, after the block: between transfers (which small regions' edges run compiled,
    `FABRIC_GROUP`), they stay in NumPy even with Numba loaded (in the interpreter, split from the block,
    wafer-sized heat and Life took twice as long)."""
    answers = []
    original = stepper.CompiledMixin._wants_compiled

    def recording(self, pc, lanes):
        wanted = original(self, pc, lanes)
        if lanes.idx is not None and self.n > stepper.SMALL_REGION and pc not in self.compiled_fabric_pcs:
            answers.append(wanted)
        return wanted
    monkeypatch.setattr(stepper.CompiledMixin, "_wants_compiled", recording)
    monkeypatch.setattr(stepper, "SMALL_RUNS_BEFORE_LOADING", 0)
    u = np.random.default_rng(3).random((24, 40), dtype=F)
    out, _ = heat.heat(u, 0.1, 6)
    np.testing.assert_array_equal(out, reference.heat(u, 0.1, 6, order=reference.ORDER_API))
    assert len(answers) >= 6 and not any(answers)  # (edges came at every step, and stayed)


def test_loop_ahead_marks_the_pcs_that_reach_a_backward_branch():
    """`ProgramTable.loop_ahead`: the pcs from which fall-through and jumps reach a branch back, before an
    instruction the interpreter stops at (here: a halt)."""
    source = """
    li r1, 3
    jmp top
    halt
top:
    addi r1, r1, -1
    bnz r1, top
    li r2, 1
    halt
"""
    program = ws.assemble(source)
    decoded = dict(decode(program.code))
    table = ProgramTable(decoded, len(program.code), {instr.op: 1.0 for instr in decoded.values()})
    looping = [decoded[pc].op for pc in np.flatnonzero(table.loop_ahead).tolist()]
    assert looping == ["li", "jmp", "addi", "bnz"]  # (not the halts, nor the li after the loop)


def test_a_mid_sized_converged_group_with_a_loop_ahead_goes_compiled_a_large_one_stays_in_numpy(monkeypatch):
    """A converged group of 128 PEs (past `SMALL_GROUP`, up to `DENSE_LOOP_GROUP`) at its column-axpy loop runs it
    in the interpreter; one of 1,024 stays in NumPy (whose calls cost less per PE there). Results match NumPy's
    (the kernel's order of roundings), cycles and counts the NumPy engine's."""
    n = 8
    monkeypatch.setattr(stepper, "SMALL_RUNS_BEFORE_LOADING", 0)
    for (width, height), goes in (((16, 8), True), ((32, 32), False)):
        pes = width * height
        assert stepper.SMALL_GROUP < pes and (pes <= stepper.DENSE_LOOP_GROUP) == goes
        rng = np.random.default_rng(pes)
        a = rng.standard_normal((pes, n, n)).astype(F)
        x = rng.standard_normal((pes, n)).astype(F)
        expected = numpy_matvec(a, x)
        dev = ws.Device(ws.WaferSpec(width=width, height=height))
        d_a = dev.to_device(np.ascontiguousarray(a.transpose(0, 2, 1)).reshape(pes * n, n))
        d_x, d_y = dev.to_device(x), dev.device_array((pes, n), F)
        runs = record_compiled_runs(monkeypatch)
        stats = matvec[(1, 1), (width, height)](d_a, d_x, d_y, 1, n)
        np.testing.assert_array_equal(d_y.copy_to_host(), expected)
        assert any(group == pes and not index for _, group, index in runs) == goes, runs
        with forced(Strategy(compiled=False)):
            numpy_engine = matvec[(1, 1), (width, height)](d_a, d_x, d_y, 1, n)
        assert (stats.cycles, stats.instructions) == (numpy_engine.cycles, numpy_engine.instructions)
        np.testing.assert_array_equal(stats.pe_instructions, numpy_engine.pe_instructions)


def test_a_divergent_group_with_a_short_run_ahead_stays_in_numpy_in_a_small_region(monkeypatch):
    """A divergent group that would stop within a few instructions at one the interpreter hands back (here a
    global load, `gld`) runs them in NumPy unless its region is past `SHORT_RUN_REGION` (a float16 GEMV's
    unrolled column loop went to the interpreter for three instructions between two `vhfma`s, 2x slower);
    with a long run ahead it goes compiled in any region."""
    source = "    li r2, 8\n    li r3, 1\n    gld r4, r3, 0\n" + "    addi r2, r2, 1\n" * 20 + "    halt\n"
    program = ws.assemble(source)
    decoded = dict(decode(program.code))
    table = ProgramTable(decoded, len(program.code), {instr.op: 1.0 for instr in decoded.values()})
    short = 0  # (two instructions before the `gld`; twenty after it)
    long = min(pc for pc, instr in decoded.items() if instr.op == "addi")
    assert not table.long_run[short] and table.long_run[long]
    monkeypatch.setattr(stepper, "numba_loaded", lambda: True)  # (loaded: `_loading_pays`)
    for region, short_goes in ((64, False), (stepper.SHORT_RUN_REGION, False), (stepper.SHORT_RUN_REGION + 1, True)):
        mask = np.zeros(region, dtype=bool)
        mask[::3] = True
        wave = type("Wave", (), {"compiled_table": table, "n": region, "compiled_fabric_pcs": frozenset(),
                                 "compiled_last_run": (-1, 0), "compiled_chains": frozenset(),
                                 "compiled_refused": {}})()
        lanes = Lanes.from_mask(mask)
        assert stepper.CompiledMixin._wants_compiled(wave, short, lanes) is short_goes
        assert stepper.CompiledMixin._wants_compiled(wave, long, lanes) is True


def test_a_converged_groups_refusal_kept_per_pc_gives_the_answer_the_tests_give(monkeypatch):
    """`compiled_refused` (a converged group refused on the pc's and its size's facts alone: the same answer at
    once when asked again) against a wave that keeps nothing, for groups of every form and size asked in random
    order at every pc of a program with a loop (whose mid-sized converged groups' answer depends on Numba being
    loaded, and is never kept), a long run and a transfer."""
    source = ("    li r1, 3\n    recv r5, north, 0\ntop:\n" + "    addi r2, r2, 1\n" * 12
              + "    addi r1, r1, -1\n    bnz r1, top\n    gld r4, r3, 0\n    li r2, 1\n    halt\n")
    program = ws.assemble(source)
    decoded = dict(decode(program.code))
    table = ProgramTable(decoded, len(program.code), {instr.op: 1.0 for instr in decoded.values()})
    assert table.loop_ahead.any() and not table.loop_ahead.all()
    n, g = 1024, np.random.default_rng(5)
    fabric_pcs = frozenset(pc for pc, instr in decoded.items() if instr.op == "recv")
    mask = np.zeros(n, dtype=bool)
    mask[::3] = True
    groups = [Lanes.full(n), Lanes.all_but(n, np.arange(0, n, 32)), Lanes.full(128), Lanes.full(256),
              Lanes.full(257), Lanes.full(64), Lanes.full(65), Lanes(n, idx=np.arange(5)), Lanes.from_mask(mask)]

    def wave():
        return type("Wave", (), {"compiled_table": table, "n": n, "compiled_fabric_pcs": fabric_pcs,
                                 "compiled_last_run": (-1, 0), "compiled_chains": frozenset(),
                                 "compiled_refused": {}, "asleep": {}})()
    for loaded in (True, False):
        monkeypatch.setattr(stepper, "numba_loaded", lambda: loaded)
        monkeypatch.setattr(stepper, "_small_runs", 0)
        keeping = wave()
        asks = [(pc, lanes) for pc in decoded for lanes in groups] * 3
        for i in g.permutation(len(asks)):
            pc, lanes = asks[i]
            fresh = wave()
            fresh.compiled_last_run = keeping.compiled_last_run
            monkeypatch.setattr(stepper, "_small_runs", 0)
            expected = stepper.CompiledMixin._wants_compiled(fresh, pc, lanes)
            monkeypatch.setattr(stepper, "_small_runs", 0)
            assert stepper.CompiledMixin._wants_compiled(keeping, pc, lanes) is expected, (pc, lanes.count)
            assert keeping.compiled_last_run == fresh.compiled_last_run == (pc, lanes.count)
        kept = keeping.compiled_refused
        assert kept and set(kept.values()) <= {65, 128, 256, 257, n - 32, n} and not set(kept) & fabric_pcs
        assert all(size > stepper.DENSE_LOOP_GROUP or not table.loop_ahead[pc] for pc, size in kept.items())


def test_woken_pes_sorted_through_a_region_mask_are_those_np_sort_gives():
    """`_sorted_pes` (a call's woken resident sleepers, in wake order: a row chain's a column apart; the engine
    asks it for at least `SPARSE_FRACTION` of the region) against `np.sort`, for few and many."""
    g = np.random.default_rng(3)
    n = 757 * 40
    column_order = np.arange(n).reshape(40, 757).T.ravel()  # (as a row chain wakes them)
    for size in (1, 50, n // 16 - 1, n // 16, n // 2, n - 5, n):
        pes = column_order[np.sort(g.choice(n, size=size, replace=False))]
        got = stepper._sorted_pes(pes, n)
        np.testing.assert_array_equal(got, np.sort(pes))
        assert got.dtype == np.int64


def _rows_through(kernel, rows: np.ndarray):
    """`kernel(rows, out, 4)` on one block of 32 x 16 PEs, a row of `rows` a PE: (out, stats)."""
    device = ws.Device(ws.WaferSpec(width=32, height=16))
    d_rows, d_out = device.to_device(rows), device.device_array(rows.shape, F)
    stats = kernel[1, (32, 16)](d_rows, d_out, 4)
    return d_out.copy_to_host(), stats


def test_a_converged_group_at_a_chain_split_runs_the_all_reduce_in_one_call(monkeypatch):
    """Block all-reduces of dot products in a loop over 32 x 16 PEs (a region of up to `FABRIC_GROUP`, a group too
    large for the interpreter's loops: NumPy runs the vector code): under FAST the whole block enters the
    interpreter at the chain's split (`ProgramTable.chain_entries`), one call per all-reduce; with `compiled_chains`
    off it does not. Results, cycles and statistics are the reference engine's either way, and the values NumPy's
    (the chains' float32 order: loosely)."""
    from wafersim import collectives as wsc

    @ws.jit
    def scaled_sums(b_rows, out, rounds):
        pe = ws.threadIdx.y * ws.blockDim.x + ws.threadIdx.x
        a = ws.local.array(16, np.float32)
        b = ws.local.array(16, np.float32)
        b[0:16] = b_rows[pe, 0:16]
        a[0:16] = b[0:16]
        for _ in range(rounds):
            total = wsc.block_all_reduce(ws.dot(a[0:16], a[0:16]), wsc.SUM)
            a[0:16] = a[0:16] * (16.0 / total) + b[0:16]
        out[pe, 0:16] = a[0:16]

    rows = np.random.default_rng(3).standard_normal((512, 16)).astype(F)

    def run():
        return _rows_through(scaled_sums, rows)

    with forced(REFERENCE):
        reference = run()
    a = rows.astype(np.float64)
    for _ in range(4):
        a = a * (16.0 / (a * a).sum()) + rows
    np.testing.assert_allclose(reference[0], a, rtol=1e-4, atol=1e-5)
    at_entries = []
    original = stepper.CompiledMixin._run_compiled

    def recording(self, pc, group):
        if pc in self.compiled_table.chain_entries:
            at_entries.append(group.lanes.count)
        return original(self, pc, group)
    monkeypatch.setattr(stepper.CompiledMixin, "_run_compiled", recording)
    for strategy, entered in ((FAST, [512] * 4), (Strategy(compiled_chains=False), [])):
        at_entries.clear()
        with forced(strategy):
            assert_same_run(reference, run())
        assert at_entries == entered


def test_a_broadcasts_sender_joins_its_receivers_rather_than_stepping_alone(monkeypatch):
    """Two block all-reduces back to back (32 x 16 PEs): the root's instruction after its broadcast word is the next
    dot product's `vdot`, which an interpreter call's stop before it would have the NumPy engine run for the root
    alone. A PE that sent a routed word in the call stopped right after it, refused nothing: it joins the scheduler
    and meets its receivers there. Under FAST no lone NumPy step follows a call after the root's first (checked)
    send; results, cycles and statistics are the reference engine's under every strategy, the values NumPy's."""
    from wafersim import collectives as wsc
    from wafersim.sim import wave
    from test_engine_strategies import run_every_strategy

    @ws.jit
    def two_sums(b_rows, out, rounds):
        pe = ws.threadIdx.y * ws.blockDim.x + ws.threadIdx.x
        a = ws.local.array(16, np.float32)
        b = ws.local.array(16, np.float32)
        b[0:16] = b_rows[pe, 0:16]
        a[0:16] = b[0:16]
        for _ in range(rounds):
            total = wsc.block_all_reduce(ws.dot(a[0:16], a[0:16]), wsc.SUM)
            cross = wsc.block_all_reduce(ws.dot(a[0:16], b[0:16]), wsc.SUM)
            a[0:16] = a[0:16] * (16.0 / total) + b[0:16] * (cross * 0.001)
        out[pe, 0:16] = a[0:16]

    rows = np.random.default_rng(5).standard_normal((512, 16)).astype(F)

    def run():
        return _rows_through(two_sums, rows)

    reference = run_every_strategy(run)
    a = b = rows.astype(np.float64)
    for _ in range(4):
        a = a * (16.0 / (a * a).sum()) + b * ((a * b).sum() * 0.001)
    np.testing.assert_allclose(reference[0], a, rtol=1e-4, atol=1e-5)
    inside, lone_steps = [0], []
    run_compiled, run_numpy = stepper.CompiledMixin._run_compiled, wave.WaveSim._run_numpy

    def calling(self, pc, group):
        inside[0] += 1
        try:
            return run_compiled(self, pc, group)
        finally:
            inside[0] -= 1

    def stepping(self, pc, lanes, *args, **kwargs):
        if inside[0]:
            lone_steps.append((pc, lanes.count))
        return run_numpy(self, pc, lanes, *args, **kwargs)
    monkeypatch.setattr(stepper.CompiledMixin, "_run_compiled", calling)
    monkeypatch.setattr(wave.WaveSim, "_run_numpy", stepping)
    with forced(FAST):
        assert_same_run(reference, run())
    assert len(lone_steps) <= 1  # (the root's first send on a channel runs in NumPy: the interpreter's then)
