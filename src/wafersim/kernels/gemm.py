"""Dense matrix multiply C = A @ B on a P x P block of PEs: SUMMA by nearest-neighbour forwarding.

PE (px, py) keeps the T x T tiles A[py, px], B[py, px] and C[py, px] of the n x n matrices (n = P * T)
in its SRAM, as 1-D row-major local arrays. For k in 0..P-1:

- the PEs of column k send their A tile east and west along their row, one tile row (T words) at a time;
  the other PEs of the row receive each tile row and forward it on (a pipelined row broadcast, no
  wrap-around links);
- the PEs of row k do the same with their B tile north and south along their column (channel 1);
- every PE accumulates C += A[py, k] @ B[k, px] as T * T vector fused multiply-adds over tile rows:
  ``c[i*T:(i+1)*T] = a_k[i*T + kk] * b_k[kk*T:(kk+1)*T] + c[i*T:(i+1)*T]``.

The FLOPs are exactly the fma work: 2 * n**3 (each vfma element counts 2). Tiles move between global
memory and SRAM with one bulk copy per tile row.
"""
from __future__ import annotations

import functools

import numpy as np

from .. import compiler  # noqa: F401  (the kernel language)
from ..arch.spec import WaferSpec
from ..compiler import intrinsics as ws
from ..runtime.device import Device
from ..runtime.jit import Dispatcher, jit
from ..sim.stats import LaunchStats

# SRAM words a tile may use: five T x T float32 tiles (A, B, C and the two received panels).
_TILES = 5


@functools.lru_cache(maxsize=None)
def gemm_kernel(tile: int) -> Dispatcher:
    """The SUMMA kernel for T x T tiles (T = `tile`); local-array shapes are compile-time constants.

    Launch on one P x P block: ``kernel[(1, 1), (P, P)](a, b, c, P)`` with n x n float32 device arrays."""
    if tile < 1:
        raise ValueError(f"tile must be positive, got {tile}")
    T = tile
    TT = tile * tile

    @jit
    def gemm_summa(a, b, c, p):
        px, py = ws.grid(2)
        at = ws.local.array(TT, np.float32)  # this PE's A tile
        bt = ws.local.array(TT, np.float32)  # this PE's B tile
        ak = ws.local.array(TT, np.float32)  # A[py, k], received along the row
        bk = ws.local.array(TT, np.float32)  # B[k, px], received along the column
        ct = ws.local.array(TT, np.float32)  # the C tile being accumulated
        gx = px * T
        gy = py * T
        for i in range(T):
            at[i * T:i * T + T] = a[gy + i, gx:gx + T]
            bt[i * T:i * T + T] = b[gy + i, gx:gx + T]
        ct[0:TT] = 0.0
        has_e = ws.has_neighbor(ws.EAST)
        has_w = ws.has_neighbor(ws.WEST)
        has_n = ws.has_neighbor(ws.NORTH)
        has_s = ws.has_neighbor(ws.SOUTH)
        for k in range(p):
            # Row broadcast of A[py, k] from column k, east and west, one tile row at a time.
            if px == k:
                ak[0:TT] = at[0:TT]
                for i in range(T):
                    if has_e:
                        ws.send(ws.EAST, ak[i * T:i * T + T])
                    if has_w:
                        ws.send(ws.WEST, ak[i * T:i * T + T])
            elif px > k:
                for i in range(T):
                    ws.recv(ws.WEST, out=ak[i * T:i * T + T])
                    if has_e:
                        ws.send(ws.EAST, ak[i * T:i * T + T])
            else:
                for i in range(T):
                    ws.recv(ws.EAST, out=ak[i * T:i * T + T])
                    if has_w:
                        ws.send(ws.WEST, ak[i * T:i * T + T])
            # Column broadcast of B[k, px] from row k, north and south.
            if py == k:
                bk[0:TT] = bt[0:TT]
                for i in range(T):
                    if has_s:
                        ws.send(ws.SOUTH, bk[i * T:i * T + T], channel=1)
                    if has_n:
                        ws.send(ws.NORTH, bk[i * T:i * T + T], channel=1)
            elif py > k:
                for i in range(T):
                    ws.recv(ws.NORTH, out=bk[i * T:i * T + T], channel=1)
                    if has_s:
                        ws.send(ws.SOUTH, bk[i * T:i * T + T], channel=1)
            else:
                for i in range(T):
                    ws.recv(ws.SOUTH, out=bk[i * T:i * T + T], channel=1)
                    if has_n:
                        ws.send(ws.NORTH, bk[i * T:i * T + T], channel=1)
            # C += A_k @ B_k: one vector fma per (row i, inner index kk).
            for i in range(T):
                ci = i * T
                for kk in range(T):
                    ct[ci:ci + T] = ak[ci + kk] * bk[kk * T:kk * T + T] + ct[ci:ci + T]
        for i in range(T):
            c[gy + i, gx:gx + T] = ct[i * T:i * T + T]

    return gemm_summa


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
        raise ValueError(f"gemm takes two square matrices of the same shape, got {a.shape} and {b.shape}")
    n = a.shape[0]
    if p < 1 or n % p:
        raise ValueError(f"p = {p} must divide n = {n}")
    tile = n // p
    device = device or Device(WaferSpec(width=p, height=p))
    words = _TILES * tile * tile
    if words * 4 >= device.spec.sram_bytes:
        raise ValueError(f"{_TILES} tiles of {tile} x {tile} float32 ({words * 4} bytes) do not fit the "
                         f"{device.spec.sram_bytes}-byte SRAM of a PE: use a larger p")
    d_a, d_b = device.to_device(a, stream=stream), device.to_device(b, stream=stream)
    d_c = device.device_array((n, n), np.float32)
    stats = gemm_kernel(tile)[(1, 1), (p, p), stream](d_a, d_b, d_c, int(p))
    return d_c.copy_to_host(stream=stream), stats
