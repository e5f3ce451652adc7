"""The layout every solver kernel shares: an (nz, ny, nx) grid with X and Y over PEs and Z in SRAM.

PE (x, y) of one nx x ny block owns the column u[:, y, x] of nz values. Its SRAM keeps each vector of
the solver as a *padded column* of nz + 2 words, data in [1, nz], so that the Z neighbours of cell k are
the plain slices [0, nz) and [2, nz + 2) (the two pad words stay 0: the Dirichlet boundary at the ends of
the column). The X and Y neighbours' columns arrive as whole columns from the four neighbouring PEs
(`exchange`), in chunks of at most `fifo_depth` words; a missing neighbour (the edge of the domain) leaves
its buffer at 0, the Dirichlet boundary on the sides.

On the host the grid travels as a (ny * nx, nz) array whose row y * nx + x is PE (x, y)'s column
(`to_columns`), so each PE loads or stores a vector with one bulk copy.

``column_ops(nz, rounds)`` builds the device functions for one column length and one all-reduce (local-array
sizes, slice bounds and channels are compile-time constants): the halo exchange, the operator A = diag -
(sum of the six neighbours), a local dot product (one `vdot` instruction, `ws.dot`) and the block-wide sum.
That sum is, with `rounds` = 0, chains to the block's centre PE and a routed multicast back (channels 0-2,
the halo on 3: 4 channels, what `dev` and the default `WaferSpec` have); with `rounds` = R > 0, the binary
tree of `wsc.TREE` (Rocki et al.) with its column stage on channels of its own (`stages_apart=1`: safe when PEs
reach the sum at different times; channels 0 .. 4 R, the halo on 4 R + 1: several times faster on wide
blocks, its float32 sums in another order). `reduction_rounds(spec, nx, ny)` picks the cheaper of the two by
a cost model of one scalar block sum in a solver (`block_sum_cycles`), the tree only where the wafer has its
channels.
"""
from __future__ import annotations

import dataclasses
import functools
from types import SimpleNamespace

import numpy as np

from ...arch.spec import WaferSpec
from ...compiler import intrinsics as ws
from ...errors import ArgumentError, OutOfMemoryError
from ..hosting import float32_input
from ...runtime.jit import jit
from ...sim.stats import LaunchStats
from ... import collectives as wsc
from ...collectives.trees import MAX_TREE_ROUNDS, tree_rounds

#: The first of the three channels of the block sums (`wafersim.collectives`: neighbour words along the
#: rows, then along the centre column, and a block bus back).
REDUCE_CHANNEL = 0

#: The channel of the halo exchange with the chains' block sums: its own, so that a fast PE's reduction
#: word never queues behind halo words in a FIFO (with the tree's, `halo_channel(rounds)`: past its channels).
HALO_CHANNEL = 3

#: Words per halo message. Every PE sends one to each neighbour before receiving, so a message must fit
#: the receiver's FIFO (`fifo_depth`, 16 by default) or two neighbours would wait on each other.
HALO_CHUNK = 16


class ColumnTooLongError(ArgumentError, OutOfMemoryError):
    """A grid whose Z columns (with the solver's other vectors) do not fit a PE's SRAM."""


def to_columns(u: np.ndarray) -> np.ndarray:
    """(nz, ny, nx) -> (ny * nx, nz): row y * nx + x is the column u[:, y, x] of PE (x, y)."""
    nz, ny, nx = u.shape
    return np.ascontiguousarray(u.reshape(nz, ny * nx).T, dtype=np.float32)


def from_columns(cols: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    """The inverse of `to_columns` for a grid of `shape` (nz, ny, nx)."""
    return np.ascontiguousarray(cols.T.reshape(shape))


def padded_columns(u: np.ndarray) -> np.ndarray:
    """`to_columns(u)` with a 0 before and after each column: the (ny * nx, nz + 2) layout of SRAM."""
    return np.ascontiguousarray(np.pad(to_columns(u), ((0, 0), (1, 1))))


def from_padded_columns(cols: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    """The inverse of `padded_columns` for a grid of `shape` (nz, ny, nx)."""
    return from_columns(cols[:, 1:shape[0] + 1], shape)


def check_grid(u: np.ndarray, name: str, vectors: int, spec: WaferSpec, code_words: int = 1024) -> np.ndarray:
    """`u` as a float32 (nz, ny, nx) array, or a clear error: wrong rank, an empty axis, a grid wider or taller than
    the wafer or than its live PEs can carry (a `LaunchError` naming the dead PEs), or columns that do not fit SRAM
    when the kernel keeps `vectors` padded columns per PE. `code_words` reserves room for the kernel's code (the
    solvers' compile to 300-600 words; should the estimate pass and the program still not fit, the compiler's
    `SramBudgetError` names every part)."""
    u = np.asarray(u)
    if u.ndim != 3 or 0 in u.shape:
        raise ArgumentError(f"{name} must be a non-empty 3-D (nz, ny, nx) array, got shape {u.shape}",
                            shape=u.shape)
    nz, ny, nx = u.shape
    if nx > spec.width or ny > spec.height:
        raise ArgumentError(f"{name}: the {nx} x {ny} (x, y) grid needs a block of {nx} x {ny} PEs, the wafer has "
                            f"{spec.width} x {spec.height}: pass a larger device, or device=None for one just large "
                            f"enough", needed=(nx, ny), available=(spec.width, spec.height))
    # A block the spares cannot cover fails at launch too, but telling the caller to launch smaller blocks,
    # which a solver's caller cannot: its block is the grid's (x, y) extent.
    spec.repair_for_launch(nx, ny, advice=(
        f"{name}'s (x, y) extent fixes the solver's block at {nx} x {ny} PEs: pass a device whose WaferSpec has "
        f"more spare_cols or spare_rows, or device=None for a perfect wafer just large enough"))
    columns = vectors + 1  # and one column of the compiler's vector temporaries
    if spec.fifo_depth < HALO_CHUNK or spec.channels <= HALO_CHANNEL:
        raise ArgumentError(f"the solver kernels exchange halos in {HALO_CHUNK}-word messages on channel "
                            f"{HALO_CHANNEL}: they need fifo_depth >= {HALO_CHUNK} and channels >= {HALO_CHANNEL + 1}, "
                            f"the wafer has {spec.fifo_depth} and {spec.channels}")
    needed = 4 * (columns * (nz + 2) + code_words)
    if needed > spec.sram_bytes:
        longest = (spec.sram_words - code_words) // columns - 2
        raise ColumnTooLongError(
            f"{name}: Z columns of {nz} values need about {needed:,} bytes of SRAM per PE ({columns} vectors of "
            f"{nz + 2} words and {code_words} words of code), a PE has {spec.sram_bytes:,}: use columns of at "
            f"most ~{max(longest, 0)} values",
            needed=needed, available=spec.sram_bytes)
    return float32_input(u, name)


@dataclasses.dataclass
class Solution:
    """What an iterative solver returns: the solution grid, iterations done (counted as SciPy's callback
    counts them), the norm of the last residual the iteration computed (its recurrence, as SciPy tests),
    whether x reached the tolerance, SciPy's `info` code (0 its stopping test passed, > 0 the iteration
    limit, < 0 a breakdown), the launch's stats and ||b - A x|| of the returned x (float64, on the host).

    `converged` needs both the stopping test and ``true_residual_norm <= max(atol, rtol ||b||)``: in float32
    the recurrence residual keeps falling after the true one has stopped at float32's rounding (about 1e-7
    ||b|| times the conditioning), so a tolerance below that passes SciPy's test (`info` 0) with an x that
    does not meet it; `converged` is then False."""

    x: np.ndarray
    iterations: int
    residual_norm: float
    converged: bool
    info: int
    stats: LaunchStats | None
    true_residual_norm: float = 0.0


def halo_channel(rounds: int = 0) -> int:
    """The halo exchange's channel: past the block sums' (chains: 0-2; a tree of `rounds`: 0 .. 4 rounds)."""
    return wsc.tree_channels(rounds, stages_apart=1) if rounds > 0 else HALO_CHANNEL


#: PE cycles of the cost model of one scalar block sum in a solver (`block_sum_cycles`), fitted to the cycles
#: an iteration of classic CG (two block sums) on `wse2`'s and the default `WaferSpec`'s figures over 31 blocks
#: from 2 x 2 to 128 x 8 (every prediction of the chains' and the tree's difference within 4 cycles a sum):
#: the chains' issues and branches around their stream ops and the broadcast; the tree's a round (a send, a
#: receive, an add and the tests of a round, once per round of the longer stage: the shorter overlaps it) and
#: its fixed cost.
CHAIN_FIXED_CYCLES = 28
TREE_ROUND_CYCLES = 10
TREE_FIXED_CYCLES = 21


def block_sum_cycles(spec: WaferSpec, nx: int, ny: int, rounds: int = 0) -> float:
    """Modelled cycles of one scalar block sum of an nx x ny block in a solver: by the chains (`rounds` 0) or
    by the tree of `rounds` rounds (`stages_apart=1`), from the spec's `hop_latency` h and `ramp_latency` t.

    Chains: H = nx // 2 + ny // 2 hops from the farthest PE to the centre, each one stream op of one word,
    2 t + h + 1 cycles (docs/routes.md), then H hops of the broadcast back, h each, and 2 t + 28 more. Tree:
    the word's 2 H hops, in and back, h each (no PE on the way), two ramps (2 t) for each round of the row
    stage and of the column stage that has a partner (bit_length(nx // 2) + bit_length(ny // 2) of them), 10
    cycles for each of the `rounds` and 21 more. The chains so win on small blocks and wherever a ramp is
    cheap (t = 0: the tree from about 44 x 44 on), the tree on `wse2` (t = 2) from about 10 x 10 on."""
    nx, ny = int(nx), int(ny)
    h, t = spec.hop_latency, spec.ramp_latency
    hops = nx // 2 + ny // 2
    if rounds <= 0:
        return hops * (2 * t + 2 * h + 1) + 2 * t + CHAIN_FIXED_CYCLES
    crossings = (nx // 2).bit_length() + (ny // 2).bit_length()
    return 2 * hops * h + 2 * t * crossings + TREE_ROUND_CYCLES * rounds + TREE_FIXED_CYCLES


def reduction_rounds(spec: WaferSpec, nx: int, ny: int) -> int:
    """The `rounds` of `column_ops` for an nx x ny block on a wafer of `spec`: those of the tree all-reduce
    (`tree_rounds`) where the spec has its 4 rounds + 1 channels and the halo's and the tree's modelled block
    sum (`block_sum_cycles`) is cheaper than the chains', else 0 (the chains, which with the halo need the 4
    channels `check_grid` asks for)."""
    rounds = tree_rounds(int(nx), int(ny))
    if rounds > MAX_TREE_ROUNDS:  # (a block of more than 4,095 PEs a side: past the tree's rounds)
        return 0
    if spec.channels < halo_channel(rounds) + 1:
        return 0
    return rounds if block_sum_cycles(spec, nx, ny, rounds) < block_sum_cycles(spec, nx, ny) else 0


@functools.lru_cache(maxsize=None)
def column_ops(nz: int, rounds: int = 0) -> SimpleNamespace:
    """Device functions for padded columns of `nz` values, block sums by chains (`rounds` 0) or by a tree
    of `rounds` rounds (see the module docstring)."""
    NZ = nz
    CH = HALO_CHUNK
    HC = halo_channel(rounds)
    R = rounds
    TREE = rounds > 0

    @jit
    def exchange(u, bn, bs, be, bw):
        """Send this PE's column u[1:NZ+1] to its four neighbours and receive theirs into bn, bs, be, bw.

        Chunk by chunk, every PE sends before it receives (as `kernels.heat_tiled`); a missing neighbour's
        buffer is never written (the caller zeroes it once: the Dirichlet boundary)."""
        has_n = ws.has_neighbor(ws.NORTH)
        has_s = ws.has_neighbor(ws.SOUTH)
        has_e = ws.has_neighbor(ws.EAST)
        has_w = ws.has_neighbor(ws.WEST)
        for c0 in range(0, NZ, CH):
            nl = min(CH, NZ - c0)
            if has_n:
                ws.send(ws.NORTH, u[1 + c0:1 + c0 + nl], channel=HC)
            if has_s:
                ws.send(ws.SOUTH, u[1 + c0:1 + c0 + nl], channel=HC)
            if has_e:
                ws.send(ws.EAST, u[1 + c0:1 + c0 + nl], channel=HC)
            if has_w:
                ws.send(ws.WEST, u[1 + c0:1 + c0 + nl], channel=HC)
            if has_n:
                ws.recv(ws.NORTH, out=bn[c0:c0 + nl], channel=HC)
            if has_s:
                ws.recv(ws.SOUTH, out=bs[c0:c0 + nl], channel=HC)
            if has_e:
                ws.recv(ws.EAST, out=be[c0:c0 + nl], channel=HC)
            if has_w:
                ws.recv(ws.WEST, out=bw[c0:c0 + nl], channel=HC)

    @jit
    def clear_halos(bn, bs, be, bw):
        """Zero the four neighbour buffers: a missing neighbour's column stays 0 (the Dirichlet boundary)."""
        bn[0:NZ] = 0.0
        bs[0:NZ] = 0.0
        be[0:NZ] = 0.0
        bw[0:NZ] = 0.0
        return 0

    @jit
    def laplace(u, out, diag, bn, bs, be, bw):
        """out = diag * u - (the six neighbours' sum) over the column: the 7-point Laplacian (diag = 6)
        plus a diagonal shift. `u` is padded (its Z neighbours are the slices either side); out too."""
        exchange(u, bn, bs, be, bw)
        out[1:NZ + 1] = bn[0:NZ] + bs[0:NZ]
        out[1:NZ + 1] = out[1:NZ + 1] + be[0:NZ]
        out[1:NZ + 1] = out[1:NZ + 1] + bw[0:NZ]
        out[1:NZ + 1] = out[1:NZ + 1] + u[0:NZ]
        out[1:NZ + 1] = out[1:NZ + 1] + u[2:NZ + 2]
        out[1:NZ + 1] = diag[1:NZ + 1] * u[1:NZ + 1] - out[1:NZ + 1]

    @jit
    def local_dot(a, b):
        """sum(a * b) over this PE's column (padded a, b): one vector dot product, summed in order."""
        return ws.dot(a[1:NZ + 1], b[1:NZ + 1])

    @jit
    def block_sum(value):
        """The sum of `value` over the block, on every PE: reduced to the centre PE, broadcast back."""
        if TREE:
            return wsc.block_all_reduce_tree(value, wsc.SUM, REDUCE_CHANNEL, R, 1)
        cx, cy = ws.blockDim.x // 2, ws.blockDim.y // 2
        total = wsc.block_reduce(value, cx, cy, wsc.SUM, REDUCE_CHANNEL)
        return wsc.block_broadcast(total, cx, cy, REDUCE_CHANNEL + 2)

    @jit
    def dot(a, b):
        """sum(a * b) over the whole block, the same value on every PE."""
        return block_sum(local_dot(a, b))

    @jit
    def block_sums(values, scratch):
        """values[k] = the sum of values[k] over the block, on every PE, for each k of the local array
        `values` (`scratch` as long: room for partial sums), in one sweep, as `block_sum` does."""
        if TREE:
            wsc.block_all_reduce_array_tree(values, scratch, wsc.SUM, REDUCE_CHANNEL, R, 1)
            return 0
        cx, cy = ws.blockDim.x // 2, ws.blockDim.y // 2
        wsc.block_reduce_array(values, scratch, cx, cy, wsc.SUM, REDUCE_CHANNEL)
        return wsc.block_broadcast_array(values, cx, cy, REDUCE_CHANNEL + 2)

    return SimpleNamespace(exchange=exchange, clear_halos=clear_halos, laplace=laplace, local_dot=local_dot, dot=dot,
                           block_sums=block_sums, nz=nz, rounds=rounds)
