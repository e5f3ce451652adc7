"""Conjugate gradient, plain and Jacobi-preconditioned, for A x = b with A the 7-point 3-D Laplacian
plus an optional diagonal shift (A = 6 I - neighbours + diag(shift), symmetric positive definite for
shift above minus the Laplacian's smallest eigenvalue, `setup.prepare` checks), in one launch.

The whole solve runs on one nx x ny block (see `columns`: X and Y over PEs, each PE's Z column in
SRAM). Every vector of the iteration (x, r, p, A p and, preconditioned, z) stays in SRAM from the first
iteration to the last; a PE exchanges only p's column with its four neighbours (A p) and scalars for the
dot products (block-wide all-reduces: `columns.block_sum`, by the tree where the device has the channels,
else by chains). Because every PE receives the same reduced
values, all PEs take the same branch at the convergence test and leave the loop together.

The iteration is SciPy's (`scipy.sparse.linalg.cg`, same order of updates, same test): stop before
iteration k when ||r_k|| < atol, where atol = max(atol, rtol * ||b||); the recurrence residual r is
tested, as SciPy does. Iterations are counted as SciPy's callback counts them. Preconditioned, z = r / d
with d the operator's diagonal (Jacobi); rho = r . z. Each iteration costs one halo exchange and two
all-reduces (three preconditioned: ||r|| and r . z are reduced separately).
"""
from __future__ import annotations

import functools

import numpy as np

from ...compiler import intrinsics as ws
from ...errors import ArgumentError, call_checked
from ...runtime.device import Device
from ...runtime.jit import Dispatcher, jit
from ..hosting import Scratch
from .cg_single import CG_SINGLE_VECTORS, PCG_SINGLE_VECTORS, cg_single_kernel
from .columns import Solution, column_ops, from_padded_columns, padded_columns, reduction_rounds
from .setup import SCIPY_KEYWORD_HINTS, iteration_limit, prepare, scaled_system, solution

#: Padded columns a CG kernel keeps per PE: x, r, p, q, diag, four halo buffers (z and 1/d preconditioned).
CG_VECTORS = 9
PCG_VECTORS = 11


@functools.lru_cache(maxsize=None)
def cg_kernel(nz: int, preconditioned: bool, rounds: int = 0) -> Dispatcher:
    """The CG kernel for columns of `nz` values, with or without the Jacobi preconditioner, its block sums
    by chains (`rounds` 0) or a tree of `rounds` rounds (`columns.reduction_rounds`: built per block size).

    Launch on one nx x ny block: ``kernel[(1, 1), (nx, ny)](b, diag, inv_diag, x, info, nx, maxiter,
    atol2)`` with (nx*ny, nz + 2) padded float32 columns (`padded_columns`), x written the same way and
    info an int32 array of 2 (iterations, reached the tolerance) plus a float32 array of 1 (||r||^2)."""
    ops = column_ops(nz, rounds)
    NZ, W = nz, nz + 2
    PRE = preconditioned
    WP = W if preconditioned else 1  # z and 1/d take SRAM only when preconditioned
    laplace, dot = ops.laplace, ops.dot
    clear_halos = ops.clear_halos

    @jit(boundscheck=False)  # tested: every slice is a constant of the column length
    def cg(b, diag_cols, inv_cols, x_out, info, res, nx, maxiter, atol2):
        px, py = ws.grid(2)
        me = py * nx + px
        x = ws.local.array(W, np.float32)
        r = ws.local.array(W, np.float32)
        p = ws.local.array(W, np.float32)
        q = ws.local.array(W, np.float32)
        z = ws.local.array(WP, np.float32)
        inv = ws.local.array(WP, np.float32)
        diag = ws.local.array(W, np.float32)
        bn = ws.local.array(NZ, np.float32)
        bs = ws.local.array(NZ, np.float32)
        be = ws.local.array(NZ, np.float32)
        bw = ws.local.array(NZ, np.float32)
        clear_halos(bn, bs, be, bw)
        p[0:W] = 0.0
        x[0:W] = 0.0
        r[0:W] = b[me, 0:W]  # x0 = 0, so r0 = b
        diag[0:W] = diag_cols[me, 0:W]
        if PRE:
            inv[0:W] = inv_cols[me, 0:W]
        rho_prev = 1.0
        rr = 0.0
        it = 0
        done = 0
        while it < maxiter:
            rr = dot(r, r)
            if rr < atol2:
                done = 1
                break
            if PRE:
                z[1:NZ + 1] = inv[1:NZ + 1] * r[1:NZ + 1]
                rho = dot(r, z)
                if it > 0:
                    p[1:NZ + 1] = p[1:NZ + 1] * (rho / rho_prev) + z[1:NZ + 1]
                else:
                    p[1:NZ + 1] = z[1:NZ + 1]
            else:
                rho = rr
                if it > 0:
                    p[1:NZ + 1] = p[1:NZ + 1] * (rho / rho_prev) + r[1:NZ + 1]
                else:
                    p[1:NZ + 1] = r[1:NZ + 1]
            laplace(p, q, diag, bn, bs, be, bw)
            alpha = rho / dot(p, q)
            x[1:NZ + 1] = p[1:NZ + 1] * alpha + x[1:NZ + 1]
            r[1:NZ + 1] = q[1:NZ + 1] * -alpha + r[1:NZ + 1]
            rho_prev = rho
            it += 1
        if not done:  # the limit reached: report the last residual (SciPy reports no convergence either)
            rr = dot(r, r)
        x_out[me, 0:W] = x[0:W]
        if px == 0 and py == 0:
            info[0] = it
            info[1] = done
            res[0] = rr

    return cg


@functools.partial(call_checked, hints=SCIPY_KEYWORD_HINTS)
def conjugate_gradient(b: np.ndarray, shift: np.ndarray | float = 0.0, rtol: float = 1e-5, atol: float = 0.0,
                       maxiter: int | None = None, preconditioner: str | None = None, single_reduction: bool = False,
                       device: Device | None = None, stream=None) -> Solution:
    """Solve A x = b on the wafer by CG, A = the 7-point 3-D Laplacian (Dirichlet boundary) + diag(shift).

    `b` is an (nz, ny, nx) grid (X and Y over an nx x ny block of PEs, Z columns in SRAM); `shift` a number
    or a grid of that shape, above minus the Laplacian's smallest eigenvalue (shift -2 on a (1, ny, nx) grid:
    the 2-D 5-point Poisson operator). Stops as `scipy.sparse.linalg.cg` does, when ||r|| < max(atol, rtol *
    ||b||), or after `maxiter` iterations (default 10 n). `preconditioner="jacobi"` divides the residual
    by the operator's diagonal (which pays off when `shift` varies). `single_reduction=True` runs the
    Chronopoulos-Gear form (`cg_single`): the same iterates in exact arithmetic, with every dot product
    of an iteration reduced in one sweep over the block instead of two or three. The default device is an
    nx x ny wafer (4 channels: the block sums by chains; a device with the channels of the tree
    all-reduce, `columns.reduction_rounds`, gets the tree). Returns a `Solution` (x as an (nz, ny, nx) float32 grid, iterations, the last residual norm,
    converged, SciPy's info code, LaunchStats)."""
    if preconditioner not in (None, "jacobi"):
        raise ArgumentError(f"preconditioner must be None or 'jacobi', got {preconditioner!r}")
    pre = preconditioner == "jacobi"
    if single_reduction:
        vectors, kernel = (PCG_SINGLE_VECTORS if pre else CG_SINGLE_VECTORS), cg_single_kernel
    else:
        vectors, kernel = (PCG_VECTORS if pre else CG_VECTORS), cg_kernel
    problem = prepare(b, shift, vectors, device)
    system = scaled_system(problem.b, rtol, atol)  # (||b|| far from 1 scaled towards it: exactly)
    limit = iteration_limit(problem.b.size, maxiter)
    if system.bnorm == 0.0:  # SciPy returns x = 0 at once
        return Solution(np.zeros_like(problem.b), 0, 0.0, True, 0, None)
    (nx, ny), nz = problem.block, problem.shape[0]
    with Scratch(problem.device, stream) as mem:
        d_b, d_diag = mem.put(padded_columns(system.b)), mem.put(padded_columns(problem.diag))
        d_inv = mem.put(padded_columns(np.float32(1.0) / problem.diag)) if pre else d_diag
        d_x, d_info, d_res = mem.empty((nx * ny, nz + 2)), mem.empty(2, np.int32), mem.empty(1)
        rounds = reduction_rounds(problem.device.spec, nx, ny)
        stats = kernel(nz, pre, rounds)[(1, 1), (nx, ny), stream](
            d_b, d_diag, d_inv, d_x, d_info, d_res, int(nx), limit, system.atol2)
        x = from_padded_columns(mem.get(d_x), problem.shape)
        (iterations, done), rr = mem.get(d_info), float(mem.get(d_res)[0])
    return solution(problem, system, x, rr, iterations, bool(done), 0 if done else int(iterations), stats)
