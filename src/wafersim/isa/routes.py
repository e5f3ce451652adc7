"""Route patterns: one channel's router configuration over a block, as port masks per PE.

A pattern is a function of the block's size (and its own parameters) giving a (5, height, width) uint8
array: for each input port (north, east, south, west, ramp = the PE itself), each PE's mask of output
ports, plus `ACCEPT` where the input has a rule (ACCEPT alone: its words are dropped; 0: no rule, a word
arriving there is an error). The runtime installs them at launch (`ws.routes`), and kernels may declare
the ones they rely on by name (`ws.use_route(channel, "row_bus")`), which the collectives do.

Buses let any PE of a line (or block) send to all others; several sources then share links on one
channel ("merge"), which is allowed only on channels whose pattern says so.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from .opcodes import ACCEPT, EAST, NORTH, PORTS, RAMP, SOUTH, WEST
from .tree_routes import MAX_TREE_ROUNDS, TREE_PATTERNS

N_PORTS = len(PORTS)
STEP = {NORTH: (0, -1), EAST: (1, 0), SOUTH: (0, 1), WEST: (-1, 0)}


def blank(bx: int, by: int) -> np.ndarray:
    return np.zeros((N_PORTS, by, bx), dtype=np.uint8)


def _inside_line(bx: int, by: int, direction: int) -> np.ndarray:
    """Whether a PE has a neighbour in `direction` inside the block, which depends on its x alone (east, west)
    or its y alone (north, south): a row (bx,) or a column (by, 1) that broadcasts to the block, so that a
    pattern builds each plane in one broadcast pass instead of from block-sized temporaries."""
    dx, dy = STEP[direction]
    x, y = np.arange(bx), np.arange(by)[:, None]
    return (x + dx >= 0) & (x + dx < bx) if dx else (y + dy >= 0) & (y + dy < by)


def _inside(bx: int, by: int, direction: int) -> np.ndarray:
    """Whether each PE of a block has a neighbour in `direction` inside the block: `_inside_line` broadcast to
    the block's (by, bx) (no index grids, which cost a wafer-sized block's first launch tens of ms)."""
    return np.broadcast_to(_inside_line(bx, by, direction), (by, bx))


def line_broadcast(masks: np.ndarray, root: int, size: int, ahead: int, behind: int, index,
                   include_root: bool, also: int = 0, root_sends: bool = True) -> None:
    """Along one line of a block (index(i) selects PE i's entries of a (height, width) plane): the root
    sends both ways; every other PE takes words from the root's side, passes them on and keeps a copy.
    `also`: ports every PE of the line forwards to as well (a 2-D broadcast's columns)."""
    if root_sends:
        both_ways = (1 << ahead if root < size - 1 else 0) | (1 << behind if root > 0 else 0)
        masks[(RAMP, *index(root))] |= both_ways | (1 << RAMP if include_root else 0) | also | ACCEPT
    for i in range(size):
        if i == root:
            continue
        after = i > root
        onward = (1 << (ahead if after else behind)) if 0 <= i + (1 if after else -1) < size else 0
        masks[((behind if after else ahead), *index(i))] |= onward | 1 << RAMP | also | ACCEPT


def chain(bx: int, by: int, direction: int) -> np.ndarray:
    """Every PE's words go one hop in `direction`, to the next PE's ramp (the last PE of each line has
    no route out)."""
    masks = blank(bx, by)
    masks[RAMP][_inside(bx, by, direction)] = 1 << direction | ACCEPT
    masks[(direction + 2) % 4][_inside(bx, by, (direction + 2) % 4)] = 1 << RAMP | ACCEPT
    return masks


def line_bus(bx: int, by: int, ahead: int, behind: int) -> np.ndarray:
    """Any PE's words reach every other PE of its line (row: ahead = east; column: ahead = south)."""
    masks = np.empty((N_PORTS, by, bx), dtype=np.uint8)  # (every plane is written below)
    has_ahead, has_behind = _inside_line(bx, by, ahead), _inside_line(bx, by, behind)
    out_ahead = np.where(has_ahead, np.uint8(1 << ahead), np.uint8(0))
    out_behind = np.where(has_behind, np.uint8(1 << behind), np.uint8(0))
    masks[RAMP] = out_ahead | out_behind | np.uint8(ACCEPT)
    masks[behind] = np.where(has_behind, out_ahead | np.uint8(1 << RAMP | ACCEPT), np.uint8(0))  # from behind: on ahead, keep
    masks[ahead] = np.where(has_ahead, out_behind | np.uint8(1 << RAMP | ACCEPT), np.uint8(0))
    for port in range(4):
        if port not in (ahead, behind):
            masks[port] = 0
    return masks


def block_bus(bx: int, by: int) -> np.ndarray:
    """Any PE's words reach every other PE of the block: along the sender's row, and from each PE of
    that row up and down its column (rows carry words east and west, columns north and south)."""
    masks = np.empty((N_PORTS, by, bx), dtype=np.uint8)  # (every plane is written below)
    # (uint8 rows and columns that broadcast: each plane is one pass over the block, no block-sized temporaries)
    inside = {d: _inside_line(bx, by, d) for d in range(4)}
    outs = {d: inside[d].astype(np.uint8) << np.uint8(d) for d in range(4)}
    vertical = outs[NORTH] | outs[SOUTH]  # (by, 1)
    keep = np.uint8(1 << RAMP | ACCEPT)
    masks[RAMP] = (outs[EAST] | outs[WEST] | np.uint8(ACCEPT)) | vertical
    masks[WEST] = np.where(inside[WEST], (outs[EAST] | keep) | vertical, np.uint8(0))
    masks[EAST] = np.where(inside[EAST], (outs[WEST] | keep) | vertical, np.uint8(0))
    masks[NORTH] = np.where(inside[NORTH], outs[SOUTH] | keep, np.uint8(0))
    masks[SOUTH] = np.where(inside[SOUTH], outs[NORTH] | keep, np.uint8(0))
    return masks


#: Patterns a kernel may declare by name (`ws.use_route`): name -> (masks of a bx x by block, merge).
NAMED: dict[str, tuple[Callable[[int, int], np.ndarray], bool]] = {
    "row_bus": (lambda bx, by: line_bus(bx, by, EAST, WEST), True),
    "column_bus": (lambda bx, by: line_bus(bx, by, SOUTH, NORTH), True),
    "block_bus": (block_bus, True),
    "chain_north": (lambda bx, by: chain(bx, by, NORTH), False),
    "chain_east": (lambda bx, by: chain(bx, by, EAST), False),
    "chain_south": (lambda bx, by: chain(bx, by, SOUTH), False),
    "chain_west": (lambda bx, by: chain(bx, by, WEST), False),
}
#: The names as error messages list them (the tree collectives' families in one phrase each).
KNOWN = ", ".join(NAMED) + (f", tree_low_R and tree_high_R (R < {MAX_TREE_ROUNDS}), tree_broadcast_R "
                            f"(1 <= R <= {MAX_TREE_ROUNDS})")
NAMED.update(TREE_PATTERNS)  # tree_low_{r}, tree_high_{r}, tree_broadcast_{R}: the tree collectives'
#: Pattern numbers, for kernels that pass a pattern through device-function arguments (ints, not strs).
PATTERN_NAMES = tuple(NAMED)
