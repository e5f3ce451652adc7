"""Per-PE clocks and instruction counts of a wave (`WaveSim`): the time representation (float32 while exact,
float64 past it) and instructions every PE owes (a mixin of `WaveSim`)."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..errors import WaferError
from .lanes import Lanes

if TYPE_CHECKING:
    from .rank1_queue import Rank1Queue

# Per-PE times are float32 while every timing figure is a whole number of cycles and every time stays
# below this bound (float32 holds every integer below 2**24 exactly); past it, a wave widens its time
# arrays to float64. Half the bytes per time array make the fabric model much faster at wafer scale.
TIME32_LIMIT = float(2**23)
#: Element cycles added to PEs between two checks against `TIME32_LIMIT` (`_add_element_cycles`).
UNCHECKED_ELEMENT_CYCLES = float(2**22)


class ClockMixin:
    """Clocks and instruction counts of `WaveSim`."""

    # ------------------------------------------------------------------ instruction counts
    @property
    def icount(self) -> np.ndarray:
        """Instructions each PE has executed. A count owed by every PE of the wave (`icount_owed`: a barrier of
        the whole wave settles its group's count so, `BarrierMixin._barrier_of_everyone`) is written when this is
        read; the engine's own additions go to the array as it is (`_counts`: whole numbers, in any order)."""
        if self.icount_owed:
            self._counts += self.icount_owed
            self.icount_owed = 0
        return self._counts

    @icount.setter
    def icount(self, counts: np.ndarray) -> None:
        self._counts, self.icount_owed = counts, 0

    # ------------------------------------------------------------------ time representation
    def _setup_time_bound(self) -> None:
        """The wave's scalar bound on its times (`time_bound`) and the most one scheduler step may raise it.

        Every clock update is at most the latest time of the wave plus the instruction's cost (a wait takes
        another PE's time, plus a transit latency), so `time_bound`, raised by `step_bound` per scheduler step
        (see below) and by element cycles as they are added, bounds every time of the wave, in straight-line
        code and along chains of waits across PEs too, where no backward branch checks the clocks. Where it nears `TIME32_LIMIT` the exact
        latest time replaces it (`_check_time_bound`)."""
        spec, costliest = self.spec, max(self.launch.costs.values())
        link = max(float(np.max(self.region.link_latency(direction))) for direction in range(4))
        per_word = max(1.0 / spec.link_words_per_cycle, 1.0)  # (a stream op's word: at most a cycle, or the link's)
        across = spec.width + spec.height  # PEs along a path over the wafer: a chain one step may run (streams)
        # (any transit: a routed path's links, or global memory; the words in flight arrive this much later)
        self.latency_bound = float(spec.global_latency + across * link)
        # (a routed path may be longer than a path across the wafer: `_cover_routed_path` raises the bounds)
        self.across, self.routed_latency_covered = across, float(across * link)
        # One step: a run of at most every instruction, then a transfer of at most every SRAM word, with a chain
        # of waits along a path over the wafer (a stream pump's wavefront); element cycles come on top as added.
        self.step_bound = float(len(self.program.code) * costliest + self.latency_bound
                                + self.program.data_words * per_word + across * (costliest + link + per_word)
                                + spec.barrier_cycles(*self.launch.placement.block))
        self.time_bound = float(self.start.max(initial=0))

    def _step_time_bound(self) -> None:
        """A scheduler step's share of `time_bound` (O(1) a step: the exact check only near the limit)."""
        if self.time_dtype is np.float32:
            if self.time_bound + self.step_bound >= TIME32_LIMIT:
                self._check_time_bound()
            self.time_bound += self.step_bound

    def _check_time_bound(self) -> None:
        """Before a scheduler step that `time_bound` alone could not prove exact: the exact bound (every PE's
        latest clock with the issue cycles its group owes, plus a transit latency for the words still in
        flight), and float64 times if the step could take a time past `TIME32_LIMIT` from there."""
        owed = max((group.cost for group in self.groups.values()), default=0.0)  # (issue cycles not yet written)
        latest = float(self.cycle.max(initial=0)) + owed + self.latency_bound
        self._guard_time(latest + self.step_bound)
        self.time_bound = latest

    def _cover_routed_path(self, longest: float) -> None:
        """Before a routed send whose paths take up to `longest` cycles (`Deliveries.longest`): where that is
        more than the bounds assumed of a word's way (`routed_latency_covered`: a path across the wafer; a
        custom route may snake through every PE of its block), raise them by the difference, a transit and
        a chain across the wafer of such sends per step, and the time bound for this step's words (they
        leave by `time_bound` and arrive `longest` later, chained ones too). Else nothing: O(1)."""
        if longest <= self.routed_latency_covered:
            return
        extra = longest - self.routed_latency_covered
        self.routed_latency_covered = longest
        self.latency_bound += extra
        self.step_bound += (self.across + 1) * extra
        if self.time_dtype is np.float32:
            self._guard_time(self.time_bound + (self.across + 1) * longest)

    def _confirm_exact_times(self) -> None:
        """At the wave's end: float32 clocks past 2**24 could have rounded, which the time bound exists to
        prevent; should a path ever escape it, say so rather than return a cycle count that may be wrong."""
        if self.time_dtype is np.float32 and float(self.cycle.max(initial=0)) >= 2 * TIME32_LIMIT:
            raise WaferError(f"{self.program.name}: internal error: per-PE clocks passed 2**24 cycles in float32 "
                             "unchecked, so the cycle counts may have rounded; please report this launch")

    def _guard_time(self, latest: float) -> None:
        """Widen per-PE times to float64 before float32 could round them (`latest`: a bound on the wave's
        times, which raises `time_bound` to it: a global access's completion, a barrier's release, ...)."""
        if latest > self.time_bound:
            self.time_bound = latest
        if self.time_dtype == np.float32 and latest >= TIME32_LIMIT:
            self.time_dtype = np.float64
            for name in ("start", "cycle", "stall", "store_done", "barrier_time"):
                setattr(self, name, getattr(self, name).astype(np.float64))
            for fifo in self.fifos.values():
                fifo.widen_time()

    def _add_element_cycles(self, lanes: Lanes, cycles: float | np.ndarray, queue: Rank1Queue | None = None) -> None:
        """Add a vector or descriptor instruction's element cycles (beyond its issue cost) to its lanes.

        Issue costs stay within the margin the cycle-limit checks at backward branches leave below
        `TIME32_LIMIT`; element cycles need not (a `vcopys` into one word may run a register's worth of
        elements). Their sum since the last check is kept below 2**22, checked against every PE's latest
        time when it would not be, so float32 times stay below 2**24: exact. A queued `vger`'s (`queue`: a whole
        number of cycles, in a launch of whole cycles) are added when its queue runs (`Rank1Queue.defer`)."""
        if self.time_dtype == np.float32:
            # (a number, or lane-aligned numbers; NumPy's max of a Python number costs more than the rest)
            most = max(float(cycles), 0.0) if isinstance(cycles, (int, float)) else float(np.max(cycles, initial=0))
            self.unchecked_cycles += most
            self.time_bound += most
            if self.unchecked_cycles >= UNCHECKED_ELEMENT_CYCLES:
                self.unchecked_cycles = 0.0
                if queue is not None and queue.cycles:  # (the clocks as each update adding its own leaves them)
                    deferred, queue.cycles = queue.cycles, 0
                    self._charge_deferred(queue.lanes, deferred)
                self._guard_time(float(self.cycle.max(initial=0)) + most + self.spec.global_latency
                                 + len(self.program.code) * max(self.launch.costs.values()))
        if (queue is not None and self.launch.whole_cycles and isinstance(cycles, int) and queue.lanes is lanes
                and queue.defer(cycles)):
            return
        lanes.add(self.cycle, cycles if np.isscalar(cycles) else cycles.astype(self.cycle.dtype))

    def _charge_deferred(self, lanes: Lanes, cycles: int) -> None:
        """Add a rank-1 queue's deferred element cycles to its lanes' clocks (`Rank1Queue.defer`)."""
        lanes.add(self.cycle, cycles)
