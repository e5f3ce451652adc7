"""Matrix-vector product y = A @ x on a P x Q block of PEs (P rows of PEs, Q columns).

A (m x n, m = P * R, n = Q * C) is distributed in R x C tiles: PE (px, py) holds A[py*R:(py+1)*R,
px*C:(px+1)*C] in its SRAM, stored column-major so that each column of the tile is a contiguous
vector, followed by the segment x[px*C:(px+1)*C] it multiplies. Then:

1. every PE loads its tile and its x segment with one bulk copy: the host lays them out as one row of
   a (P*Q, R*C + C) array (`to_column_tiles_with_x`), so each PE pays the off-wafer latency once (the
   kernel is bound by that latency: two loads in a row, or x forwarded down the columns, cost more);
2. every PE computes its partial y for its R tile rows with C vector fused multiply-adds, one per tile
   column: ``ys[0:R] = tile[j*R:(j+1)*R] * x_j + ys[0:R]``;
3. the partial sums are reduced along each row of PEs towards the west edge: each PE adds what arrives
   from the east (one vector add) and sends the sum west; the west PEs write y[py*R:(py+1)*R].

FLOPs counted: 2*m*n for the fmas plus m*(Q-1) for the reduction's vector adds.
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


@functools.lru_cache(maxsize=None)
def gemv_kernel(rows: int, cols: int) -> Dispatcher:
    """The kernel for R x C tiles (R = `rows`, C = `cols`); local-array shapes are compile-time constants.

    Launch on one P x Q block: ``kernel[(1, 1), (Q, P)](packed, y, Q)`` where `packed` is the
    (P*Q, R*C + C) array of `to_column_tiles_with_x` and y has m = P*R elements."""
    if rows < 1 or cols < 1:
        raise ArgumentError(f"tile shape must be positive, got {rows} x {cols}")
    R, C = rows, cols
    RC = rows * cols
    ROW = RC + cols  # a PE's global row: its tile, then its x segment

    @jit(boundscheck=False)  # tuned and tested: the checks would cost a third of its speed
    def gemv_tiles(packed, y, q):
        px, py = ws.grid(2)
        tile = ws.local.array(ROW, np.float32)  # A tile column-major (column j: tile[j*R:(j+1)*R]), then x
        ys = ws.local.array(R, np.float32)  # partial y of the tile rows
        part = ws.local.array(R, np.float32)  # partial sum arriving from the east
        tile[0:ROW] = packed[py * q + px, 0:ROW]  # one bulk copy: tile and x segment
        # partial y = tile @ x segment, a vector fma per tile column.
        ys[0:R] = 0.0
        jo = 0
        if C % 4 == 0:  # folded at compile time: four columns a trip (the tuple loop is unrolled)
            for j in range(0, C, 4):
                for u in (0, 1, 2, 3):
                    ys[0:R] = tile[jo + u * R:jo + u * R + R] * tile[RC + j + u] + ys[0:R]
                jo += 4 * R
        else:
            for j in range(C):
                ys[0:R] = tile[jo:jo + R] * tile[RC + j] + ys[0:R]
                jo += R
        # reduce along the row towards the west edge.
        if ws.has_neighbor(ws.EAST):
            ws.recv(ws.EAST, out=part[0:R])
            ys[0:R] = ys[0:R] + part[0:R]
        if ws.has_neighbor(ws.WEST):
            ws.send(ws.WEST, ys[0:R])
        else:
            y[py * R:py * R + R] = ys[0:R]

    return gemv_tiles


def to_column_tiles(a: np.ndarray, p: int, q: int) -> np.ndarray:
    """(m, n) -> (p*q, R*C): row py*q + px is tile (py, px) of A stored column-major (R = m/p, C = n/q)."""
    m, n = a.shape
    r, c = m // p, n // q
    return np.ascontiguousarray(a.reshape(p, r, q, c).transpose(0, 2, 3, 1).reshape(p * q, c * r))


def to_column_tiles_with_x(a: np.ndarray, x: np.ndarray, p: int, q: int) -> np.ndarray:
    """`to_column_tiles(a, p, q)` with each row followed by the segment of x its tile multiplies:
    row py*q + px is [tile (py, px) column-major, x[px*C:(px+1)*C]]."""
    tiles = to_column_tiles(a, p, q)
    segments = np.tile(x.reshape(q, -1), (p, 1))  # row py*q + px holds segment px
    return np.ascontiguousarray(np.concatenate([tiles, segments.astype(tiles.dtype)], axis=1))


def gemv_flops(m: int, n: int, q: int) -> int:
    """FLOPs the kernel counts: m*n fmas (2 each) and the (q - 1) vector adds of length m/p per PE row."""
    return 2 * m * n + m * (q - 1)


def gemv(a: np.ndarray, x: np.ndarray, p: int, q: int, device: Device | None = None,
         stream=None) -> tuple[np.ndarray, LaunchStats]:
    """y = A @ x for an (m, n) float32 matrix on a block of `p` rows x `q` columns of PEs.

    p must divide m and q must divide n. `device` defaults to a q x p wafer (just large enough).
    Returns (y as a NumPy float32 array of length m, LaunchStats)."""
    a = np.ascontiguousarray(a, dtype=np.float32)
    x = np.ascontiguousarray(x, dtype=np.float32).reshape(-1)
    if a.ndim != 2 or x.shape[0] != a.shape[1]:
        raise ArgumentError(f"gemv takes an (m, n) matrix and a length-n vector, got {a.shape} and {x.shape}")
    m, n = a.shape
    if p < 1 or q < 1 or m % p or n % q:
        raise ArgumentError(f"a {p} x {q} block of PEs must tile the {m} x {n} matrix evenly")
    rows, cols = m // p, n // q
    device = device or fitting_device(q, p)
    words = rows * cols + cols + 2 * rows
    if words * 4 >= device.spec.sram_bytes:
        raise ArgumentError(f"a {rows} x {cols} tile ({words * 4} bytes with its vectors) does not fit the "
                         f"{device.spec.sram_bytes}-byte SRAM of a PE: use more PEs")
    with Scratch(device, stream) as mem:
        d_packed, d_y = mem.put(to_column_tiles_with_x(a, x, p, q)), mem.empty(m)
        stats = gemv_kernel(rows, cols)[(1, 1), (q, p), stream](d_packed, d_y, int(q))
        return mem.get(d_y), stats
