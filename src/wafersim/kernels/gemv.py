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

That single product is bound by off-wafer memory (docs/compiler.md): each word of A read is used once.
`gemv_batch` keeps A resident instead, as LLM decode on a wafer does (WaferLLM, He et al., OSDI 2025,
arXiv:2502.04563): each PE loads its tile once, then for each of V vectors the north PE of each column
reads the vector's x segment (a chunk of vectors' segments per off-wafer read) and passes it south down
the column, every PE multiplies it by its tile as in step 2, and the partial sums are reduced along the
rows as in step 3, the rows working as pipelines (a PE adds vector v while its east neighbour multiplies
vector v + 1).
"""
from __future__ import annotations

import functools

import numpy as np

from ..arch.values import whole_argument
from ..compiler import intrinsics as ws
from ..errors import ArgumentError, call_checked
from ..runtime.device import Device
from ..runtime.jit import Dispatcher, jit
from ..sim.stats import LaunchStats
from .hosting import Scratch, check_block_fits, fitting_device, float32_input, nonempty


@jit
def tile_times_segment(ys, tile, x, xo, R, C):
    """ys[0:R] = (R x C tile, column-major) @ x[xo:xo + C]: a vector fma per tile column (a device function,
    inlined; R and C are compile-time constants of the caller)."""
    ys[0:R] = 0.0
    jo = 0
    if C % 4 == 0:  # folded at compile time: four columns a trip (the tuple loop is unrolled)
        for j in range(xo, xo + C, 4):
            for u in (0, 1, 2, 3):
                ys[0:R] = tile[jo + u * R:jo + u * R + R] * x[j + u] + ys[0:R]
            jo += 4 * R
    else:
        for j in range(xo, xo + C):
            ys[0:R] = tile[jo:jo + R] * x[j] + ys[0:R]
            jo += R


@jit
def add_from_east(ys, part, R):
    """ys[0:R] += the partial sum arriving from the east neighbour (received into `part`), if there is one:
    a step of the reduction along a row of PEs towards its west edge (a device function, inlined)."""
    if ws.has_neighbor(ws.EAST):
        ws.recv(ws.EAST, out=part[0:R])
        ys[0:R] = ys[0:R] + part[0:R]


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
        # partial y = tile @ x segment.
        tile_times_segment(ys, tile, tile, RC, R, C)
        # reduce along the row towards the west edge.
        add_from_east(ys, part, R)
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


def _tile_shape(shape: tuple[int, ...], p: int, q: int) -> tuple[int, int]:
    """The R x C tile of each PE when a `p` x `q` block of PEs tiles an (m, n) matrix evenly."""
    m, n = shape
    p, q = whole_argument(p, "p", 1), whole_argument(q, "q", 1)  # (a string or float was Python's TypeError)
    if m % p or n % q:
        raise ArgumentError(f"a {p} x {q} block of PEs must tile the {m} x {n} matrix evenly")
    return m // p, n // q


def _check_fits(device: Device, words: int, rows: int, cols: int) -> None:
    """Refuse a tile whose local arrays (`words` float32 words in all) do not fit a PE's SRAM."""
    if words * 4 >= device.spec.sram_bytes:
        raise ArgumentError(f"a {rows} x {cols} tile ({words * 4} bytes with its vectors) does not fit the "
                            f"{device.spec.sram_bytes}-byte SRAM of a PE: use more PEs")


def gemv_flops(m: int, n: int, q: int) -> int:
    """FLOPs the kernel counts: m*n fmas (2 each) and the (q - 1) vector adds of length m/p per PE row."""
    return 2 * m * n + m * (q - 1)


@call_checked
def gemv(a: np.ndarray, x: np.ndarray, p: int, q: int, device: Device | None = None,
         stream=None) -> tuple[np.ndarray, LaunchStats]:
    """y = A @ x for an (m, n) float32 matrix on a block of `p` rows x `q` columns of PEs.

    p must divide m and q must divide n. `device` defaults to a q x p wafer (just large enough).
    Returns (y as a NumPy float32 array of length m, LaunchStats)."""
    a = float32_input(a, "a")
    x = float32_input(x, "x")  # (not flattened: an (n, 1) x would give NumPy's (m, 1), not y's (m,))
    if a.ndim != 2 or x.ndim != 1 or x.shape[0] != a.shape[1]:
        raise ArgumentError(f"gemv takes an (m, n) matrix and a length-n vector, got {a.shape} and {x.shape}")
    nonempty(a, "a")
    rows, cols = _tile_shape(a.shape, p, q)
    device = check_block_fits(device or fitting_device(q, p), q, p, f"gemv with p = {p}, q = {q}")
    _check_fits(device, rows * cols + cols + 2 * rows, rows, cols)
    with Scratch(device, stream) as mem:
        d_packed, d_y = mem.put(to_column_tiles_with_x(a, x, p, q)), mem.empty(a.shape[0])
        stats = gemv_kernel(rows, cols)[(1, 1), (q, p), stream](d_packed, d_y, int(q))
        return mem.get(d_y), stats


@functools.lru_cache(maxsize=None)
def gemv_resident_kernel(rows: int, cols: int, chunk: int) -> Dispatcher:
    """The kernel of `gemv_batch` for R x C tiles: the tile is loaded once, then the vectors stream through,
    their x segments read `chunk` vectors at a time (one off-wafer latency per chunk, not per vector).

    Launch on one P x Q block: ``kernel[(1, 1), (Q, P)](tiles, xs, ys, Q, V)`` where `tiles` is the
    (P*Q, R*C) array of `to_column_tiles`, `xs` the (Q, K*C) array of `to_column_segments` (the V
    vectors' segments, vector after vector, zero-padded to K, a multiple of `chunk`) and ys the (V, m) result."""
    if rows < 1 or cols < 1 or chunk < 1:
        raise ArgumentError(f"tile shape and chunk must be positive, got {rows} x {cols} and {chunk}")
    R, C = rows, cols
    RC = rows * cols
    KC = chunk * cols

    # No bounds checks, as in gemv_kernel: every index is in range by construction (the host pads xs to
    # whole chunks and sizes ys), and the tests compare every vector's product with NumPy.
    @jit(boundscheck=False)
    def gemv_resident(tiles, xs, ys, q, nvec):
        px, py = ws.grid(2)
        tile = ws.local.array(RC, np.float32)  # A tile column-major (column j: tile[j*R:(j+1)*R])
        segs = ws.local.array(KC, np.float32)  # x segments of a chunk of vectors (north PEs)
        seg = ws.local.array(C, np.float32)  # x segment of the vector in flight
        acc = ws.local.array(R, np.float32)  # partial y of the tile rows
        part = ws.local.array(R, np.float32)  # partial sum arriving from the east
        tile[0:RC] = tiles[py * q + px, 0:RC]  # the matrix is loaded once and stays resident
        for v in range(nvec):
            # the north PE of each column reads the segments; the others receive them and pass them south.
            if ws.has_neighbor(ws.NORTH):
                ws.recv(ws.NORTH, out=seg[0:C])
            else:
                k = v % chunk
                if k == 0:
                    segs[0:KC] = xs[px, v * C:v * C + KC]
                seg[0:C] = segs[k * C:k * C + C]
            if ws.has_neighbor(ws.SOUTH):
                ws.send_async(ws.SOUTH, seg[0:C])  # forwarded while this PE computes
            tile_times_segment(acc, tile, seg, 0, R, C)
            if ws.has_neighbor(ws.SOUTH):
                ws.send_wait(ws.SOUTH)  # seg is received into again next vector
            # reduce along the row towards the west edge, vector after vector (a pipeline along the row).
            add_from_east(acc, part, R)
            if ws.has_neighbor(ws.WEST):
                ws.send(ws.WEST, acc[0:R])
            else:
                ys[v, py * R:py * R + R] = acc[0:R]

    return gemv_resident


def to_column_segments(xs: np.ndarray, q: int, chunk: int = 1) -> np.ndarray:
    """(V, n) -> (q, K*C): row px holds segment px (C = n/q) of every vector, vector after vector, followed
    by zeros up to K vectors, the multiple of `chunk` at or above V."""
    v, n = xs.shape
    xs = np.concatenate([xs, np.zeros((-v % chunk, n), xs.dtype)])
    v = xs.shape[0]
    return np.ascontiguousarray(xs.reshape(v, q, n // q).transpose(1, 0, 2).reshape(q, -1))


# x words a north PE reads in one go: 512 words take about as long to arrive (a word a cycle) as the
# off-wafer latency they share (`global_latency`, 500 cycles: docs/timing.md), so a chunk costs at most
# twice its transfer; and they stay small beside a tile in SRAM.
CHUNK_WORDS = 512


@call_checked
def gemv_batch(a: np.ndarray, xs: np.ndarray, p: int, q: int, device: Device | None = None,
               stream=None) -> tuple[np.ndarray, LaunchStats]:
    """Y[v] = A @ xs[v] for V vectors with A resident on the wafer: an (m, n) float32 matrix on a block of `p`
    rows x `q` columns of PEs and xs of shape (V, n) (or a length-n vector, V = 1).

    Each PE loads its tile once; then, vector after vector, the north PEs read their x segment and pass it
    down their column, every PE multiplies it by its tile, and the partial sums are reduced along each row
    of PEs to the west edge, which writes Y[v]. Returns (Y as a (V, m) float32 array, LaunchStats)."""
    a = float32_input(a, "a")
    xs = float32_input(xs, "xs")
    xs = xs.reshape(1, -1) if xs.ndim == 1 else xs
    if a.ndim != 2 or xs.ndim != 2 or xs.shape[1] != a.shape[1] or xs.shape[0] < 1:
        raise ArgumentError(f"gemv_batch takes an (m, n) matrix and (V, n) vectors, got {a.shape} and {xs.shape}")
    nonempty(a, "a")
    rows, cols = _tile_shape(a.shape, p, q)
    device = check_block_fits(device or fitting_device(q, p), q, p, f"gemv with p = {p}, q = {q}")
    chunk = min(xs.shape[0], max(1, CHUNK_WORDS // cols))
    _check_fits(device, rows * cols + (chunk + 1) * cols + 2 * rows, rows, cols)
    with Scratch(device, stream) as mem:
        d_tiles, d_xs = mem.put(to_column_tiles(a, p, q)), mem.put(to_column_segments(xs, q, chunk))
        d_ys = mem.empty((xs.shape[0], a.shape[0]))
        stats = gemv_resident_kernel(rows, cols, chunk)[(1, 1), (q, p), stream](d_tiles, d_xs, d_ys, int(q), int(xs.shape[0]))
        return mem.get(d_ys), stats


def gemv_batch_flops(m: int, n: int, q: int, vectors: int) -> int:
    """FLOPs `gemv_batch` counts: `gemv_flops` per vector."""
    return vectors * gemv_flops(m, n, q)
