"""The stream pump: a routed background send (`senda` through the ramp) and its receivers' background receives
(`recva`) stepped alternately in one compiled call (`stream_pump_kernels`), instead of one trip through the
scheduler per `depth`-word step of each side (`Strategy.stream_pump`).

A panel of the library GEMM (SUMMA) streams so: its senders fill their receivers' FIFOs, block, the receivers
wake, empty them, block, the senders wake... some thirty group steps of a few hundred microseconds of Python
each per panel. When the senders have just run a step (`background._background`) and the scheduler's state is

- the senders blocked, every one of them with words sent and words still to send;
- the lowest runnable group at a `recva` on the same channel, its lanes exactly the senders' receivers (so the
  senders' push woke all of them, and it runs next), owing nothing; any other runnable group at a pc after
  the senders' (the scheduler runs the lowest pc first: none of them runs while the stream's steps go on);
- no other sleeping PE waiting on that FIFO (none is woken by these steps);

then the scheduler would run the receivers' step, which wakes the senders (and only them), then the senders'
step, which wakes the receivers (and only them), and so on, each step changing no scheduler state that the
next reads (a step that blocks counts an instruction and takes it back), until a step where some lane
finishes its transfer or moves nothing. The pump runs those steps, the same compiled kernels on the same
arrays in the same order, and stops before such a pair of steps: the scheduler then finds the state it would
have found after the last one. Results, cycles, statistics and link reservations are therefore identical;
tests/test_stream_pump.py compares them with and without the pump, and with NumPy.
"""
from __future__ import annotations

import numpy as np

from ..isa.encoding import Instr
from ..isa.opcodes import RAMP
from .lanes import Lanes


class StreamPumpMixin:
    """The stream pump of `WaveSim` (called by `background._background` after a routed `senda` step)."""

    def _pump_stream(self, pc: int, ins: Instr, cost: float, L: Lanes, out: list, state: np.ndarray) -> int:
        """After a step of the routed `senda` at `pc` by the lanes `L` (index form; `out`: its continuations,
        `state`: the channel's senda state), run further pairs of steps while they are steady (module
        docstring). Returns the pairs run (0 where the pump does not apply)."""
        receivers = self._pump_receivers(pc, ins, L, out)
        if receivers is None:
            return 0
        r_pc, r_ins, R, table, rows = receivers
        from . import stream_pump_kernels  # (imports Numba: only launches with routed background sends load it)

        fifo = self._fifo(RAMP, ins.ch)
        expansion = self._expanded(table, rows)
        links = self._expanded(table, rows, links=True)
        if self.link_busy is None and len(links.lane):
            self.link_busy = np.full((2, 4 * self.n), -np.inf)
        busy = self.link_busy if self.link_busy is not None else np.empty((2, 0))
        _, by_dest, by_lane, by_latency = expansion.by_dest
        previous, by = self._last_arrival(ins.ch)
        s_pes = L.idx.astype(np.int64, copy=False)
        r_pes = R.idx.astype(np.int64, copy=False)
        r_cost = float(self.ops[r_pc][2])
        pairs, ok, later, count = stream_pump_kernels.pump(
            s_pes, self.regs[ins.a, s_pes].astype(np.int64), self.regs[ins.b, s_pes].astype(np.int64), float(cost),
            state, r_pes, self.regs[r_ins.a, r_pes].astype(np.int64), self.regs[r_ins.b, r_pes].astype(np.int64),
            r_cost, self._background_state("recva", r_ins), np.searchsorted(r_pes, expansion.dest),
            float(self.word_time), self.launch.whole_cycles, self.cycle, self.stall, self.progress,
            self._injected(ins.ch), self.sram, fifo.pushed, fifo.popped, fifo.time.block, fifo.value.block,
            expansion.dest, expansion.lane, expansion.latency, by_dest, by_lane, by_latency, busy, links.link,
            links.lane, links.link_offset, previous, by, np.zeros((len(s_pes), fifo.depth), dtype=self.time_dtype))
        if not ok:  # (a word would arrive early: this raises the RouteError, as the scheduler's path would)
            lane = expansion.lane
            self._check_arrival_order(ins.ch, expansion.dest, s_pes[lane], later[lane, 0] + expansion.latency,
                                      later[lane, count[lane] - 1] + expansion.latency)
            raise AssertionError("the compiled and NumPy arrival checks disagree")  # (it raised above)
        return pairs

    def _pump_receivers(self, pc: int, ins: Instr, L: Lanes, out: list) -> tuple | None:
        """(receivers' pc, their instruction, their lanes in index form, the senders' route table and rows) when
        the scheduler's state is the pump's (module docstring), else None."""
        strategy = self.strategy
        if not (strategy.stream_pump and strategy.routed_steps and strategy.fused_routed_step
                and strategy.compiled_background and strategy.bulk_streams and strategy.lockstep
                and strategy.event_wakeup and self.launch.whole_cycles and self.tracer is None
                and self.launch.racecheck is None and self.batches_vectors and self.fold_owed_issue):
            return None
        # Every sender blocked with words still to send, none finished, none idle (each moved words).
        if (len(out) != 2 or out[0][1].count or out[1][0] != pc or not out[1][2] or out[1][1].count != L.count
                or not self.progress[L.idx].all()):
            return None
        # The receivers: the lowest runnable group, and every other one after them and the senders (the
        # scheduler runs the lowest pc first: none of them runs before the stream's steps stop).
        runnable = [p for p, g in self.groups.items() if not g.blocked]
        if not runnable:
            return None
        r_pc = min(runnable)
        group = self.groups[r_pc]
        r_ins = self.launch.decoded.get(r_pc)
        if (r_pc == pc or group.cost or group.count or r_ins is None or r_ins.op != "recva" or r_ins.dir != RAMP
                or r_ins.ch != ins.ch or group.lanes.window is not None):
            return None
        if any(p != r_pc and p < pc for p in runnable):
            return None
        key = (RAMP, ins.ch)
        if any(self.waits_on.get(p, (None,))[0] == key for p in self.asleep):
            return None
        R = group.lanes.to_index_form(self.n)
        if not self._compiled_receive_applies(r_ins, R):
            return None
        if self._wants_compiled(r_pc, group.lanes) or self._wants_compiled(pc, out[1][1]):
            return None
        fifo = self._fifo(RAMP, ins.ch)
        if (fifo.shallow or fifo.time.block is None or fifo.value.block is None
                or fifo.tags.needs_marking(ins.flags)):
            return None
        table, _, rows = self._routed_rows(ins, L)
        expansion = self._expanded(table, rows)
        if L.count > 1 and ins.ch in self.routes.merge and expansion.shared:
            return None  # (senders in turn: `_routed_send_in_turn`)
        if not np.array_equal(expansion.sorted_dest, R.idx):
            return None  # (some receiver elsewhere, or a lane at the recva that no sender reaches)
        # The receives non-empty and inside SRAM (else `background_receive_step` leaves them to NumPy).
        base, length = self.regs[r_ins.a, R.idx].astype(np.int64), self.regs[r_ins.b, R.idx].astype(np.int64)
        if (length <= 0).any() or (base < 0).any() or (base + length > self.sram.shape[0]).any():
            return None
        return r_pc, r_ins, R, table, rows
