"""A compiled step of background receives (`recva`, `background.BackgroundMixin`): the transfer's clock
swapped in, every word that has arrived taken into SRAM (`exchange._stream_bulk`'s bulk receive), the
PE's own clock and stall swapped back, in one pass over the lanes instead of some sixty NumPy calls on
lane-sized arrays per step (a panel of the library GEMM arrives in `depth`-word steps, each of them
such a pass over thousands of receivers).

Every figure is computed with the operations, operand types and order of the NumPy path it replaces
(float64 arithmetic on float32 or float64 times, stored back with the same rounding), so results,
cycles and statistics are bit-identical; tests/test_engine_strategies.py compares the two.
"""
from __future__ import annotations

import numpy as np
from numba import njit

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
    depth, value_depth = time_block.shape[0], value_block.shape[0]
    for i in range(len(pes)):
        pe = pes[i]
        # The transfer's clock in (`_background`): a new transfer starts no earlier than the last one ended.
        if progress[pe] == 0:
            state[0, pe] = cycle[pe]
            state[1, pe] = stall[pe]
            cycle[pe] = max(np.float64(cycle[pe]), state[2, pe])
        else:
            cycle[pe] = state[2, pe]
        # The words that have arrived (`_stream_bulk`, `fifo_kernels.receive_slot_runs`).
        done = np.int64(progress[pe])
        count = min(np.int64(length[i]) - done, np.int64(pushed[pe]) - np.int64(popped[pe]))
        moved[i] = count > 0
        if count > 0:
            ready = np.float64(cycle[pe]) + (cost if done == 0 else 0.0)
            latest = ready
            waits = np.float64(stall[pe])
            first_word = np.int64(popped[pe])
            slot, value_slot = first_word % depth, first_word % value_depth
            row = base[i] + done
            for j in range(count):
                arrival = np.float64(time_block[slot, pe])
                before = latest  # (this word's ready time: the previous take, plus no step for receives)
                if arrival > latest:
                    latest = arrival
                if not whole_cycles:
                    waits += latest - before  # (`streams.waits_added`: word by word, in order)
                sram[row + j, pe] = value_block[value_slot, pe]
                time_block[slot, pe] = latest
                slot = slot + 1 if slot + 1 < depth else 0
                value_slot = value_slot + 1 if value_slot + 1 < value_depth else 0
            popped[pe] += count
            if whole_cycles:  # the waits telescope (`streams.waits_added`)
                waits = np.float64(stall[pe]) + (latest - ready - (count - 1) * 0.0)
            stall[pe] = waits
            cycle[pe] = latest + 0.0
            progress[pe] += count
        finished[i] = progress[pe] >= length[i]
        if finished[i]:
            progress[pe] = 0
        # The PE's own clock back (`_background`): the issue paid; a lane that took no word yet retries afresh.
        state[2, pe] = cycle[pe]
        cycle[pe] = state[0, pe] + cost
        stall[pe] = state[1, pe]
        if not finished[i] and progress[pe] == 0:
            cycle[pe] = state[0, pe]
    return DONE
