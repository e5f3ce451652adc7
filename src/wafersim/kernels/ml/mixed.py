"""Mixed precision: the dense layer with 16-bit (float16 or bfloat16) weights and activations and float32
accumulation, forward and backward (the `precision=` option of `dense_forward` and `dense_backward`).

The product runs on a SUMMA kernel like the library's (`kernels.gemm`: P x P block, routed row and column
buses, tile-blocked operands) whose A and B tiles are 16-bit: they cross the fabric as 16-bit values, each
received A tile is widened once to float32 (`vcvtf`), and every step of the inner loop is one `vwfma`:
C[i, :] += float32(A[i, kk]) * float32(B[kk, :]), whose elements run at `WaferSpec.vector_lanes_half` a
cycle instead of `vector_lanes` (docs/timing.md). The product of two 16-bit values is exact in float32, so
each step rounds once, in float32, in the order kk = 0, 1, ... n - 1: the result equals NumPy's
`c = c + np.outer(a32[:, kk], b32[kk, :])` over kk exactly. The forward pass adds the float32 bias before
the single rounding of y to 16 bits, in the same kernel.

Precisions: what the host functions return. Forward: y (16-bit). Backward: dx (16-bit, the next layer
down's activation gradient), dw and db in float32 (they update float32 master weights, as mixed-precision
training keeps them; db sums the rows of dy widened to float32, on `dense.column_sum`).
"""
from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping

import numpy as np

from ...arch.spec import WaferSpec
from ...compiler import intrinsics as ws
from ...errors import call_checked
from ...isa.halfprec import HALF_DTYPES
from ...runtime.device import Device
from ...runtime.jit import Dispatcher, jit
from ...sim.stats import LaunchStats
from ..gemm import from_tiles, to_tiles
from ..hosting import Scratch, device_argument, fitting_device
from .layout import MLShapeError, TileTooLargeError, as_matrix, as_vector, check_tile


class _Precisions(Mapping):
    """`precision=` name -> dtype of the 16-bit operands (None: float32). bfloat16's dtype is looked up
    when asked for, so importing the kernels does not import `ml_dtypes` (isa/halfprec.py)."""

    _KINDS = {"float32": None, "float16": "f16", "bfloat16": "bf16"}

    def __getitem__(self, precision: str) -> np.dtype | None:
        kind = self._KINDS[precision]
        return None if kind is None else HALF_DTYPES[kind]

    def __iter__(self) -> Iterator[str]:
        return iter(self._KINDS)

    def __len__(self) -> int:
        return len(self._KINDS)


#: The `precision=` names of the ML host functions and the dtype of their 16-bit operands (None: float32).
PRECISIONS: Mapping[str, np.dtype | None] = _Precisions()
#: SRAM words per tile element of the mixed SUMMA kernel: A, B, the received A (16-bit and widened), the
#: received B, the float32 C and its 16-bit rounding.
_TILE_WORDS = 7


def half_dtype(precision: str) -> np.dtype | None:
    """The 16-bit dtype of a `precision=` name (None for float32); `MLShapeError` for an unknown name."""
    if not isinstance(precision, str) or precision not in PRECISIONS:  # (a list or dict: "unhashable type")
        raise MLShapeError(f"precision must be one of {sorted(PRECISIONS)}, got {precision!r}", precision=precision)
    return PRECISIONS[precision]


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
    A[i, kk] * B[kk, :], one vector fma per row of C (here: a float32 A_k and C, a 16-bit B_k).

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
def mixed_gemm_kernel(tile: int, dtype: np.dtype, bias: bool, round_out: bool) -> Dispatcher:
    """SUMMA for T x T tiles of 16-bit A and B (`dtype`), float32 accumulation; `bias`: add a float32 row
    vector to every row of C; `round_out`: store C rounded to `dtype` (else float32).

    Launch on a P x P block: ``kernel[(1, 1), (P, P)](a, b, bias, c, P)`` with tile-blocked (P*P, T*T) a, b
    and c (`gemm.to_tiles`) and bias as (P, T): row px is the bias of tile column px."""
    T, TT = tile, tile * tile
    HALF = np.dtype(dtype).type
    OUT = HALF if round_out else np.float32

    @jit(boundscheck=False)  # tested against NumPy: the checks would cost a third of its speed, as in gemm
    def gemm_mixed(a, b, bias_tiles, c, p):
        px, py = ws.grid(2)
        at = ws.local.array(TT, HALF)  # this PE's A tile
        bt = ws.local.array(TT, HALF)  # this PE's B tile
        ah = ws.local.array(TT, HALF)  # A[py, k] as it arrives along the row
        ak = ws.local.array(TT, np.float32)  # ... widened: the scalars of the fmas
        bk = ws.local.array(TT, HALF)  # B[k, px], from the column
        ct = ws.local.array(TT, np.float32)  # the float32 accumulator
        me = py * p + px
        at[0:TT] = a[me, 0:TT]
        bt[0:TT] = b[me, 0:TT]
        ct[0:TT] = 0.0
        ws.use_route(0, "row_bus")
        ws.use_route(1, "column_bus")
        for k in range(p):
            if px == k:
                ak[0:TT] = at[0:TT]
                ws.send(ws.RAMP, at[0:TT], channel=0)
            else:
                ws.recv(ws.RAMP, out=ah[0:TT], channel=0)
                ak[0:TT] = ah[0:TT]
            share_tile(py == k, bt, bk, 1)
            tile_product(ak, bk, ct, T)  # each step one vwfma: float32 ak scalar, 16-bit bk row, float32 ct
        if bias:  # compile-time constants: folded, so a kernel without them has no trace of them
            row = ws.local.array(T, np.float32)
            row[0:T] = bias_tiles[px, 0:T]
            for ci in range(0, TT, T):
                ct[ci:ci + T] = ct[ci:ci + T] + row[0:T]
        if round_out:
            rounded = ws.local.array(TT, OUT)
            rounded[0:TT] = ct[0:TT]
            c[me, 0:TT] = rounded[0:TT]
        else:
            c[me, 0:TT] = ct[0:TT]

    return gemm_mixed


def checked_side(m: int, k: int, n: int, tile: int, spec: WaferSpec | None) -> tuple[int, int]:
    """(p, T) of a product, as `dense.summa_side`, checked against the wafer and a PE's SRAM."""
    from .dense import summa_side

    check_tile(tile)
    p, t = summa_side(m, k, n, tile)
    sram = (spec or WaferSpec()).sram_bytes
    if (_TILE_WORDS * t * t + t) * 4 >= sram:
        raise TileTooLargeError(f"mixed-precision SUMMA tiles of {t} x {t} need {(_TILE_WORDS * t * t + t) * 4} "
                                f"bytes of SRAM per PE, the wafer has {sram}: use a smaller tile",
                                needed=(_TILE_WORDS * t * t + t) * 4, available=sram)
    if spec is not None and p > min(spec.width, spec.height):
        raise MLShapeError(f"a {m} x {k} @ {k} x {n} product in {t} x {t} tiles needs a {p} x {p} block, larger "
                           f"than the {spec.width} x {spec.height} wafer: use a larger tile", needed=p,
                           available=min(spec.width, spec.height))
    return p, t


@call_checked
def matmul_mixed(a: np.ndarray, b: np.ndarray, precision: str = "float16", tile: int = 8,
                 bias: np.ndarray | None = None, round_out: bool = False, device: Device | None = None,
                 stream=None) -> tuple[np.ndarray, LaunchStats]:
    """a @ b (+ bias) with a and b rounded to the 16-bit `precision` and float32 accumulation (see the
    module for the exact order), on a `p x p` block (zero-padded to a square, as `dense.matmul`).

    Returns (the (m, n) result: float32, or the 16-bit dtype with `round_out`, LaunchStats)."""
    dtype = half_dtype(precision)
    if dtype is None:
        raise MLShapeError("matmul_mixed takes a 16-bit precision ('float16' or 'bfloat16'); float32 products "
                           "are dense.matmul", precision=precision)
    a, b = as_matrix("a", a, dtype), as_matrix("b", b, dtype)
    (m, k), (k2, n) = a.shape, b.shape
    if k != k2:
        raise MLShapeError(f"matmul of {a.shape} and {b.shape}: inner dimensions differ", shape=(a.shape, b.shape))
    p, t = checked_side(m, k, n, tile, device_argument(device) and device.spec)
    side = p * t
    padded_a, padded_b = np.zeros((side, side), dtype), np.zeros((side, side), dtype)
    padded_a[:m, :k], padded_b[:k, :n] = a, b
    bias_tiles = np.zeros((p, t), np.float32)
    if bias is not None:
        bias_tiles.reshape(-1)[:n] = as_vector("bias", bias, n)
    out_dtype = dtype if round_out else np.dtype(np.float32)
    kernel = mixed_gemm_kernel(t, dtype, bias is not None, round_out)
    with Scratch(device or fitting_device(p, p), stream) as mem:
        d_a, d_b, d_bias = mem.put(to_tiles(padded_a, p)), mem.put(to_tiles(padded_b, p)), mem.put(bias_tiles)
        d_c = mem.empty((p * p, t * t), out_dtype)
        stats = kernel[(1, 1), (p, p), stream](d_a, d_b, d_bias, d_c, int(p))
        return np.ascontiguousarray(from_tiles(mem.get(d_c), p)[:m, :n]), stats

