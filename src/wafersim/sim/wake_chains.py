"""The earliest a PE asleep at a neighbour receive can take a word: by the chain of sleepers that feeds it.

A PE asleep at a `recv` or `recvv` from a neighbour (not the ramp) waits for a push into that FIFO, and only the
neighbour in the receive's direction pushes into it (`ExchangeMixin._fifo`: a send towards `dir` fills the
neighbour's FIFO from the opposite side; routed words come down the ramp). If that neighbour is itself asleep at a
receive from the same direction, it can push nothing before it takes a word, and so on: along the chain of such
sleepers, the first PE that is not one (T, k hops away) pushes no earlier than its cycle, and every hop adds at
least the least link latency of the wave. So the PE takes its word no earlier than cycle[T] + k * latency, and
after the receive it is at that cycle or later (a receive ends no earlier than its word's arrival).

A row pipeline's east-most PE, asleep at its first receive behind ~750 sleepers of its row, cannot store before
its row's west PE loads and the words cross the row: the scheduler's hold on the other rows' loads
(`OffWaferMixin._next_group`) need not wait for it, and the rows load together instead of one or two a round.

Chains run along a row (east, west) or a column (north, south); a chain ends at a block's edge at the latest (a
PE asleep at a receive from `dir` has a neighbour there). The sleepers of each direction are kept by the identity
of the asleep sets they come from (`AsleepMixin` replaces a set whenever it changes).
"""
from __future__ import annotations

import numpy as np

from ..isa.opcodes import DIRECTION_STEP
from .lanes import Lanes

#: Receives whose sleepers form chains (a stream op pushes as it receives: it is a chain's end, not a link).
CHAIN_RECEIVES = frozenset({"recv", "recvv"})


class WakeChains:
    """Arrival floors of one wave's PEs asleep at neighbour receives."""

    def __init__(self, launch, region) -> None:
        self.region = region
        self.width, self.height = region.width, region.height
        self.direction = {pc: instr.dir for pc, instr in launch.decoded.items()
                          if instr.op in CHAIN_RECEIVES and 0 <= instr.dir < len(DIRECTION_STEP)}
        self.latency = min(float(np.min(region.link_latency(d))) for d in range(len(DIRECTION_STEP)))
        self.kept: dict[int, tuple[list, np.ndarray]] = {}  # dir -> (the asleep sets, chain ends in chain order)

    def applies(self, pc: int) -> bool:
        """Whether the PEs asleep at `pc` sleep at a neighbour receive (chains give them floors)."""
        return pc in self.direction

    def _ends(self, direction: int, asleep: dict[int, Lanes]) -> np.ndarray:
        """The PEs that are not asleep at a receive from `direction` (or have no neighbour there), sorted in
        chain order: flat (row-major) for east and west, column-major for north and south."""
        sets = [(pc, lanes) for pc, lanes in asleep.items() if self.direction.get(pc) == direction]
        kept = self.kept.get(direction)
        if kept is not None and len(kept[0]) == len(sets) and all(
                pc == old_pc and lanes is old for (pc, lanes), (old_pc, old) in zip(sets, kept[0])):
            return kept[1]
        members = np.zeros(self.region.n, dtype=bool)
        for _, lanes in sets:
            members |= lanes.as_mask()
        members &= np.asarray(self.region.has_neighbor(direction), dtype=bool)
        if DIRECTION_STEP[direction][1]:  # (a column's PEs consecutive)
            members = members.reshape(self.height, self.width).T.ravel()
        ends = np.flatnonzero(~members)
        self.kept[direction] = (sets, ends)
        return ends

    def arrival(self, pc: int, picked: np.ndarray, asleep: dict[int, Lanes], cycle: np.ndarray) -> np.ndarray:
        """The least cycle at which each of `picked` (sorted PEs asleep at the receive at `pc`) can take its word:
        its chain's end's cycle plus the chain's hops times the least link latency (-inf: no chain end found)."""
        direction = self.direction[pc]
        dx, dy = DIRECTION_STEP[direction]
        ends = self._ends(direction, asleep)
        h, w = self.height, self.width
        vertical = dy != 0
        at = (picked % w) * h + picked // w if vertical else picked  # positions in chain order
        step = dy if vertical else dx
        if step < 0:
            i = np.searchsorted(ends, at) - 1
            found = i >= 0
        else:
            i = np.searchsorted(ends, at, side="right")
            found = i < len(ends)
        end = ends[np.where(found, i, 0)] if len(ends) else np.zeros_like(at)
        hops = np.abs(at - end)
        end_pe = (end % h) * w + end // h if vertical else end
        found &= np.asarray(self.region.has_neighbor(direction), dtype=bool)[picked]  # (a member: always)
        floor = cycle[end_pe] + hops * self.latency
        return np.where(found, floor, -np.inf)
