"""Dense matrix multiply C = A @ B on a P x P block of PEs: SUMMA by nearest-neighbour forwarding.

PE (px, py) keeps the T x T tiles A[py, px], B[py, px] and C[py, px] of the n x n matrices (n = P * T)
in its SRAM, as 1-D row-major local arrays. For k in 0..P-1:

- the PEs of column k send their A tile east and west along their row, one tile row (T words) at a time;
  the other PEs of the row receive each tile row and forward it on (a pipelined row broadcast, no
  wrap-around links);
- the PEs of row k do the same with their B tile north and south along their column (channel 1);
- every PE accumulates C += A[py, k] @ B[k, px] as T * T vector fused multiply-adds over tile rows:
  ``c[i*T:(i+1)*T] = a_k[i*T + kk] * b_k[kk*T:(kk+1)*T] + c[i*T:(i+1)*T]``.

The FLOPs are exactly the fma work: 2 * n**3 (each vfma element counts 2).

Global memory holds the matrices tile-blocked: a (P*P, T*T) array whose row py*P + px is tile (py, px)
row-major (`to_tiles` / `from_tiles` convert). Each PE then moves a whole tile with one bulk copy, so it
pays the off-wafer latency (`global_latency`, 500 cycles) once per tile instead of once per tile row.
"""
from __future__ import annotations

import functools

import numpy as np

from ..arch.spec import WaferSpec
from ..compiler import intrinsics as ws
from ..runtime.device import Device
from ..runtime.jit import Dispatcher, jit
from ..sim.stats import LaunchStats

# SRAM a PE needs: five T x T float32 tiles (A, B, C and the two received panels) and a row.
_TILES = 5


@functools.lru_cache(maxsize=None)
def gemm_kernel(tile: int) -> Dispatcher:
    """The SUMMA kernel for T x T tiles (T = `tile`); local-array shapes are compile-time constants.

    Launch on one P x P block: ``kernel[(1, 1), (P, P)](a, b, c, P)`` with tile-blocked (P*P, T*T) float32
    device arrays (see `to_tiles`)."""
    if tile < 1:
        raise ValueError(f"tile must be positive, got {tile}")
    T = tile
    TT = tile * tile
    T2, T3, T4 = 2 * tile, 3 * tile, 4 * tile

    @jit(boundscheck=False)  # tuned and tested: the checks would cost a third of its speed
    def gemm_summa(a, b, c, p):
        px, py = ws.grid(2)
        at = ws.local.array(TT, np.float32)  # this PE's A tile
        bt = ws.local.array(TT, np.float32)  # this PE's B tile
        ak = ws.local.array(TT, np.float32)  # A[py, k], received along the row
        bk = ws.local.array(TT, np.float32)  # B[k, px], received along the column
        ct = ws.local.array(TT, np.float32)  # the C tile being accumulated
        crow = ws.local.array(T, np.float32)  # one row of C while it accumulates
        me = py * p + px  # this PE's row of the tile-blocked (P*P, T*T) arrays
        at[0:TT] = a[me, 0:TT]  # one bulk copy per tile
        bt[0:TT] = b[me, 0:TT]
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
            # C += A_k @ B_k, row by row: the row accumulates in crow (a fixed address and length, so the
            # vector fma needs no address arithmetic for its destination), T vector fmas per row.
            for i in range(T):
                ci = i * T
                crow[0:T] = ct[ci:ci + T]
                bo = 0
                if T % 4 == 0:  # folded at compile time: unrolled by 4
                    for kk in range(0, T, 4):
                        ai = ci + kk
                        crow[0:T] = ak[ai] * bk[bo:bo + T] + crow[0:T]
                        crow[0:T] = ak[ai + 1] * bk[bo + T:bo + T2] + crow[0:T]
                        crow[0:T] = ak[ai + 2] * bk[bo + T2:bo + T3] + crow[0:T]
                        crow[0:T] = ak[ai + 3] * bk[bo + T3:bo + T4] + crow[0:T]
                        bo += T4
                else:
                    for kk in range(T):
                        crow[0:T] = ak[ci + kk] * bk[bo:bo + T] + crow[0:T]
                        bo += T
                ct[ci:ci + T] = crow[0:T]
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
        raise ValueError(f"gemm takes two square matrices of the same shape, got {a.shape} and {b.shape}")
    n = a.shape[0]
    if p < 1 or n % p:
        raise ValueError(f"p = {p} must divide n = {n}")
    tile = n // p
    device = device or Device(WaferSpec(width=p, height=p))
    words = _TILES * tile * tile + tile
    if words * 4 >= device.spec.sram_bytes:
        raise ValueError(f"{_TILES} tiles of {tile} x {tile} float32 ({words * 4} bytes) do not fit the "
                         f"{device.spec.sram_bytes}-byte SRAM of a PE: use a larger p")
    d_a = device.to_device(to_tiles(a, p), stream=stream)
    d_b = device.to_device(to_tiles(b, p), stream=stream)
    d_c = device.device_array((p * p, tile * tile), np.float32)
    stats = gemm_kernel(tile)[(1, 1), (p, p), stream](d_a, d_b, d_c, int(p))
    return from_tiles(d_c.copy_to_host(stream=stream), p), stats
