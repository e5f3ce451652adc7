"""2-D heat diffusion with a T x T tile of cells per PE, updated with vector operations.

The domain (by*T rows, bx*T columns) runs on one bx x by block; PE (px, py) owns cells
[py*T:(py+1)*T, px*T:(px+1)*T]. Its SRAM holds the tile with a one-cell halo, row-major in a
(T+2) x (T+2) array. Each step:

1. halo exchange with the four neighbours: the edge rows are contiguous slices and go as they are; the
   edge columns are gathered into contiguous buffers first. Messages go in chunks of at most
   `fifo_depth` words (the launch's `WaferSpec`), every PE sending one chunk to each neighbour
   before receiving, so no pair of PEs can block each other: a chunk larger than the receiver's
   FIFO would leave every PE waiting for room to send, a deadlock. Where a neighbour is missing (the
   edge of the whole domain) the halo is the tile's own edge: zero flux, as in `kernels.heat`.
2. the update, five vector instructions over the span of the tile from its first interior cell to its
   last (the halo columns inside the span are computed too and overwritten by the next exchange):
   ``acc = N + S + E + W`` (three adds), ``acc = c * -4 + acc`` (fma), then in place ``c = acc * alpha + c``
   (fma; every neighbour was read into `acc` already). Each rounding is the one of
   `reference.heat_step(..., order=ORDER_API)`, so the result equals the one-cell-per-PE kernel's bit for
   bit.

Tiles move to and from global memory with one bulk copy each: the host passes the domain tile-blocked,
a (bx*by, T*T) array (`to_tiles`).

FLOPs counted per PE and step: 7 per element of the span, (T - 1) * (T + 2) + T elements (3 adds, two
fmas of 2, the T x T cells plus the 2 * (T - 1) halo positions inside the span), see `heat_tiled_flops`.
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
from .hosting import (Scratch, check_block_fits, device_argument, fitting_device, float32_input, float32_scalar,
                      nonempty)


def span_length(tile: int) -> int:
    """Elements of the vector span: row 1, column 1 to row T, column T of the padded (T+2)-wide tile."""
    return (tile - 1) * (tile + 2) + tile


@functools.lru_cache(maxsize=None)
def heat_tiled_kernel(tile: int, fifo_depth: int = 16) -> Dispatcher:
    """The kernel for T x T tiles (T = `tile`); local-array shapes are compile-time constants. Halo
    messages go in chunks of at most `fifo_depth` words: pass the `fifo_depth` of the device it runs on.

    Launch on one bx x by block: ``kernel[(1, 1), (bx, by)](u_tiles, out_tiles, alpha, steps, bx)`` with
    (bx*by, T*T) float32 tile-blocked device arrays (see `to_tiles`)."""
    if tile < 1:
        raise ArgumentError(f"tile must be positive, got {tile}")
    if fifo_depth < 1:
        raise ArgumentError(f"fifo_depth must be positive, got {fifo_depth}")
    T = tile
    TT = tile * tile
    W = tile + 2  # padded row length
    WW = W * W
    S0 = W + 1  # first interior cell (row 1, column 1)
    L = span_length(tile)
    NORTH0, SOUTH0, EAST0, WEST0 = S0 - W, S0 + W, S0 + 1, S0 - 1
    LAST = T * W + 1  # first interior cell of the last interior row
    HALO_S = (T + 1) * W + 1  # first cell of the south halo row
    CH = min(fifo_depth, tile)  # words per message chunk: each must fit the receiver's FIFO

    @jit(boundscheck=False)  # tuned and tested: the checks would cost a third of its speed
    def heat_step(src, acc, ecol, wcol, erecv, wrecv, alpha):
        """One step: halo exchange of `src`, then src += alpha * (N + S + E + W - 4 * src)."""
        has_n = ws.has_neighbor(ws.NORTH)
        has_s = ws.has_neighbor(ws.SOUTH)
        has_e = ws.has_neighbor(ws.EAST)
        has_w = ws.has_neighbor(ws.WEST)
        ecol[0:T] = src[S0 + T - 1:S0 + T - 1 + T * W:W]  # edge columns -> contiguous buffers (strided copies)
        wcol[0:T] = src[S0:S0 + T * W:W]
        for c0 in range(0, T, CH):
            nl = min(CH, T - c0)
            if has_n:
                ws.send(ws.NORTH, src[S0 + c0:S0 + c0 + nl])
            if has_s:
                ws.send(ws.SOUTH, src[LAST + c0:LAST + c0 + nl])
            if has_e:
                ws.send(ws.EAST, ecol[c0:c0 + nl])
            if has_w:
                ws.send(ws.WEST, wcol[c0:c0 + nl])
            if has_n:
                ws.recv(ws.NORTH, out=src[1 + c0:1 + c0 + nl])
            if has_s:
                ws.recv(ws.SOUTH, out=src[HALO_S + c0:HALO_S + c0 + nl])
            if has_e:
                ws.recv(ws.EAST, out=erecv[c0:c0 + nl])
            if has_w:
                ws.recv(ws.WEST, out=wrecv[c0:c0 + nl])
        if not has_n:  # zero flux: the halo is the tile's own edge
            src[1:1 + T] = src[S0:S0 + T]
        if not has_s:
            src[HALO_S:HALO_S + T] = src[LAST:LAST + T]
        if not has_e:
            erecv[0:T] = ecol[0:T]
        if not has_w:
            wrecv[0:T] = wcol[0:T]
        src[S0 + T:S0 + T + T * W:W] = erecv[0:T]  # contiguous buffers -> halo columns
        src[S0 - 1:S0 - 1 + T * W:W] = wrecv[0:T]
        acc[0:L] = src[NORTH0:NORTH0 + L] + src[SOUTH0:SOUTH0 + L] + src[EAST0:EAST0 + L] + src[WEST0:WEST0 + L]
        acc[0:L] = src[S0:S0 + L] * -4.0 + acc[0:L]
        src[S0:S0 + L] = acc[0:L] * alpha + src[S0:S0 + L]

    @jit(boundscheck=False)  # tuned and tested: the checks would cost a third of its speed
    def heat_tiles(u, out, alpha, steps, bx):
        px, py = ws.grid(2)
        me = py * bx + px  # this PE's row of the tile-blocked arrays
        p = ws.local.array(WW, np.float32)  # tile with halo, row-major (T+2) x (T+2)
        q = ws.local.array(TT, np.float32)  # the tile as it moves to and from global memory
        acc = ws.local.array(L, np.float32)
        ecol = ws.local.array(T, np.float32)
        wcol = ws.local.array(T, np.float32)
        erecv = ws.local.array(T, np.float32)
        wrecv = ws.local.array(T, np.float32)
        q[0:TT] = u[me, 0:TT]  # one bulk copy, then rows into place
        r = S0
        for i in range(T):
            p[r:r + T] = q[i * T:i * T + T]
            r += W
        for t in range(steps):
            heat_step(p, acc, ecol, wcol, erecv, wrecv, alpha)
        r = S0
        for i in range(T):
            q[i * T:i * T + T] = p[r:r + T]
            r += W
        out[me, 0:TT] = q[0:TT]

    return heat_tiles


def tiles_view(u: np.ndarray, tile: int) -> np.ndarray:
    """(by*T, bx*T) -> a (by, bx, T, T) view: [py, px] is tile (py, px); in C order, `to_tiles`'s rows."""
    h, w = u.shape
    return u.reshape(h // tile, tile, w // tile, tile).transpose(0, 2, 1, 3)


def to_tiles(u: np.ndarray, tile: int) -> np.ndarray:
    """(by*T, bx*T) -> (bx*by, T*T): row py*bx + px is tile (py, px), row-major."""
    view = tiles_view(u, tile)
    return np.ascontiguousarray(view.reshape(view.shape[0] * view.shape[1], tile * tile))


def from_tiles(tiles: np.ndarray, tile: int, shape: tuple[int, int]) -> np.ndarray:
    """The inverse of `to_tiles` for a domain of `shape`: untiled into one new array (no temporary)."""
    result = np.empty(shape, tiles.dtype)
    view = tiles_view(result, tile)
    view[...] = tiles.reshape(view.shape)
    return result


def heat_tiled_flops(tile: int, bx: int, by: int, steps: int) -> int:
    """FLOPs the kernel counts: 7 per span element (3 vadd, 2 vfma) per PE and step."""
    return 7 * span_length(tile) * bx * by * steps


@call_checked
def heat_tiled(u: np.ndarray, alpha: float, steps: int, tile: int, device: Device | None = None,
               stream=None) -> tuple[np.ndarray, LaunchStats]:
    """`steps` zero-flux heat steps on `u` ((by*T, bx*T), T = `tile`) with a T x T tile per PE.

    Runs on one bx x by block; `device` defaults to a bx x by wafer (just large enough). The result
    equals `kernels.heat.heat(u, alpha, steps)` (one cell per PE) exactly. Returns (result, LaunchStats)."""
    u = float32_input(u, "u")
    alpha = float32_scalar(alpha, "alpha")
    steps = whole_argument(steps, "steps")
    tile = whole_argument(tile, "tile", 1)
    if u.ndim != 2:
        raise ArgumentError(f"u must be a 2-D array (rows, columns), a T x T tile per PE, got shape {u.shape}")
    nonempty(u, "u")
    if u.shape[0] % tile or u.shape[1] % tile:
        raise ArgumentError(f"tile {tile} must divide both sides of the {u.shape} domain")
    by, bx = u.shape[0] // tile, u.shape[1] // tile
    device = check_block_fits(device_argument(device) or fitting_device(bx, by), bx, by,
                              f"heat_tiled with {tile} x {tile} tiles")
    with Scratch(device, stream) as mem:
        # tiled straight into device memory: no host copy of the domain (`Scratch.put_as`)
        d_u, d_out = mem.put_as(tiles_view(u, tile), (bx * by, tile * tile)), mem.empty((bx * by, tile * tile))
        kernel = heat_tiled_kernel(tile, device.spec.fifo_depth)
        stats = kernel[(1, 1), (bx, by), stream](d_u, d_out, alpha, steps, int(bx))
        # untiled straight from device memory: no host copy of the tiles (`Scratch.get_as`)
        result = np.empty(u.shape, np.float32)
        mem.get_as(d_out, tiles_view(result, tile))
        return result, stats
