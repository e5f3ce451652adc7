"""Dead PEs, spares and repair: how a logical mesh is laid onto a physical array with defects.

The physical array is the logical mesh plus `spare_cols` columns on its east side and `spare_rows`
rows on its south side. Repair works the way wafer-scale hardware is described publicly (docs/defects.md):

1. every physical row with more dead PEs than there are spare columns is retired whole (a spare row
   takes its place): logical row y is the y-th physical row that is kept;
2. in each kept row, logical column x is the x-th live PE from the west: a dead PE shifts the rest of
   its row one position east, into the spare columns.

A logical link whose two PEs are then not physically adjacent (a row shifted past a dead PE, a column
bent by different shifts in two rows, a retired row in between) spans more than one physical hop;
each extra hop costs `WaferSpec.detour_cycles_per_hop` cycles (our assumption, docs/timing.md).

Everything here is whole-array NumPy; nothing loops over PEs.
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Any

import numpy as np

from ..errors import LaunchError
from .values import plural

#: (dx, dy) of north, east, south, west: the ISA's direction order (isa.opcodes.DIRECTION_STEP, which
#: imports this package, so it cannot be imported here; tests/test_defects.py checks they agree).
DIRECTION_STEP = ((0, -1), (1, 0), (0, 1), (-1, 0))

MAX_LISTED_ROWS = 6  # rows of dead PEs an error message spells out
MAX_LISTED_PES = 8  # dead PEs listed per row


def edge_hops(x: Any, y: Any, width: int, height: int) -> Any:
    """Hops from (x, y) to the nearest edge of a `width` x `height` array (scalars or arrays)."""
    return np.minimum(np.minimum(x, width - 1 - x), np.minimum(y, height - 1 - y))


def draw_dead(physical_shape: tuple[int, int], explicit: tuple[tuple[int, int], ...], rate: float,
              seed: int) -> np.ndarray:
    """The (height, width) bool map of dead physical PEs: the explicit list plus a reproducible draw in
    which every PE dies independently with probability `rate` (NumPy's PCG64 seeded with `seed`)."""
    dead = np.zeros(physical_shape, dtype=bool)
    if rate > 0:
        dead |= np.random.default_rng(seed).random(physical_shape) < rate
    if explicit:
        xs, ys = np.asarray(explicit, dtype=np.int64).T
        dead[ys, xs] = True
    return dead


@dataclasses.dataclass(frozen=True)
class Repair:
    """The physical PE behind every logical PE of a `width` x `height` rectangle, and what it costs.

    `phys_x[y, x]` and `phys_y[y]` are the physical column and row of logical PE (x, y)."""

    width: int
    height: int
    phys_x: np.ndarray  # (height, width) int64
    phys_y: np.ndarray  # (height,) int64
    dead: np.ndarray  # (physical height, physical width) bool

    @functools.cached_property
    def extra_hops(self) -> np.ndarray:
        """(4, height, width): physical hops beyond one of the link from each logical PE towards its
        logical neighbour, by direction (north, east, south, west); 0 where there is no neighbour."""
        px = self.phys_x
        py = np.broadcast_to(self.phys_y[:, None], px.shape)
        # int32: 4 bytes per PE and direction (a wse2 wafer has 3 million directed links)
        extra = np.zeros((4, self.height, self.width), dtype=np.int32)
        for direction, (dx, dy) in enumerate(DIRECTION_STEP):
            src = (slice(max(-dy, 0), self.height - max(dy, 0)), slice(max(-dx, 0), self.width - max(dx, 0)))
            dst = (slice(max(dy, 0), self.height + min(dy, 0)), slice(max(dx, 0), self.width + min(dx, 0)))
            hops = np.abs(px[dst] - px[src]) + np.abs(py[dst] - py[src])
            extra[direction][src] = hops - 1
        return extra

    def hops_to_edge(self) -> np.ndarray:
        """(height, width): hops from each logical PE's physical site to the nearest physical wafer edge."""
        ph, pw = self.dead.shape
        return edge_hops(self.phys_x, self.phys_y[:, None], pw, ph)

    @functools.cached_property
    def used(self) -> np.ndarray:
        """(physical height, physical width) bool: the physical PEs that carry a logical PE."""
        used = np.zeros(self.dead.shape, dtype=bool)
        used[np.broadcast_to(self.phys_y[:, None], self.phys_x.shape), self.phys_x] = True
        return used

    def to_physical(self, values: np.ndarray, fill: float = np.nan) -> np.ndarray:
        """A per-logical-PE (height, width) array laid out on the physical array (`fill` elsewhere)."""
        out = np.full(self.dead.shape, fill, dtype=np.result_type(values.dtype, np.float64))
        out[np.broadcast_to(self.phys_y[:, None], self.phys_x.shape), self.phys_x] = values
        return out

    @property
    def spare_cols_used(self) -> int:
        """The most spare columns any row uses (how far east its last logical PE was pushed)."""
        return int((self.phys_x[:, -1] - (self.width - 1)).max(initial=0))

    @property
    def spare_rows_used(self) -> int:
        """Physical rows retired above the last logical row."""
        return int(self.phys_y[-1] - (self.height - 1)) if self.height else 0


def live_per_row(dead: np.ndarray) -> np.ndarray:
    return dead.shape[1] - dead.sum(axis=1)


def repair(dead: np.ndarray, width: int, height: int) -> Repair | None:
    """Lay a `width` x `height` logical rectangle onto the physical array, or None if the spares cannot
    cover the defects (fewer than `height` physical rows with `width` live PEs)."""
    kept = np.flatnonzero(live_per_row(dead) >= width)[:height]  # rows with too few live PEs are retired
    if len(kept) < height:
        return None
    live = ~dead[kept]
    # The stable sort puts each row's live columns first, west to east: logical x -> x-th live PE.
    phys_x = np.argsort(~live, axis=1, kind="stable")[:, :width].astype(np.int64)
    return Repair(width, height, phys_x, kept.astype(np.int64), dead)


def rows_with_at_least(dead: np.ndarray, width: int) -> np.ndarray:
    """(width + 1,): element w is how many physical rows have at least w live PEs (the height of the
    tallest w-wide logical rectangle the repair can lay out, before the mesh's own height caps it)."""
    live = np.minimum(live_per_row(dead), width)
    return np.cumsum(np.bincount(live, minlength=width + 1)[::-1])[::-1]


def usable_rectangle(dead: np.ndarray, width: int, height: int) -> tuple[int, int]:
    """The largest-area logical rectangle (w <= width, h <= height) the repair can lay onto the array;
    among equal areas, the widest; (0, 0) when not one PE is live."""
    widths = np.arange(width + 1)
    heights = np.minimum(rows_with_at_least(dead, width), height)
    area = widths * heights
    if area.max() == 0:  # (not (width, 0): a rectangle of no PEs has no width either)
        return 0, 0
    best = int(np.flatnonzero(area == area.max())[-1])
    return best, int(heights[best])


def blocking_rows(dead: np.ndarray, width: int) -> list[tuple[int, list[int]]]:
    """(physical row, dead columns) of every row with fewer than `width` live PEs."""
    rows = np.flatnonzero(live_per_row(dead) < width)
    return [(int(y), np.flatnonzero(dead[y]).tolist()) for y in rows]


LAUNCH_ADVICE = "Launch smaller blocks (a grid of many runs in more waves), or add spares to the WaferSpec"


def cannot_cover(dead: np.ndarray, width: int, height: int, usable: tuple[int, int], spare_cols: int,
                 spare_rows: int, advice: str = LAUNCH_ADVICE) -> LaunchError:
    """The error for a launch that needs a `width` x `height` logical rectangle the spares cannot cover;
    `advice` ends it (a library whose block is fixed by its data replaces the kernel author's advice)."""
    rows = blocking_rows(dead, width)
    spelled = "; ".join(
        f"row {y}: dead at x = {', '.join(map(str, xs[:MAX_LISTED_PES]))}{' ...' if len(xs) > MAX_LISTED_PES else ''}"
        for y, xs in rows[:MAX_LISTED_ROWS])
    more = f"; and {plural(len(rows) - MAX_LISTED_ROWS, 'more row')}" if len(rows) > MAX_LISTED_ROWS else ""
    in_the_way = [(x, y) for y, xs in rows for x in xs]
    return LaunchError(
        f"the launch needs a {width} x {height} rectangle of PEs but the wafer's defects leave a usable "
        f"{usable[0]} x {usable[1]}: {plural(len(rows), 'physical row')} {'has' if len(rows) == 1 else 'have'} "
        f"fewer than {width} live PEs and only {plural(spare_rows, 'spare row')} can replace "
        f"{'it' if len(rows) == 1 else 'them'} ({plural(spare_cols, 'spare column')} per row); in the way "
        f"(physical x, y): {spelled}{more}. {advice}",
        needed=(width, height), usable=usable, defects=in_the_way)
