"""BiCGSTAB for A x = b on the operator of `cg` (the 7-point 3-D Laplacian plus a diagonal shift), in
one launch, with the layout of `columns` (X and Y over PEs, Z columns in SRAM).

The iteration is SciPy's (`scipy.sparse.linalg.bicgstab`, unpreconditioned): the same order of updates,
the same tests, the same breakdown codes. Before iteration k it stops when ||r|| < atol (atol = max(atol,
rtol * ||b||)); in the middle, when ||s|| < atol after the half step x += alpha p (that iteration is not
counted, as SciPy's callback does not count it); rho = r~ . r below eps^2 (eps of float32) is a breakdown
(info -10), and so is |omega| < eps^2 (info -11). Each iteration costs two halo exchanges (A p, A s) and
six dot products, reduced in four sweeps over the block (||r||^2 with r~ . r, r~ . v, ||s||^2, t . s
with t . t); the vector s lives in r's SRAM, as in SciPy.
"""
from __future__ import annotations

import functools

import numpy as np

from ...compiler import intrinsics as ws
from ...errors import call_checked
from ...runtime.device import Device
from ...runtime.jit import Dispatcher, jit
from ..hosting import Scratch
from .columns import Solution, column_ops, from_padded_columns, padded_columns, reduction_rounds
from .setup import SCIPY_KEYWORD_HINTS, iteration_limit, prepare, scaled_system, solution

#: Padded columns the kernel keeps per PE: x, r (and s), r~, p, v, t, diag and four halo buffers.
BICGSTAB_VECTORS = 11

#: SciPy's breakdown threshold: eps^2 of the working precision (float32 on the wafer).
BREAKDOWN = float(np.finfo(np.float32).eps) ** 2


@functools.lru_cache(maxsize=None)
def bicgstab_kernel(nz: int, rounds: int = 0) -> Dispatcher:
    """The BiCGSTAB kernel for columns of `nz` values.

    Launch on one nx x ny block: ``kernel[(1, 1), (nx, ny)](b, diag, x, info, res, nx, maxiter, atol2)``
    with (nx*ny, nz + 2) padded float32 columns; info (int32, 2) receives (iterations, SciPy's info code
    when not the iteration limit: 0 converged, -10 or -11 a breakdown, 1 the limit) and res (float32, 1)
    the last residual's squared norm."""
    ops = column_ops(nz, rounds)
    NZ, W = nz, nz + 2
    laplace, dot, local_dot, sums = ops.laplace, ops.dot, ops.local_dot, ops.block_sums
    clear_halos = ops.clear_halos
    TINY = BREAKDOWN

    @jit(boundscheck=False)  # tested: every slice is a constant of the column length
    def bicgstab(b, diag_cols, x_out, info, res, nx, maxiter, atol2):
        px, py = ws.grid(2)
        me = py * nx + px
        x = ws.local.array(W, np.float32)
        r = ws.local.array(W, np.float32)  # also SciPy's s
        rt = ws.local.array(W, np.float32)
        p = ws.local.array(W, np.float32)
        v = ws.local.array(W, np.float32)
        t = ws.local.array(W, np.float32)
        diag = ws.local.array(W, np.float32)
        bn = ws.local.array(NZ, np.float32)
        bs = ws.local.array(NZ, np.float32)
        be = ws.local.array(NZ, np.float32)
        bw = ws.local.array(NZ, np.float32)
        pair = ws.local.array(2, np.float32)  # two dot products reduced in one sweep
        scratch = ws.local.array(2, np.float32)
        clear_halos(bn, bs, be, bw)
        p[0:W] = 0.0
        v[0:W] = 0.0
        x[0:W] = 0.0
        r[0:W] = b[me, 0:W]  # x0 = 0, so r0 = b and r~ = b
        rt[0:W] = r[0:W]
        diag[0:W] = diag_cols[me, 0:W]
        rho_prev = 1.0
        alpha = 1.0
        omega = 1.0
        rr = 0.0
        it = 0
        code = 1  # the iteration limit, unless something below ends the loop
        while it < maxiter:
            pair[0] = local_dot(r, r)
            pair[1] = local_dot(rt, r)
            sums(pair, scratch)
            rr = pair[0]
            if rr < atol2:
                code = 0
                break
            rho = pair[1]
            if abs(rho) < TINY:
                code = -10
                break
            if it > 0:
                if abs(omega) < TINY:
                    code = -11
                    break
                beta = (rho / rho_prev) * (alpha / omega)
                p[1:NZ + 1] = v[1:NZ + 1] * -omega + p[1:NZ + 1]
                p[1:NZ + 1] = p[1:NZ + 1] * beta + r[1:NZ + 1]
            else:
                p[1:NZ + 1] = r[1:NZ + 1]
            laplace(p, v, diag, bn, bs, be, bw)
            rv = dot(rt, v)
            if rv == 0.0:
                code = -11
                break
            alpha = rho / rv
            r[1:NZ + 1] = v[1:NZ + 1] * -alpha + r[1:NZ + 1]  # r is now s
            rr = dot(r, r)
            if rr < atol2:
                x[1:NZ + 1] = p[1:NZ + 1] * alpha + x[1:NZ + 1]
                code = 0
                break
            laplace(r, t, diag, bn, bs, be, bw)
            pair[0] = local_dot(t, r)
            pair[1] = local_dot(t, t)
            sums(pair, scratch)
            omega = pair[0] / pair[1]
            x[1:NZ + 1] = p[1:NZ + 1] * alpha + x[1:NZ + 1]
            x[1:NZ + 1] = r[1:NZ + 1] * omega + x[1:NZ + 1]
            r[1:NZ + 1] = t[1:NZ + 1] * -omega + r[1:NZ + 1]
            rho_prev = rho
            it += 1
        if code == 1:  # the limit reached: report the last residual (SciPy reports no convergence either)
            rr = dot(r, r)
        x_out[me, 0:W] = x[0:W]
        if px == 0 and py == 0:
            info[0] = it
            info[1] = code
            res[0] = rr

    return bicgstab


@functools.partial(call_checked, hints={**SCIPY_KEYWORD_HINTS, "M": "bicgstab runs without a preconditioner "
                                                         "(conjugate_gradient takes preconditioner=\"jacobi\")"})
def bicgstab(b: np.ndarray, shift: np.ndarray | float = 0.0, rtol: float = 1e-5, atol: float = 0.0,
             maxiter: int | None = None, device: Device | None = None, stream=None) -> Solution:
    """Solve A x = b on the wafer by BiCGSTAB, A = the 7-point 3-D Laplacian (Dirichlet) + diag(shift).

    Arguments and stopping rule as `conjugate_gradient` (SciPy's: ||r|| < max(atol, rtol * ||b||)).
    Returns a `Solution`; its `info` is SciPy's code (0 converged, the iteration count at the limit, -10
    or -11 a breakdown)."""
    problem = prepare(b, shift, BICGSTAB_VECTORS, device)
    system = scaled_system(problem.b, rtol, atol)  # (||b|| far from 1 scaled towards it: exactly)
    limit = iteration_limit(problem.b.size, maxiter)
    if system.bnorm == 0.0:  # SciPy returns x = 0 at once
        return Solution(np.zeros_like(problem.b), 0, 0.0, True, 0, None)
    (nx, ny), nz = problem.block, problem.shape[0]
    with Scratch(problem.device, stream) as mem:
        d_b, d_diag = mem.put(padded_columns(system.b)), mem.put(padded_columns(problem.diag))
        d_x, d_info, d_res = mem.empty((nx * ny, nz + 2)), mem.empty(2, np.int32), mem.empty(1)
        rounds = reduction_rounds(problem.device.spec, nx, ny)  # (the tree all-reduce where the wafer has its channels)
        stats = bicgstab_kernel(nz, rounds)[(1, 1), (nx, ny), stream](
            d_b, d_diag, d_x, d_info, d_res, int(nx), limit, system.atol2)
        x = from_padded_columns(mem.get(d_x), problem.shape)
        (iterations, code), rr = mem.get(d_info), float(mem.get(d_res)[0])
    info = int(iterations) if code == 1 else int(code)
    return solution(problem, system, x, rr, iterations, code == 0, info, stats)
