"""`ws.cg.this_grid().sync()`: a barrier over every PE of a launch (CUDA's cooperative-groups grid sync).

Checked against plain NumPy (a two-phase sum across blocks), the barrier's cost from `WaferSpec` (the
rectangle the blocks occupy), the block barrier it generalises, and on every execution strategy."""
from __future__ import annotations

import re

import numpy as np
import pytest

import wafersim as ws
from conftest import load_source
from wafersim.sim.strategy import REFERENCE, Strategy, forced

STRATEGIES = (REFERENCE, Strategy(compiled=False), Strategy())


@ws.jit
def two_phase_sum(x, partial, out):
    """Each block's PE 0 sums its block's slice into partial[block]; after the grid barrier, PE 0 of the
    launch sums the partials: it reads what other blocks wrote, which only the grid barrier orders."""
    b = ws.blockIdx.x
    if ws.threadIdx.x == 0:
        s = 0.0
        for k in range(ws.blockDim.x):
            s += x[b * ws.blockDim.x + k]
        partial[b] = s
    ws.cg.this_grid().sync()
    if ws.grid(1) == 0:
        total = 0.0
        for k in range(ws.gridDim.x):
            total += partial[k]
        out[0] = total


@ws.jit
def sync_only(out):
    ws.cg.this_grid().sync()


@ws.jit
def block_sync_only(out):
    ws.syncthreads()


@pytest.mark.parametrize("blocks, threads", [(8, 8), (3, 16)])
def test_a_two_phase_sum_across_blocks_matches_numpy_on_every_strategy(blocks, threads):
    x = np.random.default_rng(blocks).random(blocks * threads, dtype=np.float32)
    partials = x.reshape(blocks, threads)
    want_partial = np.zeros(blocks, np.float32)
    for b in range(blocks):  # (the kernel's order: sequential float32 sums)
        for v in partials[b]:
            want_partial[b] = np.float32(want_partial[b] + v)
    want = np.float32(0)
    for v in want_partial:
        want = np.float32(want + v)
    runs = []
    for strategy in STRATEGIES:
        dev = ws.Device(ws.WaferSpec(width=64, height=8))
        partial, out = dev.device_array(blocks, np.float32), dev.device_array(1, np.float32)
        with forced(strategy):
            stats = two_phase_sum[blocks, threads](dev.to_device(x), partial, out, racecheck=True)  # no race
        assert partial.copy_to_host().tolist() == want_partial.tolist() and out.copy_to_host()[0] == want
        runs.append((stats.cycles, stats.instructions, stats.busy.tolist(), stats.stall.tolist()))
    assert runs[0] == runs[1] == runs[2]


def test_the_grid_barrier_costs_a_barrier_across_the_rectangle_of_its_blocks():
    """Two 4 x 4 blocks side by side: the grid barrier spans 8 x 4 PEs, as a block barrier of one 8 x 4
    block does (the same cycles), and costs `barrier_cycles_per_hop` x 4 more than the 4 x 4 block barrier."""
    spec = ws.WaferSpec(width=16, height=8)
    dev = ws.Device(spec)

    def cycles(kernel, grid, block):
        return kernel[grid, block](dev.device_array(1, np.float32)).cycles

    grid_sync = cycles(sync_only, (2, 1), (4, 4))
    assert grid_sync == cycles(block_sync_only, (1, 1), (8, 4))
    wider = spec.barrier_cycles(8, 4) - spec.barrier_cycles(4, 4)
    assert wider == 4 * spec.barrier_cycles_per_hop
    assert grid_sync - cycles(block_sync_only, (2, 1), (4, 4)) == wider


def test_a_grid_that_needs_several_waves_is_refused_before_it_runs():
    dev = ws.Device(ws.WaferSpec(width=8, height=8))
    with pytest.raises(ws.LaunchError, match="every block of its grid must be on the wafer at once") as error:
        sync_only[(4, 4), (4, 4)](dev.device_array(1, np.float32))  # 16 blocks, 4 at once
    assert error.value.waves == 4 and error.value.source[0].endswith("test_cg.py")
    sync_only[(2, 2), (4, 4)](dev.device_array(1, np.float32))  # 4 blocks: one wave


@ws.jit
def some_blocks_return_first(out):
    if ws.blockIdx.x == 1:
        return
    ws.cg.this_grid().sync()


@ws.jit
def block_and_grid_barriers_mixed(out):
    if ws.blockIdx.x == 0:
        ws.syncthreads()
    else:
        ws.cg.this_grid().sync()


@pytest.mark.parametrize("kernel", [some_blocks_return_first, block_and_grid_barriers_mixed])
def test_a_grid_barrier_some_pes_never_reach_is_a_deadlock(kernel):
    for strategy in STRATEGIES:
        dev = ws.Device(ws.WaferSpec(width=16, height=4))
        with forced(strategy), pytest.raises(ws.DeadlockError, match="grid barrier") as error:
            kernel[2, 4](dev.device_array(1, np.float32))
        waiting = {tuple(b["pe"]) for b in error.value.blocked if "grid barrier" in b["waits_for"]}
        assert waiting == {(x, 0) for x in range(4)} if kernel is some_blocks_return_first else \
            waiting == {(x, 0) for x in range(4, 8)}
        # the PEs that do not reach the grid barrier: block 1, which returned, or block 0, which halted after
        # its block barrier
        absent = [(x, 0) for x in range(4, 8)] if kernel is some_blocks_return_first else [(x, 0) for x in range(4)]
        assert error.value.absent == absent and "4 halted (returned or ended) before it" in str(error.value)


@ws.jit
def neighbours_through_global(buf, out):
    i = ws.grid(1)
    buf[i] = i * 10
    ws.cg.this_grid().sync()
    out[i] = buf[(i + 4) % (ws.gridDim.x * ws.blockDim.x)]  # the next block's word


@ws.jit
def neighbours_through_global_block_sync(buf, out):
    i = ws.grid(1)
    buf[i] = i * 10
    ws.syncthreads()
    out[i] = buf[(i + 4) % (ws.gridDim.x * ws.blockDim.x)]


def test_racecheck_takes_a_grid_barrier_as_ordering_blocks_and_a_block_barrier_not():
    dev = ws.Device(ws.WaferSpec(width=16, height=4))
    out = dev.device_array(12, np.int32)
    neighbours_through_global[3, 4](dev.device_array(12, np.int32), out, racecheck=True)
    assert out.copy_to_host().tolist() == [((i + 4) % 12) * 10 for i in range(12)]
    stats = neighbours_through_global_block_sync[3, 4](dev.device_array(12, np.int32), out, racecheck="report")
    assert stats.races and all(r.first.block_index != r.second.block_index for r in stats.races)


@pytest.mark.parametrize("body, text", [
    ("g = ws.cg.this_grid()", "supported as ws.cg.this_grid().sync() only"),
    ("ws.cg.this_grid().wait()", "has sync() only"),
    ("ws.cg.this_grid().sync(1)", "takes no arguments"),
    ("y = ws.cg.this_grid().sync()", "ws.cg.this_grid().sync() gives no value (None), so it cannot be assigned"),
    ("y = z = ws.cg.this_grid().sync()", "gives no value"),
    ("y, z = x, ws.cg.this_grid().sync()", "gives no value"),
    # other groups (was: "only intrinsics, math functions and @ws.jit functions can be called")
    ("ws.cg.this_thread_block().sync()", "ws.cg has no attribute 'this_thread_block' (ws.syncthreads() is the "
                                         "block's barrier"),
    ("ws.cg.this_block().sync()", "ws.cg has no attribute 'this_block' (ws.syncthreads()"),
    ("g = ws.cg.tiled_partition(4)", "ws.cg has no attribute 'tiled_partition' (a wafer has no warps"),
    ("ws.cg.this_multi_grid().sync()", "ws.cg has this_grid() only"),
])
def test_other_uses_of_the_grid_group_are_refused_at_their_line(tmp_path, body, text):
    module = load_source(tmp_path, f"import numpy as np\nimport wafersim as ws\n\n\n@ws.jit\ndef kern(out):\n"
                                   f"    x = ws.grid(1)\n    {body}\n")
    dev = ws.Device(ws.WaferSpec(width=8, height=4))
    with pytest.raises(ws.CompileError, match=re.escape(text)) as error:
        module.kern[1, 4](dev.device_array(4, np.float32))
    assert error.value.line == 8


def test_the_host_cannot_call_it():
    with pytest.raises(ws.CompileError, match="only be called inside a @ws.jit kernel"):
        ws.cg.this_grid()


def test_a_grid_barrier_assembles_and_runs_in_assembly():
    program = ws.assemble("  sreg r1, tid.x\n  gbar\n  halt\n")
    assert "gbar" in ws.disassemble(program)
    dev = ws.Device(ws.WaferSpec(width=8, height=4))
    stats = ws.Kernel(program, dev)[(2, 1), (4, 4)]()
    assert stats.op_counts["gbar"] == 32
