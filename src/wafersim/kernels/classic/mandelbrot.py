"""The Mandelbrot set: escape-time iteration counts, a tile of pixels per PE, loops as long as the data says.

PE (px, py) of a bx x by block computes the th x tw tile of pixels [py*th:(py+1)*th, px*tw:(px+1)*tw]. It
loads the real parts of its tile's columns and the imaginary parts of its rows (one bulk copy each; the
host computes them in float64 and rounds to float32), iterates z <- z**2 + c in float32 for each pixel
until |z|**2 > 4 or `max_iter` iterations, and stores its tile's counts row by row. There is no
communication: each PE's time is the sum of its pixels' iteration counts, so PEs over the set run
`max_iter` iterations per pixel while PEs far outside it stop after a few, and the launch lasts as long
as its slowest PE (`LaunchStats.busy` shows the imbalance as a picture).

Every iteration rounds as `reference_counts` does (squares, their sum for the test, then
zi = (2 zr) zi + ci and zr = (zr**2 - zi**2) + cr, each a separate float32 operation), so the counts equal
NumPy's exactly. FLOPs counted per iteration: 8 (3 multiplies, 1 compare-sum, the two updates' 4), plus
the 3 of the final test; `mandelbrot_flops` gives the total from the counts.
"""
from __future__ import annotations

import functools

import numpy as np

from ...compiler import intrinsics as ws
from ...errors import ArgumentError, call_checked
from ...runtime.device import Device
from ...runtime.jit import Dispatcher, jit
from ...sim.stats import LaunchStats
from ..hosting import Scratch, device_argument, fitting_device, float32_bound, shape_argument
from .common import check_fits_sram

INT32_MAX = 2**31 - 1

#: The default view: the whole set, as in most pictures of it.
DEFAULT_EXTENT = (-2.0, 0.5, -1.25, 1.25)


@functools.lru_cache(maxsize=None)
def mandelbrot_kernel(tile_w: int, tile_h: int) -> Dispatcher:
    """The kernel for th x tw tiles of pixels (compile-time sizes). Launch on one bx x by block:
    ``kernel[(1, 1), (bx, by)](cr, ci, counts, max_iter)`` with cr of length bx*tw, ci of length by*th
    (float32) and counts an int32 (by*th, bx*tw) array."""
    TW, TH = tile_w, tile_h

    @jit
    def mandelbrot_tiles(cr, ci, counts, max_iter):
        px, py = ws.grid(2)
        re = ws.local.array(TW, np.float32)
        im = ws.local.array(TH, np.float32)
        row = ws.local.array(TW, np.int32)
        re[0:TW] = cr[px * TW:px * TW + TW]
        im[0:TH] = ci[py * TH:py * TH + TH]
        for i in range(TH):
            c_im = im[i]
            for j in range(TW):
                c_re = re[j]
                zr = 0.0
                zi = 0.0
                it = 0
                while it < max_iter:  # data-dependent: each pixel, hence each PE, runs its own count
                    zr2 = zr * zr
                    zi2 = zi * zi
                    if zr2 + zi2 > 4.0:
                        break
                    zi = 2.0 * zr * zi + c_im
                    zr = zr2 - zi2 + c_re
                    it += 1
                row[j] = it
            counts[py * TH + i, px * TW:px * TW + TW] = row[0:TW]

    return mandelbrot_tiles


def pixel_coordinates(width: int, height: int, extent: tuple[float, float, float, float]) -> tuple[np.ndarray, np.ndarray]:
    """(real parts of the columns, imaginary parts of the rows): `width` and `height` points from the
    extent's lower to its upper edge, computed in float64 and rounded to float32."""
    xmin, xmax, ymin, ymax = (float(v) for v in extent)
    return (np.linspace(xmin, xmax, width).astype(np.float32), np.linspace(ymin, ymax, height).astype(np.float32))


def reference_counts(cr: np.ndarray, ci: np.ndarray, max_iter: int) -> np.ndarray:
    """The kernel's iteration counts computed with NumPy float32 arrays, the same roundings in the same order."""
    c_re, c_im = np.meshgrid(cr.astype(np.float32), ci.astype(np.float32))
    zr, zi = np.zeros_like(c_re), np.zeros_like(c_re)
    counts = np.zeros(c_re.shape, np.int32)
    active = np.ones(c_re.shape, bool)
    two, four = np.float32(2.0), np.float32(4.0)
    for _ in range(max_iter):
        zr2, zi2 = zr * zr, zi * zi
        active &= ~(zr2 + zi2 > four)
        if not active.any():
            break
        zi = np.where(active, two * zr * zi + c_im, zi)
        zr = np.where(active, zr2 - zi2 + c_re, zr)
        counts += active
    return counts


def mandelbrot_flops(counts: np.ndarray, max_iter: int) -> int:
    """FLOPs the kernel counts: 8 per iteration (zr*zr, zi*zi, the sum tested, 2*zr, *zi, +ci, -, +cr) and
    3 for the test that ends a pixel (none for pixels that reach `max_iter`)."""
    counts = np.asarray(counts, np.int64)
    return int(8 * counts.sum() + 3 * np.count_nonzero(counts < max_iter))


@call_checked
def mandelbrot(width: int, height: int, max_iter: int, tile: tuple[int, int] = (8, 8),
               extent: tuple[float, float, float, float] = DEFAULT_EXTENT, device: Device | None = None,
               stream=None) -> tuple[np.ndarray, LaunchStats]:
    """Iteration counts (int32, shape (height, width)) of z <- z**2 + c from z = 0 until |z| > 2, at most
    `max_iter`, for c on a `width` x `height` grid over `extent` = (xmin, xmax, ymin, ymax) (row 0 at ymin):
    pixel (row i, column j) is c = np.linspace(xmin, xmax, width)[j] + 1j * np.linspace(ymin, ymax, height)[i],
    both edges included, rounded to float32 (`pixel_coordinates`).

    Each PE computes a `tile` = (tw, th) tile of pixels; tw must divide width and th height. `device`
    defaults to a wafer of exactly (width/tw) x (height/th) PEs. Returns (counts, LaunchStats)."""
    tw, th = shape_argument(tile, "tile")
    for name, value in (("width", width), ("height", height), ("max_iter", max_iter), ("tile width", tw),
                        ("tile height", th)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
            raise ArgumentError(f"mandelbrot: {name} must be a positive int, got {value!r}")
    if width % tw or height % th:
        raise ArgumentError(f"mandelbrot: tiles of {tw} x {th} pixels must tile the {width} x {height} image",
                            size=(width, height))
    if max_iter > INT32_MAX:  # (the counts are int32: the launch would refuse it naming "argument 3")
        raise ArgumentError(f"mandelbrot: max_iter must be at most 2**31 - 1 (the counts are int32), got {max_iter}")
    if np.ndim(extent) != 1 or len(extent) != 4:
        raise ArgumentError(f"mandelbrot: extent must be 4 numbers (xmin, xmax, ymin, ymax), got {extent!r}")
    for k, value in enumerate(extent):  # real numbers in float32's range (the input rule; not a str: TypeError)
        if not np.isfinite(float32_bound(value, f"extent[{k}]")):  # (an infinite edge made every c inf or NaN)
            raise ArgumentError(f"mandelbrot: extent must be finite, got {extent!r}")
    if not (extent[0] < extent[1] and extent[2] < extent[3]):
        raise ArgumentError(f"mandelbrot: extent must be (xmin, xmax, ymin, ymax) with xmin < xmax and ymin < ymax, "
                            f"got {extent!r}")
    bx, by = width // tw, height // th
    device = device_argument(device) or fitting_device(bx, by)
    if bx > device.spec.width or by > device.spec.height:
        raise ArgumentError(f"mandelbrot: {bx} x {by} PEs of {tw} x {th} pixels do not fit the "
                            f"{device.spec.width} x {device.spec.height} wafer: use larger tiles", needed=(bx, by),
                            available=(device.spec.width, device.spec.height))
    check_fits_sram(f"mandelbrot tiles of {tw} x {th} pixels", 2 * tw + th, device.spec)
    cr, ci = pixel_coordinates(width, height, extent)
    with Scratch(device, stream) as mem:
        d_cr, d_ci, d_counts = mem.put(cr), mem.put(ci), mem.empty((height, width), np.int32)
        stats = mandelbrot_kernel(tw, th)[(1, 1), (bx, by), stream](d_cr, d_ci, d_counts, int(max_iter))
        return mem.get(d_counts), stats
