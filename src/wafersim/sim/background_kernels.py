"""A compiled step of background receives (`recva`, `background.BackgroundMixin`): the transfer's clock
swapped in, every word that has arrived taken into SRAM (`exchange._stream_bulk`'s bulk receive), the
PE's own clock and stall swapped back, in one pass over the lanes instead of some sixty NumPy calls on
lane-sized arrays per step (a panel of the library GEMM arrives in `depth`-word steps, each of them
such a pass over thousands of receivers).

Every figure is computed with the operations, operand types and order of the NumPy path it replaces
(float64 arithmetic on float32 or float64 times, stored back with the same rounding), so results,
cycles and statistics are bit-identical; tests/test_engine_strategies.py compares the two.

A step where every lane starts its transfer and no word has come (a panel's receivers, whose receive is posted
before the sender sends: it blocks until the stream pump has moved the panel) only swaps the clocks in and back,
in one pass (`_wait_for_first_word`: 69 -> 27 us over SUMMA's 4,032 receivers, replayed). The scheduler's path
calls `registers_receive_step`, which reads the lanes' bases and lengths from the register rows and counts the
lanes that moved and finished (NumPy's gathers and reductions around the step: some 40 us of Python a call on the
loaded 2-core VM).
"""
from __future__ import annotations

import numpy as np
from .compiled.jit import njit

from .fifo_kernels import lane_runs

#: `background_receive_step` statuses.
DONE, FALL_BACK = 0, 1


@njit(cache=True, nogil=True)
def background_receive_step(pes: np.ndarray, base: np.ndarray, length: np.ndarray, progress: np.ndarray,
                            cycle: np.ndarray, stall: np.ndarray, state: np.ndarray, pushed: np.ndarray,
                            popped: np.ndarray, time_block: np.ndarray, value_block: np.ndarray,
                            sram: np.ndarray, cost: float, whole_cycles: bool, finished: np.ndarray,
                            moved: np.ndarray) -> int:
    """One `recva` step of the lanes `pes` (sorted, distinct) from their own FIFO. `state`: the channel's
    (issue, stall, clock) rows (`background`). Writes `finished` (the transfer has all its words) and
    `moved` (the lane took a word) per lane. Returns FALL_BACK, having changed nothing, when a lane's
    transfer is empty or leaves SRAM (the NumPy path then charges or reports it), else DONE."""
    words_of_sram = sram.shape[0]
    for i in range(len(pes)):
        if length[i] <= 0 or base[i] < 0 or base[i] + length[i] > words_of_sram:
            return FALL_BACK
    if _nothing_arrived(pes, progress, pushed, popped):
        _wait_for_first_word(pes, cycle, stall, state, cost, finished, moved)
        return DONE
    depth, value_depth = time_block.shape[0], value_block.shape[0]
    lanes = len(pes)
    # Three passes, each lane's arithmetic in the NumPy path's order: the clocks in and the words' counts
    # per lane; the words, word by word with the lanes innermost (rows of the FIFO blocks and of SRAM are
    # 4 * PEs bytes apart: a lane at a time would touch a row, hence a cache line, per word); the clocks back.
    count = np.empty(lanes, dtype=np.int64)
    latest = np.empty(lanes, dtype=np.float64)
    ready = np.empty(lanes, dtype=np.float64)
    waits = np.empty(lanes, dtype=np.float64)
    slot = np.empty(lanes, dtype=np.int64)
    value_slot = np.empty(lanes, dtype=np.int64)
    row = np.empty(lanes, dtype=np.int64)
    words = 0
    previous_word, previous_slot, previous_value_slot = np.int64(-1), np.int64(0), np.int64(0)
    for i in range(lanes):
        pe = pes[i]
        # The transfer's clock in (`_background`): a new transfer starts no earlier than the last one ended.
        if progress[pe] == 0:
            state[0, pe] = cycle[pe]
            state[1, pe] = stall[pe]
            cycle[pe] = max(np.float64(cycle[pe]), state[2, pe] - cost)  # (its issue overlaps the one before)
        else:
            cycle[pe] = state[2, pe]
        # The words that have arrived (`_stream_bulk`, `fifo_kernels.receive_slot_runs`).
        done = np.int64(progress[pe])
        count[i] = min(np.int64(length[i]) - done, np.int64(pushed[pe]) - np.int64(popped[pe]))
        moved[i] = count[i] > 0
        ready[i] = np.float64(cycle[pe]) + (cost if done == 0 else 0.0)
        latest[i] = ready[i]
        waits[i] = np.float64(stall[pe])
        first_word = np.int64(popped[pe])
        if i == 0 or first_word != previous_word:  # (two divisions per lane would cost a third of the step)
            previous_word = first_word
            previous_slot, previous_value_slot = first_word % depth, first_word % value_depth
        slot[i], value_slot[i] = previous_slot, previous_value_slot
        row[i] = base[i] + done
        words = max(words, count[i])
    uniform = True  # the usual case: every lane at the same word number, row and count (a panel's step)
    for i in range(lanes):
        uniform = uniform and (count[i] == count[0] and slot[i] == slot[0] and value_slot[i] == value_slot[0]
                               and row[i] == row[0])
    if uniform and lanes and count[0] > 0:
        _take_uniform(pes, lane_runs(pes), time_block, value_block, sram, count[0], slot[0], value_slot[0],
                      row[0], latest, waits, whole_cycles)
    else:
        _take_lanes(pes, time_block, value_block, sram, count, slot, value_slot, row, latest, waits, whole_cycles,
                    words)
    for i in range(lanes):
        pe = pes[i]
        if count[i] > 0:
            popped[pe] += count[i]
            if whole_cycles:  # the waits telescope (`streams.waits_added`)
                waits[i] = np.float64(stall[pe]) + (latest[i] - ready[i] - (count[i] - 1) * 0.0)
            stall[pe] = waits[i]
            cycle[pe] = latest[i] + 0.0
            progress[pe] += count[i]
        finished[i] = progress[pe] >= length[i]
        if finished[i]:
            progress[pe] = 0
        # The PE's own clock back (`_background`): the issue paid; a lane that took no word yet retries afresh.
        state[2, pe] = cycle[pe]
        cycle[pe] = state[0, pe] + cost
        stall[pe] = state[1, pe]
        if not finished[i] and progress[pe] == 0:
            cycle[pe] = state[0, pe]
            state[2, pe] += cost  # (the end of the transfer before, where the retry finds it: `_background`)
    return DONE


@njit(cache=True, nogil=True)
def registers_receive_step(pes: np.ndarray, base_row: np.ndarray, length_row: np.ndarray, progress: np.ndarray,
                           cycle: np.ndarray, stall: np.ndarray, state: np.ndarray, pushed: np.ndarray,
                           popped: np.ndarray, time_block: np.ndarray, value_block: np.ndarray, sram: np.ndarray,
                           cost: float, whole_cycles: bool, finished: np.ndarray, moved: np.ndarray
                           ) -> tuple[int, int, int]:
    """`background_receive_step` of a `recva` whose lanes' bases and lengths are in the register rows `base_row` and
    `length_row` (its registers a and b, one int32 per PE: read here, as int64, rather than gathered by NumPy).
    Returns (the status, how many lanes took a word, how many finished their transfers)."""
    lanes = len(pes)
    base, length = np.empty(lanes, dtype=np.int64), np.empty(lanes, dtype=np.int64)
    for i in range(lanes):
        base[i], length[i] = base_row[pes[i]], length_row[pes[i]]
    status = background_receive_step(pes, base, length, progress, cycle, stall, state, pushed, popped, time_block,
                                     value_block, sram, cost, whole_cycles, finished, moved)
    took = done = 0
    if status == DONE:
        for i in range(lanes):
            took += moved[i]
            done += finished[i]
    return status, took, done


@njit(cache=True, nogil=True)
def _nothing_arrived(pes: np.ndarray, progress: np.ndarray, pushed: np.ndarray, popped: np.ndarray) -> bool:
    """Whether every lane starts its transfer (no word taken yet) and finds no word in its FIFO: a receive posted
    before its sender sent (a SUMMA panel's receivers, every step)."""
    for i in range(len(pes)):
        pe = pes[i]
        if progress[pe] != 0 or np.int64(pushed[pe]) - np.int64(popped[pe]) > 0:
            return False
    return True


@njit(cache=True, nogil=True)
def _wait_for_first_word(pes: np.ndarray, cycle: np.ndarray, stall: np.ndarray, state: np.ndarray, cost: float,
                         finished: np.ndarray, moved: np.ndarray) -> None:
    """`background_receive_step` where `_nothing_arrived`: each lane's statements of its three passes that change
    anything when no word moves and the transfer has not started (none reads another lane's), in their order: the
    transfer's clock in, then the PE's own clock and stall back, the issue not paid (it retries afresh)."""
    for i in range(len(pes)):
        pe = pes[i]
        state[0, pe] = cycle[pe]
        state[1, pe] = stall[pe]
        cycle[pe] = max(np.float64(cycle[pe]), state[2, pe] - cost)
        state[2, pe] = cycle[pe]  # (as rounded to the clocks' type)
        stall[pe] = state[1, pe]
        cycle[pe] = state[0, pe]
        state[2, pe] += cost
        moved[i] = False
        finished[i] = False


@njit(cache=True, nogil=True)
def _take_lanes(pes: np.ndarray, time_block: np.ndarray, value_block: np.ndarray, sram: np.ndarray,
                count: np.ndarray, slot: np.ndarray, value_slot: np.ndarray, row: np.ndarray, latest: np.ndarray,
                waits: np.ndarray, whole_cycles: bool, words: int) -> None:
    """The words of `background_receive_step`, lane i taking count[i] of them from its own slots and rows."""
    depth, value_depth = time_block.shape[0], value_block.shape[0]
    for j in range(words):
        for i in range(len(pes)):
            if j < count[i]:
                pe = pes[i]
                arrival = np.float64(time_block[slot[i], pe])
                before = latest[i]  # (this word's ready time: the previous take, plus no step for receives)
                if arrival > latest[i]:
                    latest[i] = arrival
                if not whole_cycles:
                    waits[i] += latest[i] - before  # (`streams.waits_added`: word by word, in order)
                sram[row[i] + j, pe] = value_block[value_slot[i], pe]
                time_block[slot[i], pe] = latest[i]
                slot[i] = slot[i] + 1 if slot[i] + 1 < depth else 0
                value_slot[i] = value_slot[i] + 1 if value_slot[i] + 1 < value_depth else 0


@njit(cache=True, nogil=True)
def _take_uniform(pes: np.ndarray, runs: np.ndarray, time_block: np.ndarray, value_block: np.ndarray,
                  sram: np.ndarray, count: int, slot: int, value_slot: int, row: int, latest: np.ndarray,
                  waits: np.ndarray, whole_cycles: bool) -> None:
    """`_take_lanes` where every lane takes `count` words from the same slots into the same rows: whole rows,
    a contiguous loop per run of consecutive PEs (`lane_runs`), the same operations per lane and word."""
    depth, value_depth = time_block.shape[0], value_block.shape[0]
    for j in range(count):
        times, values, target = time_block[slot], value_block[value_slot], sram[row + j]
        for r in range(len(runs) - 1):
            k0 = runs[r]
            length = runs[r + 1] - k0
            p0 = pes[k0]
            t_run, v_run, s_run = times[p0:p0 + length], values[p0:p0 + length], target[p0:p0 + length]
            l_run, w_run = latest[k0:k0 + length], waits[k0:k0 + length]
            if whole_cycles:  # (the waits telescope: no per-word sum, a loop LLVM vectorises)
                for t in range(length):
                    arrival = np.float64(t_run[t])
                    l_run[t] = arrival if arrival > l_run[t] else l_run[t]
                    s_run[t] = v_run[t]
                    t_run[t] = l_run[t]
            else:
                for t in range(length):
                    arrival = np.float64(t_run[t])
                    before = l_run[t]
                    if arrival > l_run[t]:
                        l_run[t] = arrival
                    w_run[t] += l_run[t] - before
                    s_run[t] = v_run[t]
                    t_run[t] = l_run[t]
        slot = slot + 1 if slot + 1 < depth else 0
        value_slot = value_slot + 1 if value_slot + 1 < value_depth else 0
