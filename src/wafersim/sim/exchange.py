"""Fabric send and receive of a wave simulation: scalar words and resumable vector streams.

Timing follows docs/timing.md: a send waits for its FIFO slot (back-pressure), each word occupies the
sender's link for 1 / `link_words_per_cycle` cycles and arrives `hop_latency` later (plus
`detour_cycles_per_hop` per extra physical hop of a link bent around dead PEs); a receive waits for its
word.
"""
from __future__ import annotations


import numpy as np

from ..errors import MemoryAccessError, MeshBoundaryError
from ..isa.encoding import Instr
from ..isa.opcodes import DIRECTIONS, RAMP
from . import parallel
from .compiled import numba_loaded
from .fabric import Fifo, SlotRows, compiled_movers
from .lanes import Lanes
from .lockstep_rows import LockstepRowsMixin
from .streams import receive_times, send_departures, waits_added


BULK_MAX_LANES = 4096  # vector transfers of larger groups move one word per step (measured: as fast)
#: Dense lockstep groups of at least this many PEs move a vector transfer as whole FIFO rows (`stream_rows`) where
#: times are whole cycles, however small the group: the bulk mover's gathers and scatters cost more. Measured
#: (stop 46, process CPU, min of 3 warm launches, alternating): bicgstab7's halo exchanges, 992-PE groups of
#: 16 words, 2.0 -> 1.4 s a launch.
ROWS_MIN_LANES = 256


class ExchangeMixin(LockstepRowsMixin):
    """send/recv/sendv/recvv executors of `WaveSim` (a dense group's lockstep words: `LockstepRowsMixin`)."""

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
                and not self.pops_waited.get(id(fifo)) and numba_loaded()):  # (fused passes only once Numba is loaded)
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
