"""Dense matrix multiply C = A @ B on a P x P block of PEs: SUMMA over routed multicast.

PE (px, py) keeps the T x T tiles A[py, px], B[py, px] and C[py, px] of the n x n matrices (n = P * T)
in its SRAM, as 1-D row-major local arrays. For k in 0..P-1:

- the PEs of column k hand their A tile to their routers once; a row bus (channel 0) copies it to every
  PE of the row, which receives it without forwarding anything itself (the routers do);
- the PEs of row k do the same with their B tile over a column bus (channel 1);
- every PE accumulates C += A[py, k] @ B[k, px] as T * T vector fused multiply-adds over tile rows:
  ``c[i*T:(i+1)*T] = a_k[i*T + kk] * b_k[kk*T:(kk+1)*T] + c[i*T:(i+1)*T]``, R rows of C at a time
  (register blocking: each row of B is addressed once for R fmas).

The FLOPs are exactly the fma work: 2 * n**3 (each vfma element counts 2).

Global memory holds the matrices tile-blocked: a (P*P, T*T) array whose row py*P + px is tile (py, px)
row-major (`to_tiles` / `from_tiles` convert). Each PE then moves a whole tile with one bulk copy, so it
pays the off-wafer latency (`global_latency`, 500 cycles) once per tile instead of once per tile row.
"""
from __future__ import annotations

import functools

import numpy as np

from ..compiler import intrinsics as ws
from ..errors import ArgumentError
from ..runtime.device import Device
from ..runtime.jit import Dispatcher, jit
from ..sim.stats import LaunchStats
from .hosting import Scratch, fitting_device

# SRAM a PE needs: five T x T float32 tiles (A, B, C and the two received panels).
_TILES = 5


@jit
def share_tile(mine, own, panel, channel):
    """A SUMMA panel step: the PE whose turn it is (`mine`) copies its tile `own` into `panel` and hands it
    to its router on `channel` (a bus route multicasts it along its row or column); the others receive it
    into `panel`."""
    if mine:
        panel[:] = own[:]
        ws.send(ws.RAMP, panel[:], channel=channel)
    else:
        ws.recv(ws.RAMP, out=panel[:], channel=channel)


@jit
def tile_product(ak, bk, ct, T):
    """C += A_k @ B_k for T x T row-major tiles in local arrays (T a constant): for each kk, C[i, :] +=
    A[i, kk] * B[kk, :], one vector fma per row of C (kernels.ml.mixed: a float32 A_k and C, a 16-bit B_k).

    Register blocking when 8 divides T: 8 rows of C at a time share each row of B (its address computed once
    for 8 fmas) and 4 steps of kk run per trip. The compiler hoists the row addresses of C out of the kk
    loop and strength-reduces the B row address, leaving per vector fma one scalar load of A[i, kk] (and an
    add per 8 fmas)."""
    if T % 8 == 0:  # folded at compile time; the tuples below are unrolled
        for i0 in range(0, T * T, 8 * T):
            bo = 0
            for kk in range(0, T, 4):
                ai = i0 + kk
                for u in (0, 1, 2, 3):
                    for r in (0, 1, 2, 3, 4, 5, 6, 7):
                        ct[i0 + r * T:i0 + r * T + T] = (ak[ai + r * T + u] * bk[bo + u * T:bo + u * T + T]
                                                         + ct[i0 + r * T:i0 + r * T + T])
                bo += 4 * T
    else:
        for ci in range(0, T * T, T):
            for kk in range(T):
                ct[ci:ci + T] = ak[ci + kk] * bk[kk * T:kk * T + T] + ct[ci:ci + T]


@functools.lru_cache(maxsize=None)
def gemm_kernel(tile: int) -> Dispatcher:
    """The SUMMA kernel for T x T tiles (T = `tile`); local-array shapes are compile-time constants.

    Launch on one P x P block: ``kernel[(1, 1), (P, P)](a, b, c, P)`` with tile-blocked (P*P, T*T) float32
    device arrays (see `to_tiles`)."""
    if tile < 1:
        raise ArgumentError(f"tile must be positive, got {tile}")
    T = tile
    TT = tile * tile

    @jit(boundscheck=False)  # tuned and tested: the checks would cost a third of its speed
    def gemm_summa(a, b, c, p):
        px, py = ws.grid(2)
        at = ws.local.array(TT, np.float32)  # this PE's A tile
        bt = ws.local.array(TT, np.float32)  # this PE's B tile
        ak = ws.local.array(TT, np.float32)  # A[py, k], received along the row
        bk = ws.local.array(TT, np.float32)  # B[k, px], received along the column
        ct = ws.local.array(TT, np.float32)  # the C tile being accumulated
        me = py * p + px  # this PE's row of the tile-blocked (P*P, T*T) arrays
        at[0:TT] = a[me, 0:TT]  # one bulk copy per tile
        bt[0:TT] = b[me, 0:TT]
        ct[0:TT] = 0.0
        ws.use_route(0, "row_bus")  # A[py, k] from column k to its whole row: one multicast
        ws.use_route(1, "column_bus")  # B[k, px] from row k to its whole column
        for k in range(p):
            share_tile(px == k, at, ak, 0)
            share_tile(py == k, bt, bk, 1)
            tile_product(ak, bk, ct, T)
        c[me, 0:TT] = ct[0:TT]

    return gemm_summa


def to_tiles(m: np.ndarray, p: int) -> np.ndarray:
    """An (n, n) matrix as a (p*p, T*T) array whose row py*p + px is tile (py, px), row-major (n = p * T)."""
    n = m.shape[0]
    t = n // p
    return np.ascontiguousarray(m.reshape(p, t, p, t).transpose(0, 2, 1, 3).reshape(p * p, t * t))


def from_tiles(tiles: np.ndarray, p: int) -> np.ndarray:
    """The inverse of `to_tiles`."""
    t = int(round(np.sqrt(tiles.shape[1])))
    return np.ascontiguousarray(tiles.reshape(p, p, t, t).transpose(0, 2, 1, 3).reshape(p * t, p * t))


def gemm_flops(n: int) -> int:
    """FLOPs the kernel counts for an n x n product: n**3 fused multiply-adds of 2 FLOPs each."""
    return 2 * n ** 3


def gemm(a: np.ndarray, b: np.ndarray, p: int, device: Device | None = None,
         stream=None) -> tuple[np.ndarray, LaunchStats]:
    """C = A @ B for square n x n float32 matrices on a `p` x `p` block of PEs (n = p * T, T x T tiles).

    `device` defaults to a `p` x `p` wafer (just large enough). Returns (C as a NumPy array, LaunchStats)."""
    a = np.ascontiguousarray(a, dtype=np.float32)
    b = np.ascontiguousarray(b, dtype=np.float32)
    if a.ndim != 2 or a.shape[0] != a.shape[1] or a.shape != b.shape:
        raise ArgumentError(f"gemm takes two square matrices of the same shape, got {a.shape} and {b.shape}")
    n = a.shape[0]
    if p < 1 or n % p:
        raise ArgumentError(f"p = {p} must divide n = {n}")
    tile = n // p
    device = device or fitting_device(p, p)
    words = _TILES * tile * tile
    if words * 4 >= device.spec.sram_bytes:
        raise ArgumentError(f"{_TILES} tiles of {tile} x {tile} float32 ({words * 4} bytes) do not fit the "
                         f"{device.spec.sram_bytes}-byte SRAM of a PE: use a larger p")
    with Scratch(device, stream) as mem:
        d_a, d_b, d_c = mem.put(to_tiles(a, p)), mem.put(to_tiles(b, p)), mem.empty((p * p, tile * tile))
        stats = gemm_kernel(tile)[(1, 1), (p, p), stream](d_a, d_b, d_c, int(p))
        return from_tiles(mem.get(d_c), p), stats
