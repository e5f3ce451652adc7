"""Inclusive prefix sum along each row of PEs, one value per PE (float32 or int32).

Each row of the array is one `width x 1` block. The scan is a pipeline from the west edge: a PE waits
for the running sum of the PEs west of it, adds its own value, stores the result and passes it east.
The last PE of a row finishes about `width` hops after the first one starts; rows run in parallel.
Sums are formed left to right, in the same order as `np.cumsum`, so float32 results match it exactly.
The device's int32 sums wrap around, where `np.cumsum` of int32 gives int64, so an integer row whose exact
prefix sums leave int32 is an `ArgumentError` (as `reduce.block_reduce` refuses such a block), not a wrapped result.
"""
from __future__ import annotations

import numpy as np

from ..compiler import intrinsics as ws
from ..errors import ArgumentError, call_checked
from ..runtime.device import Device
from ..runtime.jit import jit
from ..sim.stats import LaunchStats
from .hosting import Scratch, check_block_fits, fitting_device, host_array, nonempty, number_input


@jit
def scan_row(v, dtype):
    """Inclusive prefix sum of `v` along this PE's row of the block (inlined into kernels); `dtype` is the
    words' type, e.g. an array argument's `.dtype` (np.float32 or np.int32)."""
    acc = v
    if ws.has_neighbor(ws.WEST):
        acc = ws.recv(ws.WEST, dtype=dtype) + v
    if ws.has_neighbor(ws.EAST):
        ws.send(ws.EAST, acc)
    return acc


@jit
def prefix_sum_kernel(values, out):
    """Compiled once per dtype of `values` (float32 or int32) by the dispatcher."""
    x, y = ws.grid(2)
    out[y, x] = scan_row(values[y, x], values.dtype)




def _check_int32_prefix_sums(values: np.ndarray) -> None:
    """Refuse a row whose exact prefix sums (int64 here) leave int32: the device would wrap them around, and
    `np.cumsum` of int32 values gives int64, so the result would differ from it without a word."""
    sums = np.cumsum(values, axis=1, dtype=np.int64)
    outside = (sums > np.iinfo(np.int32).max) | (sums < np.iinfo(np.int32).min)
    if outside.any():
        row, col = (int(i) for i in np.argwhere(outside)[0])
        raise ArgumentError(f"the prefix sum of row {row} up to column {col} is {int(sums[row, col])}, outside "
                            f"int32: the device's int32 sums would wrap around; pass float values (float32 sums "
                            f"round) or smaller ones", row=row, column=col, total=int(sums[row, col]))


@call_checked
def prefix_sum(values: np.ndarray, device: Device | None = None) -> tuple[np.ndarray, LaunchStats]:
    """Inclusive prefix sum of each row of `values` (a 2-D float32 or int32 array, one value per PE).

    Equivalent to `np.cumsum(values, axis=1)` in the array's dtype (other integer and bool arrays are
    converted to int32, where a value outside int32 is an ArgumentError, as is a prefix sum outside int32,
    which the device's int32 sums would wrap; anything else to float32, `float32_input`). Each row is a `width x 1` block, so a row must fit
    the wafer's width. Returns (the scanned array, LaunchStats). The default device is just large
    enough for the array."""
    values = host_array(values, "values")
    if values.ndim != 2:
        raise ArgumentError(f"values must be a 2-D array of one value per PE, got shape {values.shape}")
    values = number_input(values, "values")
    height, width = nonempty(values, "values").shape
    if values.dtype == np.int32:
        _check_int32_prefix_sums(values)
    device = check_block_fits(device or fitting_device(width, height), width, 1, f"prefix_sum of rows of {width}")
    with Scratch(device) as mem:
        d_values, d_out = mem.put(values), mem.empty(values.shape, values.dtype)
        stats = prefix_sum_kernel[(1, height), (width, 1)](d_values, d_out)
        return mem.get(d_out), stats
