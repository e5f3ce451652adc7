"""The column layout of `kernels.solvers.columns`: host layouts, the grid checks, and the device dot
products against NumPy."""
from __future__ import annotations

import numpy as np
import pytest

import wafersim as ws
from wafersim.kernels.hosting import fitting_device
from wafersim.kernels.solvers.columns import (ColumnTooLongError, check_grid, column_ops, from_columns, halo_channel,
                                              from_padded_columns, padded_columns, reduction_rounds, to_columns)


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


def test_reduction_rounds_take_the_tree_where_the_wafer_has_its_channels():
    # A tree of R rounds: 4 R + 1 channels and the halo's; else the chains (0) on 4 channels.
    assert reduction_rounds(ws.WaferSpec(width=64, height=64), 16, 16) == 0          # 4 channels
    assert reduction_rounds(ws.WaferSpec.preset("dev"), 16, 16) == 0
    assert reduction_rounds(ws.WaferSpec(channels=18), 16, 16) == 4                   # p = 8: 4 bits
    assert reduction_rounds(ws.WaferSpec(channels=17), 16, 16) == 0
    assert reduction_rounds(ws.WaferSpec.preset("wse2"), 63, 63) == 5                 # 22 of 24 channels
    assert reduction_rounds(ws.WaferSpec.preset("wse2"), 64, 64) == 0                 # 6 rounds: 26
    assert reduction_rounds(ws.WaferSpec(channels=32), 64, 64) == 6
    # a side of 4,096 PEs needs 12 rounds, past the tree's 11: the chains (tree_channels refuses 12 rounds)
    assert reduction_rounds(ws.WaferSpec(width=4096, height=4, channels=32), 4096, 4) == 0
    assert (halo_channel(0), halo_channel(4)) == (3, 17)


@pytest.mark.parametrize("bx, by", [(4, 3), (13, 6)])
def test_block_sums_by_the_tree_reduce_every_value_of_a_local_array(bx, by):
    rounds = reduction_rounds(ws.WaferSpec(channels=24), bx, by)
    assert rounds > 0
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
