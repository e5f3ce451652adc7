"""Splitting a group of PEs at a conditional branch into the lanes that take it and those that fall through,
memoized where the condition is `has_neighbor(dir)` (a fixed function of the PE: `branches.neighbour_branches`),
so a stencil's edge tests at every step do not read every lane's register again."""
from __future__ import annotations

from ..isa.encoding import Instr
from .lanes import Lanes


class BranchSplitMixin:
    """`WaveSim`'s conditional-branch split (its `strategy`, `regs`, `static_splits` and the two
    `neighbour_branches` maps are the wave's)."""

    def _branch_split(self, pc: int, instr: Instr, lanes: Lanes, previous: Instr | None) -> tuple[Lanes, Lanes]:
        """(taken, not taken) lanes of a conditional branch."""
        direction = None
        if self.strategy.lockstep:
            direction = self.neighbour_branches.get(pc)
            if direction is None and lanes.idx is None and lanes.mask is None:
                direction = self.dense_neighbour_branches.get(pc)
        if direction is None and previous is not None and previous.op == "hasnb" and previous.d == instr.a != 0:
            direction = previous.dir
        static = direction is not None
        if static:  # the condition is has_neighbor(dir) over these lanes: a fixed function of the lane set
            key = (pc, direction, lanes.key())
            if key in self.static_splits:
                return self.static_splits[key]
        nonzero = lanes.get(self.regs[instr.a]) != 0
        result = lanes.split(nonzero if instr.op == "bnz" else ~nonzero)
        if static:  # (parts that meet again are these lanes again: `Lanes.rejoins`)
            self.static_splits[key] = lanes.rejoins(result)
        return result
