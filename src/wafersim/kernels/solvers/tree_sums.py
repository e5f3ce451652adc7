"""The solvers' block sums by the tree all-reduce of `wafersim.collectives` (Rocki et al.), with the column
stage on channels of its own: 4 rounds + 1 channels, where `wsc.block_all_reduce(..., wsc.TREE)` takes
2 rounds + 1 and shares each round's channel between the row trees and the tree along the centre column.

Why: at a PE (p, y) of the centre column, that shared channel brings both the row tree's word (from the
west or east) and the column tree's (from the north or south), and the PE takes them in the order it
expects, the row's first. That holds while every PE enters the all-reduce at the same time; in a solver
they do not (a PE on the block's edge has fewer halo messages and reaches the sum earlier), and a row that
finishes its row tree early sends its column word ahead of the row word the PE is still waiting for: the
simulator refuses that with a `RouteError` (the hardware would add the wrong words). Here every channel
into a PE's ramp has one sender per all-reduce, so words queue in the order they are taken whatever the
PEs' skew: channels `channel` .. `channel + 2 rounds - 1` the row trees (west, then east), the next
2 rounds the column trees (north, then south), `channel + 4 rounds` the multicast back.

The order of a float32 sum is `block_all_reduce_tree`'s (collectives/trees.py): the same words combined in
the same order, only on other channels.
"""
from __future__ import annotations

from ...collectives.ports import SUM
from ...collectives.trees import (ROUNDS, TREE_BROADCAST, TREE_HIGH, TREE_LOW, half_line, half_line_array,
                                  line_root, line_root_array)
from ...compiler import intrinsics as ws
from ...runtime.jit import jit


def tree_sum_channels(rounds: int) -> int:
    """Channels `tree_sum` of `rounds` rounds uses (from its `channel` on)."""
    return 4 * rounds + 1


@jit
def declare_routes(channel, rounds):
    """ws.use_route for the row trees, the column trees and the multicast (the launch installs them).
    A round's pattern holds the routes of both stages; each channel uses only one stage's."""
    for r in ROUNDS:
        if r < rounds:
            ws.use_route(channel + r, TREE_LOW + r)
            ws.use_route(channel + rounds + r, TREE_HIGH + r)
            ws.use_route(channel + 2 * rounds + r, TREE_LOW + r)
            ws.use_route(channel + 3 * rounds + r, TREE_HIGH + r)
    ws.use_route(channel + 4 * rounds, TREE_BROADCAST + rounds - 1)
    return 0


@jit
def tree_sum(value, channel, rounds):
    """The float32 sum of `value` over the block, at every PE (module docstring: channels `channel` ..
    `channel + 4 rounds`; `rounds` a constant covering the block, `wsc.tree_rounds`)."""
    declare_routes(channel, rounds)
    x, y = ws.threadIdx.x, ws.threadIdx.y
    p, q = ws.blockDim.x // 2, ws.blockDim.y // 2
    if x < p:
        value = half_line(value, p - x, x, SUM, channel, rounds)
    elif x > p:
        value = half_line(value, x - p, ws.blockDim.x - 1 - x, SUM, channel + rounds, rounds)
    else:
        value = line_root(value, p, ws.blockDim.x - 1 - p, SUM, channel, rounds)
        if y < q:
            value = half_line(value, q - y, y, SUM, channel + 2 * rounds, rounds)
        elif y > q:
            value = half_line(value, y - q, ws.blockDim.y - 1 - y, SUM, channel + 3 * rounds, rounds)
        else:
            value = line_root(value, q, ws.blockDim.y - 1 - q, SUM, channel + 2 * rounds, rounds)
    if x == p and y == q:
        ws.send(ws.RAMP, value, channel=channel + 4 * rounds)
    else:
        value = ws.recv(ws.RAMP, channel=channel + 4 * rounds)
    return value


@jit
def tree_sums(values, part, channel, rounds):
    """values = its element-wise float32 sum over the block, at every PE, by the tree of `tree_sum`;
    `part` a scratch local array at least as long as `values`."""
    declare_routes(channel, rounds)
    x, y = ws.threadIdx.x, ws.threadIdx.y
    p, q = ws.blockDim.x // 2, ws.blockDim.y // 2
    n = len(values)
    if x < p:
        half_line_array(values, part, p - x, x, SUM, channel, rounds)
    elif x > p:
        half_line_array(values, part, x - p, ws.blockDim.x - 1 - x, SUM, channel + rounds, rounds)
    else:
        line_root_array(values, part, p, ws.blockDim.x - 1 - p, SUM, channel, rounds)
        if y < q:
            half_line_array(values, part, q - y, y, SUM, channel + 2 * rounds, rounds)
        elif y > q:
            half_line_array(values, part, y - q, ws.blockDim.y - 1 - y, SUM, channel + 3 * rounds, rounds)
        else:
            line_root_array(values, part, q, ws.blockDim.y - 1 - q, SUM, channel + 2 * rounds, rounds)
    if x == p and y == q:
        ws.send(ws.RAMP, values[0:n], channel=channel + 4 * rounds)
    else:
        ws.recv(ws.RAMP, out=values[0:n], channel=channel + 4 * rounds)
    return 0
