"""The power method for the largest eigenvalue of the operator of `cg` (the 7-point 3-D Laplacian plus a
diagonal shift, symmetric), in one launch, with the layout of `columns`.

From a start vector x (normalised on the wafer), each iteration computes y = A x (one halo exchange),
the Rayleigh quotient lambda = x . y (x has unit norm) and ||y||, and sets x = y / ||y||: the two dot
products are reduced together (`columns.block_sums`). It stops after the iteration where
|lambda - lambda_prev| <= tol * |lambda|, or after `maxiter` iterations. The error of lambda falls like
(lambda_2 / lambda_1)^(2k) for a symmetric operator.
"""
from __future__ import annotations

import dataclasses
import functools
import math

import numpy as np

from ...arch.values import whole_argument
from ...compiler import intrinsics as ws
from ...errors import ArgumentError, ArgumentTypeError, call_checked
from ...runtime.device import Device
from ...runtime.jit import Dispatcher, jit
from ...sim.stats import LaunchStats
from ..hosting import Scratch, shape_argument
from .columns import column_ops, from_padded_columns, padded_columns, reduction_rounds
from .setup import check_tolerance, iteration_limit, prepare, scaled, unit_scale

#: Padded columns the kernel keeps per PE: x, y, diag and four halo buffers.
POWER_VECTORS = 7


@dataclasses.dataclass
class Eigenpair:
    """What `power_method` returns: the eigenvalue estimate (the last Rayleigh quotient), the unit
    eigenvector estimate as an (nz, ny, nx) grid (A x / ||A x|| of the last iteration), the iterations
    done, whether the tolerance was reached, and the launch's stats."""

    value: float
    vector: np.ndarray
    iterations: int
    converged: bool
    stats: LaunchStats


@functools.lru_cache(maxsize=None)
def power_kernel(nz: int, rounds: int = 0) -> Dispatcher:
    """The kernel for columns of `nz` values. Launch on one nx x ny block:
    ``kernel[(1, 1), (nx, ny)](x0, diag, x_out, info, value, nx, maxiter, tol)`` with (nx*ny, nz + 2)
    padded float32 columns; info (int32, 2) receives (iterations, converged), value (float32, 1) lambda."""
    ops = column_ops(nz, rounds)
    NZ, W = nz, nz + 2
    laplace, dot, local_dot, sums = ops.laplace, ops.dot, ops.local_dot, ops.block_sums
    clear_halos = ops.clear_halos

    @jit(boundscheck=False)  # tested: every slice is a constant of the column length
    def power(x0, diag_cols, x_out, info, value, nx, maxiter, tol):
        px, py = ws.grid(2)
        me = py * nx + px
        x = ws.local.array(W, np.float32)
        y = ws.local.array(W, np.float32)
        diag = ws.local.array(W, np.float32)
        bn = ws.local.array(NZ, np.float32)
        bs = ws.local.array(NZ, np.float32)
        be = ws.local.array(NZ, np.float32)
        bw = ws.local.array(NZ, np.float32)
        pair = ws.local.array(2, np.float32)  # x . y and y . y, reduced in one sweep
        scratch = ws.local.array(2, np.float32)
        clear_halos(bn, bs, be, bw)
        y[0:W] = 0.0
        x[0:W] = x0[me, 0:W]
        diag[0:W] = diag_cols[me, 0:W]
        x[1:NZ + 1] = x[1:NZ + 1] * (1.0 / math.sqrt(dot(x, x)))
        lam = 0.0
        lam_prev = 0.0
        it = 0
        done = 0
        while it < maxiter:
            laplace(x, y, diag, bn, bs, be, bw)
            pair[0] = local_dot(x, y)
            pair[1] = local_dot(y, y)
            sums(pair, scratch)
            lam = pair[0]
            x[1:NZ + 1] = y[1:NZ + 1] * (1.0 / math.sqrt(pair[1]))
            it += 1
            if abs(lam - lam_prev) <= tol * abs(lam):
                done = 1
                break
            lam_prev = lam
        x_out[me, 0:W] = x[0:W]
        if px == 0 and py == 0:
            info[0] = it
            info[1] = done
            value[0] = lam

    return power


def _check_reaches_the_largest(x0: np.ndarray, diag: np.ndarray) -> None:
    """Refuse a start vector with no component along A's dominant eigenvector where that vector is known: a
    uniform shift, where it is the product over the axes of sin(pi n (j + 1) / (n + 1)), j < n. Along an axis
    of even length that vector is antisymmetric, so a symmetric start (np.ones on a (1, 1, 2) grid) is
    orthogonal to it: the iteration settled on a smaller eigenvalue (5 where the largest is 7) and reported
    it converged. (A cosine below float32's rounding is no start either.) A grid shift's dominant
    eigenvector is not known here: the docs say so."""
    if np.ptp(diag) != 0:
        return
    top = functools.reduce(np.multiply.outer, [np.sin(np.pi * n * np.arange(1, n + 1) / (n + 1)) for n in x0.shape])
    x = x0.astype(np.float64)
    cosine = abs(float(np.vdot(x, top))) / (float(np.linalg.norm(x)) * float(np.linalg.norm(top)))
    if cosine < _LEAST_COSINE:
        raise ArgumentError(f"the start vector x0 has no component along the dominant eigenvector of A (cosine "
                            f"{cosine:.1e}; on a grid with an axis of even length that vector is antisymmetric, so a "
                            f"symmetric x0 such as np.ones is orthogonal to it): the power method would settle on a "
                            f"smaller eigenvalue; pass the grid's shape for a random start, or another x0",
                            cosine=cosine)


_LEAST_COSINE = 1e-6  # (float32's rounding gives a start of about 1e-7 along any direction anyway)


@call_checked
def power_method(shape_or_x0: tuple[int, int, int] | np.ndarray, shift: np.ndarray | float = 0.0,
                 tol: float = 1e-6, maxiter: int = 1000, seed: int = 0, device: Device | None = None,
                 stream=None) -> Eigenpair:
    """The largest eigenvalue of A = the 7-point 3-D Laplacian (Dirichlet) + diag(shift), by the power
    method on the wafer.

    `shape_or_x0` is the grid's (nz, ny, nx) shape (the start vector is then uniform random in [-1, 1)
    from `seed`) or a start vector of that shape (not all zero). Stops when the Rayleigh quotient changes
    by at most `tol` relatively, or after `maxiter` iterations. Returns an `Eigenpair`."""
    if isinstance(shape_or_x0, tuple):
        shape = shape_argument(shape_or_x0, "shape_or_x0", 3)
        seed = whole_argument(seed, "seed")  # (NumPy's own refusals are a bare ValueError or TypeError)
        x0 = np.random.default_rng(seed).uniform(-1.0, 1.0, size=shape).astype(np.float32)
    elif isinstance(shape_or_x0, list) and len(shape_or_x0) == 3 and all(
            isinstance(v, (int, np.integer)) for v in shape_or_x0):
        # (read as a 1-D start vector of 3 values: "x0 must be a 3-D array, got shape (3,)", which hid the slip)
        raise ArgumentTypeError(f"shape_or_x0 is a list {shape_or_x0!r}: give a grid's shape as a tuple "
                                f"{tuple(shape_or_x0)!r}, or a start vector as a 3-D (nz, ny, nx) array")
    else:
        x0 = shape_or_x0
    problem = prepare(x0, shift, POWER_VECTORS, device, name="x0")
    if not np.any(problem.b):
        raise ArgumentError("the start vector x0 is all zero: the power method needs a nonzero start")
    _check_reaches_the_largest(problem.b, problem.diag)
    # Only x0's direction matters, but the kernel normalises it in float32: a norm beyond about 1e19
    # overflowed its square (x became 0: value 0.0, "converged"), one below about 1e-19 underflowed (NaN).
    # A power of two brings the norm to about 1 exactly, without changing the direction.
    problem.b = scaled(problem.b, unit_scale(float(np.linalg.norm(problem.b.astype(np.float64)))))
    tol = check_tolerance(tol, "tol")  # (a str was math.isfinite's bare TypeError)
    limit = iteration_limit(problem.b.size, maxiter)
    (nx, ny), nz = problem.block, problem.shape[0]
    with Scratch(problem.device, stream) as mem:
        d_x0, d_diag = mem.put(padded_columns(problem.b)), mem.put(padded_columns(problem.diag))
        d_x, d_info, d_value = mem.empty((nx * ny, nz + 2)), mem.empty(2, np.int32), mem.empty(1)
        rounds = reduction_rounds(problem.device.spec, nx, ny)  # (the tree all-reduce where the wafer has its channels)
        stats = power_kernel(nz, rounds)[(1, 1), (nx, ny), stream](
            d_x0, d_diag, d_x, d_info, d_value, int(nx), limit, np.float32(tol))
        vector = from_padded_columns(mem.get(d_x), problem.shape)
        (iterations, done), value = mem.get(d_info), float(mem.get(d_value)[0])
    return Eigenpair(value, vector, int(iterations), bool(done), stats)
