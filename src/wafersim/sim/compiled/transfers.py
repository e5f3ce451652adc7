"""Neighbour transfers in the compiled interpreter (`interpreter.run_group`): send, recv, sendv, recvv and the
stream ops (`vaddx`/`vmaxx`/`vminx` and their float16 forms), one PE's run of one such instruction, with the
NumPy engine's arithmetic (`fabric_ops` holds the state's layout, the parking and the ring arithmetic).

A transfer runs from the PE's cycle with its owed issue cycles. A stream op pops like a receive and, with an
output, pushes like a send (its word combined on the way), the result leaving `shift` (W) after its word was
taken. A vector transfer first moves the words it can move now (all of its FIFO, or all the room, none with
a tag of its own) in one tight loop; the word-by-word loop does the rest. The PEs its pops and pushes wake
go onto the work list (`fabric`'s `ready`); a resident sleeper among them joins the call (`joined`).
A `recvv` that drains its FIFO with words still to come runs its sender's `sendv` itself when that sender is
parked at it for want of room (`pull`), and takes those words too: a message longer than the FIFO then moves
in one call rather than a park, a wake and a run of each PE per FIFO-full (a PE's results depend only on the
words it finds, not on when, in host order, it runs). Measured (CHANGELOG, Stop 48, pipe48): bench's row
`pipeline` ~13% less process CPU; the words' slot-time loads, a cache line each (PE-minor), remain the loop's cost.
The interpreter tries a scalar `send` or `recv` on `scalar_transfers`' short path first; what that path leaves
(`GENERAL`: refusals, per-slot tags, a ring to deepen) comes here.

Compiled without Numba's reference counting (`_nrt=False`; nothing here allocates): a call with the arrays
of the fabric and the PE's state would otherwise count references to each of them, atomically, at every
transfer (measured: even inlined, a third of a whole-wafer scan's time); without it a call costs its
arguments only.
"""
from __future__ import annotations

import numpy as np

from .arith import fadd, fmax, fmin
from .half_arith import half_stream
from .fabric_ops import (HELD, MOVED, PER_SLOT, POPPED, PUSHED, SENDER_OFFSET, UNIFORM, WAITS, WANTS_ROOM,
                         drained_to_uniform, held_words, refuses, ring_slot, wake)
from .jit import njit, prefetch
from .kinds import (BLOCKED, GO_ON, K_RECV, K_SEND, K_SENDV, K_VADDX, K_VMAXX, FLOPS, HALF_FLOPS, REFUSED,
                    VECTOR_ELEMENTS)
from .table import A, B, D, DIR, FIFO, FLOAT, HALF_FLOAT, KIND, LANE_ROW, NEXT, OUT_FIFO, OUT_LANE_ROW, TAG


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def uniform_words(meta, f, tag, sending):
    """Whether FIFO f's words carry one tag (`meta`'s uniform one) that a transfer with `tag` keeps uniform (a
    push) or accepts (a receive): then its words move in one tight loop (`transfer`)."""
    uniform = meta[f, UNIFORM]
    if meta[f, PER_SLOT] != 0:  # (a push into one no PE holds a word of makes it uniform: `drained_to_uniform`)
        return sending and meta[f, HELD] == 0
    return uniform == -1 or uniform == tag or (not sending and not refuses(tag, uniform))


@njit(cache=True, nogil=True, error_model="numpy", _nrt=False)
def push_words(fifo_time, fifo_value, sram, f, owner, i, number, count, row, ready_at, lag, word_time):
    """PE i pushes its words sram[row:row + count, i] into FIFO f of PE `owner` (its words number, number + 1, ...),
    from cycle `ready_at`, one a `word_time`, each after its slot was freed, arriving `lag` later; returns (the
    cycles it waited, when it is ready after the last word). The FIFO's counters are the caller's."""
    depth, rings = fifo_time.shape[1], fifo_value.shape[1]
    held = 0.0
    # (stepped round their rings below; unsigned indices: no wrap-around test and fix-up per access)
    slot, value_slot = np.uint64(ring_slot(number, depth)), np.uint64(ring_slot(number, rings))
    u_f, u_i, u_owner, u_row = np.uint64(f), np.uint64(i), np.uint64(owner), np.uint64(row)
    one, zero, u_depth, u_rings = np.uint64(1), np.uint64(0), np.uint64(depth), np.uint64(rings)
    for w in range(count):
        later = max(ready_at, np.float64(fifo_time[u_f, slot, u_owner]))  # (its slot freed)
        fifo_value[u_f, value_slot, u_owner] = sram[u_row + np.uint64(w), u_i]
        fifo_time[u_f, slot, u_owner] = later + lag
        held += later - ready_at
        ready_at = later + word_time
        slot = slot + one if slot + one < u_depth else zero
        value_slot = value_slot + one if value_slot + one < u_rings else zero
    return held, ready_at


@njit(cache=True, nogil=True, error_model="numpy", _nrt=False)
def take_words(fifo_time, fifo_value, sram, f, i, number, count, row, ready_at):
    """PE i takes `count` words of its FIFO f (its words number, number + 1, ...) into sram[row:row + count, i], from
    cycle `ready_at`, each when it arrives (its slot freed then); returns (the cycles it waited, when it took the last
    word). The FIFO's counters are the caller's. A function of its own (as `push_words`), with unsigned indices:
    inside `transfer`, inlined into the interpreter, its strides were reloaded from the stack and every index tested
    for wrap-around at every word. Measured (CHANGELOG, Stop 51, pipe51): bench's row `pipeline` ~8% less process CPU."""
    depth, rings = fifo_time.shape[1], fifo_value.shape[1]
    held = 0.0
    # (the slots stepped round their rings rather than each one's remainder taken: the loads of the slots'
    # times, a cache line each, are what the loop waits for)
    # (unsigned indices: no wrap-around test and fix-up per access)
    slot, value_slot = np.uint64(ring_slot(number, depth)), np.uint64(ring_slot(number, rings))
    u_f, u_i, u_row, one, zero = np.uint64(f), np.uint64(i), np.uint64(row), np.uint64(1), np.uint64(0)
    u_depth, u_rings = np.uint64(depth), np.uint64(rings)
    for w in range(count):
        later = max(ready_at, np.float64(fifo_time[u_f, slot, u_i]))  # (its word's arrival)
        fifo_time[u_f, slot, u_i] = later
        sram[u_row + np.uint64(w), u_i] = fifo_value[u_f, value_slot, u_i]
        held += later - ready_at
        ready_at = later
        slot = slot + one if slot + one < u_depth else zero
        value_slot = value_slot + one if value_slot + one < u_rings else zero
    return held, ready_at


@njit(cache=True, nogil=True, error_model="numpy", _nrt=False)
def pull(f, i, fields, costs, regs, sram, lane_constants, times, counts, resume, pc_counts, fabric, time_limit):
    """PE i has just drained its FIFO f in a vector receive with words still to come, and woke its sender, parked
    at a `sendv` into that FIFO for want of room: the sender's run of that `sendv` happens here, now, as its
    woken run would do it (the same words, times, stall and counters: a PE's results depend only on the words it
    finds, and no other PE pushes into or pops from this FIFO in between). Its words fill the FIFO; if that ends
    its `sendv`, it is woken at the next instruction (the instruction counted and its issue cycles added, as its
    run would), else it stays parked, waiting for the next pops. Returns whether it pushed anything: 0 where the
    woken run would do anything else (a resident sleeper, a time limit, a shallow value ring, a tag of its own,
    a refusal: then nothing is done, and the caller wakes it as usual)."""
    (fifo_time, fifo_value, pushed, popped, tags, meta, offsets, latency, word_time, progress, stall, parked, ready,
     ready_top, joined, joined_top, vector_words) = fabric
    s = i + meta[f, SENDER_OFFSET]
    if s < 0 or s >= parked.shape[0] or parked[s] != 2 * f + 1:  # (a resident sleeper's has `RESIDENT`)
        return False
    pc = resume[s]
    depth = fifo_time.shape[1]
    if (fields[KIND, pc] != K_SENDV or fields[FIFO, pc] != f or s + offsets[fields[DIR, pc]] != i
            or lane_constants[fields[LANE_ROW, pc], s] == 0 or times[s] >= time_limit
            or fifo_value.shape[1] < depth or not uniform_words(meta, f, fields[TAG, pc], True)):
        return False
    base, length, done = np.int64(regs[fields[A, pc], s]), np.int64(regs[fields[B, pc], s]), np.int64(progress[s])
    number = pushed[f, i]
    count = min(length - done, depth - number + popped[f, i])
    if base < 0 or base + length > sram.shape[0] or count <= 0:
        return False
    held, moved_to = push_words(fifo_time, fifo_value, sram, f, i, s, number, count, base + done,
                                times[s] + (costs[pc] if done == 0 else 0.0),
                                latency[fields[DIR, pc], s if latency.shape[1] > 1 else 0], word_time)
    stall[s] += held
    pushed[f, i], meta[f, UNIFORM], meta[f, PER_SLOT] = number + count, fields[TAG, pc], 0
    meta[f, MOVED] |= PUSHED
    vector_words[0] += count
    times[s] = moved_to  # (its owed cycles settled, as a parked PE's are)
    if done + count < length:
        progress[s] = done + count  # still parked: it waits for a pop
    else:
        progress[s], resume[s] = 0, fields[NEXT, pc]
        counts[s] += 1
        pc_counts[pc] += 1
        wake(s, parked, resume, ready, ready_top, joined, joined_top)
    return True


PREFETCH_AHEAD = 16  # a vector receive starts loading the state lines of the PE this many further along its chain


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def prefetch_successor(p, f, base_reg, length_reg, lane_row, regs, lane_constants, pushed, popped, times, counts,
                       resume, progress, stall, parked):
    """Start loading the cache lines of PE p's transfer state, which its run of this vector receive will load
    first: its range registers, `has_neighbor` constant, FIFO counters, time, counts, resume pc, progress, stall and
    parked code (a hint only: nothing is read or written). A whole wafer's row pipeline runs each message along
    every row before the next one, so these lines (PE-minor arrays: one line per array and 8-16 PEs) have left
    the cache since the PE last ran, and the interleaved rows' chains are too many streams for the hardware's
    prefetcher. Measured (CHANGELOG, Stop 50, pipe50): bench's row `pipeline` ~8% less process CPU; also
    prefetching the words' SRAM rows and FIFO slots (~100 lines per 8 PEs) made it 7-26% slower."""
    prefetch(regs, (base_reg, p))
    prefetch(regs, (length_reg, p))
    prefetch(lane_constants, (lane_row, p))
    prefetch(pushed, (f, p))
    prefetch(popped, (f, p))
    prefetch(times, (p,))
    prefetch(counts, (p,))
    prefetch(resume, (p,))
    prefetch(progress, (p,))
    prefetch(stall, (p,))
    prefetch(parked, (p,))


@njit(cache=True, nogil=True, error_model="numpy", _nrt=False, forceinline=True)
def transfer(kind, pc, i, owed, run_done, fields, costs, regs, sram, fsram, lane_constants, stats, word_bits,
             word_float, times, counts, resume, fabric, stream_step, half_stream_step, pc_counts, time_limit):
    """PE i runs the transfer at `pc` (of kind `kind`), owing `owed` cycles and `run_done` instructions of its
    run; returns GO_ON (done: `times[i]` is its cycle less what it owes), REFUSED (it stops before it: the
    NumPy engine runs it, and raises what it raises) or BLOCKED (parked, `fabric`'s `parked[i]` what it waits
    for, `resume[i]` = pc; its owed cycles and instructions settled in `times` and `counts`)."""
    (fifo_time, fifo_value, pushed, popped, tags, meta, offsets, latency, word_time, progress, stall, parked, ready,
     ready_top, joined, joined_top, vector_words) = fabric
    depth, rings, per_pe_latency = fifo_time.shape[1], fifo_value.shape[1], latency.shape[1] > 1
    data_words = sram.shape[0]
    d, a, b = fields[D, pc], fields[A, pc], fields[B, pc]
    status = GO_ON
    moved_to = times[i] + owed
    f, tag = fields[FIFO, pc], fields[TAG, pc]
    sending = kind == K_SEND or kind == K_SENDV
    scalar = kind == K_SEND or kind == K_RECV
    stream = kind >= K_VADDX
    out = f if sending else fields[OUT_FIFO, pc]  # the FIFO it pushes into (-1: none)
    owner = i + offsets[fields[DIR, pc]] if out >= 0 else i  # (out's owner: the neighbour)
    shift = 0.0 if not stream else (half_stream_step if fields[FLOAT, pc] == HALF_FLOAT
                                    else stream_step)
    base, length, done = np.int64(0), np.int64(1), np.int64(0)
    woke_sender, woke_owner = -1, -1  # the parked PEs its first pop and push wake
    if lane_constants[fields[LANE_ROW, pc], i] == 0 or (
            stream and out >= 0 and lane_constants[fields[OUT_LANE_ROW, pc], i] == 0):
        status, length = REFUSED, -1  # across the block's edge: a MeshBoundaryError
    elif not scalar:
        base, length, done = np.int64(regs[a, i]), np.int64(regs[b, i]), np.int64(progress[i])
        if not stream:
            vector_words[0] -= done  # (+ done at the end: the words this run moved)
        if length < 0 or base < 0 or base + length > data_words:
            status, length = REFUSED, -1  # a MemoryAccessError
        elif length == 0:
            moved_to += costs[pc]  # an empty transfer still costs its issue
        elif not stream and uniform_words(meta, f, tag, sending):
            ahead = i - PREFETCH_AHEAD * meta[f, SENDER_OFFSET]  # (the sender's offset steps back along the chain)
            if not sending and 0 <= ahead < parked.shape[0] and (ahead & 7 == 0 or abs(meta[f, SENDER_OFFSET]) != 1):
                # (every 8th PE of a row: a line of 8-byte entries holds 8 PEs; each PE of a column chain)
                prefetch_successor(ahead, f, a, b, fields[LANE_ROW, pc], regs, lane_constants, pushed, popped,
                                   times, counts, resume, progress, stall, parked)
            # The words it can move now, each as the loop below moves it (none of them
            # blocks, is refused or has a tag of its own): one tight loop. A receive that
            # drains its FIFO with words still to come first moves its parked sender's next
            # words (`pull`), and takes those too, as long as it can. (A receive from an empty FIFO
            # -- a pipeline's PEs at each next message -- moves nothing: it parks below.)
            while sending or pushed[f, i] != popped[f, i]:
                number = pushed[f, owner] if sending else popped[f, i]
                count = min(length - done, min(depth, rings) - number + popped[f, owner]
                            if sending else pushed[f, i] - number)
                ready_at, held = moved_to + (costs[pc] if done == 0 else 0.0), 0.0
                lag = latency[fields[DIR, pc], i if per_pe_latency else 0]
                row = base + done
                if sending:
                    held, ready_at = push_words(fifo_time, fifo_value, sram, f, owner, i, number, count, row,
                                                ready_at, lag, word_time)
                else:
                    held, ready_at = take_words(fifo_time, fifo_value, sram, f, i, number, count, row, ready_at)
                if count <= 0:
                    break
                stall[i] += held
                moved_to, done = ready_at, done + count
                if sending:
                    pushed[f, owner], meta[f, UNIFORM], meta[f, PER_SLOT] = number + count, tag, 0
                    meta[f, MOVED] |= PUSHED
                    if 0 <= owner < parked.shape[0] and (parked[owner] & WAITS) == 2 * f:
                        woke_owner = owner
                    break
                popped[f, i] = number + count
                meta[f, MOVED] |= POPPED
                sender = i + meta[f, SENDER_OFFSET]
                if 0 <= sender < parked.shape[0] and (parked[sender] & WAITS) == 2 * f + 1:
                    woke_sender = sender
                if done == length or woke_sender < 0 or not pull(
                        f, i, fields, costs, regs, sram, lane_constants, times, counts, resume, pc_counts, fabric,
                        time_limit) or not uniform_words(meta, f, tag, False):
                    break
                woke_sender = -1  # (`pull` woke it if its send is done; else it waits for the pops to come)
    while done < length:
        number, out_number = popped[f, i], np.int32(0)  # (the words it takes and gives)
        if not sending and pushed[f, i] == number:
            parked[i] = 2 * f  # waits for a push
            status = BLOCKED
            break
        if out >= 0:
            out_number = pushed[out, owner]
            queued = out_number - popped[out, owner]
            if queued >= depth:
                parked[i] = 2 * out + 1  # waits for a pop
                status = BLOCKED
                break
            if queued + 1 > rings:
                # the NumPy engine runs it; the caller deepens the ring (`FabricState.finish`)
                meta[out, WANTS_ROOM] = max(meta[out, WANTS_ROOM], queued + length - done)
                status = REFUSED
                break
        slot, out_slot = ring_slot(number, depth), ring_slot(out_number, depth)
        if not sending:  # (`WordTypeMixin._typed_recv`, `_check_stream_tags`)
            got = tags[f, slot, i] if meta[f, PER_SLOT] != 0 else meta[f, UNIFORM]
            if refuses(tag, got):
                status = REFUSED  # a WordTypeError
                break
        ready_at = moved_to + (costs[pc] if done == 0 else 0.0)
        later = ready_at  # when its word is taken, or it leaves (a send)
        if not sending:
            later = max(later, np.float64(fifo_time[f, slot, i]))  # its word's arrival
        if out >= 0:  # after word k - depth left (it leaves `shift` after `later`)
            later = max(later, np.float64(fifo_time[out, out_slot, owner]) - shift)
        stall[i] += later - ready_at
        if not sending:
            word = fifo_value[f, ring_slot(number, rings), i]
            fifo_time[f, slot, i] = later  # now: when the slot was freed
            popped[f, i] = number + 1
            meta[f, MOVED] |= POPPED
            if meta[f, PER_SLOT] != 0:
                meta[f, HELD] -= 1
            if stream:  # own value first (`StreamOpsMixin._stream_op`)
                row = base + done
                if fields[FLOAT, pc] == HALF_FLOAT:  # float16 bits (`half_arith`)
                    sram[row, i] = half_stream(kind, sram[row, i], word)
                    stats[FLOPS] += 1
                    stats[HALF_FLOPS] += 1
                elif fields[FLOAT, pc]:
                    word_bits[0] = word
                    own, other = fsram[row, i], word_float[0]
                    fsram[row, i] = (fadd(own, other) if kind == K_VADDX else fmax(own, other)
                                     if kind == K_VMAXX else fmin(own, other))
                    stats[FLOPS] += 1
                else:
                    own_int, other_int = np.int64(sram[row, i]), np.int64(word)
                    sram[row, i] = (own_int + other_int if kind == K_VADDX else max(own_int, other_int)
                                    if kind == K_VMAXX else min(own_int, other_int))
                stats[VECTOR_ELEMENTS] += 1
            elif not scalar:
                sram[base + done, i] = word
            elif d != 0:
                regs[d, i] = word
            sender = i + meta[f, SENDER_OFFSET]  # woken if it waits for this pop
            if 0 <= sender < parked.shape[0] and (parked[sender] & WAITS) == 2 * f + 1:
                woke_sender = sender
        moved_to = later + shift
        if out >= 0:
            fifo_value[out, ring_slot(out_number, rings), owner] = (
                regs[a, i] if scalar else sram[base + done, i])
            fifo_time[out, out_slot, owner] = moved_to + latency[fields[DIR, pc],
                                                                 i if per_pe_latency else 0]
            # (`WordTags.needs_marking`, `mark`: a FIFO no PE holds a word of takes the push's tag as its one)
            drained_to_uniform(meta, out)
            if meta[out, PER_SLOT] == 0 and meta[out, UNIFORM] != -1 and meta[out, UNIFORM] != tag:
                held = held_words(pushed, popped, out)
                if held == 0:
                    meta[out, UNIFORM] = -1
                else:  # tags per slot from now: the words in flight carry the uniform tag
                    tags[out, :, :] = meta[out, UNIFORM]
                    meta[out, PER_SLOT], meta[out, HELD] = 1, held
            pushed[out, owner] = out_number + 1
            if meta[out, PER_SLOT] == 0:
                meta[out, UNIFORM] = tag
            else:
                meta[out, HELD] += 1
                tags[out, out_slot, owner] = tag
            meta[out, MOVED] |= PUSHED
            if 0 <= owner < parked.shape[0] and (parked[owner] & WAITS) == 2 * out:  # woken
                woke_owner = owner
            if sending or done + 1 == length:  # (a stream op's last word: as a send's)
                moved_to += word_time
        done += 1
    if not scalar and length > 0:
        progress[i] = 0 if status == GO_ON else done
    if not scalar and not stream:
        vector_words[0] += done  # (`interpreter.run_group` sizes its batches of woken PEs by it)
    for woken in (woke_sender, woke_owner):  # onto the work list; a resident sleeper joins the call
        if woken >= 0:
            wake(woken, parked, resume, ready, ready_top, joined, joined_top)
    if status == BLOCKED:  # parked (owed cycles settled): out of its run
        times[i] = moved_to
        counts[i] += run_done
        resume[i] = pc
    else:  # (the instruction's issue cost is added with the owed cycles, as for the others)
        times[i] = moved_to - owed - (costs[pc] if status == GO_ON else 0.0)
    return status
