"""The dense layer y = x W + b and its backward pass (dX, dW, db) on the mesh.

Products run on the library's SUMMA kernel (`kernels.gemm`), which multiplies square matrices on a
`p x p` block: a (m, k) @ (k, n) product is zero-padded to the smallest square of side `p * T` that
holds all three dimensions, with `p = ceil(max(m, k, n) / tile)`. The padding is simulated work (the
cycles are those of the padded product): a rectangular SUMMA would be faster for thin matrices. The bias
add is a row-layout kernel (`elementwise.bias_add_kernel`), and db = sum over the batch of dY is
`column_sum`: each column of PEs adds its rows, then the partial sums travel north to the first row.
"""
from __future__ import annotations

import functools

import numpy as np

from ...arch.spec import WaferSpec
from ...compiler import intrinsics as ws
from ...errors import SramBudgetError, call_checked
from ...runtime.device import Device
from ...runtime.jit import Dispatcher, jit
from ...sim.stats import LaunchStats
from ..gemm import _TILES as GEMM_TILES  # the tiles SUMMA keeps in a PE's SRAM, to check ours fit
from ..gemm import from_tiles, gemm_kernel, to_operand_tiles
from ..hosting import Scratch, device_argument, fitting_device
from .elementwise import bias_add_kernel
from .layout import (DEFAULT_CHUNK, MLShapeError, TileTooLargeError, as_matrix, as_vector, check_chunk, check_tile,
                     combine_stats, launch_rows, pes_per_row, spec_of)
from .mixed import checked_side as mixed_side
from .mixed import half_dtype, matmul_mixed, mixed_gemm_kernel

DEFAULT_TILE = 8  # T of the SUMMA tiles: p = ceil(size / tile) PEs along each side of the block


def summa_side(m: int, k: int, n: int, tile: int) -> tuple[int, int]:
    """(p, T): the side of the PE block and the tile size `matmul` uses for a (m, k) @ (k, n) product."""
    check_tile(tile)  # (before the division: tile=0 would be a ZeroDivisionError)
    size = max(m, k, n)
    p = -(-size // tile)
    return p, -(-size // p)


def _check_tile(tile: int, spec: WaferSpec) -> None:
    check_tile(tile)
    needed = (GEMM_TILES * tile * tile + tile) * 4
    if needed >= spec.sram_bytes:
        raise TileTooLargeError(f"SUMMA tiles of {tile} x {tile} need {needed} bytes of SRAM per PE, the wafer has "
                                f"{spec.sram_bytes}: use a smaller tile", needed=needed, available=spec.sram_bytes)


@call_checked
def matmul(a: np.ndarray, b: np.ndarray, tile: int = DEFAULT_TILE, device: Device | None = None,
           stream=None) -> tuple[np.ndarray, LaunchStats]:
    """a @ b for float32 (m, k) and (k, n) matrices, on the library's SUMMA GEMM over a `p x p` block
    (zero-padded to a square, see the module). Returns (the (m, n) product, LaunchStats)."""
    a, b = as_matrix("a", a), as_matrix("b", b)
    device = device_argument(device)  # (a str or a WaferSpec was "has no attribute 'spec'")
    (m, k), (k2, n) = a.shape, b.shape
    if k != k2:
        raise MLShapeError(f"matmul of {a.shape} and {b.shape}: inner dimensions differ", shape=(a.shape, b.shape))
    p, t = summa_side(m, k, n, tile)
    _check_tile(t, device.spec if device else WaferSpec())  # the tiles used: `tile` caps them (as mixed.py's)
    if device is not None and p > min(device.spec.width, device.spec.height):
        raise MLShapeError(f"a {m} x {k} @ {k} x {n} product in {t} x {t} tiles needs a {p} x {p} block, larger "
                           f"than the {device.spec.width} x {device.spec.height} wafer: use a larger tile",
                           needed=p, available=min(device.spec.width, device.spec.height))
    side = p * t
    padded_a = np.zeros((side, side), np.float32)
    padded_b = np.zeros((side, side), np.float32)
    padded_a[:m, :k] = a
    padded_b[:k, :n] = b
    # The library's kernel and layout, launched here rather than through `gemm.gemm` so that the device
    # arrays are freed afterwards (gemm.gemm keeps them).
    with Scratch(device or fitting_device(p, p), stream) as mem:
        d_ab = mem.put(to_operand_tiles(padded_a, padded_b, p))
        d_c = mem.empty((p * p, t * t))
        stats = gemm_kernel(t)[(1, 1), (p, p), stream](d_ab, d_c, int(p))
        return np.ascontiguousarray(from_tiles(mem.get(d_c), p)[:m, :n]), stats


def check_product_fits(m: int, k: int, n: int, tile: int, device: Device, precision: str = "float32",
                       biases: tuple[bool, ...] = (False,), roundings: tuple[bool, ...] = (False,)) -> None:
    """Check, without launching, that the SUMMA kernel a (m, k) @ (k, n) product runs on (`matmul`, or
    `mixed.matmul_mixed` for a 16-bit `precision`, with each of `biases` x `roundings`) fits a PE of
    `device`: the tile check the host function makes, then the kernel compiled for the device, so that its
    code, tiles and spills are counted as the launch would count them. Raises `TileTooLargeError` or
    `SramBudgetError` (its `needed` field: the bytes a PE would need), as the product itself would."""
    dtype = half_dtype(precision)
    p, t = summa_side(m, k, n, tile)
    if dtype is None:
        runs = [(gemm_kernel(t), [((p * p, 2 * t * t), np.float32), ((p * p, t * t), np.float32)])]
    else:
        runs = [(mixed_gemm_kernel(t, dtype, bias, rounded),
                 [((p * p, t * t), dtype), ((p * p, t * t), dtype), ((p, t), np.float32),
                  ((p * p, t * t), dtype if rounded else np.float32)]) for bias in biases for rounded in roundings]
    # The compiled kernel first: its SramBudgetError counts everything a PE needs (the tile checks below
    # count the tiles alone).
    for kernel, shapes in runs:
        probes = [device.device_array(shape, kind) for shape, kind in shapes]
        try:
            kernel.compile_for(*probes, int(p), device=device)
        finally:
            for probe in probes:
                probe.free()
    if dtype is None:
        _check_tile(t, device.spec)
    else:
        mixed_side(m, k, n, tile, device.spec)


@functools.lru_cache(maxsize=None)
def column_sum_kernel(chunk: int) -> Dispatcher:
    """out[j] = sum_i x[i, j] on a block of Q x P PEs (Q = ceil(cols / chunk), P rows of PEs): PE (q, r)
    adds rows [r * rows_per_pe, (r + 1) * rows_per_pe) of its column chunk, then the partial sums are
    passed north, each PE adding the one from the south. Launch ``kernel[(1, 1), (Q, P)](x, out, rows_per_pe)``."""
    C = chunk

    @jit
    def column_sum(x, out, rows_per_pe):
        q = ws.threadIdx.x
        r = ws.threadIdx.y
        acc = ws.local.array(C, np.float32)
        buf = ws.local.array(C, np.float32)
        start = q * C
        n = min(C, x.shape[1] - start)
        acc[0:n] = 0.0
        first = r * rows_per_pe
        for i in range(first, min(first + rows_per_pe, x.shape[0])):
            buf[0:n] = x[i, start:start + n]
            acc[0:n] = acc[0:n] + buf[0:n]
        if ws.has_neighbor(ws.SOUTH):
            ws.recv(ws.SOUTH, out=buf[0:n])
            acc[0:n] = acc[0:n] + buf[0:n]
        if ws.has_neighbor(ws.NORTH):
            ws.send(ws.NORTH, acc[0:n])
        else:
            out[start:start + n] = acc[0:n]

    return column_sum


@functools.lru_cache(maxsize=None)
def grouped_column_sum_kernel(chunk: int) -> Dispatcher:
    """`column_sum_kernel`'s sums on fewer rows of PEs: PE row r holds `groups` consecutive groups of
    `rows_per_group` rows (the rows one PE of the taller block holds) and adds them in that block's order,
    group g's left-to-right sum plus the sum of the groups south of it, so that the result is bit for bit the
    taller block's. Launch ``kernel[(1, 1), (Q, P)](x, out, rows_per_group, groups)``."""
    C = chunk

    @jit
    def grouped_column_sum(x, out, rows_per_group, groups):
        q = ws.threadIdx.x
        r = ws.threadIdx.y
        acc = ws.local.array(C, np.float32)
        part = ws.local.array(C, np.float32)
        buf = ws.local.array(C, np.float32)
        start = q * C
        n = min(C, x.shape[1] - start)
        rows = x.shape[0]
        first = r * groups
        last = min(first + groups, (rows + rows_per_group - 1) // rows_per_group) - 1
        acc[0:n] = 0.0
        for i in range(last * rows_per_group, min(last * rows_per_group + rows_per_group, rows)):
            buf[0:n] = x[i, start:start + n]
            acc[0:n] = acc[0:n] + buf[0:n]
        if ws.has_neighbor(ws.SOUTH):
            ws.recv(ws.SOUTH, out=buf[0:n])
            acc[0:n] = acc[0:n] + buf[0:n]
        for g in range(last - 1, first - 1, -1):  # (whole groups: only the last group of the matrix is short)
            part[0:n] = 0.0
            for i in range(g * rows_per_group, g * rows_per_group + rows_per_group):
                buf[0:n] = x[i, start:start + n]
                part[0:n] = part[0:n] + buf[0:n]
            acc[0:n] = part[0:n] + acc[0:n]
        if ws.has_neighbor(ws.NORTH):
            ws.send(ws.NORTH, acc[0:n])
        else:
            out[start:start + n] = acc[0:n]

    return grouped_column_sum


def _column_sum_shape(rows: int, cols: int, chunk: int, spec: WaferSpec | None) -> tuple[int, int, int]:
    """(P, rows_per_group, groups): the groups are those of as many rows of PEs as there are rows, up to the
    mesh's height (a perfect wafer's block, one group a PE row); P rows of PEs hold `groups` each, up to the
    rows of PEs the wafer can lay out Q = ceil(cols / chunk) wide: its height, less where defects leave rows
    too few live PEs (then `grouped_column_sum_kernel` keeps the perfect wafer's sums)."""
    height = spec.height if spec else rows
    rows_per_group = -(-rows // min(rows, height))
    total = -(-rows // rows_per_group)
    laid_out = _rows_of_width(spec, pes_per_row(cols, chunk)) if spec else total
    groups = -(-total // min(total, laid_out))
    return -(-total // groups), rows_per_group, groups


def _rows_of_width(spec: WaferSpec, width: int) -> int:
    """The rows of PEs a `width`-wide block can have on the wafer (WaferSpec.repair's rule: rows with fewer
    live PEs are retired), at least 1 (a block that fits nowhere is the launch's LaunchError). A column sum
    as tall as the mesh failed at launch on a wafer whose defects retire a row."""
    if width > spec.width:
        return spec.height
    return max(1, spec.tallest_block(width))


def _grouped_chunk(d_x, d_out, chunk: int, device: Device) -> int:
    """The chunk `grouped_column_sum_kernel` runs with: `chunk`, or less where its three chunks a PE (the
    group's sum, the running one and the row read; `column_sum_kernel` keeps two, and `check_chunk` counts
    those) overflow a PE's SRAM: a chunk that fit a perfect wafer was a `SramBudgetError` on a defective one.
    The sums are the same bit for bit whatever the chunk (each column adds the same rows in the same order,
    element by element). A `TileTooLargeError` saying what to do when the smaller chunk needs more PEs
    across than the wafer's rows can lay out."""
    spec, cols, smaller = device.spec, d_x.shape[1], chunk
    while True:
        try:
            grouped_column_sum_kernel(smaller).compile_for(d_x, d_out, 1, 2, device=device)
            return smaller
        except SramBudgetError as err:
            needed, available = err.fields["needed"], err.fields["available"]
            smaller -= max(1, -(-(needed - available) // 12))  # (3 float32 arrays of `smaller` words)
            across = pes_per_row(cols, max(smaller, 1))
            if smaller < 1 or across > spec.width or spec.repair(across, 1) is None:
                raise TileTooLargeError(
                    f"on this wafer's defects the column sum keeps three chunks of {chunk} float32 a PE "
                    f"({needed:,} bytes with its code, a PE has {available:,}), and a chunk small enough needs "
                    f"more PEs across than the wafer's live PEs lay out: use a wafer with spare rows "
                    f"(WaferSpec(spare_rows=)) or more SRAM", needed=needed, available=available) from None


@call_checked
def column_sum(x: np.ndarray, chunk: int = DEFAULT_CHUNK, device: Device | None = None,
               stream=None) -> tuple[np.ndarray, LaunchStats]:
    """The sum over rows of a (rows, cols) float32 matrix (the bias gradient db = sum_i dY[i]).

    Returns (a length-cols float32 vector, LaunchStats)."""
    x = as_matrix("x", x)
    check_chunk(chunk, spec_of(device), arrays=2)
    rows, cols = x.shape
    pe_rows, rows_per_group, groups = _column_sum_shape(rows, cols, chunk, spec_of(device))
    q = pes_per_row(cols, chunk)
    device = device or fitting_device(q, pe_rows)
    if q > device.spec.width:
        raise MLShapeError(f"{cols} columns in chunks of {chunk} need {q} PEs across, more than the wafer's "
                           f"width {device.spec.width}: use a larger chunk", needed=q, available=device.spec.width)
    with Scratch(device, stream) as mem:
        d_x, d_out = mem.put(x), mem.empty(cols)
        if groups > 1:  # (a wafer whose defects retire rows of PEs: three chunks a PE, not two)
            chunk = _grouped_chunk(d_x, d_out, chunk, device)
            pe_rows, rows_per_group, groups = _column_sum_shape(rows, cols, chunk, device.spec)
            q = pes_per_row(cols, chunk)
        if groups == 1:
            stats = column_sum_kernel(chunk)[(1, 1), (q, pe_rows), stream](d_x, d_out, rows_per_group)
        else:  # (a wafer whose defects retire rows of PEs)
            stats = grouped_column_sum_kernel(chunk)[(1, 1), (q, pe_rows), stream](d_x, d_out, rows_per_group,
                                                                                   groups)
        return mem.get(d_out), stats


def dense_device(rows: int, features: tuple[int, ...], tile: int, chunk: int) -> Device:
    """A device just large enough for every launch of a dense layer of `rows` rows between layers of the
    given widths: the SUMMA block and the row-layout blocks."""
    p = max(summa_side(rows, k, n, tile)[0] for k in features for n in features)
    q = max(pes_per_row(f, chunk) for f in features)
    return fitting_device(max(p, q), max(p, rows))


@call_checked
def dense_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray, tile: int = DEFAULT_TILE,
                  chunk: int = DEFAULT_CHUNK, device: Device | None = None,
                  stream=None, precision: str = "float32") -> tuple[np.ndarray, LaunchStats]:
    """y = x @ w + b for x (batch, in), w (in, out), b (out,): the SUMMA product, then the bias add.

    `precision="float16"` or `"bfloat16"`: x and w in that 16-bit type, float32 accumulation and bias, y
    rounded once to 16 bits, in one launch (`kernels.ml.mixed`). Returns (y as float32, or the 16-bit
    dtype, and the launches' LaunchStats added up)."""
    dtype = half_dtype(precision)
    x, w = as_matrix("x", x, dtype or np.float32), as_matrix("w", w, dtype or np.float32)
    b = as_vector("b", b, w.shape[1])
    if dtype is not None:
        return matmul_mixed(x, w, precision, tile, bias=b, round_out=True, device=device, stream=stream)
    check_chunk(chunk, spec_of(device))
    device = device or dense_device(x.shape[0], (x.shape[1], w.shape[1]), tile, chunk)
    product, gemm_stats = matmul(x, w, tile, device, stream)
    with Scratch(device, stream) as mem:
        d_z, d_b, d_y = mem.put(product), mem.put(b), mem.empty(product.shape)
        bias_stats = launch_rows(bias_add_kernel(chunk), *product.shape, chunk, d_z, d_b, d_y, stream=stream)
        return mem.get(d_y), combine_stats([gemm_stats, bias_stats])


@call_checked
def dense_backward(x: np.ndarray, w: np.ndarray, dy: np.ndarray, tile: int = DEFAULT_TILE,
                   chunk: int = DEFAULT_CHUNK, device: Device | None = None, need_dx: bool = True,
                   stream=None, precision: str = "float32") -> tuple[tuple[np.ndarray | None, np.ndarray, np.ndarray], LaunchStats]:
    """Gradients of y = x @ w + b given dy = dL/dy: dx = dy @ w.T, dw = x.T @ dy, db = sum over rows of dy.

    The transposes are host-side layout (as `gemm.to_tiles` is). `need_dx=False` skips dx (the first
    layer's). `precision="float16"` or `"bfloat16"`: x, w and dy in that 16-bit type and float32
    accumulation; dx is rounded to 16 bits, dw and db stay float32 (for float32 master weights).
    Returns ((dx or None, dw, db), the launches' LaunchStats added up)."""
    dtype = half_dtype(precision) or np.float32
    x, w, dy = as_matrix("x", x, dtype), as_matrix("w", w, dtype), as_matrix("dy", dy, dtype)
    if w.shape[0] != x.shape[1] or dy.shape != (x.shape[0], w.shape[1]):
        raise MLShapeError(f"dense_backward: x {x.shape}, w {w.shape} and dy {dy.shape} do not match",
                           shape=(x.shape, w.shape, dy.shape))
    check_chunk(chunk, spec_of(device), arrays=2)
    device = device or dense_device(x.shape[0], w.shape, tile, chunk)
    launches = []
    dx = None

    def product(a: np.ndarray, b: np.ndarray, rounded: bool) -> tuple[np.ndarray, LaunchStats]:
        if precision == "float32":
            return matmul(a, b, tile, device, stream)
        return matmul_mixed(a, b, precision, tile, round_out=rounded, device=device, stream=stream)

    if need_dx:
        dx, stats = product(dy, w.T, True)
        launches.append(stats)
    dw, stats = product(x.T, dy, False)
    launches.append(stats)
    db, stats = column_sum(dy, chunk, device, stream)
    launches.append(stats)
    return (dx, dw, db), combine_stats(launches)
