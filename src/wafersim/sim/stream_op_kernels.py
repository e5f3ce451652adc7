"""The stream ops' bulk mover (`StreamOpsMixin._stream_op_bulk`'s loop) in one compiled call.

`move_stream_words` moves, for each lane of a stream op's group, every word that its input FIFO holds and its
output FIFO has room for, with the times of `_stream_op_bulk`'s closed form (t_j = j W + the running maximum
of x_i - i W, x_i = max(arrival_i, slot_i - W), x_0 also at least the issue end), lane after lane, until a
pass over the group moves nothing, the passes taking the lanes in turn forwards and backwards, so that a chain's
words cross it in a pass or two whichever way they flow (the group may hold the whole chain: the lanes asleep at
the op, `StreamOpsMixin._stream_sleepers`). NumPy's loop moves every lane's words of one pass at once and then passes
again for the words a lane of the group fed another (a chain's neighbours); the words each lane takes, their
times and results are the same in any order, since a lane's times depend only on the times of its own FIFO
slots (each written once a pass by the one lane that owns it) and the same words split into steps give the
same closed form (t_j telescopes over a step's end: the next step starts from t_last + W). Every time is a
whole number of cycles here (`WaveSim.whole_times`), so each sum and difference is exact in float64 and in
the engine's float32.

Only the element-wise combines that this loop computes as NumPy does are here (`stream_ops.COMPILED_COMBINES`):
float32 and int32 addition (`vaddx`) and int32 maximum and minimum (`vmaxx`, `vminx` on int32 words). The
others (float maxima and minima, whose NaN and signed-zero choices follow NumPy's loops, and the float16 ops)
stay on the NumPy path.
"""
from __future__ import annotations

import numpy as np

from .compiled.arith import fadd
from .compiled.jit import njit


@njit(cache=True, nogil=True)
def move_stream_words(combine, idx, base, length, cost, step, word_time, offset, sending, cycle, stall, progress,
                      memory, in_pushed, in_popped, in_time, in_values, out_pushed, out_popped, out_time,
                      out_values, latency, moved):
    """Move every word each lane of `idx` (distinct PEs, in any order) can take now (module docstring), combined
    as `combine` says (`stream_ops.COMPILED_COMBINES`: 0 add, 1 maximum, 2 minimum); `moved[i]` set for the lanes
    that moved some. `memory` and the value rings are viewed as the op's element type (float32 or int32);
    `latency` holds one link latency for every PE, or a single one. Returns (the words moved, 0), or (the words
    moved so far, the queue a lane's step would leave) where the output's value ring is too shallow for that
    step: the caller deepens it (`Fifo.make_room`, as `_stream_op_bulk` would) and calls again."""
    in_depth, in_ring = in_time.shape[0], in_values.shape[0]
    out_depth, out_ring = out_time.shape[0], out_values.shape[0]
    words = 0
    passing = True
    forward = True
    lanes = len(idx)
    while passing:
        passing = False
        for k in range(lanes):
            i = k if forward else lanes - 1 - k
            pe = idx[i]
            queued = np.int64(in_pushed[pe]) - np.int64(in_popped[pe])
            if queued <= 0:
                continue
            done = np.int64(progress[pe])
            count = min(length[i] - done, queued)
            owner = pe + offset
            out_first = np.int64(0)
            if sending:
                out_first = np.int64(out_pushed[owner])
                out_queued = out_first - np.int64(out_popped[owner])
                count = min(count, out_depth - out_queued)
                if count > 0 and out_queued + count > out_ring:
                    return words, out_queued + count  # (the value ring must be deepened first)
            if count <= 0:
                continue
            start = np.float64(cycle[pe]) + (cost if done == 0 else 0.0)
            hop = latency[pe] if len(latency) > 1 else latency[0]
            in_first = np.int64(in_popped[pe])
            row = base[i] + done
            # (the slots, stepped and wrapped: no division a word)
            in_slot, in_value_slot = in_first % in_depth, in_first % in_ring
            out_slot, out_value_slot = out_first % out_depth, out_first % out_ring
            running = -np.inf
            taken = 0.0
            for j in range(count):
                x = np.float64(in_time[in_slot, pe])
                if sending:
                    x = max(x, np.float64(out_time[out_slot, owner]) - step)
                if j == 0:
                    x = max(x, start)
                running = max(running, x - j * step)
                taken = running + j * step
                value = in_values[in_value_slot, pe]
                own = memory[row + j, pe]
                if combine == 0:  # (of two NaNs the first operand's, quieted, as NumPy's scalar add: `arith.fadd`)
                    result = fadd(own, value)
                elif combine == 1:
                    result = max(own, value)
                else:
                    result = min(own, value)
                memory[row + j, pe] = result
                in_time[in_slot, pe] = taken
                in_slot += 1
                if in_slot == in_depth:
                    in_slot = 0
                in_value_slot += 1
                if in_value_slot == in_ring:
                    in_value_slot = 0
                if sending:
                    out_values[out_value_slot, owner] = result
                    out_time[out_slot, owner] = taken + step + hop
                    out_slot += 1
                    if out_slot == out_depth:
                        out_slot = 0
                    out_value_slot += 1
                    if out_value_slot == out_ring:
                        out_value_slot = 0
            stall[pe] += taken - start - (count - 1) * step
            in_popped[pe] += count
            progress[pe] += count
            if sending:
                out_pushed[owner] += count
                cycle[pe] = taken + step + (word_time if done + count >= length[i] else 0.0)
            else:
                cycle[pe] = taken + step
            moved[i] = True
            words += count
            passing = True
        forward = not forward
    return words, 0
