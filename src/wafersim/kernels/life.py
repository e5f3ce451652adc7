"""Conway's Game of Life, one cell per PE (int32 0/1), with nearest-neighbour messages only.

Each generation takes two exchanges:

1. every PE sends its cell north and south (channel 0) and receives its north and south neighbours'
   cells (a missing neighbour, beyond the block edge, is a dead cell);
2. every PE sends the sum of its column of three (north + own + south) east and west on channel 1,
   which forwards the values it received from north and south sideways; a PE receives its west
   neighbour's column (NW + W + SW) and its east neighbour's column (NE + E + SE).

The eight-neighbour count is then `north + south + west_column + east_column`. No barrier is needed:
a PE cannot finish generation t + 1 before its neighbours have sent their generation-t + 1 cells, and
words of one (direction, channel) arrive in order, so neighbours drift at most a generation apart
(far within the FIFO depth).
"""
from __future__ import annotations

import numpy as np

from ..arch.values import whole_argument
from ..compiler import intrinsics as ws
from ..errors import ArgumentError, ArgumentTypeError, call_checked
from ..runtime.device import Device
from ..runtime.jit import jit
from ..sim.stats import LaunchStats
from .hosting import Scratch, check_block_fits, device_argument, fitting_device, nonempty


@jit
def life_step(c):
    """One generation for this PE's cell `c` (int32 0/1); returns the new cell. Inlined into kernels."""
    if ws.has_neighbor(ws.NORTH):
        ws.send(ws.NORTH, c)
    if ws.has_neighbor(ws.SOUTH):
        ws.send(ws.SOUTH, c)
    n = ws.recv(ws.NORTH, dtype=np.int32) if ws.has_neighbor(ws.NORTH) else 0
    s = ws.recv(ws.SOUTH, dtype=np.int32) if ws.has_neighbor(ws.SOUTH) else 0
    column = n + c + s
    if ws.has_neighbor(ws.EAST):
        ws.send(ws.EAST, column, channel=1)
    if ws.has_neighbor(ws.WEST):
        ws.send(ws.WEST, column, channel=1)
    w = ws.recv(ws.WEST, channel=1, dtype=np.int32) if ws.has_neighbor(ws.WEST) else 0
    e = ws.recv(ws.EAST, channel=1, dtype=np.int32) if ws.has_neighbor(ws.EAST) else 0
    count = n + s + w + e
    return (count == 3) | (c & (count == 2))


@jit
def life_kernel(board, out, steps):
    x, y = ws.grid(2)
    c = board[y, x]
    for t in range(steps):
        c = life_step(c)
    out[y, x] = c


def life_board(board: np.ndarray) -> np.ndarray:
    """The int32 board of cells: 0 (dead) and 1 (alive), given as bools, integers or floats. Any other value
    (2, -1, 0.5, NaN) is an `ArgumentError` rather than a cell quietly counted alive; a board of counts or
    weights is the caller's to threshold."""
    if board.dtype.kind not in "biuf":
        raise ArgumentTypeError(f"board must hold 0 (dead) and 1 (alive), got dtype {board.dtype}")
    bad = (board != 0) & (board != 1)
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ArgumentError(f"board must hold 0 (dead) and 1 (alive), got {board[where].item()!r} at (row, column) "
                            f"{where}: pass (board != 0).astype(np.int32) to count every nonzero cell alive")
    return board.astype(np.int32)


@call_checked
def life(board: np.ndarray, steps: int, device: Device | None = None) -> tuple[np.ndarray, LaunchStats]:
    """Run `steps` generations of Game of Life on `board` (height x width, 0/1), one cell per PE.

    One block is the whole board; cells beyond its edge are dead. Returns (the int32 board after
    `steps` generations, LaunchStats). The default device is just large enough for the board."""
    board = np.ascontiguousarray(board)
    if board.ndim != 2:
        raise ArgumentError(f"board must be 2-D, got shape {board.shape}")
    steps = whole_argument(steps, "steps")
    board = life_board(board)
    height, width = nonempty(board, "board").shape
    device = check_block_fits(device_argument(device) or fitting_device(width, height), width, height,
                              "life (one cell per PE)")
    with Scratch(device) as mem:
        d_board, d_out = mem.put(board), mem.empty(board.shape, np.int32)
        stats = life_kernel[(1, 1), (width, height)](d_board, d_out, steps)
        return mem.get(d_out), stats
