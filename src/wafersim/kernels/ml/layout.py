"""What the ML kernels share: the row layout of a (rows, cols) tensor over the mesh, argument checks,
default devices, and adding up the `LaunchStats` of the launches one host function makes.

**Row layout.** A float32 (rows, cols) tensor lives in device memory as a plain 2-D array. A kernel over it
launches one block of `Q x 1` PEs per row (grid `(1, rows)`): PE `q` of the block holds the columns
`[q * chunk, q * chunk + n)` of its row in SRAM, `n = min(chunk, cols - q * chunk)`, and `Q =
ceil(cols / chunk)`. Reductions over a row (max, sum) are a local loop over the chunk and then the
library's block all-reduce (`kernels.reduce.allreduce`) along the `Q` PEs, over the fabric. `chunk` is a
compile-time constant of each kernel (the size of its local arrays).
"""
from __future__ import annotations

import dataclasses
from collections import Counter
from typing import Sequence

import numpy as np

from ...arch.spec import WaferSpec
from ...arch.values import is_integer
from ...errors import ArgumentError, OutOfMemoryError, WaferError, call_checked
from ...runtime.device import Device
from ...sim.stats import LaunchStats
from ..hosting import device_argument, fitting_device, float32_input

DEFAULT_CHUNK = 8  # columns of a row per PE: small, so that rows of tests span several PEs


class MLShapeError(WaferError, ValueError):
    """Arguments of an ML kernel's host function with shapes, dtypes or options that do not go together."""


class TileTooLargeError(OutOfMemoryError):
    """A chunk or tile that would not fit a PE's SRAM."""


def as_matrix(name: str, value: np.ndarray, dtype=np.float32) -> np.ndarray:
    """`value` as a C-contiguous 2-D array of `dtype` (default float32), or an `MLShapeError` naming the
    argument. The values go through the library's float32 input rule first (`hosting.float32_input`:
    complex values, None, integers beyond 2**24 and finite values beyond float32's range are refused,
    not dropped, made NaN, rounded or made inf), then round to a 16-bit `dtype` where one is asked for
    (`half_input`: a finite value beyond its range is refused too)."""
    array = float32_input(value, name)
    if np.dtype(dtype) != np.float32:
        array = half_input(array, name, dtype)
    if array.ndim != 2 or array.size == 0:
        raise MLShapeError(f"{name} must be a non-empty 2-D array, got shape {array.shape}", array=name,
                           shape=array.shape)
    return array


def half_input(array: np.ndarray, name: str, dtype) -> np.ndarray:
    """The float32 `array` rounded to the 16-bit `dtype` (float16 or bfloat16), C-contiguous. Rounding is
    what mixed precision asks for, but a finite value beyond the type's range would become inf without a
    word (float16 ends at 65504), so it is an `ArgumentError`, as a float64 beyond float32's range is."""
    with np.errstate(over="ignore"):  # (overflow is refused below, with the value)
        half = np.ascontiguousarray(array, dtype=dtype)
    overflowed = np.isinf(half) & np.isfinite(array)
    if overflowed.any():
        dtype = np.dtype(dtype)
        inf_bits = np.array([np.inf], dtype).view(np.uint16)
        largest = float((inf_bits - 1).view(dtype)[0])  # the bits of inf less one: the largest finite value
        remedy = "scale it" + (", or use precision='bfloat16' (float32's range)" if dtype.name == "float16" else "")
        raise ArgumentError(f"{name} holds {float(array[overflowed].flat[0])!r}, beyond {dtype.name}'s range "
                            f"(about {largest:.6g}): rounded to {dtype.name} it would become inf; {remedy}",
                            array=name)
    return half


def as_vector(name: str, value: np.ndarray, length: int) -> np.ndarray:
    """`value` as a float32 vector of `length` elements, or an `MLShapeError`. A row or column ((1, n),
    (n, 1)) is a vector; a matrix holding `length` elements ((3, 3) for 9) is not (it was flattened)."""
    array = float32_input(value, name)  # (the input rule of `as_matrix`)
    if sum(side != 1 for side in array.shape) > 1:
        raise MLShapeError(f"{name} must be a vector of {length} elements, got shape {array.shape}", array=name,
                           shape=array.shape, needed=length)
    array = array.reshape(-1)
    if array.shape != (length,):
        raise MLShapeError(f"{name} must have {length} elements, got shape {np.shape(value)}", array=name,
                           shape=np.shape(value), needed=length)
    return array


def check_tile(tile: int) -> None:
    """A SUMMA tile size is a positive int (a Python or NumPy integer, not a bool), else an `MLShapeError`."""
    if not is_integer(tile) or tile < 1:
        raise MLShapeError(f"tile must be a positive int, got {tile!r}", tile=tile)


def spec_of(device: Device | None) -> WaferSpec | None:
    """The machine of a host function's `device` argument (None for None); anything but a `Device` is an
    `ArgumentTypeError` (a str or a `WaferSpec` was Python's "has no attribute 'spec'")."""
    return device_argument(device) and device.spec


def check_chunk(chunk: int, spec: WaferSpec | None = None, arrays: int = 4) -> None:
    """A chunk is a positive int whose `arrays` local float32 arrays fit (with room for code) in SRAM."""
    if not isinstance(chunk, (int, np.integer)) or chunk < 1:
        raise MLShapeError(f"chunk must be a positive int, got {chunk!r}", chunk=chunk)
    sram = (spec or WaferSpec()).sram_bytes
    if arrays * int(chunk) * 4 > sram // 2:  # half the SRAM is left for code, spills and temporaries
        raise TileTooLargeError(f"{arrays} chunks of {chunk} float32 ({arrays * chunk * 4} bytes) take more than "
                                f"half the {sram}-byte SRAM of a PE: use a smaller chunk",
                                needed=arrays * chunk * 4, available=sram // 2)


def pes_per_row(cols: int, chunk: int) -> int:
    """Q: the PEs of one row's block in the row layout."""
    return -(-cols // chunk)


def row_device(rows: int, cols: int, chunk: int, device: Device | None) -> Device:
    """`device`, or one just large enough to hold every row's block at once (Q x rows PEs)."""
    if device_argument(device) is not None:  # (a str or a WaferSpec was "has no attribute 'spec'")
        q = pes_per_row(cols, chunk)
        if q > device.spec.width:
            raise MLShapeError(f"a row of {cols} columns in chunks of {chunk} needs {q} PEs, more than the "
                               f"wafer's width {device.spec.width}: use a larger chunk", needed=q,
                               available=device.spec.width)
        return device
    return fitting_device(pes_per_row(cols, chunk), rows)


def launch_rows(kernel, rows: int, cols: int, chunk: int, *args, stream=None) -> LaunchStats:
    """Launch a row-layout kernel: one `Q x 1` block per row."""
    return kernel[(1, rows), (pes_per_row(cols, chunk), 1), stream](*args)


@call_checked
def combine_stats(stats: Sequence[LaunchStats]) -> LaunchStats:
    """The counters of launches run one after another on one device, added up (cycles, instructions,
    per-PE busy, stall and link words, bytes, FLOPs): what a host function that makes several launches
    returns. Its `program` names the launches; `grid`, `block` and `start_cycle` are the first launch's."""
    stats = list(stats)
    if not stats:
        raise MLShapeError("no launches to combine")
    if len(stats) == 1:
        return stats[0]
    first = stats[0]
    if any(s.spec != first.spec for s in stats):
        raise MLShapeError("launch statistics of different machines cannot be added up")
    ops: Counter[str] = Counter()
    for s in stats:
        ops.update(s.op_counts)
    return dataclasses.replace(
        first, program="+".join(s.program for s in stats),
        cycles=sum(s.cycles for s in stats), instructions=sum(s.instructions for s in stats),
        busy=sum(s.busy for s in stats), stall=sum(s.stall for s in stats),
        pe_instructions=sum(s.pe_instructions for s in stats), link_words=sum(s.link_words for s in stats),
        global_bytes=sum(s.global_bytes for s in stats), waves=sum(s.waves for s in stats),
        op_counts=dict(ops), vector_elements=sum(s.vector_elements for s in stats),
        flops=sum(s.flops for s in stats), half_flops=sum(s.half_flops for s in stats), prints=[p for s in stats for p in s.prints],
        prints_dropped=sum(s.prints_dropped for s in stats),
        words_left_in_fifos=sum(s.words_left_in_fifos for s in stats), trace=None)


@call_checked
def time_split(stats: LaunchStats) -> tuple[float, float]:
    """(compute, waiting) seconds of a launch: its simulated time divided in the ratio of the PE-cycles its
    PEs spent issuing instructions (`busy`) to those they spent waiting (`stall`: on messages over the
    fabric, barriers and off-wafer memory). For added-up statistics this is the ratio over all of them."""
    busy, stall = float(stats.busy.sum()), float(stats.stall.sum())
    if busy + stall == 0:
        return 0.0, 0.0
    return stats.seconds * busy / (busy + stall), stats.seconds * stall / (busy + stall)
