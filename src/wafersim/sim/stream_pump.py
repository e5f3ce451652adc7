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
have found after the last one. A pair whose senders' step sends every sender's last words is run too (the
senders' continuation then goes on, as that step's would). Results, cycles, statistics and link reservations
are therefore identical; tests/test_stream_pump.py compares them with and without the pump, and with NumPy.

The senders' step the pump follows leaves its words undelivered (`Strategy.pump_first_step`: `_first_step`,
delivered before anything else reads those FIFO slots): the pump's first receive, which starts the receivers'
transfers, then takes them in closed form as the steady ones do (`stream_pump_kernels.start_receives`), where
the step would have stored them and a general receive read them back.
"""
from __future__ import annotations

import sys

import numpy as np

from ..isa.encoding import Instr
from ..isa.opcodes import RAMP
from . import parallel
from .lanes import Lanes
from .distinct import distinct

#: Receivers from which a pump runs in parts on the engine's threads (`_split`; each pair of steps of a large
#: multicast is a few hundred microseconds of compiled work). Not by default: on the 2-core VM, shared with
#: other work, the library GEMM's pumps took 0.74-1.36 s on two threads against 0.45-0.50 s on one (the time
#: in `_pump_stream` of three launches each). Again at stop 42, the pumps compiled in closed form: the scheduler's
#: thread of a warm SUMMA launch 0.52 s on one against 0.78-0.82 s split at 2048 (its `_split`, 1.5 ms a call,
#: 0.20 s; `steady_pairs` 0.06 s; the parts' pumps 0.17 s of both threads against 0.10 s whole). Set it to some
#: 2048 to split them.
PARALLEL_RECEIVERS = sys.maxsize


class StreamPumpMixin:
    """The stream pump of `WaveSim` (called by `background._background` after a routed `senda` step)."""

    #: Set by `_background` around a `senda` step that a pump may follow: the routed step then holds its words
    #: (`routed._fused_stream_step`) in `_first_step` (fifo, senders, p_lane, p_latency, counts, segments of one
    #: sender and of several, values, departures) for the pump to deliver (`Strategy.pump_first_step`).
    _defer_first_step = False
    _first_step: tuple | None = None

    def _deliver_first_step(self) -> None:
        """Store the held words of `_first_step` (if any) into their receivers' FIFOs, as the step would have."""
        held, self._first_step = self._first_step, None
        if held is not None:
            from . import stream_pump_steps

            fifo, _, p_lane, p_latency, count, one, many, values, departures = held
            stream_pump_steps.deliver(fifo.time.block, fifo.value.block, one, many, p_lane, p_latency, values,
                                      departures, count)

    def _pump_stream(self, pc: int, ins: Instr, cost: float, L: Lanes, out: list, state: np.ndarray) -> int:
        """After a step of the routed `senda` at `pc` by the lanes `L` (index form; `out`: its continuations,
        `state`: the channel's senda state), run further pairs of steps while they are steady (module
        docstring); `out` becomes the senders' going on where the last pair sent their last words. Returns the
        pairs run (0 where the pump does not apply). The step's words held (`_first_step`) go to the pump,
        else are delivered."""
        receivers = self._pump_receivers(pc, ins, L, out)
        if receivers is None:
            self._deliver_first_step()
            return 0
        r_pc, r_ins, R, table, rows, r_base, r_length = receivers
        from . import stream_pump_kernels  # (imports Numba: only launches with routed background sends load it)

        fifo = self._fifo(RAMP, ins.ch)
        expansion = self._expanded(table, rows)
        links = self._expanded(table, rows, links=True)
        if self.link_busy is None and len(links.lane):
            self.link_busy = self._new_link_busy()
        busy = self.link_busy if self.link_busy is not None else np.empty((2, 0))
        _, by_dest, by_lane, by_latency = expansion.by_dest
        previous, by = self._last_arrival(ins.ch)
        s_pes, r_pes = L.idx.astype(np.int64, copy=False), R.idx.astype(np.int64, copy=False)
        s_base, s_length = self.regs[ins.a][s_pes].astype(np.int64), self.regs[ins.b][s_pes].astype(np.int64)
        receiver_of = expansion.receiver_of  # (r_pes are its sorted receivers: `_pump_receivers`)
        r_state, r_cost = self._background_state("recva", r_ins), float(self.ops[r_pc][2])
        # (senders, their receivers, entries, entries in PE order, links) of each part
        parts = [(s_pes, s_base, s_length, r_pes, r_base, r_length, receiver_of, expansion.dest, expansion.lane,
                  expansion.latency, by_dest, by_lane, by_latency, links.link, links.lane, links.link_offset)]
        most = -1
        held, self._first_step = self._first_step, None
        if held is not None and (held[0] is not fifo or not np.array_equal(held[1], s_pes)):
            self._first_step = held  # (another FIFO's or senders' step: delivered as it is)
            self._deliver_first_step()
            held = None
        first = held[4:] if held is not None else _NO_FIRST_STEP
        if len(r_pes) >= PARALLEL_RECEIVERS and parallel.thread_count() > 1:
            split = _split(parts[0], min(parallel.thread_count(), len(s_pes)))
            if split is not None and held is not None:  # (parts take no held words: delivered first)
                self._first_step = held
                self._deliver_first_step()
                held, first = None, _NO_FIRST_STEP
            if split is not None:
                most = stream_pump_kernels.steady_pairs(s_pes, s_length, r_pes, r_length, self.progress, fifo.pushed,
                                                        fifo.popped, expansion.dest, expansion.lane, receiver_of,
                                                        fifo.depth)
                if most == 0:
                    return 0
                parts = split
        results = [None] * len(parts)
        if len(parts) == 1:  # (the route's own: kept from call to call)
            constants = [self._pump_constants(expansion, s_pes, r_pes, links.link, busy.shape[1])]
        else:
            constants = [_part_constants(part, busy.shape[1], float(self.word_time), len(self.cycle)) for part in parts]

        def run_part(k: int, part: tuple) -> None:
            (s_pes, s_base, s_length, r_pes, r_base, r_length, receiver_of, dest, lane, latency, by_dest, by_lane,
             by_latency, link, link_lane, link_offset) = part
            p_dest, p_lane, p_latency, (distinct, low, high, panel_fits) = constants[k]
            results[k] = stream_pump_kernels.pump(
                s_pes, s_base, s_length, float(cost), state, r_pes, r_base, r_length, r_cost, r_state, receiver_of,
                float(self.word_time), self.launch.whole_cycles, self.cycle, self.stall, self.progress,
                self._injected(ins.ch), self.sram, fifo.pushed, fifo.popped, fifo.time.block, fifo.value.block,
                dest, lane, latency, by_dest, by_lane, by_latency, busy, link, link_lane, link_offset, previous, by,
                np.zeros((len(s_pes), fifo.depth), dtype=self.time_dtype), most, self.strategy.pump_slot_free,
                self.strategy.pump_panel, first[1], first[2], first[3].astype(self.sram.dtype, copy=False),
                first[4], first[0], p_dest, p_lane, p_latency, distinct, low, high, panel_fits)

        self._injected(ins.ch)  # (made here, not in the threads)
        if len(parts) == 1:
            run_part(0, parts[0])
        else:
            parallel.run(run_part, list(enumerate(parts)))
        for part, (pairs, status, later, count) in zip(parts, results):
            if status == stream_pump_kernels.EARLY:  # (this raises the RouteError, as the scheduler's path would)
                s_pes, dest, lane, latency = part[0], part[7], part[8], part[9]
                self._check_arrival_order(ins.ch, dest, s_pes[lane], later[lane, 0] + latency,
                                          later[lane, count[lane] - 1] + latency)
                raise AssertionError("the compiled and NumPy arrival checks disagree")  # (it raised above)
            if (pairs, status) != results[0][:2]:
                raise AssertionError("the parts of a stream pump ran different numbers of steps")
        if results[0][1] == stream_pump_kernels.FINISHED:  # every sender sent its last words: they go on
            out[:] = [(out[0][0], Lanes.from_indices(self.n, L.idx), False)]
        return results[0][0]

    def _pump_constants(self, expansion, s_pes: np.ndarray, r_pes: np.ndarray, link: np.ndarray,
                        links: int) -> tuple:
        """`stream_pump_kernels.pump`'s entries in their receivers' order and `pump_facts` for the senders
        `s_pes` of this expansion (whose sorted receivers are `r_pes`), kept on the expansion, which a route's
        table keeps from launch to launch (`routed._expanded`): a GEMM's 128 pump calls ask for a few."""
        from . import stream_pump_kernels

        kept = expansion.__dict__.setdefault("_pump_constants", {})
        key = (s_pes.tobytes(), float(self.word_time), links, len(self.cycle))
        found = kept.get(key)
        if found is None:
            if len(kept) >= 8:
                kept.clear()
            p_dest, p_lane, p_latency = expansion.pe_sorted
            found = kept[key] = (p_dest, p_lane, p_latency, stream_pump_kernels.pump_facts(
                s_pes, r_pes, p_lane, p_latency, link, links, float(self.word_time), len(self.cycle)))
        return found

    def _pump_receivers(self, pc: int, ins: Instr, L: Lanes, out: list) -> tuple | None:
        """(receivers' pc, their instruction, their lanes in index form, the senders' route table and rows, the
        receives' bases and lengths (int64)) when the scheduler's state is the pump's (module docstring), else
        None."""
        strategy = self.strategy
        if not (strategy.stream_pump and strategy.routed_steps and strategy.fused_routed_step
                and strategy.compiled_background and strategy.bulk_streams and strategy.lockstep
                and strategy.event_wakeup and self.launch.whole_cycles and self.tracer is None
                and self.launch.racecheck is None and self.route_watch is None and self.batches_vectors
                and self.fold_owed_issue):
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
        # The receivers exactly the route's (not some receiver elsewhere, nor a lane at the recva that no sender
        # reaches), and their receives non-empty and inside SRAM (else `background_receive_step` leaves them to
        # NumPy), in one compiled pass.
        from . import stream_pump_kernels  # (imports Numba: only launches with routed background sends come here)

        fits, base, length = stream_pump_kernels.pump_receives(expansion.sorted_dest, R.idx, self.regs[r_ins.a],
                                                               self.regs[r_ins.b], self.sram.shape[0])
        if not fits:
            return None
        return r_pc, r_ins, R, table, rows, base, length


#: `stream_pump_kernels.pump`'s `first_*` where no step's words are held: (counts, segments of one sender and of
#: several, values, departures), empty.
_NO_FIRST_STEP = (np.empty(0, dtype=np.int64), np.empty((0, 5), dtype=np.int64), np.empty((0, 5), dtype=np.int64),
                  np.empty((0, 0)), np.empty((0, 0)))


def _part_constants(part: tuple, links: int, word_time: float, pes: int) -> tuple:
    """`StreamPumpMixin._pump_constants` of a part of the senders (`_split`), found afresh."""
    from . import stream_pump_kernels, stream_pump_steps

    s_pes, r_pes, receiver_of, dest, lane, latency = part[0], part[3], part[6], part[7], part[8], part[9]
    link = part[13]
    order = stream_pump_steps.pe_order(receiver_of)
    p_lane, p_latency = lane[order], latency[order]
    return (dest[order], p_lane, p_latency,
            stream_pump_kernels.pump_facts(s_pes, r_pes, p_lane, p_latency, link, links, word_time, pes))


def _split(whole: tuple, count: int) -> list[tuple] | None:
    """`StreamPumpMixin._pump_stream`'s arrays of `count` parts of the senders (consecutive, about as many
    receivers each), or None where two parts' routes share a link (their reservations would then depend on
    the order the parts run in). Each part's receivers and links are its senders' alone, so the parts' steps
    touch disjoint entries of every array, and run in parallel they give what the whole steps give."""
    (s_pes, s_base, s_length, r_pes, r_base, r_length, receiver_of, dest, lane, latency, by_dest, by_lane,
     by_latency, link, link_lane, link_offset) = whole
    per_sender = np.bincount(lane, minlength=len(s_pes))
    cuts = np.searchsorted(np.cumsum(per_sender), np.linspace(0, len(dest), count + 1)[1:-1], side="right")
    bounds = [0, *sorted(set(int(c) for c in cuts) - {0, len(s_pes)}), len(s_pes)]
    if len(bounds) < 3:
        return None
    parts, used = [], []
    for a, b in zip(bounds[:-1], bounds[1:]):
        entries, ordered = (lane >= a) & (lane < b), (by_lane >= a) & (by_lane < b)
        links = (link_lane >= a) & (link_lane < b)
        receivers = np.sort(receiver_of[entries])
        part_r = r_pes[receivers]
        parts.append((s_pes[a:b], s_base[a:b], s_length[a:b], part_r, r_base[receivers], r_length[receivers],
                      np.searchsorted(part_r, dest[entries]), dest[entries], lane[entries] - a, latency[entries],
                      by_dest[ordered], by_lane[ordered] - a, by_latency[ordered], link[links], link_lane[links] - a,
                      link_offset[links]))
        used.append(distinct(link[links]))
    every = np.concatenate(used)
    return parts if len(distinct(every)) == len(every) else None
