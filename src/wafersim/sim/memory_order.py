"""Causal global memory: what a load sees is decided by simulated time, not by the scheduler's order.

The engine runs PEs in groups by program counter, not in simulated time: a group can run far ahead of
another in cycles. Global memory is shared by every PE, so its accesses must be ordered by the cycle at
which they issue (the PE's cycle after the instruction's issue cost):

- a load issued at cycle t sees every store issued at a cycle <= t, by any PE of the launch, and no
  store issued later; of two stores to one word the one issued later wins, at one cycle the one of the
  higher PE (`store_stamps`, which every store written to memory goes through);
- two mechanisms keep it so (`OffWaferMixin` applies them): a store that some PE could still follow
  with a load at an earlier cycle goes into a `StoreLog` (a versioned overlay of memory) instead of
  memory, and is written back once every PE has passed its cycle; and a load waits (its group is held)
  while another PE could still issue a store at an earlier cycle (conservative discrete-event order).

Both rely on lower bounds of when a PE can next store or load: `cycles_until` (a shortest path over the
program's control flow, weighted by issue costs) from its program counter, added to its cycle.
"""
from __future__ import annotations

import heapq

import numpy as np

from ..isa.encoding import Instr
from .code_facts import CodeFacts
from .distinct import distinct, increasing
from .store_stamps import StoreStamps

LOAD_OPS = frozenset({"gld", "gldv"})
STORE_OPS = frozenset({"gst", "gstv"})
ACCESS_OPS = LOAD_OPS | STORE_OPS
#: A load commits the log to memory first when it holds more words than this, so that lookups stay cheap.
LOG_COMMIT_WORDS = 1 << 16


def successors(pc: int, instr: Instr, code_words: int) -> list[int]:
    """Program counters that can follow the instruction at `pc` (falling off the end halts)."""
    op = instr.op
    if op == "halt":
        return []
    following = pc + instr.words
    if op == "jmp":
        targets = (instr.target,)
    elif op in ("bz", "bnz"):
        targets = (instr.target, following)
    else:
        targets = (following,)
    return [t for t in targets if t < code_words]


def cycles_until(decoded: dict[int, Instr], costs: dict[str, float], targets: frozenset[str], code_words: int,
                 global_latency: float, fixed: dict[int, int] | None = None) -> dict[int, float]:
    """For each pc, the fewest cycles from a PE about to execute it until an instruction in `targets`
    issues (its issue cost included), or inf when none is reachable. `fixed`: branches whose way is known
    (pc -> the pc that follows it), for PEs that take only that way (`sim.neighbour_paths`).

    Every instruction costs at least its issue cost, and a global load at least `global_latency` on
    top, so a PE at pc with cycle c issues no target instruction before c + result[pc]."""
    # (each instruction's step taken once: a launch's first use of a program asks for this once per class of PE
    # by its neighbours, and it was a third of the 64-PE transpose's first launch)
    best: dict[int, float] = {}
    predecessors: dict[int, list[int]] = {}
    steps: dict[int, float] = {}
    fixed = fixed or {}
    for pc, instr in decoded.items():
        op = instr.op
        if op in targets:  # (its own issue comes first: never a step on another's path)
            best[pc] = float(costs[op])
        else:
            steps[pc] = costs[op] + (global_latency if op in LOAD_OPS else 0.0)
        way = fixed.get(pc)
        for nxt in successors(pc, instr, code_words):
            if way is None or nxt == way:
                predecessors.setdefault(nxt, []).append(pc)
    heap = [(d, pc) for pc, d in best.items()]
    heapq.heapify(heap)
    done: set[int] = set()
    pop, push, inf = heapq.heappop, heapq.heappush, np.inf
    while heap:  # Dijkstra backwards from the targets
        d, pc = pop(heap)
        if pc in done:
            continue
        done.add(pc)
        for before in predecessors.get(pc, ()):
            step = steps.get(before)
            if step is None:
                continue  # a target
            if d + step < best.get(before, inf):
                best[before] = d + step
                push(heap, (d + step, before))
    return {pc: best.get(pc, inf) for pc in decoded}


class StoreLog:
    """Stores that some PE could still precede with a load: (byte address, allocation base, value, cycle, PE
    key), in the order executed. Loads overlay it on memory; `commit` writes back what every PE has
    passed.

    The overlay takes the latest logged store at or before a load's cycle over the word in memory. That is
    right because every store written to memory in the launch is issued no later than `horizon`, and every
    store left in the log later than it: stores go to memory, and are committed, only up to the horizon they
    are given (`bound`), and the horizon never goes back."""

    def __init__(self) -> None:
        self._chunks: list[tuple[np.ndarray, ...]] = []
        self._merged: tuple[np.ndarray, ...] | None = None  # sorted by (address, cycle, PE)
        self._span: tuple[int, int, float] | None = None  # (`_extent`)
        self.words = 0
        #: The latest horizon given so far (`bound`): no load not yet executed issues before it.
        self.horizon = -np.inf

    def bound(self, horizon: float) -> float:
        """The horizon stores are written to memory and committed by: the latest of `horizon` and every one
        given before in the launch. Each is a lower bound of the issue cycle of any load not yet executed when it
        was found, so the latest is one too; a later one may be lower (the bound from the start of later waves
        reads the PEs' clocks without the cycles their groups owe, and a group that joins one owing more has
        its clocks set back by the difference): a store then went to memory while an earlier one, executed after
        it, went to the log, and a load's overlay took the earlier one (stop 50)."""
        if horizon > self.horizon:
            self.horizon = horizon
        return self.horizon

    def __bool__(self) -> bool:
        return self.words > 0

    def add(self, addresses: np.ndarray, bases, values: np.ndarray, cycles: np.ndarray, pes: np.ndarray) -> None:
        """Log stores at byte `addresses` (in the allocations `bases`) of `values`, issued at `cycles` by the PEs
        of keys `pes` (`StoreStamps.keys`; all broadcastable to `addresses`)."""
        addresses = np.asarray(addresses, dtype=np.int64)
        if not addresses.size:
            return
        shape = addresses.shape
        addresses = addresses.ravel().copy()  # (the log's arrays are its own: never changed in place, `saved`)
        bases = np.broadcast_to(np.asarray(bases, dtype=np.int64), shape).ravel()
        cycles = np.broadcast_to(np.asarray(cycles, dtype=np.float64), shape).ravel()
        pes = np.broadcast_to(np.asarray(pes, dtype=np.int64), shape).ravel()
        values = np.broadcast_to(np.asarray(values, dtype=np.int32), shape).ravel()
        self._chunks.append((addresses, bases.copy(), values.copy(), cycles.copy(), pes.copy()))
        self.words += len(addresses)
        self._merged = self._span = None

    def saved(self) -> tuple:
        """The log's contents and horizon, for `restore` (its arrays are never changed in place: no copy needed)."""
        return list(self._chunks), self.words, self._merged, self.horizon

    def restore(self, saved: tuple) -> None:
        """Put back the contents `saved` returned (a batch of waves undone, `sim.batching`: its horizons were found
        from the start times it predicted)."""
        chunks, self.words, self._merged, self.horizon = saved
        self._span = None
        self._chunks = list(chunks)

    def _entries(self) -> tuple[np.ndarray, ...]:
        """(address, base, value, cycle, PE key) of every logged store, in the order executed."""
        if len(self._chunks) > 1:
            self._chunks = [tuple(np.concatenate(parts) for parts in zip(*self._chunks))]
        return self._chunks[0]

    def _sorted(self) -> tuple[np.ndarray, ...]:
        """The entries sorted by (address, cycle, PE), for lookups (of stores at one cycle by one PE, one word
        each: the order executed)."""
        if self._merged is None:
            addr, base, value, cycle, pe = self._entries()
            order = np.lexsort((pe, cycle, addr))
            self._merged = (addr[order], base[order], value[order], cycle[order])
        return self._merged

    def _extent(self) -> tuple[int, int, float]:
        """(lowest address, highest address, earliest cycle) of the logged stores: a load outside them sees none,
        found without `_sorted`'s sort (`trsv`'s loads of b beside its logged stores of x, 63 a launch)."""
        if self._span is None:
            addr, _, _, cycle, _ = self._entries()
            self._span = (int(addr.min()), int(addr.max()), float(cycle.min()))
        return self._span

    def overlay(self, addresses: np.ndarray, cycles: np.ndarray, values: np.ndarray) -> np.ndarray:
        """`values` loaded from memory at `addresses` by loads issued at `cycles` (broadcastable), with
        the latest logged store to each address issued at a cycle <= the load's put in."""
        lowest, highest, earliest = self._extent()
        if addresses.size == 0 or addresses.max() < lowest or addresses.min() > highest \
                or np.max(cycles) < earliest:
            return values  # no logged store to these words, or none issued yet at the loads' cycles
        addr, _, value, cycle = self._sorted()
        cycles = np.broadcast_to(np.asarray(cycles, dtype=np.float64), addresses.shape)
        flat_addr, flat_cycle = addresses.ravel(), cycles.ravel()
        # One sort key for (address, cycle): ranks of addresses and of cycles over log and queries.
        times = distinct(np.concatenate([cycle, flat_cycle]))
        span = len(times) + 1
        uniq = distinct(addr)
        entry_key = np.searchsorted(uniq, addr) * span + np.searchsorted(times, cycle)
        slot = np.searchsorted(uniq, flat_addr).clip(max=len(uniq) - 1)
        logged = uniq[slot] == flat_addr
        query_key = slot * span + np.searchsorted(times, flat_cycle)
        hit = np.searchsorted(entry_key, query_key, side="right") - 1  # last entry <= (address, cycle)
        found = logged & (hit >= 0)
        found[found] &= addr[hit[found]] == flat_addr[found]
        out = values.ravel().copy()
        out[found] = value[hit[found]]
        return out.reshape(values.shape)

    def commit(self, memory, horizon: float, stamps: StoreStamps) -> None:
        """Write to `memory` every logged store issued at a cycle <= `horizon` (`bound`: no load not yet executed
        issues before it) where it is later than the store that wrote the word before (`stamps`), in (cycle, PE)
        order: of equal addresses, the latest wins."""
        horizon = self.bound(horizon)
        if not self.words:
            return
        addr, base, value, cycle, pe = self._entries()
        due = cycle <= horizon
        if not due.any():
            return
        every = due.all()
        addr_due, base_due, value_due, cycle_due, pe_due = (
            (part if every else part[due]) for part in (addr, base, value, cycle, pe))
        if not increasing(addr_due):  # (distinct words, as saxpy's: no store overwrites another here, any order)
            # Distinct words in another order (`trsv`'s rows of x, logged as its PEs stored them) go in address
            # order: still no store overwrites another, and one key's sort costs a fraction of the two keys' (and
            # consecutive words are stamped as slices); else (cycle, PE) order, so that the latest store wins.
            order = np.argsort(addr_due, kind="stable")
            if not increasing(addr_due[order]):
                order = np.lexsort((pe_due, cycle_due))
            addr_due, base_due, value_due, cycle_due, pe_due = (
                part[order] for part in (addr_due, base_due, value_due, cycle_due, pe_due))
        one_base = base_due[0] == base_due[-1] and (base_due == base_due[0]).all()  # the usual case: one allocation
        stamps.store(memory, addr_due, int(base_due[0]) if one_base else base_due, value_due, cycle_due, pe_due)
        if every:
            self._chunks, self.words, self._merged, self._span = [], 0, None, None
            return
        keep = ~due
        self._chunks = [tuple(part[keep] for part in (addr, base, value, cycle, pe))] if keep.any() else []
        self.words = int(keep.sum())
        self._merged = self._span = None


class GlobalOrder:
    """A launch's causal-order state: per-pc distances to the next store and load, the store log, and the
    stamps of the stores written (`store_stamps`; `pes`: the launch's PEs, over all its waves)."""

    def __init__(self, facts: CodeFacts, costs: dict[str, float], code_words: int, global_latency: float,
                 cost_key: tuple, pes: int) -> None:
        # (`cost_key`: `tuple(sorted(costs.items()))`, which a launch has already, `Launch.cost_key`: sorted at
        # every launch, it was a few percent of a small launch)
        timing = (cost_key, code_words, float(global_latency))
        # (what follows is the same for every launch of the code on a spec: kept with the code's facts)
        order = facts.memo(("global_order", timing), lambda: _OrderFacts(facts, costs, timing))
        self.load_pcs, self.latency, self.active = order.load_pcs, order.latency, order.active
        self.to_store, self.to_load, self.to_access = order.to_store, order.to_load, order.to_access
        self.access_gap, self.bulk = order.access_gap, order.bulk
        self.log = StoreLog()
        self.stamps = StoreStamps(pes)

    def next_store(self, pc: int) -> float:
        """Fewest cycles from pc until a store can issue (inf: none can)."""
        return self.to_store.get(pc, np.inf)

    def next_access(self, pc: int) -> float:
        """Fewest cycles from pc until a load or store can issue (inf: none can)."""
        return self.to_access.get(pc, np.inf)

    def next_load(self, pc: int) -> float:
        """Fewest cycles from pc until a load can issue (inf: none can)."""
        return self.to_load.get(pc, np.inf)


class _OrderFacts:
    """The part of `GlobalOrder` that depends only on the code and its timing (`timing`: the cost key, the code's
    words and the global latency), made once per code and timing: every field is only read."""

    def __init__(self, facts: CodeFacts, costs: dict[str, float], timing: tuple) -> None:
        decoded, (_, code_words, latency) = facts.decoded, timing
        ops = {instr.op for instr in decoded.values()}
        self.load_pcs = frozenset(pc for pc, instr in decoded.items() if instr.op in LOAD_OPS)
        self.latency = latency
        #: Loads can only see other PEs' stores out of order when the program both loads and stores.
        self.active = bool(ops & LOAD_OPS) and bool(ops & STORE_OPS)
        self.to_store: dict[int, float] = {}
        self.to_load: dict[int, float] = {}
        if self.active:
            self.to_store, self.to_load = (
                facts.kept_memo(("cycles_until", targets, timing),
                                lambda targets=targets: cycles_until(decoded, costs, targets, code_words, latency))
                for targets in (STORE_OPS, LOAD_OPS))
        #: Fewest cycles from pc until a load or store can issue, and fewest between two accesses of one PE
        #: (the issue of one to the issue of the next), for the bandwidth's order (`sim.bandwidth`): only
        #: where loads wait for it.
        self.to_access: dict[int, float] = {}
        self.access_gap = np.inf
        #: Whether the program has bulk accesses (gldv, gstv: up to an SRAM's words each), else one word each.
        self.bulk = bool(ops & {"gldv", "gstv"})
        if ops & (LOAD_OPS | STORE_OPS):
            targets = LOAD_OPS | STORE_OPS
            self.to_access = facts.kept_memo(("cycles_until", targets, timing),
                                             lambda: cycles_until(decoded, costs, targets, code_words, latency))
            self.access_gap = min((self._after(pc, instr, code_words)
                                   for pc, instr in decoded.items() if instr.op in targets), default=np.inf)

    def _after(self, pc: int, instr: Instr, code_words: int) -> float:
        """Fewest cycles from the issue of the access at pc to the issue of the PE's next access."""
        wait = self.latency if instr.op in LOAD_OPS else 0.0
        return wait + min((self.to_access.get(nxt, np.inf) for nxt in successors(pc, instr, code_words)),
                          default=np.inf)
