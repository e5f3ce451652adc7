"""2-D heat diffusion, one cell per PE: the kernel of docs/api.md, compiled by `@ws.jit`."""
from __future__ import annotations

import numpy as np

from ..arch.values import whole_argument
from ..compiler import intrinsics as ws
from ..errors import ArgumentError, call_checked
from ..runtime.device import Device
from ..runtime.jit import jit
from ..sim.stats import LaunchStats
from .hosting import (Scratch, check_block_fits, check_block_tiles, device_argument, fitting_device, float32_input,
                      float32_scalar, nonempty, shape_argument)


@jit
def heat_kernel(u, out, alpha, steps):
    x, y = ws.grid(2)                      # global PE coordinates of this thread
    c = u[y, x]                            # global-memory load (slow, off-wafer)
    for t in range(steps):
        for d in (ws.NORTH, ws.SOUTH, ws.EAST, ws.WEST):
            if ws.has_neighbor(d):
                ws.send(d, c)
        acc = 0.0
        for d in (ws.NORTH, ws.SOUTH, ws.EAST, ws.WEST):
            acc += ws.recv(d) if ws.has_neighbor(d) else c
        c = c + alpha * (acc - 4.0 * c)
        ws.syncthreads()
    out[y, x] = c                          # global-memory store


@call_checked
def heat(u: np.ndarray, alpha: float, steps: int, device: Device | None = None,
         block: tuple[int, int] | None = None, stream=None) -> tuple[np.ndarray, LaunchStats]:
    """Run `steps` heat steps on `u` (height x width), one cell per PE; each block is a zero-flux domain.

    The default block is the whole array (it must fit the wafer). Returns (result, LaunchStats)."""
    u = float32_input(u, "u")
    alpha = float32_scalar(alpha, "alpha")
    steps = whole_argument(steps, "steps")
    if u.ndim != 2:
        raise ArgumentError(f"u must be 2-D (height x width), got shape {u.shape}")
    height, width = nonempty(u, "u").shape
    device = device_argument(device) or fitting_device(width, height)
    bx, by = (width, height) if block is None else shape_argument(block, "block")
    check_block_tiles((bx, by), u.shape, "u")
    check_block_fits(device, bx, by, f"heat (one cell per PE, blocks of {bx} x {by})")
    with Scratch(device, stream) as mem:
        d_u, d_out = mem.put(u), mem.empty(u.shape)
        stats = heat_kernel[(width // bx, height // by), (bx, by), stream](d_u, d_out, alpha, steps)
        return mem.get(d_out), stats
