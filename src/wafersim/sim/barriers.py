"""Barriers of a wave: `bar` (the PEs of each block wait for the rest of their block) and `gbar` (every PE of
the launch waits for all: `ws.cg.this_grid().sync()`), released at the latest arrival plus the barrier's cycles
(`WaferSpec.barrier_cycles`, docs/timing.md "Barriers"); a mixin of `WaveSim`."""
from __future__ import annotations

import numpy as np

from .lanes import Lanes


class BarrierMixin:
    """Block and grid barriers for `WaveSim`."""

    def _barrier(self, pc: int, lanes: Lanes, cost: float, grid: bool = False):
        """`bar` (`grid` False: the PEs of each block wait for the rest of their block) or `gbar` (True: every
        PE of the launch waits for all the others; the launch is one wave, checked before it runs)."""
        owed, self.barrier_owes = self.barrier_owes, None  # (what the group owes, if `_run_lanes` left it)
        if not grid and self._everyone_arrives(lanes):
            return self._barrier_of_everyone(pc, cost, *(owed or ()))
        if owed is not None:
            self._flush(lanes, *owed)
        flags = self.at_grid_barrier if grid else self.at_barrier
        waiting = lanes.get(flags)
        if lanes.any(waiting):  # merged with lanes that arrived earlier: those executed it once already
            self._uncount(pc, lanes.split(waiting)[0])
        lanes.put(flags, True)
        lanes.put(self.barrier_time, lanes.get(self.cycle) + cost)
        self._add_group(pc, lanes, blocked=True)
        if grid:  # every PE of the launch, or none yet
            active = self.region.active
            complete = active if flags[active].all() else np.zeros(self.n, dtype=bool)
        else:
            complete = self.region.block_all(flags)
        if not complete.any():
            return []
        if self.launch.racecheck is not None:  # accesses on either side of a barrier are ordered
            self.launch.racecheck.barrier_released(self.region.block_id[complete], grid)
        if grid:  # a gather and broadcast across the rectangle the launch's blocks occupy
            bx, by = self.launch.placement.block
            latest = float(self.barrier_time[complete].max())
            release_at = np.full(self.n, latest + self.spec.barrier_cycles(self.region.cols * bx,
                                                                            self.region.rows * by))
        else:
            release_at = self.region.block_reduce_max(np.where(self.at_barrier, self.barrier_time, -np.inf))
            release_at += self.spec.barrier_cycles(*self.launch.placement.block)
        self._released(float(release_at.max()))
        op = "gbar" if grid else "bar"
        for bar_pc in [p for p in self.groups if self.launch.decoded.get(p) is not None
                       and self.launch.decoded[p].op == op]:
            group = self.groups.pop(bar_pc)
            cond = group.lanes.get(complete)
            go, stay = group.lanes.split(cond)
            if go.count:
                if self.tracer:
                    self.tracer.record(go, "barrier", go.get(self.barrier_time) - cost, go.get(release_at))
                go.add(self.stall, go.get(release_at) - go.get(self.cycle))
                go.put(self.cycle, go.get(release_at))
                go.put(flags, False)
                self._add_group(bar_pc + 1, go.unwindow(self.n))
            if stay.count:  # (a group that has not run the barrier yet -- another block's -- stays runnable)
                self._add_group(bar_pc, stay, blocked=group.blocked)
        self._settle_route_watch()
        return []

    def _settle_route_watch(self) -> None:
        """After a barrier's release in a watched wave whose watch holds `settle_at` entries: `RouteWatch.settle`
        with the least clock of the PEs that have not halted (no instruction still to run comes before it: each
        PE runs on from its clock)."""
        watch = self.route_watch
        if watch is None or watch.kept < watch.settle_at:
            return
        places = self._places()
        if places:
            watch.settle(min(float(lanes.get(self.cycle).min()) for _, lanes in places))

    def _released(self, latest: float) -> None:
        """A barrier releases at cycles up to `latest`: checked against the cycle limit, counted, and told to a
        progress callback (with the waves run to the end so far, as between waves: a release in wave 3 once
        reported 0, and a callback's count went 1, 0, ..., 2, 0, ...)."""
        self._guard_time(latest)
        self.launch.barriers += 1
        if self.launch.progress:
            self.launch.progress(self.launch.waves_done, self.launch.placement.waves, self.launch.barriers)

    def _everyone_arrives(self, lanes: Lanes) -> bool:
        """Whether `lanes` are every PE of the wave, arriving at a block barrier at once, none of them there
        before (a stencil's step): then `_barrier_of_everyone` releases them."""
        return (lanes.is_full and not self.groups and not self.asleep and self.strategy.lockstep
                and self.tracer is None and self.launch.racecheck is None and not self.at_barrier.any())

    def _barrier_of_everyone(self, pc: int, cost: float, owed: float = 0.0, owed_count: int = 0) -> list:
        """`_barrier` when every PE of the wave arrives at once, in one full group (a stencil's step), none
        of them there before: every block releases now, at its latest arrival plus the barrier's cycles.
        The same arithmetic as the general case, without its masks: no `at_barrier` flags to set and
        clear (nor arrival times: `barrier_time` is only read for PEs with a flag set), no temporaries.

        `owed`, `owed_count`: the issue cycles and instructions the group owes, the barrier's own count
        among them (`WaveSim._run_lanes`, with whole-cycle times: sums exact in any order), settled here
        rather than written to the clocks first: each arrival is the clock + owed + cost, and the wait
        the release less that (the clocks are written once, with the release)."""
        self.icount_owed += owed_count  # (every PE's: written when the counts are read, `WaveSim.icount`)
        # (the latest of the clocks plus a number is the latest clock plus it: rounding is monotonic)
        release = self.region.per_block_max(self.cycle)
        release += owed + cost
        release += self.spec.barrier_cycles(*self.launch.placement.block)
        self._released(float(release.max()))
        if len(release) == 1:  # one block: the release is one number
            release = release[0]
            recycle = self.strategy.recycled_slot_rows and self.tracer is None
            for fifo in self.fifos.values():  # every pop so far ends by the release (`exchange`)
                fifo.note_popped_at_barrier(recycle)
        else:
            release = self.region.per_pe_of_blocks(release)
        # (the clocks are the release next; with one block, what the group owes comes off the release first, one
        # pass less than off every wait: whole numbers, exact in either order)
        if owed and np.isscalar(release):
            waited = np.subtract(release - owed, self.cycle, out=self.cycle)
        else:
            waited = np.subtract(release, self.cycle, out=self.cycle)
            if owed:
                waited -= owed
        self.stall += waited
        self.cycle[...] = release
        self._add_group(pc + 1, Lanes.full(self.n))
        self._settle_route_watch()
        return []
