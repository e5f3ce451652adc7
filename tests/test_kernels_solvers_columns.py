"""The column layout of `kernels.solvers.columns`: host layouts, the grid checks, and the device dot
products against NumPy."""
from __future__ import annotations

import functools
import sys

import numpy as np
import pytest

import wafersim as ws
from wafersim.kernels.hosting import fitting_device
from wafersim.kernels.solvers import conjugate_gradient
from wafersim.kernels.solvers.reference import apply_laplacian
from wafersim import collectives as wsc
from wafersim.kernels.solvers.columns import (ColumnTooLongError, block_sum_cycles, check_grid, column_ops, from_columns,
                                              halo_channel, from_padded_columns, padded_columns, reduction_rounds,
                                              to_columns)


def test_layouts_round_trip_and_put_each_column_on_its_pe():
    u = np.arange(3 * 2 * 4, dtype=np.float32).reshape(3, 2, 4)  # (nz, ny, nx)
    cols = to_columns(u)
    assert cols.shape == (8, 3)
    assert np.array_equal(cols[1 * 4 + 2], u[:, 1, 2])  # PE (x=2, y=1)
    assert np.array_equal(from_columns(cols, u.shape), u)
    padded = padded_columns(u)
    assert padded.shape == (8, 5) and not padded[:, 0].any() and not padded[:, -1].any()
    assert np.array_equal(from_padded_columns(padded, u.shape), u)


def test_check_grid_names_the_size_and_the_limit():
    spec = ws.WaferSpec(width=4, height=4)
    with pytest.raises(ws.ArgumentError, match=r"5 x 2 \(x, y\) grid needs a block of 5 x 2 PEs, the wafer has 4 x 4"):
        check_grid(np.ones((3, 2, 5)), "u", 4, spec)
    with pytest.raises(ws.ArgumentError, match="non-empty 3-D"):
        check_grid(np.ones((0, 2, 2)), "u", 4, spec)
    with pytest.raises(ColumnTooLongError, match="a PE has 4,096: use columns of at most ~202 values") as info:
        check_grid(np.ones((300, 1, 1)), "u", 4, spec.replace(sram_bytes=4096), code_words=0)
    # 4 vectors and one of compiler temporaries, 302 words each.
    assert info.value.fields["needed"] == 4 * 5 * 302 and info.value.fields["available"] == 4096
    assert check_grid(np.ones((100, 1, 1)), "u", 4, spec.replace(sram_bytes=4096), code_words=0).dtype == np.float32
    with pytest.raises(ws.ArgumentError, match="fifo_depth >= 16 and channels >= 4, the wafer has 8 and 4"):
        check_grid(np.ones((4, 2, 2)), "u", 4, spec.replace(fifo_depth=8))


def test_a_grid_whose_block_the_spares_cannot_cover_is_refused_with_advice_a_solver_can_use():
    """The launch would say "launch smaller blocks"; a solver's block is its grid's (x, y) extent, so the
    solvers say to add spares instead, naming the dead PE in the way, before anything is compiled."""
    spec = ws.WaferSpec(width=8, height=8, defects=[(2, 2)])  # no spares: 8 x 7 usable
    with pytest.raises(ws.LaunchError, match=r"usable 8 x 7.*row 2: dead at x = 2\. b's \(x, y\) extent fixes the "
                       r"solver's block at 8 x 8 PEs: pass a device whose WaferSpec has more spare_cols") as caught:
        conjugate_gradient(np.ones((4, 8, 8), np.float32), device=ws.Device(spec))
    assert caught.value.fields["defects"] == [(2, 2)] and "Launch smaller blocks" not in str(caught.value)
    # A grid the live PEs do carry runs: it solves A x = b, and exactly as on a perfect wafer.
    b = np.random.default_rng(0).standard_normal((4, 7, 8)).astype(np.float32)
    on_defective, perfect = conjugate_gradient(b, device=ws.Device(spec)), conjugate_gradient(b)
    assert np.linalg.norm(b - apply_laplacian(on_defective.x)) < 3e-5 * np.linalg.norm(b)
    assert np.array_equal(on_defective.x, perfect.x) and on_defective.iterations == perfect.iterations


@pytest.mark.parametrize("nz", [1, 5, 16, 21])
def test_block_dot_product_matches_numpy(nz):
    dot = column_ops(nz).dot  # a plain name: a kernel calls functions by name

    @ws.jit
    def dots(a, b, out, nx):
        px, py = ws.grid(2)
        me = py * nx + px
        x = ws.local.array(nz + 2, np.float32)
        y = ws.local.array(nz + 2, np.float32)
        x[0:nz + 2] = a[me, 0:nz + 2]
        y[0:nz + 2] = b[me, 0:nz + 2]
        out[me] = dot(x, y)

    rng = np.random.default_rng(nz)
    a, b = (rng.integers(-8, 8, size=(nz, 3, 4)).astype(np.float32) for _ in range(2))  # exact sums
    dev = fitting_device(4, 3)
    d_out = dev.device_array(12)
    dots[(1, 1), (4, 3)](dev.to_device(padded_columns(a)), dev.to_device(padded_columns(b)), d_out, 4)
    assert np.array_equal(d_out.copy_to_host(), np.full(12, np.dot(a.ravel(), b.ravel()), np.float32))


def test_block_sums_reduce_every_value_of_a_local_array():
    sums = column_ops(4).block_sums

    @ws.jit
    def three_sums(v, out, nx):
        px, py = ws.grid(2)
        me = py * nx + px
        vals = ws.local.array(3, np.float32)
        scratch = ws.local.array(3, np.float32)
        vals[0:3] = v[me, 0:3]
        sums(vals, scratch)
        out[me, 0:3] = vals[0:3]

    v = np.random.default_rng(4).integers(-50, 50, size=(15, 3)).astype(np.float32)  # exact float32 sums
    dev = fitting_device(5, 3)
    d_out = dev.device_array((15, 3))
    three_sums[(1, 1), (5, 3)](dev.to_device(v), d_out, 5)
    assert np.array_equal(d_out.copy_to_host(), np.tile(v.sum(axis=0), (15, 1)))


def test_reduction_rounds_take_the_tree_where_the_wafer_has_its_channels_and_it_is_cheaper():
    # A tree of R rounds: 4 R + 1 channels and the halo's; else the chains (0) on 4 channels.
    wse2 = ws.WaferSpec.preset("wse2")
    assert reduction_rounds(ws.WaferSpec(width=64, height=64), 16, 16) == 0          # 4 channels
    assert reduction_rounds(ws.WaferSpec.preset("dev"), 16, 16) == 0
    assert reduction_rounds(wse2.replace(channels=18), 16, 16) == 4                   # p = 8: 4 bits
    assert reduction_rounds(wse2.replace(channels=17), 16, 16) == 0
    assert reduction_rounds(wse2, 63, 63) == 5                                        # 22 of 24 channels
    assert reduction_rounds(wse2, 64, 64) == 0                                        # 6 rounds: 26
    assert reduction_rounds(ws.WaferSpec(channels=32), 64, 64) == 6
    # where a ramp costs nothing (the default figures) the chains' hops are 3 cycles and win up to ~44 x 44
    assert reduction_rounds(ws.WaferSpec(channels=32), 16, 16) == 0
    assert reduction_rounds(ws.WaferSpec(channels=32), 48, 48) == 5
    # a side of 4,096 PEs needs 12 rounds, past the tree's 11: the chains (tree_channels refuses 12 rounds)
    assert reduction_rounds(ws.WaferSpec(width=4096, height=4, channels=32), 4096, 4) == 0
    assert (halo_channel(0), halo_channel(4)) == (3, 17)


def test_block_sum_cycles_model_the_documented_costs_a_hop_and_a_round():
    # chains: a stream op of one word a hop (2 t + h + 1) and the broadcast's hop (h); tree: h a hop, in and back
    wse2, flat = ws.WaferSpec.preset("wse2"), ws.WaferSpec()
    for spec in (wse2, flat, wse2.replace(hop_latency=3)):
        h, t = spec.hop_latency, spec.ramp_latency
        for nx, ny in [(16, 16), (17, 9), (5, 40)]:
            chain_step = block_sum_cycles(spec, nx + 2, ny) - block_sum_cycles(spec, nx, ny)
            assert chain_step == 2 * t + 2 * h + 1
            rounds = wsc.tree_rounds(nx + 2, ny)
            assert wsc.tree_rounds(nx, ny) == rounds and (nx // 2).bit_length() == ((nx + 2) // 2).bit_length()
            tree_step = block_sum_cycles(spec, nx + 2, ny, rounds) - block_sum_cycles(spec, nx, ny, rounds)
            assert tree_step == 2 * h


@pytest.mark.parametrize("bx, by", [(4, 3), (13, 6)])
def test_block_sums_by_the_tree_reduce_every_value_of_a_local_array(bx, by):
    rounds = wsc.tree_rounds(bx, by)  # (the tree whatever `reduction_rounds` would pick)
    ops = column_ops(4, rounds)
    sums, dot = ops.block_sums, ops.dot

    @ws.jit
    def three_sums(v, out, nx):
        px, py = ws.grid(2)
        me = py * nx + px
        vals = ws.local.array(3, np.float32)
        scratch = ws.local.array(3, np.float32)
        col = ws.local.array(6, np.float32)
        vals[0:3] = v[me, 0:3]
        col[0:6] = 0.0
        col[1:4] = v[me, 0:3]
        sums(vals, scratch)
        out[me, 0:3] = vals[0:3]
        out[me, 3] = dot(col, col)

    v = np.random.default_rng(bx).integers(-50, 50, size=(bx * by, 3)).astype(np.float32)  # exact float32 sums
    dev = ws.Device(ws.WaferSpec(width=bx, height=by, channels=24))
    d_out = dev.device_array((bx * by, 4))
    three_sums[(1, 1), (bx, by)](dev.to_device(v), d_out, bx)
    expected = np.append(v.sum(axis=0), (v.astype(np.float64) ** 2).sum()).astype(np.float32)
    assert np.array_equal(d_out.copy_to_host(), np.tile(expected, (bx * by, 1)))


#: The solvers' block shapes (nx x ny) on which the choice of `reduction_rounds` is checked against measurement.
MEASURED_BLOCKS = [(8, 8), (16, 16), (16, 64), (24, 24), (32, 32), (64, 16), (64, 64)]


@functools.lru_cache(maxsize=None)
def block_sum_kernel(rounds):
    """A kernel running `reps` of the solvers' block sum (`column_ops(4, rounds).dot`) one after the other. One
    dispatcher per `rounds`, shared by the blocks measured: a machine whose fields the compiler reads are the
    same (`compiler.spec_reads`) reuses its program instead of compiling the same one again."""
    dot = column_ops(4, rounds).dot

    @ws.jit
    def repeated(v, out, nx, reps: ws.constant):
        px, py = ws.grid(2)
        me = py * nx + px
        col = ws.local.array(6, np.float32)
        col[0:6] = 0.0
        col[1] = v[me]
        for _ in range(reps):
            col[1] = dot(col, col) * 0.001  # (each sum waits for the last)
        out[me] = col[1]

    return repeated


def measured_block_sum(spec, nx, ny, rounds):
    """Cycles of one block sum alone: runs of 1 and 5 back to back, differenced."""
    dev = ws.Device(spec)
    v = dev.to_device(np.random.default_rng(0).random(nx * ny, dtype=np.float32))
    cycles = [block_sum_kernel(rounds)[(1, 1), (nx, ny)](v, dev.device_array(nx * ny), nx, reps).cycles
              for reps in (1, 5)]
    return (cycles[1] - cycles[0]) / 4


def measured_cg_iteration(spec, nx, ny, rounds, monkeypatch):
    """Cycles of one classic CG iteration (two block sums) with the block sums of `rounds`: runs of 2 and 4
    iterations with the off-wafer bandwidth out of the way, differenced (as bench/solvers.py)."""
    monkeypatch.setattr(sys.modules["wafersim.kernels.solvers.cg"], "reduction_rounds", lambda *_: rounds)
    b = np.random.default_rng(1).standard_normal((32, ny, nx)).astype(np.float32)
    dev = ws.Device(spec.replace(global_bytes_per_s=1e18))
    cycles = [conjugate_gradient(b, rtol=0.0, maxiter=n, device=dev).stats.cycles for n in (2, 4)]
    return (cycles[1] - cycles[0]) / 2


@pytest.mark.parametrize("figures, nx, ny", [("wse2", nx, ny) for nx, ny in MEASURED_BLOCKS]
                         + [("default", 16, 16), ("default", 64, 64)])
def test_reduction_rounds_pick_the_measured_cheaper_block_sum(figures, nx, ny, monkeypatch):
    # 32 channels: every block's tree fits, so the choice is the cost model's alone; the measurement of both
    # sweeps, alone and in a CG iteration, is the reference (the two agree on these blocks)
    spec = (ws.WaferSpec.preset("wse2", width=nx, height=ny, channels=32) if figures == "wse2"
            else ws.WaferSpec(width=nx, height=ny, channels=32))
    rounds = wsc.tree_rounds(nx, ny)
    alone = {r: measured_block_sum(spec, nx, ny, r) for r in (0, rounds)}
    iteration = {r: measured_cg_iteration(spec, nx, ny, r, monkeypatch) for r in (0, rounds)}
    tree_cheaper = iteration[rounds] < iteration[0]
    assert (alone[rounds] < alone[0]) == tree_cheaper, (alone, iteration)
    assert reduction_rounds(spec, nx, ny) == (rounds if tree_cheaper else 0), (alone, iteration)
    # and the model's difference is the measured one's within 6 cycles a block sum
    modelled = block_sum_cycles(spec, nx, ny) - block_sum_cycles(spec, nx, ny, rounds)
    assert abs(modelled - (iteration[0] - iteration[rounds]) / 2) <= 6, (modelled, iteration)
