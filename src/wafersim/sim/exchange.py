"""Fabric send and receive of a wave simulation: scalar words and resumable vector streams.

Timing follows docs/timing.md: a send waits for its FIFO slot (back-pressure), each word occupies the
sender's link for 1 / `link_words_per_cycle` cycles and arrives `hop_latency` later (plus
`detour_cycles_per_hop` per extra physical hop of a link bent around dead PEs); a receive waits for its
word.
"""
from __future__ import annotations

import sys

import numpy as np

from ..errors import MemoryAccessError, MeshBoundaryError
from ..isa.encoding import Instr
from ..isa.opcodes import DIRECTIONS, RAMP
from . import parallel
from .fabric import Fifo, SlotRows, compiled_movers
from .lanes import Lanes
from .streams import receive_times, send_departures, waits_added

_JIT = f"{__package__}.compiled.jit"  # (the engine's one module importing Numba: fused passes only once it is loaded)
#: Window positions per run of `_never_waits`' second, tighter bound.
_BOUND_RUN = 4096
_NO_LANES = np.empty(0, dtype=np.int64)

BULK_MAX_LANES = 4096  # vector transfers of larger groups move one word per step (measured: as fast)
#: Dense lockstep groups of at least this many PEs move a vector transfer as whole FIFO rows (`stream_rows`) where
#: times are whole cycles, however small the group: the bulk mover's gathers and scatters cost more. Measured
#: (stop 46, process CPU, min of 3 warm launches, alternating): bicgstab7's halo exchanges, 992-PE groups of
#: 16 words, 2.0 -> 1.4 s a launch.
ROWS_MIN_LANES = 256


class ExchangeMixin:
    """send/recv/sendv/recvv executors of `WaveSim`."""

    def _fifo(self, direction: int, channel: int) -> Fifo:
        key = (direction, channel)
        if key not in self.fifos:
            self.fifos[key] = Fifo(self.spec.fifo_depth, self.n, self.time_dtype)
        return self.fifos[key]

    def _check_neighbor(self, lanes: Lanes, direction: int, what: str) -> None:
        # Whether PEs have a neighbour is a fixed function of the PEs: a dense group (cheap to key: its
        # few exclusions) passes once per wave, not at every step of a stencil.
        key = self._neighbour_key(lanes, direction)
        if key is not None and key in self.checked_neighbors:
            return
        has = lanes.get(self.region.has_neighbor(direction))
        if not lanes.all(has):
            raise self._lane_error(MeshBoundaryError,
                                   f"{what} {DIRECTIONS[direction]} across the edge of the block "
                                   f"{self.launch.placement.block}", lanes, ~has, direction=DIRECTIONS[direction])
        if key is not None:
            self.checked_neighbors.add(key)

    def _neighbour_key(self, lanes: Lanes, direction: int) -> tuple | None:
        """The key of `checked_neighbors` for these lanes that way (None: not kept for such a group)."""
        return (direction, lanes.key()) if lanes.is_dense and lanes.window is None and self.strategy.lockstep else None

    @staticmethod
    def _word_numbers(lanes: Lanes, counter: np.ndarray):
        """The number of the word each lane moves next (from a FIFO's `pushed` or `popped`): one int when
        all lanes agree (then every lane uses the same slot: one row), else lane-aligned numbers."""
        counts = lanes.get(counter)
        common = lanes.all_equal(counts)
        return int(common) if common is not None else counts

    @staticmethod
    def _most_queued(lanes: Lanes, fifo: Fifo) -> int:
        """An upper bound of the words queued in these lanes' FIFOs (exact for index-form lanes)."""
        return int((lanes.get(fifo.pushed) - lanes.get(fifo.popped)).max(initial=0))

    @staticmethod
    def _field_get(field: SlotRows, lanes: Lanes, slot):
        return lanes.get(field[slot]) if isinstance(slot, int) else field.gather(slot, lanes.idx)

    @staticmethod
    def _field_put(field: SlotRows, lanes: Lanes, slot, values) -> None:
        if isinstance(slot, int):
            lanes.put(field[slot], values)
        else:
            field.scatter(slot, lanes.idx, values)

    def _push(self, src: Lanes, dst: Lanes, values: np.ndarray, fifo: Fifo, cost: float,
              latency: float | np.ndarray, most_queued: int | None = None, word: int | None = None,
              slot_free: bool = False, whole: bool = False) -> None:
        """Push one word per lane (all have room): timing and FIFO contents. `latency`: the link's, a
        number or a per-PE array over the region (`WaveRegion.link_latency`); `most_queued`: a bound of
        the words already queued at `dst`, if the caller knows one; `word`: the number of the word every
        lane pushes, if the caller knows they agree; `slot_free`: the caller knows no lane waits for its
        slot (`_slot_freed_before_barrier`); `whole`: the lanes are a lockstep send's whole group, not a
        part of it on a thread (see "owed clocks and counts").

        A link carries only its sender's words, and the sender is busy until its word has left, so the
        link is always free by the time its sender is ready: the sender's clock is the link's clock."""
        if fifo.shallow:
            fifo.make_room(1 + (self._most_queued(dst, fifo) if most_queued is None else most_queued))
        if word is None:
            word = self._word_numbers(dst, fifo.pushed)
        if not isinstance(word, int) and src.idx is None:
            values = values[src.as_mask()]
            src = src.to_index_form(self.n)
            dst = dst.to_index_form(self.n)
            word = dst.get(fifo.pushed)
        if isinstance(word, int) and src.is_dense and dst.is_dense and self.tracer is None and self.strategy.lockstep:
            self._push_rows(src, dst, values, fifo, cost, latency, word, slot_free, whole)
            return
        slot = word % fifo.depth
        ready = src.get(self.cycle) + cost
        depart = np.maximum(ready, self._field_get(fifo.time, dst, slot))  # after word k - depth left
        self._field_put(fifo.value, dst, fifo.value_slots(word), values)
        arrive = depart + (latency if np.isscalar(latency) else src.get(latency))
        self._field_put(fifo.time, dst, slot, arrive)  # now: its arrival
        dst.add(fifo.pushed, 1)
        self._add_stall(src, depart, ready)
        if self.tracer:
            self.tracer.record(src, "send", ready - cost, depart + self.word_time)
        src.put(self.cycle, depart + self.word_time)

    def _add_stall(self, lanes: Lanes, later: np.ndarray, ready: np.ndarray) -> None:
        """stall += later - ready, skipped when no lane waited (the common case, and a cheap test)."""
        waited = later != ready
        if lanes.any(waited):
            lanes.add(self.stall, later - ready)

    def _pop(self, lanes: Lanes, fifo: Fifo, cost: float, word: int | None = None,
             whole: bool = False) -> tuple[np.ndarray, Lanes]:
        """Pop one word per lane (all have one): returns the values, lane-aligned, and the lanes they align
        with (in index form if the lanes' words differ). `word`: the number of the word every lane pops, if
        the caller knows they agree; `whole`: as `_push`'s."""
        if word is None:
            word = self._word_numbers(lanes, fifo.popped)
        if not isinstance(word, int) and lanes.idx is None:
            lanes = lanes.to_index_form(self.n)
            word = lanes.get(fifo.popped)
        if isinstance(word, int) and lanes.is_dense and self.tracer is None and self.strategy.lockstep:
            return self._pop_rows(lanes, fifo, cost, word, whole), lanes
        slot = word % fifo.depth
        ready = lanes.get(self.cycle) + cost
        taken = np.maximum(ready, self._field_get(fifo.time, lanes, slot))
        values = self._field_get(fifo.value, lanes, fifo.value_slots(word))  # a view: use it before a push
        self._field_put(fifo.time, lanes, slot, taken)  # now: when the slot was freed
        lanes.add(fifo.popped, 1)
        self._add_stall(lanes, taken, ready)
        if self.tracer:
            self.tracer.record(lanes, "recv", ready - cost, taken)
        lanes.put(self.cycle, taken)
        return values, lanes

    # ------------------------------------------------------------------ lockstep rows
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
        from . import lockstep_kernels  # (Numba is loaded already: `_JIT`)

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
        Where it failed once for `fifo` (clocks that drift across the region: Game of Life's sends, 336 of 400),
        that FIFO's later tests go straight to the runs (`wide_bound_failed`: only the path, never the answer)."""
        sizes = (None, _BOUND_RUN) if len(lanes.window_view(self.cycle)) > _BOUND_RUN else (None,)
        if id(fifo) in self.wide_bound_failed:
            sizes = sizes[-1:]
        for size in sizes:
            latest = owners.chunk_extremes(times, largest=True, size=size)
            earliest = lanes.chunk_extremes(self.cycle, largest=False, size=size)
            if (latest <= earliest + cost).all():
                return True
            if size is None and len(sizes) > 1:
                self.wide_bound_failed.add(id(fifo))
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

    def _send(self, pc: int, ins: Instr, next_pc: int, cost: float, lanes: Lanes):
        if ins.dir == RAMP:
            return self._routed_send(pc, ins, next_pc, cost, lanes)
        self._check_neighbor(lanes, ins.dir, "send")
        fifo = self._fifo((ins.dir + 2) % 4, ins.ch)
        offset = self.region.offset(ins.dir)
        if ins.op in ("sendv", "senda"):
            return self._stream(pc, ins, next_pc, cost, lanes, offset, fifo, sending=True)
        src, dst = lanes.shifted_pair(offset)
        latency = self.region.link_latency(ins.dir)
        lockstep = self._lockstep_word(dst, fifo, sending=True)
        if lockstep is not None:  # every lane has room
            word, most_queued = lockstep
            self._push_parts(src, dst, self.regs[ins.a], fifo, cost, latency, most_queued, word,
                             self._slot_freed_before_barrier(fifo, dst, word), whole=True)
            self._progress(fifo, True, dst)
            if self.strategy.uniform_counts:  # every receiver had pushed == word
                fifo.note_uniform("pushed", dst.region_key(self.n), word + 1)
            return [(next_pc, lanes, False)]  # (every lane sent: the group as it came, not `src` unwindowed)
        queued = dst.get(fifo.pushed) - dst.get(fifo.popped)
        most_queued = int(queued.max(initial=0))  # (over the window for mask forms: a bound)
        blocked = None
        if most_queued >= fifo.depth:  # some FIFO may be full
            room = queued < fifo.depth
            if not src.all(room):
                src, blocked = src.split(room)
                dst = src.aligned(dst.window, offset)
        if src.count:
            self._push_parts(src, dst, self.regs[ins.a], fifo, cost, latency, most_queued)
            self._progress(fifo, True, dst)
        out = [(next_pc, src.unwindow(self.n), False)]
        if blocked is not None and blocked.count:
            out.append((pc, blocked.unwindow(self.n), True))
        return out

    def _push_parts(self, src: Lanes, dst: Lanes, registers: np.ndarray, fifo: Fifo, cost: float,
                    latency: float | np.ndarray, most_queued: int, word: int | None = None,
                    slot_free: bool = False, whole: bool = False) -> None:
        """`_push` of each sender's `registers` value, in parts on several threads for a large lockstep
        group (`parallel`). `word`: the number of the word every lane pushes, if the caller knows it;
        `whole`: the lanes are a lockstep send's whole group (`_push`: kept only where not cut in parts)."""
        if word is None:
            word = self._word_numbers(dst, fifo.pushed)
        parts = (parallel.parts_of([src, dst], parallel.ROW_TRANSFER_LANES)
                 if isinstance(word, int) and self.tracer is None else None)
        if parts is None:
            self._push(src, dst, src.get(registers), fifo, cost, latency, most_queued, word, slot_free, whole)
            return
        if fifo.shallow:  # (before the threads: they must not deepen the ring at once)
            fifo.make_room(1 + most_queued)
        fifo.allocate_rows(word)
        parallel.run(lambda part_src, part_dst: self._push(part_src, part_dst, part_src.get(registers), fifo, cost,
                                                           latency, most_queued, word, slot_free), parts)

    def _pop_parts(self, lanes: Lanes, fifo: Fifo, cost: float, destination: np.ndarray | None,
                   word: int | None = None, whole: bool = False) -> Lanes:
        """`_pop` into the `destination` register (None: r0), in parts on several threads for a large
        lockstep group (`parallel`). Returns the lanes as `_pop` left them (for `_progress`). `word`: the
        number of the word every lane pops, if the caller knows it; `whole`: as `_push_parts`'."""
        if word is None:
            word = self._word_numbers(lanes, fifo.popped)
        parts = (parallel.parts_of([lanes], parallel.ROW_TRANSFER_LANES)
                 if isinstance(word, int) and self.tracer is None else None)
        # (Not where the last pop of this FIFO waited, Life's receives: the general path's NumPy passes then cost
        # less than the fused pass and the clocks and stalls written after it; measured, life 2.23 -> 2.38 s.)
        if (parts is None and destination is not None and isinstance(word, int) and lanes.is_dense
                and self.tracer is None and self.strategy.lockstep and self.strategy.fused_receive_rows
                and not self.pops_waited.get(id(fifo)) and _JIT in sys.modules):
            self._receive_rows_fused(lanes, fifo, cost, word, whole, destination)
            return lanes
        if parts is None:
            values, popped = self._pop(lanes, fifo, cost, word, whole)
            if destination is not None:
                popped.put(destination, values)
            return popped

        def pop_part(part: Lanes) -> None:
            values, _ = self._pop(part, fifo, cost, word)
            if destination is not None:
                part.put(destination, values)

        fifo.allocate_rows(word)
        parallel.run(pop_part, parts)
        return lanes

    def _recv(self, pc: int, ins: Instr, next_pc: int, cost: float, lanes: Lanes):
        if ins.dir != RAMP:  # a routed word comes from wherever the route brings it
            self._check_neighbor(lanes, ins.dir, "recv from")
        fifo = self._fifo(ins.dir, ins.ch)
        if ins.op in ("recvv", "recva"):
            return self._stream(pc, ins, next_pc, cost, lanes, 0, fifo, sending=False)
        destination = self.regs[ins.d] if ins.d else None
        lockstep = self._lockstep_word(lanes, fifo, sending=False)
        if lockstep is not None:  # every lane has a word
            self._progress(fifo, False, self._pop_parts(lanes, fifo, cost, destination, lockstep[0], whole=True))
            if self.strategy.uniform_counts:  # every lane had popped == word
                fifo.note_uniform("popped", lanes.region_key(self.n), lockstep[0] + 1)
            return [(next_pc, lanes, False)]
        has = lanes.get(fifo.pushed) - lanes.get(fifo.popped) > 0
        ready, waiting = (lanes, None) if lanes.all(has) else lanes.split(has)
        if ready.count:
            self._progress(fifo, False, self._pop_parts(ready, fifo, cost, destination))
        out = [(next_pc, ready, False)]
        if waiting is not None and waiting.count:
            out.append((pc, waiting, True))
        return out

    def _stream(self, pc: int, ins: Instr, next_pc: int, cost: float, lanes: Lanes, offset: int,
                fifo: Fifo, sending: bool, mover=None):
        """sendv / recvv: move words while there is room / data; resumable (`self.progress` counts the
        words a lane has moved of its current transfer). `mover`: a routed send's (`routed`)."""
        if mover is None and self._moves_lockstep(lanes):
            if self._stream_lockstep(ins, cost, lanes, offset, fifo, sending):
                return [(next_pc, lanes, False)]
        L = lanes.to_index_form(self.n)
        base, length = self._stream_range(ins, L, "sendv" if sending else "recvv")
        # Large lockstep groups move a word per step through whole FIFO rows about as fast: bulk steps pay
        # off where per-step overhead dominates (small and mid-sized groups).
        bulk = self.strategy.bulk_streams and self.tracer is None and L.count <= BULK_MAX_LANES
        if mover is None:
            mover = self._stream_bulk if bulk else self._stream_words
        latency = self.region.link_latency(ins.dir) if sending and ins.dir != RAMP else 0.0
        moved = mover(L, base, length, offset, fifo, cost, sending, latency)
        if moved is not None:
            self._progress(fifo, sending, moved)
        return self._resumable_outcome(pc, next_pc, cost, L, length)

    def _moves_lockstep(self, lanes: Lanes) -> bool:
        """Whether a vector transfer of `lanes` tries `_stream_lockstep` first."""
        return (self.strategy.bulk_streams and self.tracer is None and lanes.idx is None
                and (lanes.count > BULK_MAX_LANES or (lanes.count >= ROWS_MIN_LANES and self._rows_apply(lanes))))

    def _stream_range(self, ins: Instr, L: Lanes, what: str) -> tuple[np.ndarray, np.ndarray]:
        """The SRAM base and length (int64) of each lane's words of a vector transfer or a stream op `what`
        (`L` in index form), or the `MemoryAccessError` of a range outside SRAM or a negative length."""
        if self.strategy.bulk_streams:  # (one compiled pass where every range is good: the bulk movers' Numba)
            base, length, inside = compiled_movers().transfer_ranges(self.regs[ins.a], self.regs[ins.b], L.idx,
                                                                     self.program.data_words)
            if inside:
                return base, length
        base = self.regs[ins.a][L.idx].astype(np.int64)  # (a row, then its lanes: `arr[k, idx]` costs 3x)
        length = self.regs[ins.b][L.idx].astype(np.int64)
        self._sram_check(L, base, np.maximum(length, 0), what)
        if (length < 0).any():
            raise self._lane_error(MemoryAccessError, f"{what} with a negative length", L, length < 0)
        return base, length

    def _resumable_outcome(self, pc: int, next_pc: int, cost: float, L: Lanes, length: np.ndarray,
                           group: Lanes | None = None) -> list[tuple]:
        """After a step of a resumable transfer of `length` words a lane (sendv, recvv, the stream ops; `L` in
        index form, `self.progress` counting the words each lane has moved): the lanes done go on to `next_pc`
        with their count reset, an empty transfer charged its issue; the others wait at `pc` (`group`, the
        same lanes as `L` in the form the group came in, if given and none is done: a chain's large group
        waiting for its wavefront)."""
        finished = self.progress[L.idx] >= length
        if group is not None and not finished.any():
            return [(pc, group, True)]
        zero = length == 0  # an empty transfer still costs its issue
        if zero.any():
            self.cycle[L.idx[zero]] += cost
        if finished.all():  # (the usual outcome of a step: no split)
            self.progress[L.idx] = 0
            return [(next_pc, Lanes.from_indices(self.n, L.idx), False)]
        finished_lanes, waiting = L.split(finished)
        self.progress[finished_lanes.idx] = 0
        out = [(next_pc, Lanes.from_indices(self.n, finished_lanes.idx), False)]
        if waiting.count:
            out.append((pc, Lanes.from_indices(self.n, waiting.idx), True))
        return out

    def _stream_words(self, L: Lanes, base: np.ndarray, length: np.ndarray, offset: int, fifo: Fifo,
                      cost: float, sending: bool, latency: float | np.ndarray) -> np.ndarray | None:
        """The reference mover: one word per lane per step. Returns the FIFO owners that moved words."""
        moved = None
        while True:
            done = self.progress[L.idx].astype(np.int64)
            counterpart = L.idx + offset
            if sending:
                can = (done < length) & (fifo.pushed[counterpart] - fifo.popped[counterpart] < fifo.depth)
            else:
                can = (done < length) & (fifo.pushed[L.idx] - fifo.popped[L.idx] > 0)
            if not can.any():
                return moved
            if moved is None:
                moved = counterpart[can]
            sub = Lanes(self.n, idx=L.idx[can])
            first_cost = np.where(done[can] == 0, cost, 0.0)
            addr = base[can] + done[can]
            if sending:
                values = self.sram[addr, sub.idx]
                self._push(sub, Lanes(self.n, idx=sub.idx + offset), values, fifo, first_cost, latency)
            else:
                values, _ = self._pop(sub, fifo, first_cost)
                self.sram[addr, sub.idx] = values
            self.progress[sub.idx] += 1

    def _stream_bulk(self, L: Lanes, base: np.ndarray, length: np.ndarray, offset: int, fifo: Fifo,
                     cost: float, sending: bool, latency: float | np.ndarray) -> np.ndarray | None:
        """Move, per lane, every word that FIFO room (send) or data (receive) allows, in one step.

        No other lane pops (send) or pushes (receive) this FIFO meanwhile, so a lane's room or data only
        shrinks by its own words: it moves min(words left, room or data) words, timed by `streams`."""
        if (not sending and self.strategy.fused_bulk_receive and self.launch.whole_cycles
                and fifo.time.block is not None and fifo.value.block is not None):  # (one compiled pass)
            took = compiled_movers().bulk_receive_step(L.idx.astype(np.int64, copy=False), base, length, float(cost),
                                                       self.progress, fifo.pushed, fifo.popped, fifo.time.block,
                                                       fifo.value.block, self.sram, self.cycle, self.stall)
            return L.idx[took] if took.any() else None
        done = self.progress[L.idx].astype(np.int64)
        owner = L.idx + offset  # whose FIFO: the receiver's for a send, the lane's own for a receive
        queued = (fifo.pushed[owner] - fifo.popped[owner]).astype(np.int64)
        count = np.minimum(length - done, fifo.depth - queued if sending else queued)
        can = count > 0
        if not can.any():
            return None
        if not can.all():
            pes, owner, done, count, base = L.idx[can], owner[can], done[can], count[can], base[can]
            queued = queued[can]
        else:
            pes = L.idx
        if sending and fifo.shallow:
            fifo.make_room(int((queued + count).max()))
        words = int(count.max())
        valid = np.arange(words) < count[:, None]
        first_row = base + done  # each lane's first SRAM word of this step
        ready = self.cycle[pes] + np.where(done == 0, cost, 0.0)
        if sending:
            later = self._bulk_send_words(pes, owner, fifo, first_row, ready, count, words, latency)
            step = self.word_time
        else:
            later = self._bulk_receive_words(pes, fifo, first_row, ready, count, words)
            step = 0.0
        last = later[np.arange(len(pes)), count - 1]
        self.stall[pes] = waits_added(self.stall[pes], later, last, ready, count, step, valid,
                                      self.launch.whole_cycles)
        self.cycle[pes] = last + step
        self.progress[pes] += count.astype(self.progress.dtype)
        return owner

    def _bulk_send_words(self, pes: np.ndarray, owner: np.ndarray, fifo: Fifo, first_row: np.ndarray,
                         ready: np.ndarray, count: np.ndarray, words: int, latency: float | np.ndarray) -> np.ndarray:
        """`_stream_bulk`'s pushes of count[i] words by each lane i into the FIFO of owner[i]: their
        departures, (lanes, words)."""
        numbers = fifo.pushed[owner][:, None] + np.arange(words)  # of the words moved
        slots = numbers % fifo.depth
        later = send_departures(ready, fifo.time.gather_run(slots, owner), self.word_time, self.launch.whole_cycles)
        values = compiled_movers().gather_word_runs(self.sram, first_row, pes, count, words)
        fifo.value.scatter_run(fifo.value_slots(numbers), owner, values, count)
        hop = latency if np.isscalar(latency) else latency[pes][:, None]
        fifo.time.scatter_run(slots, owner, later + hop, count)  # now: arrivals
        fifo.pushed[owner] += count.astype(fifo.pushed.dtype)
        return later

    def _bulk_receive_words(self, pes: np.ndarray, fifo: Fifo, first_row: np.ndarray, ready: np.ndarray,
                            count: np.ndarray, words: int) -> np.ndarray:
        """`_stream_bulk`'s pops of count[i] words by each lane i from its own FIFO: when each was taken,
        (lanes, words). One compiled pass where the FIFO's fields are single blocks (`fabric.SlotRows`)."""
        first_word = fifo.popped[pes].astype(np.int64)
        if fifo.time.block is not None and fifo.value.block is not None:
            later = compiled_movers().receive_slot_runs(fifo.time.block, fifo.value.block, self.sram, pes.astype(np.int64),
                                      first_word, ready, count, first_row, words)
        else:
            numbers = first_word[:, None] + np.arange(words)
            slots = numbers % fifo.depth
            later = receive_times(ready, fifo.time.gather_run(slots, pes))
            compiled_movers().scatter_word_runs(self.sram, first_row, pes, count,
                                              fifo.value.gather_run(fifo.value_slots(numbers), pes))
            fifo.time.scatter_run(slots, pes, later, count)  # now: when each slot was freed
        fifo.popped[pes] += count.astype(fifo.popped.dtype)
        return later
