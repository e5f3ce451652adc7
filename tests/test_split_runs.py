"""A converged group's run taking the scheduler's two steps after a forward branch splits it (`sim.split_runs`,
`Strategy.split_runs`): a halo exchange's `if has_neighbor(d)` transfers (an `li` and a `sendv` / `recvv`, taken
whole, `_run_transfer`) give NumPy's answers with the same results, cycles and per-PE statistics as the
scheduler's loop taking every step, in fewer NumPy runs; a transfer that cannot go whole fails with the same
deadlock; transfers behind bounds checks, ragged rows, a data-dependent `if` and a chain of waiting receives stay
with the loop, with the same results under every strategy. Blocks of 1 x N, N x 1, 2 x 2 and several waves, a held
global load right past a split, a launch stopped by max_cycles and resumed from its checkpoint, and a neighbour
that never receives (the same deadlocked PEs) behave alike with and without the run taking the steps; a traced
wave's runs take none."""
from __future__ import annotations

import numpy as np
import pytest

import wafersim as ws
from conftest import load_source
from test_engine_strategies import assert_same_run, run_every_strategy
from test_exchange_rows import halo_under_every_strategy
from test_stream_whole import KERNEL, expected
from wafersim.sim import split_runs, wave
from wafersim.sim.compiled import stepper
from wafersim.sim.strategy import FAST, REFERENCE, Strategy, forced

OFF = Strategy(split_runs=False)


def counting(monkeypatch) -> dict:
    """Counts, per strategy's `split_runs`: NumPy runs begun (`_run_lanes`), split runs that ran on with the group
    met again ("on"), plain transfers run from a split (`_run_transfer`) and those of them that went on whole."""
    counts: dict = {}
    run_lanes, run_split, run_transfer = (wave.WaveSim._run_lanes, split_runs.SplitRunsMixin._run_split,
                                          split_runs.SplitRunsMixin._run_transfer)

    def count(self, what: str) -> None:
        mine = counts.setdefault(self.strategy.split_runs, {"runs": 0, "on": 0, "transfers": 0, "whole": 0})
        mine[what] += 1

    def counted_run_lanes(self, *args):
        count(self, "runs")
        return run_lanes(self, *args)

    def counted_run_split(self, *args):
        picked = run_split(self, *args)
        if picked is not None and type(picked) is not list:
            count(self, "on")
        return picked

    def counted_run_transfer(self, *args):
        out = run_transfer(self, *args)
        count(self, "transfers")
        if len(out) == 1 and not out[0][2]:
            count(self, "whole")
        return out

    monkeypatch.setattr(wave.WaveSim, "_run_lanes", counted_run_lanes)
    monkeypatch.setattr(split_runs.SplitRunsMixin, "_run_split", counted_run_split)
    monkeypatch.setattr(split_runs.SplitRunsMixin, "_run_transfer", counted_run_transfer)
    return counts


HALO = '''
import numpy as np
import wafersim as ws

DIRS = (ws.WEST, ws.EAST, ws.NORTH, ws.SOUTH)
CHUNK = 4


@ws.jit
def halo(cols, out, nz: ws.constant, chunk: ws.constant):
    """bicgstab7's halo exchange: each PE's nz words to each neighbour it has, CHUNK words at a time (the loop
    unrolled: each transfer's address an `li` behind its `has_neighbor` branch), all four sent, then received;
    out: what came from each direction (`chunk`: unused, `halo_under_every_strategy`'s)."""
    pe = ws.threadIdx.y * ws.blockDim.x + ws.threadIdx.x
    mine = ws.local.array(nz, np.float32)
    got = ws.local.array((4, nz), np.float32)
    got[0:4, 0:nz] = 0
    mine[0:nz] = cols[pe, 0:nz]
    for c in range(0, nz, CHUNK):
        for d in DIRS:
            if ws.has_neighbor(d):
                ws.send(d, mine[c:c + CHUNK])
        for k in (2, 0, 3, 1):
            if ws.has_neighbor(DIRS[k]):
                ws.recv(DIRS[k], out=got[k, c:c + CHUNK])
    for k in (0, 1, 2, 3):
        out[pe, k * nz:(k + 1) * nz] = got[k, 0:nz]
'''


def test_a_halo_exchange_runs_its_splits_on_with_the_schedulers_results_cycles_and_statistics(tmp_path, monkeypatch):
    width, height, nz = 20, 18, 12
    halo = load_source(tmp_path, HALO).halo
    monkeypatch.setattr(stepper, "FABRIC_GROUP", 0)  # (else FAST's interpreter may run this block's transfers)
    counts = counting(monkeypatch)
    spec = ws.WaferSpec(width=width, height=height, fifo_depth=4)
    cols = np.random.default_rng(3).standard_normal((height, width, nz)).astype(np.float32)
    out = halo_under_every_strategy(halo, spec, cols, 4, [REFERENCE, OFF, FAST])
    for k, got in enumerate(expected(cols, np.full(height, nz))):
        np.testing.assert_array_equal(out[:, :, k], got, err_msg=f"direction {k}")
    splits = (nz // 4) * 8  # (a send and a receive a direction a chunk, each behind its `has_neighbor`)
    assert counts[True]["on"] == counts[True]["whole"] == splits
    assert counts[False]["on"] == counts[False]["whole"] == 0
    assert counts[True]["runs"] < counts[False]["runs"] / 4  # (REFERENCE and OFF in the latter: two a split)


def test_a_plain_transfer_that_cannot_go_whole_runs_through_run_lanes_to_the_same_deadlock(tmp_path, monkeypatch):
    halo = load_source(tmp_path, HALO).halo
    monkeypatch.setattr(stepper, "FABRIC_GROUP", 0)
    counts = counting(monkeypatch)
    spec = ws.WaferSpec(width=20, height=18, fifo_depth=2)  # (chunks of 4 words, all sent before any receive)
    cols = np.ones((18, 20, 8), np.float32)
    with pytest.raises(ws.DeadlockError, match="waits for room to send"):
        halo_under_every_strategy(halo, spec, cols, 4, [REFERENCE, OFF, FAST])
    assert counts[True]["transfers"] > counts[True]["whole"] == 0


def test_a_halo_exchange_whose_transfers_are_not_plain_keeps_its_steps_in_the_loop(tmp_path, monkeypatch):
    width, height, nz, chunk = 20, 18, 12, 4  # (test_stream_whole's kernel: bounds checks before each transfer)
    halo = load_source(tmp_path, KERNEL.format(order=(2, 0, 3, 1), dtype="float32", ragged=False, dirs=4)).halo
    monkeypatch.setattr(stepper, "FABRIC_GROUP", 0)
    counts = counting(monkeypatch)
    spec = ws.WaferSpec(width=width, height=height, fifo_depth=4)
    cols = np.random.default_rng(4).standard_normal((height, width, nz)).astype(np.float32)
    out = halo_under_every_strategy(halo, spec, cols, chunk, [REFERENCE, OFF, FAST])
    for k, got in enumerate(expected(cols, np.full(height, nz))):
        np.testing.assert_array_equal(out[:, :, k], got, err_msg=f"direction {k}")
    assert counts[True]["on"] == counts[True]["whole"] == 0  # (bounds checks: the loop takes those steps)


def test_ragged_rows_whose_groups_diverge_keep_the_schedulers_order(tmp_path, monkeypatch):
    width, height, nz, chunk = 9, 8, 7, 3
    halo = load_source(tmp_path, KERNEL.format(order=(1, 0), dtype="int32", ragged=True, dirs=2)).halo
    monkeypatch.setattr(stepper, "FABRIC_GROUP", 0)
    spec = ws.WaferSpec(width=width, height=height, fifo_depth=3)
    cols = np.arange(height * width * nz, dtype=np.int32).reshape(height, width, nz) * 3 - 100
    out = halo_under_every_strategy(halo, spec, cols, chunk, [REFERENCE, OFF, FAST])
    counts = np.where(np.arange(height) % 2 == 1, nz - 1, nz)  # (odd rows send one word less, east and west)
    for k, got in enumerate(expected(cols, counts)[:2]):
        np.testing.assert_array_equal(out[:, :, k], got, err_msg=f"direction {k}")
    assert not out[:, :, 2:].any()


BRANCHY = '''
import numpy as np
import wafersim as ws


@ws.jit
def branchy(x, out, n: ws.constant):
    """Where x is positive, 3 x + 1 - pe % 5; then every PE's running sums along its row: four words from the
    west (each PE's receive waits for its west neighbour's send), this PE's value added, sent east."""
    pe = ws.threadIdx.y * ws.blockDim.x + ws.threadIdx.x
    buf = ws.local.array(4, np.int32)
    buf[0:4] = 0
    v = x[pe]
    if v > 0:
        v = v * 3 + 1
        v = v - pe % 5
    if ws.has_neighbor(ws.WEST):
        ws.recv(ws.WEST, out=buf[0:4])
    buf[0:4] = buf[0:4] + v
    if ws.has_neighbor(ws.EAST):
        ws.send(ws.EAST, buf[0:4])
    out[pe] = buf[3]
'''


def numpy_branchy(x: np.ndarray) -> np.ndarray:
    pe = np.arange(x.size).reshape(x.shape)
    v = np.where(x > 0, x * 3 + 1 - pe % 5, x)
    return np.cumsum(v, axis=1, dtype=np.int64).astype(np.int32)  # (each row's prefix sums, west to east)


def test_a_data_dependent_if_and_a_waiting_chain_give_numpys_answers_under_every_strategy(tmp_path, monkeypatch):
    kernel = load_source(tmp_path, BRANCHY).branchy
    monkeypatch.setattr(stepper, "FABRIC_GROUP", 0)
    width, height = 40, 24  # (a region large enough for NumPy to run its groups)
    x = np.random.default_rng(5).integers(-50, 50, (height, width)).astype(np.int32)

    def launch():
        device = ws.Device(ws.WaferSpec(width=width, height=height))
        d_out = device.device_array(width * height, np.int32)
        stats = kernel[1, (width, height)](device.to_device(x.reshape(-1)), d_out, width * height)
        return d_out.copy_to_host(), stats

    out, _ = run_every_strategy(launch, [REFERENCE, OFF, Strategy(compiled=False, split_runs=False),
                                         Strategy(compiled=False), FAST])
    np.testing.assert_array_equal(out.reshape(height, width), numpy_branchy(x))


BLOCKS = '''
import numpy as np
import wafersim as ws

DIRS = (ws.WEST, ws.EAST, ws.NORTH, ws.SOUTH)


@ws.jit{options}
def blocks(cols, g, out, nz: ws.constant, reps: ws.constant):
    """HALO's exchange in every block of the grid, `reps` times, each chunk's receives {receives}, then
    cols[0, 0] + g[pe] (the former's global load at the last split's target) added up, stored to g[pe] at each
    rep's end, before a barrier: out[pe] holds what came from W, E, N, S, then the sum."""
    pe = ((ws.blockIdx.y * ws.gridDim.x + ws.blockIdx.x) * ws.blockDim.y + ws.threadIdx.y) * ws.blockDim.x \\
        + ws.threadIdx.x
    mine = ws.local.array(nz, np.float32)
    got = ws.local.array((4, nz), np.float32)
    got[0:4, 0:nz] = 0
    mine[0:nz] = cols[pe, 0:nz]
    acc = np.float32(0)
    for r in range(reps):
        for c in range(0, nz, 4):
            for d in (0, 1, 2, 3):
                if ws.has_neighbor(DIRS[d]):
                    ws.send(DIRS[d], mine[c:c + 4])
            for k in {receives}:
                if ws.has_neighbor(DIRS[k]):
                    ws.recv(DIRS[k], out=got[k, c:c + 4])
            acc = acc + ({load})
        g[pe] = acc
        ws.syncthreads()
    for k in (0, 1, 2, 3):
        out[pe, k * nz:(k + 1) * nz] = got[k, 0:nz]
    out[pe, 4 * nz] = acc
'''

#: (block, grid, wafer): 1 x N and N x 1 blocks (two directions only), 2 x 2 blocks side by side, and a block
#: large enough for FAST's NumPy runs in two waves on a wafer that holds one
SHAPES = [((1, 10), (2, 1), (2, 10)), ((10, 1), (1, 3), (10, 3)), ((2, 2), (3, 2), (6, 4)),
          ((16, 17), (2, 1), (16, 17))]


def blocks_kernel(directory, receives: tuple):
    """BLOCKS' kernel receiving from `receives`, without bounds checks (so that a global load, which the
    scheduler holds, is the first instruction past the last split: `SplitRunsMixin._hands_on`)."""
    return load_source(directory, BLOCKS.format(receives=receives, load="cols[0, 0] + g[pe]",
                                                options="(boundscheck=False)")).blocks


EVERY = [REFERENCE, OFF, Strategy(compiled=False), Strategy(compiled=False, split_runs=False), FAST]


def blocks_launch(kernel, block, grid, wafer, cols, reps, fifo=4, **options):
    """A launch of BLOCKS' kernel on cols (pes, nz): (out, g, stats)."""
    pes, nz = cols.shape
    device = ws.Device(ws.WaferSpec(width=wafer[0], height=wafer[1], fifo_depth=fifo))
    d_out, d_g = device.device_array((pes, 4 * nz + 1), np.float32), device.to_device(np.arange(pes, dtype=np.float32))
    stats = kernel[grid, block](device.to_device(cols), d_g, d_out, nz, reps, **options)
    return np.concatenate([d_out.copy_to_host(), d_g.copy_to_host()[:, None]], axis=1), stats


def numpy_blocks(cols: np.ndarray, block, grid, reps: int, nz: int) -> np.ndarray:
    """BLOCKS' out and g by NumPy: each block's shifted copies, the float32 sums in the kernel's order."""
    (bw, bh), (gx, gy) = block, grid
    by_block = cols.reshape(gy, gx, bh, bw, nz)
    out = np.zeros((gy, gx, bh, bw, 4 * nz + 2), np.float32)
    for y in range(gy):
        for x in range(gx):
            for k, got in enumerate(expected(by_block[y, x], np.full(bh, nz))):
                out[y, x, :, :, k * nz:(k + 1) * nz] = got
    g = np.arange(cols.shape[0], dtype=np.float32)
    acc = np.zeros_like(g)
    for _ in range(reps):
        for _ in range(0, nz, 4):
            acc = acc + (cols[0, 0] + g)
        g = acc.copy()
    out = out.reshape(-1, 4 * nz + 2)
    out[:, 4 * nz], out[:, 4 * nz + 1] = acc, g
    return out


@pytest.mark.parametrize("block, grid, wafer", SHAPES)
def test_splits_in_blocks_of_every_shape_and_several_waves_give_numpys_answers_under_every_strategy(
        tmp_path, monkeypatch, block, grid, wafer):
    kernel = blocks_kernel(tmp_path, (1, 0, 3, 2))
    monkeypatch.setattr(stepper, "FABRIC_GROUP", 0)
    counts = counting(monkeypatch)
    pes, nz, reps = block[0] * block[1] * grid[0] * grid[1], 8, 2
    cols = np.random.default_rng(pes).standard_normal((pes, nz)).astype(np.float32)
    out, _ = run_every_strategy(lambda: blocks_launch(kernel, block, grid, wafer, cols, reps), EVERY)
    np.testing.assert_array_equal(out, numpy_blocks(cols, block, grid, reps, nz))
    assert counts[True]["on"] > 0 and counts[False]["on"] == 0


def test_a_traced_launch_records_the_schedulers_slices_its_runs_taking_no_split(tmp_path, monkeypatch):
    kernel = blocks_kernel(tmp_path, (1, 0, 3, 2))
    monkeypatch.setattr(stepper, "FABRIC_GROUP", 0)
    counts = counting(monkeypatch)
    block, grid, wafer = (6, 5), (1, 1), (6, 5)
    cols = np.random.default_rng(6).standard_normal((30, 8)).astype(np.float32)
    traces = []
    for strategy in (REFERENCE, Strategy(compiled=False, split_runs=False), Strategy(compiled=False)):
        with forced(strategy):
            out, stats = blocks_launch(kernel, block, grid, wafer, cols, 2, trace=True)
        np.testing.assert_array_equal(out, numpy_blocks(cols, block, grid, 2, 8))
        trace = stats.trace
        traces.append((sorted(trace.intervals), trace.spans, trace.tracks, trace.cut_at, stats.cycles))
    assert traces[1] == traces[0] and traces[2] == traces[0]
    assert counts[True]["on"] == 0  # (a traced wave's runs stop at every split: `WaveSim.runs_on`)


def test_a_launch_stopped_by_max_cycles_between_splits_resumes_from_its_checkpoint_to_the_same_run(
        tmp_path, monkeypatch):
    kernel = blocks_kernel(tmp_path, (1, 0, 3, 2))
    monkeypatch.setattr(stepper, "FABRIC_GROUP", 0)
    counts = counting(monkeypatch)
    block, grid, wafer, reps = (7, 6), (1, 1), (7, 6), 3
    cols = np.random.default_rng(7).standard_normal((42, 8)).astype(np.float32)
    with forced(REFERENCE):
        whole = blocks_launch(kernel, block, grid, wafer, cols, reps)
    np.testing.assert_array_equal(whole[0], numpy_blocks(cols, block, grid, reps, 8))
    limits = [int(whole[1].cycles * share) for share in (0.05, 0.45, 0.8)]  # (the first before any barrier)
    messages: dict[int, str] = {}  # (the same stop, cycle and PEs under every strategy)
    for strategy in EVERY:
        resumed = 0
        for limit in limits:
            path = tmp_path / "checkpoint.npz"
            with forced(strategy):
                with pytest.raises(ws.CycleLimitError, match=f"max_cycles={limit:,}") as stop:
                    blocks_launch(kernel, block, grid, wafer, cols, reps, max_cycles=limit, checkpoint_every=1,
                                  checkpoint=path)
                assert messages.setdefault(limit, str(stop.value)) == str(stop.value), strategy  # (REFERENCE's)
                if not path.exists():
                    assert "no checkpoint was written" in str(stop.value)
                    continue
                device, stats = ws.resume_launch(path, max_cycles=1e8)
            arrays = list(device.arrays().values())
            out = next(a for a in arrays if a.shape == (42, 33)).copy_to_host()
            g = next(a for a in arrays if a.shape == (42,)).copy_to_host()
            assert_same_run(whole, (np.concatenate([out, g[:, None]], axis=1), stats))
            path.unlink()
            resumed += 1
        assert resumed == 2, strategy  # (the later two limits fall after a barrier)
    assert counts[True]["on"] > 0


def test_a_neighbour_that_never_receives_deadlocks_the_same_pes_with_splits_run_on(tmp_path, monkeypatch):
    kernel = blocks_kernel(tmp_path, (1, 0, 3))  # (no PE receives from the north)
    monkeypatch.setattr(stepper, "FABRIC_GROUP", 0)
    counts = counting(monkeypatch)
    cols = np.ones((30, 8), np.float32)
    with pytest.raises(ws.DeadlockError) as failure:  # (every strategy's error the same: `run_every_strategy`)
        run_every_strategy(lambda: blocks_launch(kernel, (6, 5), (1, 1), (6, 5), cols, 1, fifo=4), EVERY)
    # the first chunk fills each FIFO south (4 words), so every PE with a south neighbour (rows 0..3) waits for
    # room to send its second; the last row, sending none, reaches the barrier
    waits = {entry["pe"]: entry["waits_for"] for entry in failure.value.blocked}
    assert sorted(waits) == sorted((x, y) for x in range(6) for y in range(5))
    for (x, y), why in waits.items():
        assert why.startswith("waits for room to send south" if y < 4 else "waits at a barrier"), (x, y, why)
    assert counts[True]["on"] > 0
