"""The race checker of a launch (`racecheck=True`), like compute-sanitizer's racecheck, for global memory.

Two accesses to one global word race when they come from different PEs, at least one writes, and no
barrier orders them: within a block, `ws.syncthreads()` orders everything before it against everything
after it; across blocks of one launch only a grid barrier (`ws.cg.this_grid().sync()`) does. The checker records every global word accessed
(address, PE, barrier epoch of its block, pc, cycle, read or write) while the launch runs and finds the
races once, vectorised, when it ends. Each racing word is reported at least once, paired with one
conflicting access; reports are grouped by the pair of instructions, and whether the two PEs share a
block (`RaceHazard.count` is how many word pairs that group produced), and capped at `RACE_REPORT_LIMIT`.

Writes that race but all store the same bits (CUDA's "done flag", `*over = true` from many threads)
cannot change the result: whichever lands last, the word is the same. Where every write to a word
between the same barriers (those of one block's epoch, or of the launch's grid epoch across blocks)
stores the same bits, its write-write pairs are reported as the benign kind "write-write (same value)"
(`RaceHazard.same_value`), which `racecheck=True` does not raise for; reads racing those writes are
still races.

It costs about 40 bytes of host memory per global word accessed, so it is for small test launches.
Message passing through the fabric also orders accesses in fact, but the checker, like racecheck for
shared memory, knows only barriers: a producer that stores, then sends a word to a consumer that loads
is reported.

It also reports route changes (`ws.route`) that the simulation ran in the other order than their cycles
say against a word of their channel passing their router (kind "route-change", `RaceHazard.channel`):
such a word took another route than the hardware would give it (`racecheck_routes`).
"""
from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import numpy as np

from ..arch.values import plural
from .racecheck_routes import route_hazards
from .distinct import distinct

#: `RaceAccess.route` of a route-change race's two sides: the change, and the send of the word it misses or catches
ROUTE_CHANGE = "route change"
ROUTE_SEND = "send"

if TYPE_CHECKING:
    from .engine import Launch
    from ..errors import RaceError

RACE_REPORT_LIMIT = 100


@dataclasses.dataclass(frozen=True)
class RaceAccess:
    """One side of a race: which PE, which instruction, when, and what it does (`kind`)."""

    block_index: tuple[int, int]
    thread_index: tuple[int, int]
    pc: int
    source: tuple[str, int] | None  # (file, line) of the instruction, when the program has a line table
    cycle: float  # issue cycle (a routed word's: when it passes the changed router)
    write: bool
    #: of a route-change race, where the access is no load or store: "route change" (the PE changes its
    #: router's route on `channel`, `write` True) or "send" (it sent a word on `channel` that passes that
    #: router, `write` False); None for a load or a store
    route: str | None = None
    channel: int | None = None

    @property
    def kind(self) -> str:
        """'read', 'write', 'route change' or 'send'."""
        return self.route or ("write" if self.write else "read")

    def __str__(self) -> str:
        where = f"{self.source[0]}:{self.source[1]}" if self.source else f"pc {self.pc}"
        who = f"thread {self.thread_index} of block {self.block_index}"
        if self.route == ROUTE_CHANGE:
            return f"{who} changes the route of channel {self.channel} at {where} (cycle {self.cycle:,.0f})"
        if self.route == ROUTE_SEND:
            return (f"{who} sends a word on channel {self.channel} at {where}, which passes the changed router at "
                    f"cycle {self.cycle:,.0f}")
        verb = "writes" if self.write else "reads"
        return f"{who} {verb} at {where} (cycle {self.cycle:,.0f})"


@dataclasses.dataclass(frozen=True)
class RaceHazard:
    """Two accesses to one global word from different PEs, at least one a write, with no barrier between."""

    address: int  # byte address of the word (the first word found for this pair of instructions)
    first: RaceAccess
    second: RaceAccess
    count: int = 1  # access pairs found for this pair of instructions (every racing access is in one)
    # both write, and every write to the word between the same barriers stored the same bits: benign
    same_value: bool = False
    # a route change (`first`: the PE whose router changed, its `cycle` the change's) against a word of this
    # channel passing that router (`second`: the sender, its `cycle` the pass), which the simulation ran in
    # the other order; `sent_first`: it ran the send first (the word took the route before the change)
    channel: int | None = None
    sent_first: bool = False

    @property
    def kind(self) -> str:
        """'read-write', 'write-write', 'write-write (same value)' (benign: `same_value`), or 'route-change'."""
        if self.channel is not None:
            return "route-change"
        if not (self.first.write and self.second.write):
            return "read-write"
        return "write-write (same value)" if self.same_value else "write-write"

    @property
    def across_blocks(self) -> bool:
        """Whether the two PEs are in different blocks (no `ws.syncthreads()` can order them)."""
        return self.first.block_index != self.second.block_index

    def __str__(self) -> str:
        if self.channel is not None:
            return self._route_text()
        more = f" (and {plural(self.count - 1, 'more word pair')} from these instructions)" if self.count > 1 else ""
        if self.same_value:
            return (f"write-write (same value) on global word 0x{self.address:x}: {self.first}; {self.second}; "
                    f"every write stored the same bits, so the word is the same whichever lands last (benign, "
                    f"not raised){more}")
        return (f"{self.kind} race on global word 0x{self.address:x}: {self.first}; {self.second}; "
                f"no barrier between them{more}")


    def _route_text(self) -> str:
        if self.first.cycle == self.second.cycle:
            order = "at the same cycle: the hardware may route it either way"
        elif self.sent_first:
            order = ("the simulation ran the send first, so the word took the route before the change, where the "
                     "hardware, whose word gets there after the change, takes the new one")
        else:
            order = ("the simulation ran the change first, so the word took the changed route, where the hardware, "
                     "whose word gets there before the change, takes the old one")
        more = (f" (and {plural(self.count - 1, 'more word')} from these instructions)" if self.count > 1 else "")
        return f"route-change race on channel {self.channel}: {self.first}; {self.second}; {order}{more}"



#: route-change races by (channel, change pc, send pc, sent first): [change access, word access (the earliest
#: word's), word passes found] (one entry per pair of instructions: a stream's thousands of words take no more)
RouteGroups = dict[tuple[int, int, int, bool], list]


def _pe_access(launch: "Launch", sim, pe: int, pc: int, cycle: float, write: bool, channel: int,
               route: str) -> RaceAccess:
    (bx, by), gx = launch.placement.block, launch.placement.grid[0]
    x, y = sim.region.xy
    b = int(sim.region.block_id[pe])
    return RaceAccess(block_index=(b % gx, b // gx), thread_index=(int(x[pe] % bx), int(y[pe] % by)), pc=pc,
                      source=launch.program.source_of(pc) if pc >= 0 else None, cycle=float(cycle), write=write,
                      route=route, channel=channel)


def group_route_races(launch: "Launch", sim, found: list[dict], groups: RouteGroups) -> None:
    """Add the misordered (route change, word) pairs `found` (`racecheck_routes.route_hazards`) of the wave
    `sim` to `groups`."""
    for f in found:
        change = _pe_access(launch, sim, f["router"], f["change_pc"], f["change_cycle"], True, f["channel"],
                            ROUTE_CHANGE)
        word = _pe_access(launch, sim, f["sender"], f["send_pc"], f["pass_cycle"], False, f["channel"], ROUTE_SEND)
        key = (f["channel"], f["change_pc"], f["send_pc"], f["send_seq"] < f["change_seq"])
        kept = groups.get(key)
        if kept is None:
            groups[key] = [change, word, 1]
        else:
            kept[2] += 1
            if word.cycle < kept[1].cycle:
                kept[0], kept[1] = change, word


def route_races(groups: RouteGroups) -> list[RaceHazard]:
    """`groups` as races, one per (channel, pair of instructions, which ran first) at its earliest word, in
    channel and cycle order."""
    races = [RaceHazard(0, change, word, count, channel=key[0], sent_first=key[3])
             for key, (change, word, count) in groups.items()]
    return sorted(races, key=lambda h: (h.channel, h.second.cycle, h.first.cycle))


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


def uniform_writes(group: np.ndarray, write: np.ndarray, value: np.ndarray) -> np.ndarray:
    """For accesses sorted so that equal `group` values are adjacent: per access, whether every write of
    its group stored the same `value` (True for a group without writes)."""
    n = len(group)
    if not n:
        return np.zeros(0, dtype=bool)
    change = np.r_[True, group[1:] != group[:-1]]
    starts = np.flatnonzero(change)
    gid = np.cumsum(change) - 1
    # (reads take the neutral element of each reduction, so only the writes decide)
    high = np.maximum.reduceat(np.where(write, value, np.iinfo(np.int64).min), starts)
    low = np.minimum.reduceat(np.where(write, value, np.iinfo(np.int64).max), starts)
    return (~(low < high))[gid]


def racing_pairs(addr: np.ndarray, block: np.ndarray, pe: np.ndarray, epoch: np.ndarray, grid_epoch: np.ndarray,
                 write: np.ndarray, bits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(pairs (i, j), i < j, of accesses that race, each racing access in at least one; per pair whether it is
    benign: two writes in a group whose writes all stored the same `bits`), from per-access arrays.

    Within a block, accesses of one barrier epoch race (nothing orders them); across blocks, any two
    accesses to one word between the same grid barriers. A pair of one block comes only from the first
    search, one of two blocks only from the second: each pair is judged in one group."""
    pairs, benign = [], []
    for keys, who in (((epoch, block, addr), pe), ((grid_epoch, addr), block)):
        order = np.lexsort(keys)
        key = np.stack([k[order] for k in keys], axis=1)
        group = np.r_[0, np.cumsum((key[1:] != key[:-1]).any(axis=1))]
        partner = conflict_partners(group, who[order], write[order])
        same = uniform_writes(group, write[order], bits[order])
        hit = partner >= 0
        i, j = order[hit], order[partner[hit]]
        pairs.append(np.stack([i, j], axis=1))
        benign.append(same[hit] & write[i] & write[j])
    pairs, benign = np.concatenate(pairs), np.concatenate(benign)
    # (i, j) and (j, i) are one pair (found in one group, so with one verdict)
    pairs, keep = np.unique(np.sort(pairs, axis=1), axis=0, return_index=True)
    return pairs, benign[keep]


class RaceChecker:
    """Records a launch's global accesses and finds the races among them."""

    def __init__(self, launch: "Launch") -> None:
        self.launch = launch
        self.epoch = np.zeros(launch.placement.n_blocks, dtype=np.int64)  # barriers released, per block
        self.grid_epoch = 0  # grid barriers released (they order accesses of different blocks)
        self._parts: list[tuple[np.ndarray, ...]] = []
        #: route changes misordered against words passing their routers, found wave by wave (`group_route_races`)
        self._route_groups: RouteGroups = {}

    def wave_done(self, sim) -> None:
        """Find the route changes of a wave that ended (or failed) misordered against its routed words."""
        watch = sim.route_watch
        if watch is None or watch.analysed:
            return
        watch.analysed = True
        group_route_races(self.launch, sim, route_hazards(watch), self._route_groups)

    def route_races(self) -> list[RaceHazard]:
        """The route-change races found so far, one per (channel, pair of instructions, which ran first) at
        its earliest word, in channel and cycle order."""
        return route_races(self._route_groups)

    def launch_failed(self, error: Exception, raise_on_race: bool) -> None:
        """A launch failed (`error`): where route changes were misordered before it, the failure may be theirs
        (a word the simulation routed elsewhere than the hardware would, a receiver then waiting for good).
        racecheck=True raises a `RaceError` listing them, from `error`; 'report' adds them to `error` (its
        `races`, and a note in its message)."""
        races = self.route_races()
        if not races:
            return
        if raise_on_race:
            raised = route_failure_error(self.launch.program.name, races, error)
            raised.wave_states = getattr(error, "wave_states", None)  # (its `state`, as the failure's: runtime)
            raise raised from error
        note = (f"\n(racecheck found {plural(len(races), 'route-change race')} before this failure, which may "
                f"cause it: err.races; docs/racecheck.md)")
        error.args = (f"{error.args[0] if error.args else error}{note}", *error.args[1:])
        if hasattr(error, "add_fields"):
            error.add_fields(races=races)

    def barrier_released(self, block_ids: np.ndarray, grid: bool = False) -> None:
        """A barrier released every PE of these blocks (a block may be listed once per PE); `grid`: a grid
        barrier (`ws.cg.this_grid().sync()`), which orders accesses across blocks too."""
        self.epoch[distinct(block_ids)] += 1
        if grid:
            self.grid_epoch += 1

    def record(self, sim, pes: np.ndarray, addresses: np.ndarray, cycles: np.ndarray, pc: int, write: bool,
               values: np.ndarray | None = None) -> None:
        """Global words `addresses` accessed by the wave's PEs `pes` (flat, same shape) at `cycles`; a store's
        `values` (the words stored, same shape) tell benign same-value write-write races apart."""
        pes = np.asarray(pes).ravel()
        if values is None:
            bits = np.zeros(len(pes), dtype=np.int64)
        else:  # the stored bits (a float's -0.0 and 0.0 differ, as the words do)
            bits = np.ascontiguousarray(values, dtype=np.int32).ravel().view(np.uint32).astype(np.int64)
        region, (bx, by) = sim.region, self.launch.placement.block
        x, y = region.xy
        block = region.block_id[pes].astype(np.int64)
        thread = (y[pes] % by).astype(np.int64) * bx + x[pes] % bx
        self._parts.append((np.asarray(addresses, dtype=np.int64).ravel(), block, thread, self.epoch[block],
                            np.full(len(pes), pc, dtype=np.int32), np.full(len(pes), write),
                            np.asarray(cycles, dtype=np.float64).ravel(), np.full(len(pes), self.grid_epoch),
                            bits))

    def hazards(self) -> tuple[list[RaceHazard], int]:
        """(the races found, capped at RACE_REPORT_LIMIT: route-change races first, then those on global
        memory in address order, benign ones last; how many were left out)."""
        routes = self.route_races()
        memory, dropped = self.memory_hazards()
        reports = routes + memory
        return reports[:RACE_REPORT_LIMIT], dropped + max(len(reports) - RACE_REPORT_LIMIT, 0)

    def memory_hazards(self) -> tuple[list[RaceHazard], int]:
        """(the races on global memory found, capped at RACE_REPORT_LIMIT, in address order; how many were
        left out)."""
        if not self._parts:
            return [], 0
        addr, block, thread, epoch, pc, write, cycle, grid_epoch, bits = (np.concatenate(p)
                                                                           for p in zip(*self._parts))
        pe = block * (self.launch.placement.block[0] * self.launch.placement.block[1]) + thread
        pairs, benign = racing_pairs(addr, block, pe, epoch, grid_epoch, write, bits)
        if not len(pairs):
            return [], 0
        # One report per (unordered) pair of instructions and access kinds, benign or not, within a block or
        # across blocks (a different fix each), at its lowest address; the races that raise first, so that
        # the cap never hides them behind benign ones.
        a, b = pairs[:, 0], pairs[:, 1]
        swap = pc[a] * 2 + write[a] > pc[b] * 2 + write[b]
        a, b = np.where(swap, b, a), np.where(swap, a, b)
        kinds = np.stack([pc[a], write[a], pc[b], write[b], block[a] != block[b], benign], axis=1).astype(np.int64)
        by_address = np.lexsort((cycle[b], cycle[a], addr[a]))
        kinds, a, b = kinds[by_address], a[by_address], b[by_address]
        _, first, counts = np.unique(kinds, axis=0, return_index=True, return_counts=True)
        chosen = sorted(zip(kinds[first, 5], addr[a[first]], first, counts))
        reports = [RaceHazard(int(address), self._access(a[i], block, thread, pc, cycle, write),
                              self._access(b[i], block, thread, pc, cycle, write), int(count), bool(same))
                   for same, address, i, count in chosen[:RACE_REPORT_LIMIT]]
        return reports, max(len(chosen) - RACE_REPORT_LIMIT, 0)

    def _access(self, i: int, block, thread, pc, cycle, write) -> RaceAccess:
        gx = self.launch.placement.grid[0]
        bx = self.launch.placement.block[0]
        b, t = int(block[i]), int(thread[i])
        return RaceAccess(block_index=(b % gx, b // gx), thread_index=(t % bx, t // bx), pc=int(pc[i]),
                          source=self.launch.program.source_of(int(pc[i])), cycle=float(cycle[i]),
                          write=bool(write[i]))


def real_races(races: list[RaceHazard]) -> list[RaceHazard]:
    """The races of a report that can change a result: all but the benign same-value write-write ones."""
    return [hazard for hazard in races if not hazard.same_value]


def race_advice(races: list[RaceHazard], reported: list[RaceHazard] | None = None) -> list[str]:
    """What can fix these races, one hint per kind found: a barrier only where one can order them (two
    different instructions: one PE's access before it, the other's after; two PEs storing different values
    with one instruction cannot be ordered by any barrier). `reported`: every race of the report, benign
    same-value ones too (`races` by default), which tell an accumulation on one line from other races.
    Route-change races get one hint of their own."""
    hints = [ROUTE_ADVICE] if any(h.channel is not None for h in races) else []
    races = [h for h in races if h.channel is None]
    def same_line(h: RaceHazard) -> bool:
        return h.first.source is not None and h.first.source == h.second.source

    # Lines where different PEs both write one word (`counts[b] += 1` writes the same word from every PE that
    # read it; all may store the same value, a benign race, when they all read the same one)
    accumulating = {h.first.source for h in (races if reported is None else reported)
                    if h.first.write and h.second.write and same_line(h)}

    def one_line(h: RaceHazard) -> bool:
        # A read and a write of one word on one line by different PEs, the line's writes racing too: a `+=`
        # into a shared word (CUDA's atomicAdd from many threads), where a barrier "between the two
        # accesses" has no place to go. (`a[i] = a[i + 1]` reads and writes on one line, each PE its own
        # word: a barrier after the read orders it.)
        return h.kind == "read-write" and same_line(h) and h.first.source in accumulating

    def orderable(h: RaceHazard) -> bool:
        return not one_line(h) and (h.first.pc != h.second.pc or h.kind == "read-write")

    if any(one_line(h) for h in races):
        hints.append("a read and a write of one line by different PEs (counts[b] += 1 from several PEs, CUDA's "
                     "atomicAdd): there are no atomics, and no barrier makes such updates add up; accumulate in "
                     "each PE (a local array) and combine with messages (wafersim.collectives: row_reduce_array, "
                     "block_reduce_array or block_all_reduce_array with op SUM; a histogram: "
                     "wafersim.kernels.classic.histogram), or give each PE its own word; only if the two accesses "
                     "are meant for different trips of a loop does a ws.syncthreads() in the loop order them")
    if any(orderable(h) and not h.across_blocks for h in races):
        split = (": where both are on one line (a[i] = a[i + 1]), read into a variable first, then the barrier, "
                 "then store" if any(orderable(h) and same_line(h) and not h.across_blocks for h in races) else "")
        hints.append("PEs of one block: put a ws.syncthreads() between the two accesses (every PE of the block "
                     f"must reach it){split}")
    if any(orderable(h) and h.across_blocks for h in races):
        hints.append("PEs of different blocks: ws.syncthreads() cannot order them; put a grid barrier "
                     "(ws.cg.this_grid().sync(); every block on the wafer at once) between the accesses, or split "
                     "the kernel into two launches")
    if any(not orderable(h) and not one_line(h) for h in races):
        hints.append("PEs storing different values to one word with the same instruction: no barrier can order "
                     "them; give each PE (or block) its own word (out[i]), let one PE store (if ws.threadIdx.x == 0 "
                     "and ws.threadIdx.y == 0), or combine the values first (within a block: "
                     "wafersim.kernels.reduce.allreduce(v, op), op SUM, MAX or MIN; across blocks: one word per "
                     "block, combined by a second launch)")
    return hints


ROUTE_ADVICE = ("route changes: change a channel's route only while no word of it is on its way through that "
                "router, and send the words that need the new route only after the change: a ws.syncthreads() "
                "between the receives of the last words of the old route and the change, and another between the "
                "change and the first send that needs it (docs/routes.md, \"Changing routes inside a kernel\")")


def _what_races(races: list[RaceHazard]) -> str:
    """'on global memory', 'of route changes against routed words', or both, for the races listed."""
    routes = any(h.channel is not None for h in races)
    memory = any(h.channel is None for h in races)
    return " and ".join((["on global memory"] if memory or not routes else []) +
                        (["of route changes against routed words"] if routes else []))


def route_failure_error(program: str, races: list[RaceHazard], error: Exception) -> "RaceError":
    """The `RaceError` of a launch that failed (`error`) after route changes misordered against routed words
    (`races`), which can be why it failed."""
    from ..errors import RaceError

    lines = "\n".join(f"  {hazard}" for hazard in races)
    first = str(error).split("\n", 1)[0]
    return RaceError(f"{program}: racecheck found {plural(len(races), 'race')} of route changes against routed "
                     f"words (pairs of instructions):\n{lines}\nThe launch then failed, perhaps because of them: "
                     f"{type(error).__name__}: {first}\nWhat can fix them:\n- {ROUTE_ADVICE}\nracecheck='report' "
                     f"adds them to the launch's error as err.races (docs/racecheck.md)", races=races,
                     races_dropped=0, stats=None, failure=error)


def race_error(stats) -> "RaceError":
    """The `RaceError` of a launch whose `stats.races` has races that can change a result (benign same-value
    write-write ones are not raised for): every such race, one a line, and what can fix them."""
    from ..errors import RaceError

    races = real_races(stats.races)
    benign = len(stats.races) - len(races)
    lines = "\n".join(f"  {hazard}" for hazard in races)
    # Races are listed before benign reports: where a benign one is listed, every race is, and those left
    # out are benign; else those left out may be races.
    hidden = stats.races_dropped if not benign else 0
    more = f"\n  (and {plural(hidden, 'more report')} left out, perhaps benign)" if hidden else ""
    also = (f"\n  ({plural(benign, 'benign write-write (same value) pair')} of instructions, not raised for, "
            f"{'is' if benign == 1 else 'are'} on "
            f"err.stats.races)" if benign else "")
    advice = "".join(f"\n- {hint}" for hint in race_advice(races, stats.races))
    total = f"{len(races)} or more" if hidden else len(races)
    return RaceError(f"{stats.program}: racecheck found {total} {'race' if total == 1 else 'races'} "
                     f"{_what_races(races)} (pairs of instructions):\n{lines}{more}{also}\nWhat can fix them:{advice}\nracecheck='report' records "
                     f"them on LaunchStats.races without raising (docs/racecheck.md)", races=races,
                     races_dropped=stats.races_dropped, stats=stats)
