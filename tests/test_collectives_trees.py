"""wafersim.collectives.trees (the tree all-reduce, `algorithm=wsc.TREE`) and isa.tree_routes: results
against NumPy and, for float32 sums, bit for bit against a plain-Python sum in the documented order;
cycles against the chains and the block's hops."""
from __future__ import annotations

import numpy as np
import pytest

import wafersim as ws
from wafersim import collectives as wsc
from wafersim.errors import RouteError
from wafersim.isa.tree_routes import tree_rounds

CHANNELS = 24
BLOCKS = [(1, 1), (1, 6), (7, 1), (5, 3), (8, 8), (13, 6), (17, 9)]


def spec(width: int, height: int, preset: str = "dev", **fields) -> ws.WaferSpec:
    return ws.WaferSpec.preset(preset, **{"ramp_latency": 2, "channels": CHANNELS, **fields, "width": width,
                                          "height": height})


# ----------------------------------------------------------------------------- the documented order
def _subtree(side: list, d: int, combine) -> np.float32:
    """The result a PE at distance d > 0 of a half-line sends (side[k]: the value at distance k)."""
    v = side[d]
    r = 0
    while not d >> r & 1:
        if d + (1 << r) < len(side):
            v = combine(v, _subtree(side, d + (1 << r), combine))
        r += 1
    return v


def _line(values: list, centre: int, combine):
    """A line's result at its centre: rounds r = 0, 1, ...: the low side's PE 2^r away, then the high side's."""
    low, high = values[centre::-1], values[centre:]
    v = values[centre]
    for r in range(max(len(low), len(high)).bit_length()):
        if (1 << r) < len(low):
            v = combine(v, _subtree(low, 1 << r, combine))
        if (1 << r) < len(high):
            v = combine(v, _subtree(high, 1 << r, combine))
    return v


def tree_order_reduce(grid: np.ndarray, combine=lambda a, b: np.float32(a + b)):
    """The block's reduction in the order collectives/trees.py documents: each row to column p, then
    column p to row q, with float32 rounding at every step."""
    by, bx = grid.shape
    rows = [_line([np.float32(v) for v in grid[y]], bx // 2, combine) for y in range(by)]
    return _line(rows, by // 2, combine)


def test_the_reference_order_is_not_numpys():
    """Values of mixed sizes: summed in the tree's order, the float32 sum differs from NumPy's and from a
    left-to-right sum (so the bit-for-bit tests below tell the orders apart)."""
    grid = _mixed((17, 9), 3)
    tree = tree_order_reduce(grid)
    left = np.float32(0)
    for v in grid.ravel():
        left = np.float32(left + v)
    assert tree != left and tree != grid.sum(dtype=np.float32)
    # and the reference itself adds every value once: exact for integers
    ints = np.arange(153, dtype=np.float32).reshape(9, 17)
    assert tree_order_reduce(ints) == ints.sum()


def _mixed(block, seed) -> np.ndarray:
    rng = np.random.default_rng(seed)
    scale = 10.0 ** rng.integers(-3, 5, block[1] * block[0])
    return (rng.standard_normal(block[1] * block[0]) * scale).astype(np.float32).reshape(block[1], block[0])


# ----------------------------------------------------------------------------- kernels
@ws.jit
def scalar_kernel(out, values, op: ws.constant, algorithm: ws.constant, rounds: ws.constant):
    x, y = ws.threadIdx.x, ws.threadIdx.y
    i = y * ws.blockDim.x + x
    out[i] = wsc.block_all_reduce(values[i], op, 0, algorithm, rounds)


@ws.jit
def array_kernel(out, values, n: ws.constant, rounds: ws.constant):
    x, y = ws.threadIdx.x, ws.threadIdx.y
    i = y * ws.blockDim.x + x
    a = ws.local.array(n, np.float32)
    part = ws.local.array(n, np.float32)
    for k in range(n):
        a[k] = values[i * n + k]
    wsc.block_all_reduce_array(a, part, wsc.SUM, 1, wsc.TREE, rounds)  # channels 1 .. 1 + 2 rounds
    for k in range(n):
        out[i * n + k] = a[k]


def run_scalar(grid: np.ndarray, op=wsc.SUM, algorithm=wsc.TREE, rounds=None, preset="dev", **fields):
    by, bx = grid.shape
    device = ws.Device(spec(bx, by, preset, **fields))
    out = device.to_device(np.zeros(grid.size, grid.dtype))
    rounds = tree_rounds(bx, by) if rounds is None else rounds
    stats = scalar_kernel[1, (bx, by)](out, device.to_device(grid.ravel()), op, algorithm, rounds)
    return out.copy_to_host().reshape(by, bx), stats


@pytest.mark.parametrize("block", BLOCKS)
def test_a_float32_sum_is_the_documented_order_bit_for_bit(block):
    grid = _mixed(block, block[0] * 31 + block[1])
    got, _ = run_scalar(grid)
    expected = tree_order_reduce(grid)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, np.full_like(grid, expected))  # every PE, the same bits


@pytest.mark.parametrize("seed", [0, 3])
def test_dead_pes_detours_keep_the_order_of_column_ps_merging_words(seed):
    """Column p takes its row's words and its column's on one channel a round, its row's first: rows whose
    links detour around dead PEs run at other speeds, yet the sum is still the documented one, bit for bit."""
    grid = _mixed((17, 9), seed)
    got, _ = run_scalar(grid, preset="wse2", defect_rate=0.05, defect_seed=seed, spare_cols=4, spare_rows=4)
    np.testing.assert_array_equal(got, np.full_like(grid, tree_order_reduce(grid)))


@pytest.mark.parametrize("block", [(5, 3), (13, 6)])
@pytest.mark.parametrize("op", [wsc.SUM, wsc.MAX, wsc.MIN])
def test_int32_reductions_match_numpy(block, op):
    grid = np.random.default_rng(block[0]).integers(-1000, 1000, (block[1], block[0])).astype(np.int32)
    got, _ = run_scalar(grid, op)
    expected = {wsc.SUM: np.sum, wsc.MAX: np.max, wsc.MIN: np.min}[op](grid)
    np.testing.assert_array_equal(got, np.full_like(grid, expected))


@pytest.mark.parametrize("op", [wsc.MAX, wsc.MIN])
def test_a_nan_wins_a_max_or_min_wherever_it_sits(op):
    grid = _mixed((9, 7), 5)
    for where in [(0, 0), (3, 4), (6, 8), (3, 0)]:
        g = grid.copy()
        g[where] = np.nan
        got, _ = run_scalar(g, op)
        assert np.isnan(got).all(), where
    got, _ = run_scalar(grid, op)
    np.testing.assert_array_equal(got, np.full_like(grid, grid.max() if op == wsc.MAX else grid.min()))


@pytest.mark.parametrize("block, n", [((7, 5), 4), ((12, 9), 20)])
def test_the_array_all_reduce_sums_each_element_in_the_documented_order(block, n):
    """n = 20: more words a round than a FIFO holds (16), so senders wait for their receivers."""
    bx, by = block
    rng = np.random.default_rng(n)
    values = (rng.standard_normal((by, bx, n)) * 10.0 ** rng.integers(-2, 4, (by, bx, n))).astype(np.float32)
    device = ws.Device(spec(bx, by))
    out = device.to_device(np.zeros(values.size, np.float32))
    array_kernel[1, block](out, device.to_device(values.ravel()), n, tree_rounds(bx, by))
    got = out.copy_to_host().reshape(by, bx, n)
    expected = np.array([tree_order_reduce(values[:, :, k]) for k in range(n)], np.float32)
    np.testing.assert_array_equal(got, np.broadcast_to(expected, got.shape))


def test_more_rounds_than_needed_give_the_same_bits_and_too_few_are_refused():
    grid = _mixed((13, 6), 8)
    exact, _ = run_scalar(grid, rounds=3)  # 13 // 2 = 6 PEs each side: 3 rounds
    more, _ = run_scalar(grid, rounds=6)
    np.testing.assert_array_equal(exact, more)
    with pytest.raises(RouteError, match=r"rounds=2 covers half-lines of up to 3 PEs.*needs rounds=3"):
        run_scalar(grid, rounds=2)


def test_tree_rounds_is_the_bits_of_the_longest_distance_from_the_centre():
    for bx, by in [(1, 1), (2, 1), (3, 3), (4, 9), (16, 16), (17, 5), (757, 996)]:
        far = max(bx // 2, bx - 1 - bx // 2, by // 2, by - 1 - by // 2)
        assert 2 ** (tree_rounds(bx, by) - 1) <= max(far, 1) < 2 ** tree_rounds(bx, by), (bx, by)
    assert wsc.tree_channels(9) == 19


def test_an_unknown_algorithm_is_refused_where_the_kernel_calls_it():
    with pytest.raises(ws.CompileError, match="algorithm must be wsc.CHAIN or wsc.TREE"):
        run_scalar(np.ones((2, 2), np.float32), algorithm=7, rounds=1)


@ws.jit
def runtime_algorithm_kernel(out, algorithm, array: ws.constant):
    i = ws.threadIdx.y * ws.blockDim.x + ws.threadIdx.x
    a = ws.local.array(2, np.float32)
    part = ws.local.array(2, np.float32)
    if array:
        wsc.block_all_reduce_array(a, part, wsc.SUM, 0, algorithm, 3)
        out[i] = a[0]
    else:
        out[i] = wsc.block_all_reduce(1.0, wsc.SUM, 0, algorithm, 3)


@pytest.mark.parametrize("array", [0, 1])
def test_an_algorithm_known_only_at_run_time_is_refused_as_such(array):
    """block_all_reduce with a run-time algorithm compiled both branches and failed on the tree's channel 2
    being routed again by the chains' bus ("use another channel for block_bus"): advice that fixes nothing.
    The error says what is wrong: the algorithm must be a constant."""
    device = ws.Device(spec(4, 4))
    with pytest.raises(ws.CompileError, match="algorithm must be wsc.CHAIN or wsc.TREE, a constant") as info:
        runtime_algorithm_kernel[1, (4, 4)](device.to_device(np.zeros(16, np.float32)), wsc.TREE, array)
    assert "known only when the kernel runs" in str(info.value) and "block_bus" not in str(info.value)


def test_tree_rounds_and_tree_channels_check_their_arguments():
    """The host helpers answered tree_rounds(0, 1) = 1, tree_channels(3, stages_apart=2) = 19 and
    tree_channels(-1) = -1, and a string failed with a bare TypeError."""
    assert [wsc.tree_rounds(n, 1) for n in (1, 2, 3, 4, 5, 8, 9, 4095, 4096)] == [1, 1, 1, 2, 2, 3, 3, 11, 12]
    assert wsc.tree_rounds(np.int64(16), 16) == 4
    for bad in [(0, 1), (3, -2)]:
        with pytest.raises(ws.ArgumentError, match="sides are at least 1"):
            wsc.tree_rounds(*bad)
    for bad in [(2.5, 1), ("8", 8), (True, 4)]:
        with pytest.raises(ws.ArgumentTypeError, match="must be an int"):
            wsc.tree_rounds(*bad)
    assert [wsc.tree_channels(r, a) for r, a in [(1, 0), (11, 0), (5, 1), (7, 1)]] == [3, 23, 21, 29]
    for rounds in (0, -1, 12):
        with pytest.raises(ws.ArgumentError, match="rounds must be .* from 1 to 11"):
            wsc.tree_channels(rounds)
    with pytest.raises(ws.ArgumentError, match="stages_apart must be 0 or 1"):
        wsc.tree_channels(3, 2)
    with pytest.raises(ws.ArgumentTypeError, match="stages_apart must be an int"):
        wsc.tree_channels(3, "x")


# ----------------------------------------------------------------------------- cycles
@ws.jit
def timed_kernel(out, values, go, algorithm: ws.constant, rounds: ws.constant):
    x, y = ws.threadIdx.x, ws.threadIdx.y
    v = values[y * ws.blockDim.x + x]
    ws.syncthreads()
    if go:
        v = wsc.block_all_reduce(v, wsc.SUM, 0, algorithm, rounds)
    ws.syncthreads()
    out[y * ws.blockDim.x + x] = v


def all_reduce_cycles(side: int, algorithm: int, **fields) -> float:
    """Cycles of one all-reduce of a side x side block on wse2: the launch with it less the launch without
    (barriers before and after), checked against NumPy."""
    grid = np.random.default_rng(side).integers(-3, 4, (side, side)).astype(np.float32)
    cycles = []
    for go in (0, 1):
        device = ws.Device(spec(side, side, "wse2", global_bytes_per_s=1e18, **fields))
        out = device.to_device(np.zeros(grid.size, np.float32))
        cycles.append(timed_kernel[1, (side, side)](out, device.to_device(grid.ravel()), go, algorithm,
                                                    tree_rounds(side, side)).cycles)
    assert (out.copy_to_host() == grid.sum()).all()
    return cycles[1] - cycles[0]


def test_on_wse2_the_tree_beats_the_chains_and_its_critical_path_is_the_diameter():
    """32 x 32 on wse2: the tree in under 40% of the chains' cycles (each chain hop a one-word stream op: two
    ramps, the link and the add, 62 hops to PE (0, 0) and the broadcast back); one more cycle a hop adds
    the diameter's hops to the tree (the farthest leaf's way to the centre, then the broadcast's to the far
    corner), twice them to the chains."""
    tree, chain = all_reduce_cycles(32, wsc.TREE), all_reduce_cycles(32, wsc.CHAIN)
    assert 5 * tree < 2 * chain, (tree, chain)
    assert all_reduce_cycles(32, wsc.TREE, hop_latency=2) - tree == 62
    assert all_reduce_cycles(32, wsc.CHAIN, hop_latency=2) - chain == 2 * 62
