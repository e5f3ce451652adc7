"""A scalar routed `send` in the compiled interpreter (`Strategy.compiled_broadcast`): a block's broadcast from one PE,
whose receivers wait at a routed `recv` in the same call (`scalar_transfers` runs that receive: a routed word's FIFO
is the receiver's own, (RAMP, channel), and no PE of the call is ever its sender, `FabricState`).

The send is `routed_one.send_from_one`'s, operation for operation and with the same compiled passes
(`fifo_kernels.routed_one_*`): the word departs at max(ready, when its slot is free at every receiver), later by
what the path's links are reserved for (`RoutedExchangeMixin._share_links`), reaches each receiver its path's latency
later, and reserves the links. It runs only from a PE whose path on the channel's current routes the NumPy path has
checked already (its first send there ran in NumPy: `FabricState.routed`, which the routes' next change forgets), and
only where `send_from_one` would serve it; anywhere else (a receiver's FIFO full, receivers at different word numbers,
a value ring too shallow, a word type to mark per slot first, a word arriving before one queued) it changes nothing
and answers STOPPED: the PE stops before the send and the NumPy path runs it (and raises what it raises).

Both the sender and every receiver stop right after their word (STOPPED_AFTER): a block's receivers go on to the
vector code after a broadcast, which the NumPy engine runs over the whole block at once, and so does the sender.
Routed words on the NumPy path share links first come, first served; the interpreter runs only programs whose routed
channels have one sender per block or senders with links of their own (`routed_senders.proven_senders`), where the
order of sends cannot change a word's times.
"""
from __future__ import annotations

import numpy as np

from ...isa import opcodes
from ..fifo_kernels import (routed_one_deliver, routed_one_delay, routed_one_early, routed_one_free,
                            routed_one_reserve, routed_one_word)
from .fabric_ops import HELD, MOVED, PER_SLOT, PUSHED, UNIFORM, WAITS, ring_slot, wake
from .jit import njit
from .kinds import STOPPED, STOPPED_AFTER
from .table import A, FIFO, NEXT, TAG

ROUTED = 4  # a routed word's DIR in the table: the ramp (a number here, as `fabric_ops.RAW`: see there)
assert ROUTED == opcodes.RAMP
# Rows of the routed senders' index (`FabricState.routed`): the key FIFO * n + PE, sorted; the sender's receivers
# [DEST_LO, DEST_HI) and links [LINK_LO, LINK_HI) in the concatenated runs; the row of its channel's last arrivals.
KEY, DEST_LO, DEST_HI, LINK_LO, LINK_HI, ARRIVALS = 0, 1, 2, 3, 4, 5
INDEX_ROWS = 6


@njit(cache=True, nogil=True, error_model="numpy")
def routed_send(pc, i, owed, fields, costs, regs, times, resume, fabric, routed, time_limit):
    """PE i runs the scalar routed `send` at `pc`, owing `owed` cycles; returns STOPPED_AFTER (sent: `times[i]` is its
    cycle less what it owes and the send's issue) or STOPPED (nothing done: the NumPy path runs it). `fabric` as
    `transfers.transfer`'s; `routed`: (index, dest, latency, links (dir, PE), link offsets, link_busy, last arrival
    times and sources per channel row, the sends' log (channel row, PE), its top), `FabricState.routed`."""
    fifo_time, fifo_value, pushed, popped, tags, meta = fabric[0], fabric[1], fabric[2], fabric[3], fabric[4], fabric[5]
    word_time, stall, parked, ready, ready_top, joined, joined_top = (fabric[8], fabric[10], fabric[11], fabric[12],
                                                                      fabric[13], fabric[14], fabric[15])
    index, dest_all, latency_all, link_all, link_offset_all, link_busy, last_time, last_by, sent, sent_top = routed
    f, tag, n = fields[FIFO, pc], fields[TAG, pc], parked.shape[0]
    key = f * n + i
    k = np.searchsorted(index[KEY], key)
    if k >= index.shape[1] or index[KEY, k] != key:
        return STOPPED  # a sender whose path the NumPy path has not checked (on these routes)
    dest, latency = dest_all[index[DEST_LO, k]:index[DEST_HI, k]], latency_all[index[DEST_LO, k]:index[DEST_HI, k]]
    lo, hi, row = index[LINK_LO, k], index[LINK_HI, k], index[ARRIVALS, k]
    depth, rings = fifo_time.shape[1], fifo_value.shape[1]
    word, most = routed_one_word(dest, pushed[f], popped[f], depth)
    if word < 0 or most + 1 > rings or (hi > lo and link_busy.shape[1] != 4 * n):
        return STOPPED  # (a full FIFO, words apart, a ring to deepen: as `send_from_one`, the NumPy path)
    # (tags per slot, unless no PE holds a word: then this push's is the one, `fabric_ops.drained_to_uniform`)
    drained = meta[f, PER_SLOT] != 0 and meta[f, HELD] == 0
    per_slot, uniform = meta[f, PER_SLOT] != 0 and not drained, -1 if drained else meta[f, UNIFORM]
    if not per_slot and uniform != -1 and uniform != tag:
        return STOPPED  # the words in flight to mark per slot first (`WordTags.mark`, the NumPy path)
    slot = ring_slot(word, depth)
    time_row, value_row = fifo_time[f, slot], fifo_value[f, ring_slot(word, rings)]
    ready_at = times[i] + owed + costs[pc]
    # word k may reach each receiver only once word k - depth has left its FIFO there
    leaves = max(ready_at, routed_one_free(time_row, dest, latency))
    delay = 0.0
    if hi > lo:
        delay = routed_one_delay(link_busy, link_all[0, lo:hi], link_all[1, lo:hi], link_offset_all[lo:hi], n,
                                 leaves, leaves, word_time)
    departed = leaves + delay
    if routed_one_early(last_time[row], dest, departed, latency):
        return STOPPED  # (the NumPy path raises the RouteError)
    if departed + latency.max() >= time_limit:  # (float32 FIFO times: their arrivals past 2**23 the NumPy path's,
        return STOPPED  # which widens the clocks first, `ClockMixin._cover_routed_path`)
    if hi > lo:
        routed_one_reserve(link_busy, link_all[0, lo:hi], link_all[1, lo:hi], link_offset_all[lo:hi], n, leaves,
                           leaves, word_time, delay)
    routed_one_deliver(dest, latency, departed, regs[fields[A, pc], i], i, last_time[row], last_by[row], time_row,
                       value_row, pushed[f])
    if per_slot:  # (`WordTags.mark`)
        for d in dest:
            tags[f, slot, d] = tag
        meta[f, HELD] += dest.shape[0]
    else:
        meta[f, UNIFORM], meta[f, PER_SLOT] = tag, 0
    meta[f, MOVED] |= PUSHED
    for d in dest:
        if (parked[d] & WAITS) == 2 * f:  # it waits for this push
            wake(d, parked, resume, ready, ready_top, joined, joined_top)
    stall[i] += departed - ready_at
    sent[0, sent_top[0]], sent[1, sent_top[0]] = row, i  # (its injected word: `FabricState.settle_sends`)
    sent_top[0] += 1
    times[i] = departed + word_time - owed - costs[pc]
    return STOPPED_AFTER


@njit(cache=True, nogil=True, error_model="numpy")
def stop_after(i, pc, owed, done, fields, costs, times, counts, stop_pcs, pc_counts):
    """PE i, owing `owed` cycles and `done` instructions, ran the routed word at `pc` and stops right after it
    (STOPPED_AFTER): settled as at any stop, with the word's issue and count (from `run_group`'s two routed branches,
    which Numba prunes from the machine code of programs without routed words)."""
    times[i] += owed + costs[pc]
    counts[i] += done + 1
    stop_pcs[i] = fields[NEXT, pc]
    pc_counts[pc] += 1
