"""Merging the segments of `interpreter.run_group` that reach one program counter (the sides of a branch
reconverging, woken PEs catching up), so that their lanes run each instruction together again."""
from __future__ import annotations

import numpy as np
from .jit import njit

MAX_SEGMENTS = 256  # past this many segments at once, the PEs of a new split run PE by PE


@njit(cache=True, nogil=True)
def call_buffers(chunk, steady):
    """The work arrays of one call of `interpreter.run_group` taking `chunk` PEs at a time: `order` (segments
    are ranges of this buffer of PEs), `taken` (a branch's conditions), the last batch of woken PEs, `spare`
    (a split's reordering), per segment (up to `MAX_SEGMENTS`) its pc, lanes order[lo:hi], the issue cycles
    and instructions every lane of it owes (not yet in times and counts) and an upper bound of its lanes'
    times (owed cycles apart), and `memo`: the conditions of steady branches, per pc (three words: `order`'s
    count of writes then, or -1, or -2 for a branch that is not steady; lo << 32 | hi of its lanes
    order[lo:hi]; taken lanes << 32 | first lane not taken), and at the end `order`'s count of writes: any
    write makes them stale. (One flat array: the PE by PE loop has no registers to spare for more live
    values.)"""
    code_words = steady.shape[0]
    memo = np.full(3 * code_words + 4, -1, dtype=np.int64)
    memo[-1] = 0
    for branch_pc in range(code_words):
        if not steady[branch_pc]:
            memo[3 * branch_pc] = -2
    return (np.empty(3 * chunk + 16, dtype=np.int64), np.empty(chunk, dtype=np.bool_), np.empty(chunk, dtype=np.int64),
            np.empty(chunk, dtype=np.int64), np.empty(MAX_SEGMENTS, dtype=np.int64),
            np.empty(MAX_SEGMENTS, dtype=np.int64), np.empty(MAX_SEGMENTS, dtype=np.int64),
            np.empty(MAX_SEGMENTS, dtype=np.float64), np.empty(MAX_SEGMENTS, dtype=np.int64),
            np.empty(MAX_SEGMENTS, dtype=np.float64), memo)


# (`_nrt=False`: no reference counting -- nothing here allocates -- since the interpreter calls this at every segment
# it picks while others wait, and each array's count is an atomic increment and decrement; stop 46)
@njit(cache=True, nogil=True, _nrt=False)
def merge_at(pc, best, segments, top, order, seg_pc, seg_lo, seg_hi, seg_cost, seg_done, seg_late, times, counts,
             memo, fast_on):
    """Merge every segment at `pc` (segment `best` among them) into one; returns (best, segments, top): the
    merged segment's number, how many segments there are and the first free slot of `order` (the live
    segments compacted to its front, in place, when its end is reached). Segments are order[seg_lo:seg_hi]
    lanes at seg_pc owing seg_cost cycles and seg_done instructions (to `times`, `counts`), seg_late a bound
    of their times; the last word of `memo` counts writes to `order` (`run_group`'s steady branches). `fast_on`: merge
    segments side by side in place (`Strategy.compiled_loops`)."""
    same = 0
    for s in range(segments):
        if seg_pc[s] == pc:
            same += seg_hi[s] - seg_lo[s]
    if same > seg_hi[best] - seg_lo[best]:  # several segments at this pc: merge them
        first, last, largest = top, 0, best
        for s in range(segments):
            if seg_pc[s] == pc:
                first, last = min(first, seg_lo[s]), max(last, seg_hi[s])
                if seg_hi[s] - seg_lo[s] > seg_hi[largest] - seg_lo[largest]:
                    largest = s
        keep_cost, keep_done = seg_cost[largest], seg_done[largest]
        late = -np.inf
        if fast_on and last - first == same:
            # Side by side in `order` (the two sides of a split, reconverging): merged where they are,
            # owing what the largest of them owes; the lanes of the others settle the difference, up
            # or down (whole cycles: the sums are exact in any order).
            s = 0
            while s < segments:
                if seg_pc[s] != pc:
                    s += 1
                    continue
                more_cost, more_done = seg_cost[s] - keep_cost, seg_done[s] - keep_done
                if more_cost != 0 or more_done != 0:
                    for k in range(seg_lo[s], seg_hi[s]):
                        i = order[k]
                        times[i] += more_cost
                        counts[i] += more_done
                late = max(late, seg_late[s] + more_cost)
                segments -= 1
                seg_pc[s], seg_lo[s], seg_hi[s] = seg_pc[segments], seg_lo[segments], seg_hi[segments]
                seg_cost[s], seg_done[s] = seg_cost[segments], seg_done[segments]
                seg_late[s] = seg_late[segments]
            best = segments
            seg_pc[best], seg_lo[best], seg_hi[best] = pc, first, last
            seg_cost[best], seg_done[best], seg_late[best] = keep_cost, keep_done, late
            segments += 1
            same = 0  # (merged: the copying merge below is skipped)
    if same > seg_hi[best] - seg_lo[best]:  # (owed cycles settled, lanes copied to the end of `order`)
        late = -np.inf
        if top + same > order.shape[0]:  # compact the live segments to the front of `order`, in place: the
            top = 0  # lowest-placed first, so that each moves down over lanes already moved, never over others
            for s in range(segments):
                if seg_hi[s] == seg_lo[s]:
                    seg_lo[s], seg_hi[s] = 0, 0
            while True:
                low = -1
                for s in range(segments):
                    if seg_hi[s] > seg_lo[s] >= top and (low < 0 or seg_lo[s] < seg_lo[low]):
                        low = s
                if low < 0:
                    break
                size = seg_hi[low] - seg_lo[low]
                for k in range(size):
                    order[top + k] = order[seg_lo[low] + k]
                seg_lo[low], seg_hi[low] = top, top + size
                top += size
        memo[memo.shape[0] - 1] += 1
        start = top
        s = 0
        while s < segments:
            if seg_pc[s] != pc:
                s += 1
                continue
            for k in range(seg_lo[s], seg_hi[s]):
                i = order[k]
                times[i] += seg_cost[s]
                counts[i] += seg_done[s]
                order[top] = i
                top += 1
            late = max(late, seg_late[s] + seg_cost[s])
            segments -= 1
            seg_pc[s], seg_lo[s], seg_hi[s] = seg_pc[segments], seg_lo[segments], seg_hi[segments]
            seg_cost[s], seg_done[s], seg_late[s] = seg_cost[segments], seg_done[segments], seg_late[segments]
        best = segments
        seg_pc[best], seg_lo[best], seg_hi[best], seg_cost[best], seg_done[best] = pc, start, top, 0.0, 0
        seg_late[best] = late
        segments += 1
    return best, segments, top
