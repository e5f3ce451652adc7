"""Histogram with equal-width bins: every value is routed to the PE that owns its bin.

**Layout.** The values are dealt out in equal chunks over a row of P PEs (a P x 1 block; the host pads the
last chunk with NaN, which no bin keeps). The B bins are split into P ranges of ceil(B / P) consecutive
bins: PE x owns bins x*BP .. x*BP + BP - 1 and counts them in its SRAM.

**Binning.** Each PE finds the bin of each of its values: an estimate (v - lo) * B / (hi - lo), then
corrected by comparing v with the float32 bin edges (the same edges as `numpy.histogram_bin_edges`), so a
value lands in bin i exactly when edge[i] <= v < edge[i+1] (the last bin also takes v == hi), and values
outside [lo, hi] (and NaN) are dropped, as NumPy does.

**Routing.** Each value's bin number travels, one word, to the owner of the bin, forwarded hop by hop:
first eastwards, then westwards. While binning, a PE counts its own bins and sorts the other bin numbers
into an east-bound and a west-bound list. Eastwards, PE x passes on (or counts, if it owns them) the words
arriving from the west until their end marker (-1), then sends its east-bound list as one message and its
own end marker; westwards the same in mirror image. Each direction is a one-way pipeline from one edge,
so nothing deadlocks. A forwarded word costs the PE it passes a receive, a compare and a send (about 7
cycles), so the kernel is bound by the PEs in the middle of the row, which pass about a quarter of all
values each way when they are spread evenly.

No FLOPs to speak of (the estimate's subtract and multiply per value): `LaunchStats.flops` is small, and
values per cycle is the figure of merit.
"""
from __future__ import annotations

import functools

import numpy as np

from ...compiler import intrinsics as ws
from ...errors import ArgumentError, ArgumentTypeError, call_checked
from ...runtime.device import Device
from ...runtime.jit import Dispatcher, jit
from ...sim.stats import LaunchStats
from ..hosting import Scratch, check_objects, float32_bound, float32_input
from .common import check_fits_sram, line_device

END = -1  # the end of a PE's stream of bin numbers (bins are >= 0)


@functools.lru_cache(maxsize=None)
def histogram_kernel(chunk: int, bins: int, p: int) -> Dispatcher:
    """The kernel for `chunk` values per PE, `bins` bins and a row of `p` PEs (compile-time sizes). Launch
    ``kernel[(1, 1), (p, 1)](values, edges, counts, scale)`` with (p, chunk) float32 values, the bins + 1
    float32 edges, an int32 counts array of p * ceil(bins / p) and the float32 estimate scale
    bins / (hi - lo)."""
    M, B = chunk, bins
    BP = -(-bins // p)  # bins per PE

    @jit(boundscheck=False)  # bins are clamped to [0, B) before use; the tests check counts against NumPy
    def histogram_route(values, edges_g, counts_g, scale):
        x = ws.threadIdx.x
        vals = ws.local.array(M, np.float32)
        east = ws.local.array(M, np.int32)  # bin numbers of this PE's values owned further east
        west = ws.local.array(M, np.int32)  # ... and further west
        edges = ws.local.array(B + 1, np.float32)
        counts = ws.local.array(BP, np.int32)
        vals[0:M] = values[x, 0:M]
        edges[0:B + 1] = edges_g[0:B + 1]
        counts[0:BP] = 0
        lo = edges[0]
        hi = edges[B]
        mine = x * BP  # the first bin this PE owns
        mine_end = mine + BP
        n_east = 0
        n_west = 0
        for i in range(M):
            v = vals[i]
            if v >= lo and v <= hi:  # false for NaN
                b = min(max(int((v - lo) * scale), 0), B - 1)
                while b > 0 and v < edges[b]:
                    b -= 1
                while b < B - 1 and v >= edges[b + 1]:
                    b += 1
                if b >= mine_end:
                    east[n_east] = b
                    n_east += 1
                elif b < mine:
                    west[n_west] = b
                    n_west += 1
                else:
                    counts[b - mine] += 1
        # Eastwards: the stream from the west (forwarded or counted word by word) until its end marker, then
        # this PE's own east-bound words as one message, then the end marker. Each PE waits only on its west
        # neighbour: a pipeline from the west edge.
        if ws.has_neighbor(ws.WEST):
            b = ws.recv(ws.WEST, dtype=np.int32)
            while b != END:
                if b >= mine_end:
                    ws.send(ws.EAST, b)
                else:
                    counts[b - mine] += 1
                b = ws.recv(ws.WEST, dtype=np.int32)
        if ws.has_neighbor(ws.EAST):
            if n_east > 0:
                ws.send(ws.EAST, east[0:n_east])
            ws.send(ws.EAST, END)
        # Westwards, the mirror image.
        if ws.has_neighbor(ws.EAST):
            b = ws.recv(ws.EAST, dtype=np.int32)
            while b != END:
                if b < mine:
                    ws.send(ws.WEST, b)
                else:
                    counts[b - mine] += 1
                b = ws.recv(ws.EAST, dtype=np.int32)
        if ws.has_neighbor(ws.WEST):
            if n_west > 0:
                ws.send(ws.WEST, west[0:n_west])
            ws.send(ws.WEST, END)
        counts_g[mine:mine_end] = counts[0:BP]

    return histogram_route


def float32_edges(edges: np.ndarray) -> np.ndarray:
    """Bin edges as float32, each rounded up where it is not a float32, so that for every float32 v,
    v < edge holds in float32 exactly when it holds for the original edge, except the last, rounded down,
    which the kernel tests as v <= edge (NumPy >= 2 gives float32 edges for float32 data, float64 for
    integers; older NumPy always float64)."""
    edges = np.asarray(edges, dtype=np.float64)
    rounded = edges.astype(np.float32)
    below = rounded.astype(np.float64) < edges
    below[-1] = False
    rounded[below] = np.nextafter(rounded[below], np.float32(np.inf))
    if rounded[-1] > edges[-1]:  # (v <= hi in float32 exactly when v <= the original hi)
        rounded[-1] = np.nextafter(rounded[-1], np.float32(-np.inf))
    return rounded


@call_checked
def histogram(values: np.ndarray, bins: int = 10, range: tuple[float, float] | None = None, p: int = 1,
              device: Device | None = None, stream=None) -> tuple[np.ndarray, np.ndarray, LaunchStats]:
    """`numpy.histogram(values, bins, range)` for float32 values and `bins` equal-width bins, on a row of
    `p` PEs: the values are dealt out over the PEs and each is routed to the PE owning its bin.

    The PEs bin float32 values: other values are converted first (`float32_input`). Integers, booleans and
    float16 convert exactly and are binned by the edges NumPy computes for them, so the result is
    `numpy.histogram(values, bins, range)`; float64 rounds, so a float64 value just below an edge may land in
    the next bin: the counts are those of `numpy.histogram(values.astype(np.float32), bins, range)`. An
    object array of plain numbers is taken as its float64 values (None, strings and complex values are
    refused, as `fft` and `cholesky` refuse them).

    An empty `values` gives zero counts, as NumPy does (its edges span `range`, or 0 .. 1 without one).

    Returns (counts as int64, the bin edges, LaunchStats). `device` defaults to a p x 1 wafer."""
    values = np.asarray(values)
    if values.dtype == object:  # (plain numbers, as fft and cholesky take them; an empty one is float64's [])
        check_objects(values, "values")  # (None, strings, complex values and integers beyond 2**24 refused)
        try:
            values = values.astype(np.float64)  # (then the float64 rule below: exact for those integers)
        except (TypeError, ValueError) as exc:
            raise ArgumentTypeError(f"values cannot be converted to float32: {exc}") from None
    if values.dtype == np.bool_:  # (numpy.histogram counts booleans as uint8 0 and 1)
        values = values.astype(np.uint8)
    # (np.can_cast: ml_dtypes' bfloat16 and 8-bit floats, which float32 holds exactly, are not np.floating)
    real = np.issubdtype(values.dtype, np.floating) or np.issubdtype(values.dtype, np.integer)
    if not (real or np.can_cast(values.dtype, np.float32)):
        raise ArgumentError(f"histogram takes an array of real numbers, got {values.dtype} of shape "
                            f"{values.shape}", shape=values.shape)
    if not isinstance(bins, (int, np.integer)) or isinstance(bins, bool) or bins < 1:
        raise ArgumentError(f"histogram: bins must be a positive int (equal-width bins), got {bins!r}")
    flat = float32_input(values, "values").reshape(-1)
    if range is not None and not (np.ndim(range) == 1 and len(range) == 2):
        # (NumPy unpacks it: "cannot unpack non-iterable float object", a bare TypeError, for range=2.5)
        raise ArgumentError(f"histogram: range must be (low, high), two numbers, or None, got {range!r}",
                            range=range)
    if range is not None:
        for k, edge in enumerate(range):  # (an edge beyond float32 became an infinite float32 edge)
            float32_bound(edge, f"range[{k}]")
    # Values float32 holds exactly (integers up to 2**24, float16, bfloat16, float32) are binned by the edges
    # NumPy computes for their own dtype (float64 for integers, float16 for float16; `float32_edges` keeps every
    # comparison exact), so the counts and edges are numpy.histogram's of `values` itself: edges computed
    # from the float32 copy differ, and moved an integer on an edge (np.arange(101), 45 bins) to the next bin.
    # float64 values are rounded first, so theirs are the edges of the float32 values, as documented.
    exact = values.dtype.kind in "iu" or np.can_cast(values.dtype, np.float32)
    try:
        # NumPy's edges, and its checks of the range
        edges = np.histogram_bin_edges(values if exact else flat, int(bins), range)
    except ValueError as err:  # a range that is reversed or not finite, or data whose range is not finite
        raise ArgumentError(f"histogram: {err}", range=range) from None
    edges32 = float32_edges(edges)
    p, device = line_device("histogram", p, device)
    # An empty `values` counts nothing, as numpy.histogram's zeros (its edges span `range`, or 0 .. 1 without
    # one): each PE still gets a chunk of one NaN, which no bin keeps, so the kernel runs as for any input.
    chunk = max(1, -(-flat.size // p))
    per_pe = -(-int(bins) // p)
    check_fits_sram(f"histogram of {flat.size:,} values over {p} PEs ({chunk:,} each) into {bins} bins",
                    3 * chunk + bins + 1 + per_pe, device.spec)
    packed = np.full(p * chunk, np.nan, np.float32)
    packed[:flat.size] = flat
    scale = np.float32(int(bins) / (float(edges32[-1]) - float(edges32[0])))
    with Scratch(device, stream) as mem:
        d_values, d_edges = mem.put(packed.reshape(p, chunk)), mem.put(edges32)
        d_counts = mem.empty(p * per_pe, np.int32)
        stats = histogram_kernel(chunk, int(bins), p)[(1, 1), (p, 1), stream](d_values, d_edges, d_counts, scale)
        return mem.get(d_counts)[:bins].astype(np.int64), edges, stats
