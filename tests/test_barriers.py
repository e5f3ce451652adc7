"""Block barriers at different program counters (`sim/barriers.py`): each block's PEs reach one barrier, but
blocks reach different ones (the two arms of a branch on the block index). The release of one block's barrier
must leave a block that has not reached its own yet runnable (it was held as waiting: a false DeadlockError)."""
from __future__ import annotations

import numpy as np
import pytest

import wafersim as ws
from wafersim.sim.strategy import REFERENCE, Strategy, forced


@ws.jit
def barrier_per_arm(out):
    if ws.blockIdx.x == 0:
        ws.syncthreads()
    else:
        ws.syncthreads()
    out[ws.grid(1)] = ws.blockIdx.x + 1.0


@ws.jit
def barrier_per_arm_then_grid(out):
    if ws.blockIdx.x % 2 == 0:
        ws.syncthreads()
    else:
        ws.syncthreads()
    ws.cg.this_grid().sync()
    out[ws.grid(1)] = ws.blockIdx.x + 1.0


@pytest.mark.parametrize("kernel", [barrier_per_arm, barrier_per_arm_then_grid])
@pytest.mark.parametrize("grid, block", [(2, 2), (3, (2, 2)), (2, 1)])
def test_blocks_reaching_different_barriers_all_run_on_every_strategy(kernel, grid, block):
    bx, by = (block, 1) if isinstance(block, int) else block
    want = np.repeat(np.arange(1, grid + 1, dtype=np.float32), bx * by) if by == 1 else None
    runs = []
    for strategy in (REFERENCE, Strategy(compiled=False), Strategy()):
        dev = ws.Device(ws.WaferSpec(width=16, height=4))
        out = dev.device_array(grid * bx * by, np.float32)
        with forced(strategy):
            stats = kernel[grid, block](out)
        got = out.copy_to_host()
        if want is not None:
            assert got.tolist() == want.tolist()
        else:  # (ws.grid(1) of a 2-D block: x only; every block's PEs wrote their block's number)
            assert sorted(set(got.tolist()) - {0.0}) == list(range(1, grid + 1))
        runs.append((stats.cycles, stats.instructions, stats.op_counts["bar"]))
    assert runs[0] == runs[1] == runs[2] and runs[0][2] == grid * bx * by
