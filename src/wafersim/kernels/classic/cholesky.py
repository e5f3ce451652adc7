"""Cholesky factorisation A = L L^T of a symmetric positive definite float32 matrix on a row of PEs.

**Layout.** The n columns are dealt out cyclically over a row of P PEs (a 1-D block-cyclic distribution
with blocks of one column): PE x holds columns x, x + P, x + 2P, ..., each as a contiguous vector of n
words in its SRAM. Dealing columns out cyclically keeps every PE busy to the end: the trailing matrix
shrinks evenly on all of them.

**Algorithm** (right-looking, one column per step): for k = 0 .. n-1,

1. the PE owning column k takes the pivot a_kk; if it is positive, l_kk = sqrt(a_kk) and the column below
   is scaled by 1 / l_kk (one vector multiply);
2. the column l[k:n, k] (the pivot first) is broadcast along the row of PEs: by default in one send to
   the owner's router, which multicasts it along a row bus (docs/routes.md), so no other PE spends an
   instruction on passing it on; with `routed=False`, east and west in chunks of 16 words (`fifo_depth`)
   that every PE receives and sends on (a pipeline, but a receive and a send per chunk on every PE);
3. every PE updates each of its columns j > k: a[j:n, j] -= l_jk * l[j:n, k], one vector fused
   multiply-add of n - j elements. The owner of column k + 1 updates that column first, factors it and
   sends it on (look-ahead) before its other updates, so the broadcast of column k + 1 overlaps the
   updates of step k everywhere (two column buffers alternate between steps).

**Not positive definite.** Every PE reads the pivot at the head of the broadcast; if it is not positive
(or NaN), all of them stop at that step (so no PE waits for a column that never comes), and the owner
records k and the pivot in global memory. The host raises `NotPositiveDefiniteError` naming the leading
minor, as LAPACK's `potrf` reports it (info = k + 1).

FLOPs counted: n**3 / 3 + O(n**2): the fmas (2 per element), the scaling and one reciprocal per column
(`cholesky_flops`). Only the lower triangle of A is read, as in `numpy.linalg.cholesky`.
"""
from __future__ import annotations

import functools
import math

import numpy as np

from ...arch.values import whole_argument
from ...compiler import intrinsics as ws
from ...errors import ArgumentError, ArgumentTypeError, call_checked
from ...runtime.device import Device
from ...runtime.jit import Dispatcher, jit
from ...sim.stats import LaunchStats
from ..hosting import Scratch, float32_input
from .common import check_fits_sram, line_device

#: Words per message of the forwarded column broadcast: one FIFO's worth (`WaferSpec.fifo_depth` on every
#: preset), so a forwarding PE passes a chunk on while the next arrives.
CHUNK = 16
#: The channel of the routed column broadcast (a row bus: any PE's words reach every other PE of the row).
BUS = 1


class NotPositiveDefiniteError(ArgumentError):
    """A matrix given to `cholesky` that is not (numerically, in float32) positive definite; `column` is the
    step k at which the pivot was not positive and `pivot` its value."""


@functools.lru_cache(maxsize=None)
def cholesky_kernel(n: int, p: int, routed: bool = True) -> Dispatcher:
    """The kernel for an n x n matrix on a row of p PEs (compile-time sizes); `routed`: columns broadcast by
    the routers' multicast (a row bus on channel `BUS`), else forwarded by every PE's core. Launch
    ``kernel[(1, 1), (p, 1)](cols, status, pivot)``: `cols` the (p, n*n/p) float32 array of `to_cyclic_columns`
    (overwritten with L), `status` an int32 [-1], `pivot` a float32 [0]."""
    N, P = n, p
    ROUTED = routed and p > 1
    C = n // p  # columns per PE
    CN = C * N

    @jit
    def factor_and_send(cols, lk, k, boff, has_e, has_w):
        """On the owner of column k: the pivot into lk[boff + k], and if it is positive, l_kk and the scaled
        column below it, into place and into lk; then lk[boff + k:boff + N] goes east and west."""
        base = (k // P) * N
        piv = cols[base + k]
        lk[boff + k] = piv
        if piv > 0.0:
            d = math.sqrt(piv)
            cols[base + k] = d
            cols[base + k + 1:base + N] = cols[base + k + 1:base + N] * (1.0 / d)
            lk[boff + k + 1:boff + N] = cols[base + k + 1:base + N]
        if ROUTED:  # folded at compile time
            ws.send(ws.RAMP, lk[boff + k:boff + N], channel=BUS)  # one send: the routers copy it along the row
        else:
            for o in range(boff + k, boff + N, CHUNK):
                e = min(o + CHUNK, boff + N)
                if has_e:
                    ws.send(ws.EAST, lk[o:e])
                if has_w:
                    ws.send(ws.WEST, lk[o:e])

    @jit
    def update(cols, lk, boff, lj, x):
        """Column j = x + P * lj (local index lj) -= l_jk * l[j:n, k], over rows j..n-1 (column k at boff)."""
        j = x + P * lj
        cols[lj * N + j:lj * N + N] = lk[boff + j:boff + N] * (-lk[boff + j]) + cols[lj * N + j:lj * N + N]

    @jit(boundscheck=False)  # the indices follow from n and p alone; the tests check L against NumPy
    def cholesky_columns(cols_g, status, pivot):
        x = ws.threadIdx.x
        cols = ws.local.array(CN, np.float32)  # this PE's columns, each n words
        lk = ws.local.array(2 * N, np.float32)  # column k at (k % 2) * N: the pivot, then l[k+1:n, k]
        cols[0:CN] = cols_g[x, 0:CN]
        has_e = ws.has_neighbor(ws.EAST)
        has_w = ws.has_neighbor(ws.WEST)
        if ROUTED:
            ws.use_route(BUS, "row_bus")
        if x == 0:
            factor_and_send(cols, lk, 0, 0, has_e, has_w)
        for k in range(N):
            owner = k % P
            boff = (k & 1) * N
            if ROUTED:
                if x != owner:
                    ws.recv(ws.RAMP, out=lk[boff + k:boff + N], channel=BUS)
            elif x > owner:
                for o in range(boff + k, boff + N, CHUNK):
                    e = min(o + CHUNK, boff + N)
                    ws.recv(ws.WEST, out=lk[o:e])
                    if has_e:
                        ws.send(ws.EAST, lk[o:e])
            elif x < owner:
                for o in range(boff + k, boff + N, CHUNK):
                    e = min(o + CHUNK, boff + N)
                    ws.recv(ws.EAST, out=lk[o:e])
                    if has_w:
                        ws.send(ws.WEST, lk[o:e])
            if not lk[boff + k] > 0.0:  # every PE sees the same pivot, so all stop at the same step
                if x == owner:
                    status[0] = k
                    pivot[0] = lk[boff + k]
                break
            # Trailing update of this PE's columns j > k (local index lj, j = x + P * lj). Look-ahead: the
            # owner of column k + 1 updates it first and sends it on before its other columns, so the next
            # broadcast travels while every PE is still busy with this step's updates.
            first = (k + P - x) // P
            if k + 1 < N and x == (k + 1) % P:
                update(cols, lk, boff, first, x)
                factor_and_send(cols, lk, k + 1, N - boff, has_e, has_w)
                first += 1
            for lj in range(first, C):
                update(cols, lk, boff, lj, x)
        cols_g[x, 0:CN] = cols[0:CN]

    return cholesky_columns


def to_cyclic_columns(a: np.ndarray, p: int) -> np.ndarray:
    """(n, n) -> (p, n*n/p): row x holds columns x, x + p, ... of `a`, each contiguous."""
    n = a.shape[0]
    return np.ascontiguousarray(a.T.reshape(n // p, p, n).transpose(1, 0, 2).reshape(p, -1))


def from_cyclic_columns(cols: np.ndarray, p: int, n: int) -> np.ndarray:
    """The inverse of `to_cyclic_columns`."""
    return np.ascontiguousarray(cols.reshape(p, n // p, n).transpose(1, 0, 2).reshape(n, n).T)


def cholesky_flops(n: int) -> int:
    """FLOPs the kernel counts: at step k, the reciprocal (1) and scaling (n-k-1) of column k and the fmas
    (2 each) updating every column j > k over rows j..n-1, which sums to (n-k)**2, and over k to
    n (n+1) (2n+1) / 6 = n**3 / 3 + O(n**2). n is a whole number >= 1 (an `ArgumentError` otherwise,
    `ArgumentTypeError` for a non-integer: -1 gave 0, 2.5 gave 8.0)."""
    n = whole_argument(n, "cholesky_flops: n", 1)
    return n * (n + 1) * (2 * n + 1) // 6


@call_checked
def cholesky(a: np.ndarray, p: int, device: Device | None = None, stream=None,
             routed: bool = True) -> tuple[np.ndarray, LaunchStats]:
    """The lower-triangular L (float32) with A = L L^T, like `numpy.linalg.cholesky`, on a row of `p` PEs.

    Only the lower triangle of the square matrix `a` is read. p must divide n. `routed=False` forwards each
    column through every PE's core instead of the routers' multicast (for comparison). Raises
    `NotPositiveDefiniteError` (naming the leading minor and its pivot) when a pivot is not positive in
    float32. `device` defaults to a p x 1 wafer. Returns (L, LaunchStats)."""
    a = np.asarray(a)
    if a.ndim != 2 or a.shape[0] != a.shape[1] or a.size == 0:
        raise ArgumentError(f"cholesky takes a square matrix, got shape {a.shape}", shape=a.shape)
    if np.iscomplexobj(a):
        raise ArgumentError("cholesky takes a real matrix (float32 on the wafer), got a complex one")
    if not isinstance(routed, (bool, np.bool_)):  # (any object was taken as its truth: routed="no" routed)
        raise ArgumentTypeError(f"cholesky: routed must be True or False, got {routed!r}")
    n = a.shape[0]
    p, device = line_device("cholesky", p, device)
    if n % p:
        raise ArgumentError(f"cholesky: p = {p} PEs must divide n = {n}", size=n)
    check_fits_sram(f"cholesky of a {n} x {n} matrix over {p} PEs ({n // p} columns each)", n * n // p + n,
                    device.spec)
    # Only the lower triangle is read, so only it is converted: a value above the diagonal that float32
    # cannot hold (1e300, 2**40: garbage NumPy ignores) was refused though it is never used.
    cols = to_cyclic_columns(float32_input(np.tril(a), "a"), p)
    with Scratch(device, stream) as mem:
        d_cols = mem.put(cols)
        d_status, d_pivot = mem.put(np.array([-1], np.int32)), mem.empty(1)
        stats = cholesky_kernel(n, p, bool(routed))[(1, 1), (p, 1), stream](d_cols, d_status, d_pivot)
        failed = int(mem.get(d_status)[0])
        if failed >= 0:
            pivot = float(mem.get(d_pivot)[0])
            raise NotPositiveDefiniteError(
                f"cholesky: the matrix is not positive definite: the leading minor of order {failed + 1} is not "
                f"(pivot {pivot:.6g} <= 0 at column {failed} of {n}, in float32)", column=failed, pivot=pivot,
                size=n)
        return np.tril(from_cyclic_columns(mem.get(d_cols), p, n)), stats
