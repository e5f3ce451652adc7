"""Conjugate gradient with one reduction phase an iteration (Chronopoulos and Gear, "s-step iterative
methods for symmetric linear systems", J. Comput. Appl. Math. 25, 1989; the form of Ghysels and
Vanroose, "Hiding global synchronization latency in the preconditioned conjugate gradient algorithm",
Parallel Computing 40, 2014, algorithm 3), on the operator and layout of `cg`.

Classic CG (`cg`) needs two block-wide all-reduces an iteration, one after the other (r . r, then p . Ap,
which needs p, which needs r . r), and on a wafer each costs a sweep across the block: they, not the
arithmetic, bound an iteration. This variant carries s = A p by a recurrence and applies A to the
(preconditioned) residual u instead, so that every dot product of an iteration, r . u, (A u) . u and,
preconditioned, r . r for the stopping test, is taken at the same point and reduced in one sweep:

    p = u + beta p;  s = w + beta s;  x += alpha p;  r -= alpha s;  u = M^-1 r;  w = A u
    gamma = r . u,  delta = w . u  [, r . r]          (one all-reduce of two or three words)
    beta = gamma / gamma_prev;  alpha = gamma / (delta - beta * gamma / alpha_prev)

In exact arithmetic it makes the iterates of classic CG, so it stops after the same number of iterations
by SciPy's rule (||r|| < max(atol, rtol ||b||), tested before each iteration); in float32 the recurrences
round differently and the counts may differ by one or two.
"""
from __future__ import annotations

import functools

import numpy as np

from ...compiler import intrinsics as ws
from ...runtime.jit import Dispatcher, jit
from .columns import column_ops

#: Padded columns the kernel keeps per PE: x, r, p, s, w, diag and four halo buffers; u and 1/d when
#: preconditioned (else u is r).
CG_SINGLE_VECTORS = 10
PCG_SINGLE_VECTORS = 12


@functools.lru_cache(maxsize=None)
def cg_single_kernel(nz: int, preconditioned: bool, rounds: int = 0) -> Dispatcher:
    """The single-reduction CG kernel for columns of `nz` values; arguments as `cg.cg_kernel`'s."""
    ops = column_ops(nz, rounds)
    NZ, W = nz, nz + 2
    PRE = preconditioned
    WP = W if preconditioned else 1  # u and 1/d take SRAM only when preconditioned
    NPART = 3 if preconditioned else 2  # r . u, (A u) . u and, preconditioned, r . r
    laplace, local_dot, sums = ops.laplace, ops.local_dot, ops.block_sums
    clear_halos = ops.clear_halos

    @jit(boundscheck=False)  # tested: every slice is a constant of the column length
    def cg_single(b, diag_cols, inv_cols, x_out, info, res, nx, maxiter, atol2):
        px, py = ws.grid(2)
        me = py * nx + px
        x = ws.local.array(W, np.float32)
        r = ws.local.array(W, np.float32)
        p = ws.local.array(W, np.float32)
        s = ws.local.array(W, np.float32)
        w = ws.local.array(W, np.float32)
        u = ws.local.array(WP, np.float32)
        inv = ws.local.array(WP, np.float32)
        diag = ws.local.array(W, np.float32)
        bn = ws.local.array(NZ, np.float32)
        bs = ws.local.array(NZ, np.float32)
        be = ws.local.array(NZ, np.float32)
        bw = ws.local.array(NZ, np.float32)
        part = ws.local.array(NPART, np.float32)  # this PE's dot products, then the block's sums
        scratch = ws.local.array(NPART, np.float32)
        clear_halos(bn, bs, be, bw)
        p[0:W] = 0.0
        s[0:W] = 0.0
        x[0:W] = 0.0
        r[0:W] = b[me, 0:W]  # x0 = 0, so r0 = b
        diag[0:W] = diag_cols[me, 0:W]
        if PRE:
            inv[0:W] = inv_cols[me, 0:W]
            u[0:W] = inv[0:W] * r[0:W]
            laplace(u, w, diag, bn, bs, be, bw)
            part[0] = local_dot(r, u)
            part[1] = local_dot(w, u)
            part[2] = local_dot(r, r)
            sums(part, scratch)
            rr = part[2]
        else:
            laplace(r, w, diag, bn, bs, be, bw)
            part[0] = local_dot(r, r)
            part[1] = local_dot(w, r)
            sums(part, scratch)
            rr = part[0]
        gamma = part[0]
        alpha = gamma / part[1]
        beta = 0.0
        it = 0
        done = 0
        while it < maxiter:
            if rr < atol2:
                done = 1
                break
            if PRE:
                p[1:NZ + 1] = p[1:NZ + 1] * beta + u[1:NZ + 1]
            else:
                p[1:NZ + 1] = p[1:NZ + 1] * beta + r[1:NZ + 1]
            s[1:NZ + 1] = s[1:NZ + 1] * beta + w[1:NZ + 1]
            x[1:NZ + 1] = p[1:NZ + 1] * alpha + x[1:NZ + 1]
            r[1:NZ + 1] = s[1:NZ + 1] * -alpha + r[1:NZ + 1]
            if PRE:
                u[1:NZ + 1] = inv[1:NZ + 1] * r[1:NZ + 1]
                laplace(u, w, diag, bn, bs, be, bw)
                part[0] = local_dot(r, u)
                part[1] = local_dot(w, u)
                part[2] = local_dot(r, r)
                sums(part, scratch)
                rr = part[2]
            else:
                laplace(r, w, diag, bn, bs, be, bw)
                part[0] = local_dot(r, r)
                part[1] = local_dot(w, r)
                sums(part, scratch)
                rr = part[0]
            beta = part[0] / gamma
            alpha = part[0] / (part[1] - beta * part[0] / alpha)
            gamma = part[0]
            it += 1
        x_out[me, 0:W] = x[0:W]
        if px == 0 and py == 0:
            info[0] = it
            info[1] = done
            res[0] = rr

    return cg_single
