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
from .access_paths import AccessPathsMixin
from .global_stores import GlobalStoresMixin
from .bandwidth import BandwidthLedger
from .lanes import Lanes
from .distinct import distinct, distinct_indices, increasing
from .held_loads import HeldLoadsMixin
from .memory_order import LOG_COMMIT_WORDS

#: PEs per block of a strided bulk load's transposing copy (`_affine_bulk`): their rows stay in cache.
TRANSPOSE_BLOCK = 4096
#: Bytes of the strided rows a bulk load's transposing copy takes at a time (`_load`): about an L2 cache's share.
LOAD_ROW_BYTES = 1 << 16
#: Words a run of consecutive PEs of a gapped bulk load moves on average, at least, for it to be copied run by run
#: (`Strategy.gapped_bulk_copies`): a copy per run costs a few microseconds of Python.
RUN_WORDS = 256


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
    """The strided rows of the PEs `pes` into their SRAM columns (`OffWaferMixin._affine_bulk`), `LOAD_ROW_BYTES`
    of rows at a time: a copy reads one word of every row for each SRAM row it writes, so the rows' cache lines
    (and pages) must stay in cache until their next word (long rows: 1,024 words on each of 4,096 PEs took 35 ms
    in one copy, 8 ms in blocks of 16 PEs; 78 words on each of 754k PEs, 0.12 s in 4,096s, 0.09 s in 256s)."""
    block = max(8, LOAD_ROW_BYTES // max(4 * rows.shape[1], 1))
    for first in range(pes.start, pes.stop, block):
        last = min(first + block, pes.stop)
        sram[:, first:last] = rows[first:last].T


class OffWaferMixin(HeldLoadsMixin, AccessPathsMixin, GlobalStoresMixin):
    """Global memory executors of `WaveSim`: data movement plus latency, edge hops and shared bandwidth."""

    #: Whether a group about to load waits while another PE could still store at an earlier cycle (off only
    #: in a batch of waves, `sim.batching`, which checks afterwards that no PE loaded another's stores).
    holds_loads = True
    #: (lanes' indices or None for every PE, byte addresses, words, whether a store) of each global access,
    #: recorded only by a batch of waves; None: not recorded.
    accesses: list | None = None
    #: The wave's global accesses whose bandwidth share is not yet settled (`sim.bandwidth`).
    bandwidth: BandwidthLedger | None = None
    #: (`_least`'s memo: set by `_next_group` for its own call; None, not a dict shared by every wave, before)
    _leasts: dict | None = None

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
        addr, words, sram_base, bases = self._global_operands(ins, L, at)
        if self.accesses is not None:  # a batch of waves (`sim.batching`) checks who touched which words
            self.accesses.append((None if whole else L.idx, addr, words, op in ("gst", "gstv")))
        issued = self.cycle[at] + cost
        loads = op in ("gld", "gldv")
        # Stores: cycles before which no load can still issue (inf: every store goes straight to memory; never
        # lower than one found before, `StoreLog.bound`).
        horizon = np.inf if loads or not order.active else order.log.bound(self._load_horizon(L, issued, next_pc))
        if loads and order.log.words > LOG_COMMIT_WORDS:  # keep lookups cheap: write back what is settled
            order.log.commit(memory, min(float(issued.min()), self._load_horizon(None, None, None)), order.stamps)
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
                self._store_words(addr, bases, self.regs[ins.d, at], issued, self._store_keys()[at], horizon)
            if checker is not None:
                checker.record(self, L.idx, addr, issued, pc, write=op == "gst",
                               values=None if op == "gld" else self.regs[ins.d, at])
        elif checker is not None or not self._affine_bulk(op, L, addr, bases, words, sram_base, issued, horizon):
            # One gather per distinct transfer length (one length, the usual case: every lane, no selections).
            lengths = words[:1] if len(words) and (words == words[0]).all() else distinct(words)
            for n in lengths:
                sel = slice(None) if len(lengths) == 1 else words == n
                if not n:
                    continue
                cols = np.arange(n)
                if op == "gldv" and checker is None and self._load_one_row(addr[sel], bases, n, sram_base[sel],
                                                                          cols, L.idx[sel]):
                    continue
                word_addr = addr[sel, None] + 4 * cols
                where = bases if isinstance(bases, int) else np.broadcast_to(bases[sel, None], word_addr.shape)
                if op == "gldv":
                    values = memory.gather_words(word_addr, where)
                    if order.log:
                        values = order.log.overlay(word_addr, issued[sel, None], values)
                    self._put_rows(sram_base[sel], cols, L.idx[sel], values)
                if op == "gldv" and checker is None:
                    continue
                sram_rows = sram_base[sel, None] + cols
                pes = np.broadcast_to(L.idx[sel, None], word_addr.shape)
                if op != "gldv":
                    self._store_words(word_addr, where, self.sram[sram_rows, pes], issued[sel, None],
                                      self._store_keys()[L.idx[sel], None], horizon)
                if checker is not None:
                    checker.record(self, pes, word_addr, np.broadcast_to(issued[sel, None], word_addr.shape), pc,
                                   write=op == "gstv", values=None if op == "gldv" else self.sram[sram_rows, pes])
        # Timing: latency plus hops to the wafer edge, and the wafer's shared off-wafer bandwidth.
        hops = self.region.hops_to_edge[at]
        unloaded = issued + spec.global_latency + hops
        if not one_word:  # (+ 0.0 for one word: nothing to add)
            unloaded += np.maximum(words - 1, 0) * self.word_time
        finished = self._global_finish(unloaded, 4 if one_word else 4 * words, at, issued, loads)
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

    def _load_one_row(self, addr: np.ndarray, bases, n: int, sram_base: np.ndarray, cols: np.ndarray,
                      idx: np.ndarray) -> bool:
        """A gldv of `n` words by the PEs `idx` from one global address for all (a matrix block every PE of a
        column of the wafer keeps, `trsv`'s L): the row gathered once and put in every PE's SRAM, instead of a
        (PEs, words) gather of the same words (2.1M words, ~40% of the load). False (nothing done) where the
        addresses differ, the words lie in several allocations, or the store log holds stores to overlay."""
        if not isinstance(bases, int) or self.launch.memory_order.log or not (addr == addr[0]).all():
            return False
        row = self.launch.memory.gather_words(addr[0] + 4 * cols, bases)
        self._put_rows(sram_base, cols, idx, np.broadcast_to(row, (len(idx), n)))
        return True

    def _put_rows(self, sram_base: np.ndarray, cols: np.ndarray, idx: np.ndarray, values: np.ndarray) -> None:
        """SRAM words sram_base + `cols` of the distinct PEs `idx` = `values` (PEs, words). Where every PE has
        the same base, its rows as a slice and the PEs as a slice where evenly spaced (`Lanes.idx_at`): a load
        of L's row blocks, a different length in each column of PEs (`trsv`, 2.2M words), took 150 ms through
        2-D index arrays, ~25 ms so. The same words either way."""
        base = int(sram_base[0])
        if (sram_base == base).all():
            self.sram[base:base + len(cols), Lanes(self.n, idx=idx).idx_at] = values.T
        else:
            self.sram[sram_base[:, None] + cols, np.broadcast_to(idx[:, None], values.shape)] = values

    def _global_operands(self, ins: Instr, L: Lanes, at) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, object]:
        """(byte addresses, words a lane, SRAM word addresses (a bulk copy's; None for one word), where the words
        lie in memory: `GlobalMemory.locate`'s bases) of the global access `ins` by the lanes `L` (index form, or
        every PE where `at` is a slice), `at` their entries of per-PE arrays. Raises its `MemoryAccessError` where
        it fails for a lane (a negative length, SRAM words outside the data segment, global words outside memory):
        the one check of `_global` and of the held loads' bytes (`_held_load_bytes`)."""
        op, memory = ins.op, self.launch.memory
        one_word = op in ("gld", "gst")
        sram_base = None
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
        return addr, words, sram_base, bases

    def _affine_bulk(self, op: str, L: Lanes, addr: np.ndarray, bases, words: np.ndarray, sram_base: np.ndarray,
                     issued: np.ndarray, horizon: float) -> bool:
        """gldv / gstv of a group whose transfers are one strided block: consecutive PEs, the same length and
        SRAM address everywhere, global addresses a fixed stride apart (at least the transfer's bytes, so that
        no two transfers overlap): one strided copy between a (PEs, words) view of global memory and the SRAM
        rows, instead of 2-D gathers. A gldv's PEs may have gaps between them (`Strategy.gapped_bulk_copies`:
        runs of consecutive PEs, the addresses a stride per PE apart, each run copied as a block), and a gstv's
        undo record may cover the words between its rows (`GlobalMemory.rows_view`). The same words as the
        general path; False (nothing done) where it does not apply: a store log to keep in time order, a word
        stored by a store issued later (`store_stamps`), other shapes."""
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
        memory = self.launch.memory
        lean = self.strategy.lean_bulk_stores
        rows = memory.rows_view(bases, int(addr[0]), span, stride, n, store=op == "gstv", lean=lean,
                                gaps=self.strategy.gapped_bulk_copies)
        if rows is None:
            return False
        if op == "gstv" and not self.launch.memory_order.stamps.rows(
                memory, bases, int(addr[0]), span, stride, n, issued, self._store_keys()[first_pe:first_pe + span]):
            return False  # (some word was stored by a store issued later: the general path keeps it)
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

    def _global_finish(self, unloaded: np.ndarray, nbytes: np.ndarray | int, at, issued: np.ndarray,
                       loads: bool) -> np.ndarray:
        """When the lanes' global accesses (issued at `issued`, `at`: the lanes' entries of a per-PE array)
        complete: `unloaded` (latency, hops, words), or later where the wafer's shared off-wafer bandwidth has
        not yet served the bytes of every access of a smaller key (issue cycle, PE) and their own
        (`sim.bandwidth`). A load's are final (`_next_group` held it until they could be); a store's are a
        lower bound, settled once every key before it is known (`_settle_bandwidth`)."""
        if loads and self._recorded_served is not None:
            served = self._recorded_served[at]
            recorded = ~np.isnan(served)
            if recorded.any():  # (recorded by `_record_held_loads`, with every load of a smaller key)
                if not recorded.all() or not np.array_equal(self._recorded_issue[at], issued):
                    raise AssertionError("a load recorded on the bandwidth ahead runs with other lanes or cycles")
                self._recorded_served[at] = np.nan
                return np.maximum(np.asarray(unloaded, dtype=np.float64), served)
        ledger = self._ledger()
        pe = self._pe_index() if isinstance(at, slice) else at
        latest = ledger.latest
        self.totals.global_bytes += ledger.record(issued, pe, nbytes, None if loads else unloaded)
        finished = np.asarray(unloaded, dtype=np.float64)  # (the dtype a maximum with the bandwidth's gives)
        if not loads or ledger.served(ledger.earlier + ledger.total) <= finished.min(initial=np.inf):
            return finished  # (a load: even every byte recorded is served by then)
        return np.maximum(finished, ledger.served(ledger.bytes_through(issued, pe, latest)))

    def _ledger(self) -> BandwidthLedger:
        """The wave's `BandwidthLedger`, made on first use."""
        if self.bandwidth is None:
            self.bandwidth = BandwidthLedger(self.totals.global_bytes, self.spec.global_bytes_per_cycle, self.n)
        return self.bandwidth

    def _settle_bandwidth(self, horizon: float = np.inf, halted: bool = False) -> None:
        """Settle the stores issued before `horizon` (no access can still issue before it): their PEs' stores
        complete no earlier than their share of the bandwidth; `halted`: the wave ended (every PE halted, its
        finishing cycle the later of its halt and its stores' completion, `_halt`)."""
        ledger = self.bandwidth
        if ledger is None:
            return
        late = ledger.settle(horizon)
        if late is not None:
            pes, finish = late
            self._guard_time(float(finish.max()))
            np.maximum.at(self.store_done, pes, finish.astype(self.store_done.dtype))
            ledger.delayed.append(pes)
        if not halted or not ledger.delayed:
            return
        # (some may have halted before their stores were settled; every PE, as where a wafer stores at its end:
        # whole arrays, not gathers and scatters of each PE, 2 against 12 ms for 750,000 PEs)
        pes = ledger.delayed[0] if len(ledger.delayed) == 1 and increasing(ledger.delayed[0]) \
            else distinct_indices(np.concatenate(ledger.delayed), self.n)
        at = slice(None) if len(pes) == self.n else pes
        ended = self.cycle[at]  # (a view where `at` is a slice: read before `cycle` is written, last)
        done = np.maximum(ended, self.store_done[at])
        self.stall[at] += done - ended
        longer = done > ended
        if self.tracer and longer.any():  # (the drain `_halt` traced, to the unloaded completions, goes on)
            drained = Lanes.from_indices(self.n, pes[longer])
            # (per-PE arrays read through the lanes: a dense set of indices may become a masked form, whose
            # lane-aligned arrays are whole per-PE arrays)
            began, finished = np.zeros(self.n), np.zeros(self.n)
            began[pes], finished[pes] = ended, done
            self.tracer.record(drained, "store drain", drained.get(began), drained.get(finished))
        self.cycle[at] = done

    def _settle_bandwidth_if_long(self) -> None:
        """Between groups: settle (and forget) the accesses no access can still precede once the wave has
        recorded many, so that the record stays small whatever the number of accesses."""
        ledger = self.bandwidth
        if ledger is not None and ledger.entries > ledger.settle_at:
            self._settle_bandwidth(self._access_outlook(None, -np.inf)[0])
            ledger.settle_at = max(ledger.settle_first, 2 * ledger.entries)

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
                horizon = min(horizon, group.lanes.min(group.lanes.get(self.cycle)) + group.cost + ahead)
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

    def _store_bound(self, skip: int | None, chained: bool = False) -> float:
        """A lower bound of the issue cycle of any store by PEs of groups other than the one at `skip`
        (asleep or blocked PEs included; `chained`: those asleep at receives by their chains, `wake_chains`)."""
        order = self.launch.memory_order
        bound = np.inf
        paths = self._store_paths()  # (by the PEs' neighbours, where tighter: `neighbour_paths`)
        for pc, group in self.groups.items():
            ahead = order.next_store(pc)
            if pc != skip and ahead < np.inf:
                tighter = paths.bound(pc, group.lanes, self.cycle, group.cost)
                bound = min(bound, tighter if tighter is not None else self._least(pc, group) + ahead)
        for pc in self.asleep:
            ahead = order.next_store(pc)
            if ahead < np.inf:
                arrival = self._arrival(pc) if chained else None
                tighter = (paths.asleep_bound(pc, self.asleep[pc], self.cycle) if arrival is None
                           else paths.bounds(pc, self.asleep[pc], self.cycle, arrival=arrival)[0])
                bound = min(bound, tighter if tighter is not None else self._least(pc, None) + ahead)
        return bound

    def _least(self, pc: int, group) -> float:
        """The least cycle of the PEs of `group` at `pc` (its owed cycles included; None: those asleep there),
        kept while the scheduler picks the next group (`_next_group`: nothing runs meanwhile)."""
        key = (pc, group is None)
        least = self._leasts.get(key)
        if least is None:
            least = (self._asleep_least(pc) if group is None
                     else group.lanes.min(group.lanes.get(self.cycle)) + group.cost)
            self._leasts[key] = least
        return least

    def _earliest_finish(self, issue: float) -> float:
        """The earliest a load issued at `issue` can complete (latency, and the bandwidth settled so far: a bulk
        load of no words moves no bytes, and completes once those are served; review48)."""
        spec = self.spec
        served = self.totals.global_bytes if self.bandwidth is None else self.bandwidth.earlier
        return max(issue + spec.global_latency, math.ceil(served / spec.global_bytes_per_cycle))

    def _load_issue(self, pc: int, group) -> np.ndarray:
        """Lane-aligned issue cycles of the load at `pc` for `group` (its owed cycles included), rounded as
        `_global` finds them: the owed cycles added to the PEs' clocks (`_flush`), then the load's cost."""
        return self._issue_at(pc, np.array(group.lanes.get(self.cycle)), group.cost)  # (a copy: `get` may view)

    def _issue_at(self, pc: int, clocks: np.ndarray, owed: float) -> np.ndarray:
        """The issue cycles of the instruction at `pc` by PEs at `clocks` (a copy, changed) owing `owed` cycles."""
        if owed:
            clocks += owed
        return clocks + self.ops[pc][2]

    def _bytes_by(self, count: int, first: float, until: float) -> float:
        """A bound of the bytes `count` PEs whose next access issues at `first` or later can move in accesses
        issued by `until`: every one as large as an access can be, as close together as the code allows."""
        if first > until:
            return 0.0
        order = self.launch.memory_order
        most = 4 * (self.program.data_words if order.bulk else 1)
        return count * most * (1 + (until - first) // order.access_gap) if order.access_gap > 0 else np.inf

    def _access_outlook(self, skip: int | None, until: float, chained: bool = False) -> tuple[float, float]:
        """(a lower bound of the issue cycle of any access by PEs of groups other than the one at `skip`,
        asleep or blocked PEs included; a bound of the bytes they can move in accesses issued by `until`).
        `chained`: lanes asleep at receives by their chains and by the paths their neighbours allow."""
        order = self.launch.memory_order
        bound, moved = np.inf, 0.0
        places = [(pc, group.lanes, self._least(pc, group))
                  for pc, group in self.groups.items() if pc != skip and order.next_access(pc) < np.inf]
        for pc in self.asleep:
            if order.next_access(pc) == np.inf:
                continue
            arrival = self._arrival(pc) if chained else None
            if arrival is not None:
                tighter, parts = self._access_paths().bounds(pc, self.asleep[pc], self.cycle, arrival=arrival)
                if tighter is not None:  # (each part's PEs access no earlier than its bound)
                    for first, count in parts:
                        bound = min(bound, first)
                        moved += self._bytes_by(count, first, until)
                    continue
            places.append((pc, self.asleep[pc], self._least(pc, None)))
        for pc, lanes, least in places:
            first = least + order.next_access(pc)
            bound = min(bound, first)
            moved += self._bytes_by(lanes.count, first, until)
        return bound, moved

    def _load_bytes(self, pc: int, lanes: Lanes) -> int:
        """Bytes the load at `pc` moves for `lanes`."""
        ins = self.ops[pc][0]
        if ins.op == "gld":
            return 4 * lanes.count
        words = lanes.get(self.regs[ins.c])
        if lanes.idx is None and not lanes.is_full:  # (a mask or complement's `get` is every PE of its window)
            words = words[lanes.as_mask()]
        words = words.astype(np.int64)  # (a copy: clipped in place; `np.maximum`, not `clip`'s Python wrapper)
        return 4 * int(np.maximum(words, 0, out=words).sum())

    def _bandwidth_limit(self, pc: int, group, first: float, last: float, chained: bool = False) -> float:
        """The lanes of `group` at the load at `pc` whose load issues before this cycle may run as far as the
        bandwidth's order goes: before any access another PE, or one of them after its load, could still issue
        (inf where the bandwidth cannot delay their loads, whatever comes first). `first`, `last`: the least and
        largest of their issue cycles."""
        order = self.launch.memory_order
        bound, moved = self._access_outlook(pc, last, chained)
        own = self._earliest_finish(first) + order.next_access(self.ops[pc][1])  # (their own next accesses)
        moved += self._bytes_by(group.lanes.count, own, last)
        # Where every byte that can still come first, with those executed and the group's, is served by the
        # earliest unloaded completion of the group's loads, the bandwidth cannot delay them: they go at once.
        # (the group's own bytes only where the others' leave room: they can only add to it; `trsv`'s held loads
        # find no room 241 times in 245)
        if moved < np.inf:
            unloaded, per_cycle = first + self.spec.global_latency, self.spec.global_bytes_per_cycle
            if math.ceil((moved + self.totals.global_bytes) / per_cycle) <= unloaded and \
                    math.ceil((moved + (self.totals.global_bytes + self._load_bytes(pc, group.lanes))) / per_cycle) \
                    <= unloaded:
                return np.inf
        # (no access can still issue before the earliest of these loads: settle, and forget, those before it,
        # so that the loads' shares are found among the few accesses after it)
        self._settle_bandwidth(min(bound, first))
        return min(bound, own)

    def _load_limit(self, pc: int, group, first: float, last: float, chained: bool = False) -> float:
        """The lanes of `group` at the load at `pc` whose load issues before this cycle may run: no PE can
        still precede them with a store (memory order), nor with an access that could delay them (bandwidth).
        `chained`: lanes asleep at receives bound by their chains (`wake_chains`: tighter, dearer)."""
        order = self.launch.memory_order
        limit = self._bandwidth_limit(pc, group, first, last, chained)
        if order.active:
            limit = min(limit, self._earliest_finish(first) + order.next_store(self.ops[pc][1]),
                        self._store_bound(pc, chained))
        return limit

    def _next_group(self, runnable: list[int]):
        """(pc, group) to run next, removed from `groups`: the lowest runnable pc, except that a group
        at a global load runs only its PEs whose load issues before any store another PE (or one of its
        own, after this load) could still issue, and before any access that could delay it on the shared
        bandwidth (`_load_limit`). When every runnable group waits at a load, the loads of all of them that no
        PE can still precede run (`_record_held_loads`); where none can (all blocked PEs can only be woken by
        these loads' PEs, after their loads complete), the group holding the earliest load runs the PEs that
        no PE can still precede; loads of several groups at that cycle, the lowest PEs first."""
        self._leasts = {}  # (`_least`: nothing runs until this returns)
        recorded = self._recorded_group()
        if recorded is not None:
            return recorded
        self._settle_bandwidth_if_long()
        pc = min(runnable)
        if pc not in self.held_loads:
            return pc, self.groups.pop(pc)
        if len(runnable) > 1 and self.held_loads.issuperset(runnable) and self._record_held_loads(runnable):
            return self._recorded_group()
        held = []
        for pc in sorted(runnable):
            group = self.groups[pc]
            if pc not in self.held_loads:
                return pc, self.groups.pop(pc)
            issue = self._load_issue(pc, group)
            first, last = group.lanes.span(issue)
            limit = self._load_limit(pc, group, first, last)
            if last >= limit and self._chains_apply():  # (a row pipeline's rows: held behind sleepers' bounds)
                limit = self._load_limit(pc, group, first, last, chained=True)
            if last < limit:
                return pc, self.groups.pop(pc)
            ready = issue < limit
            if group.lanes.any(ready):
                return pc, self._split_off(pc, group, ready)
            held.append((first, pc, issue))
        # Every runnable group waits for another: all other PEs are blocked or at held loads.
        first, pc, issue = min(held)
        bound, reach = self._held_limits(held)
        reach = min([reach] + [f for f, p, _ in held if p != pc])  # (the other held loads)
        group = self.groups[pc]
        if not group.lanes.all(issue < min(bound, reach)) and self._chains_apply():
            bound, reach = self._held_limits(held, chained=True)
            reach = min([reach] + [f for f, p, _ in held if p != pc])
        self._settle_bandwidth(min(first, reach))
        ready = issue < min(bound, reach)
        if not group.lanes.any(ready):  # ties at the same cycle (zero latency and costs): the earliest go
            ready = issue <= first
            tied = {p: i for f, p, i in held if f == first}
            if len(tied) > 1:  # loads of several groups at that cycle: the bandwidth serves the lowest PEs first
                # (`lanes.min` and not a fancy index: a masked group's lane-aligned arrays are whole per-PE arrays)
                lowest = {p: int(self.groups[p].lanes.min(
                                 np.where(i <= first, self.groups[p].lanes.get(self._pe_index()), np.inf)))
                          for p, i in tied.items()}
                pc = min(lowest, key=lowest.get)
                group, issue = self.groups[pc], tied[pc]
                below = min(at for p, at in lowest.items() if p != pc)
                ready = (issue <= first) & (group.lanes.get(self._pe_index()) < below)
        if group.lanes.all(ready):
            return pc, self.groups.pop(pc)
        return pc, self._split_off(pc, group, ready)

    def _held_limits(self, held: list[tuple[float, int, np.ndarray]], chained: bool = False) -> tuple[float, float]:
        """Where every runnable group waits at a load (`held`: (first issue cycle, pc, lane-aligned issue
        cycles) of each) and every other PE is blocked or asleep: (a lower bound of the issue cycle of any store,
        of any access, that a PE can still issue, these loads aside). Settles the bandwidth before the earliest
        of them, and before that bound. `chained`: PEs asleep at receives wake no earlier than their chains allow
        (`wake_chains`: tighter, dearer)."""
        order = self.launch.memory_order
        wake = min(self._earliest_finish(first) for first, _, _ in held)
        bound = min(self._earliest_finish(f) + order.next_store(self.ops[p][1]) for f, p, _ in held) \
            if order.active else np.inf
        # (accesses: every held PE's next access, and those of blocked PEs, which only a held PE can wake)
        reach = min(self._earliest_finish(f) + order.next_access(self.ops[p][1]) for f, p, _ in held)
        for other, group in [*self.groups.items(), *((at, None) for at in self.asleep)]:
            if group is not None and not group.blocked:
                continue
            least = self._least(other, group) - (0.0 if group is None else group.cost)
            arrival = self._arrival(other) if chained and group is None else None
            stores = accesses = None
            if arrival is not None:
                lanes = self.asleep[other]
                if order.active and order.next_store(other) < np.inf:
                    stores = self._store_paths().bounds(other, lanes, self.cycle, at_least=wake, arrival=arrival)[0]
                if order.next_access(other) < np.inf:
                    accesses = self._access_paths().bounds(other, lanes, self.cycle, at_least=wake,
                                                           arrival=arrival)[0]
            bound = min(bound, stores if stores is not None else max(least, wake) + order.next_store(other))
            reach = min(reach, accesses if accesses is not None else max(least, wake) + order.next_access(other))
        self._settle_bandwidth(min(min(held)[0], reach))
        return bound, reach

    def _pe_index(self) -> np.ndarray:
        """Each PE's index in the wave (a per-PE array, made once)."""
        index = self.__dict__.get("_pe_indices")
        if index is None:
            index = self._pe_indices = np.arange(self.n)
        return index

    def _split_off(self, pc: int, group, ready: np.ndarray):
        """Leave the lanes of `group` where not `ready` waiting at `pc`; return a group of the others."""
        go, wait = group.lanes.split(ready)
        self.groups[pc] = type(group)(wait, False, group.cost, group.count)
        return type(group)(go, False, group.cost, group.count)
