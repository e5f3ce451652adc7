"""Placement of a launch's blocks on the wafer (sim/layout.py): a block larger than the wafer (a CUDA habit:
1024 x 1 threads) is refused with a block shape that fits, checked against a plain search of every shape."""
from __future__ import annotations

import numpy as np
import pytest

import wafersim as ws
from wafersim.sim.layout import block_shape_for


@ws.jit
def store_index(out):
    x, y = ws.grid(2)
    out[y, x] = x + 100 * y


def test_a_1024_x_1_block_suggests_32_x_32():
    dev = ws.Device(ws.WaferSpec(width=32, height=32))
    out = dev.device_array((32, 32), "int32")
    with pytest.raises(ws.LaunchError) as info:               # was: "larger than the wafer" and no hint
        store_index[1, (1024, 1)](out)
    err = info.value
    assert "a block is a rectangle of PEs of the wafer, width x height, at most 32 x 32" in str(err)
    assert "(32, 32)" in str(err) and err.suggested_block == (32, 32)
    assert err.block == (1024, 1) and err.wafer == (32, 32)
    store_index[1, err.suggested_block](out)                   # the suggestion launches
    assert int(out.copy_to_host()[31, 31]) == 31 + 3100


@pytest.mark.parametrize("block, words", [((2048, 1), "use more, smaller blocks"),
                                          ((37, 1), "block (7, 6) holds 37 PEs (42 PEs: those past the first 37 skip")])
def test_blocks_of_more_pes_or_of_no_fitting_rectangle(block, words):
    with pytest.raises(ws.LaunchError, match=r"larger than the wafer") as info:
        ws.Kernel(ws.assemble("halt"), ws.Device(ws.WaferSpec(width=32, height=32)))[1, block]()
    assert words in str(info.value)


def exact_shapes(n: int, width: int, height: int) -> list[tuple[int, int]]:
    """Every block shape of exactly n PEs that fits the wafer, by trying each."""
    return [(x, y) for x in range(1, width + 1) for y in range(1, height + 1) if x * y == n]


@pytest.mark.parametrize("width, height", [(32, 32), (8, 3), (100, 2), (5, 40)])
@pytest.mark.parametrize("n", [1, 6, 7, 37, 64, 96, 150, 199, 200, 1024, 2000])
def test_block_shape_for_by_plain_search(n, width, height):
    shape = block_shape_for(n, width, height)
    if n > width * height:
        assert shape is None
        return
    bx, by = shape
    assert 1 <= bx <= width and 1 <= by <= height and bx * by >= n
    exact = exact_shapes(n, width, height)
    if exact:  # exactly n PEs, the most nearly square of them
        assert bx * by == n and abs(bx - by) == min(abs(x - y) for x, y in exact)
    else:  # a few idle PEs: fewer than one row or column more than needed
        assert bx * by - n < max(bx, by)


def test_a_dim3_of_depth_1_is_the_2_d_shape_and_a_deeper_one_says_to_fold_it():
    """CUDA code writes dim3(gx, gy, 1): taken as (gx, gy) (was: "must be a tuple of 1 or 2 ints"); a real
    third axis is refused with the 2-D shape to launch instead."""
    dev = ws.Device(ws.WaferSpec(width=16, height=16))
    out = dev.device_array((8, 12), "int32")
    store_index[(3, 2, 1), (4, 4, 1)](out)
    y, x = np.indices((8, 12))
    np.testing.assert_array_equal(out.copy_to_host(), x + 100 * y)
    with pytest.raises(ws.LaunchError, match=r"block \(4, 2, 2\): the wafer is a 2-D mesh of PEs, so there are no "
                                             r"3-D grids or blocks: fold the third axis into y, \(4, 4\)"):
        store_index[(3, 2), (4, 2, 2)](out)
    with pytest.raises(ws.LaunchError, match=r"grid must be an int or a tuple of 1 or 2 ints \(or \(x, y, 1\)\)"):
        store_index[(3, 2, 1, 1), (4, 4)](out)
    for depth in (0, -2):  # not a third axis to fold into y (that advice would give (4, 0) or (4, -4))
        with pytest.raises(ws.LaunchError, match=rf"block \(4, 2, {depth}\) must be positive in every dimension"):
            store_index[(3, 2), (4, 2, depth)](out)
