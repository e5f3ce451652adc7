"""The race checker of a launch (`racecheck=True`), like compute-sanitizer's racecheck, for global memory.

Two accesses to one global word race when they come from different PEs, at least one writes, and no
barrier orders them: within a block, `ws.syncthreads()` orders everything before it against everything
after it; across blocks of one launch only a grid barrier (`ws.cg.this_grid().sync()`) does. The checker records every global word accessed
(address, PE, barrier epoch of its block, pc, cycle, read or write) while the launch runs and finds the
races once, vectorised, when it ends. Each racing word is reported at least once, paired with one
conflicting access; reports are grouped by the pair of instructions (`RaceHazard.count` is how many
word pairs that pair of instructions produced) and capped at `RACE_REPORT_LIMIT`.

It costs about 40 bytes of host memory per global word accessed, so it is for small test launches.
Message passing through the fabric also orders accesses in fact, but the checker, like racecheck for
shared memory, knows only barriers: a producer that stores, then sends a word to a consumer that loads
is reported.
"""
from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .engine import Launch
    from .lanes import Lanes  # noqa: F401

RACE_REPORT_LIMIT = 100


@dataclasses.dataclass(frozen=True)
class RaceAccess:
    """One side of a race: which PE, which instruction, when."""

    block_index: tuple[int, int]
    thread_index: tuple[int, int]
    pc: int
    source: tuple[str, int] | None  # (file, line) of the instruction, when the program has a line table
    cycle: float  # issue cycle
    write: bool

    def __str__(self) -> str:
        where = f"{self.source[0]}:{self.source[1]}" if self.source else f"pc {self.pc}"
        verb = "writes" if self.write else "reads"
        return (f"thread {self.thread_index} of block {self.block_index} {verb} at {where} "
                f"(cycle {self.cycle:,.0f})")


@dataclasses.dataclass(frozen=True)
class RaceHazard:
    """Two accesses to one global word from different PEs, at least one a write, with no barrier between."""

    address: int  # byte address of the word (the first word found for this pair of instructions)
    first: RaceAccess
    second: RaceAccess
    count: int = 1  # access pairs found for this pair of instructions (every racing access is in one)

    @property
    def kind(self) -> str:
        return "write-write" if self.first.write and self.second.write else "read-write"

    def __str__(self) -> str:
        more = f" (and {self.count - 1} more word pair(s) from these instructions)" if self.count > 1 else ""
        return (f"{self.kind} race on global word 0x{self.address:x}: {self.first}; {self.second}; "
                f"no barrier between them{more}")


def conflict_partners(group: np.ndarray, who: np.ndarray, write: np.ndarray) -> np.ndarray:
    """For accesses sorted so that equal `group` values are adjacent: the index of an access of the same
    group by another `who` such that at least one of the two writes, or -1 where there is none.

    Per group: w1, the first write, by p1; w2, the first write by someone else; o1, the first access by
    someone else. An access not by p1 races with w1; one by p1 races with w2, or, being a write, with o1."""
    n = len(group)
    if not n:
        return np.zeros(0, dtype=np.int64)
    change = np.r_[True, group[1:] != group[:-1]]
    starts = np.flatnonzero(change)
    gid = np.cumsum(change) - 1
    index = np.arange(n)

    def first_where(mask: np.ndarray) -> np.ndarray:
        candidates = np.minimum.reduceat(np.where(mask, index, n), starts)
        return np.where(candidates < n, candidates, -1)[gid]

    w1 = first_where(write)
    p1 = np.where(w1 >= 0, who[np.maximum(w1, 0)], -1)
    other = who != p1
    w2 = first_where(write & other)
    o1 = first_where(other)
    partner = np.where(other, w1, np.where(w2 >= 0, w2, np.where(write, o1, -1)))
    return np.where(w1 >= 0, partner, -1)


class RaceChecker:
    """Records a launch's global accesses and finds the races among them."""

    def __init__(self, launch: "Launch") -> None:
        self.launch = launch
        self.epoch = np.zeros(launch.placement.n_blocks, dtype=np.int64)  # barriers released, per block
        self.grid_epoch = 0  # grid barriers released (they order accesses of different blocks)
        self._parts: list[tuple[np.ndarray, ...]] = []

    def barrier_released(self, block_ids: np.ndarray, grid: bool = False) -> None:
        """A barrier released every PE of these blocks (a block may be listed once per PE); `grid`: a grid
        barrier (`ws.cg.this_grid().sync()`), which orders accesses across blocks too."""
        self.epoch[np.unique(block_ids)] += 1
        if grid:
            self.grid_epoch += 1

    def record(self, sim, pes: np.ndarray, addresses: np.ndarray, cycles: np.ndarray, pc: int, write: bool) -> None:
        """Global words `addresses` accessed by the wave's PEs `pes` (flat, same shape) at `cycles`."""
        pes = np.asarray(pes).ravel()
        region, (bx, by) = sim.region, self.launch.placement.block
        x, y = region.xy
        block = region.block_id[pes].astype(np.int64)
        thread = (y[pes] % by).astype(np.int64) * bx + x[pes] % bx
        self._parts.append((np.asarray(addresses, dtype=np.int64).ravel(), block, thread, self.epoch[block],
                            np.full(len(pes), pc, dtype=np.int32), np.full(len(pes), write),
                            np.asarray(cycles, dtype=np.float64).ravel(), np.full(len(pes), self.grid_epoch)))

    def hazards(self) -> tuple[list[RaceHazard], int]:
        """(the races found, capped at RACE_REPORT_LIMIT, in address order; how many were left out)."""
        if not self._parts:
            return [], 0
        addr, block, thread, epoch, pc, write, cycle, grid_epoch = (np.concatenate(p) for p in zip(*self._parts))
        pe = block * (self.launch.placement.block[0] * self.launch.placement.block[1]) + thread
        pairs = []
        # Within a block: accesses of one barrier epoch (nothing orders them).
        order = np.lexsort((epoch, block, addr))
        key = np.stack([addr[order], block[order], epoch[order]], axis=1)
        group = np.r_[0, np.cumsum((key[1:] != key[:-1]).any(axis=1))]
        partner = conflict_partners(group, pe[order], write[order])
        hit = partner >= 0
        pairs.append(np.stack([order[hit], order[partner[hit]]], axis=1))
        # Across blocks: any two accesses to one word between the same grid barriers.
        order = np.lexsort((grid_epoch, addr))
        key = np.stack([addr[order], grid_epoch[order]], axis=1)
        group = np.r_[0, np.cumsum((key[1:] != key[:-1]).any(axis=1))]
        partner = conflict_partners(group, block[order], write[order])
        hit = partner >= 0
        pairs.append(np.stack([order[hit], order[partner[hit]]], axis=1))
        pairs = np.concatenate(pairs)
        if not len(pairs):
            return [], 0
        pairs = np.unique(np.sort(pairs, axis=1), axis=0)  # (i, j) and (j, i) are one pair
        # One report per (unordered) pair of instructions and access kinds, at its lowest address.
        a, b = pairs[:, 0], pairs[:, 1]
        swap = pc[a] * 2 + write[a] > pc[b] * 2 + write[b]
        a, b = np.where(swap, b, a), np.where(swap, a, b)
        kinds = np.stack([pc[a], write[a], pc[b], write[b]], axis=1).astype(np.int64)
        by_address = np.lexsort((cycle[b], cycle[a], addr[a]))
        kinds, a, b = kinds[by_address], a[by_address], b[by_address]
        _, first, counts = np.unique(kinds, axis=0, return_index=True, return_counts=True)
        chosen = sorted(zip(addr[a[first]], first, counts))
        reports = [RaceHazard(int(address), self._access(a[i], block, thread, pc, cycle, write),
                              self._access(b[i], block, thread, pc, cycle, write), int(count))
                   for address, i, count in chosen[:RACE_REPORT_LIMIT]]
        return reports, max(len(chosen) - RACE_REPORT_LIMIT, 0)

    def _access(self, i: int, block, thread, pc, cycle, write) -> RaceAccess:
        gx = self.launch.placement.grid[0]
        bx = self.launch.placement.block[0]
        b, t = int(block[i]), int(thread[i])
        return RaceAccess(block_index=(b % gx, b // gx), thread_index=(t % bx, t // bx), pc=int(pc[i]),
                          source=self.launch.program.source_of(int(pc[i])), cycle=float(cycle[i]),
                          write=bool(write[i]))


def race_error(stats) -> "RaceError":
    """The `RaceError` of a launch whose `stats.races` is not empty: every reported race, one a line."""
    from ..errors import RaceError

    lines = "\n".join(f"  {hazard}" for hazard in stats.races)
    more = f"\n  (and {stats.races_dropped} more pair(s) of instructions)" if stats.races_dropped else ""
    total = len(stats.races) + stats.races_dropped
    return RaceError(f"{stats.program}: racecheck found {total} race(s) on global memory (pairs of "
                     f"instructions):\n{lines}{more}\nAdd a ws.syncthreads() between the accesses of one block, or "
                     f"give each PE its own words; racecheck='report' records them on LaunchStats.races "
                     f"without raising", races=list(stats.races), races_dropped=stats.races_dropped, stats=stats)
