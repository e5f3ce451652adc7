"""Vector transfers (`sendv` / `recvv`) of large lockstep groups: whole FIFO rows, no gathers.

A large dense group (full or complement form, see `lanes`) whose lanes all move the same SRAM words,
from the start of the transfer, with room (send) or data (receive) for all of them, moves its words as
whole rows of the FIFO (views over the group's window).

Where every time is a whole number of cycles (`Strategy.stream_rows`), all words move at once (one compiled
call, `stream_row_kernels`, where the FIFO's fields are one block; else NumPy over runs of ring rows): a
sender's word k departs at max(ready_k, when its slot was freed), ready_0 = cycle + cost and
ready_k = departure_(k-1) + word_time, and arrives a link latency later; a receiver takes word k at
max(taken_(k-1), its arrival), taken_(-1) = cycle + cost; the stall added is the sum of the waits,
which telescopes to one difference. Sums of whole numbers below 2**24 are exact in float32 and
float64 alike, so these are the times and stalls of the word-by-word sequence (scalar sends and
receives of whole rows, `ExchangeMixin._push_rows` / `_pop_rows`, used otherwise) with about a third of
its passes over memory (tests/test_engine_strategies.py compares both).
"""
from __future__ import annotations

import importlib
from types import ModuleType

import numpy as np

from ..isa.encoding import Instr
from ..isa.opcodes import RAMP
from . import parallel
from .fabric import Fifo, SlotRows
from .lanes import Lanes

#: The largest group whose whole transfer runs in one compiled call (`_whole_in_one`): the call saves the NumPy
#: path's ~40 calls (tens of us) but its checking and clock loops cost a few ns a lane more than NumPy's
#: vectorised passes, so past ~10,000 lanes it loses (stop 49, same process, strategy on/off alternating, 2-core
#: AMD EPYC: BiCGSTAB's 992-lane halo transfers 0.34 -> 0.25 s a launch with it, the tridiagonal solves' 62,748-lane
#: ones 0.10 -> 0.12 s).
WHOLE_MAX_LANES = 8192


class StreamRowsMixin:
    """Whole-row vector transfers of large lockstep groups for `WaveSim` (see the module docstring)."""

    def _stream_lockstep(self, ins: Instr, cost: float, lanes: Lanes, offset: int, fifo: Fifo,
                         sending: bool) -> bool:
        """A whole transfer of a large group whose lanes all move the same SRAM words, from the start, with
        room (send) or data (receive) for all of them: row by row where times are whole cycles, else word by
        word as scalar sends or receives of whole rows (views over the group's window, no gathers), on the
        engine's threads. The same times and values as `_stream_words`. False (nothing done) otherwise."""
        if self._whole_in_one(ins, cost, lanes, offset, fifo, sending):
            return True
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

    #: (instruction, lanes) -> what a whole transfer of these lanes there takes that stays the same from call to
    #: call (`_whole_statics`; a memoized split's lanes come back as the same object: a halo exchange's 2,560 a
    #: launch), kept per instruction for its last lanes; made on first use, dropped with the wave's FIFOs.
    _whole_kept: dict[int, tuple] | None = None
    #: id(instruction) -> (instruction, lanes) that last passed `_whole_owing`'s tests of the lanes (likewise)
    _owing_passed: dict[int, tuple] | None = None

    def _whole_owing(self, ins: Instr, cost: float, lanes: Lanes) -> bool:
        """A `sendv` / `recvv` of `WaveSim._run_lanes`' group, its lanes owing issue cycles, as `_whole_in_one`
        with the owed cycles in `cost` (exact: whole numbers; its clocks are then written from the words' times):
        where nothing between the scheduler and `_whole_in_one` would act first (a link to wait for, words' tags
        to mark or check, a neighbour not yet checked for these lanes). True if the words moved; False (nothing
        done: the owed cycles are then settled and the transfer run as any other) otherwise."""
        sending = ins.op == "sendv"
        passed = self._owing_passed
        if passed is None:
            passed = self._owing_passed = {}
        kept = passed.get(id(ins))
        if kept is None or kept[0] is not ins or kept[1] is not lanes:  # (else these lanes passed these tests,
            key = self._neighbour_key(lanes, ins.dir)  # which nothing undoes: a neighbour checked stays checked)
            if (ins.dir == RAMP or key is None or key not in self.checked_neighbors
                    or not self._moves_lockstep(lanes)):
                return False
            passed[id(ins)] = (ins, lanes)
        if sending and self.background:
            return False
        fifo = self._fifo((ins.dir + 2) % 4 if sending else ins.dir, ins.ch)
        if fifo.tags.needs_marking(ins.flags) if sending else not fifo.tags.unchecked(ins.flags):
            return False
        return self._whole_in_one(ins, cost, lanes, self.region.offset(ins.dir) if sending else 0, fifo, sending)

    def _whole_in_one(self, ins: Instr, cost: float, lanes: Lanes, offset: int, fifo: Fifo, sending: bool) -> bool:
        """`_stream_lockstep`'s whole transfer in one compiled call (`stream_whole_kernels`), where a thread moves
        the group's rows at once (not in parts) in one block per FIFO field: True if it moved the words (the
        FIFO's waiters woken), False (nothing done) where a test of that path fails or it does not apply."""
        if type(cost) is not float or fifo.time.block is None or fifo.value.block is None:
            return False
        statics = self._whole_statics(ins, lanes, offset, sending)
        if statics is None:
            return False
        kernels = whole_kernels()
        box = self._whole_box  # (the clocks' type, for the Python floats: `stream_whole_kernels`)
        if box is None or box.dtype != self.cycle.dtype:
            box = self._whole_box = np.empty(4, self.cycle.dtype)
        if sending:
            if fifo.shallow:  # (the value ring deepens first: the NumPy path)
                return False
            src_lo, dst_lo, m, excl, hop, per_pe, dst = statics
            if not kernels.send_whole(
                    self.regs, ins.a, ins.b, self.progress, fifo.pushed, fifo.popped, fifo.depth, fifo.time.block,
                    fifo.value.block, self.sram, self.cycle, self.stall, src_lo, dst_lo, m, excl,
                    self.program.data_words, cost, float(self.word_time), hop, per_pe, box):
                return False
            self._progress(fifo, True, dst)
            return True
        m, excl = statics
        if not kernels.receive_whole(
                self.regs, ins.a, ins.b, self.progress, fifo.pushed, fifo.popped, fifo.time.block, fifo.value.block,
                self.sram, self.cycle, self.stall, m, excl, self.program.data_words, cost, box):
            return False
        self._progress(fifo, False, lanes)
        return True

    _whole_box: np.ndarray | None = None  # (`_whole_in_one`'s four entries of the clocks' type, reused)

    def _whole_statics(self, ins: Instr, lanes: Lanes, offset: int, sending: bool) -> tuple | None:
        """What `_whole_in_one` passes for these lanes at `ins` that never changes in a wave (its tests of the
        strategy, the group's form and size and the threads; the windows, exclusions and link latencies), or
        None where those tests fail: kept for the instruction's last lanes (`_whole_kept`)."""
        kept_all = self._whole_kept
        if kept_all is None:
            kept_all = self._whole_kept = {}
        kept = kept_all.get(id(ins))
        if kept is not None and kept[0] is ins and kept[1] is lanes:
            return kept[2]
        statics = None
        if (self.strategy.fused_stream_rows and lanes.window is None and self._rows_apply(lanes)
                and lanes.count <= WHOLE_MAX_LANES
                and not (parallel.thread_count() >= 2 and lanes.count >= parallel.PARALLEL_LANES)):
            if sending:
                src, dst = lanes.shifted_pair(offset)
                latency = self.region.link_latency(ins.dir) if ins.dir != RAMP else 0.0
                per_pe = not np.isscalar(latency)
                hop = src.window_view(latency) if per_pe else np.array([latency], dtype=np.float64)
                statics = (window_start(src), window_start(dst), src.n, excluded(src), hop, per_pe, dst)
            else:
                statics = (lanes.n, excluded(lanes))
        kept_all[id(ins)] = (ins, lanes, statics)
        return statics

    def _rows_apply(self, *groups: Lanes) -> bool:
        return (self.strategy.stream_rows and self.whole_times and self.tracer is None and self.strategy.lockstep
                and all(group.is_dense for group in groups))

    def _send_rows(self, src: Lanes, dst: Lanes, base: int, length: int, fifo: Fifo, cost: float,
                   latency: float | np.ndarray, most_queued: int) -> bool:
        """Push `length` words from SRAM rows base.. of every sender, all receivers being at one word number:
        all words at once over runs of ring rows (`ring_runs`), a large group in parts on the engine's
        threads; False (nothing done) where that does not apply."""
        if not self._rows_apply(src, dst):
            return False
        first = dst.all_equal(dst.get(fifo.pushed))
        if first is None:
            return False
        first = int(first)
        for k in range(length if fifo.shallow else 0):  # (the ring deepens as word-by-word pushes would)
            if fifo.shallow:
                fifo.make_room(1 + most_queued + k)
        compiled = fifo.time.block is not None and fifo.value.block is not None
        if not compiled:  # (rows allocated before the threads: two allocating one at once lose a part's words)
            for k in range(length):
                fifo.allocate_rows(first + k)

        def move(src: Lanes, dst: Lanes) -> None:
            ready = src.window_view(self.cycle) + cost
            if compiled:  # (one call: `stream_row_kernels`)
                per_pe = not np.isscalar(latency)
                hop = src.window_view(latency) if per_pe else np.array([latency], dtype=np.float64)
                last = row_kernels().send_rows(
                    fifo.time.block, fifo.value.block, self.sram, self.cycle, window_start(src), window_start(dst),
                    src.n, excluded(src), first, length, base, float(cost), float(self.word_time), hop,
                    per_pe).astype(ready.dtype)
            else:
                last = self._send_runs(src, dst, ready, ring_runs(fifo.time, first, length),
                                       ring_runs(fifo.value, first, length), base, length, latency)
            src.put(self.cycle, last + self.word_time)
            # The waits of all words: the sum over k of depart_k - ready_k, ready_k = depart_(k-1) + word_time.
            self._add_rows_stall(src, last - (length - 1) * self.word_time, ready)
            dst.add(fifo.pushed, length)

        self._in_parts(move, src, dst)
        return True

    def _receive_rows(self, lanes: Lanes, base: int, length: int, fifo: Fifo, cost: float) -> bool:
        """Pop `length` words into SRAM rows base.. of every lane, all being at one word number: all words at
        once over runs of ring rows (`ring_runs`), a large group in parts on the engine's threads; False
        (nothing done) where that does not apply."""
        if not self._rows_apply(lanes):
            return False
        first = lanes.all_equal(lanes.get(fifo.popped))
        if first is None:
            return False
        first = int(first)
        compiled = fifo.time.block is not None and fifo.value.block is not None
        if not compiled:  # (rows allocated before the threads, as in `_send_rows`)
            for k in range(length):
                fifo.allocate_rows(first + k)

        def move(lanes: Lanes) -> None:
            ready = lanes.window_view(self.cycle) + cost
            if compiled:  # (one call: `stream_row_kernels`)
                last = row_kernels().receive_rows(
                    fifo.time.block, fifo.value.block, self.sram, self.cycle, window_start(lanes), lanes.n,
                    excluded(lanes), first, length, base, float(cost)).astype(ready.dtype)
            else:
                last = self._receive_runs(lanes, ready, ring_runs(fifo.time, first, length),
                                          ring_runs(fifo.value, first, length), base, length)
            lanes.add(fifo.popped, length)
            lanes.put(self.cycle, last)
            self._add_rows_stall(lanes, last, ready)  # the waits of all words: taken_last - ready_0

        self._in_parts(move, lanes)
        return True

    def _send_runs(self, src: Lanes, dst: Lanes, ready: np.ndarray, time_runs: list, value_runs: list, base: int,
                   length: int, latency: float | np.ndarray) -> np.ndarray:
        """`_send_rows`' words in NumPy, over runs of ring rows (`ring_runs`): each sender's last departure."""
        # depart_k = max(ready + k * word_time, max over j <= k of (slot_j + (k - j) * word_time)): the
        # recurrence depart_k = max(depart_(k-1) + word_time, slot_k) (word k waits for word k - depth to
        # leave its slot) unrolled; whole numbers, so every step is exact, as in the recurrence.
        depart = gather_runs(time_runs, dst, ready.dtype)
        steps = (np.arange(length) * self.word_time).astype(ready.dtype)[:, np.newaxis]
        depart -= steps
        running_max(depart)
        np.maximum(depart, ready, out=depart)
        depart += steps
        last = depart[-1].copy()
        depart += latency if np.isscalar(latency) else src.window_view(latency)  # now: arrivals
        for k0, k1, rows in time_runs:
            dst.put(rows, depart[k0:k1])
        words = self.sram[base:base + length]
        for k0, k1, rows in value_runs:
            dst.put(rows, src.window_view(words[k0:k1]))
        return last

    def _receive_runs(self, lanes: Lanes, ready: np.ndarray, time_runs: list, value_runs: list, base: int,
                      length: int) -> np.ndarray:
        """`_receive_rows`' words in NumPy, over runs of ring rows (`ring_runs`): each lane's last taken time."""
        # Word k is taken when it has arrived and word k - 1 was taken: taken_k = max(ready, arrival_0..k).
        taken = gather_runs(time_runs, lanes, ready.dtype)
        running_max(taken)
        np.maximum(taken, ready, out=taken)
        for k0, k1, rows in time_runs:  # now: when each slot was freed
            lanes.put(rows, taken[k0:k1])
        words = self.sram[base:base + length]
        for k0, k1, rows in value_runs:
            lanes.put(words[k0:k1], lanes.window_view(rows))
        return taken[-1]

    @staticmethod
    def _in_parts(move, *groups: Lanes) -> None:
        """move(*groups), or move(*part) for each part of aligned groups on the engine's threads: each part
        touches only its own window positions, with the same operations as one call."""
        parts = parallel.parts_of(list(groups))
        if parts is None:
            move(*groups)
        else:
            parallel.run(move, parts)


def ring_runs(field: SlotRows, first: int, length: int) -> list[tuple[int, int, np.ndarray]]:
    """The slots of words first .. first + length - 1 (at most the ring's depth) of a FIFO field, as runs
    (k0, k1, rows): words first + k0 .. first + k1 - 1 are the rows of `rows`, a (k1 - k0, PEs) view. Two
    runs at most for a field held as one block (the ring wraps once), a row each otherwise; rows are
    allocated here (never on the engine's threads)."""
    depth = len(field.rows)
    if field.block is None:
        return [(k, k + 1, field[(first + k) % depth][np.newaxis]) for k in range(length)]
    start = first % depth
    head = min(length, depth - start)
    runs = [(0, head, field.block[start:start + head])]
    if head < length:
        runs.append((head, length, field.block[:length - head]))
    return runs


def gather_runs(runs: list[tuple[int, int, np.ndarray]], lanes: Lanes, dtype) -> np.ndarray:
    """The window of `lanes` in the rows of `runs` (`ring_runs`), as one new (words, window) array of `dtype`."""
    views = [lanes.window_view(rows) for _, _, rows in runs]
    return views[0].astype(dtype) if len(views) == 1 else np.concatenate(views).astype(dtype, copy=False)


def running_max(rows: np.ndarray) -> np.ndarray:
    """rows[k] = max(rows[0..k]) in place, a row at a time (`np.maximum.accumulate` down the rows of a (16, 1,024)
    array takes ~10x as long: a strided inner loop per column)."""
    views = list(rows)  # (views made at once: `rows[k]` one at a time costs several times the maximum itself)
    for previous, row in zip(views, views[1:]):
        np.maximum(previous, row, out=row)
    return rows


_KERNELS: dict[str, ModuleType] = {}  # (modules once imported: an import statement at every transfer costs some us)


def _kernels(name: str) -> ModuleType:
    """The compiled-kernel module `name` of this package, imported on first use (it imports Numba)."""
    module = _KERNELS.get(name)
    if module is None:
        module = _KERNELS[name] = importlib.import_module(f"{__package__}.{name}")
    return module


def row_kernels() -> ModuleType:
    """The `stream_row_kernels` module, imported on first use."""
    return _kernels("stream_row_kernels")


def whole_kernels() -> ModuleType:
    """The `stream_whole_kernels` module, imported on first use."""
    return _kernels("stream_whole_kernels")


def window_start(lanes: Lanes) -> int:
    """The first PE of a group's window (0 unwindowed)."""
    return 0 if lanes.window is None else int(lanes.window.start)


_NONE_EXCLUDED = np.empty(0, dtype=np.int64)


def excluded(lanes: Lanes) -> np.ndarray:
    """A dense group's excluded window positions as int64 (none for a full group)."""
    return _NONE_EXCLUDED if lanes.excl is None else np.ascontiguousarray(lanes.excl, dtype=np.int64)
