"""wafersim.collectives: broadcast, scatter, gather, reduce and all-reduce over block rows, columns and
whole blocks, and all-gather and reduce-scatter over rows and columns, built on routed channels (multicast
in the routers; see docs/routes.md).

Device functions, called from `@ws.jit` kernels by every PE of the block::

    from wafersim import collectives as wsc

    @ws.jit
    def kernel(out):
        total = wsc.block_all_reduce(ws.threadIdx.x * 1.0, wsc.SUM, channel=2)  # channels 2, 3, 4

Scalars (int32 or float32) and whole local arrays (`*_array`, in place). Reductions take `op` = SUM,
MAX or MIN. Each collective declares the static routes it needs on its channel(s) (`ws.use_route`;
see each function for how many): within one kernel, give collectives of different kinds different
channels.

`block_all_reduce` and `block_all_reduce_array` take `algorithm=wsc.CHAIN` (the default: chains along the
rows and the first column, 3 channels) or `wsc.TREE` (a binary tree to the block's centre over routed
channels, `trees.py`: about the diameter plus a few cycles a round, 2 * rounds + 1 channels).
"""
from .block import (block_all_reduce, block_all_reduce_array, block_broadcast, block_broadcast_array, block_reduce,
                    block_reduce_array, block_reduce_to_corner)
from .lines import (CHUNK, combine, column_all_gather, column_all_reduce, column_all_reduce_array, column_broadcast,
                    column_broadcast_array, column_gather, column_reduce, column_reduce_array, column_reduce_scatter,
                    column_scatter, row_all_gather, row_all_reduce, row_all_reduce_array, row_broadcast,
                    row_broadcast_array, row_gather, row_reduce, row_reduce_array, row_reduce_scatter, row_scatter)
from .ports import CHAIN, MAX, MIN, OPERATORS, SUM, TREE
from .trees import TREE_ROUNDS, block_all_reduce_array_tree, block_all_reduce_tree, tree_channels, tree_rounds

__all__ = [
    "CHAIN", "CHUNK", "TREE", "TREE_ROUNDS", "block_all_reduce_tree", "block_all_reduce_array_tree", "tree_channels",
    "tree_rounds", "MAX", "MIN", "OPERATORS", "SUM", "block_all_reduce", "block_all_reduce_array", "block_broadcast",
    "block_broadcast_array", "block_reduce", "block_reduce_to_corner", "combine", "block_reduce_array", "column_all_reduce",
    "column_all_reduce_array", "column_broadcast", "column_broadcast_array", "column_gather", "column_reduce",
    "column_reduce_array", "column_scatter", "row_all_reduce", "row_all_reduce_array", "row_broadcast",
    "row_broadcast_array", "row_gather", "row_reduce", "row_reduce_array", "row_scatter", "row_all_gather",
    "column_all_gather", "row_reduce_scatter", "column_reduce_scatter",
]
