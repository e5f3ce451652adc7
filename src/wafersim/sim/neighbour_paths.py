"""Tighter bounds of when a PE can next store to global memory, by the neighbours it has.

The off-wafer memory order holds a group's loads while another PE could still store at an earlier cycle
(`memory_order`, `OffWaferMixin._store_bound`): a PE's cycle plus the shortest path from its pc to a store
(`memory_order.cycles_until`). A branch on `has_neighbor(dir)` (`branches.neighbour_branches`) goes the same
way for every visit of a PE, by which neighbours it has: a row pipeline's PEs with an east neighbour send on and
never reach the east-most PE's store. Over the paths each PE can take, the bound of a PE asleep at a receive
is then infinite for all but a block's edge PEs. Measured (the row pipeline of bench/workloads_user.py, 757 x
996 PEs: the west PEs' first loads issue 17 cycles apart, row after row, one global load of every PE ahead
of them; the shortest path from the receive to a store is 25 cycles): with the bound of every PE, one row's
load ran per scheduler round (997 rounds and compiled calls of one row); with those of the east edge only,
two (499 rounds; the Python around the interpreter 2.7-2.9 -> 1.6-1.7 s a warm launch).

The bound over a set of lanes at a pc is the least, over the PEs that can store at all from there (a block's
edges: few), of their cycle plus their own path; where those PEs are many, or every PE has the same path,
the plain bound stays (a lower bound of these: the same path or a shorter one).
"""
from __future__ import annotations

import numpy as np

from .branches import WRITES_NO_REGISTER, neighbour_branches
from .lanes import SPARSE_FRACTION, Lanes
from .memory_order import STORE_OPS, cycles_until

#: Directions a PE may have a neighbour in (`has_neighbor`): a PE's class is the set of them it has, 4 bits.
DIRECTIONS = 4


def fixed_branches(decoded: dict, branches: dict[int, int], neighbours: int) -> dict[int, int]:
    """pc -> the pc that follows it, of each branch on `has_neighbor(dir)` (`branches`: pc -> dir), for a PE with
    the neighbours `neighbours` (bit `dir` set: it has one in `dir`)."""
    fixed = {}
    for pc, direction in branches.items():
        instr = decoded[pc]
        has = bool(neighbours >> direction & 1)
        taken = has if instr.op == "bnz" else not has
        fixed[pc] = instr.target if taken else pc + instr.words
    return fixed


class StorePaths:
    """The bounds of one wave: its PEs' classes, and per pc the PEs that can still store from there, by path
    (`targets`: the instructions; `ACCESS_OPS`, loads and stores together, for the bandwidth's order)."""

    def __init__(self, launch, region, targets: frozenset[str] = STORE_OPS) -> None:
        order = launch.memory_order
        branches = launch.facts.kept_memo("neighbour_branches_through_vectors",
                                          lambda: neighbour_branches(launch.decoded, WRITES_NO_REGISTER))
        self.generic = order.to_store if targets == STORE_OPS else order.to_access
        self.issue = launch.facts.memo(("issue_cycles", launch.cost_key), lambda: {
            pc: float(launch.costs[instr.op]) for pc, instr in launch.decoded.items()})  # (only read)
        self.n = region.n
        self.classes = np.zeros(region.n, dtype=np.int8)
        for direction in range(DIRECTIONS):
            self.classes |= (np.asarray(region.has_neighbor(direction), dtype=np.int8) << direction)
        present = np.flatnonzero(np.bincount(self.classes, minlength=1 << DIRECTIONS))
        self.members = {int(c): None for c in present}  # class -> its PEs (sorted), on first use
        timing = (launch.cost_key, len(launch.program.code), order.latency)
        decoded = launch.decoded
        self.paths = {}
        for c in self.members:  # (each class's branches fixed only where its paths are made: once per code)
            self.paths[c] = launch.facts.kept_memo(
                ("store_paths_by_neighbours", c, timing, targets),
                lambda c=c: cycles_until(decoded, launch.costs, targets, len(launch.program.code), order.latency,
                                         fixed_branches(decoded, branches, c)))
        self.entries: dict[int, list | None] = {}  # pc -> [(path, PEs that take it)], or None: the plain bound
        self.kept: dict[int, tuple[Lanes, float]] = {}  # pc -> (lanes asleep there, their bound), by identity

    def _entries(self, pc: int) -> list | None:
        if pc not in self.entries:
            generic = self.generic.get(pc, np.inf)
            by_path: dict[float, list[int]] = {}
            for c in self.members:
                path = self.paths[c].get(pc, np.inf)
                if path < np.inf:
                    by_path.setdefault(path, []).append(c)
            entries = None
            if not (len(by_path) == 1 and len(next(iter(by_path.values()))) == len(self.members)):
                entries = [(path, np.sort(np.concatenate([self._members(c) for c in classes])))
                           for path, classes in sorted(by_path.items())]
                if sum(len(pes) for _, pes in entries) >= self.n * SPARSE_FRACTION or generic == np.inf:
                    entries = None
            self.entries[pc] = entries
        return self.entries[pc]

    def _members(self, c: int) -> np.ndarray:
        if self.members[c] is None:
            self.members[c] = np.flatnonzero(self.classes == c)
        return self.members[c]

    def bound(self, pc: int, lanes: Lanes, cycle: np.ndarray, owed: float = 0.0) -> float | None:
        """A lower bound of the cycle at which any of `lanes` (at `pc`, owing `owed` cycles) stores next, from the
        PEs among them that can store; None where the plain bound (least cycle + `cycles_until`) is as good."""
        return self.bounds(pc, lanes, cycle, owed)[0]

    def bounds(self, pc: int, lanes: Lanes, cycle: np.ndarray, owed: float = 0.0, at_least: float = -np.inf,
               arrival=None) -> tuple[float | None, list[tuple[float, int]]]:
        """(`bound`, [(a lower bound, how many PEs) for each path the PEs among `lanes` that can store take]).
        Each PE is at max(its cycle + `owed`, `at_least`) at `pc`; `arrival(picked)`: for lanes asleep at a
        receive, the least cycle each can take its word (`wake_chains`), after which it goes on from the next
        instruction (the receive's issue cost is not added again)."""
        entries = self._entries(pc)
        if entries is None or lanes.window is not None:
            return None, []
        best, parts = np.inf, []
        for path, storers in entries:
            picked = lanes.pick(storers)
            if len(picked):
                start = np.maximum(np.asarray(cycle[picked], dtype=np.float64) + owed, at_least) + path
                if arrival is not None:
                    start = np.maximum(start, arrival(picked) + (path - self.issue[pc]))
                least = float(start.min())
                best = min(best, least)
                parts.append((least, len(picked)))
        return best, parts

    def asleep_bound(self, pc: int, lanes: Lanes, cycle: np.ndarray) -> float | None:
        """`bound` of the lanes asleep at `pc` (their cycles do not change while they sleep: kept while the same
        set sleeps there, by identity; `AsleepMixin` replaces the set whenever it changes)."""
        kept = self.kept.get(pc)
        if kept is not None and kept[0] is lanes:
            return kept[1]
        value = self.bound(pc, lanes, cycle)
        self.kept[pc] = (lanes, value)
        return value
