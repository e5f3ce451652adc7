"""Differential tests between the engine's execution strategies (`wafersim.sim.strategy`).

The fast strategies (bulk vector transfers, event-driven wake-up, the compiled interpreter for small and
divergent groups) must give results, cycle counts and every per-PE statistic bit-identical to the
reference strategies (one word per step, every blocked group re-tested after any progress, one NumPy
call per instruction and group). Each case runs the same launch both ways; results are also checked
against NumPy, so that both strategies being wrong the same way would not pass either.
"""
from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import wafersim as ws
from conftest import load_source
from test_fuzz_kernels import block_shape, kernel_source, model, spec_for, step
from wafersim.isa.assembler import assemble
from wafersim.kernels import gemm, gemv, heat, heat_tiled, life, reduce, saxpy, scan
from wafersim.sim import streams
from wafersim.sim.strategy import FAST, REFERENCE, Strategy, forced

EXAMPLES = int(os.environ.get("WAFERSIM_FUZZ_EXAMPLES", "15"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
STRATEGIES = [REFERENCE, Strategy(bulk_streams=True, event_wakeup=False),
              Strategy(bulk_streams=False, event_wakeup=True), Strategy(compiled=False), Strategy(lockstep=False),
              Strategy(compiled_fabric=False), Strategy(event_wakeup=False), Strategy(stream_rows=False),
              Strategy(compiled_routed=False), Strategy(compiled_loops=False), Strategy(compiled_wavefronts=False),
              Strategy(routed_one=False), Strategy(compiled_broadcast=False), Strategy(compiled_chains=False),
              Strategy(blocked_vfma=False),
              Strategy(lean_bulk_stores=False),
              Strategy(fused_vectors=False), Strategy(routed_steps=False), Strategy(uniform_counts=False),
              Strategy(compiled_trace=False), Strategy(fused_rank1=False), Strategy(fused_routed_step=False),
              Strategy(recycled_slot_rows=False), Strategy(stream_pump=False), Strategy(pump_slot_free=False),
              Strategy(pump_panel=False), Strategy(pump_first_step=False),
              Strategy(gapped_bulk_copies=False), Strategy(register_blocks=False),
              Strategy(compiled=False, owed_transfers=False), Strategy(compiled=False, deferred_counts=False),
              Strategy(compiled=False, fused_bulk_receive=False), Strategy(compiled=False, fused_receive_rows=False),
              Strategy(fused_stream_rows=False), Strategy(routed_wake_room=False), Strategy(runs_on=False),
              Strategy(split_runs=False),
              Strategy(whole_vectors=False), Strategy(compiled_sums=False), FAST]
STAT_ARRAYS = ("busy", "stall", "pe_instructions", "link_words")
STAT_SCALARS = ("cycles", "instructions", "op_counts", "global_bytes", "flops", "vector_elements", "waves")


def assert_same_run(reference, other) -> None:
    """Identical outputs (bit for bit), launch statistics and debug prints (as printed: a NaN is "nan")."""
    (ref_out, ref_stats), (out, stats) = reference, other
    np.testing.assert_array_equal(np.asarray(out), np.asarray(ref_out))
    assert [str(p) for p in stats.prints] == [str(p) for p in ref_stats.prints], "prints"
    assert stats.prints_dropped == ref_stats.prints_dropped, "prints_dropped"
    for name in STAT_SCALARS:
        assert getattr(stats, name) == getattr(ref_stats, name), name
    for name in STAT_ARRAYS:
        np.testing.assert_array_equal(getattr(stats, name), getattr(ref_stats, name), err_msg=name)


def error_facts(error: ws.WaferError) -> tuple:
    """What a failed launch reports that must not depend on the strategy (docs/engine-strategies.md: the failure
    first in simulated time, its message and PEs; not `err.state`, which shows where the engine ran)."""
    return type(error).__name__, str(error), getattr(error, "pes", None), getattr(error, "pe_count", None)


def run_every_strategy(launch, strategies=STRATEGIES):
    """`launch()` -> (output, LaunchStats) under each strategy (the reference first); asserts they agree;
    returns the reference run. A launch that raises a `WaferError` must raise the same one (`error_facts`) under
    every strategy; the reference strategy's error is then raised."""
    runs = []
    for strategy in strategies:
        with forced(strategy):
            try:
                runs.append(launch())
            except ws.WaferError as error:
                runs.append(error)
    for strategy, run in zip(strategies[1:], runs[1:]):
        if isinstance(runs[0], ws.WaferError) or isinstance(run, ws.WaferError):
            facts = [error_facts(r) if isinstance(r, ws.WaferError) else "no error" for r in (runs[0], run)]
            assert facts[1] == facts[0], f"{strategy} differs from the reference strategy"
        else:
            try:
                assert_same_run(runs[0], run)
            except AssertionError as failure:
                failure.add_note(f"under {strategy}, against the reference strategy")
                raise
    if isinstance(runs[0], ws.WaferError):
        raise runs[0]
    return runs[0]


rng = np.random.default_rng(2024)


def f32(*shape):
    return rng.random(shape, dtype=np.float32)


# Whole-cycle figures (float32 times, closed-form send timing), fractional link rates (float64 times,
# the recurrence), and FIFOs shallower than a message (back-pressure inside one vector transfer).
SPECS = {
    "default": None,
    "fractional": ws.WaferSpec(width=6, height=6, link_words_per_cycle=0.75, hop_latency=2, fifo_depth=5),
    "slow_link": ws.WaferSpec(width=6, height=6, link_words_per_cycle=0.5, fifo_depth=3),
}


@pytest.mark.parametrize("spec", sorted(SPECS))
def test_gemm_is_identical_under_every_strategy(spec):
    p, tile = 6, 4
    a, b = f32(p * tile, p * tile), f32(p * tile, p * tile)
    device = (lambda: ws.Device(SPECS[spec])) if SPECS[spec] else (lambda: None)
    c, _ = run_every_strategy(lambda: gemm.gemm(a, b, p, device=device()))
    np.testing.assert_allclose(c, a.astype(np.float64) @ b, rtol=1e-4)


def library_launches():
    """name -> a launch of that library kernel on fixed random inputs."""
    a, x = f32(48, 64), f32(64)
    u, tiles, board = f32(20, 24), f32(32, 24), (rng.random((24, 20)) < 0.4).astype(np.int32)
    blocks, block, rows, xs, ys = f32(16, 24), f32(30, 40), f32(5, 37), f32(1000), f32(1000)
    batch = f32(5, 64)  # drawn here, not in the lambda: every strategy's run gets the same vectors
    return {
        "gemv": lambda: gemv.gemv(a, x, 4, 4),
        "gemv_batch": lambda: gemv.gemv_batch(a, batch, 3, 4),
        "heat": lambda: heat.heat(u, 0.1, 5),
        "heat_tiled": lambda: heat_tiled.heat_tiled(tiles, 0.1, 3, 4),
        "life": lambda: life.life(board, 4),
        "reduce": lambda: reduce.block_reduce(blocks, "sum", block=(8, 8)),
        "allreduce": lambda: reduce.block_allreduce(blocks, "max", block=(12, 8)),
        "allreduce_one_block": lambda: reduce.block_allreduce(block, "sum", block=(40, 30)),
        "scan": lambda: scan.prefix_sum(rows),
        "saxpy": lambda: saxpy.saxpy(2.0, xs, ys, block=16),
    }


@pytest.mark.parametrize("name", sorted(library_launches()))
def test_library_kernels_are_identical_under_every_strategy(name):
    run_every_strategy(library_launches()[name])  # each kernel's own tests compare its results with NumPy


@pytest.mark.parametrize("name", ["gemv", "gemv_batch", "scan", "allreduce_one_block"])
def test_small_converged_groups_in_the_interpreter_are_identical(name, monkeypatch):
    """The interpreter also running small converged groups (`stepper.SMALL_GROUP`), from the first run on,
    with event wake-up on or off: a gemv once deadlocked this way, before a one-step run's continuations
    joined the scheduler at once (`WaveSim._continue`)."""
    from wafersim.sim.compiled import stepper

    launch = library_launches()[name]
    with forced(REFERENCE):
        reference = launch()
    monkeypatch.setattr(stepper, "SMALL_GROUP", 64)
    monkeypatch.setattr(stepper, "SMALL_REGION", 64)
    for strategy in (Strategy(event_wakeup=False), FAST):
        with forced(strategy):
            assert_same_run(reference, launch())


def test_one_block_allreduce_matches_numpy_under_the_fast_strategy():
    values = f32(30, 40)
    out, _ = run_every_strategy(lambda: reduce.block_allreduce(values, "max", block=(40, 30)))
    np.testing.assert_array_equal(out, np.full_like(values, values.max()))


@pytest.mark.parametrize("op", ["SUM", "MAX"])
def test_streamed_array_all_reduces_are_identical_under_every_strategy(op):
    """The collectives' float32 array chains are stream ops (vaddx / vmaxx, `sim.stream_ops`), which keep the
    program's transfers on the NumPy path: every strategy gives the same words, cycles and statistics, and
    NumPy's result (integer-valued floats: any order of additions is exact)."""
    from wafersim import collectives as wsc

    n, block = 40, (7, 5)
    reduction = getattr(wsc, op)

    @ws.jit
    def all_reduce(out, values):
        i = ws.threadIdx.y * ws.blockDim.x + ws.threadIdx.x
        v = ws.local.array(n, np.float32)
        part = ws.local.array(16, np.float32)
        v[0:n] = values[i, 0:n]
        wsc.block_all_reduce_array(v, part, reduction, 2)
        out[i, 0:n] = v[0:n]

    values = np.random.default_rng(11).integers(-9, 10, (block[0] * block[1], n)).astype(np.float32)

    def launch():
        device = ws.Device(ws.WaferSpec.preset("wse2", width=block[0], height=block[1]))
        out = device.device_array(values.shape)
        stats = all_reduce[1, block](out, device.to_device(values))
        return out.copy_to_host(), stats

    out, _ = run_every_strategy(launch)
    want = values.sum(axis=0) if op == "SUM" else values.max(axis=0)
    np.testing.assert_array_equal(out, np.broadcast_to(want, out.shape))


@FUZZ
@given(steps=st.lists(step, min_size=1, max_size=6), block=block_shape,
       grid=st.tuples(st.integers(1, 3), st.integers(1, 2)), seed=st.integers(0, 2**16))
def test_random_exchange_kernels_are_identical_under_every_strategy(steps, block, grid, seed, tmp_path_factory):
    module = load_source(tmp_path_factory.mktemp("strategies"), kernel_source(steps))
    h, w = grid[1] * block[1], grid[0] * block[0]
    values = np.random.default_rng(seed).uniform(-2, 2, (h, w)).astype(np.float32)

    def launch():
        dev = ws.Device(spec_for(block))
        d_in, d_out = dev.to_device(values), dev.device_array(values.shape)
        stats = module.kernel[grid, block](d_in, d_out)
        return d_out.copy_to_host(), stats

    out, _ = run_every_strategy(launch)
    np.testing.assert_array_equal(out, model(steps, values, block))


# ----------------------------------------------------------------------------- the timing recurrences
@given(ready=st.lists(st.integers(0, 50), min_size=1, max_size=5), words=st.integers(1, 8),
       word_time=st.sampled_from([1.0, 2.0, 3.0]), seed=st.integers(0, 2**16))
def test_closed_form_send_timing_equals_the_word_by_word_recurrence(ready, words, word_time, seed):
    slot_free = np.random.default_rng(seed).integers(0, 120, (len(ready), words)).astype(np.float32)
    ready = np.asarray(ready, dtype=np.float64)
    expected = np.empty((len(ready), words))
    depart = ready.copy()
    for j in range(words):  # the reference: each word waits for its slot, then occupies the link
        depart = np.maximum(depart if j == 0 else depart + word_time, slot_free[:, j])
        expected[:, j] = depart
    np.testing.assert_array_equal(streams.send_departures(ready, slot_free, word_time, True), expected)
    np.testing.assert_array_equal(streams.send_departures(ready, slot_free, word_time, False), expected)


def test_fast_strategy_is_the_default():
    from wafersim.sim.strategy import active

    assert active() == FAST
    with forced(REFERENCE):
        assert active() == REFERENCE
    assert active() == FAST


@pytest.mark.parametrize("depth", [1, 2, 5])
def test_a_relay_chain_waiting_on_every_chunk_is_identical_under_every_strategy(depth):
    from test_engine import RELAY

    spec = ws.WaferSpec(width=5, height=1, fifo_depth=depth)

    def launch():
        dev = ws.Device(spec)
        stats = dev.launch(ws.assemble(".sram 8\n" + RELAY), (1, 1), (5, 1), print_output=False)
        return np.zeros(1), stats

    run_every_strategy(launch)


def test_mixed_precision_gemm_is_identical_under_every_strategy():
    """16-bit tiles on the fabric and 16-bit vector ops (kernels.ml.mixed) on a FIFO shallower than a tile."""
    from wafersim.kernels.ml.mixed import matmul_mixed

    spec = ws.WaferSpec(width=3, height=3, fifo_depth=5, vector_lanes_half=3)
    a, b = (f32(12, 12) - 0.5).astype(np.float16), (f32(12, 12) - 0.5).astype(np.float16)
    c, _ = run_every_strategy(lambda: matmul_mixed(a, b, "float16", tile=4, device=ws.Device(spec)))
    np.testing.assert_allclose(c, a.astype(np.float64) @ b.astype(np.float64), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("spec", sorted(SPECS))
def test_lockstep_vector_transfers_of_large_groups_are_identical(spec, monkeypatch):
    """Vector transfers of groups above `exchange.BULK_MAX_LANES` PEs move whole rows a word at a time
    (`_stream_lockstep`), falling back to the general movers where lanes differ or a FIFO lacks room (the
    shallow FIFOs of "fractional" and "slow_link"). The threshold is lowered so that small blocks take it,
    including the mask-form groups of the tiled kernel's `if has_neighbor(...)` sends."""
    from wafersim.sim import exchange, stream_rows

    monkeypatch.setattr(exchange, "BULK_MAX_LANES", 4)
    taken = []
    lockstep = stream_rows.StreamRowsMixin._stream_lockstep
    monkeypatch.setattr(stream_rows.StreamRowsMixin, "_stream_lockstep",
                        lambda self, *args: taken.append(lockstep(self, *args)) or taken[-1])
    u = f32(5 * 3, 6 * 3)
    device = (lambda: ws.Device(SPECS[spec])) if SPECS[spec] else (lambda: None)
    out, stats = run_every_strategy(lambda: heat_tiled.heat_tiled(u, 0.1, 3, 3, device=device()))
    np.testing.assert_array_equal(out, heat.heat(u, 0.1, 3)[0])  # (bit for bit: see kernels.heat_tiled)
    assert any(taken)  # the fast strategies took the path


@pytest.mark.parametrize("threads", [1, 3])
@pytest.mark.parametrize("spec", sorted(SPECS))
def test_vector_transfers_a_row_at_a_time_are_identical(spec, threads, monkeypatch):
    """A block large enough that its `has_neighbor` groups are dense (complement form): vector transfers
    write each FIFO row once (`stream_rows`), waits included, where times are whole cycles (not on the
    "fractional" spec), and give the word-by-word path's results, cycles and statistics; also in parts on
    threads (the threshold lowered so that this block is cut). Parts never allocate a FIFO row: two threads
    allocating one row at once lose one part's words (it happened at wafer scale, where the value ring
    deepened during a transfer and dropped rows allocated before the threads). The update's vector
    instructions run batched (`vector_batch`, in blocks of 16 PEs) where the strategy says so."""
    from wafersim.sim import exchange, fabric, parallel, stream_rows, vector_batch
    from wafersim.sim.compiled import stepper

    monkeypatch.setattr(vector_batch, "BATCH_LANES", 64)
    monkeypatch.setattr(vector_batch, "MIN_BLOCK_PES", 16)
    monkeypatch.setattr(vector_batch, "BLOCK_BYTES", 1)
    batched = []
    flush = vector_batch.VectorBatch.flush
    monkeypatch.setattr(vector_batch.VectorBatch, "flush", lambda self: (batched.append(len(self)), flush(self))[-1])

    monkeypatch.setattr(parallel, "PARALLEL_LANES", 64)
    monkeypatch.setattr(parallel, "_configured", threads)
    in_parts, run_parts, row = [False], parallel.run, fabric.SlotRows.__getitem__

    def parts_run(work, parts):
        in_parts[0] = True
        try:
            run_parts(work, parts)
        finally:
            in_parts[0] = False

    def checked_row(self, slot):
        assert not (in_parts[0] and self.rows[slot] is None), "a part allocated a FIFO row"
        return row(self, slot)

    monkeypatch.setattr(parallel, "run", parts_run)
    monkeypatch.setattr(fabric.SlotRows, "__getitem__", checked_row)
    monkeypatch.setattr(fabric, "BLOCK_BYTES", 0)  # rows allocated on first use, as at wafer scale
    monkeypatch.setattr(exchange, "BULK_MAX_LANES", 4)
    monkeypatch.setattr(stepper, "FABRIC_GROUP", 0)  # (else the interpreter runs this small block's transfers)
    rows = []
    for name in ("_send_rows", "_receive_rows"):
        method = getattr(stream_rows.StreamRowsMixin, name)
        monkeypatch.setattr(stream_rows.StreamRowsMixin, name,
                            lambda self, *args, method=method: rows.append(method(self, *args)) or rows[-1])
    # Messages of a tile's side, as long as the FIFO holds them (the kernel sends all four halos before it
    # receives): the value ring deepens during the first transfer.
    tile = 4 if SPECS[spec] is None or SPECS[spec].fifo_depth >= 4 else 2
    u = f32(20 * tile, 20 * tile)
    device = (lambda: ws.Device(SPECS[spec].replace(width=20, height=20))) if SPECS[spec] else (lambda: None)
    out, _ = run_every_strategy(lambda: heat_tiled.heat_tiled(u, 0.1, 3, tile, device=device()))
    np.testing.assert_array_equal(out, heat.heat(u, 0.1, 3)[0])
    assert any(rows) == (spec != "fractional")
    assert max(batched) == 5  # (three vadds and two vfmas: see kernels.heat_tiled)


def test_gemm_on_a_larger_block_is_identical_with_and_without_the_compiled_passes(monkeypatch):
    """A block large enough that its groups run NumPy executors (not the per-PE interpreter): the compiled
    rank-1 updates, background receives and routed steps must change nothing, and must have run."""
    from wafersim.sim import background_kernels, descriptor_kernels

    calls = {"vger": 0, "recva": 0}

    def counted(name, function):
        def run(*args):
            calls[name] += 1
            return function(*args)
        return run

    monkeypatch.setattr(descriptor_kernels, "rank1_update_float32",
                        counted("vger", descriptor_kernels.rank1_update_float32))
    monkeypatch.setattr(descriptor_kernels, "rank1_updates_float32",  # (the updates queued, `rank1_queue`)
                        counted("vger", descriptor_kernels.rank1_updates_float32))
    monkeypatch.setattr(background_kernels, "registers_receive_step",
                        counted("recva", background_kernels.registers_receive_step))
    p, tile = 12, 8
    a, b = f32(p * tile, p * tile), f32(p * tile, p * tile)
    runs = []
    # (runs of 12 PEs: the vectorised rank-1 loops, lanes in step, receivers in PE order)
    for strategy in (Strategy(compiled_descriptors=False, compiled_background=False, routed_steps=False), FAST):
        with forced(strategy):
            runs.append(gemm.gemm(a, b, p))
    assert calls["vger"] and calls["recva"]
    assert_same_run(*runs)
    np.testing.assert_allclose(runs[1][0], a.astype(np.float64) @ b, rtol=1e-4)


def test_streams_over_fifos_kept_row_by_row_are_identical_under_every_strategy(monkeypatch):
    """FIFO fields of wafer-scale waves are kept row by row (`fabric.BLOCK_BYTES`), where the compiled
    movers do not apply and bulk streams take their NumPy paths: forced here on a small GEMM."""
    from wafersim.sim import fabric

    monkeypatch.setattr(fabric, "BLOCK_BYTES", 0)
    p, tile = 4, 4
    a, b = f32(p * tile, p * tile), f32(p * tile, p * tile)
    spec = ws.WaferSpec(width=p, height=p, fifo_depth=3)
    c, _ = run_every_strategy(lambda: gemm.gemm(a, b, p, device=ws.Device(spec)))
    np.testing.assert_allclose(c, a.astype(np.float64) @ b, rtol=1e-4)


# ----------------------------------------------------------------------------- the lockstep path
@pytest.mark.parametrize("grid, spec", [((1, 1), None), ((3, 2), None), ((2, 2), "fractional")])
def test_stencils_on_blocks_are_identical_with_and_without_the_lockstep_path(grid, spec):
    """Heat over one or several blocks (dense groups with exclusions at every block edge, shifted windows,
    memoized has_neighbor branches) and Life; with fractional link rates too (float64 times: the rows
    path without folded or differenced owed cycles). Results also equal NumPy's."""
    from test_kernels_basic import life_reference
    from wafersim.kernels import reference

    block = (20, 18)  # (edge rows and columns are under 1/16 of a block: dense groups with exclusions)
    width, height = block[0] * grid[0], block[1] * grid[1]
    fractional = ws.WaferSpec(width=width, height=height, link_words_per_cycle=0.75, hop_latency=2, fifo_depth=5)
    device = (lambda: ws.Device(fractional)) if spec else (lambda: None)
    u = f32(height, width)
    out, _ = run_every_strategy(lambda: heat.heat(u, 0.1, 4, device=device(), block=block))
    np.testing.assert_array_equal(out, reference.heat(u, 0.1, 4, block=block, order=reference.ORDER_API))
    board = (rng.random((height, width)) < 0.4).astype(np.int32)
    life_out, _ = run_every_strategy(lambda: life.life(board, 5, device()))
    np.testing.assert_array_equal(life_out, life_reference(board, 5))


def test_stencils_over_fifos_kept_row_by_row_are_identical_under_every_strategy(monkeypatch):
    """Heat and Life on one block with FIFO fields kept row by row, as at wafer scale (`fabric.BLOCK_BYTES`):
    the FIFOs are empty at every barrier, so their slot-time rows are recycled (`recycled_slot_rows`)."""
    from test_kernels_basic import life_reference
    from wafersim.kernels import reference
    from wafersim.sim import fabric

    monkeypatch.setattr(fabric, "BLOCK_BYTES", 0)
    width, height = 20, 18
    u = f32(height, width)
    out, _ = run_every_strategy(lambda: heat.heat(u, 0.1, 5))
    np.testing.assert_array_equal(out, reference.heat(u, 0.1, 5, order=reference.ORDER_API))
    board = (rng.random((height, width)) < 0.4).astype(np.int32)
    life_out, _ = run_every_strategy(lambda: life.life(board, 5))
    np.testing.assert_array_equal(life_out, life_reference(board, 5))


# ----------------------------------------------------------------------------- transfers in the interpreter
# Under FAST, neighbour send/recv of small regions and of pipelines run in the compiled interpreter
# (sim/compiled/fabric_ops.py): PEs park on full or empty FIFOs and are woken inside the call. These
# programs block and wake in every way a FIFO allows; each is checked against a plain-Python model.
@ws.jit
def ping_pong(values, totals, counts, k):
    """Along each row: k words east to the next PE (even j: int32, odd j: float32, one FIFO of mixed
    types), k float32 words back west once the next PE heard back from its own east neighbour."""
    x, y = ws.grid(2)
    v = values[y, x]
    total = v
    count = 0
    if ws.has_neighbor(ws.WEST):
        for j in range(k):
            if j % 2 == 0:
                count += ws.recv(ws.WEST, dtype=np.int32)
            else:
                total += ws.recv(ws.WEST, dtype=np.float32)
    if ws.has_neighbor(ws.EAST):
        for j in range(k):
            if j % 2 == 0:
                ws.send(ws.EAST, j + x)
            else:
                ws.send(ws.EAST, v)
        for j in range(k):
            total += ws.recv(ws.EAST, dtype=np.float32)
    if ws.has_neighbor(ws.WEST):
        for j in range(k):
            ws.send(ws.WEST, total)
    totals[y, x] = total
    counts[y, x] = count


def ping_pong_model(values: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """`ping_pong` in plain Python (float32 sums in the kernel's order), each row one block."""
    totals, counts = np.zeros_like(values), np.zeros(values.shape, dtype=np.int32)
    for y, row in enumerate(values):
        w = len(row)
        forward = []
        for x in range(w):
            total, count = row[x], 0
            if x > 0:
                for j in range(k):
                    if j % 2 == 0:
                        count += j + x - 1
                    else:
                        total = np.float32(total + row[x - 1])
            forward.append(total)
            counts[y, x] = count
        for x in reversed(range(w)):  # the replies: PE x adds k copies of PE x + 1's final total
            total = forward[x]
            if x < w - 1:
                for _ in range(k):
                    total = np.float32(total + totals[y, x + 1])
            totals[y, x] = total
    return totals, counts


def ping_pong_launch(depth: int, k: int, width: int):
    """(values, launch): `ping_pong` on 3 rows of `width` PEs, FIFOs `depth` words deep, `k` rounds (values
    small integers: float sums stay exact); launch() -> (totals' bits and counts, LaunchStats)."""
    values = np.random.default_rng(depth).integers(-8, 8, (3, width)).astype(np.float32)
    spec = ws.WaferSpec(width=8, height=4, fifo_depth=depth)

    def launch():
        dev = ws.Device(spec)
        d_values, d_totals = dev.to_device(values), dev.device_array(values.shape)
        d_counts = dev.device_array(values.shape, np.int32)
        stats = ping_pong[(1, 3), (width, 1)](d_values, d_totals, d_counts, k)
        return np.concatenate([d_totals.copy_to_host().view(np.int32), d_counts.copy_to_host()]), stats
    return values, launch


@pytest.mark.parametrize("depth,k,width", [(1, 5, 6), (2, 7, 5), (5, 4, 7), (16, 9, 3)])
def test_ping_pong_with_back_pressure_and_mixed_word_types_is_identical_under_every_strategy(depth, k, width):
    values, launch = ping_pong_launch(depth, k, width)
    out, _ = run_every_strategy(launch)
    totals, counts = ping_pong_model(values, k)
    np.testing.assert_array_equal(out, np.concatenate([totals.view(np.int32), counts]))


#: bench/workloads.py's workloads the test below runs at their tiny sizes (one test each: xdist spreads them).
USER_STYLE_WORKLOADS = ("scan-row", "transpose", "escape", "lcs", "ragged", "isort", "pipeline", "mixed16", "tree",
                        "bitonic", "primes", "stencil3d", "particles", "sparse", "redblack", "matvec", "residual",
                        "stencil25r")


@pytest.mark.parametrize("name", USER_STYLE_WORKLOADS)
def test_one_row_scan_small_transpose_and_user_style_kernels_are_identical_under_every_strategy(name):
    """A pipeline of blocked-then-woken PEs (each waits for its west neighbour), vector messages between all
    pairs of a small block, and bench/workloads_user.py's kernels: an escape-time loop, a wavefront (two
    words east per step: value rings deepened mid-launch), ragged messages, an insertion sort, a row pipeline
    of odd-length vector messages, float16 with float32; and bench/workloads_patterns.py's: a tree reduction
    with barriers, a bitonic sort forwarding words d hops, device functions with early returns, a 3-D local
    array, particles sent in messages of data-dependent lengths both ways along both axes, 1% of the PEs
    working while the rest wait at a barrier, red-black Gauss-Seidel; and bench/workloads_ported.py's: column
    axpys per PE, a routed column broadcast with streamed row sums, halos over 16 routed channels (bench/workloads.py,
    tiny sizes)."""
    from test_bench_workloads import workloads

    case = workloads.WORKLOADS[name]("tiny", np.random.default_rng(3))
    out, _ = run_every_strategy(case.simulate)
    workloads.check(name, case, out, case.numpy())


@pytest.mark.parametrize("wrong", ["type", "edge"])
def test_a_wrong_transfer_raises_the_same_error_under_every_strategy(wrong, tmp_path):
    """The interpreter refuses a receive of a word of another type, or a send across the block's edge: the
    NumPy executors run it and raise, with every strategy's message."""
    send = "ws.send(ws.EAST, v)" if wrong == "type" else "ws.send(ws.WEST, v)"
    module = load_source(tmp_path, "import numpy as np\nimport wafersim as ws\n\n\n@ws.jit\ndef kernel(inp, out):\n"
                         "    x, y = ws.grid(2)\n    v = inp[y, x]\n    if x == 0:\n        " + send + "\n"
                         "    if x == 1:\n        out[y, x] = ws.recv(ws.WEST, dtype=np.int32)\n")
    values = np.arange(4, dtype=np.float32).reshape(1, 4)
    messages = set()
    for strategy in STRATEGIES:
        with forced(strategy):
            dev = ws.Device(ws.WaferSpec(width=4, height=1))
            d_in, d_out = dev.to_device(values), dev.device_array(values.shape, np.int32)
            error = ws.WordTypeError if wrong == "type" else ws.MeshBoundaryError
            with pytest.raises(error) as info:
                module.kernel[(1, 1), (4, 1)](d_in, d_out)
            messages.add(str(info.value))
    assert len(messages) == 1, messages


def test_a_failure_naming_other_values_in_pes_run_apart_is_still_one_failure():
    """Found by tests/test_fuzz_engine_strategies.py: every PE fails one bounds check at one cycle, each with
    its own index. With `compiled_fabric=False` the senders and the receivers of a transfer before it run apart, and the error
    named only the senders (their message, "index 0", differed from the receivers' "index 1"), where one
    NumPy group names all four PEs with the first one's index (docs/engine-strategies.md: every PE that failed the
    same way at that instruction and cycle, whichever groups the engine ran them in)."""
    source = """
        sreg r1, tid.x
        sreg r5, bid.y
        shli r5, r5, 1
        add r5, r5, r1          # r5 = the PE's launch index, 0..3
        hasnb r20, east
        bz r20, sent
        sendv east, 0, r14, r0  # (no words: only the senders and receivers run apart)
    sent:
        hasnb r20, west
        bz r20, received
        recvv west, 0, r13, r0
    received:
        chk r5, r0, 0           # fails everywhere: 0 <= r5 < 0
        halt
    """
    program = assemble(source, name="apart")

    def launch():
        ws.Device(ws.WaferSpec(width=2, height=2)).launch(program, (1, 2), (2, 1), [])

    with pytest.raises(ws.MemoryAccessError) as info:
        run_every_strategy(launch)  # (the same error under every strategy)
    assert info.value.pes == [(0, 0), (1, 0), (0, 1), (1, 1)] and info.value.index == 0
