"""Block reduction and all-reduce of float32 values (sum or max), one value per PE.

The reduction is a pipelined sweep over the block, using only nearest-neighbour messages:

1. along each row to the west edge: the east-most PE sends its value west; every other PE waits for
   the partial result from the east, combines it with its own value and passes it on;
2. down the first column to the north-west PE, in the same way (from the south-most PE northwards);
3. (all-reduce only) broadcast back: the north-west PE sends the result south along the first column,
   and every PE of the first column sends it east along its row, where each PE forwards it east.

Each phase is a chain of single-word messages, so a reduction costs about `bx + by` hops and the
all-reduce about `2 * (bx + by)`. Sums combine in the order `v[x] + (v[x+1] + (...))` along a row and
then `row[y] + (row[y+1] + ...)` down the column (float32 rounding differs from a left-to-right sum).

The device functions `reduce_to_corner`, `broadcast_from_corner` and `allreduce` can be called from
any `@ws.jit` kernel (they are inlined); `op` must be a compile-time constant, `SUM` or `MAX`.
"""
from __future__ import annotations

import numpy as np

from ..compiler import intrinsics as ws
from ..errors import ArgumentError
from ..runtime.device import Device
from ..runtime.jit import jit
from ..sim.stats import LaunchStats
from .hosting import Scratch, fitting_device

SUM = 0
MAX = 1
OPS = {"sum": SUM, "max": MAX}


# ----------------------------------------------------------------------------- device functions
@jit
def combine(a, b, op):
    """a + b or max(a, b); `op` is a compile-time constant (SUM or MAX), so the branch folds away."""
    if op == MAX:
        return max(a, b)
    return a + b


@jit
def reduce_to_corner(v, op):
    """Reduce `v` over the block; the north-west PE (threadIdx 0, 0) returns the block's result.

    Other PEs return partial results (their row's suffix, or the first column's suffix)."""
    acc = v
    if ws.has_neighbor(ws.EAST):             # rows: pipelined westwards
        acc = combine(acc, ws.recv(ws.EAST), op)
    if ws.has_neighbor(ws.WEST):
        ws.send(ws.WEST, acc)
    else:                                    # first column: pipelined northwards
        if ws.has_neighbor(ws.SOUTH):
            acc = combine(acc, ws.recv(ws.SOUTH), op)
        if ws.has_neighbor(ws.NORTH):
            ws.send(ws.NORTH, acc)
    return acc


@jit
def broadcast_from_corner(v):
    """Every PE of the block returns the north-west PE's `v` (down the first column, then along rows)."""
    r = v
    if ws.has_neighbor(ws.WEST):
        r = ws.recv(ws.WEST)
    else:
        if ws.has_neighbor(ws.NORTH):
            r = ws.recv(ws.NORTH)
        if ws.has_neighbor(ws.SOUTH):
            ws.send(ws.SOUTH, r)
    if ws.has_neighbor(ws.EAST):
        ws.send(ws.EAST, r)
    return r


@jit
def allreduce(v, op):
    """Reduce `v` over the block and return the result on every PE."""
    return broadcast_from_corner(reduce_to_corner(v, op))


# ----------------------------------------------------------------------------- kernels
def _reduce_kernel(op: int):
    """A kernel writing each block's reduction (by `op`, a compile-time constant of the closure)."""
    @jit
    def reduce_kernel(values, out):
        x, y = ws.grid(2)
        r = reduce_to_corner(values[y, x], op)
        if ws.threadIdx.x == 0 and ws.threadIdx.y == 0:
            out[ws.blockIdx.y, ws.blockIdx.x] = r
    return reduce_kernel


def _allreduce_kernel(op: int):
    """A kernel giving every PE its block's reduction (by `op`, a compile-time constant of the closure)."""
    @jit
    def allreduce_kernel(values, out):
        x, y = ws.grid(2)
        out[y, x] = allreduce(values[y, x], op)
    return allreduce_kernel


_REDUCE = {code: _reduce_kernel(code) for code in (SUM, MAX)}
_ALLREDUCE = {code: _allreduce_kernel(code) for code in (SUM, MAX)}


# ----------------------------------------------------------------------------- host functions
def _prepare(values: np.ndarray, op: str, block: tuple[int, int], device: Device | None):
    values = np.ascontiguousarray(values, dtype=np.float32)
    if values.ndim != 2:
        raise ArgumentError(f"values must be a 2-D array of one value per PE, got shape {values.shape}")
    if op not in OPS:
        raise ArgumentError(f"op must be one of {sorted(OPS)}, got {op!r}")
    height, width = values.shape
    bx, by = block
    if bx < 1 or by < 1 or width % bx or height % by:
        raise ArgumentError(f"block {bx} x {by} must tile the {width} x {height} array")
    device = device or fitting_device(width, height)
    return values, OPS[op], (width // bx, height // by), (bx, by), device


def block_reduce(values: np.ndarray, op: str = "sum", block: tuple[int, int] = (8, 8),
                 device: Device | None = None) -> tuple[np.ndarray, LaunchStats]:
    """Reduce each `bx x by` block of `values` (one float32 per PE) with `op` ("sum" or "max").

    `values` has shape (gy * by, gx * bx); returns (a (gy, gx) float32 array of per-block results,
    the LaunchStats of the launch). The default device is just large enough for the array."""
    values, code, grid, block, device = _prepare(values, op, block, device)
    with Scratch(device) as mem:
        d_values, d_out = mem.put(values), mem.empty((grid[1], grid[0]))
        stats = _REDUCE[code][grid, block](d_values, d_out)
        return mem.get(d_out), stats


def block_allreduce(values: np.ndarray, op: str = "sum", block: tuple[int, int] = (8, 8),
                    device: Device | None = None) -> tuple[np.ndarray, LaunchStats]:
    """All-reduce each `bx x by` block of `values` (one float32 per PE) with `op` ("sum" or "max").

    Returns (an array shaped like `values` in which every PE holds its block's result, LaunchStats).
    The default device is just large enough for the array."""
    values, code, grid, block, device = _prepare(values, op, block, device)
    with Scratch(device) as mem:
        d_values, d_out = mem.put(values), mem.empty(values.shape)
        stats = _ALLREDUCE[code][grid, block](d_values, d_out)
        return mem.get(d_out), stats
