"""Off-wafer (global) memory access of a wave simulation: gld, gst, gldv, gstv, in simulated-time order.

Accesses take effect at their issue cycle and are ordered by it (`memory_order` states the rule): a load
never sees a store issued after it, nor misses one issued before it, whatever order the scheduler runs
groups in. Stores that a PE could still precede with a load go to the launch's store log; a group about
to load waits (`_next_group`) while another PE could still store at an earlier cycle.
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np

from ..errors import MemoryAccessError
from ..isa.encoding import Instr
from ..isa.opcodes import BY_NAME
from . import parallel
from .lanes import Lanes
from .memory_order import LOG_COMMIT_WORDS
from .neighbour_paths import StorePaths

#: PEs per block of a strided bulk load's transposing copy (`_affine_bulk`): their rows stay in cache.
TRANSPOSE_BLOCK = 4096
#: Words a run of consecutive PEs of a gapped bulk load moves on average, at least, for it to be copied run by run
#: (`Strategy.gapped_bulk_copies`): a copy per run costs a few microseconds of Python.
RUN_WORDS = 256


def _increasing(values: np.ndarray) -> bool:
    """Whether `values` (1-D) strictly increase."""
    return values.ndim == 1 and bool((values[1:] > values[:-1]).all())


def _in_blocks(copy: Callable[[slice], None], count: int, threaded: bool) -> None:
    """copy(pes) for consecutive blocks of `TRANSPOSE_BLOCK` PEs of `count`; `threaded`: a large range in one
    run of blocks per thread of the engine (disjoint PEs: the same words in any order)."""
    def run(lo: int, hi: int) -> None:
        for first in range(lo, hi, TRANSPOSE_BLOCK):
            copy(slice(first, min(first + TRANSPOSE_BLOCK, hi)))

    threads = parallel.thread_count() if threaded and count >= parallel.PARALLEL_LANES else 1
    if threads < 2:
        run(0, count)
        return
    blocks = -(-count // TRANSPOSE_BLOCK)
    cuts = [min(count, TRANSPOSE_BLOCK * (blocks * k // threads)) for k in range(threads + 1)]
    parallel.run(run, [(lo, hi) for lo, hi in zip(cuts[:-1], cuts[1:])])


def _load(sram: np.ndarray, rows: np.ndarray, pes: slice) -> None:
    """The strided rows of the PEs `pes` into their SRAM columns (`OffWaferMixin._affine_bulk`)."""
    sram[:, pes] = rows[pes].T


def _lanes_min(lanes: Lanes, values: np.ndarray) -> float:
    """Smallest lane-aligned value (inf for no lanes)."""
    return -lanes.max(-values)


class OffWaferMixin:
    """Global memory executors of `WaveSim`: data movement plus latency, edge hops and shared bandwidth."""

    #: Whether a group about to load waits while another PE could still store at an earlier cycle (off only
    #: in a batch of waves, `sim.batching`, which checks afterwards that no PE loaded another's stores).
    holds_loads = True
    #: (lanes' indices or None for every PE, byte addresses, words, whether a store) of each global access,
    #: recorded only by a batch of waves; None: not recorded.
    accesses: list | None = None
    #: (`_store_paths`, made on first use)
    store_paths: StorePaths | None = None

    # ------------------------------------------------------------------ execution
    def _global(self, ins: Instr, next_pc: int, cost: float, lanes: Lanes):
        op, spec = ins.op, self.spec
        one_word = op in ("gld", "gst")  # a scalar load or store (else a bulk copy of some words a lane)
        # A scalar load or store by every PE of the wave (a stencil's first and last access) reads and
        # writes per-PE arrays whole, through a slice, instead of gathering and scattering at every index.
        whole = (lanes.is_full and one_word and self.strategy.lockstep and self.tracer is None
                 and self.launch.racecheck is None)
        L = lanes if whole else lanes.to_index_form(self.n)
        at = slice(None) if whole else L.idx  # the lanes' entries of a per-PE array
        memory, order = self.launch.memory, self.launch.memory_order
        if one_word:
            addr = (self.regs[ins.a, at].astype(np.int64) & 0xFFFFFFFF) + ins.imm
            words = np.broadcast_to(np.int64(1), addr.shape)  # one word a lane (a view: no array of ones)
        else:
            addr = self.regs[ins.a][L.idx].astype(np.int64) & 0xFFFFFFFF
            words = self.regs[ins.c][L.idx].astype(np.int64)
            sram_base = self.regs[ins.d if op == "gldv" else ins.b, L.idx].astype(np.int64)
            if (words < 0).any():
                raise self._lane_error(MemoryAccessError, f"{op} with a negative length", L, words < 0)
            self._sram_check(L, sram_base, words, op)
        bases, ok = memory.locate(addr, 4 if one_word else 4 * words)
        if not one_word:
            ok |= words == 0
        if not ok.all():
            i = self._first_true(L, ~ok)
            why = memory.describe_address(int(addr[i]))
            raise self._lane_error(MemoryAccessError, f"{op} of {4 * int(words[i])} bytes: {why}", L, ~ok,
                                   address=int(addr[i]), nbytes=4 * int(words[i]))
        if self.accesses is not None:  # a batch of waves (`sim.batching`) checks who touched which words
            self.accesses.append((None if whole else L.idx, addr, words, op in ("gst", "gstv")))
        issued = self.cycle[at] + cost
        loads = op in ("gld", "gldv")
        # Stores: cycles before which no load can still issue (inf: every store goes straight to memory).
        horizon = np.inf if loads or not order.active else self._load_horizon(L, issued, next_pc)
        if loads and order.log.words > LOG_COMMIT_WORDS:  # keep lookups cheap: write back what is settled
            order.log.commit(memory, min(float(issued.min()), self._load_horizon(None, None, None)))
        checker = self.launch.racecheck
        pc = next_pc - BY_NAME[op].words
        if one_word:
            if op == "gld":
                values = memory.gather_words(addr, bases)
                if order.log:
                    values = order.log.overlay(addr, issued, values)
                if ins.d:
                    self.regs[ins.d, at] = values
            else:
                self._store_words(addr, bases, self.regs[ins.d, at], issued, horizon)
            if checker is not None:
                checker.record(self, L.idx, addr, issued, pc, write=op == "gst",
                               values=None if op == "gld" else self.regs[ins.d, at])
        elif checker is not None or not self._affine_bulk(op, L, addr, bases, words, sram_base, issued, horizon):
            for n in np.unique(words):  # one gather per distinct transfer length
                sel = words == n
                if not n:
                    continue
                cols = np.arange(n)
                word_addr = addr[sel, None] + 4 * cols
                sram_rows = sram_base[sel, None] + cols
                pes = np.broadcast_to(L.idx[sel, None], word_addr.shape)
                where = bases if isinstance(bases, int) else np.broadcast_to(bases[sel, None], word_addr.shape)
                if op == "gldv":
                    values = memory.gather_words(word_addr, where)
                    if order.log:
                        values = order.log.overlay(word_addr, issued[sel, None], values)
                    self.sram[sram_rows, pes] = values
                else:
                    self._store_words(word_addr, where, self.sram[sram_rows, pes], issued[sel, None], horizon)
                if checker is not None:
                    checker.record(self, pes, word_addr, np.broadcast_to(issued[sel, None], word_addr.shape), pc,
                                   write=op == "gstv", values=None if op == "gldv" else self.sram[sram_rows, pes])
        # Timing: latency plus hops to the wafer edge, and the wafer's shared off-wafer bandwidth.
        hops = self.region.hops_to_edge[at]
        unloaded = issued + spec.global_latency + hops
        if not one_word:  # (+ 0.0 for one word: nothing to add)
            unloaded += (words - 1).clip(0) * self.word_time
        finished = self._global_finish(unloaded, 4 if one_word else 4 * words, at)
        self._guard_time(float(finished.max(initial=0)))
        if self.tracer:
            self.tracer.record(L, "global load" if loads else "global store", issued - cost,
                               finished if loads else issued)
        if loads:
            self.stall[at] += finished - issued
            self.cycle[at] = finished
        else:  # posted: the PE goes on; its halt waits for the store to land
            self.cycle[at] = issued
            self.store_done[at] = np.maximum(self.store_done[at], finished)
        return [(next_pc, lanes, False)]

    def _affine_bulk(self, op: str, L: Lanes, addr: np.ndarray, bases, words: np.ndarray, sram_base: np.ndarray,
                     issued: np.ndarray, horizon: float) -> bool:
        """gldv / gstv of a group whose transfers are one strided block: consecutive PEs, the same length and
        SRAM address everywhere, global addresses a fixed stride apart (at least the transfer's bytes, so that
        no two transfers overlap): one strided copy between a (PEs, words) view of global memory and the SRAM
        rows, instead of 2-D gathers. A gldv's PEs may have gaps between them (`Strategy.gapped_bulk_copies`:
        runs of consecutive PEs, the addresses a stride per PE apart, each run copied as a block), and a gstv's
        undo record may cover the words between its rows (`GlobalMemory.rows_view`). The same words as the
        general path; False (nothing done) where it does not apply: a store log to keep in time order, other
        shapes."""
        count = L.count
        n = int(words[0])
        if not isinstance(bases, int) or n == 0 or count < 2:
            return False
        first_pe, span = int(L.idx[0]), int(L.idx[-1]) + 1 - int(L.idx[0])
        stride = int(addr[1] - addr[0]) // int(L.idx[1] - L.idx[0])
        # A load with gaps between its PEs (`Strategy.gapped_bulk_copies`): each run of consecutive PEs a block.
        gapped = span != count and op == "gldv" and self.strategy.gapped_bulk_copies
        if stride < 4 * n or stride % 4 or (span != count and not gapped):
            return False
        ends = np.flatnonzero(np.diff(L.idx) != 1) + 1 if gapped else None
        if ends is not None and len(ends) * RUN_WORDS >= count * n:  # (short runs: the gathers cost less)
            return False
        # Logged stores must be overlaid on loads, and stores after the horizon logged, in time order.
        if self.launch.memory_order.log or (op == "gstv" and float(issued.max()) > horizon):
            return False
        if not ((words == n).all() and (sram_base == sram_base[0]).all()
                and np.array_equal(addr, addr[0] + stride * (L.idx - first_pe))):
            return False
        lean = self.strategy.lean_bulk_stores
        rows = self.launch.memory.rows_view(bases, int(addr[0]), span, stride, n, store=op == "gstv", lean=lean,
                                            gaps=self.strategy.gapped_bulk_copies)
        if rows is None:
            return False
        sram = self.sram[int(sram_base[0]):int(sram_base[0]) + n, first_pe:first_pe + span]
        if ends is not None:  # (the PEs in the gaps are not the group's: their words are left alone)
            for lo, hi in zip([0, *ends.tolist()], [*ends.tolist(), count]):
                a, b = int(L.idx[lo]) - first_pe, int(L.idx[hi - 1]) + 1 - first_pe
                _in_blocks(lambda pes, a=a: _load(sram, rows, slice(a + pes.start, a + pes.stop)), b - a, False)
            return True
        def store(pes: slice) -> None:
            rows[pes] = sram[:, pes].T

        if op == "gldv":
            # In blocks of PEs: one transposing copy of a whole wafer's rows walks memory across cache lines
            # and runs ~3x slower (measured: 0.30 against 0.09 s for 78 words on each of 754k PEs).
            _in_blocks(lambda pes: _load(sram, rows, pes), count, threaded=lean)
        elif lean:  # (the same blocks the other way: 0.07 against 0.14 s for 64 words on 754k PEs)
            _in_blocks(store, count, threaded=True)
        else:
            rows[...] = sram.T
        return True

    def _store_words(self, addr: np.ndarray, bases, values: np.ndarray, issued: np.ndarray, horizon: float) -> None:
        """Store words issued at `issued` (lane-aligned, broadcastable to `addr`). Those issued at or before
        `horizon` (no load can still issue before them) go to memory, the others to the store log; while
        the log holds stores, all go through it, so that memory is written in cycle order. Among equal
        addresses the store issued last wins (then the one executed last: the last lane)."""
        memory, log = self.launch.memory, self.launch.memory_order.log
        issued = np.broadcast_to(issued, addr.shape)
        late = issued > horizon
        if log or late.any():
            if log:
                late = np.ones(addr.shape, dtype=bool)
            log.add(addr[late], bases if isinstance(bases, int) else bases[late], values[late], issued[late])
            log.commit(memory, horizon)
            if late.all():
                return
            keep = ~late
            addr, values, issued = addr[keep], values[keep], issued[keep]
            bases = bases if isinstance(bases, int) else bases[keep]
        if addr.size > 1 and issued.min() != issued.max() and not _increasing(addr):
            # time order first, so that the latest store wins (addresses that only increase are distinct:
            # no store can overwrite another, in any order)
            by_time = np.argsort(issued, axis=None, kind="stable")
            addr, values = addr.ravel()[by_time], values.ravel()[by_time]
            bases = bases if isinstance(bases, int) else np.broadcast_to(bases, issued.shape).ravel()[by_time]
        memory.scatter_words(addr, bases, values)

    def _global_finish(self, unloaded: np.ndarray, nbytes: np.ndarray | int, at) -> np.ndarray:
        """When the lanes' global accesses complete: `unloaded` (latency, hops, words), or later where the
        wafer's shared off-wafer bandwidth has not yet served the bytes of every access executed so far
        and of these lanes up to each one (`at`: the lanes' entries of a per-PE array)."""
        if isinstance(nbytes, int):  # the same bytes for every lane: the running sums are multiples of it
            served = np.arange(1, len(unloaded) + 1, dtype=np.float64)
            served *= nbytes
            total = nbytes * len(unloaded)
        else:
            served = np.cumsum(nbytes, dtype=np.float64)  # (in place; byte counts below 2**53: exact as float64)
            total = int(nbytes.sum())
        served += self.totals.global_bytes
        self.totals.global_bytes += total
        served /= self.spec.global_bytes_per_cycle
        np.ceil(served, out=served)
        return np.maximum(unloaded, served)

    # ------------------------------------------------------------------ causal order
    def _load_horizon(self, lanes: Lanes | None, issued: np.ndarray | None, next_pc: int | None) -> float:
        """A lower bound of the issue cycle of any load not yet executed: by the other PEs of the wave
        (their cycle plus `memory_order.cycles_until` a load), by `lanes` after the instruction issued at
        `issued` (continuing at `next_pc`), and by the blocks of later waves."""
        order = self.launch.memory_order
        horizon = np.inf
        if lanes is not None and len(issued):
            horizon = float(issued.min()) + order.next_load(next_pc)
        for pc, group in self.groups.items():
            ahead = order.next_load(pc)
            if ahead < np.inf:
                horizon = min(horizon, _lanes_min(group.lanes, group.lanes.get(self.cycle)) + group.cost + ahead)
        for pc in self.asleep:
            ahead = order.next_load(pc)
            if ahead < np.inf:
                horizon = min(horizon, self._asleep_least(pc) + ahead)
        region = self.region
        if region.first_block + region.count < self.launch.placement.n_blocks:
            horizon = min(horizon, self._later_blocks_start() + order.next_load(0))
        return horizon

    def _later_blocks_start(self) -> float:
        """A lower bound of the start of any block of a later wave: it starts when this wave's block in its
        slot ends, no earlier than the latest cycle any PE of that block has reached."""
        ends = self.region.per_block_max(np.where(self.region.active, self.cycle, np.inf))
        return float(ends.min())

    def _store_bound(self, skip: int | None) -> float:
        """A lower bound of the issue cycle of any store by PEs of groups other than the one at `skip`
        (asleep or blocked PEs included)."""
        order = self.launch.memory_order
        bound = np.inf
        paths = self._store_paths()  # (by the PEs' neighbours, where tighter: `neighbour_paths`)
        for pc, group in self.groups.items():
            ahead = order.next_store(pc)
            if pc != skip and ahead < np.inf:
                tighter = paths.bound(pc, group.lanes, self.cycle, group.cost)
                bound = min(bound, tighter if tighter is not None else
                            _lanes_min(group.lanes, group.lanes.get(self.cycle)) + group.cost + ahead)
        for pc in self.asleep:
            ahead = order.next_store(pc)
            if ahead < np.inf:
                tighter = paths.asleep_bound(pc, self.asleep[pc], self.cycle)
                bound = min(bound, tighter if tighter is not None else self._asleep_least(pc) + ahead)
        return bound

    def _store_paths(self) -> StorePaths:
        """The wave's `neighbour_paths.StorePaths`, made on first use."""
        if self.store_paths is None:
            self.store_paths = StorePaths(self.launch, self.region)
        return self.store_paths

    def _earliest_finish(self, issue: float) -> float:
        """The earliest a load issued at `issue` can complete (latency, and the bandwidth used so far)."""
        spec = self.spec
        return max(issue + spec.global_latency, math.ceil((self.totals.global_bytes + 4) / spec.global_bytes_per_cycle))

    def _load_issue(self, pc: int, group) -> np.ndarray:
        """Lane-aligned issue cycles of the load at `pc` for `group` (its owed cycles included)."""
        return group.lanes.get(self.cycle) + (group.cost + self.ops[pc][2])

    def _next_group(self, runnable: list[int]):
        """(pc, group) to run next, removed from `groups`: the lowest runnable pc, except that a group
        at a global load runs only its PEs whose load issues before any store another PE (or one of its
        own, after this load) could still issue. When every runnable group waits so, the group holding
        the earliest load runs the PEs that no PE can still precede (all blocked PEs can only be woken by
        these loads' PEs, after their loads complete)."""
        order = self.launch.memory_order
        pc = min(runnable)
        if not order.active or pc not in order.load_pcs or not self.holds_loads:
            return pc, self.groups.pop(pc)
        held = []
        for pc in sorted(runnable):
            group = self.groups[pc]
            if pc not in order.load_pcs:
                return pc, self.groups.pop(pc)
            issue = self._load_issue(pc, group)
            first = _lanes_min(group.lanes, issue)
            own = self._earliest_finish(first) + order.next_store(self.ops[pc][1])
            others = self._store_bound(pc)
            if group.lanes.max(issue) < min(own, others):
                return pc, self.groups.pop(pc)
            ready = issue < min(own, others)
            if group.lanes.any(ready):
                return pc, self._split_off(pc, group, ready)
            held.append((first, pc, issue))
        # Every runnable group waits for another: all other PEs are blocked or at held loads.
        wake = min(self._earliest_finish(first) for first, _, _ in held)
        bound = min(self._earliest_finish(first) + order.next_store(self.ops[pc][1]) for first, pc, _ in held)
        for pc, group in [*self.groups.items(), *((pc, None) for pc in self.asleep)]:
            if group is not None and not group.blocked:
                continue
            ahead = order.next_store(pc)
            if ahead < np.inf:
                lanes = None if group is None else group.lanes
                least = self._asleep_least(pc) if lanes is None else _lanes_min(lanes, lanes.get(self.cycle))
                bound = min(bound, max(least, wake) + ahead)
        first, pc, issue = min(held)
        group = self.groups[pc]
        ready = issue < bound
        if not group.lanes.any(ready):  # ties at the same cycle (zero latency and costs): the earliest go
            ready = issue <= first
        if group.lanes.all(ready):
            return pc, self.groups.pop(pc)
        return pc, self._split_off(pc, group, ready)

    def _split_off(self, pc: int, group, ready: np.ndarray):
        """Leave the lanes of `group` where not `ready` waiting at `pc`; return a group of the others."""
        go, wait = group.lanes.split(ready)
        self.groups[pc] = type(group)(wait, False, group.cost, group.count)
        return type(group)(go, False, group.cost, group.count)
