"""Placement of a grid of blocks on the wafer: slots, waves, and per-PE identity arrays.

Blocks are rectangles placed in a regular tiling of slots from the wafer's north-west corner. When a
grid has more blocks than slots, the rest wait in a queue: the k-th block of a slot starts when the
(k-1)-th has finished there (waves). Block `b` (row-major over the grid) runs in wave b // slots, slot
b % slots.
"""
from __future__ import annotations

import dataclasses
import functools
import math

import numpy as np

from ..arch import defects as defect_model
from ..arch.values import is_integer
from ..arch.defects import Repair
from ..arch.spec import WaferSpec
from ..errors import ArgumentTypeError, LaunchError
from ..isa.opcodes import DIRECTION_STEP


INT32_MAX = 2**31 - 1


def normalize_dims(value, what: str) -> tuple[int, int]:
    """(x, y) from an int or a 1- or 2-tuple of positive ints (or CUDA's dim3 of depth 1, `(x, y, 1)`), with a
    clear error otherwise."""
    dims = (value,) if is_integer(value) else value
    message = f"{what} must be an int or a tuple of 1 or 2 ints (or (x, y, 1)), got {value!r}"
    try:
        dims = tuple(dims)
    except TypeError:  # (a float, None, ...: the wrong type, an ArgumentTypeError, also a LaunchError)
        raise ArgumentTypeError(message, **{what: value}) from None
    if not all(is_integer(d) for d in dims):
        raise ArgumentTypeError(message, **{what: value})
    if len(dims) == 1:
        dims = (dims[0], 1)
    if len(dims) == 3 and dims[2] == 1:  # a dim3 of depth 1, as CUDA code writes it: the same 2-D shape
        dims = dims[:2]
    if len(dims) == 3 and min(dims) < 1:  # (before the folding advice, which would fold it into (x, 0))
        raise LaunchError(f"{what} {tuple(int(d) for d in dims)} must be positive in every dimension", **{what: dims})
    if len(dims) == 3:
        raise LaunchError(f"{what} {tuple(int(d) for d in dims)}: the wafer is a 2-D mesh of PEs, so there are no "
                          f"3-D grids or blocks: fold the third axis into y, ({int(dims[0])}, "
                          f"{int(dims[1]) * int(dims[2])}), and split it in the kernel (z, y = y // height, "
                          f"y % height)", **{what: value})
    if len(dims) != 2:
        raise LaunchError(message, **{what: value})
    if min(dims) < 1:
        raise LaunchError(f"{what} {tuple(int(d) for d in dims)} must be positive in every dimension", **{what: dims})
    return int(dims[0]), int(dims[1])


def block_shape_for(n: int, width: int, height: int) -> tuple[int, int] | None:
    """A block shape (bx, by) for `n` PEs that fits a `width` x `height` wafer: the most nearly square one
    of exactly n PEs (a CUDA block of 1024 x 1 threads becomes (32, 32)), else the most nearly square one
    of a few more PEs (some idle); None where more than the wafer's PEs are asked for."""
    if n > width * height:
        return None
    shapes = [(bx, n // bx) for bx in range(1, min(n, width) + 1) if n % bx == 0 and n // bx <= height]
    if shapes:
        return min(shapes, key=lambda s: (abs(s[0] - s[1]), -s[0]))
    side = max(min(width, math.isqrt(n - 1) + 1), -(-n // height))  # (n / side rows fit: side >= n / height)
    return side, -(-n // side)


def slot_grid(spec: WaferSpec, n_blocks: int, block: tuple[int, int]) -> tuple[int, int]:
    """(slots across, slots down): the tiling of `block`-sized slots a launch of `n_blocks` blocks uses.

    The logical mesh's tiling (`width // bx` by `height // by`), unless the wafer's spares cannot cover the
    mesh and its first wave would need PEs the repair cannot lay out: then the tiling with the most slots
    (the widest among equals) that the live PEs can carry, so that the grid runs in more waves, as it would
    on a smaller wafer, instead of failing. (1, 1) if not even one block fits: the launch then fails with
    the `LaunchError` that names the dead PEs in its way."""
    bx, by = block
    across, down = spec.width // bx, spec.height // by
    if not spec.has_physical_layout or spec.repair() is not None:
        return across, down
    count = min(n_blocks, across * down)
    if spec.repair(min(count, across) * bx, -(-count // across) * by) is not None:
        return across, down  # the first wave fits the live PEs: placed as on a perfect wafer
    cols = np.arange(1, across + 1)
    rows = np.minimum(np.minimum(defect_model.rows_with_at_least(spec.dead, across * bx)[cols * bx], spec.height) // by,
                      down)
    slots = cols * rows
    if slots.max() == 0:
        return 1, 1
    best = int(np.flatnonzero(slots == slots.max())[-1])
    return int(cols[best]), int(rows[best])


@dataclasses.dataclass(frozen=True)
class Placement:
    spec: WaferSpec
    grid: tuple[int, int]
    block: tuple[int, int]

    def __post_init__(self) -> None:
        bx, by = self.block
        for axis, blocks, threads in (("x", self.grid[0], bx), ("y", self.grid[1], by)):
            if blocks * threads > INT32_MAX:  # (a kernel's global index, blockIdx * blockDim + threadIdx, is int32)
                raise LaunchError(f"grid of {blocks:,} blocks of {threads} threads along {axis}: "
                                  f"{blocks * threads:,} threads, more than a kernel's int32 index can number "
                                  f"({INT32_MAX:,})", grid=self.grid, block=self.block)
        if bx > self.spec.width or by > self.spec.height:
            width, height = self.spec.width, self.spec.height
            n = bx * by
            shape = block_shape_for(n, width, height)
            if bx > 1 and by > 1:  # (a 2-D block: its kernel's threadIdx.x/.y are coordinates, not one index to refold)
                hint = (f"; a kernel indexes a {bx} x {by} block by its x and y, so another shape of {n} PEs would "
                        f"change what each PE computes: use a grid of smaller blocks, or a larger wafer (a "
                        f"WaferSpec with width={max(bx, width)}, height={max(by, height)})")
            elif shape is None:
                hint = f"; at most {width * height} PEs a block here: use more, smaller blocks"
            elif shape[0] * shape[1] == n:
                hint = f"; {n} PEs fit as block {shape}"
            else:
                hint = (f"; block {shape} holds {n} PEs ({shape[0] * shape[1]} PEs: those past the first {n} skip the "
                        f"work, if i < {n})")
            if bx == 1 or by == 1:
                hint += " (index it with x, y = ws.grid(2), or ws.threadIdx.x and ws.threadIdx.y)"
            raise LaunchError(f"block {bx} x {by} is larger than the wafer ({width} x {height} PEs): a block is a "
                              f"rectangle of PEs of the wafer, width x height, at most {width} x {height}{hint}",
                              block=self.block, wafer=(width, height), suggested_block=shape)
        _ = self.repair  # on a wafer with defects the spares must cover the first (largest) wave: else a LaunchError

    @functools.cached_property
    def repair(self) -> "Repair | None":
        """Where each logical PE of the launch sits on the physical array (None on a wafer without spares
        or defects: every PE at its own coordinates). Every wave lies within the first one's rectangle."""
        first = self.wave(0)
        return self.spec.repair_for_launch(first.width, first.height)

    @functools.cached_property
    def slot_grid(self) -> tuple[int, int]:
        """(slots across, slots down): see `slot_grid` (fewer than the mesh tiles where defects leave less)."""
        return slot_grid(self.spec, self.n_blocks, self.block)

    @property
    def slots_x(self) -> int:
        return self.slot_grid[0]

    @property
    def slots_y(self) -> int:
        return self.slot_grid[1]

    @property
    def slots(self) -> int:
        return self.slots_x * self.slots_y

    @property
    def n_blocks(self) -> int:
        return self.grid[0] * self.grid[1]

    def defects_note(self) -> str:
        """Why fewer blocks fit at once than on a perfect wafer of the same mesh ("" where as many fit), for
        errors that count the blocks at once: a user who sees 2 slots on a mesh that tiles 4 needs the cause."""
        bx, by = self.block
        perfect = (self.spec.width // bx) * (self.spec.height // by)
        if self.slots >= min(perfect, self.n_blocks):
            return ""
        w, h = self.spec.usable_rectangle
        return (f"; a perfect {self.spec.width} x {self.spec.height} wafer holds {perfect}, but this one's "
                f"{self.spec.n_dead} dead PEs leave a usable {w} x {h}: more spare_cols or spare_rows in the "
                f"WaferSpec would give the blocks back")

    @property
    def waves(self) -> int:
        return math.ceil(self.n_blocks / self.slots)

    def wave(self, index: int) -> "WaveRegion":
        first = index * self.slots
        return WaveRegion(self, first, min(self.slots, self.n_blocks - first))


@dataclasses.dataclass(frozen=True)
class WaveRegion:
    """The rectangle of the wafer one wave occupies; PEs are numbered row-major, flat index y * width + x."""

    placement: Placement
    first_block: int
    count: int

    @property
    def cols(self) -> int:  # slots across
        return min(self.count, self.placement.slots_x)

    @property
    def rows(self) -> int:
        return math.ceil(self.count / self.placement.slots_x)

    @property
    def width(self) -> int:
        return self.cols * self.placement.block[0]

    @property
    def height(self) -> int:
        return self.rows * self.placement.block[1]

    @property
    def n(self) -> int:
        return self.width * self.height

    # Per-PE values that depend on a PE's column only, or its row only, are computed for one row (column) and
    # laid out over the region: the same values as arithmetic on flat indices, at a quarter of the cost of
    # the integer divisions (a wafer's first launch computes several such arrays of 754,000 PEs).
    def _per_column(self, values: np.ndarray) -> np.ndarray:
        """Per PE: `values`[its x] (`values` has one entry per column of the region)."""
        return np.tile(values, self.height)

    def _per_row(self, values: np.ndarray) -> np.ndarray:
        """Per PE: `values`[its y] (`values` has one entry per row of the region)."""
        return np.repeat(values, self.width)

    @functools.cached_property
    def _tid_of_column(self) -> np.ndarray:
        """tid.x of each column of the region (`_per_column` lays it out)."""
        return np.arange(self.width, dtype=np.int32) % self.placement.block[0]

    @functools.cached_property
    def _tid_of_row(self) -> np.ndarray:
        """tid.y of each row of the region (`_per_row` lays it out)."""
        return np.arange(self.height, dtype=np.int32) % self.placement.block[1]

    @functools.cached_property
    def xy(self) -> tuple[np.ndarray, np.ndarray]:
        return (self._per_column(np.arange(self.width, dtype=np.int32)),
                self._per_row(np.arange(self.height, dtype=np.int32)))

    @functools.cached_property
    def global_xy(self) -> tuple[np.ndarray, np.ndarray]:
        """Each PE's launch-wide (global) coordinates, `ws.grid(2)`: its block's place in the grid times the
        block size plus its place in the block (`xy` are coordinates in the wave's rectangle of the wafer).
        What errors, prints and `LaunchState` name PEs by."""
        (gx, _), (bx, by) = self.placement.grid, self.placement.block
        x, y = self.xy
        return ((self.block_id % gx) * bx + x % bx).astype(np.int32), ((self.block_id // gx) * by + y % by).astype(np.int32)

    @functools.cached_property
    def slot(self) -> np.ndarray:
        bx, by = self.placement.block
        row_slots = (np.arange(self.height, dtype=np.int32) // by) * self.cols
        column_slots = np.arange(self.width, dtype=np.int32) // bx
        return (row_slots[:, None] + column_slots[None, :]).reshape(-1)  # (y // by) * cols + x // bx

    @functools.cached_property
    def active(self) -> np.ndarray:
        return self.slot < self.count

    @functools.cached_property
    def block_id(self) -> np.ndarray:
        return (self.first_block + self.slot).astype(np.int32)

    @functools.cached_property
    def _cache(self) -> dict:
        return {}

    def special(self, name: str) -> np.ndarray:
        """The values of a special register over the region's PEs (computed once, on first use)."""
        if name not in self._cache:
            (gx, gy), (bx, by) = self.placement.grid, self.placement.block
            table = {
                "tid.x": lambda: self._per_column(self._tid_of_column),
                "tid.y": lambda: self._per_row(self._tid_of_row),
                "bid.x": lambda: self.block_id % gx, "bid.y": lambda: self.block_id // gx,
                "bdim.x": lambda: bx, "bdim.y": lambda: by, "gdim.x": lambda: gx, "gdim.y": lambda: gy,
                "pe.x": lambda: self.xy[0], "pe.y": lambda: self.xy[1],
            }
            self._cache[name] = np.broadcast_to(np.asarray(table[name](), dtype=np.int32), (self.n,))
        return self._cache[name]

    def has_neighbor(self, direction: int) -> np.ndarray:
        """Whether each PE's neighbour in `direction` lies inside the same block."""
        key = ("has_neighbor", direction)
        if key not in self._cache:
            bx, by = self.placement.block
            dx, dy = DIRECTION_STEP[direction]
            if dx:
                tx = self._tid_of_column
                self._cache[key] = self._per_column((tx + dx >= 0) & (tx + dx < bx))
            else:
                ty = self._tid_of_row
                self._cache[key] = self._per_row((ty + dy >= 0) & (ty + dy < by))
        return self._cache[key]

    def offset(self, direction: int) -> int:
        """Flat-index offset of the neighbour in `direction`."""
        dx, dy = DIRECTION_STEP[direction]
        return dx + dy * self.width

    @functools.cached_property
    def hops_to_edge(self) -> np.ndarray:
        """Hops from each PE to the nearest wafer edge (computed once per wave), from its physical site
        on a wafer with spares or defects."""
        repair = self.placement.repair
        if repair is not None:
            return repair.hops_to_edge()[:self.height, :self.width].reshape(-1).astype(np.float64)
        x, y = self.xy
        return self.placement.spec.hops_to_edge(x, y).astype(np.float64)

    def hop_cycles(self, direction: int) -> float | np.ndarray:
        """Cycles a word takes over the link from each PE towards `direction`, router to router:
        `hop_latency`, or on a wafer with spares or defects a per-PE array that adds
        `detour_cycles_per_hop` for every physical hop beyond the first (a link bent around dead PEs)."""
        spec, repair = self.placement.spec, self.placement.repair
        if repair is None:
            return spec.hop_latency
        key = ("hop_cycles", direction)
        if key not in self._cache:
            extra = repair.extra_hops[direction, :self.height, :self.width].reshape(-1)
            self._cache[key] = spec.hop_latency + spec.detour_cycles_per_hop * extra.astype(np.float64)
        return self._cache[key]

    def link_latency(self, direction: int) -> float | np.ndarray:
        """Cycles from a word leaving each PE towards `direction` to its arrival at the neighbour PE: up
        the sender's ramp, over the link (`hop_cycles`), down the receiver's ramp."""
        return self.hop_cycles(direction) + 2 * self.placement.spec.ramp_latency

    def per_block_max(self, values: np.ndarray) -> np.ndarray:
        """Maximum of a per-PE array over each slot's block, by slot number."""
        bx, by = self.placement.block
        return values.reshape(self.rows, by, self.cols, bx).max(axis=(1, 3)).reshape(-1)

    def block_reduce_max(self, values: np.ndarray) -> np.ndarray:
        """Per-block maximum of a per-PE array, broadcast back to the PEs."""
        return self.per_pe_of_blocks(self.per_block_max(values))

    def per_pe_of_blocks(self, per_block: np.ndarray) -> np.ndarray:
        """A per-block array (as from `per_block_max`) broadcast to the PEs of each block."""
        bx, by = self.placement.block
        grid = per_block.reshape(self.rows, self.cols)
        return np.repeat(np.repeat(grid, by, axis=0), bx, axis=1).reshape(-1)

    def block_all(self, flags: np.ndarray) -> np.ndarray:
        """Per-block 'all true' of a per-PE bool array, broadcast back to the PEs."""
        bx, by = self.placement.block
        grid = flags.reshape(self.rows, by, self.cols, bx).all(axis=(1, 3))
        return np.repeat(np.repeat(grid, by, axis=0), bx, axis=1).reshape(-1)
