"""Which PEs each launch holds on a device's simulated timeline, so that launches on two streams share them.

A PE of a wafer-scale engine runs one program at a time: a launch whose blocks occupy PEs that another
stream's launch still holds starts only when those PEs are free (as a GPU kernel waits for SMs another
kernel fills). `PeOccupancy` keeps, per PE, the time (seconds on the device's timeline) until which the
launches placed so far hold it; `Device.launch` starts a launch at the latest of its stream's clock (waits
and the legacy default stream's rule included) and the busy-until of the PEs it occupies, then marks them.

A launch occupies the slots of its first wave (every later wave lies within them, `sim.layout`), all from
its start, and holds each slot until the last of that slot's blocks ends (`Launch.slot_free`): a slot whose
blocks end early is free for another stream's launch before the launch as a whole ends. The launch's own
schedule is the one simulated (its waves, cycles and results do not change): only its place on the
timeline moves. On a wafer with spares or defects PEs are tracked at their physical sites (a launch's
repair map), so two launches on one physical PE share it whatever their logical coordinates.

Copies (`memcpy_htod`, `memcpy_dtoh`) move bytes between the host and global (off-wafer) memory: they use
no PE and are not placed here. Every operation is NumPy slicing over the launch's rectangle: no loop over
PEs or slots in Python.
"""
from __future__ import annotations

import numpy as np

from ..arch.spec import WaferSpec
from ..sim.layout import Placement


class PeOccupancy:
    """Per PE of a device, until when (seconds on its timeline) the launches placed so far hold it."""

    def __init__(self, spec: WaferSpec) -> None:
        self.spec = spec
        # (physical_height, physical_width) on a wafer with spares or defects, else (height, width); made by
        # the first launch (a device that never launches allocates nothing)
        self.until: np.ndarray | None = None

    @property
    def shape(self) -> tuple[int, int]:
        if self.spec.has_physical_layout:
            return self.spec.physical_height, self.spec.physical_width
        return self.spec.height, self.spec.width

    def _array(self) -> np.ndarray:
        if self.until is None:
            self.until = np.zeros(self.shape)
        return self.until

    @staticmethod
    def _tiling(placement: Placement) -> tuple[int, int, int, int, int]:
        """(slot rows, block height, slot columns, block width, slots used) of the launch's first wave."""
        first = placement.wave(0)
        bx, by = placement.block
        return first.rows, by, first.cols, bx, first.count

    def _sites(self, placement: Placement) -> tuple[np.ndarray, np.ndarray] | tuple[slice, slice]:
        """The index of the first wave's (logical height, width) rectangle into `until`: its physical sites
        under the launch's repair map, else the rectangle itself."""
        first = placement.wave(0)
        repair = placement.repair
        if repair is None:
            return slice(0, first.height), slice(0, first.width)
        return np.broadcast_to(repair.phys_y[:, None], repair.phys_x.shape), repair.phys_x

    def free_at(self, placement: Placement) -> float:
        """When every PE of the launch `placement` is free: the latest busy-until of the slots it occupies
        (0.0 before any launch)."""
        if self.until is None:
            return 0.0
        rows, by, cols, bx, used = self._tiling(placement)
        per_slot = _block_max(_block_max(self.until[self._sites(placement)], bx, axis=1), by, axis=0)
        return float(per_slot.reshape(-1)[:used].max())  # (a partial last row of slots is not occupied)

    def occupy(self, placement: Placement, start: float, slot_ends: np.ndarray) -> None:
        """Mark the launch `placement`, started at `start` seconds, as holding each slot of its first wave
        until `start + slot_ends[slot]` (seconds from the launch's start: when the slot's last block ends).
        The caller started it no earlier than `free_at(placement)`, so every mark only moves forward."""
        until = self._array()
        rows, by, cols, bx, used = self._tiling(placement)
        ends = np.full(rows * cols, -np.inf)
        ends[:used] = start + np.asarray(slot_ends, dtype=np.float64)[:used]
        ends = ends.reshape(rows, 1, cols, 1)
        sites = self._sites(placement)
        if isinstance(sites[0], slice):  # the rectangle itself: in place, through a (slot, PE) view of it
            held = until[sites].reshape(rows, by, cols, bx)  # (splitting axes: always a view)
            np.maximum(held, ends, out=held)
        else:
            held = np.maximum(until[sites].reshape(rows, by, cols, bx), ends)
            until[sites] = held.reshape(rows * by, cols * bx)

    def copy_from(self, until: np.ndarray | None) -> None:
        """Restore the marks of a saved device (`runtime.checkpoint`); None: a file without them."""
        if until is not None:
            if until.shape != self.shape or until.dtype != np.float64:
                raise ValueError(f"pe_busy_until holds {until.dtype} {until.shape}, not float64 {self.shape}")
            self.until = np.array(until)


def _block_max(values: np.ndarray, size: int, axis: int) -> np.ndarray:
    """The maximum of every run of `size` entries of the 2-D `values` along `axis` (a whole number of runs).
    Short runs take the maximum of `size` strided slices (NumPy's reductions over a short inner axis, and
    `reduceat` over many short segments, run at a fraction of the speed); long runs, `reduceat`."""
    if size == 1:
        return values
    if size <= 16:
        def part(offset: int) -> np.ndarray:
            return values[:, offset::size] if axis == 1 else values[offset::size]

        out = part(0).copy()
        for offset in range(1, size):  # (a loop over a block's width or height, at most 16, not over PEs)
            np.maximum(out, part(offset), out=out)
        return out
    return np.maximum.reduceat(values, np.arange(0, values.shape[axis], size), axis=axis)
