"""Stream ops (`vaddx`, `vmaxx`, `vminx`, and on float16 words `vhaddx`, `vhmaxx`, `vhminx`): a vector op whose
operands are a fabric input and a fabric output.

Word k arrives from the input (a neighbour's link or the ramp of a routed channel), is combined with
sram[a + k], the result is written there and sent on the output (a neighbour's link, or nowhere) as it is
made: what a WSE PE does with one DSD operation on fabric DSDs (CSL's `@fadds(fabout, fabin, mem)`, `@faddh` on
float16), so that a
reduce chain streams instead of receiving into memory, adding and sending (docs/timing.md, "Streams through
the FMAC"). Timing, word by word (W = max(1 / `link_words_per_cycle`, 1 / `vector_lanes`), or
`vector_lanes_half` for the 16-bit ops: the op handles a word per W cycles):

    t_0 = max(issue end, arrival_0, slot_0 - W)        (issue end: the PE's clock + the issue cost)
    t_k = max(t_{k-1} + W, arrival_k, slot_k - W)
    word k is taken from its FIFO at t_k (its slot freed then), its result leaves at d_k = t_k + W and
    arrives at the neighbour at d_k + the link's latency (`WaveRegion.link_latency`: hop + 2 ramp);

arrival_k as for `recv`, slot_k as for `send` (when word k - `fifo_depth` of the output FIFO was taken).
The PE finishes at d_last + 1 / `link_words_per_cycle` with an output (as a send's last word), at t_last + W
without one. Waits (for a word or for room) count as stall. A lane waits (blocks) where its input FIFO is
empty or its output FIFO full, and resumes where it stopped (`WaveSim.progress` counts its words); so a chain
of stream ops deadlocks only where the recv/send pairs it replaces would.

The compiled interpreter runs the same steps word by word for a stream op with a neighbour input (its transfer
loop, sim/compiled/interpreter.py: the small and woken groups a chain's wavefront is made of); this executor
runs the large groups and, in a program with a routed stream input, all of them (`compiled.stepper`). Both
work on the same FIFOs (`compiled.fabric_state`) and give the same words, cycles and errors
(tests/test_compiled_streams.py). This executor's bulk steps run compiled too where they can
(`stream_op_kernels`: float32 and int32 sums, int32 maxima and minima, FIFOs held as blocks): a program with a
background send, as `collectives.row_reduce_array`'s chain end, keeps its transfers out of the interpreter.
Such a compiled step takes along the lanes asleep at the same op (a chain's PEs beyond its wavefront), so that
a chain's words cross all of its PEs in one call rather than in a scheduler visit a hop (`_stream_sleepers`).
"""
from __future__ import annotations

import numpy as np

from ..isa import halfprec
from ..isa.float_math import add_first_nan
from ..isa.encoding import Instr
from ..isa.opcodes import HALF_STREAM_OPS, NOWHERE, RAMP, stream_word_type
from .fabric import compiled_movers
from .lanes import Lanes
from .wordtypes import refuses, stream_tag


def _half(ufunc):
    """`ufunc` on float16 words: the float16 values in the low halves of two int32 word arrays combined in float16
    (NumPy's rounding), as int32 words with the high half zero (the words a 16-bit stream op writes and sends)."""
    def combine(own: np.ndarray, words: np.ndarray) -> np.ndarray:
        result = ufunc(halfprec.from_words(own, "f16"), halfprec.from_words(words, "f16"))
        return result.view(np.uint16).astype(np.int32)
    return combine


#: The combine of each stream op (sram word, input word): a NumPy ufunc on the words as the op's element type.
_UFUNCS = {"vaddx": add_first_nan, "vmaxx": np.maximum, "vminx": np.minimum,
           "vhaddx": _half(np.add), "vhmaxx": _half(np.maximum), "vhminx": _half(np.minimum)}
#: The combines that `stream_op_kernels.move_stream_words` computes as NumPy does, by (op, element type): 0 add,
#: 1 maximum, 2 minimum. (Float maxima and minima, whose NaN and signed-zero choices are NumPy's loops', and the
#: float16 ops stay with NumPy.)
COMPILED_COMBINES = {("vaddx", "f32"): 0, ("vaddx", "i32"): 0, ("vmaxx", "i32"): 1, ("vminx", "i32"): 2}
#: Whether the compiled mover takes along the lanes asleep at the same stream op (`_stream_sleepers`): 0 leaves
#: them to the scheduler, a visit for each wake-up (for A/B runs).
JOIN_SLEEPERS = 1


class StreamOpsMixin:
    """The executor of the stream ops for `WaveSim` (uses `ExchangeMixin`'s `_fifo`, `_pop`, `_push`)."""

    def _stream_word_cycles(self, op: str) -> float:
        """W: the cycles the stream op `op` spends on each word (the link's rate or the FMAC's at the op's
        precision, the slower)."""
        lanes = self.spec.vector_lanes_half if op in HALF_STREAM_OPS else self.spec.vector_lanes
        return max(self.word_time, 1.0 / lanes)

    def _stream_op(self, pc: int, ins: Instr, next_pc: int, cost: float, lanes: Lanes):
        if lanes.idx is None and self.strategy.bulk_streams and self._all_wait_for_words(ins, lanes):
            return [(pc, lanes, True)]
        L = lanes.to_index_form(self.n)
        idx = L.idx
        base, length = self._stream_range(ins, L, ins.op)
        if ins.dir != RAMP:  # (the group as it came: a dense one's check is memoized, `_check_neighbor`)
            self._check_neighbor(lanes, ins.dir, f"{ins.op} from")
        sending = ins.d != NOWHERE
        if sending:
            self._check_neighbor(lanes, ins.d, ins.op)
        in_fifo = self._fifo(ins.dir, ins.ch)
        out_fifo = self._fifo((ins.d + 2) % 4, ins.ch) if sending else None
        offset = self.region.offset(ins.d) if sending else 0
        latency = self.region.link_latency(ins.d) if sending else 0.0
        element = stream_word_type(ins.op, ins.flags)
        tag = stream_tag(ins)
        memory = self.fsram if element == "f32" else self.sram  # (float16: words, combined by `_half`)
        combine = _UFUNCS[ins.op]
        step = self._stream_word_cycles(ins.op)
        words = 0
        joined: list[tuple] = []  # (the continuations of lanes asleep here that the compiled call moved)
        bulk = bool(self.strategy.bulk_streams and self.tracer is None and self.whole_times)
        compiled = bulk and self._compiled_stream_fits(ins, element, tag, in_fifo, out_fifo)
        if compiled:  # (the loop below in one compiled call; it goes on where a deepened value ring is rows)
            words, compiled, joined = self._stream_op_compiled(pc, ins, next_pc, element, cost, idx, base, length,
                                                               in_fifo, out_fifo, offset, latency, memory, step)
        while bulk and not compiled:  # every word that data and room allow, a step at a time (`_stream_op_bulk`),
            # until none: a lane's words feed its neighbour's FIFO, and the neighbour may be a lane of this group
            moved = self._stream_op_bulk(pc, ins, cost, idx, base, length, in_fifo, out_fifo, offset, latency, tag,
                                         memory, combine, step)
            if not moved:
                break
            words += moved
        while not bulk:  # (the reference mover: a word per lane per step)
            done = self.progress[idx].astype(np.int64)
            can = (done < length) & (in_fifo.pushed[idx] - in_fifo.popped[idx] > 0)
            if sending:
                owners = idx + offset
                can &= out_fifo.pushed[owners] - out_fifo.popped[owners] < out_fifo.depth
            if not can.any():
                break
            pes, first = idx[can], done[can] == 0
            sub = Lanes(self.n, idx=pes)
            issue = np.where(first, cost, 0.0)
            if sending:  # the result must not leave before its output slot is free: take the word late enough
                dst = Lanes(self.n, idx=pes + offset)
                word = dst.get(out_fifo.pushed)
                if out_fifo.shallow:
                    out_fifo.make_room(1 + int((word - dst.get(out_fifo.popped)).max()))
                slot_free = out_fifo.time.gather(word % out_fifo.depth, dst.idx)
                ready = self.cycle[pes] + issue
                wait = np.maximum(slot_free - step - ready, 0.0)
                if wait.any():
                    self.stall[pes] += wait.astype(self.stall.dtype)
                    self.cycle[pes] += wait.astype(self.cycle.dtype)
            before = in_fifo.popped.copy() if self._tags_to_check(in_fifo, tag) else None
            values, _ = self._pop(sub, in_fifo, issue)  # the clock: t_k, when the word was taken
            if before is not None:
                self._check_stream_tags(pc, ins, in_fifo, before, tag)
            rows = base[can] + done[can]
            results = combine(memory[rows, pes], values.view(memory.dtype))
            memory[rows, pes] = results
            if sending:
                marking = out_fifo.tags.needs_marking(tag)
                pushed_before = out_fifo.pushed.copy() if marking else None
                # leaves at t_k + W; `_push` then puts the clock at that + a word's link time
                self._push(sub, dst, results.view(np.int32), out_fifo, step, latency)
                if marking:
                    out_fifo.tags.mark(pushed_before, out_fifo.pushed, tag)
                self._progress(out_fifo, True, dst.idx)
                more = done[can] + 1 < length[can]  # (a lane not finished takes its next word from d_k on)
                if more.any():
                    self.cycle[pes[more]] -= self.word_time
            else:
                self.cycle[pes] += step
            self._progress(in_fifo, False, pes)
            self.progress[pes] += 1
            words += len(pes)
        self.totals.vector_elements += words
        if element != "i32":
            self.totals.flops += words
        if element == "f16":
            self.totals.half_flops += words  # (at `vector_lanes_half`)
        return self._resumable_outcome(pc, next_pc, cost, L, length, lanes) + joined

    def _compiled_stream_fits(self, ins: Instr, element: str, tag: int, in_fifo, out_fifo) -> bool:
        """Whether `stream_op_kernels.move_stream_words` runs this step: a combine it computes as NumPy does
        (`COMPILED_COMBINES`), FIFO fields held as one block each, no word whose type must be checked or marked
        (`_stream_op_bulk` does those)."""
        if (ins.op, element) not in COMPILED_COMBINES or self._tags_to_check(in_fifo, tag):
            return False
        fifos = (in_fifo,) if out_fifo is None else (in_fifo, out_fifo)
        if any(fifo.time.block is None or fifo.value.block is None for fifo in fifos):
            return False
        return out_fifo is None or not out_fifo.tags.needs_marking(tag)

    def _stream_op_compiled(self, pc: int, ins: Instr, next_pc: int, element: str, cost: float, idx: np.ndarray,
                            base: np.ndarray, length: np.ndarray, in_fifo, out_fifo, offset: int, latency,
                            memory: np.ndarray, step: float) -> tuple[int, bool, list[tuple]]:
        """`_stream_op_bulk` repeated until no lane moves, in one compiled call (`stream_op_kernels`), then the
        sleeping lanes that the words moved let progress woken (as each step would have). The lanes asleep at
        this very op (`_stream_sleepers`) take part: a chain's words go through all of its PEs in this call, not
        one scheduler visit a hop (a row reduce's 64 columns), and those that moved words leave their sleep here
        (`_join_sleepers`). Returns the words moved, whether every lane is done moving (not where an output's
        value ring, deepened for a step, is no longer one block: a wafer's FIFO stacked for the interpreter,
        which `_stream_op_bulk` takes on), and the continuations of the sleepers that moved."""
        from . import stream_op_kernels  # (imports Numba: only launches with such a stream op load it)

        sending = out_fifo is not None
        out = out_fifo if sending else in_fifo  # (no output: arrays the kernel never touches)
        sleepers = self._stream_sleepers(pc, ins)
        lanes = len(idx)
        pes = idx.astype(np.int64, copy=False)
        if sleepers is not None:
            pes, base, length = (np.concatenate((whole, extra)) for whole, extra in zip((pes, base, length), sleepers))
        moved = np.zeros(len(pes), dtype=np.bool_)
        combine = COMPILED_COMBINES[ins.op, element]
        hops = np.atleast_1d(np.asarray(latency, dtype=np.float64))
        words = 0
        while True:
            moving, queue = stream_op_kernels.move_stream_words(
                combine, pes, base, length, float(cost), float(step), float(self.word_time), offset, sending,
                self.cycle, self.stall, self.progress, memory, in_fifo.pushed, in_fifo.popped, in_fifo.time.block,
                in_fifo.value.block.view(memory.dtype), out.pushed, out.popped, out.time.block,
                out.value.block.view(memory.dtype), hops, moved)
            words += moving
            if not queue:
                break
            out_fifo.make_room(queue)  # (a new ring: its fields again, in the next call)
            if out_fifo.value.block is None:
                break
        joined: list[tuple] = []
        if sleepers is not None and moved[lanes:].any():
            joined = self._join_sleepers(pc, next_pc, cost, pes[lanes:][moved[lanes:]], length[lanes:][moved[lanes:]])
        if words:
            # (the sleepers here that could move have: none is woken again for these words, unless the NumPy loop
            # goes on, whose steps wake them as ever)
            woken_already = frozenset((pc,)) if sleepers is not None and not queue else frozenset()
            movers = pes[moved]
            if sleepers is not None:
                movers = np.sort(movers)
            if sending:
                self._progress(out_fifo, True, movers + offset, woken_already)
            self._progress(in_fifo, False, movers, woken_already)
        return int(words), not queue, joined

    def _stream_sleepers(self, pc: int, ins: Instr) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """(PEs, SRAM bases, lengths) of the lanes asleep at the stream op at `pc` (event wake-up), for the compiled
        mover to take along: they wait for words or room that the group's words may bring (a chain's PEs beyond
        its wavefront). Their ranges passed the checks when they first ran, and asleep they have not changed."""
        sleeping = self.asleep.get(pc) if JOIN_SLEEPERS and self.strategy.event_wakeup else None
        if sleeping is None or sleeping.window is not None:
            return None
        pes = sleeping.indices().astype(np.int64, copy=False)
        base, length, inside = compiled_movers().transfer_ranges(self.regs[ins.a], self.regs[ins.b], pes,
                                                                 self.program.data_words)
        return (pes, base, length) if inside else None

    def _join_sleepers(self, pc: int, next_pc: int, cost: float, pes: np.ndarray, length: np.ndarray) -> list[tuple]:
        """The lanes `pes` (sorted), asleep at the stream op at `pc`, moved words in the group's compiled call: woken
        and counted as a wake-up and their own run of the op would have (`_progress`, `_run_lanes`), and returned
        as that run's continuations (done: on to `next_pc`; else asleep again, their count taken back)."""
        woken = self._wake(pc, pes)
        self._unpark(pc, woken)
        self.totals.pc_counts[pc] += woken.count
        self._flush(woken, 0.0, 1)
        return self._resumable_outcome(pc, next_pc, cost, Lanes(self.n, idx=pes), length)

    def _all_wait_for_words(self, ins: Instr, lanes: Lanes) -> bool:
        """Whether every lane of a dense or masked group passes the op's checks, has words to move and finds
        none queued (a chain's PEs before its wavefront reaches them): then the op moves nothing and the group
        waits as it came. Reductions over the group's window: no index sets. A lane that would fail a check
        (or an empty transfer, which finishes) leaves it to the general path, which raises (or finishes) in
        its order; the neighbour checks raise here as there (after the SRAM checks, which passed)."""
        base = lanes.get(self.regs[ins.a]).astype(np.int64)
        length = lanes.get(self.regs[ins.b])
        if not lanes.all((length > 0) & (base >= 0) & (base + length <= self.program.data_words)):
            return False
        fifo = self._fifo(ins.dir, ins.ch)
        if lanes.any(lanes.get(fifo.pushed) > lanes.get(fifo.popped)):
            return False
        if ins.dir != RAMP:
            self._check_neighbor(lanes, ins.dir, f"{ins.op} from")
        if ins.d != NOWHERE:
            self._check_neighbor(lanes, ins.d, ins.op)
        return True

    def _stream_op_bulk(self, pc: int, ins: Instr, cost: float, idx: np.ndarray, base: np.ndarray,
                        length: np.ndarray, in_fifo, out_fifo, offset: int, latency, tag: int, memory: np.ndarray,
                        combine, step: float) -> int:
        """Every word each lane can take now (min(words left, words queued, output room)) in one step, timed
        by the formula in closed form: t_j = max(t_{j-1} + W, x_j) with x_j = max(arrival_j, slot_j - W) is
        j W + the running maximum of x_i - i W (exact: whole cycles). No other PE runs meanwhile, so a lane's
        data and room change only by its own words; the reference strategy's mover (a word a step) gives
        the same times. Returns the words moved."""
        sending = out_fifo is not None
        # The lanes with a word queued, first: in a chain's large group, a few (a wavefront's PEs)
        with_word = np.flatnonzero(in_fifo.pushed[idx] > in_fifo.popped[idx])
        if not len(with_word):
            return 0
        idx, base, length = idx[with_word], base[with_word], length[with_word]
        done = self.progress[idx].astype(np.int64)
        count = np.minimum(length - done, (in_fifo.pushed[idx] - in_fifo.popped[idx]).astype(np.int64))
        if sending:
            owners_all = idx + offset
            queued_out = (out_fifo.pushed[owners_all] - out_fifo.popped[owners_all]).astype(np.int64)
            count = np.minimum(count, out_fifo.depth - queued_out)
        can = count > 0
        if not can.any():
            return 0
        pes, count, done, first = idx[can], count[can], done[can], base[can] + done[can]
        lanes, words = len(pes), int(count.max())
        j = np.arange(words)
        numbers = in_fifo.popped[pes].astype(np.int64)[:, None] + j
        slots = numbers % in_fifo.depth
        x = in_fifo.time.gather_run(slots, pes).astype(np.float64)  # arrivals
        values = in_fifo.value.gather_run(in_fifo.value_slots(numbers), pes)
        start = self.cycle[pes].astype(np.float64) + np.where(done == 0, cost, 0.0)
        if sending:
            owners = pes + offset
            if out_fifo.shallow:
                out_fifo.make_room(int((queued_out[can] + count).max()))
            out_numbers = out_fifo.pushed[owners].astype(np.int64)[:, None] + j
            out_slots = out_numbers % out_fifo.depth
            np.maximum(x, out_fifo.time.gather_run(out_slots, owners) - step, out=x)
        x[:, 0] = np.maximum(x[:, 0], start)
        taken = np.maximum.accumulate(x - j * step, axis=1) + j * step
        last = taken[np.arange(lanes), count - 1]
        self.stall[pes] += (last - start - (count - 1) * step).astype(self.stall.dtype)
        # the input: its slots freed when taken, the words checked against the op's type
        before = in_fifo.popped.copy() if self._tags_to_check(in_fifo, tag) else None
        in_fifo.time.scatter_run(slots, pes, taken.astype(in_fifo.time.dtype), count)
        in_fifo.popped[pes] += count.astype(in_fifo.popped.dtype)
        if before is not None:
            self._check_stream_tags(pc, ins, in_fifo, before, tag)
        movers = compiled_movers()
        own = movers.gather_word_runs(self.sram, first, pes, count, words).view(memory.dtype)
        results = combine(own, values.view(memory.dtype)).view(np.int32)
        movers.scatter_word_runs(self.sram, first, pes, count, results)
        finished = done + count >= length[can]
        if sending:
            marking = out_fifo.tags.needs_marking(tag)
            pushed_before = out_fifo.pushed.copy() if marking else None
            hop = latency if np.isscalar(latency) else latency[pes][:, None]
            out_fifo.value.scatter_run(out_fifo.value_slots(out_numbers), owners, results, count)
            out_fifo.time.scatter_run(out_slots, owners, (taken + step + hop).astype(out_fifo.time.dtype), count)
            out_fifo.pushed[owners] += count.astype(out_fifo.pushed.dtype)
            if marking:
                out_fifo.tags.mark(pushed_before, out_fifo.pushed, tag)
            self.cycle[pes] = (last + step + np.where(finished, self.word_time, 0.0)).astype(self.cycle.dtype)
            self._progress(out_fifo, True, owners)
        else:
            self.cycle[pes] = (last + step).astype(self.cycle.dtype)
        self._progress(in_fifo, False, pes)
        self.progress[pes] += count.astype(self.progress.dtype)
        return int(count.sum())

    @staticmethod
    def _tags_to_check(fifo, tag: int) -> bool:
        """Whether words popped from `fifo` may carry a tag a stream op of `tag` refuses (as `_typed_recv` decides)."""
        return not fifo.tags.unchecked(tag)

    def _check_stream_tags(self, pc: int, ins: Instr, fifo, before: np.ndarray, tag: int) -> None:
        """A `WordTypeError` for a word of another type taken by the stream op (as a typed `recvv` would raise)."""
        pes, got = fifo.tags.read(before, fifo.popped)
        wrong = refuses(tag, got)
        if wrong.any():
            candidates = np.flatnonzero(wrong)
            k = int(candidates[np.lexsort((pes[candidates], self.cycle[pes[candidates]]))[0]])
            as_recv = Instr("recvv", dir=ins.dir, ch=ins.ch, flags=tag)
            raise self._word_type_error(pc, as_recv, int(pes[k]), int(got[k]), stream=ins.op)
