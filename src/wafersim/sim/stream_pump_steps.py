"""The steady steps of a stream pump (`stream_pump_kernels.pump`), cheaper forms of the scheduler's compiled
steps for the state the pump runs in.

- `pe_segments` / `steady_send`: `routed_step_kernels.routed_send_step` with its receivers cut into runs of
  consecutive PEs in PE order whose senders step by a constant (0 on a row bus: one sender; 1 on a column
  bus: a row of PEs, each fed by the sender of its column), so that both passes over the receivers' FIFO
  slots (the slots' times, then the words delivered) read and write each slot row contiguously, where a
  column bus's receivers in sender order are a PE row apart each. The same values: a maximum in another
  order (equal but perhaps for the sign of a zero, erased as in `fifo_kernels.slot_free_of_segments`), and
  stores to distinct receivers. Its words wait (`deliver`) for the receivers' next step:
- `deliver_receive`: that step, where every receiver takes exactly the words just delivered (the steady state
  of a panel: a FIFO filled, emptied, filled...), in one pass with their delivery: each word's arrival stored
  in its slot and read back, taken, its take time stored over it, its value through the slot into SRAM, so
  every slot and SRAM word ends as after the two steps, and the receive's clock swaps reduce to the
  transfer's clock in and back (every receiver is inside its transfer, none finishes). Where its times are
  whole numbers below 2**24, its take times and the slots' free times in closed form (`stream_pump_closed`).
"""
from __future__ import annotations

import numpy as np
from .compiled.jit import njit

from .fifo_kernels import gather_word_runs, latest_departure, routed_arrivals, share_links, whole_cycle_departures
from .stream_pump_closed import _first_slots, closed_form_applies, receive_closed, receive_held

#: Receiver runs shorter than this are walked by index, not through slices of the FIFO rows: a slice costs more
#: than a few PEs' work (the routed 25-point stencil's runs are 2-4 PEs, some 40 a step: its steps' slot-free
#: pass took 13 us a call through slices, 4 us by index). Longer runs (a panel's bus) keep the slices' loops
#: (`_deliver_many`'s uneven case, word by word with a test each, goes by index at every length).
SHORT_RUN = 8


@njit(cache=True, nogil=True)
def pe_order(receiver_of: np.ndarray) -> np.ndarray:
    """The entries in their receivers' order (receiver_of[e]: entry e's receiver index, distinct, every one)."""
    order = np.empty(len(receiver_of), dtype=np.int64)
    for e in range(len(receiver_of)):
        order[receiver_of[e]] = e
    return order


@njit(cache=True, nogil=True)
def pe_segments(p_dest: np.ndarray, p_lane: np.ndarray, pushed: np.ndarray) -> np.ndarray:
    """The receivers (entries in PE order: p_dest ascending, p_lane their senders) cut into runs of consecutive
    PEs at one word number (pushed) whose senders step by a constant: rows (first entry, end, first PE, lane
    stride, word number)."""
    out = np.empty((len(p_dest), 5), dtype=np.int64)
    count = 0
    e = 0
    while e < len(p_dest):
        end = e + 1
        word = pushed[p_dest[e]]
        step = p_lane[end] - p_lane[e] if end < len(p_dest) else 0
        while (end < len(p_dest) and p_dest[end] == p_dest[end - 1] + 1 and p_lane[end] - p_lane[end - 1] == step
               and pushed[p_dest[end]] == word):
            end += 1
        out[count, 0], out[count, 1], out[count, 2], out[count, 3] = e, end, p_dest[e], step
        out[count, 4] = word
        count += 1
        e = end
    return out[:count]


# The passes over the receivers come in two kinds, one sender per segment and a sender per PE, in separate
# loops: one loop with both kinds' bodies ran the first kind at half the speed (as LLVM compiled it).
@njit(cache=True, nogil=True)
def _slot_free_one(out: np.ndarray, time_block: np.ndarray, segments: np.ndarray, p_lane: np.ndarray,
                   p_latency: np.ndarray) -> None:
    """`_slot_free` of segments with one sender each: `fifo_kernels.latest_departure` of each run (a short one's
    maximum by index, equal but perhaps for the sign of a zero, which `steady_send` erases as it does that one's)."""
    depth = time_block.shape[0]
    first_slot = _first_slots(segments, depth)
    for j in range(out.shape[0]):  # (words <= depth: a slot index wraps at most once)
        for g in range(len(segments)):
            first, end, pe = segments[g, 0], segments[g, 1], segments[g, 2]
            size, row = end - first, p_lane[first]
            slot = first_slot[g] + j
            if slot >= depth:
                slot -= depth
            if size < SHORT_RUN:  # (the same maximum, but perhaps for the sign of a zero, as `latest_departure`)
                best = out[j, row]
                for t in range(size):
                    f = time_block[slot, pe + t] - p_latency[first + t]
                    best = f if f > best else best
                out[j, row] = best
            else:
                out[j, row] = latest_departure(time_block[slot, pe:pe + size], p_latency[first:end], out[j, row])


@njit(cache=True, nogil=True)
def _slot_free_many(out: np.ndarray, time_block: np.ndarray, segments: np.ndarray, p_lane: np.ndarray,
                    p_latency: np.ndarray) -> None:
    """`_slot_free` of segments whose senders step by 1 or more: elementwise maxima (by 1: a loop LLVM
    vectorises)."""
    depth = time_block.shape[0]
    first_slot = _first_slots(segments, depth)
    for j in range(out.shape[0]):
        for g in range(len(segments)):
            first, end, pe, step = segments[g, 0], segments[g, 1], segments[g, 2], segments[g, 3]
            size, lane0 = end - first, p_lane[first]
            slot = first_slot[g] + j
            if slot >= depth:
                slot -= depth
            if step == 1 and size >= SHORT_RUN:
                times_run, latency_run = time_block[slot, pe:pe + size], p_latency[first:end]
                best_run = out[j, lane0:lane0 + size]
                for t in range(size):
                    f = times_run[t] - latency_run[t]
                    best_run[t] = f if f > best_run[t] else best_run[t]
            else:
                for t in range(size):
                    f = time_block[slot, pe + t] - p_latency[first + t]
                    row = lane0 + t * step
                    out[j, row] = f if f > out[j, row] else out[j, row]


@njit(cache=True, nogil=True)
def _deliver_one(time_block: np.ndarray, value_block: np.ndarray, segments: np.ndarray, p_lane: np.ndarray,
                 p_latency: np.ndarray, values: np.ndarray, departures: np.ndarray, count: np.ndarray) -> None:
    """`_deliver` to segments with one sender each (as `fifo_kernels.deliver_segments`)."""
    depth, value_depth = time_block.shape[0], value_block.shape[0]
    first_slot, first_value_slot = _first_slots(segments, depth), _first_slots(segments, value_depth)
    for j in range(values.shape[0]):  # (an index wraps at most once)
        for g in range(len(segments)):
            first, end, pe = segments[g, 0], segments[g, 1], segments[g, 2]
            row = p_lane[first]
            if j >= count[row]:
                continue
            slot, value_slot = first_slot[g] + j, first_value_slot[g] + j
            if slot >= depth:
                slot -= depth
            if value_slot >= value_depth:
                value_slot -= value_depth
            sent, departed = values[j, row], departures[j, row]
            if end - first < SHORT_RUN:
                for t in range(end - first):
                    value_block[value_slot, pe + t] = sent
                    time_block[slot, pe + t] = departed + p_latency[first + t]
                continue
            value_block[value_slot, pe:pe + end - first] = sent
            times_run, latency_run = time_block[slot, pe:pe + end - first], p_latency[first:end]
            for t in range(end - first):
                times_run[t] = departed + latency_run[t]


@njit(cache=True, nogil=True)
def _deliver_many(time_block: np.ndarray, value_block: np.ndarray, segments: np.ndarray, p_lane: np.ndarray,
                  p_latency: np.ndarray, values: np.ndarray, departures: np.ndarray, count: np.ndarray) -> None:
    """`_deliver` to segments whose senders step by 1 or more."""
    depth, value_depth = time_block.shape[0], value_block.shape[0]
    first_slot, first_value_slot = _first_slots(segments, depth), _first_slots(segments, value_depth)
    words = values.shape[0]
    even = True  # (the usual case: senders a PE apart, every one sending all the words: contiguous loops)
    for g in range(len(segments)):
        first, end, step = segments[g, 0], segments[g, 1], segments[g, 3]
        even = even and step == 1
        for t in range(end - first):
            even = even and count[p_lane[first] + t * step] == words
    if even:
        _deliver_rows(time_block, value_block, segments, p_lane, p_latency, values, departures, first_slot,
                      first_value_slot)
        return
    for j in range(words):
        for g in range(len(segments)):
            first, end, pe, step = segments[g, 0], segments[g, 1], segments[g, 2], segments[g, 3]
            size, lane0 = end - first, p_lane[first]
            slot, value_slot = first_slot[g] + j, first_value_slot[g] + j
            if slot >= depth:
                slot -= depth
            if value_slot >= value_depth:
                value_slot -= value_depth
            for t in range(size):
                if j < count[lane0 + t * step]:
                    value_block[value_slot, pe + t] = values[j, lane0 + t * step]
                    time_block[slot, pe + t] = departures[j, lane0 + t * step] + p_latency[first + t]


@njit(cache=True, nogil=True)
def _deliver_rows(time_block: np.ndarray, value_block: np.ndarray, segments: np.ndarray, p_lane: np.ndarray,
                  p_latency: np.ndarray, values: np.ndarray, departures: np.ndarray, first_slot: np.ndarray,
                  first_value_slot: np.ndarray) -> None:
    """`_deliver_many` where every segment's senders are a PE apart and send all the words."""
    depth, value_depth = time_block.shape[0], value_block.shape[0]
    for j in range(values.shape[0]):
        for g in range(len(segments)):
            first, end, pe = segments[g, 0], segments[g, 1], segments[g, 2]
            size, lane0 = end - first, p_lane[first]
            slot, value_slot = first_slot[g] + j, first_value_slot[g] + j
            if slot >= depth:
                slot -= depth
            if value_slot >= value_depth:
                value_slot -= value_depth
            if size < SHORT_RUN:
                for t in range(size):
                    value_block[value_slot, pe + t] = values[j, lane0 + t]
                    time_block[slot, pe + t] = departures[j, lane0 + t] + p_latency[first + t]
                continue
            value_block[value_slot, pe:pe + size] = values[j, lane0:lane0 + size]
            times_run, latency_run = time_block[slot, pe:pe + size], p_latency[first:end]
            departed_run = departures[j, lane0:lane0 + size]
            for t in range(size):
                times_run[t] = departed_run[t] + latency_run[t]


@njit(cache=True, nogil=True)
def steady_send(pes: np.ndarray, done: np.ndarray, count: np.ndarray, base: np.ndarray, cost: float,
                word_time: float, cycle: np.ndarray, stall: np.ndarray, progress: np.ndarray,
                injected: np.ndarray, sram: np.ndarray, pushed: np.ndarray, time_block: np.ndarray,
                value_block: np.ndarray, dest: np.ndarray, lane: np.ndarray, latency: np.ndarray,
                p_dest: np.ndarray, p_lane: np.ndarray, p_latency: np.ndarray, link_busy: np.ndarray,
                link: np.ndarray, link_lane: np.ndarray, link_offset: np.ndarray, previous: np.ndarray,
                by: np.ndarray, slot_free: np.ndarray, one: np.ndarray, many: np.ndarray, advanced: int,
                freed: np.ndarray, distinct: bool = False) -> tuple[np.ndarray, bool, np.ndarray, np.ndarray, np.ndarray,
                                                                   np.ndarray]:
    """`routed_step_kernels.routed_send_step` with the receivers in PE order (p_dest, p_lane, p_latency: the
    entries sorted by receiver), the same figures stored, but for the words into the receivers' FIFOs: returns
    (departures (lanes, words), True, and what `deliver` (or `deliver_receive`) then writes: the segments of
    one sender and of several, the values and departures (words, lanes)); (departures, False, ...) where a
    word would arrive early (nothing delivered, as `routed_send_step`). `one`, `many`: the previous step's
    segments, whose receivers have all moved on by `advanced` words since (their FIFOs' word numbers, hence the
    segments, advanced alike: `pe_segments` would cut them the same); recomputed where `advanced` < 0.
    `freed`: (words, lanes) the slots' times less the latencies, at most, as `deliver_receive` found them while
    it wrote them (the `_slot_free` passes then are not run), or empty. `distinct`: no link listed twice
    (`share_links`)."""
    lanes, words = slot_free.shape
    ready = np.empty(lanes)
    for i in range(lanes):  # (`cycle[pes] + np.where(done == 0, cost, 0.0)`)
        ready[i] = np.float64(cycle[pes[i]]) + (cost if done[i] == 0 else 0.0)
    if advanced < 0:
        segments = pe_segments(p_dest, p_lane, pushed)  # (once for both passes over the receivers)
        one, many = segments[segments[:, 3] == 0], segments[segments[:, 3] != 0]
    else:
        one[:, 4] += advanced
        many[:, 4] += advanced
    if freed.shape[0] == words:
        free = freed
    else:
        free = np.full((words, lanes), -np.inf)  # (words, lanes): the slots' times, less the latencies, at most
        _slot_free_one(free, time_block, one, p_lane, p_latency)
        _slot_free_many(free, time_block, many, p_lane, p_latency)
    # `send_departures` with whole cycles (as `routed_send_step`), kept (lanes, words) for the caller.
    later = np.empty((lanes, words))
    for i in range(lanes):
        for j in range(words):
            slot_free[i, j] = free[j, i] if free[j, i] > 0.0 else 0.0
        whole_cycle_departures(slot_free, i, words, ready[i], word_time, later)
    first, last = np.empty(lanes), np.empty(lanes)
    for i in range(lanes):
        first[i], last[i] = later[i, 0], later[i, count[i] - 1]
    if len(link_lane):
        delay = share_links(link_busy, link, link_lane, link_offset, first, last, word_time, lanes, distinct)
    else:
        delay = np.zeros(lanes)
    departures = np.empty((words, lanes))
    for i in range(lanes):
        for j in range(words):
            later[i, j] += delay[i]
            departures[j, i] = later[i, j]
    starts = np.empty(lanes, dtype=np.int64)
    for i in range(lanes):
        starts[i] = base[i] + done[i]
    values = gather_word_runs(sram, starts, pes, count, words)
    # (the receivers in PE order: each one entry, so the same books in any order, PE order the cheapest)
    if routed_arrivals(previous, by, pushed, p_dest, p_lane, pes, later, count, p_latency) >= 0:
        return later, False, one, many, values, departures
    values = values.T.copy()
    for i in range(lanes):
        pe = pes[i]
        end = later[i, count[i] - 1]
        # (`waits_added` with whole cycles: the waits telescope)
        stall[pe] = np.float64(stall[pe]) + (end - ready[i] - np.float64(count[i] - 1) * word_time)
        cycle[pe] = end + word_time
        progress[pe] += count[i]
        injected[pe] += count[i]
    return later, True, one, many, values, departures


@njit(cache=True, nogil=True)
def deliver(time_block: np.ndarray, value_block: np.ndarray, one: np.ndarray, many: np.ndarray, p_lane: np.ndarray,
            p_latency: np.ndarray, values: np.ndarray, departures: np.ndarray, count: np.ndarray) -> None:
    """The words of a `steady_send` into its receivers' FIFOs (values and arrival times)."""
    _deliver_one(time_block, value_block, one, p_lane, p_latency, values, departures, count)
    _deliver_many(time_block, value_block, many, p_lane, p_latency, values, departures, count)


#: `deliver_receive`'s `closed` where the caller found that it applies, in closed form.
KNOWN = 2


@njit(cache=True, nogil=True)
def segments_of_one(many: np.ndarray) -> bool:
    """`receive_applies`' test of a step's segments: those of several senders are a PE apart."""
    for g in range(len(many)):
        if many[g, 3] != 1:
            return False
    return True


@njit(cache=True, nogil=True)
def receive_applies(pes: np.ndarray, base: np.ndarray, progress: np.ndarray, pushed: np.ndarray, popped: np.ndarray,
                    taken: np.ndarray, many: np.ndarray, p_lane: np.ndarray, count: np.ndarray) -> bool:
    """Whether `deliver_receive` applies: every receiver takes just the words delivered (its FIFO held none
    before them), all as many, into the same SRAM row, inside its transfer; segments of several senders a PE
    apart."""
    if len(pes) == 0 or not segments_of_one(many):
        return False
    c, row = taken[0], base[0] + np.int64(progress[pes[0]])
    for i in range(len(pes)):
        pe = pes[i]
        if (taken[i] != c or count[p_lane[i]] != c or np.int64(pushed[pe]) - np.int64(popped[pe]) != c
                or base[i] + np.int64(progress[pe]) != row or progress[pe] == 0):
            return False
    return True


@njit(cache=True, nogil=True)
def deliver_receive(pes: np.ndarray, base: np.ndarray, progress: np.ndarray, cycle: np.ndarray, stall: np.ndarray,
                    state: np.ndarray, pushed: np.ndarray, popped: np.ndarray, time_block: np.ndarray,
                    value_block: np.ndarray, sram: np.ndarray, cost: float, taken: np.ndarray, latest: np.ndarray,
                    one: np.ndarray, many: np.ndarray, p_lane: np.ndarray, p_latency: np.ndarray, values: np.ndarray,
                    departures: np.ndarray, count: np.ndarray, free: np.ndarray, closed: int = 1,
                    before: np.ndarray | None = None) -> int:
    """`deliver` of a `steady_send`, then `background_receive_step` (whole cycles) of the receivers `pes` (the
    entries of p_lane in order: receiver i is entry i; each inside its transfer and taking taken[i] words
    without finishing it, as `steady_counts` found), in one pass, where every receiver takes exactly the words
    just delivered
    (its FIFO held none before them), all as many, into the same SRAM row (from their own slots: the
    segments' word numbers). A word's arrival is stored in its slot and read back (rounded to the times'
    type, as the deliver stores it and the receive loads it), then the slot gets its take time, and the
    value goes through the slot into SRAM: each slot and SRAM word ends as after the two steps. False
    (nothing changed) where they do not apply. free[j, l] (words j < len(free), -inf before): the most of
    the take time less the latency over sender l's receivers' slots of word j, as `steady_send`'s
    `_slot_free` passes would read them next (where the receivers took a whole FIFO: the next words reuse
    these slots in order): the slots are then read once, as they are written. `closed`: take the shortcut of
    `receive_closed` where `closed_form_applies` (0 or False: the word-by-word passes, for tests to compare;
    `KNOWN`: the caller found that and `receive_applies` true of these arguments, not tested again).
    Returns 0 where it does not apply, else 1; 2 where it took the shortcut with `before` given: the slots'
    stores are then left to the caller (`receive_slots`, with the receivers' clocks before the step, which
    `before` receives), which drops them where the next step rewrites every one of those slots unread."""
    if closed != KNOWN and not receive_applies(pes, base, progress, pushed, popped, taken, many, p_lane, count):
        return 0
    lanes = len(pes)
    c, row = taken[0], base[0] + np.int64(progress[pes[0]])
    if closed == KNOWN and before is not None:  # (the pump's steady receive: one pass over the receivers)
        receive_held(pes, progress, cycle, stall, state, popped, time_block, value_block, sram, row, c, cost, latest,
                     one, many, p_lane, p_latency, values, departures, free, before)
        return 2
    # The transfer's clock in (`background_receive_step` of a lane inside its transfer: `cycle[pe] = state[2, pe]`,
    # read back as float64).
    for i in range(lanes):
        pe = pes[i]
        cycle[pe] = state[2, pe]
        latest[i] = np.float64(cycle[pe]) + 0.0
    depth, value_depth = time_block.shape[0], value_block.shape[0]
    narrow = time_block.itemsize == 4
    first_one, first_value_one = _first_slots(one, depth), _first_slots(one, value_depth)
    first_many, first_value_many = _first_slots(many, depth), _first_slots(many, value_depth)
    done = 1
    if closed == KNOWN or (closed and closed_form_applies(departures, c, p_latency)):
        if before is not None:
            before[:] = latest
            done = 2
        receive_closed(time_block, value_block, sram, row, c, one, first_one, first_value_one, many, first_many,
                       first_value_many, p_lane, p_latency, values, departures, latest, free, narrow, done == 1)
    else:
        for j in range(c):  # (word by word, as `_deliver_one`: each SRAM row written whole in turn)
            _receive_one(time_block, value_block, sram[row + j], j, one, first_one, first_value_one, p_lane,
                         p_latency, values[j], departures[j], latest, free)
            _receive_many(time_block, value_block, sram[row + j], j, many, first_many, first_value_many, p_lane,
                          p_latency, values[j], departures[j], latest, free, narrow)
    # The clocks back: the transfer's, then the PE's own clock and stall (the stall the transfer ran up is dropped,
    # as there).
    for i in range(lanes):
        pe = pes[i]
        popped[pe] += c
        progress[pe] += c
        cycle[pe] = latest[i] + 0.0
        state[2, pe] = cycle[pe]
        cycle[pe] = state[0, pe] + cost
        stall[pe] = state[1, pe]
    return done


# `deliver_receive`'s passes, word by word. Into segments of a sender per PE, plain loops: a slice assigned from a
# slice (Numba checks them for overlap) cost as much as the rest of the pass, and a word's arrival is rounded to
# the times' type (`narrow`: float32) as its store into the slot and load back would round it.
@njit(cache=True, nogil=True)
def _receive_one(time_block: np.ndarray, value_block: np.ndarray, target: np.ndarray, j: int, segments: np.ndarray,
                 first_slot: np.ndarray, first_value_slot: np.ndarray, p_lane: np.ndarray, p_latency: np.ndarray,
                 values: np.ndarray, departures: np.ndarray, latest: np.ndarray, free: np.ndarray) -> None:
    """Word j of `deliver_receive` into segments of one sender (`target`: its SRAM row; values, departures:
    the word's, per sender)."""
    depth, value_depth = time_block.shape[0], value_block.shape[0]
    for g in range(len(segments)):
        first, end, pe = segments[g, 0], segments[g, 1], segments[g, 2]
        size, lane = end - first, p_lane[first]
        slot, value_slot = first_slot[g] + j, first_value_slot[g] + j  # (c <= depth: they wrap at most once)
        slot = slot - depth if slot >= depth else slot
        value_slot = value_slot - value_depth if value_slot >= value_depth else value_slot
        kept = value_block[value_slot, pe:pe + size]
        kept[:] = values[lane]  # (one value: a fill, which a plain loop was no faster than)
        target[pe:pe + size] = kept  # (the value as the FIFO holds it, as the receive reads it)
        departed = departures[lane]
        times_run, latency_run, latest_run = time_block[slot, pe:pe + size], p_latency[first:end], latest[first:end]
        for t in range(size):
            times_run[t] = departed + latency_run[t]  # (stored and read back: rounded to the times' type)
            arrival = np.float64(times_run[t])
            took = arrival if arrival > latest_run[t] else latest_run[t]
            latest_run[t] = took
            times_run[t] = took
        if j < free.shape[0]:  # (the slots' times as stored, read back: `_slot_free_one`)
            free[j, lane] = latest_departure(times_run, latency_run, free[j, lane])


@njit(cache=True, nogil=True)
def _receive_many(time_block: np.ndarray, value_block: np.ndarray, target: np.ndarray, j: int, segments: np.ndarray,
                  first_slot: np.ndarray, first_value_slot: np.ndarray, p_lane: np.ndarray, p_latency: np.ndarray,
                  values: np.ndarray, departures: np.ndarray, latest: np.ndarray, free: np.ndarray,
                  narrow: bool) -> None:
    """`_receive_one` into segments of a sender per PE (a PE apart: `deliver_receive`)."""
    depth, value_depth = time_block.shape[0], value_block.shape[0]
    for g in range(len(segments)):
        first, end, pe = segments[g, 0], segments[g, 1], segments[g, 2]
        size, lane0 = end - first, p_lane[first]
        slot, value_slot = first_slot[g] + j, first_value_slot[g] + j
        slot = slot - depth if slot >= depth else slot
        value_slot = value_slot - value_depth if value_slot >= value_depth else value_slot
        sent = values[lane0:lane0 + size]
        kept, into = value_block[value_slot, pe:pe + size], target[pe:pe + size]
        for t in range(size):
            kept[t] = sent[t]
            into[t] = sent[t]
        departed_run, times_run = departures[lane0:lane0 + size], time_block[slot, pe:pe + size]
        latency_run, latest_run = p_latency[first:end], latest[first:end]
        if narrow:
            for t in range(size):
                arrival = np.float64(np.float32(departed_run[t] + latency_run[t]))
                took = arrival if arrival > latest_run[t] else latest_run[t]
                latest_run[t] = took
                times_run[t] = took
        else:
            for t in range(size):
                arrival = departed_run[t] + latency_run[t]
                took = arrival if arrival > latest_run[t] else latest_run[t]
                latest_run[t] = took
                times_run[t] = took
        if j < free.shape[0]:  # (as `_slot_free_many` reads the slots: elementwise)
            best_run = free[j, lane0:lane0 + size]
            for t in range(size):
                f = times_run[t] - latency_run[t]
                best_run[t] = f if f > best_run[t] else best_run[t]


@njit(cache=True, nogil=True)
def send_step_in_pe_order(pes: np.ndarray, done: np.ndarray, count: np.ndarray, base: np.ndarray, cost: float,
                          word_time: float, cycle: np.ndarray, stall: np.ndarray, progress: np.ndarray,
                          injected: np.ndarray, sram: np.ndarray, pushed: np.ndarray, time_block: np.ndarray,
                          value_block: np.ndarray, dest: np.ndarray, lane: np.ndarray, latency: np.ndarray,
                          p_dest: np.ndarray, p_lane: np.ndarray, p_latency: np.ndarray, link_busy: np.ndarray,
                          link: np.ndarray, link_lane: np.ndarray, link_offset: np.ndarray, previous: np.ndarray,
                          by: np.ndarray, slot_free: np.ndarray, distinct: bool) -> tuple[np.ndarray, bool]:
    """`routed_step_kernels.routed_send_step` where every receiver appears once (p_*: the entries in PE order):
    `steady_send`, then `deliver` of its words, which leave every array as `routed_send_step` leaves it
    (tests/test_stream_pump_steps.py), the receivers' FIFO slots walked in PE order (a column bus's receivers
    in sender order are a PE row apart each). `distinct`: no link listed twice (`fifo_kernels.share_links`)."""
    later, ok, one, many, values, departures = send_step_undelivered(
        pes, done, count, base, cost, word_time, cycle, stall, progress, injected, sram, pushed, time_block,
        value_block, dest, lane, latency, p_dest, p_lane, p_latency, link_busy, link, link_lane, link_offset, previous,
        by, slot_free, distinct)
    if ok:
        deliver(time_block, value_block, one, many, p_lane, p_latency, values, departures, count)
    return later, ok


@njit(cache=True, nogil=True)
def send_step_undelivered(pes: np.ndarray, done: np.ndarray, count: np.ndarray, base: np.ndarray, cost: float,
                          word_time: float, cycle: np.ndarray, stall: np.ndarray, progress: np.ndarray,
                          injected: np.ndarray, sram: np.ndarray, pushed: np.ndarray, time_block: np.ndarray,
                          value_block: np.ndarray, dest: np.ndarray, lane: np.ndarray, latency: np.ndarray,
                          p_dest: np.ndarray, p_lane: np.ndarray, p_latency: np.ndarray, link_busy: np.ndarray,
                          link: np.ndarray, link_lane: np.ndarray, link_offset: np.ndarray, previous: np.ndarray,
                          by: np.ndarray, slot_free: np.ndarray, distinct: bool
                          ) -> tuple[np.ndarray, bool, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """`send_step_in_pe_order` but for its `deliver`: (departures, ok, and what `deliver` would write: the
    segments of one sender and of several, the values and departures (words, lanes)). A stream pump takes
    them (`stream_pump_kernels.pump`'s `first_*`), or the caller delivers them before anything reads the
    receivers' FIFO slots."""
    none = np.empty((0, 5), dtype=np.int64)
    return steady_send(pes, done, count, base, cost, word_time, cycle, stall, progress, injected, sram, pushed,
                       time_block, value_block, dest, lane, latency, p_dest, p_lane, p_latency, link_busy, link,
                       link_lane, link_offset, previous, by, slot_free, none, none, -1, np.empty((0, 0)), distinct)
