"""Vector transfers (`sendv` / `recvv`) of large lockstep groups: whole FIFO rows, no gathers.

A large dense group (full or complement form, see `lanes`) whose lanes all move the same SRAM words,
from the start of the transfer, with room (send) or data (receive) for all of them, moves its words as
whole rows of the FIFO (views over the group's window).

Where every time is a whole number of cycles (`Strategy.stream_rows`), each row is written once: a
sender's word k departs at max(ready_k, when its slot was freed), ready_0 = cycle + cost and
ready_k = departure_(k-1) + word_time, and arrives a link latency later; a receiver takes word k at
max(taken_(k-1), its arrival), taken_(-1) = cycle + cost; the stall added is the sum of the waits,
which telescopes to one difference. Sums of whole numbers below 2**24 are exact in float32 and
float64 alike, so these are the times and stalls of the word-by-word sequence (scalar sends and
receives of whole rows, `ExchangeMixin._push_rows` / `_pop_rows`, used otherwise) with about a third of
its passes over memory (tests/test_engine_strategies.py compares both).
"""
from __future__ import annotations

import numpy as np

from ..isa.encoding import Instr
from ..isa.opcodes import RAMP
from . import parallel
from .fabric import Fifo
from .lanes import Lanes


class StreamRowsMixin:
    """Whole-row vector transfers of large lockstep groups for `WaveSim` (see the module docstring)."""

    def _stream_lockstep(self, ins: Instr, cost: float, lanes: Lanes, offset: int, fifo: Fifo,
                         sending: bool) -> bool:
        """A whole transfer of a large group whose lanes all move the same SRAM words, from the start, with
        room (send) or data (receive) for all of them: row by row where times are whole cycles, else word by
        word as scalar sends or receives of whole rows (views over the group's window, no gathers), on the
        engine's threads. The same times and values as `_stream_words`. False (nothing done) otherwise."""
        base = lanes.all_equal(lanes.get(self.regs[ins.a]))
        length = lanes.all_equal(lanes.get(self.regs[ins.b]))
        if base is None or length is None or lanes.all_equal(lanes.get(self.progress)) != 0:
            return False
        base, length = int(base), int(length)
        if length <= 0 or base < 0 or base + length > self.program.data_words:
            return False  # (the general movers raise or charge the empty transfer's issue)
        if sending:
            src, dst = lanes.shifted_pair(offset)
            queued = dst.get(fifo.pushed) - dst.get(fifo.popped)
            if not src.all(queued + length <= fifo.depth):
                return False
            most_queued = int(queued.max(initial=0))  # (over the window for mask forms: a bound)
            latency = self.region.link_latency(ins.dir) if ins.dir != RAMP else 0.0
            if not self._send_rows(src, dst, base, length, fifo, cost, latency, most_queued):
                for k in range(length):
                    self._push_parts(src, dst, self.sram[base + k], fifo, cost if k == 0 else 0.0, latency,
                                     most_queued + k)
            self._progress(fifo, True, dst)
        else:
            if not lanes.all(lanes.get(fifo.pushed) - lanes.get(fifo.popped) >= length):
                return False
            if not self._receive_rows(lanes, base, length, fifo, cost):
                for k in range(length):
                    self._pop_parts(lanes, fifo, cost if k == 0 else 0.0, self.sram[base + k])
            self._progress(fifo, False, lanes)
        return True

    def _rows_apply(self, *groups: Lanes) -> bool:
        return (self.strategy.stream_rows and self.whole_times and self.tracer is None and self.strategy.lockstep
                and all(group.is_dense for group in groups))

    def _send_rows(self, src: Lanes, dst: Lanes, base: int, length: int, fifo: Fifo, cost: float,
                   latency: float | np.ndarray, most_queued: int) -> bool:
        """Push `length` words from SRAM rows base.. of every sender, all receivers being at one word number:
        each row written once, a large group in parts on the engine's threads; False (nothing done) where
        that does not apply."""
        if not self._rows_apply(src, dst):
            return False
        first = dst.all_equal(dst.get(fifo.pushed))
        if first is None:
            return False
        first = int(first)
        for k in range(length):  # (the ring deepens as the word-by-word pushes deepen it)
            if fifo.shallow:
                fifo.make_room(1 + most_queued + k)
        # Rows allocated before the threads (two allocating one row at once would lose a part's words), and
        # only once the ring is as deep as it gets: deepening replaces the ring, dropping rows of unpushed words.
        for k in range(length):
            fifo.allocate_rows(first + k)

        def move(src: Lanes, dst: Lanes) -> None:
            ready = src.window_view(self.cycle) + cost
            depart = np.empty_like(ready)
            hop = latency if np.isscalar(latency) else src.window_view(latency)
            for k in range(length):
                word = first + k
                time_row = dst.window_view(fifo.time[word % fifo.depth])
                kept_time = dst.keep_outside(time_row)
                if k:
                    depart += self.word_time  # ready: the previous word has left
                np.maximum(ready if k == 0 else depart, time_row, out=depart)  # after word k - depth left
                np.add(depart, hop, out=time_row)  # now: its arrival
                dst.restore_outside(time_row, kept_time)
                dst.put(fifo.value[fifo.value_slots(word)], src.window_view(self.sram[base + k]))
            dst.add(fifo.pushed, length)
            src.put(self.cycle, depart + self.word_time)
            # The waits of all words: the sum over k of depart_k - ready_k, ready_k = depart_(k-1) + word_time.
            self._add_rows_stall(src, depart - (length - 1) * self.word_time, ready)

        self._in_parts(move, src, dst)
        return True

    def _receive_rows(self, lanes: Lanes, base: int, length: int, fifo: Fifo, cost: float) -> bool:
        """Pop `length` words into SRAM rows base.. of every lane, all being at one word number: each row
        written once, a large group in parts on the engine's threads; False (nothing done) where that
        does not apply."""
        if not self._rows_apply(lanes):
            return False
        first = lanes.all_equal(lanes.get(fifo.popped))
        if first is None:
            return False
        first = int(first)
        for k in range(length):
            fifo.allocate_rows(first + k)

        def move(lanes: Lanes) -> None:
            ready = lanes.window_view(self.cycle) + cost
            taken = ready.copy()
            for k in range(length):  # word k is taken when it has arrived and word k - 1 was taken
                word = first + k
                np.maximum(taken, lanes.window_view(fifo.time[word % fifo.depth]), out=taken)
                lanes.put(fifo.time[word % fifo.depth], taken)  # now: when the slot was freed
                lanes.put(self.sram[base + k], lanes.window_view(fifo.value[fifo.value_slots(word)]))
            lanes.add(fifo.popped, length)
            lanes.put(self.cycle, taken)
            self._add_rows_stall(lanes, taken, ready)  # the waits of all words: taken_last - ready_0

        self._in_parts(move, lanes)
        return True

    @staticmethod
    def _in_parts(move, *groups: Lanes) -> None:
        """move(*groups), or move(*part) for each part of aligned groups on the engine's threads: each part
        touches only its own window positions, with the same operations as one call."""
        parts = parallel.parts_of(list(groups))
        if parts is None:
            move(*groups)
        else:
            parallel.run(move, parts)
