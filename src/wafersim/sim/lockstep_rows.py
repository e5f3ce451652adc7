"""Lockstep rows of a wave's fabric transfers: a dense group whose lanes all move the same word number of a
FIFO uses one time row and one value row of it (`LockstepRowsMixin`, which `ExchangeMixin` builds on). Split
from `sim.exchange` by job."""
from __future__ import annotations

import numpy as np

from .fabric import Fifo
from .lanes import Lanes

#: Window positions per run of `_never_waits`' second, tighter bound.
_BOUND_RUN = 4096
#: The most tests in a row that skip `_never_waits`' whole-window bound after it failed (see there).
_WIDE_SKIPS_MOST = 64
_NO_LANES = np.empty(0, dtype=np.int64)


class LockstepRowsMixin:
    """The lockstep-row paths of `ExchangeMixin`'s sends and receives, and their owed clocks and counts."""

    # A dense group (full or complement form) whose lanes all move the same word number of a FIFO uses one
    # time row and one value row of it: each step is an unmasked NumPy call over the window with `out=`
    # (the few excluded entries saved and put back), about half the passes over memory of the general
    # path's temporaries and puts, with the same float operations on every lane.
    #
    # Owed clocks and counts: when no lane of a lockstep send's or receive's whole group waits, each lane's
    # clock advances by the same whole number of cycles (the issue, plus a word's time for a send). Run from
    # `WaveSim._run_lanes` with its group owing issue cycles (`transfer_owes` not None, `Strategy.owed_transfers`),
    # the clocks are left as they were and that number is owed by the group like its issue cycles (written
    # at a merge, a barrier or the next instruction that needs the clocks: sums of whole numbers below 2**24,
    # exact in any order). The word counters' `+= 1` is owed likewise (`Fifo.count_one`,
    # `Strategy.deferred_counts`). A stencil's step then writes each lane's clock once, not at every transfer.
    #
    # The invariant: a lane's time is its `cycle` entry plus what its group owes (`_Group.cost`, or the run's
    # pending cost), and a FIFO counter's value is its array plus the FIFO's debt. So whatever reads a clock
    # adds what the lane's group owes (a send or receive takes it into its issue; `_load_issue`, `_store_bound`,
    # `_latest_cycle`, the cycle limit's check, `_barrier_of_everyone` and the interpreter's `settle.begin` add
    # it; `_later_blocks_start` takes the clocks as the lower bound they stay: debts are never negative), or
    # runs after it is written (`_flush`: halts, prints, global accesses, stream and background transfers, a
    # barrier's general path, lanes that block, fail or stop at the limit, the smaller group of a merge); a
    # mistyped word found after a receive writes it first (`WaveSim._settle_transfer`). Every reader of a
    # counter goes through `Fifo.pushed` / `popped` (the interpreter's FIFO stacks too, `fabric_state._stacked`),
    # which settle. Only a dense group's uniform advance is left owed: rows waited on, fractional times, a
    # tracer (which records each transfer's times) and parts on threads write as they go.
    def _lockstep_word(self, lanes: Lanes, fifo: Fifo, sending: bool) -> tuple[int, int] | None:
        """For a dense group (a lockstep stencil's case) whose lanes all push (`sending`) or pop the same
        word number of `fifo` and all have room or a word: (that number, the most words queued at any of
        the lanes); else None. Three reductions: the counter that moves must be uniform, the other only
        bounded."""
        if not lanes.is_dense or self.tracer is not None or not self.strategy.lockstep:
            return None
        moving, other = ("pushed", "popped") if sending else ("popped", "pushed")
        # The count the last lockstep send or receive over these PEs left, when noted (`Fifo.uniform_count`):
        # no reductions (a stencil's steady state). Else reductions (the property read forgets the note).
        key = lanes.region_key(self.n) if self.strategy.uniform_counts else None
        word = None if key is None else fifo.uniform_count(moving, key)
        if word is None:
            word, last = lanes.extremes(getattr(fifo, moving))
            if word != last:
                return None
        bound = None if key is None else fifo.uniform_count(other, key)
        if bound is None:  # the fewest popped (sending) or pushed (receiving)
            bound, _ = lanes.extremes(getattr(fifo, other), largest=False)
        if sending:
            return (word, word - bound) if word - bound < fifo.depth else None
        return (word, 0) if bound > word else None  # (`_pop` needs no bound)

    def _owes_clocks(self, whole: bool) -> bool:
        """Whether a lockstep transfer of a whole group may leave its clock advance owed ("owed clocks")."""
        return whole and self.transfer_owes is not None and self.strategy.owed_transfers

    def _count_rows(self, lanes: Lanes, fifo: Fifo, counter: str, whole: bool) -> None:
        """`counter` += 1 over a dense group's lanes: owed for a whole group ("owed clocks and counts")."""
        if whole and self.strategy.deferred_counts:
            fifo.count_one(counter, lanes, lanes.region_key(self.n))
            return
        counts = lanes.window_view(getattr(fifo, counter))
        kept = lanes.keep_outside(counts)
        counts += 1
        lanes.restore_outside(counts, kept)

    def _push_rows(self, src: Lanes, dst: Lanes, values: np.ndarray, fifo: Fifo, cost: float,
                   latency: float | np.ndarray, word: int, slot_free: bool = False, whole: bool = False) -> None:
        """`_push` of dense groups whose lanes all push word number `word` (see "lockstep rows")."""
        slot = word % fifo.depth
        time_row, value_row = dst.window_view(fifo.time[slot]), dst.window_view(fifo.value[fifo.value_slots(word)])
        cycle = src.window_view(self.cycle)
        kept_time, kept_value = dst.keep_outside(time_row), dst.keep_outside(value_row)
        if slot_free or self._never_waits(src, dst, fifo.time[slot], cost, fifo):  # then every lane departs when ready
            self._add_in_steps(cycle, cost, latency if np.isscalar(latency) else src.window_view(latency), time_row)
            if self._owes_clocks(whole):
                self.transfer_owes = cost + self.word_time
            else:
                kept_cycle = src.keep_outside(cycle)
                self._add_in_steps(cycle, cost, self.word_time, cycle)
                src.restore_outside(cycle, kept_cycle)
        else:
            kept_cycle = src.keep_outside(cycle)
            ready = cycle + cost
            depart = np.maximum(ready, time_row)  # after word k - depth left
            np.add(depart, latency if np.isscalar(latency) else src.window_view(latency), out=time_row)  # arrival
            np.add(depart, self.word_time, out=cycle)
            src.restore_outside(cycle, kept_cycle)
            self._add_rows_stall(src, depart, ready)
        np.copyto(value_row, values)
        dst.restore_outside(time_row, kept_time)
        dst.restore_outside(value_row, kept_value)
        self._count_rows(dst, fifo, "pushed", whole)

    def _pop_rows(self, lanes: Lanes, fifo: Fifo, cost: float, word: int, whole: bool = False) -> np.ndarray:
        """`_pop` of a dense group whose lanes all pop word number `word` (see "lockstep rows"); returns the
        values (a view of the value row: use it before a push)."""
        times = fifo.time[word % fifo.depth]
        time_row, cycle = lanes.window_view(times), lanes.window_view(self.cycle)
        kept_time = lanes.keep_outside(time_row)
        ready = None
        # Where the last pop of this FIFO waited (a receive right after its neighbour's send), the bound is
        # not tried: it would fail again. (Either way the result is exact: the hint only picks the path.)
        if not self.pops_waited.get(id(fifo)) and self._never_waits(lanes, lanes, times, cost, fifo):
            np.add(cycle, cost, out=time_row)  # taken; now: when the slot was freed
            clocks_owed = self._owes_clocks(whole)
            if clocks_owed:
                self.transfer_owes = cost
        else:
            ready = cycle + cost
            np.maximum(ready, time_row, out=time_row)
            clocks_owed = False
        if not clocks_owed:
            kept_cycle = lanes.keep_outside(cycle)
            np.copyto(cycle, time_row)
            lanes.restore_outside(cycle, kept_cycle)
        lanes.restore_outside(time_row, kept_time)
        self._count_rows(lanes, fifo, "popped", whole)
        if ready is not None:
            self.pops_waited[id(fifo)] = self._add_rows_stall(lanes, time_row, ready)
        return lanes.window_view(fifo.value[fifo.value_slots(word)])

    def _receive_rows_fused(self, lanes: Lanes, fifo: Fifo, cost: float, word: int, whole: bool,
                            destination: np.ndarray) -> None:
        """`_pop_rows` and the copy of its words into the `destination` register in one compiled pass
        (`lockstep_kernels.receive_row`; `Strategy.fused_receive_rows`): where no lane waited, the never-wait
        path's books (owed clocks or clocks written); else the general path's clocks and stalls."""
        from . import lockstep_kernels  # (Numba is loaded already: `compiled.numba_loaded`)

        time_row, cycle = lanes.window_view(fifo.time[word % fifo.depth]), lanes.window_view(self.cycle)
        outside = _NO_LANES if lanes.excl is None else lanes.excl
        waited = lockstep_kernels.receive_row(cycle, time_row, lanes.window_view(fifo.value[fifo.value_slots(word)]),
                                              lanes.window_view(destination), outside.astype(np.int64, copy=False),
                                              cycle.dtype.type(cost))
        if not waited and self._owes_clocks(whole):
            self.transfer_owes = cost
        else:
            ready = cycle + cost if waited else None  # (the clocks before: the general path's stall)
            kept_cycle = lanes.keep_outside(cycle)
            np.copyto(cycle, time_row)
            lanes.restore_outside(cycle, kept_cycle)
            if waited:
                self.pops_waited[id(fifo)] = self._add_rows_stall(lanes, time_row, ready)
        self._count_rows(lanes, fifo, "popped", whole)

    def _slot_freed_before_barrier(self, fifo: Fifo, dst: Lanes, word: int) -> bool:
        """Whether every receiver in `dst` (about to get word number `word`, all of them) took word
        `word - depth`, whose slot the new word takes, before a barrier of the whole wave that has released:
        then that slot's time (when it was freed) is at most the release, and every PE's clock is at least
        the release since: no sender waits for the slot (`_never_waits` without its reductions)."""
        if not self.strategy.uniform_counts:
            return False
        noted = fifo.popped_by_barrier
        return noted is not None and noted[0] == dst.region_key(self.n) and word - fifo.depth < noted[1]

    def _never_waits(self, lanes: Lanes, owners: Lanes, times: np.ndarray, cost: float, fifo: Fifo) -> bool:
        """Whether no lane can wait on its FIFO slot: in every run of window positions, the latest slot
        time `times` (a per-PE row) of the `owners` aligned with the lanes is no later than the earliest
        lane is ready (rounding is monotonic: each lane's own cycle + cost is no earlier). Two reductions
        that only read, instead of a maximum and a difference to write and test. The bound over the whole
        window is tried first: where it holds (a stencil's clocks, all alike), it holds in every run, and a flat
        reduction takes about two thirds of the time of one by runs (29 against 45 us over 754k float32 lanes).
        Where it fails for `fifo` (clocks that drift across the region: Game of Life's sends, 336 of 400), that
        FIFO's next tests go straight to the runs: 2 ** (k - 1) of them, at most `_WIDE_SKIPS_MOST`, where k counts
        its failures less its successes (at least 1), then the whole window is tried again. Heat's clocks drift
        only until its first barriers: one failure, then the whole window holds (stop 52: of heat's 814 bound
        reductions a launch, 800 were by runs, 97 ms of CPU; now 798 are whole, 76 ms). `wide_bound_failed`:
        only the path, never the answer."""
        sizes = (None, _BOUND_RUN) if len(lanes.window_view(self.cycle)) > _BOUND_RUN else (None,)
        skipping = self.wide_bound_failed.get(id(fifo))
        if skipping is not None and skipping[0]:
            self.wide_bound_failed[id(fifo)] = (skipping[0] - 1, skipping[1])
            sizes = sizes[-1:]
        for size in sizes:
            latest = owners.chunk_extremes(times, largest=True, size=size)
            earliest = lanes.chunk_extremes(self.cycle, largest=False, size=size)
            if (latest <= earliest + cost).all():
                if size is None and skipping is not None:  # (one failure fewer: clocks that keep drifting
                    # back and forth, Life's, still skip most whole-window tests)
                    if skipping[1] > 1:
                        self.wide_bound_failed[id(fifo)] = (0, skipping[1] - 1)
                    else:  # (pop, not del: parts of one receive on threads test the same FIFO at once)
                        self.wide_bound_failed.pop(id(fifo), None)
                return True
            if size is None and len(sizes) > 1:
                failures = 1 if skipping is None else skipping[1] + 1
                self.wide_bound_failed[id(fifo)] = (min(1 << (failures - 1), _WIDE_SKIPS_MOST), failures)
        return False

    def _add_in_steps(self, base: np.ndarray, first: float, then, out: np.ndarray) -> None:
        """out = base + first + then, added in that order (one pass when both are whole numbers: exact)."""
        if self.whole_times and np.isscalar(then):
            np.add(base, first + then, out=out)
        else:
            np.add(base, first, out=out)
            out += then

    def _add_rows_stall(self, lanes: Lanes, later: np.ndarray, ready: np.ndarray) -> bool:
        """stall += later - ready over a dense group's window, `ready` reused for the difference; returns
        whether any lane waited. Entries outside the group get + 0.0, which leaves them as they were
        (stall is never -0.0)."""
        waited = np.subtract(later, ready, out=ready)
        if lanes.excl is not None:
            waited[lanes.excl_at] = 0.0
        if not waited.any():
            return False
        stall = lanes.window_view(self.stall)
        stall += waited
        return True
