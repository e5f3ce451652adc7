"""Bandwidth tests: host <-> device copies (`memcpy_*`), off-wafer reads by the PEs of a block, and routed
row and column broadcasts, each measured on the simulator and set beside the figure `WaferSpec` predicts
for it (docs/timing.md, docs/routes.md).

- Host copies: a copy of B bytes takes ``host_transfer_latency_s + B / global_bytes_per_s`` on its
  stream, so the achieved rate climbs from latency-bound (small copies) to `global_bytes_per_s`.
- Off-wafer reads: every PE of an nx x ny block loads n words with one bulk copy (`gldv`). A load
  completes ``global_latency + hops to the wafer edge + (n - 1) / link_words_per_cycle`` cycles after it
  issues, and no sooner than the wafer's shared bandwidth has served every byte before it, so the launch
  takes about ``max(latency term, nx * ny * 4n / global_bytes_per_cycle)`` cycles.
- Row (column) broadcasts: the first PE of every row (column) hands n words to its router once, and the
  routers copy them along the line (`wafersim.collectives`). A word reaches the far end of a line of L
  PEs ``trip = 2 * ramp_latency + (L - 1) * hop_latency`` cycles after it leaves; words on their way wait
  in the routers of the path, so while the receivers keep up the words stream at the link's rate
  (docs/routes.md) and a broadcast takes at least ``n / link_words_per_cycle + trip`` cycles: the line's
  length costs latency, not bandwidth, and the rate per receiver tends to
  ``4 * link_words_per_cycle * clock_hz`` bytes a second.
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Iterable

import numpy as np

from ...arch.spec import WaferSpec
from ... import collectives as wsc
from ...compiler import intrinsics as ws
from ...arch.values import is_integer, whole_argument
from ...errors import ArgumentError, ArgumentTypeError, WaferError, call_checked
from ...runtime.device import Device, event_elapsed_time
from ...runtime.jit import Dispatcher, jit
from ...sim.stats import LaunchStats
from ..hosting import Scratch, check_block_fits, fitting_device, shape_argument


@dataclasses.dataclass
class BandwidthPoint:
    """One measurement: bytes moved, simulated seconds, the achieved rate, and the rate the spec's
    analytic model predicts for the same transfer."""

    nbytes: int
    seconds: float
    bytes_per_s: float
    predicted_bytes_per_s: float


def predicted_memcpy_seconds(spec: WaferSpec, nbytes: int) -> float:
    """A host copy's time from the spec: its fixed latency plus bytes at the off-wafer bandwidth."""
    return spec.host_transfer_latency_s + nbytes / spec.global_bytes_per_s


@call_checked
def memcpy_bandwidth(sizes: Iterable[int], direction: str = "htod", device: Device | None = None
                     ) -> list[BandwidthPoint]:
    """Time one host copy of each size in `sizes` (bytes, multiples of 4) with events on a fresh stream.

    `direction` is "htod" (`memcpy_htod`) or "dtoh" (`memcpy_dtoh`). Returns a `BandwidthPoint` a size."""
    if direction not in ("htod", "dtoh"):
        raise ArgumentError(f"direction must be 'htod' or 'dtoh', got {direction!r}")
    if isinstance(sizes, (str, bytes)) or not np.iterable(sizes):
        raise ArgumentTypeError(f"sizes must be a list of ints (bytes per copy), got {sizes!r}")
    sizes = list(sizes)
    if not all(is_integer(s) for s in sizes):
        raise ArgumentTypeError(f"sizes must be a list of ints (bytes per copy), got {sizes!r}")
    sizes = [int(s) for s in sizes]
    bad = [s for s in sizes if s <= 0 or s % 4]
    if bad:
        raise ArgumentError(f"copy sizes must be positive multiples of 4 bytes (float32 words), got {bad}")
    device = device or Device("dev")
    limit = device.spec.global_bytes // 2
    if max(sizes, default=0) > limit:
        raise ArgumentError(f"a copy of {max(sizes):,} bytes does not fit the device's memory: at most {limit:,} "
                            f"bytes here", needed=max(sizes), available=limit)
    stream, points = device.stream(), []
    for nbytes in sizes:
        host = np.arange(nbytes // 4, dtype=np.float32)
        pointer = device.malloc(nbytes)
        start, stop = device.event(), device.event()
        try:
            start.record(stream)
            if direction == "htod":
                device.memcpy_htod(pointer, host, stream=stream)
            else:
                device.memcpy_dtoh(host, pointer, stream=stream)
            stop.record(stream)
        finally:
            device.free(pointer)
        seconds = event_elapsed_time(start, stop) / 1e3
        points.append(BandwidthPoint(nbytes, seconds, nbytes / seconds,
                                     nbytes / predicted_memcpy_seconds(device.spec, nbytes)))
    return points


#: The words read are k % MODULUS for word k of the array: exact in float32, and computable in the kernel.
MODULUS = 1024


def read_source(pes: int, words: int) -> np.ndarray:
    """The (pes, words) float32 array the read test loads: word k (row-major) holds k % MODULUS."""
    return (np.arange(pes * words, dtype=np.int64) % MODULUS).astype(np.float32).reshape(pes, words)


@functools.lru_cache(maxsize=None)
def global_read_kernel(words: int) -> Dispatcher:
    """A kernel in which every PE of the block loads `words` words of its own row of a (PEs, words) array
    with one bulk copy of `read_source`'s rows and checks the row's first and last words; only a PE that
    read a wrong word stores (a 1 in `bad`), so a correct run times the read alone, with no store to wait
    for."""
    N = words

    @jit
    def global_read(src, bad, nx):
        px, py = ws.grid(2)
        me = py * nx + px
        buf = ws.local.array(N, np.float32)
        buf[0:N] = src[me, 0:N]
        if buf[0] != float((me * N) % MODULUS) or buf[N - 1] != float((me * N + N - 1) % MODULUS):
            bad[me] = 1

    return global_read


def predicted_read_cycles(spec: WaferSpec, words: int, nx: int, ny: int) -> float:
    """The spec's lower bound on a block-wide read of `words` words per PE: the slowest PE's latency term
    (latency, hops to the nearest edge, the words at the link's rate) or the shared bandwidth's, whichever
    is longer (the kernel's few other instructions come on top)."""
    ys, xs = np.mgrid[0:ny, 0:nx]
    latency = spec.global_latency + float(spec.hops_to_edge(xs, ys).max()) + (words - 1) / spec.link_words_per_cycle
    served = np.ceil(4 * words * nx * ny / spec.global_bytes_per_cycle)
    return max(latency, float(served))


def _words_and_block(words, block) -> tuple[int, tuple[int, int]]:
    """`words` (one transfer's length: an int >= 1, not a list of them as `memcpy_bandwidth`'s sizes are) and
    `block` ((nx, ny), ints >= 1), checked: a list of words or an int block was a bare TypeError."""
    if np.iterable(words) and not isinstance(words, (str, bytes)):
        raise ArgumentTypeError(f"words must be one int (the words of one transfer), got {words!r}: call once a "
                                f"size (memcpy_bandwidth takes a list of sizes; this one returns one point)")
    return whole_argument(words, "words", 1), shape_argument(block, "block")


@call_checked
def global_read_bandwidth(words: int, block: tuple[int, int], device: Device | None = None
                          ) -> tuple[BandwidthPoint, LaunchStats]:
    """Every PE of an nx x ny block reads `words` float32 words from off-wafer memory in one bulk copy;
    returns (the achieved and predicted rates as a `BandwidthPoint`, LaunchStats). The words read are
    checked against what was written: a mismatch (a simulator bug) raises `WaferError`."""
    words, (nx, ny) = _words_and_block(words, block)
    device = check_block_fits(device or fitting_device(nx, ny), nx, ny, f"global_read_bandwidth on {nx} x {ny} PEs")
    if words + 64 > device.spec.sram_words:
        raise ArgumentError(f"a read of {words} words per PE does not fit a PE's SRAM of {device.spec.sram_words} "
                            f"words", needed=words, available=device.spec.sram_words)
    with Scratch(device) as mem:
        d_src, d_bad = mem.put(read_source(nx * ny, words)), mem.empty(nx * ny, np.int32)
        stats = global_read_kernel(words)[(1, 1), (nx, ny)](d_src, d_bad, int(nx))
        bad = int(mem.get(d_bad).sum())
    if bad:
        raise WaferError(f"global_read_bandwidth: {bad} PEs read wrong words")  # a simulator bug: say so loudly
    nbytes = 4 * words * nx * ny
    seconds = stats.seconds
    predicted = device.spec.seconds(predicted_read_cycles(device.spec, words, nx, ny))
    return BandwidthPoint(nbytes, seconds, nbytes / seconds, nbytes / predicted), stats


@functools.lru_cache(maxsize=None)
def broadcast_kernel(words: int, rows: bool) -> Dispatcher:
    """A kernel in which PE 0 of every row (`rows`) or column fills `words` words with its line's number
    and broadcasts them along its line over a routed bus; a receiver that got a wrong word stores a 1 in
    `bad` (a correct run stores nothing, so only the broadcast is timed)."""
    N = words
    broadcast = wsc.row_broadcast_array if rows else wsc.column_broadcast_array

    @jit
    def line_broadcast(bad, nx):
        x, y = ws.grid(2)
        line = y if rows else x
        buf = ws.local.array(N, np.float32)
        if (x if rows else y) == 0:
            buf[0:N] = float(line)
        broadcast(buf, 0, 0)
        if buf[0] != float(line) or buf[N - 1] != float(line):
            bad[y * nx + x] = 1

    return line_broadcast


def predicted_broadcast_cycles(spec: WaferSpec, words: int, length: int) -> float:
    """The spec's lower bound on a broadcast of `words` words along a line of `length` PEs: the words at
    the link's rate, then the last one's trip up and down the ramps and over length - 1 hops (the root's
    fill and the kernel's other instructions come on top)."""
    return words / spec.link_words_per_cycle + 2 * spec.ramp_latency + (length - 1) * spec.hop_latency


@call_checked
def broadcast_bandwidth(words: int, block: tuple[int, int], axis: str = "row", device: Device | None = None
                        ) -> tuple[BandwidthPoint, LaunchStats]:
    """PE 0 of every row (`axis="row"`) or column of an nx x ny block broadcasts `words` words along it
    over the routers; returns (the rate at which each receiver gets the words, bytes = 4 * words, against
    the spec's bound, as a `BandwidthPoint`; LaunchStats). A wrong word received raises `WaferError`."""
    if axis not in ("row", "column"):
        raise ArgumentError(f"axis must be 'row' or 'column', got {axis!r}")
    words, (nx, ny) = _words_and_block(words, block)
    device = check_block_fits(device or fitting_device(nx, ny), nx, ny, f"broadcast_bandwidth on {nx} x {ny} PEs")
    if words + 64 > device.spec.sram_words:
        raise ArgumentError(f"a broadcast of {words} words does not fit a PE's SRAM of {device.spec.sram_words} "
                            f"words", needed=words, available=device.spec.sram_words)
    with Scratch(device) as mem:
        d_bad = mem.empty(nx * ny, np.int32)
        stats = broadcast_kernel(words, axis == "row")[(1, 1), (nx, ny)](d_bad, int(nx))
        bad = int(mem.get(d_bad).sum())
    if bad:
        raise WaferError(f"broadcast_bandwidth: {bad} PEs received wrong words")  # a simulator bug: say so loudly
    nbytes = 4 * words
    predicted = device.spec.seconds(predicted_broadcast_cycles(device.spec, words, nx if axis == "row" else ny))
    return BandwidthPoint(nbytes, stats.seconds, nbytes / stats.seconds, nbytes / predicted), stats
