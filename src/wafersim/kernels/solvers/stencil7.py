"""A 7-point 3-D stencil, `steps` times in one launch: u <- c0 u + cx (W + E) + cy (N + S) + cz (down + up),
with 0 outside the grid (a Dirichlet boundary), on the layout of `columns` (X and Y over PEs, Z columns in
SRAM).

Each step, a PE exchanges its whole column with its four neighbours (`columns.exchange`, chunks of 16
words), then updates its column with four vector instructions over nz values: two sums of neighbour
pairs scaled (X, then Y as a fused multiply-add), the Z pair (the slices either side in the padded
column), then the centre. The Z neighbours cost nothing to fetch; the X/Y halo costs four column sends
and four receives a step, so on the default machine (one word a cycle per link) the kernel is bound by
the halo: about 4 nz cycles of sending against about nz / 2 cycles of vector work.
"""
from __future__ import annotations

import functools

import numpy as np

from ...compiler import intrinsics as ws
from ...arch.values import is_finite_real, whole_argument
from ...errors import ArgumentError, ArgumentTypeError, call_checked
from ...runtime.device import Device
from ...runtime.jit import Dispatcher, jit
from ...sim.stats import LaunchStats
from ..hosting import Scratch, float32_scalar
from .columns import column_ops, from_padded_columns, padded_columns
from .setup import grid_on

#: Padded columns the kernel keeps per PE: u, the accumulator and four halo buffers.
STENCIL7_VECTORS = 6


@functools.lru_cache(maxsize=None)
def stencil7_kernel(nz: int) -> Dispatcher:
    """The kernel for columns of `nz` values. Launch on one nx x ny block:
    ``kernel[(1, 1), (nx, ny)](u, out, nx, steps, c0, cx, cy, cz)`` with (nx*ny, nz + 2) padded columns."""
    ops = column_ops(nz)
    NZ, W = nz, nz + 2
    exchange = ops.exchange
    clear_halos = ops.clear_halos

    @jit(boundscheck=False)  # tested: every slice is a constant of the column length
    def stencil7(u_in, u_out, nx, steps, c0, cx, cy, cz):
        px, py = ws.grid(2)
        me = py * nx + px
        u = ws.local.array(W, np.float32)
        acc = ws.local.array(NZ, np.float32)
        bn = ws.local.array(NZ, np.float32)
        bs = ws.local.array(NZ, np.float32)
        be = ws.local.array(NZ, np.float32)
        bw = ws.local.array(NZ, np.float32)
        clear_halos(bn, bs, be, bw)
        u[0:W] = u_in[me, 0:W]  # the pad words are 0: the boundary at the ends of the column
        for step in range(steps):
            exchange(u, bn, bs, be, bw)
            acc[0:NZ] = (bw[0:NZ] + be[0:NZ]) * cx
            acc[0:NZ] = (bn[0:NZ] + bs[0:NZ]) * cy + acc[0:NZ]
            acc[0:NZ] = (u[0:NZ] + u[2:NZ + 2]) * cz + acc[0:NZ]
            u[1:NZ + 1] = u[1:NZ + 1] * c0 + acc[0:NZ]
        u_out[me, 0:W] = u[0:W]

    return stencil7


@call_checked
def stencil7(u: np.ndarray, coeffs: tuple[float, float, float, float], steps: int = 1,
             device: Device | None = None, stream=None) -> tuple[np.ndarray, LaunchStats]:
    """`steps` applications of the 7-point stencil with coefficients (c0, cx, cy, cz) to the (nz, ny, nx)
    float32 grid `u` (X and Y over an nx x ny block of PEs, Z columns in SRAM, 0 outside the grid).

    The default device is an nx x ny wafer. Returns (the grid after `steps` steps, LaunchStats)."""
    if not isinstance(coeffs, (tuple, list, np.ndarray)):
        raise ArgumentTypeError(f"coeffs must be four finite numbers (c0, cx, cy, cz), got {coeffs!r}")
    coeffs = tuple(coeffs)
    if len(coeffs) != 4 or not all(is_finite_real(c) for c in coeffs):
        raise ArgumentError(f"coeffs must be four finite numbers (c0, cx, cy, cz), got {coeffs!r}")
    # The kernel's float32 coefficients, by the library's input rule (one beyond float32's range would be inf,
    # an integer beyond 2**24 rounded): refused, naming the coefficient.
    coeffs = tuple(float32_scalar(c, f"coeffs[{i}] ({'c0 cx cy cz'.split()[i]})") for i, c in enumerate(coeffs))
    steps = whole_argument(steps, "steps")
    u, device = grid_on(u, "u", STENCIL7_VECTORS, device)
    nz, ny, nx = u.shape
    with Scratch(device, stream) as mem:
        d_u, d_out = mem.put(padded_columns(u)), mem.empty((nx * ny, nz + 2))
        stats = stencil7_kernel(nz)[(1, 1), (nx, ny), stream](
            d_u, d_out, int(nx), int(steps), *coeffs)
        return from_padded_columns(mem.get(d_out), u.shape), stats
