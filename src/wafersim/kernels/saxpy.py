"""saxpy, `out = a * x + y` on float32 vectors: one element per PE over a 1-D grid of small blocks.

The grid has `ceil(n / block)` blocks of `block x 1` PEs. When there are more blocks than the wafer
holds at once they run in waves (each block slot starts its next block when the previous one
finished), like CUDA blocks queued on a GPU's multiprocessors. The multiply-add is one fused `fma`:
the exact `a * x + y` rounded once to float32 (`wafersim.isa.float_math.fused_multiply_add32`; NumPy's
`(a.astype(float64) * x + y).astype(float32)` rounds twice and can differ in the last bit).
"""
from __future__ import annotations

import numpy as np

from ..arch.values import whole_argument
from ..compiler import intrinsics as ws
from ..errors import ArgumentError, call_checked
from ..runtime.device import Device
from ..runtime.jit import jit
from ..sim.stats import LaunchStats
from .hosting import Scratch, check_block_fits, device_argument, fitting_device, float32_input, float32_scalar

DEFAULT_SLOTS = 4  # block slots of the default device: its height, in blocks of block x 1 PEs


@jit
def saxpy_kernel(a, x, y, out):
    i = ws.grid(1)
    if i < x.size:
        out[i] = ws.fma(a, x[i], y[i])


@call_checked
def saxpy(a: float, x: np.ndarray, y: np.ndarray, block: int = 64,
          device: Device | None = None) -> tuple[np.ndarray, LaunchStats]:
    """`a * x + y` for float32 vectors `x` and `y` (1-D, same length), one element per PE.

    Launches `ceil(n / block)` blocks of `block x 1` PEs; PEs past the end do nothing. The default
    device is just large enough for a few blocks at once (`block` wide, up to DEFAULT_SLOTS blocks
    tall), so a long vector runs in several waves. Returns (out as float32, LaunchStats)."""
    a = float32_scalar(a, "a")
    x = float32_input(x, "x")
    y = float32_input(y, "y")
    if x.ndim != 1 or x.shape != y.shape:  # (0-d included: NumPy's result would be 0-d, not a vector)
        raise ArgumentError(f"x and y must be 1-D and of the same length, got shapes {x.shape} and {y.shape}")
    block = whole_argument(block, "block", 1)
    device = device_argument(device)
    n = x.size
    if n == 0:
        raise ArgumentError("x and y must not be empty")
    blocks = -(-n // block)
    device = check_block_fits(device or fitting_device(block, min(blocks, DEFAULT_SLOTS)), block, 1,
                              f"saxpy with block={block}")
    with Scratch(device) as mem:
        d_x, d_y, d_out = mem.put(x), mem.put(y), mem.empty(n)
        stats = saxpy_kernel[(blocks, 1), (block, 1)](a, d_x, d_y, d_out)
        return mem.get(d_out), stats
