"""Background transfers: `recva` / `senda` start a vector receive / send that the fabric completes while the
PE computes; `rwait` / `swait` wait for it (docs/timing.md, "Background transfers").

The model is the asynchronous DSD operations of the Cerebras SDK, which move data between memory and the
fabric on a microthread beside the main thread (Cerebras SDK, CSL language reference, "Data Structure
Descriptors", section "Asynchronous DSD Operations": a DSD operation with `.async = true`). Here the words move exactly as a blocking `recvv` / `sendv` issued at
the same cycle would move them (the same arrival, departure and back-pressure times, on the transfer's
own clock), but the PE's clock moves on by the issue cost only; the wait then moves it to the cycle the
last word was taken or sent, if that is later.

In the simulation a PE stays at its `recva` / `senda` until every word has moved (its clock parked at
the issue, a lower bound of its next instruction's cycle, so the scheduler's causal order of global
accesses holds): a program whose transfer needs this PE's later instructions to complete is reported as
a deadlock, never run wrong. Transfers on one (direction, channel) and way run one after the other: a
second starts when the one before it has moved its last word.
"""
from __future__ import annotations

import sys

import numpy as np

from ..isa.encoding import Instr
from ..isa.opcodes import PORTS, RAMP
from .lanes import Lanes

# Rows of a channel's per-PE background state.
_ISSUE, _STALL, _CLOCK = range(3)
#: Background receives of groups of more PEs than this take the NumPy path (`exchange._stream`), not the compiled
#: pass (`background_kernels`). No limit: `exchange.BULK_MAX_LANES` (4096, its NumPy movers' own) held here too,
#: and SUMMA's panels on 128 x 128 PEs (16,256 receivers) then moved word by word in NumPy, without the stream
#: pump: 50 s of CPU a warm launch, 5.4 s so, bit for bit. (Tests lower it: small blocks take the NumPy path.)
BULK_MAX_LANES = sys.maxsize
#: The opcode each wait waits for.
WAITS_FOR = {"rwait": "recva", "swait": "senda"}


class BackgroundMixin:
    """`recva` / `senda` / `rwait` / `swait` executors of a wave simulation (`WaveSim`)."""

    def _background_state(self, op: str, ins: Instr) -> np.ndarray:
        """(3, n) float64 for (op, dir, ch): the cycle a PE issued the transfer, its stall then, and the transfer's
        clock (the cycle its last word moved; -inf when nothing moved in the background)."""
        key = (op, ins.dir, ins.ch)
        if key not in self.background:
            state = np.zeros((3, self.n))
            state[_CLOCK] = -np.inf
            self.background[key] = state
        return self.background[key]

    def _background(self, pc: int, ins: Instr, next_pc: int, cost: float, lanes: Lanes):
        """recva / senda: the stream of a recvv / sendv, on the transfer's clock; the PE's clock and stall kept."""
        state = self._background_state(ins.op, ins)
        L = lanes.to_index_form(self.n)
        if ins.op == "recva" and self._compiled_receive_applies(ins, L):
            out = self._compiled_receive(pc, ins, next_pc, cost, L, state, lanes)
            if out is not None:
                return out
        pes = L.idx
        starting = self.progress[pes] == 0
        first, resumed = pes[starting], pes[~starting]
        state[_ISSUE][first] = self.cycle[first]
        state[_STALL][first] = self.stall[first]
        # A transfer starts after the one before it on the same channel and way (a queue runs them in order);
        # a neighbour send also after the background sends of the other channels of its link, which it
        # shares (`link_words_per_cycle` words a cycle whatever their channel): one after the other.
        # Its first word moves at the later of the issue's end and that end (the issue overlaps the transfer
        # before it, as a blocking send's does in `_wait_for_link`): the clock is parked `cost` before it.
        before = self._link_free(ins.dir, first) if ins.op == "senda" and ins.dir != RAMP else state[_CLOCK][first]
        self.cycle[first] = np.maximum(self.cycle[first], before - cost)
        self.cycle[resumed] = state[_CLOCK][resumed]  # the stream goes on from its last word
        move = self._typed_recv if ins.op == "recva" else self._typed_send  # (word type tags as recvv / sendv)
        if self.tracer:  # (its slices overlap the PE's: on a track of their own)
            way = "recv" if ins.op == "recva" else "send"
            with self.tracer.background(f"{way} {PORTS[ins.dir]} ch {ins.ch}", state[_ISSUE]):
                out = move(pc, ins, next_pc, cost, L)
        else:
            # (a routed step's words may be held for the stream pump below: `Strategy.pump_first_step`)
            self._defer_first_step = (ins.op == "senda" and ins.dir == RAMP and self.strategy.stream_pump
                                      and self.strategy.pump_first_step)
            try:
                out = move(pc, ins, next_pc, cost, L)
            except BaseException:
                # (words a step held for the stream pump land, as that step would have stored them, before a
                # later part of the send fails: the failed launch's state, `err.state`, holds them)
                self._deliver_first_step()
                raise
            finally:
                self._defer_first_step = False
        try:
            state[_CLOCK][pes] = self.cycle[pes]
            self.cycle[pes] = state[_ISSUE][pes] + cost
            self.stall[pes] = state[_STALL][pes]
            if len(out) > 1:  # lanes that moved no word yet start afresh when retried (their issue not yet paid)
                waiting = out[1][1].indices()
                idle = waiting[self.progress[waiting] == 0]
                self.cycle[idle] = state[_ISSUE][idle]
                # and find the transfer before theirs where they found it: its end is the clock parked `cost` early
                state[_CLOCK][idle] += cost
                if ins.op == "senda" and ins.dir == RAMP and self.strategy.stream_pump:
                    self._pump_stream(pc, ins, cost, L, out, state)  # (further steps of both sides, `stream_pump`)
        finally:
            self._deliver_first_step()  # (held words the pump did not take land now)
        return out

    def _compiled_receive_applies(self, ins: Instr, L: Lanes) -> bool:
        """Whether a `recva` step of these lanes may run in `background_kernels` (the bulk strategy, no
        trace, word types that need no check, single-block FIFO fields, neighbours where it names one)."""
        strategy = self.strategy
        if not (strategy.compiled_background and strategy.bulk_streams and self.tracer is None
                and L.count <= BULK_MAX_LANES):
            return False
        fifo = self._fifo(ins.dir, ins.ch)
        tags = fifo.tags
        if not tags.unchecked(ins.flags):
            return False  # (`_typed_recv` checks the words' types)
        if fifo.time.block is None or fifo.value.block is None:
            return False
        return ins.dir == RAMP or bool(self.region.has_neighbor(ins.dir)[L.idx].all())

    def _compiled_receive(self, pc: int, ins: Instr, next_pc: int, cost: float, L: Lanes,
                          state: np.ndarray, lanes: Lanes) -> list | None:
        """`_background` of a `recva` in one compiled pass; None (nothing changed) where the kernel leaves a
        lane to the NumPy path (an empty transfer, or one outside SRAM: charged or reported there). `lanes`:
        the group as it came (L in index form), passed on whole where every lane or none finished."""
        from . import background_kernels  # (imports Numba: only launches with background receives load it)

        fifo = self._fifo(ins.dir, ins.ch)
        pes = L.idx
        finished = np.empty(len(pes), dtype=bool)
        moved = np.empty(len(pes), dtype=bool)
        status, took, done = background_kernels.registers_receive_step(
            pes.astype(np.int64, copy=False), self.regs[ins.a], self.regs[ins.b], self.progress, self.cycle,
            self.stall, state, fifo.pushed, fifo.popped, fifo.time.block, fifo.value.block, self.sram, float(cost),
            self.launch.whole_cycles, finished, moved)
        if status != background_kernels.DONE:
            return None
        if took:  # (every lane, the usual step of a panel: its index array as it is, no gather)
            self._progress(fifo, False, pes if took == len(pes) else pes[moved])
        if self.strategy.lockstep and lanes.window is None:  # (the same lanes object from step to step of a
            # panel: no new sets, and `_progress` knows it woke all of them last time)
            if not done:
                return [(pc, lanes, True)]
            if done == len(pes):
                return [(next_pc, lanes, False)]
        out = [(next_pc, Lanes.from_indices(self.n, pes[finished]), False)]
        if done < len(pes):
            out.append((pc, Lanes.from_indices(self.n, pes[~finished]), True))
        return out

    def _link_free(self, direction: int, pes: np.ndarray) -> np.ndarray:
        """The cycle the background sends of these PEs on the link in `direction` (any channel) have moved
        their last word (-inf where none is outstanding). The simulator holds a PE at its `senda` until every
        word has moved, so by the PE's next instruction these clocks are final."""
        free = np.full(len(pes), -np.inf)
        for (op, d, _), state in self.background.items():
            if op == "senda" and d == direction:
                np.maximum(free, state[_CLOCK][pes], out=free)
        return free

    def _wait_for_link(self, ins: Instr, cost: float, lanes: Lanes) -> None:
        """Before a blocking neighbour send (`send` / `sendv`): its first word leaves no earlier than the
        last word of this PE's background sends on the same link (other channels: one link, one word a
        cycle), the PE stalling until then. A link otherwise carries only its sender's words in program
        order, so a sender's clock is its link's clock (`exchange._push`); background sends are the one
        way a PE has two transfers on one link at once."""
        if not any(op == "senda" and d == ins.dir for op, d, _ in self.background):
            return
        L = lanes.to_index_form(self.n)
        pes = L.idx
        ready = self.cycle[pes] + cost
        later = np.maximum(ready, self._link_free(ins.dir, pes))
        if (later > ready).any():
            self.stall[pes] += (later - ready).astype(self.stall.dtype)
            self.cycle[pes] = (later - cost).astype(self.cycle.dtype)

    def _background_done(self, lanes: Lanes) -> np.ndarray:
        """The cycle the last background transfer of each lane (index form) ends (-inf for none); a PE halts after
        it."""
        done = np.full(lanes.count, -np.inf)
        for state in self.background.values():
            np.maximum(done, state[_CLOCK][lanes.idx], out=done)
        return done

    def _wait_background(self, ins: Instr, next_pc: int, cost: float, lanes: Lanes):
        """rwait / swait: the PE's clock moves to the transfer's clock if that is later."""
        state = self._background_state(WAITS_FOR[ins.op], ins)
        if lanes.is_dense and lanes.window is None and not self.tracer:
            # (a full or complement group: the same operations over every PE, the few outside put back, a third
            # of the time of gathers and scatters of thousands of lanes)
            cycle, stall, clock = self.cycle, self.stall, state[_CLOCK]
            kept = [lanes.keep_outside(values) for values in (cycle, stall, clock)]
            ready = cycle + cost
            done = np.maximum(ready, clock).astype(cycle.dtype)
            stall += done - ready
            cycle[...] = done
            clock[...] = -np.inf
            for values, outside in zip((cycle, stall, clock), kept):
                lanes.restore_outside(values, outside)
            return [(next_pc, lanes, False)]
        L = lanes.to_index_form(self.n)
        pes = L.idx
        ready = self.cycle[pes] + cost
        done = np.maximum(ready, state[_CLOCK][pes]).astype(self.cycle.dtype)
        self.stall[pes] += done - ready
        if self.tracer:
            self.tracer.record(L, "recv" if ins.op == "rwait" else "send", ready - cost, done)
        self.cycle[pes] = done
        state[_CLOCK][pes] = -np.inf
        return [(next_pc, lanes, False)]
