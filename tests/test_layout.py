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


def test_numbas_fourth_launch_item_is_told_there_is_no_shared_memory():
    """Numba's kernel[grid, block, stream, sharedmem]: the fourth item, dynamic shared memory, has no
    counterpart; the error said only which configurations are taken."""
    dev = ws.Device(ws.WaferSpec(width=16, height=16))
    out = dev.device_array((8, 12), "int32")
    with pytest.raises(ws.LaunchError, match=r"\[grid, block, stream\]: a fourth item, Numba's dynamic shared "
                                             r"memory in bytes, has no counterpart"):
        store_index[(3, 2), (4, 4), 0, 1024](out)
    with pytest.raises(ws.LaunchError) as info:  # one item: no word about shared memory
        store_index[6]
    assert str(info.value) == "launch configuration must be [grid, block] or [grid, block, stream]"


# ----------------------------------------------------------------------------- slots on a defective wafer
@ws.jit
def neighbour_sum(v, out):
    """Each PE: the sum of its block-neighbours' values (a 4-point stencil with zero outside the block)."""
    x, y = ws.grid(2)
    for d in (ws.NORTH, ws.SOUTH, ws.EAST, ws.WEST):
        if ws.has_neighbor(d):
            ws.send(d, v[y, x])
    s = 0.0
    for d in (ws.NORTH, ws.SOUTH, ws.EAST, ws.WEST):
        if ws.has_neighbor(d):
            s += ws.recv(d)
    out[y, x] = s


def neighbour_sum_reference(v: np.ndarray, bx: int, by: int) -> np.ndarray:
    """NumPy: the same sums, each block a separate mesh."""
    out = np.zeros_like(v)
    for y0 in range(0, v.shape[0], by):
        for x0 in range(0, v.shape[1], bx):
            b = np.pad(v[y0:y0 + by, x0:x0 + bx], 1)
            # north, south, east, west: the kernel's order of float32 additions
            out[y0:y0 + by, x0:x0 + bx] = b[:-2, 1:-1] + b[2:, 1:-1] + b[1:-1, 2:] + b[1:-1, :-2]
    return out


# Two whole dead rows and one spare row: 7 live rows of 16. Four dead PEs at the east end of rows 0-3 and no
# spares: 16 live PEs in 4 rows, 15 in 8, so 12-wide slots (3 blocks of 4 x 4, 2 rows of them) beat 16-wide
# (4 blocks, one row).
ROWS_DEAD = dict(spare_rows=1, defects=[(x, 2) for x in range(16)] + [(x, 5) for x in range(16)])
EAST_DEAD = dict(defects=[(15, y) for y in range(4)])


@pytest.mark.parametrize("spares, grid, block, slots", [
    (ROWS_DEAD, (2, 2), (8, 4), (2, 1)),      # 16 x 7 live: one row of two 8 x 4 slots
    (ROWS_DEAD, (4, 4), (4, 2), (4, 3)),      # three rows of 4 x 2 slots in 7 live rows
    (ROWS_DEAD, (1, 3), (16, 4), (1, 1)),
    (ROWS_DEAD, (16, 8), (1, 1), (16, 7)),
    (EAST_DEAD, (4, 2), (4, 4), (3, 2)),
])
def test_a_grid_the_spares_cannot_hold_at_once_runs_in_more_waves(spares, grid, block, slots):
    # Was: a LaunchError ("the launch needs a 16 x 8 rectangle"), although the wafer holds every block.
    spec = ws.WaferSpec(width=16, height=8, **spares)
    assert spec.repair() is None
    (gx, gy), (bx, by) = grid, block
    v = np.random.default_rng(gx * 10 + bx).random((gy * by, gx * bx), dtype=np.float32)
    dev = ws.Device(spec)
    out = dev.device_array(v.shape)
    stats = neighbour_sum[grid, block](dev.to_device(v), out)
    expected = neighbour_sum_reference(v, bx, by)
    assert np.array_equal(out.copy_to_host(), expected)
    assert stats.waves == -(-gx * gy // (slots[0] * slots[1]))
    # Every block ran in one of the slots the live PEs carry, and stats place it there.
    positions = {stats.wafer_xy(x, y) for x in range(gx * bx) for y in range(gy * by)}
    assert positions == {(x, y) for x in range(slots[0] * bx) for y in range(slots[1] * by)}
    assert stats.busy[:, slots[0] * bx:].sum() == 0 and stats.busy[slots[1] * by:, :].sum() == 0
    # The same launch on a perfect wafer gives the same answer (in fewer or as many waves).
    perfect_dev = ws.Device(ws.WaferSpec(width=16, height=8))
    perfect_out = perfect_dev.device_array(v.shape)
    neighbour_sum[grid, block](perfect_dev.to_device(v), perfect_out)
    assert np.array_equal(perfect_out.copy_to_host(), expected)


def test_a_block_no_live_rectangle_holds_still_names_the_dead_pes():
    spec = ws.WaferSpec(width=16, height=8, **ROWS_DEAD)
    dev = ws.Device(spec)
    with pytest.raises(ws.LaunchError) as caught:
        neighbour_sum[(2, 1), (16, 8)](dev.to_device(np.ones((8, 32), np.float32)), dev.device_array((8, 32)))
    assert caught.value.needed == (16, 8) and caught.value.usable == (16, 7)
    assert "row 2: dead at x = 0" in str(caught.value) and "Launch smaller blocks" in str(caught.value)


@ws.jit
def grid_synced(out):
    x, y = ws.grid(2)
    out[y, x] = 1.0
    ws.cg.this_grid().sync()


def test_a_cooperative_launch_that_fits_only_in_waves_on_a_defective_wafer_is_refused():
    dev = ws.Device(ws.WaferSpec(width=16, height=8, **ROWS_DEAD))
    # The error says why only 2 of the 4 slots a perfect 16 x 8 mesh tiles are left: 32 dead PEs in rows 2 and 5,
    # one spare row, so 7 live rows (16 x 7) hold one row of 8 x 4 blocks.
    with pytest.raises(ws.LaunchError, match=r"runs in 2 waves here \(at most 2 blocks at once; a perfect 16 x 8 "
                       r"wafer holds 4, but this one's 32 dead PEs leave a usable 16 x 7: more spare_cols or "
                       r"spare_rows"):
        grid_synced[(2, 2), (8, 4)](dev.device_array((8, 16)))
    grid_synced[(2, 1), (8, 4)](dev.device_array((4, 16)))  # one wave: runs


def test_a_cooperative_launch_in_waves_on_a_perfect_wafer_blames_no_defects():
    dev = ws.Device(ws.WaferSpec(width=16, height=8))  # 4 slots of 8 x 4: a grid of 6 blocks needs 2 waves
    with pytest.raises(ws.LaunchError, match=r"runs in 2 waves here \(at most 4 blocks at once\)") as caught:
        grid_synced[(3, 2), (8, 4)](dev.device_array((8, 24)))
    assert "dead" not in str(caught.value)


@pytest.mark.parametrize("grid, block", [((1, 1), (757, 996)), ((5, 3), (4, 7)), ((40, 30), (3, 2)),
                                         ((7, 1), (1, 5)), ((2, 9), (6, 1))])
def test_per_pe_coordinates_and_specials_are_the_flat_index_arithmetic(grid, block):
    """`WaveRegion` lays per-column and per-row values out over its PEs (`xy`, `slot`, `tid`, `has_neighbor`):
    each must equal the plain arithmetic on flat indices y * width + x, in every wave, as int32 (bool for
    `has_neighbor`)."""
    from wafersim.arch.spec import resolve_spec
    from wafersim.isa.opcodes import DIRECTION_STEP
    from wafersim.sim.layout import Placement

    placement = Placement(resolve_spec("wse2"), grid, block)
    (gx, gy), (bx, by) = grid, block
    for index in range(placement.waves):
        region = placement.wave(index)
        y, x = np.divmod(np.arange(region.n, dtype=np.int64), region.width)
        slot = (y // by) * region.cols + x // bx
        expected = {"pe.x": x, "pe.y": y, "tid.x": x % bx, "tid.y": y % by, "bid.x": (region.first_block + slot) % gx,
                    "bid.y": (region.first_block + slot) // gx, "bdim.x": bx, "gdim.y": gy}
        for got, want in zip(region.xy, (x, y)):
            assert got.dtype == np.int32
            np.testing.assert_array_equal(got, want)
        assert region.slot.dtype == np.int32
        np.testing.assert_array_equal(region.slot, slot)
        for name, want in expected.items():
            got = region.special(name)
            assert got.dtype == np.int32 and got.shape == (region.n,)
            np.testing.assert_array_equal(got, np.broadcast_to(want, (region.n,)))
        for direction, (dx, dy) in enumerate(DIRECTION_STEP):
            tx, ty = x % bx + dx, y % by + dy
            got = region.has_neighbor(direction)
            assert got.dtype == np.bool_
            np.testing.assert_array_equal(got, (tx >= 0) & (tx < bx) & (ty >= 0) & (ty < by))


def test_special_registers_are_cuda_indices_and_pe_is_the_wafer_position():
    """docs/isa.md: tid, bid, bdim, gdim as CUDA's; pe.x, pe.y the wafer column and row where the block was
    placed (`LaunchStats.wafer_xy`), which differs from the launch coordinate when blocks wrap to a new row."""
    names = ["tid.x", "tid.y", "bid.x", "bid.y", "bdim.x", "bdim.y", "gdim.x", "gdim.y", "pe.x", "pe.y"]
    reads = "".join(f"sreg r{k + 1}, {name}\n" for k, name in enumerate(names))
    stores = "".join(f"gst r{k + 1}, r20, {4 * k}\n" for k in range(len(names)))
    program = ws.assemble(".args 1\narg r20, 0\n" + reads + (  # r20 += 40 * (launch y * 12 + launch x)
        "muli r21, r3, 3\nadd r21, r21, r1\nmuli r22, r4, 2\nadd r22, r22, r2\nmuli r22, r22, 12\n"
        "add r22, r22, r21\nmuli r22, r22, 40\nadd r20, r20, r22\n") + stores + "halt\n")
    dev = ws.Device(ws.WaferSpec(width=8, height=8))  # 2 blocks of 3 x 2 a row: block 2 starts row 2
    out = dev.device_array((2, 12, len(names)), np.int32)
    stats = ws.Kernel(program)[(4, 1), (3, 2)](out)
    got = out.copy_to_host()
    for y in range(2):
        for x in range(12):
            expected = [x % 3, y % 2, x // 3, y // 2, 3, 2, 4, 1, *stats.wafer_xy(x, y)]
            assert got[y, x].tolist() == expected
    assert stats.wafer_xy(6, 1) == (0, 3)  # (the third block sits below the first)


def test_a_2_d_block_larger_than_the_wafer_is_not_told_to_take_another_shape():
    """A 9 x 5 block on an 8 x 8 wafer was told "block (7, 7) holds 45 PEs (49 PEs: those past the first 45
    skip the work, if i < 45)" (a new user's 3 x 5 checkerboard GEMV, grown): a kernel that reads
    threadIdx.x and .y as a tile's coordinates computes something else in another shape. A 2-D block is told
    to use a grid of smaller blocks or a larger wafer, and the wafer it names runs the kernel; a 1-D block is
    still offered a shape (test_blocks_of_more_pes_or_of_no_fitting_rectangle)."""
    with pytest.raises(ws.LaunchError, match=r"larger than the wafer") as info:
        store_index[1, (9, 5)](ws.Device(ws.WaferSpec(width=8, height=8)).device_array((5, 9), "int32"))
    text = str(info.value)
    assert "holds 45 PEs" not in text and "use a grid of smaller blocks" in text
    assert "a larger wafer (a WaferSpec with width=9, height=8)" in text
    dev = ws.Device(ws.WaferSpec(width=9, height=8))
    out = dev.device_array((5, 9), "int32")
    store_index[1, (9, 5)](out)
    assert np.array_equal(out.copy_to_host(), np.arange(9)[None, :] + 100 * np.arange(5)[:, None])
