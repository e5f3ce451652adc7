"""The common case of a neighbour transfer in the compiled interpreter, on its own short path: a scalar `send` or
`recv` (one word from or into a register) whose word's tag the transfer accepts (a FIFO's words carry one tag,
`meta`'s uniform one, or a tag each, `tags`). `interpreter.run_group` tries it before the general
`transfers.transfer`, which serves every transfer kind (vector transfers, stream ops, the marking of tags per slot,
refusals) and so keeps every fabric array and many more values live: inlined into the interpreter's loop, it spilled
them to a large stack frame, and a scalar word paid for that set-up (stop 44's profile: two thirds of the
interpreter's time in bitonic). Here a transfer reads only the arrays one word touches.

A case this path does not serve (across the block's edge, a tag it would refuse, a FIFO whose words in flight must
first be marked per slot, a value ring too shallow for the push) it leaves untouched and answers `GENERAL`: the
caller then runs the general transfer, which does what it always did. What it does serve it does as `transfer` does
it, operation for operation (the same times, stalls, tags, parking and wake-ups), so results and cycle counts are bit
for bit the same.
"""
from __future__ import annotations

import numpy as np

from .fabric_ops import HELD, MOVED, PER_SLOT, POPPED, PUSHED, SENDER_OFFSET, UNIFORM, WAITS, refuses, ring_slot, wake
from .jit import njit
from .kinds import BLOCKED, GO_ON, K_SEND
from .table import A, D, DIR, FIFO, LANE_ROW, TAG

GENERAL = -1  # what `scalar_transfer` answers for a transfer it leaves to `transfers.transfer`


@njit(cache=True, nogil=True, error_model="numpy", _nrt=False, forceinline=True)
def scalar_transfer(kind, pc, i, owed, run_done, fields, costs, regs, lane_constants, times, counts, resume,
                    fifo_time, fifo_value, pushed, popped, tags, meta, offsets, latency, word_time, stall, parked,
                    ready, ready_top, joined, joined_top):
    """PE i runs the scalar `send` or `recv` (`kind`) at `pc`, owing `owed` cycles and `run_done` instructions of
    its run, if this path serves it; returns GO_ON (done: `times[i]` is its cycle less what it owes), BLOCKED
    (parked as `transfers.transfer` parks it) or GENERAL (nothing done: the caller runs `transfers.transfer`).
    The arrays are the fabric's (`fabric_ops`), by their names there."""
    f, tag = fields[FIFO, pc], fields[TAG, pc]
    if lane_constants[fields[LANE_ROW, pc], i] == 0:
        return GENERAL  # across the block's edge: refused there
    moved_to = times[i] + owed
    if kind == K_SEND:
        owner = i + offsets[fields[DIR, pc]]  # the neighbour whose FIFO it pushes into
        number = pushed[f, owner]
        queued = number - popped[f, owner]
        if queued >= fifo_time.shape[1]:
            parked[i] = 2 * f + 1  # waits for a pop
            times[i] = moved_to
            counts[i] += run_done
            resume[i] = pc
            return BLOCKED
        # (tags per slot, unless no PE holds a word: then this push's is the one, `fabric_ops.drained_to_uniform`)
        drained = meta[f, PER_SLOT] != 0 and meta[f, HELD] == 0
        per_slot, uniform = meta[f, PER_SLOT] != 0 and not drained, -1 if drained else meta[f, UNIFORM]
        if queued + 1 > fifo_value.shape[1] or (not per_slot and uniform != -1 and uniform != tag):
            return GENERAL  # a ring to deepen, or the words in flight to mark per slot first
        slot = ring_slot(number, fifo_time.shape[1])
        ready_at = moved_to + costs[pc]
        later = max(ready_at, np.float64(fifo_time[f, slot, owner]))  # after word k - depth left
        stall[i] += later - ready_at
        fifo_value[f, ring_slot(number, fifo_value.shape[1]), owner] = regs[fields[A, pc], i]
        fifo_time[f, slot, owner] = later + latency[fields[DIR, pc], i if latency.shape[1] > 1 else 0]
        pushed[f, owner] = number + 1
        if per_slot:  # (`WordTags.mark`)
            tags[f, slot, owner] = tag
            meta[f, HELD] += 1
        else:
            meta[f, UNIFORM], meta[f, PER_SLOT] = tag, 0
        meta[f, MOVED] |= PUSHED
        if 0 <= owner < parked.shape[0] and (parked[owner] & WAITS) == 2 * f:  # it waits for this push
            wake(owner, parked, resume, ready, ready_top, joined, joined_top)
        times[i] = later + word_time - owed - costs[pc]
        return GO_ON
    number = popped[f, i]
    if pushed[f, i] == number:
        parked[i] = 2 * f  # waits for a push
        times[i] = moved_to
        counts[i] += run_done
        resume[i] = pc
        return BLOCKED
    slot = ring_slot(number, fifo_time.shape[1])
    got = tags[f, slot, i] if meta[f, PER_SLOT] != 0 else meta[f, UNIFORM]  # (`WordTypeMixin._typed_recv`)
    if refuses(tag, got):
        return GENERAL  # a word it refuses
    ready_at = moved_to + costs[pc]
    later = max(ready_at, np.float64(fifo_time[f, slot, i]))  # its word's arrival
    stall[i] += later - ready_at
    word = fifo_value[f, ring_slot(number, fifo_value.shape[1]), i]
    fifo_time[f, slot, i] = later  # now: when the slot was freed
    popped[f, i] = number + 1
    meta[f, MOVED] |= POPPED
    if meta[f, PER_SLOT] != 0:
        meta[f, HELD] -= 1
    d = fields[D, pc]
    if d != 0:
        regs[d, i] = word
    sender = i + meta[f, SENDER_OFFSET]
    if 0 <= sender < parked.shape[0] and (parked[sender] & WAITS) == 2 * f + 1:  # it waits for this pop
        wake(sender, parked, resume, ready, ready_top, joined, joined_top)
    times[i] = later - owed - costs[pc]
    return GO_ON
