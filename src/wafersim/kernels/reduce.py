"""Block reduction and all-reduce (sum, max or min), one value per PE.

The device functions (`reduce_to_corner`, `allreduce`, `broadcast_from_corner`) take a float32 or an int32
value (the type of `v`; int32 sums wrap around as int32 arithmetic does); the host functions
(`block_reduce`, `block_allreduce`) take float arrays as float32 (converted as `hosting.float32_input`
says) and integer or bool arrays as int32, and return that type.

Built on `wafersim.collectives` (routed channels):

1. along each row to the west edge: the east-most PE sends its value west; every other PE waits for
   the partial result from the east, combines it with its own value and passes it on (a one-hop chain
   through the routers, channel 0);
2. down the first column to the north-west PE, in the same way (channel 1);
3. (all-reduce only) broadcast back: the north-west PE hands the result to its router once, and a block
   bus (channel 2) copies it along the first row and down every column, with no PE forwarding it.

A reduction costs about `bx + by` chain steps; the broadcast about `bx + by` hops of one cycle each.
Sums combine in the order `v[x] + (v[x+1] + (...))` along a row and then `row[y] + (row[y+1] + ...)`
down the column (float32 rounding differs from a left-to-right sum).

The device functions `reduce_to_corner`, `broadcast_from_corner` and `allreduce` can be called from
any `@ws.jit` kernel (they are inlined); `op` must be a compile-time constant, `SUM`, `MAX` or `MIN` (MAX
and MIN propagate a float NaN, as `np.max` and `np.min` do). They use
channels 0 to 2 (docs/kernels.md: a word of the kernel's own left across the call on a FIFO the chains use,
west on channel 0 or north on channel 1, stops the kernel with a `ChainWordError`)."""
from __future__ import annotations

import numpy as np

from .. import collectives as wsc
from ..compiler import intrinsics as ws
from ..errors import ArgumentError, call_checked
from ..runtime.device import Device
from ..runtime.jit import jit
from ..sim.stats import LaunchStats
from .hosting import (Scratch, check_block_fits, check_block_tiles, device_argument, fitting_device, nonempty,
                      number_input, shape_argument)

SUM = wsc.SUM
MAX = wsc.MAX
MIN = wsc.MIN
OPS = {"sum": SUM, "max": MAX, "min": MIN}
combine = wsc.combine


# ----------------------------------------------------------------------------- device functions
@jit
def reduce_to_corner(v, op):
    """Reduce `v` (float32 or int32) over the block by `op` (SUM, MAX or MIN, a constant); the north-west PE
    (threadIdx 0, 0) returns the block's result.

    Other PEs return partial results (their row's suffix, or the first column's suffix)."""
    return wsc.block_reduce_to_corner(v, op, channel=0)


@jit
def broadcast_from_corner(v):
    """Every PE of the block returns the north-west PE's `v` (over a block bus on channel 2)."""
    return wsc.block_broadcast(v, 0, 0, channel=2)


@jit
def allreduce(v, op):
    """Reduce `v` (float32 or int32) over the block by `op` (SUM, MAX or MIN, a constant) and return the
    result on every PE."""
    return wsc.block_all_reduce(v, op, channel=0)


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


_REDUCE = {code: _reduce_kernel(code) for code in OPS.values()}
_ALLREDUCE = {code: _allreduce_kernel(code) for code in OPS.values()}


# ----------------------------------------------------------------------------- host functions
def _prepare(values: np.ndarray, op: str, block: tuple[int, int], device: Device | None):
    """(values as float32, or int32 for integer and bool inputs; the op's code; grid; block; device)."""
    values = number_input(values, "values")
    if values.ndim != 2:
        raise ArgumentError(f"values must be a 2-D array of one value per PE, got shape {values.shape}")
    if not isinstance(op, str) or op not in OPS:
        raise ArgumentError(f"op must be one of {sorted(OPS)}, got {op!r}")
    height, width = nonempty(values, "values").shape
    bx, by = shape_argument(block, "block")
    check_block_tiles((bx, by), values.shape, "values")
    if values.dtype == np.int32 and op == "sum":
        _check_int32_sums(values, bx, by)
    device = check_block_fits(device_argument(device) or fitting_device(width, height), bx, by,
                              f"a reduction over {bx} x {by} blocks")
    return values, OPS[op], (width // bx, height // by), (bx, by), device


def _check_int32_sums(values: np.ndarray, bx: int, by: int) -> None:
    """Integer sums are int32 on the device, where a sum past int32 wraps around: refuse the blocks whose sum
    (exact, in int64 here) would, rather than return a number that differs from NumPy's sum without a word."""
    height, width = values.shape
    sums = values.astype(np.int64).reshape(height // by, by, width // bx, bx).sum(axis=(1, 3))
    outside = (sums > np.iinfo(np.int32).max) | (sums < np.iinfo(np.int32).min)
    if outside.any():
        gy, gx = (int(i) for i in np.argwhere(outside)[0])
        raise ArgumentError(f"the sum of block ({gx}, {gy}) is {int(sums[gy, gx])}, outside int32: the device's int32 "
                            f"sums would wrap around; pass smaller blocks, or float values (float32 sums round)",
                            block=(gx, gy), total=int(sums[gy, gx]))


@call_checked
def block_reduce(values: np.ndarray, op: str = "sum", block: tuple[int, int] = (8, 8),
                 device: Device | None = None) -> tuple[np.ndarray, LaunchStats]:
    """Reduce each `bx x by` block of `values` (one value per PE) with `op` ("sum", "max" or "min").

    `values` has shape (gy * by, gx * bx): float values are reduced as float32, integer and bool ones as int32
    (a block whose sum leaves int32 is an `ArgumentError`). Returns (a (gy, gx) array of per-block results,
    float32 or int32 as the input, the LaunchStats of the launch). The default device is just large enough
    for the array."""
    values, code, grid, block, device = _prepare(values, op, block, device)
    with Scratch(device) as mem:
        d_values, d_out = mem.put(values), mem.empty((grid[1], grid[0]), values.dtype)
        stats = _REDUCE[code][grid, block](d_values, d_out)
        return mem.get(d_out), stats


@call_checked
def block_allreduce(values: np.ndarray, op: str = "sum", block: tuple[int, int] = (8, 8),
                    device: Device | None = None) -> tuple[np.ndarray, LaunchStats]:
    """All-reduce each `bx x by` block of `values` (one value per PE) with `op` ("sum", "max" or "min"):
    float32 or int32 as `block_reduce` takes them.

    Returns (an array shaped like `values` in which every PE holds its block's result, LaunchStats).
    The default device is just large enough for the array."""
    values, code, grid, block, device = _prepare(values, op, block, device)
    with Scratch(device) as mem:
        d_values, d_out = mem.put(values), mem.empty(values.shape, values.dtype)
        stats = _ALLREDUCE[code][grid, block](d_values, d_out)
        return mem.get(d_out), stats
