"""A block handed to the interpreter at a chain reduction's split (`Strategy.compiled_chains`,
`ProgramTable.chain_entries`, `CompiledMixin._wants_compiled`) mid-run: results, cycles, statistics, prints and
errors are the reference engine's under every strategy, and the values NumPy's. The kernels put around the
hand-over what a block may have in flight or do after it: a few PEs arriving late (the rest enter as a group
with a few lanes excluded), global loads of a neighbour's store, several blocks, several waves, a `ws.print`, an
out-of-bounds store, a deadlock in a later all-reduce, a cycle limit, and a checkpoint resumed across it."""
from __future__ import annotations

import numpy as np
import pytest

import wafersim as ws
from wafersim import collectives as wsc
from wafersim.sim.compiled import stepper
from wafersim.sim.strategy import FAST, REFERENCE, Strategy, forced
from test_engine_strategies import STRATEGIES, assert_same_run, run_every_strategy

F = np.float32
BLOCK = (24, 16)  # (384 PEs: past `stepper.DENSE_LOOP_GROUP`, so NumPy runs the vector code up to the split)
ROUNDS = 3
OK, OUT_OF_BOUNDS, SKIPPED_REDUCE = 0, 1, 2


@ws.jit
def chained(vals, out, rounds, late: ws.constant, fail: ws.constant):
    tx, ty = ws.threadIdx.x, ws.threadIdx.y
    gx = ws.blockIdx.x * ws.blockDim.x + tx
    gy = ws.blockIdx.y * ws.blockDim.y + ty
    east = ws.blockIdx.x * ws.blockDim.x + (tx + 1) % ws.blockDim.x  # (the block's next PE, wrapped)
    a = ws.local.array(16, np.float32)
    a[0:16] = vals[gy, gx * 16:gx * 16 + 16]
    x = 0.0
    for r in range(rounds):
        a[0:16] = a[0:16] * 0.5 + a[0:16]
        x = x + ws.dot(a[0:16], a[0:16]) * 0.001
        if tx == late and ty < 3:  # (these PEs reach the split late: the others enter it without them)
            for _ in range(30 + r):
                x = x * 0.5 + 0.25
        t = wsc.block_all_reduce(x, wsc.SUM)
        if tx == 1 and ty == 2:
            ws.print("t", t)
        out[gy, gx] = t
        ws.syncthreads()
        x = x + t * 0.0001 + out[gy, east] * 0.0001  # (a neighbour's store, read back)
        ws.syncthreads()
    if fail == SKIPPED_REDUCE:
        if tx != 3:
            x = wsc.block_all_reduce(x, wsc.SUM)
    if fail == OUT_OF_BOUNDS:
        out[gy, gx + int(x) * 1000 + 1000] = x
    out[gy, gx] = x


def chained_numpy(vals: np.ndarray, grid: tuple[int, int], late: int) -> np.ndarray:
    """`chained`'s result in float64: every block's sums over its PEs."""
    height, width = grid[1] * BLOCK[1], grid[0] * BLOCK[0]
    a = vals.astype(np.float64).reshape(height, width, 16)
    x = np.zeros((height, width))
    tx = np.arange(width)[None, :] % BLOCK[0]
    ty = np.arange(height)[:, None] % BLOCK[1]
    slow = np.broadcast_to((tx == late) & (ty < 3), x.shape)
    for r in range(ROUNDS):
        a = a * 0.5 + a
        x = x + (a * a).sum(axis=2) * 0.001
        for _ in range(30 + r):
            x = np.where(slow, x * 0.5 + 0.25, x)
        sums = x.reshape(grid[1], BLOCK[1], grid[0], BLOCK[0]).sum(axis=(1, 3))
        t = np.repeat(np.repeat(sums, BLOCK[1], axis=0), BLOCK[0], axis=1)
        x = x + t * 0.0002  # (the neighbour's store: its block's sum too)
    return x


def launch(grid, wafer, vals, late, fail=OK, **options):
    device = ws.Device(ws.WaferSpec(width=wafer[0], height=wafer[1]))
    shape = (grid[1] * BLOCK[1], grid[0] * BLOCK[0])
    d_vals, d_out = device.to_device(vals), device.device_array(shape, F)
    stats = chained[grid, BLOCK](d_vals, d_out, ROUNDS, late, fail, **options)
    return d_out.copy_to_host(), stats


@pytest.fixture
def entered(monkeypatch):
    """The sizes of the groups the interpreter took at a chain entry, run by run."""
    sizes = []
    original = stepper.CompiledMixin._run_compiled

    def recording(self, pc, group):
        if pc in self.compiled_chains:
            sizes.append(group.lanes.count)
        return original(self, pc, group)
    monkeypatch.setattr(stepper.CompiledMixin, "_run_compiled", recording)
    return sizes


def values(grid):
    return np.random.default_rng(8).random((grid[1] * BLOCK[1], grid[0] * BLOCK[0] * 16), dtype=F)


@pytest.mark.parametrize("grid, wafer, late", [((1, 1), BLOCK, 0), ((1, 1), BLOCK, 5), ((2, 1), (48, 16), 23),
                                               ((2, 2), BLOCK, 7)])  # (the last: four waves of one block)
def test_a_block_handed_over_at_a_chain_split_is_identical_under_every_strategy(grid, wafer, late, entered):
    vals = values(grid)
    out, stats = run_every_strategy(lambda: launch(grid, wafer, vals, late))
    np.testing.assert_allclose(out, chained_numpy(vals, grid, late), rtol=2e-5)
    assert len(stats.prints) == ROUNDS * grid[0] * grid[1]
    entered.clear()
    with forced(FAST):
        launch(grid, wafer, vals, late)
    assert entered, "no group entered the interpreter at a chain split: the test no longer covers it"
    with forced(Strategy(compiled_chains=False)):
        entered.clear()
        launch(grid, wafer, vals, late)
        assert not entered


@pytest.mark.parametrize("fail, error", [(OUT_OF_BOUNDS, ws.MemoryAccessError), (SKIPPED_REDUCE, ws.DeadlockError)])
def test_a_failure_after_the_hand_over_is_the_same_error_under_every_strategy(fail, error, entered):
    vals = values((1, 1))
    with pytest.raises(error) as info:
        run_every_strategy(lambda: launch((1, 1), BLOCK, vals, 5, fail))  # (the same error under each: or it fails)
    assert "test_compiled_chain_entries.py" in str(info.value)
    assert entered


@pytest.mark.parametrize("cap", [700, 1000, 1500])
def test_a_cycle_limit_around_the_hand_over_is_the_same_error_under_every_strategy(cap, entered):
    vals = values((1, 1))
    with pytest.raises(ws.CycleLimitError, match=f"max_cycles={cap:,}"):
        run_every_strategy(lambda: launch((1, 1), BLOCK, vals, 5, max_cycles=cap))


@pytest.mark.parametrize("every", [1, 3])
def test_a_launch_resumed_from_a_checkpoint_across_hand_overs_runs_as_one_run_through(every, tmp_path, entered):
    vals = values((1, 1))
    with forced(REFERENCE):
        reference = launch((1, 1), BLOCK, vals, 5)
    for number, strategy in enumerate((FAST, Strategy(compiled_chains=False))):
        path = tmp_path / f"run{number}.npz"
        entered.clear()
        with forced(strategy):
            device = ws.Device(ws.WaferSpec(width=BLOCK[0], height=BLOCK[1]))
            d_vals, d_out = device.to_device(vals), device.device_array((BLOCK[1], BLOCK[0]), F)
            chained[(1, 1), BLOCK](d_vals, d_out, ROUNDS, 5, OK, checkpoint_every=every, checkpoint=path)
            resumed, stats = ws.resume_launch(path)
        assert bool(entered) == (number == 0)  # (FAST enters at the splits)
        out = resumed.arrays()[f"0x{d_out.address:x}"].copy_to_host()
        assert_same_run(reference, (out, stats))


def test_the_strategy_list_turns_chain_entries_off():
    assert any(not strategy.compiled_chains and strategy.compiled_fabric for strategy in STRATEGIES)
