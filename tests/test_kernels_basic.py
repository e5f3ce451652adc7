"""Library kernels (block reduce/all-reduce, Game of Life, row prefix sum, saxpy) against NumPy."""
from __future__ import annotations

import numpy as np
import pytest

import wafersim as ws
from wafersim.kernels.heat import heat
from wafersim.kernels.life import life
from wafersim.kernels.reduce import MAX, MIN, SUM, allreduce, block_allreduce, block_reduce, reduce_to_corner
from wafersim.kernels.saxpy import saxpy
from wafersim.kernels.scan import prefix_sum
from conftest import line_of
from test_isa_float_math import exact_fmas


# ----------------------------------------------------------------------------- NumPy references
def blockwise(values: np.ndarray, block: tuple[int, int], fn) -> np.ndarray:
    bx, by = block
    gy, gx = values.shape[0] // by, values.shape[1] // bx
    return fn(values.reshape(gy, by, gx, bx).astype(np.float64), axis=(1, 3))


def spread(per_block: np.ndarray, block: tuple[int, int]) -> np.ndarray:
    bx, by = block
    return np.repeat(np.repeat(per_block, by, axis=0), bx, axis=1)


def life_reference(board: np.ndarray, steps: int) -> np.ndarray:
    b = board.astype(np.int32)
    h, w = b.shape
    for _ in range(steps):
        p = np.pad(b, 1)
        n = sum(p[1 + dy:1 + dy + h, 1 + dx:1 + dx + w]
                for dy in (-1, 0, 1) for dx in (-1, 0, 1) if (dy, dx) != (0, 0))
        b = ((n == 3) | ((b == 1) & (n == 2))).astype(np.int32)
    return b


SIZES = [((8, 12), (4, 2)), ((24, 40), (8, 6))]  # (values shape (rows, cols), block (bx, by))


# ----------------------------------------------------------------------------- reduce
@pytest.mark.parametrize("shape,block", SIZES)
def test_block_reduce_sum_exact_on_integers(shape, block):
    values = np.random.default_rng(0).integers(-1000, 1000, size=shape).astype(np.float32)
    out, stats = block_reduce(values, "sum", block)
    assert out.dtype == np.float32 and out.shape == (shape[0] // block[1], shape[1] // block[0])
    np.testing.assert_array_equal(out, blockwise(values, block, np.sum).astype(np.float32))
    assert stats.grid == (shape[1] // block[0], shape[0] // block[1]) and stats.block == block


@pytest.mark.parametrize("shape,block", SIZES)
def test_block_reduce_sum_float_within_reassociation_error(shape, block):
    values = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    out, _ = block_reduce(values, "sum", block)
    expected = blockwise(values, block, np.sum)
    bound = blockwise(np.abs(values), block, np.sum) * block[0] * block[1] * np.finfo(np.float32).eps
    assert (np.abs(out - expected) <= bound).all()


@pytest.mark.parametrize("shape,block", SIZES)
def test_block_reduce_max(shape, block):
    values = np.random.default_rng(2).standard_normal(shape).astype(np.float32) - 10.0  # all negative
    out, _ = block_reduce(values, "max", block)
    np.testing.assert_array_equal(out, blockwise(values, block, np.max).astype(np.float32))


@pytest.mark.parametrize("shape,block", SIZES)
def test_block_reduce_min(shape, block):
    values = np.random.default_rng(2).standard_normal(shape).astype(np.float32) + 10.0  # all positive
    out, _ = block_reduce(values, "min", block)
    np.testing.assert_array_equal(out, blockwise(values, block, np.min).astype(np.float32))


@pytest.mark.parametrize("op,fn", [("sum", np.sum), ("max", np.max), ("min", np.min)])
@pytest.mark.parametrize("shape,block", SIZES)
def test_block_allreduce(shape, block, op, fn):
    values = np.random.default_rng(3).integers(-500, 500, size=shape).astype(np.float32)
    out, stats = block_allreduce(values, op, block)
    assert out.shape == values.shape
    np.testing.assert_array_equal(out, spread(blockwise(values, block, fn), block).astype(np.float32))
    assert stats.words_moved > 0


@pytest.mark.parametrize("op,fn", [("sum", np.sum), ("max", np.max), ("min", np.min)])
@pytest.mark.parametrize("dtype", [np.int64, np.int16, np.uint8, bool])
def test_integer_inputs_reduce_as_int32_exactly(op, fn, dtype):
    """Integer and bool arrays reduce as int32 (sums exact past float32's 2**24, where a float32 sum rounds)."""
    high = {np.int64: 2**26, np.int16: 2**15 - 1, np.uint8: 255, bool: 2}[dtype]
    values = np.random.default_rng(5).integers(0 if dtype in (np.uint8, bool) else -high, high, size=(8, 12))
    values = values.astype(dtype)
    out, _ = block_reduce(values, op, (4, 4))
    expected = fn(values.astype(np.int64).reshape(2, 4, 3, 4), axis=(1, 3))
    assert out.dtype == np.int32 and np.array_equal(out, expected)
    spread_out, _ = block_allreduce(values, op, (4, 4))
    assert spread_out.dtype == np.int32 and np.array_equal(spread_out, spread(expected, (4, 4)))


def test_an_integer_block_sum_outside_int32_is_refused_naming_the_block():
    values = np.zeros((4, 8), np.int64)
    values[:, 4:] = 2**28  # block (1, 0): 16 * 2**28 = 2**32
    with pytest.raises(ws.ArgumentError, match=r"block \(1, 0\) is 4294967296, outside int32"):
        block_reduce(values, "sum", (4, 4))
    out, _ = block_reduce(values, "max", (4, 4))  # (max and min never leave int32)
    assert np.array_equal(out, [[0, 2**28]])


def test_reduce_degenerate_blocks():
    values = np.arange(12, dtype=np.float32).reshape(3, 4)
    for block in ((1, 1), (4, 1), (1, 3), (4, 3)):
        out, _ = block_allreduce(values, "sum", block)
        np.testing.assert_array_equal(out, spread(blockwise(values, block, np.sum), block).astype(np.float32))


def test_reduce_rejects_bad_arguments():
    with pytest.raises(ws.ArgumentError, match="op must be one of"):
        block_reduce(np.zeros((4, 4), np.float32), "prod", (2, 2))
    with pytest.raises(ValueError):
        block_reduce(np.zeros((4, 5), np.float32), "sum", (2, 2))


def test_a_block_that_does_not_tile_the_array_is_named_with_the_arrays_shape():
    # A (6, 10) NumPy array is 10 PEs wide: the message says "10 x 6" as width x height, and names the shape,
    # so that it is not read as NumPy's (rows, columns)
    with pytest.raises(ws.ArgumentError, match=r"block 4 x 4 \(width x height\) must tile the 10 x 6 array "
                                               r"\(values of shape \(6, 10\): height x width"):
        block_reduce(np.zeros((6, 10), np.float32), "sum", (4, 4))
    with pytest.raises(ws.ArgumentError, match=r"block 3 x 2 \(width x height\) must tile the 10 x 6 array "
                                               r"\(u of shape \(6, 10\)"):
        heat(np.zeros((6, 10), np.float32), 0.1, 1, block=(3, 2))


@ws.jit
def _softmax_like(values, out, rounds):
    """A user kernel calling the `allreduce` device function several times (FIFO order across calls)."""
    x, y = ws.grid(2)
    v = values[y, x]
    for r in range(rounds):
        m = allreduce(v, MAX)
        s = allreduce(v - m, SUM)
        v = v - m - s
    out[y, x] = v


def test_allreduce_device_function_repeated_in_a_user_kernel():
    values = np.random.default_rng(4).integers(0, 8, size=(6, 8)).astype(np.float32)
    block = (4, 3)
    dev = ws.Device(ws.WaferSpec(width=8, height=6))
    d_v, d_o = dev.to_device(values), dev.device_array(values.shape, np.float32)
    _softmax_like[(2, 2), block](d_v, d_o, 3)
    expected = values.astype(np.float64)
    for _ in range(3):
        m = spread(blockwise(expected, block, np.max), block)
        s = spread(blockwise(expected - m, block, np.sum), block)
        expected = expected - m - s
    np.testing.assert_array_equal(d_o.copy_to_host(), expected.astype(np.float32))


@ws.jit
def _word_across_an_allreduce(values, out, direction: ws.constant, channel: ws.constant):
    """Each PE sends 100 x its value to one neighbour before an `allreduce` and receives its own neighbour's
    after it: the sum plus that neighbour's word, where the word's FIFO is not one the chains use."""
    x, y = ws.grid(2)
    v = values[y, x]
    if ws.has_neighbor(direction):
        ws.send(direction, v * 100.0, channel=channel)  # (the send)
    total = allreduce(v, SUM)  # (the call)
    word = 0.0
    if direction == ws.WEST:  # (a constant condition: only the branch that runs is compiled)
        if ws.has_neighbor(ws.EAST):
            word = ws.recv(ws.EAST, channel=channel)
    elif direction == ws.NORTH:
        if ws.has_neighbor(ws.SOUTH):
            word = ws.recv(ws.SOUTH, channel=channel)
    elif ws.has_neighbor(ws.WEST):
        word = ws.recv(ws.WEST, channel=channel)
    out[y, x] = total + word


@pytest.mark.parametrize("direction,channel,shares_a_fifo", [
    (ws.WEST, 3, False), (ws.EAST, 0, False), (ws.NORTH, 0, False), (ws.WEST, 0, True), (ws.NORTH, 1, True)])
def test_a_word_across_an_allreduce_on_the_chains_fifos_stops_the_kernel(direction, channel, shares_a_fifo):
    """docs/kernels.md: the rows' chain sends west on channel 0 and the first column's north on channel 1; a
    user's word in flight in one of those FIFOs when the call starts would be taken by the reduction (user50
    pinned the wrong sums it gave, with no error): the chain's words carry tags of their own, so it is a
    `ChainWordError` at the first PE that took it, naming the call, the send and the FIFO. Every other channel
    and direction still gives NumPy's sum plus the neighbour's word."""
    values = np.arange(12, dtype=np.float32).reshape(3, 4) + 1
    dev = ws.Device(ws.WaferSpec(width=8, height=8))
    out = dev.device_array(values.shape)
    if shares_a_fifo:
        with pytest.raises(ws.ChainWordError) as info:
            _word_across_an_allreduce[1, (4, 3)](dev.to_device(values), out, direction, channel)
        err = info.value
        # PE (0, 0) takes the word first: the row's chain (west) or the first column's (north) ends there
        receiver = (0, 0)
        sender = (1, 0) if direction == ws.WEST else (0, 1)
        assert (err.pe, err.sender, err.channel, err.chain_side) == (receiver, sender, channel, "collective")
        assert err.source == err.chain_call == (__file__, line_of(_word_across_an_allreduce, "(the call)"))
        assert err.sender_source == (__file__, line_of(_word_across_an_allreduce, "(the send)"))
        assert isinstance(err, ws.WordTypeError) and (err.sent_type, err.received_type) == ("float32", "float32")
        return
    _word_across_an_allreduce[1, (4, 3)](dev.to_device(values), out, direction, channel)
    words = np.zeros_like(values)
    if direction == ws.WEST:
        words[:, :-1] = values[:, 1:] * 100
    elif direction == ws.NORTH:
        words[:-1, :] = values[1:, :] * 100
    else:
        words[:, 1:] = values[:, :-1] * 100
    np.testing.assert_array_equal(out.copy_to_host(), values.sum() + words)


@ws.jit
def _device_reductions_2d(values, out, corner, rows, grid_rows):
    """Every device-function reduction of `values` (float32 or int32: the kernel is compiled for each); the
    k-th op's results in rows k * rows.. of `out` and k * grid_rows.. of `corner`."""
    x, y = ws.grid(2)
    v = values[y, x]
    out[y, x] = allreduce(v, SUM)
    out[rows + y, x] = allreduce(v, MAX)
    out[2 * rows + y, x] = allreduce(v, MIN)
    s = reduce_to_corner(v, SUM)
    m = reduce_to_corner(v, MAX)
    n = reduce_to_corner(v, MIN)
    if ws.threadIdx.x == 0 and ws.threadIdx.y == 0:
        corner[ws.blockIdx.y, ws.blockIdx.x] = s
        corner[grid_rows + ws.blockIdx.y, ws.blockIdx.x] = m
        corner[2 * grid_rows + ws.blockIdx.y, ws.blockIdx.x] = n


@pytest.mark.parametrize("dtype", [np.int32, np.float32])
def test_device_functions_reduce_int32_and_float32_by_every_op(dtype):
    """allreduce / reduce_to_corner with SUM, MAX and MIN, on int32 and on float32 values, against NumPy
    (integers small enough that float32 sums are exact; negative and positive, so MAX and MIN differ)."""
    block, (gx, gy) = (4, 3), (2, 2)
    values = np.random.default_rng(6).integers(-1000, 1000, size=(gy * block[1], gx * block[0])).astype(dtype)
    dev = ws.Device(ws.WaferSpec(width=8, height=6))
    # (3-D arrays are not kernel arguments: the three results side by side in one 2-D array)
    out = dev.device_array((3 * values.shape[0], values.shape[1]), dtype)
    corner = dev.device_array((3 * gy, gx), dtype)
    _device_reductions_2d[(gx, gy), block](dev.to_device(values), out, corner, values.shape[0], gy)
    got, got_corner = out.copy_to_host(), corner.copy_to_host()
    assert got.dtype == dtype and got_corner.dtype == dtype
    for k, fn in enumerate((np.sum, np.max, np.min)):
        per_block = blockwise(values, block, fn).astype(dtype)
        np.testing.assert_array_equal(got[k * values.shape[0]:(k + 1) * values.shape[0]], spread(per_block, block))
        np.testing.assert_array_equal(got_corner[k * gy:(k + 1) * gy], per_block)


# ----------------------------------------------------------------------------- life
@pytest.mark.parametrize("shape,steps", [((8, 8), 6), ((20, 28), 15)])
def test_life_matches_numpy(shape, steps):
    board = (np.random.default_rng(5).random(shape) < 0.35).astype(np.int32)
    out, stats = life(board, steps)
    assert out.dtype == np.int32
    np.testing.assert_array_equal(out, life_reference(board, steps))
    assert stats.block == (shape[1], shape[0])


def test_life_glider_and_thin_boards():
    glider = np.zeros((10, 10), np.int32)
    glider[0, 1] = glider[1, 2] = glider[2, 0] = glider[2, 1] = glider[2, 2] = 1
    out, _ = life(glider, 4)
    np.testing.assert_array_equal(out, np.roll(glider, (1, 1), axis=(0, 1)))  # moved one cell south-east
    for shape in ((1, 6), (6, 1)):
        board = np.ones(shape, np.int32)
        np.testing.assert_array_equal(life(board, 2)[0], life_reference(board, 2))
    np.testing.assert_array_equal(life(glider, 0)[0], glider)


# ----------------------------------------------------------------------------- scan
@pytest.mark.parametrize("shape", [(3, 8), (12, 40)])
def test_prefix_sum_float32_matches_cumsum(shape):
    values = np.random.default_rng(6).standard_normal(shape).astype(np.float32)
    out, stats = prefix_sum(values)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, np.cumsum(values, axis=1))  # same left-to-right order: exact
    assert stats.grid == (1, shape[0]) and stats.block == (shape[1], 1)


@pytest.mark.parametrize("shape", [(3, 8), (12, 40)])
def test_prefix_sum_int32_matches_cumsum(shape):
    # values up to 2**31 / 40 in size: every prefix sum stays in int32, at most one step from its edge
    values = np.random.default_rng(7).integers(-2**31 // 40, 2**31 // 40, size=shape).astype(np.int32)
    values[0, :] = 2**31 // shape[1] - 1                   # a row climbing to just below 2**31 - 1
    out, _ = prefix_sum(values)
    assert out.dtype == np.int32
    np.testing.assert_array_equal(out, np.cumsum(values, axis=1))  # NumPy's int64 sums, exactly


@pytest.mark.parametrize("row", [[2**31 - 1, 1], [-2**31, 5, -6], [True] * 3 + [2**31 - 2]])
def test_prefix_sum_past_int32_is_refused_not_wrapped(row):
    # The device's int32 sums wrap; np.cumsum of int32 gives int64 (2**31, not -2**31): block_reduce refuses
    # such a block, and prefix_sum now refuses such a row, naming where it leaves int32.
    values = np.array([[0, 0, 0, 0][:len(row)], row])
    sums = np.cumsum(values.astype(np.int64), axis=1)
    col = int(np.argmax((sums[1] > 2**31 - 1) | (sums[1] < -2**31)))
    with pytest.raises(ws.ArgumentError, match=f"row 1 up to column {col} is {sums[1, col]}, outside int32"):
        prefix_sum(values)
    out, _ = prefix_sum(values.astype(np.float32))          # as float32 it runs, rounded as np.cumsum rounds
    np.testing.assert_array_equal(out, np.cumsum(values.astype(np.float32), axis=1))


# ----------------------------------------------------------------------------- saxpy
@pytest.mark.parametrize("n,block", [(1000, 64), (3000, 32)])
def test_saxpy_runs_in_waves_and_matches_fma(n, block):
    rng = np.random.default_rng(8)
    x, y = rng.standard_normal(n).astype(np.float32), rng.standard_normal(n).astype(np.float32)
    a = np.float32(-1.37)
    out, stats = saxpy(a, x, y, block=block)
    np.testing.assert_array_equal(out, exact_fmas(a, x, y))  # fma: one rounding
    assert stats.waves > 1
    assert stats.grid == (-(-n // block), 1)


def test_saxpy_on_a_given_device():
    x = np.arange(640, dtype=np.float32)
    dev = ws.Device(ws.WaferSpec(width=64, height=2))
    out, stats = saxpy(2.0, x, x, block=64, device=dev)
    np.testing.assert_array_equal(out, 3 * x)
    assert stats.waves == 5 and dev.last_launch is stats
