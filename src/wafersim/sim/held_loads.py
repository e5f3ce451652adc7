"""Loads of several held groups run together (`OffWaferMixin._next_group`): where every runnable group of a
wave waits at a global load, the loads of all of them that no PE can still precede (with a store, for memory
order, or with an access of a smaller key, for the shared bandwidth, `sim.bandwidth`) may run in any order,
once the bandwidth's ledger knows every one of them. Held one group at a time, each up to the next load of
another, a wafer whose PEs spread over many loads' program counters advanced about one load a PE a step.
"""
from __future__ import annotations

import numpy as np

from ..errors import MemoryAccessError
from .lanes import Lanes


class HeldLoadsMixin:
    """`_record_held_loads` and its helpers, for `OffWaferMixin`'s scheduler."""

    #: Loads of several held groups recorded on the bandwidth together (`_record_held_loads`): per PE, the
    #: cycle by which the bandwidth serves its recorded load and that load's issue cycle (NaN: none), and the
    #: pcs whose group holds such PEs; None before the first.
    _recorded_served: np.ndarray | None = None
    _recorded_issue: np.ndarray | None = None
    _recorded_pcs: list[int] | None = None

    def _record_held_loads(self, runnable: list[int]) -> bool:
        """Where every runnable group waits at a load: the loads of all of them that issue before any store
        or access no PE can still issue (`_held_limits`) may run, whatever their order, once the bandwidth
        knows every one of them (each one's prefix of keys is then complete): record them on the ledger, with
        each one's cycle of service (`_recorded_group` runs them, `_global_finish` takes it). False (nothing
        done) where those of fewer than two groups may run, or where one of them would fail (its PE stops
        there, and its bytes must not count), or under the race checker (which may stop the launch)."""
        if self.launch.racecheck is not None:
            return False
        held = []
        for pc in runnable:
            issue = self._load_issue(pc, self.groups[pc])
            held.append((self.groups[pc].lanes.min(issue), pc, issue))
        bound, reach = self._held_limits(held)
        limit = min(bound, reach)
        parts = []
        for _, pc, issue in held:
            group = self.groups[pc]
            ready = issue < limit
            if group.lanes.any(ready):
                pes = group.lanes.split(ready)[0].indices()
                parts.append((pc, pes, self._issue_at(pc, self.cycle[pes], group.cost)))
        if len(parts) < 2:
            return False
        sizes = [self._held_load_bytes(pc, pes) for pc, pes, _ in parts]
        if any(size is None for size in sizes):
            return False
        pes = np.concatenate([pes for _, pes, _ in parts])
        issue = np.concatenate([issue for _, _, issue in parts]).astype(np.float64)
        by_key = np.lexsort((pes, issue))  # (in key order, as the ledger takes a batch of one issue cycle)
        pes, issue = pes[by_key], issue[by_key]
        ledger = self._ledger()
        latest = ledger.latest
        self.totals.global_bytes += ledger.record(issue, pes, np.concatenate(sizes)[by_key])
        if self._recorded_served is None:
            self._recorded_served, self._recorded_issue = np.full(self.n, np.nan), np.full(self.n, np.nan)
        self._recorded_served[pes] = ledger.served(ledger.bytes_through(issue, pes, latest))
        self._recorded_issue[pes] = issue
        self._recorded_pcs = [pc for pc, _, _ in parts]
        return True

    def _held_load_bytes(self, pc: int, pes: np.ndarray) -> np.ndarray | None:
        """Bytes of the load at `pc` for the PEs `pes` (sorted indices), or None where it would fail for one
        (`OffWaferMixin._global_operands`, `_global`'s own check: lengths, global and SRAM addresses)."""
        try:
            words = self._global_operands(self.ops[pc][0], Lanes(self.n, idx=pes), pes)[1]  # (index form)
        except MemoryAccessError:
            return None
        return 4 * words

    def _recorded_group(self):
        """(pc, group) of the PEs of a group whose loads `_record_held_loads` recorded, or None where none is
        left to run."""
        while self._recorded_pcs:
            pc = self._recorded_pcs.pop()
            group = self.groups.get(pc)
            if group is None:
                continue
            recorded = ~np.isnan(group.lanes.get(self._recorded_served))
            if group.lanes.all(recorded):
                return pc, self.groups.pop(pc)
            if group.lanes.any(recorded):
                return pc, self._split_off(pc, group, recorded)
        return None
