"""The tree all-reduce with its stages apart (`collectives.trees`, `stages_apart=1`, what the solvers' block sums
use): exact sums at every PE when PEs reach the sum at different times (where the shared channels of
`wsc.block_all_reduce(..., wsc.TREE)` are refused), and the float32 order of the shared tree, bit for bit."""
from __future__ import annotations

import numpy as np
import pytest

import wafersim as ws
from wafersim import collectives as wsc


@ws.jit
def skewed_sums(out, outs, values, rounds: ws.constant, late: ws.constant):
    """Every row but the last `late` additions late, then a scalar and a 3-value tree sum."""
    i = ws.threadIdx.y * ws.blockDim.x + ws.threadIdx.x
    v = values[i]
    if ws.threadIdx.y != ws.blockDim.y - 1:
        for _k in range(late):
            v = v + 0.0
    out[i] = wsc.block_all_reduce_tree(v, wsc.SUM, 0, rounds, 1)
    vals = ws.local.array(3, np.float32)
    part = ws.local.array(3, np.float32)
    vals[0] = v
    vals[1] = v * 2.0
    vals[2] = -v
    wsc.block_all_reduce_array_tree(vals, part, wsc.SUM, 0, rounds, 1)
    outs[i, 0:3] = vals[0:3]


@pytest.mark.parametrize("bx, by, late", [(16, 16, 50), (16, 16, 0), (7, 12, 30), (1, 5, 9), (9, 1, 0)])
def test_stages_apart_are_exact_everywhere_when_rows_arrive_late(bx, by, late):
    rounds = wsc.tree_rounds(bx, by)
    dev = ws.Device(ws.WaferSpec.preset("wse2", width=bx, height=by))
    assert wsc.tree_channels(rounds, stages_apart=1) == 4 * rounds + 1 <= dev.spec.channels
    values = np.random.default_rng(bx * by).integers(-1000, 1000, bx * by).astype(np.float32)  # exact sums
    out, outs = dev.to_device(np.zeros(bx * by, np.float32)), dev.to_device(np.zeros((bx * by, 3), np.float32))
    skewed_sums[1, (bx, by)](out, outs, dev.to_device(values), rounds, late)
    total = float(values.astype(np.int64).sum())
    assert (out.copy_to_host() == total).all()
    assert (outs.copy_to_host() == np.array([total, 2 * total, -total], np.float32)).all()


@ws.jit
def both_trees(mine, library, values, rounds: ws.constant):
    i = ws.threadIdx.y * ws.blockDim.x + ws.threadIdx.x
    mine[i] = wsc.block_all_reduce_tree(values[i], wsc.SUM, 0, rounds, 1)
    library[i] = wsc.block_all_reduce(values[i], wsc.SUM, 4 * rounds + 1, wsc.TREE, rounds)


def test_stages_apart_add_in_the_shared_trees_float32_order():
    bx, by = 11, 6
    rounds = wsc.tree_rounds(bx, by)
    dev = ws.Device(ws.WaferSpec.preset("wse2", width=bx, height=by))
    rng = np.random.default_rng(3)
    values = (rng.standard_normal(bx * by) * 2.0 ** rng.integers(-12, 12, bx * by)).astype(np.float32)  # rounding
    mine, library = dev.to_device(np.zeros(bx * by, np.float32)), dev.to_device(np.zeros(bx * by, np.float32))
    both_trees[1, (bx, by)](mine, library, dev.to_device(values), rounds)
    assert np.array_equal(mine.copy_to_host(), library.copy_to_host())
    assert mine.copy_to_host()[0] == pytest.approx(float(values.astype(np.float64).sum()), rel=1e-5)


@ws.jit
def skewed_shared(out, values, rounds: ws.constant, late: ws.constant):
    """`skewed_sums`' scalar sum by the shared tree (`wsc.TREE`: row and column stages on the same channels)."""
    i = ws.threadIdx.y * ws.blockDim.x + ws.threadIdx.x
    v = values[i]
    if ws.threadIdx.y != ws.blockDim.y - 1:
        for _k in range(late):
            v = v + 0.0
    out[i] = wsc.block_all_reduce(v, wsc.SUM, 0, wsc.TREE, rounds)


def test_the_shared_tree_refuses_rows_that_arrive_late_where_stages_apart_sum():
    """The reason for `stages_apart`: a column word overtaking a row word is refused, never summed in another
    order (the same launch as the first test's 16 x 16 case, which sums exactly with the stages apart). The
    error says what to change: the senders are the library's, inside one call, so its general advice (order
    the senders, or give them separate channels) left a new user's skewed power method nothing to do."""
    bx, by = 16, 16
    rounds = wsc.tree_rounds(bx, by)
    dev = ws.Device(ws.WaferSpec.preset("wse2", width=bx, height=by))
    values = np.ones(bx * by, np.float32)
    out = dev.to_device(np.zeros(bx * by, np.float32))
    with pytest.raises(ws.RouteError, match="before a word") as info:
        skewed_shared[1, (bx, by)](out, dev.to_device(values), rounds, 50)
    assert "carries a round of wsc.block_all_reduce's tree" in str(info.value)
    assert "pass stages_apart=1" in str(info.value) and "or use wsc.CHAIN" in str(info.value)


@ws.jit
def tree_with(out, values, rounds: ws.constant, apart: ws.constant, array: ws.constant):
    i = ws.threadIdx.y * ws.blockDim.x + ws.threadIdx.x
    if array:
        vals = ws.local.array(2, np.float32)
        part = ws.local.array(2, np.float32)
        vals[0] = values[i]
        vals[1] = values[i]
        wsc.block_all_reduce_array_tree(vals, part, wsc.SUM, 0, rounds, apart)
        out[i] = vals[1]
    else:
        out[i] = wsc.block_all_reduce_tree(values[i], wsc.SUM, 0, rounds, apart)


@pytest.mark.parametrize("array", [0, 1])
def test_rounds_and_stages_apart_outside_their_range_are_compile_errors_at_the_call(array):
    """rounds=0 compiled and failed at launch with a RouteError about channel 0's route (and rounds=-1 as
    '-2 is not a channel'); stages_apart=2 compiled the column stage onto channels no route was declared
    for (a RouteError at launch). Each is now refused where the kernel calls the tree; the edges of the
    range (1 and 11 rounds, stages_apart True) still give the exact sum."""
    dev = ws.Device(ws.WaferSpec.preset("dev", width=4, height=3, channels=32))
    values = np.arange(12, dtype=np.float32)
    out = dev.to_device(np.zeros(12, np.float32))
    for rounds, apart, message in [(0, 0, "rounds must be a constant from 1 to 11"),
                                   (-1, 0, "rounds must be a constant from 1 to 11"),
                                   (12, 0, "rounds must be a constant from 1 to 11"),
                                   (2, 2, "stages_apart must be 0 or 1"), (2, -1, "stages_apart must be 0 or 1")]:
        with pytest.raises(ws.CompileError, match=message) as info:
            tree_with[1, (4, 3)](out, dev.to_device(values), rounds, apart, array)
        assert "tree_with" in str(info.value) or "test_collectives_trees_apart.py" in str(info.value)
    for rounds, apart in [(2, True), (11, 0)]:
        out = dev.to_device(np.zeros(12, np.float32))
        tree_with[1, (4, 3)](out, dev.to_device(values), rounds, apart, array)
        assert (out.copy_to_host() == values.sum()).all()


@ws.jit
def short_part(out, n_part: ws.constant):
    i = ws.threadIdx.y * ws.blockDim.x + ws.threadIdx.x
    vals = ws.local.array(4, np.float32)
    part = ws.local.array(n_part, np.float32)
    for j in range(4):
        vals[j] = i * 4 + j
    wsc.block_all_reduce_array(vals, part, wsc.SUM, 0, wsc.TREE, 2)  # MARK-call
    for j in range(4):
        out[i * 4 + j] = vals[j]


def test_a_tree_array_all_reduce_refuses_a_scratch_shorter_than_the_values_at_compile_time():
    """A part shorter than values was a MemoryAccessError at run time, at the receiving PEs only; it is now a
    CompileError at the call. As long as values, the sums are NumPy's."""
    from conftest import line_of

    dev = ws.Device(ws.WaferSpec.preset("dev", width=3, height=2, channels=16))
    out = dev.to_device(np.zeros(24, np.float32))
    with pytest.raises(ws.CompileError, match="part must be a local array at least as long as values") as info:
        short_part[1, (3, 2)](out, 2)
    assert info.value.line == line_of(short_part, "MARK-call")
    short_part[1, (3, 2)](out, 4)
    want = np.arange(24, dtype=np.float32).reshape(6, 4).sum(axis=0)
    np.testing.assert_array_equal(out.copy_to_host().reshape(6, 4), np.broadcast_to(want, (6, 4)))


@ws.jit
def tree_from(out, channel: ws.constant, apart: ws.constant):
    i = ws.threadIdx.y * ws.blockDim.x + ws.threadIdx.x
    out[i] = wsc.block_all_reduce_tree(out[i], wsc.SUM, channel, 2, apart)  # MARK-call


@pytest.mark.parametrize("apart", [0, 1])
def test_a_tree_past_the_last_channel_is_refused_as_such_at_the_call(apart):
    """channel + tree_channels(rounds, apart) - 1 must be a channel (at most 31): past it, the error was '32 is
    not a channel' from inside the library. At the last channel that fits, the sum is exact."""
    from conftest import line_of

    dev = ws.Device(ws.WaferSpec.preset("dev", width=3, height=2, channels=32))
    last = 32 - wsc.tree_channels(2, apart)
    out = dev.to_device(np.arange(6, dtype=np.float32))
    tree_from[1, (3, 2)](out, last, apart)
    assert (out.copy_to_host() == 15).all()
    with pytest.raises(ws.CompileError, match="a tree collective uses channels channel .. channel") as info:
        tree_from[1, (3, 2)](out, last + 1, apart)
    assert info.value.line == line_of(tree_from, "MARK-call")


@ws.jit
def too_few_rounds(out, apart: ws.constant):
    i = ws.threadIdx.y * ws.blockDim.x + ws.threadIdx.x
    out[i] = wsc.block_all_reduce_tree(out[i], wsc.SUM, 0, 2, apart)


@pytest.mark.parametrize("apart", [0, 1])
def test_a_block_past_the_rounds_is_refused_with_the_channels_of_its_stages(apart):
    """A 3 x 9 block needs 3 rounds; with 2 the launch's RouteError says which to pass and how many channels
    that takes: it said 'channel .. channel + 2 * rounds' with stages_apart=1 too, which uses 4 * rounds + 1."""
    dev = ws.Device(ws.WaferSpec.preset("wse2", width=3, height=9))
    with pytest.raises(ws.RouteError, match="needs rounds=3") as info:
        too_few_rounds[1, (3, 9)](dev.to_device(np.zeros(27, np.float32)), apart)
    assert "channel + 4 * rounds with stages_apart=1" in str(info.value)
    assert "wsc.tree_channels(rounds, stages_apart)" in str(info.value)
    assert wsc.tree_channels(3, apart) == (13 if apart else 7)


@ws.jit
def skewed_block_all_reduce(out, outs, values, algorithm: ws.constant, rounds: ws.constant, apart: ws.constant):
    """`skewed_sums` through `wsc.block_all_reduce` and its array form, `stages_apart` passed on."""
    i = ws.threadIdx.y * ws.blockDim.x + ws.threadIdx.x
    v = values[i]
    if ws.threadIdx.y != ws.blockDim.y - 1:
        for _k in range(40):
            v = v + 0.0
    out[i] = wsc.block_all_reduce(v, wsc.SUM, 0, algorithm, rounds, stages_apart=apart)
    vals = ws.local.array(3, np.float32)
    part = ws.local.array(3, np.float32)
    vals[0] = v
    vals[1] = v * 2.0
    vals[2] = -v
    wsc.block_all_reduce_array(vals, part, wsc.SUM, 0, algorithm, rounds, apart)
    outs[i, 0:3] = vals[0:3]


def test_block_all_reduce_passes_stages_apart_to_the_tree():
    """`wsc.block_all_reduce(..., algorithm=wsc.TREE, rounds=R, stages_apart=1)` was "an unexpected keyword
    argument": now the tree with its stages apart, exact where rows arrive late (the shared channels are refused
    there), and the very bits of block_all_reduce_tree's; the chains, which take any skew, ignore it; a value
    other than 0 and 1 is refused for either algorithm."""
    bx, by = 9, 6
    rounds = wsc.tree_rounds(bx, by)
    values = np.random.default_rng(5).standard_normal(bx * by).astype(np.float32)
    results = {}
    for algorithm, apart in [(wsc.TREE, 1), (wsc.CHAIN, 1), (wsc.CHAIN, 0)]:
        dev = ws.Device(ws.WaferSpec.preset("wse2", width=bx, height=by))
        out, outs = dev.to_device(np.zeros(bx * by, np.float32)), dev.to_device(np.zeros((bx * by, 3), np.float32))
        skewed_block_all_reduce[1, (bx, by)](out, outs, dev.to_device(values), algorithm, rounds, apart)
        results[algorithm, apart] = out.copy_to_host(), outs.copy_to_host()
    dev = ws.Device(ws.WaferSpec.preset("wse2", width=bx, height=by))
    out, outs = dev.to_device(np.zeros(bx * by, np.float32)), dev.to_device(np.zeros((bx * by, 3), np.float32))
    skewed_sums[1, (bx, by)](out, outs, dev.to_device(values), rounds, 40)
    np.testing.assert_array_equal(results[wsc.TREE, 1][0], out.copy_to_host())
    np.testing.assert_array_equal(results[wsc.TREE, 1][1], outs.copy_to_host())
    assert (out.copy_to_host() == out.copy_to_host()[0]).all()
    for k in range(2):
        np.testing.assert_array_equal(results[wsc.CHAIN, 1][k], results[wsc.CHAIN, 0][k])
    np.testing.assert_allclose(results[wsc.CHAIN, 0][0], values.sum(), rtol=1e-5)
    for algorithm in (wsc.TREE, wsc.CHAIN):
        with pytest.raises(ws.CompileError, match="stages_apart must be 0 or 1"):
            skewed_block_all_reduce[1, (bx, by)](out, outs, dev.to_device(values), algorithm, rounds, 2)


@ws.jit
def chain_with(out, values, rounds: ws.constant, array: ws.constant):
    i = ws.threadIdx.y * ws.blockDim.x + ws.threadIdx.x
    if array:
        vals = ws.local.array(2, np.float32)
        part = ws.local.array(2, np.float32)
        vals[1] = values[i]
        wsc.block_all_reduce_array(vals, part, wsc.SUM, 0, wsc.CHAIN, rounds)
        out[i] = vals[1]
    else:
        out[i] = wsc.block_all_reduce(values[i], wsc.SUM, 0, wsc.CHAIN, rounds)


@pytest.mark.parametrize("array", [0, 1])
def test_the_chains_refuse_a_rounds_the_tree_refuses(array):
    """`rounds` is the tree's; the chains ignored it, so `algorithm=CHAIN, rounds=0` (or 12) compiled, where the
    same call with TREE is a CompileError: refused the same now (docs/routes.md), and in range it changes
    nothing."""
    dev = ws.Device(ws.WaferSpec.preset("dev", width=4, height=3, channels=32))
    values = np.arange(12, dtype=np.float32)
    out = dev.to_device(np.zeros(12, np.float32))
    for rounds in (0, -1, 12):
        with pytest.raises(ws.CompileError, match="rounds must be a constant from 1 to 11") as info:
            chain_with[1, (4, 3)](out, dev.to_device(values), rounds, array)
        assert "chain_with" in str(info.value) or "test_collectives_trees_apart.py" in str(info.value)
    for rounds in (1, 11):
        out = dev.to_device(np.zeros(12, np.float32))
        chain_with[1, (4, 3)](out, dev.to_device(values), rounds, array)
        assert (out.copy_to_host() == values.sum()).all()  # (small integers: exact in any order)
