"""Collectives over a whole block, on routed channels (device functions; see `lines` for the rules).

- broadcast (channel: a block bus): along the sender's row, and from every PE of that row up and down
  its column, so a word reaches the farthest PE after |dx| + |dy| hops and costs the root one send;
- reduce (channels c, c + 1: neighbour words): along every row to the root's column, then along that
  column to the root;
- all-reduce (channels c .. c + 2): reduce to PE (0, 0) (c: rows, c + 1: the first column), then
  broadcast from it over a block bus (c + 2); with `algorithm=TREE`, a binary tree to the centre over
  routed channels and a multicast back (`trees.py`: channels c .. c + 2 rounds).
"""
from __future__ import annotations

from ..compiler import intrinsics as ws
from ..runtime.jit import jit
from .lines import line_reduce, line_reduce_array
from .ports import CHAIN, SUM, TREE
from .trees import (BAD_ROUNDS, BAD_STAGES_APART, MAX_TREE_ROUNDS, TREE_ROUNDS, block_all_reduce_array_tree,
                    block_all_reduce_tree)

BAD_ALGORITHM = ("algorithm must be wsc.CHAIN or wsc.TREE, a constant (a literal, a module constant or a ws.constant "
                 "parameter): not another number, nor a value known only when the kernel runs")


@jit
def block_broadcast(value, root_x=0, root_y=0, channel=0):
    """The `value` of PE (root_x, root_y) of the block, at every PE of the block (a scalar). The root must
    be inside the block and the same at every PE (not checked: outside it no PE sends, and the launch ends
    in a `DeadlockError` naming the caller's line)."""
    ws.use_route(channel, "block_bus")
    if ws.threadIdx.x == root_x and ws.threadIdx.y == root_y:
        ws.send(ws.RAMP, value, channel=channel)
    else:
        value = ws.recv(ws.RAMP, channel=channel)
    return value


@jit
def block_broadcast_array(values, root_x=0, root_y=0, channel=0):
    """Every PE of the block gets the local array `values` of PE (root_x, root_y) (in place); the root as
    `block_broadcast`'s."""
    ws.use_route(channel, "block_bus")
    if ws.threadIdx.x == root_x and ws.threadIdx.y == root_y:
        ws.send(ws.RAMP, values[0:len(values)], channel=channel)
    else:
        ws.recv(ws.RAMP, out=values[0:len(values)], channel=channel)
    return 0


@jit
def block_reduce(value, root_x=0, root_y=0, op=SUM, channel=0):
    """The sum (max, min) of `value` over the block, returned at PE (root_x, root_y); channels
    `channel` (rows) and `channel + 1` (the root's column), neighbour words."""
    x, y = ws.threadIdx.x, ws.threadIdx.y
    value = line_reduce(value, x, root_x, op, channel, ws.EAST, ws.WEST, ws.has_neighbor(ws.EAST),
                        ws.has_neighbor(ws.WEST))
    if x == root_x:
        value = line_reduce(value, y, root_y, op, channel + 1, ws.SOUTH, ws.NORTH, ws.has_neighbor(ws.SOUTH),
                            ws.has_neighbor(ws.NORTH))
    return value


@jit
def block_reduce_array(values, part, root_x=0, root_y=0, op=SUM, channel=0):
    """values = its element-wise sum (max, min) over the block, at PE (root_x, root_y); channels
    `channel` (rows) and `channel + 1` (the root's column)."""
    x, y = ws.threadIdx.x, ws.threadIdx.y
    line_reduce_array(values, part, x, root_x, op, channel, ws.EAST, ws.WEST, ws.has_neighbor(ws.EAST),
                      ws.has_neighbor(ws.WEST), 1, ws.blockDim.x)
    if x == root_x:
        line_reduce_array(values, part, y, root_y, op, channel + 1, ws.SOUTH, ws.NORTH, ws.has_neighbor(ws.SOUTH),
                          ws.has_neighbor(ws.NORTH), 1, ws.blockDim.y)
    return 0


@jit
def block_reduce_to_corner(value, op=SUM, channel=0):
    """The sum (max, min) of `value` over the block, returned at PE (0, 0) (others get partial results:
    their row's suffix, or the first column's); channels `channel` (rows) and `channel + 1` (column)."""
    x, y = ws.threadIdx.x, ws.threadIdx.y
    value = line_reduce(value, x, 0, op, channel, ws.EAST, ws.WEST, ws.has_neighbor(ws.EAST), 0, 0)
    if x == 0:
        value = line_reduce(value, y, 0, op, channel + 1, ws.SOUTH, ws.NORTH, ws.has_neighbor(ws.SOUTH), 0, 0)
    return value


@jit
def refuse_bad_chain_arguments(algorithm, rounds, stages_apart):
    """At compile time, a CompileError for an `algorithm` other than CHAIN and TREE, and for a `rounds` or a
    `stages_apart` the tree would refuse: the chains use neither, but one the tree refuses is a mistake, refused
    the same (the tree checks its own)."""
    if algorithm != CHAIN:
        ws.refuse(BAD_ALGORITHM)
    if stages_apart != 0:
        if stages_apart != 1:
            ws.refuse(BAD_STAGES_APART)
    if rounds < 1:
        ws.refuse(BAD_ROUNDS)
    if rounds > MAX_TREE_ROUNDS:
        ws.refuse(BAD_ROUNDS)


@jit
def block_all_reduce(value, op=SUM, channel=0, algorithm=CHAIN, rounds=TREE_ROUNDS, stages_apart=0):
    """The sum (max, min) of `value` over the block, at every PE of the block; channels `channel` ..
    `channel + 2` (CHAIN), or `channel` .. `channel + 2 * rounds` (TREE: `block_all_reduce_tree`, several
    times faster beyond a few PEs, its float32 sum in another order; `stages_apart=1`: its column stage on
    channels of its own, to `channel + 4 * rounds`. The chains, which take any skew, ignore it; they use no
    rounds either, but refuse a `rounds` the tree refuses, outside 1 .. MAX_TREE_ROUNDS)."""
    if algorithm != TREE:  # (checked first: an algorithm known only at run time compiles both branches, and the
        # tree's routes then clash with the chains' bus on channel + 2, a CompileError naming a channel)
        refuse_bad_chain_arguments(algorithm, rounds, stages_apart)
    if algorithm == TREE:
        value = block_all_reduce_tree(value, op, channel, rounds, stages_apart)
    else:
        value = block_broadcast(block_reduce_to_corner(value, op, channel), 0, 0, channel + 2)
    return value


@jit
def block_all_reduce_array(values, part, op=SUM, channel=0, algorithm=CHAIN, rounds=TREE_ROUNDS, stages_apart=0):
    """values = its element-wise sum (max, min) over the block, at every PE of the block; channels
    `channel` .. `channel + 2` (CHAIN), or `channel` .. `channel + 2 * rounds` (TREE:
    `block_all_reduce_array_tree`, `part` then as long as `values`; `stages_apart` as `block_all_reduce`'s)."""
    if algorithm != TREE:  # (first, as in `block_all_reduce`)
        refuse_bad_chain_arguments(algorithm, rounds, stages_apart)
    if algorithm == TREE:
        return block_all_reduce_array_tree(values, part, op, channel, rounds, stages_apart)
    x, y = ws.threadIdx.x, ws.threadIdx.y
    line_reduce_array(values, part, x, 0, op, channel, ws.EAST, ws.WEST, ws.has_neighbor(ws.EAST), 0, 0, ws.blockDim.x)
    if x == 0:
        line_reduce_array(values, part, y, 0, op, channel + 1, ws.SOUTH, ws.NORTH, ws.has_neighbor(ws.SOUTH), 0,
                          0, ws.blockDim.y)
    return block_broadcast_array(values, 0, 0, channel + 2)
