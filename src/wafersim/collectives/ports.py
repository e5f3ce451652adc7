"""The reduction operators of the collectives, and the algorithms of the block all-reduces (constants: each
collective compiles one branch)."""
from __future__ import annotations

SUM, MAX, MIN = 0, 1, 2
OPERATORS = {"sum": SUM, "max": MAX, "min": MIN}

#: `algorithm=` of `block_all_reduce` and `block_all_reduce_array`: chains along the rows and the first column
#: (3 channels), or a binary tree to the centre over routed channels (`trees.py`: 2 rounds + 1 channels).
CHAIN, TREE = 0, 1
