"""Neighbour send and receive in the compiled interpreter: scalar words (`send`, `recv`) and vector
transfers (`sendv`, `recvv`), with the NumPy engine's arithmetic (sim/exchange.py, `_push`, `_pop` and
the word-by-word mover `_stream_words`), its back-pressure, word-type tags (sim/wordtypes.py) and stall.

The fabric model is timestamp-based -- a word departs at max(ready, when its slot was freed), is taken at
max(ready, its arrival) -- so a PE's results do not depend on when, in host order, it runs, only on the
words it finds: a PE runs until its FIFO is empty (receive) or full (send), then *parks* (`parked[i]`:
the FIFO and what it waits for) and the interpreter runs others; a push or pop on that FIFO moves it to
the `ready` stack (the work list the interpreter drains), so no PE is ever re-tested in vain.

The FIFOs of a wave are stacked (`FabricState`, sim/compiled/fabric_state.py): per FIFO number f,
time[f, slot, PE], value[f, slot, PE] (a ring of `value.shape[1]` slots, maybe shallower than the
FIFO: a push that would overflow it is refused, and the NumPy engine deepens it), pushed/popped[f, PE],
tags[f, slot, PE] with meta[f] = (uniform tag or -1, whether tags are per slot, flat offset from a FIFO's
owner to its sender, pushes | pops seen). All times are whole cycles here (the interpreter only runs
then), so float64 arithmetic stored into float32 arrays is exact.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from .kinds import BLOCKED, GO_ON, K_RECV, K_SEND, K_SENDV, REFUSED
from .table import A, B, D, DIR, FIFO, KIND, LANE_ROW, TAG

# Columns of the per-FIFO `meta` array.
UNIFORM, PER_SLOT, SENDER_OFFSET, MOVED = 0, 1, 2, 3
PUSHED, POPPED = 1, 2  # bits of meta[f, MOVED]
RAW = 0  # the untyped word tag (isa.opcodes.WORD_TAG["raw"]): never checked


@njit(cache=True, inline="always")
def _wake(pe, key, parked, ready, ready_top):
    """Move `pe` to the work list if it is parked waiting for `key` (FIFO * 2 + 0: a push, + 1: a pop)."""
    if parked[pe] == key:
        parked[pe] = -1
        ready[ready_top[0]] = pe
        ready_top[0] += 1


@njit(cache=True, inline="always")
def _tag_word(f, slot, owner, tag, tags, meta):
    """Record the tag of a word pushed into slot `slot` (`WordTags.needs_marking` and `mark`)."""
    if meta[f, PER_SLOT] == 0:
        if meta[f, UNIFORM] == -1 or meta[f, UNIFORM] == tag:
            meta[f, UNIFORM] = tag
            return
        tags[f, :, :] = meta[f, UNIFORM]  # the words in flight all carry the uniform tag
        meta[f, PER_SLOT] = 1
    tags[f, slot, owner] = tag


@njit(cache=True, inline="always")
def _wrong_tag(f, slot, i, tag, tags, meta) -> bool:
    """Whether a receive typed `tag` may not take the word in slot `slot` (`WordTypeMixin._typed_recv`)."""
    if tag == RAW:
        return False
    got = tags[f, slot, i] if meta[f, PER_SLOT] != 0 else meta[f, UNIFORM]
    return got != -1 and got != RAW and got != tag


@njit(cache=True)
def fabric_op(kind, pc, i, now, fields, costs, regs, sram, lane_constants, time, value, pushed, popped, tags, meta,
              offsets, latency, word_time, progress, stall, parked, ready, ready_top):
    """Execute the neighbour transfer at `pc` for PE `i`, whose cycle is `now`: (status, its cycle after).

    GO_ON: done (issue cost included); BLOCKED: parked at it (a vector transfer keeps its progress);
    REFUSED: the NumPy engine must run it (it raises, or deepens a value ring) -- nothing moved, or, for
    a vector transfer, the words moved so far are kept in `progress`. The FIFO arguments are the unpacked
    `fabric` tuple of `run_group` (arrays passed one by one: a tuple unpacked per call costs reference
    counting of each array)."""
    if lane_constants[fields[LANE_ROW, pc], i] == 0:
        return REFUSED, now  # across the block's edge: a MeshBoundaryError
    f, tag, direction = fields[FIFO, pc], fields[TAG, pc], fields[DIR, pc]
    depth, rings = time.shape[1], value.shape[1]
    cost = costs[pc]
    sending = kind == K_SEND or kind == K_SENDV
    owner = i + offsets[direction] if sending else i
    scalar = kind == K_SEND or kind == K_RECV
    if scalar:
        base, length, done = np.int64(0), np.int64(1), np.int64(0)
    else:
        base, length, done = np.int64(regs[fields[A, pc], i]), np.int64(regs[fields[B, pc], i]), np.int64(progress[i])
        if length < 0 or base < 0 or base + length > sram.shape[0]:
            return REFUSED, now  # a MemoryAccessError
        if length == 0:
            return GO_ON, now + cost  # an empty transfer still costs its issue
    t = now
    status = GO_ON
    lat_pe = i if latency.shape[1] > 1 else 0
    while done < length:
        k = pushed[f, owner] if sending else popped[f, owner]
        queued = pushed[f, owner] - popped[f, owner]
        slot = k % depth
        if sending and queued >= depth or not sending and queued == 0:
            parked[i] = 2 * f + (1 if sending else 0)
            status = BLOCKED
            break
        if sending and queued + 1 > rings or not sending and _wrong_tag(f, slot, i, tag, tags, meta):
            status = REFUSED
            break
        ready_t = t + (cost if done == 0 else 0.0)
        if sending:
            depart = max(ready_t, np.float64(time[f, slot, owner]))  # after word k - depth left
            value[f, k % rings, owner] = regs[fields[A, pc], i] if scalar else sram[base + done, i]
            time[f, slot, owner] = depart + latency[direction, lat_pe]  # now: its arrival
            pushed[f, owner] = k + 1
            _tag_word(f, slot, owner, tag, tags, meta)
            meta[f, MOVED] |= PUSHED
            _wake(owner, 2 * f, parked, ready, ready_top)
            stall[i] += depart - ready_t
            t = depart + word_time
        else:
            taken = max(ready_t, np.float64(time[f, slot, i]))
            word = value[f, k % rings, i]
            time[f, slot, i] = taken  # now: when the slot was freed
            popped[f, i] = k + 1
            meta[f, MOVED] |= POPPED
            sender = i + meta[f, SENDER_OFFSET]
            if 0 <= sender < parked.shape[0]:
                _wake(sender, 2 * f + 1, parked, ready, ready_top)
            if scalar:
                if fields[D, pc] != 0:
                    regs[fields[D, pc], i] = word
            else:
                sram[base + done, i] = word
            stall[i] += taken - ready_t
            t = taken
        done += 1
    if not scalar:
        progress[i] = 0 if status == GO_ON else done
    return status, t


@njit(cache=True)
def park_sleepers(sleepers, resume, fields, fabric):
    """Park the PEs `sleepers`, each blocked at the transfer at `resume[pe]` (the scheduler's sleeping
    lanes), or put it on the work list if its FIFO has changed since."""
    (time, value, pushed, popped, tags, meta, offsets, latency, word_time, progress, stall, parked, ready,
     ready_top) = fabric
    depth = time.shape[1]
    for s in sleepers:
        pc = resume[s]
        kind, f = fields[KIND, pc], fields[FIFO, pc]
        if kind == K_SEND or kind == K_SENDV:
            owner = s + offsets[fields[DIR, pc]]
            can = pushed[f, owner] - popped[f, owner] < depth
            parked[s] = 2 * f + 1
        else:
            can = pushed[f, s] > popped[f, s]
            parked[s] = 2 * f
        if can:
            _wake(s, parked[s], parked, ready, ready_top)
