"""The compiled loop of a stream pump (`stream_pump`): a routed background send's steps and its receivers'
background receive steps, alternately, in one call.

Each step is the compiled step the scheduler's path would run (`background_kernels.background_receive_step`,
`routed_step_kernels.routed_send_step`, in the forms of `stream_pump_steps`), with the NumPy bookkeeping
of `background._background` around the sender's written out in the same operand types and order; the loop
goes on only while the next pair of steps is one where every receiver takes words without finishing its
transfer and then every sender sends words without finishing its own (the steady state of a panel), or all
of them their last (the pump's last pair), so that what the scheduler does between the steps (wake the
other group, count an instruction that blocks and take it back) changes nothing.

Numba caches this file's machine code with those kernels compiled in, and re-compiles it only when this file's
text changes (`routed_step_kernels` notes what that means after a change to them: `stream_pump_steps` and
`stream_pump_closed` too, whose receives in closed form, `receive_held` among them, are compiled in since this
note, and `stream_pump_panel`, whose runs of steady pairs in closed form per sender take over where a panel's
pairs are uniform).
"""
from __future__ import annotations

import numpy as np
from .compiled.jit import njit

from .background_kernels import background_receive_step
from .fifo_kernels import INT64_MAX, distinct_links, smallest
from .stream_pump_closed import departures_fit, latency_range, receive_slots
from .stream_pump_panel import panel_applies, run_panel
from .stream_pump_steps import KNOWN, deliver, deliver_receive, segments_of_one, steady_send

# Rows of a channel's background state (`background`).
_ISSUE, _STALL, _CLOCK = 0, 1, 2
#: How `pump` ended: before a pair that is not steady, after the senders' last words, at a word arriving early.
STOPPED, FINISHED, EARLY = 0, 1, 2


@njit(cache=True, nogil=True)
def sender_words(s_pes: np.ndarray, s_length: np.ndarray, progress: np.ndarray, room: np.ndarray,
                 count: np.ndarray) -> int:
    """count[l]: the words sender l sends into `room[l]` free slots, up to its transfer's end; the result as
    `steady_counts` returns it."""
    words, last = 0, 0
    for i in range(len(s_pes)):
        left = np.int64(s_length[i]) - np.int64(progress[s_pes[i]])
        send = min(left, room[i])
        if send <= 0:
            return 0
        last += send == left
        count[i] = send
        words = max(words, send)
    if last == 0:
        return words
    return -words if last == len(s_pes) else 0


@njit(cache=True, nogil=True)
def steady_counts(s_pes: np.ndarray, s_length: np.ndarray, r_pes: np.ndarray, r_length: np.ndarray,
                  progress: np.ndarray, pushed: np.ndarray, popped: np.ndarray, dest: np.ndarray, lane: np.ndarray,
                  receiver_of: np.ndarray, depth: int, taken: np.ndarray, count: np.ndarray) -> int:
    """The words of the next pair of steps: taken[i] by receiver i (`background_receive_step`: what has arrived,
    up to the transfer's end), then count[l] by sender l (`routed_room` after those pops, up to its transfer's
    end). Returns the most words a sender sends; minus that where every sender sends its last words (the pump's
    last pair: the senders then go on, and the scheduler finds them where the senders' step leaves them); 0
    when some receiver would take none or finish, or some sender would send none, or some but not all would
    finish (the pump then stops: the scheduler's path runs that pair)."""
    for i in range(len(r_pes)):
        pe = r_pes[i]
        left = np.int64(r_length[i]) - np.int64(progress[pe])
        take = min(left, np.int64(pushed[pe]) - np.int64(popped[pe]))
        if take <= 0 or take >= left:
            return 0
        taken[i] = take
    room = np.full(len(s_pes), INT64_MAX, dtype=np.int64)
    for e in range(len(dest)):
        d = dest[e]
        free = np.int64(depth) - (np.int64(pushed[d]) - (np.int64(popped[d]) + taken[receiver_of[e]]))
        if free < room[lane[e]]:
            room[lane[e]] = free
    return sender_words(s_pes, s_length, progress, room, count)


@njit(cache=True, nogil=True)
def steady_counts_in_order(s_pes: np.ndarray, s_length: np.ndarray, r_pes: np.ndarray, r_length: np.ndarray,
                           progress: np.ndarray, pushed: np.ndarray, popped: np.ndarray, p_lane: np.ndarray,
                           depth: int, taken: np.ndarray, count: np.ndarray, room: np.ndarray, r_base: np.ndarray,
                           sent: np.ndarray, uniform: np.ndarray) -> int:
    """`steady_counts` with the entries in their receivers' order (p_lane[i]: receiver i's sender): one pass
    over the receivers, their PEs in order (the same minima: of integers, in another order). `room`: scratch
    of the senders' size. In the same pass, uniform[0]: `stream_pump_steps.receive_applies` of this state and
    the previous senders' step's counts `sent` (where the next pair is steady), but for its test of the
    segments: every receiver takes the same c words, all its FIFO holds, its sender sent c, into the same
    SRAM row, inside its transfer; uniform[1] (where `uniform` has two): the same but every receiver at the
    first word of its transfer (`start_receives`)."""
    room[:] = INT64_MAX
    same = len(r_pes) > 0
    resumed = starting = same  # (every receiver inside its transfer; every one at its first word)
    c, row = np.int64(0), np.int64(0)
    for i in range(len(r_pes)):
        pe = r_pes[i]
        done = np.int64(progress[pe])
        left = np.int64(r_length[i]) - done
        queued = np.int64(pushed[pe]) - np.int64(popped[pe])
        take = min(left, queued)
        if take <= 0 or take >= left:
            uniform[0] = False
            return 0
        taken[i] = take
        if i == 0:
            c, row = take, r_base[0] + done
        same = same and take == c and sent[p_lane[i]] == c and queued == c and r_base[i] + done == row
        resumed, starting = resumed and done != 0, starting and done == 0
        free = np.int64(depth) - (queued - take)
        if free < room[p_lane[i]]:
            room[p_lane[i]] = free
    uniform[0] = same and resumed
    if len(uniform) > 1:
        uniform[1] = same and starting
    return sender_words(s_pes, s_length, progress, room, count)


@njit(cache=True, nogil=True)
def start_receives(r_pes: np.ndarray, cycle: np.ndarray, stall: np.ndarray, r_state: np.ndarray, r_cost: float,
                   apply: bool) -> bool:
    """Whether the receivers' first receive (every one at the first word of its transfer) may run as one inside
    its transfer (`deliver_receive`'s closed form, `stream_pump_panel.run_panel`): where `apply`, make it one.

    `background_receive_step` starts a transfer so: state[0] = the PE's clock, state[1] = its stall, the clock
    max(clock, state[2] - cost) (in the clocks' type), the words taken from ready = that (as float64) + cost;
    then, as for a lane inside its transfer, the take times from ready, the transfer's clock out, the PE's own
    clock and stall back (state[0] + cost, state[1]). A lane inside its transfer reads its ready time from
    state[2] through the clocks' type: so with state[0], state[1] set and state[2] = ready, every array ends
    as the start leaves it, where ready is exact in the clocks' type (False, nothing changed, where some
    receiver's is not)."""
    box = np.empty_like(cycle[:1])  # (a time as the clocks' type holds it)
    for i in range(len(r_pes)):
        pe = r_pes[i]
        box[0] = max(np.float64(cycle[pe]), r_state[2, pe] - r_cost)
        ready = np.float64(box[0]) + r_cost
        box[0] = ready
        if np.float64(box[0]) != ready:
            return False
    if apply:
        for i in range(len(r_pes)):
            pe = r_pes[i]
            r_state[0, pe] = cycle[pe]
            r_state[1, pe] = stall[pe]
            cycle[pe] = max(np.float64(cycle[pe]), r_state[2, pe] - r_cost)
            r_state[2, pe] = np.float64(cycle[pe]) + r_cost
    return True


@njit(cache=True, nogil=True)
def pump(s_pes: np.ndarray, s_base: np.ndarray, s_length: np.ndarray, s_cost: float, s_state: np.ndarray,
         r_pes: np.ndarray, r_base: np.ndarray, r_length: np.ndarray, r_cost: float, r_state: np.ndarray,
         receiver_of: np.ndarray, word_time: float, whole_cycles: bool, cycle: np.ndarray, stall: np.ndarray,
         progress: np.ndarray, injected: np.ndarray, sram: np.ndarray, pushed: np.ndarray, popped: np.ndarray,
         time_block: np.ndarray, value_block: np.ndarray, dest: np.ndarray, lane: np.ndarray, latency: np.ndarray,
         by_dest: np.ndarray, by_lane: np.ndarray, by_latency: np.ndarray, link_busy: np.ndarray, link: np.ndarray,
         link_lane: np.ndarray, link_offset: np.ndarray, previous: np.ndarray, by: np.ndarray,
         slot_free: np.ndarray, most: int, fuse_free: bool, panel_runs: bool, first_one: np.ndarray,
         first_many: np.ndarray, first_values: np.ndarray, first_departures: np.ndarray, first_sent: np.ndarray,
         p_dest: np.ndarray, p_lane: np.ndarray, p_latency: np.ndarray, distinct: bool, low: float, high: float,
         panel_fits: bool) -> tuple[int, int, np.ndarray, np.ndarray]:
    """Pairs of steps (the receivers' `recva` step, then the senders' `senda` step) while `steady_counts` finds
    the next pair steady, `most` pairs at most (-1: no limit). `s_*`: the senders (sorted, all resuming their
    transfers), `r_*`: their receivers (sorted, distinct: the receivers of the senders' routes, every one of
    them), receiver_of[e]: the receiver index of dest[e]. `slot_free`: (senders, depth) of the times' type,
    scratch. `fuse_free` (`Strategy.pump_slot_free`): where the receivers take a whole FIFO, `deliver_receive`
    finds the next senders' step's slot times as it writes them (`steady_send` then reads none). `panel_runs`
    (`Strategy.pump_panel`): runs of such pairs of a uniform multicast in closed form per sender
    (`stream_pump_panel.run_panel`; only with `fuse_free`). `first_*`: the senders' step before the pump's
    (`StreamPumpMixin._pump_stream`) with its words not yet delivered, as `steady_send` returns them (its
    segments, values, departures, counts; `first_sent` empty: none, delivered): where its receivers take exactly
    those words at the first word of their transfers, in closed form (`start_receives`), else delivered first
    (`deliver`, as that step would have). `p_dest`, `p_lane`, `p_latency`: the entries in their receivers'
    order (`stream_pump_steps.pe_order`), and `distinct`, `low`, `high`, `panel_fits` as `pump_facts` finds
    them: fixed for a route's senders, found once for the calls of a launch (`StreamPumpMixin._pump_stream`).
    Returns
    (pairs run, STOPPED or FINISHED (the last pair's senders sent their last words), -, -);
    on a word that would arrive before one queued earlier, (pairs, EARLY, departures, counts) of that senders'
    step, left as the scheduler's path leaves it (the caller raises the RouteError).

    The steps are `stream_pump_steps`' forms of the scheduler's (the receivers in PE order; a senders' step's
    words delivered with the receivers' next step where that takes just them; such a receive in closed form,
    `stream_pump_closed`, its slots' stores held while the next rewrites them all), each leaving every array
    as the scheduler's would: tests/test_stream_pump_steps.py runs both from states SUMMA launches pumped
    from."""
    depth = time_block.shape[0]
    senders, receivers = len(s_pes), len(r_pes)
    taken = np.empty(receivers, dtype=np.int64)
    count = np.empty(senders, dtype=np.int64)
    done = np.empty(senders, dtype=np.int64)
    finished = np.empty(receivers, dtype=np.bool_)
    moved = np.empty(receivers, dtype=np.bool_)
    latest = np.empty(receivers)
    # A senders' step leaves its words to deliver (`pending`) until the receivers' next step: where they take
    # exactly those words, `deliver_receive` writes each word once, into SRAM and the FIFO slot's final state.
    sent = np.empty(senders, dtype=np.int64)  # (the pending step's counts: `count` is the next pair's)
    uniform = np.zeros(2, dtype=np.bool_)  # (`receive_applies` but for the segments, found with the counts)
    room = np.empty(senders, dtype=np.int64)
    one, many = np.empty((0, 5), dtype=np.int64), np.empty((0, 5), dtype=np.int64)
    values, departures = np.empty((0, 0), dtype=sram.dtype), np.empty((0, 0))
    freed = np.empty((depth, senders))  # (`deliver_receive`'s slot times for the next `steady_send`)
    # A receive in closed form of a whole FIFO (and value ring) leaves its slots' stores until the next: where
    # that one is such a receive too, it rewrites every one of those slots, none read in between (the senders'
    # step between reads `freed`, not the slots), and they are dropped; else made (`receive_slots`) first.
    rewrites = fuse_free and value_block.shape[0] == depth
    before = np.empty(receivers)  # (the receivers' clocks before the receive whose slots' stores wait)
    held = False  # (whether some do: those of the receive of `held_one`, `held_many`, `held_values`, ...)
    held_one, held_many, held_values, held_departures = one, many, values, departures
    pending = last = False
    # (the senders' step before the pump's, its words pending: the first receive may start the transfers)
    starting = senders > 0 and len(first_sent) == senders
    if starting:
        one, many, values, departures = first_one, first_many, first_values, first_departures
        sent[:] = first_sent
        pending = True
    # (runs of steady pairs in closed form per sender, `stream_pump_panel`, where the pair's receive is `whole`)
    panel = panel_runs and rewrites and distinct and panel_fits
    pairs = 0
    while pairs != most:
        words = steady_counts_in_order(s_pes, s_length, r_pes, r_length, progress, pushed, popped, p_lane, depth,
                                       taken, count, room, r_base, sent, uniform)
        if words == 0:
            break
        last, words = words < 0, abs(words)
        received = False
        # (the next words reuse the slots just taken in order where the receivers take a whole FIFO)
        free = freed[:words] if fuse_free and taken[0] == depth else freed[:0]
        if pending:
            free[:] = -np.inf
            # (this receive rewrites every slot the held stores would write, in closed form: `deliver_receive`'s
            # own tests, run here instead)
            whole = (rewrites and taken[0] == depth and uniform[0] and segments_of_one(many)
                     and departures_fit(departures, depth, low, high))
            if (starting and rewrites and taken[0] == depth and uniform[1] and segments_of_one(many)
                    and departures_fit(departures, depth, low, high)
                    and start_receives(r_pes, cycle, stall, r_state, r_cost, False)):
                whole = start_receives(r_pes, cycle, stall, r_state, r_cost, True)  # (now inside their transfers)
            starting = False
            if held and not whole:
                receive_slots(time_block, value_block, depth, held_one, held_many, p_lane, p_latency, before,
                              held_departures, held_values)
            held = False
            if whole and panel:
                most_left = most - pairs if most >= 0 else -1
                ran, last, one, many, values, departures, held_one, held_many, held_values, held_departures = run_panel(
                    s_pes, s_base, s_length, s_cost, s_state, r_pes, r_base, r_length, r_cost, r_state, word_time,
                    cycle, stall, progress, injected, sram, pushed, popped, time_block, value_block, p_lane,
                    p_latency, link_busy, link, link_lane, link_offset, previous, by, slot_free, one, many, values,
                    departures, sent, count, words, last, most_left, low, high, before)
                if ran:  # (its last receive's slots' stores held, its last senders' step's words pending)
                    held = pending = True
                    pairs += ran
                    if last:
                        break
                    continue
            if whole:
                received = deliver_receive(r_pes, r_base, progress, cycle, stall, r_state, pushed, popped,
                                           time_block, value_block, sram, r_cost, taken, latest, one, many, p_lane,
                                           p_latency, values, departures, sent, free, KNOWN, before)
            else:
                received = deliver_receive(r_pes, r_base, progress, cycle, stall, r_state, pushed, popped,
                                           time_block, value_block, sram, r_cost, taken, latest, one, many, p_lane,
                                           p_latency, values, departures, sent, free)
            if received == 2:  # (its slots' stores held: `whole` said so)
                held, held_one, held_many = True, one.copy(), many.copy()
                held_values, held_departures = values, departures
            if not received:
                deliver(time_block, value_block, one, many, p_lane, p_latency, values, departures, sent)
            pending = False
        if not received:
            background_receive_step(r_pes, r_base, r_length, progress, cycle, stall, r_state, pushed, popped,
                                    time_block, value_block, sram, r_cost, whole_cycles, finished, moved)
        # (DONE: the transfers were checked non-empty and inside SRAM before the pump started)
        for i in range(senders):  # the transfers' clocks in (`_background`: every sender resumes)
            pe = s_pes[i]
            cycle[pe] = s_state[_CLOCK, pe]
            done[i] = progress[pe]
        advanced = taken[0] if received else -1
        freed_now = free if received else freed[:0]
        later, ok, one, many, values, departures = steady_send(
            s_pes, done, count, s_base, s_cost, word_time, cycle, stall, progress, injected, sram, pushed, time_block,
            value_block, dest, lane, latency, p_dest, p_lane, p_latency, link_busy, link, link_lane, link_offset,
            previous, by, slot_free[:, :words], one, many, advanced, freed_now, distinct)
        if not ok:
            if held:
                receive_slots(time_block, value_block, depth, held_one, held_many, p_lane, p_latency, before,
                              held_departures, held_values)
            return pairs, EARLY, later, count
        sent[:] = count
        pending = True
        for i in range(senders):  # the PEs' own clocks back (`_background`); finished transfers start afresh
            pe = s_pes[i]
            if last:  # (`_stream`: every sender finished)
                progress[pe] = 0
            s_state[_CLOCK, pe] = cycle[pe]
            cycle[pe] = s_state[_ISSUE, pe] + s_cost
            stall[pe] = s_state[_STALL, pe]
        pairs += 1
        if last:
            break
    # (the held stores before the last words, which may reuse those slots; none where every sender's last step
    # sent a whole FIFO: its words then rewrite every one of them, values and times)
    if held and not (pending and rewrites and smallest(sent) == depth):
        receive_slots(time_block, value_block, depth, held_one, held_many, p_lane, p_latency, before, held_departures,
                      held_values)
    if pending:
        deliver(time_block, value_block, one, many, p_lane, p_latency, values, departures, sent)
    return pairs, FINISHED if last else STOPPED, np.empty((0, 0)), count


@njit(cache=True, nogil=True)
def pump_facts(s_pes: np.ndarray, r_pes: np.ndarray, p_lane: np.ndarray, p_latency: np.ndarray, link: np.ndarray,
               links: int, word_time: float, pes: int) -> tuple[bool, float, float, bool]:
    """What `pump` needs of a route's senders that no step changes: (no link listed twice (`share_links` then
    reads less), the least and most latency (`latency_range`), `stream_pump_panel.panel_applies`). `p_lane`,
    `p_latency`: the entries in their receivers' order; `links`: the links' count (`link_busy.shape[1]`)."""
    low, high = latency_range(p_latency)
    return (distinct_links(link, links), low, high,
            panel_applies(s_pes, r_pes, p_lane, word_time, pes))


@njit(cache=True, nogil=True)
def steady_pairs(s_pes: np.ndarray, s_length: np.ndarray, r_pes: np.ndarray, r_length: np.ndarray,
                 progress: np.ndarray, pushed: np.ndarray, popped: np.ndarray, dest: np.ndarray, lane: np.ndarray,
                 receiver_of: np.ndarray, depth: int) -> int:
    """The pairs `pump` would run from this state: `steady_counts` of the counters alone, each pair's words
    counted into copies of them (how many words move depends on the counters only, never on times)."""
    progress, pushed, popped = progress.copy(), pushed.copy(), popped.copy()
    taken = np.empty(len(r_pes), dtype=np.int64)
    count = np.empty(len(s_pes), dtype=np.int64)
    pairs = 0
    while True:
        words = steady_counts(s_pes, s_length, r_pes, r_length, progress, pushed, popped, dest, lane, receiver_of,
                              depth, taken, count)
        if words == 0:
            return pairs
        for i in range(len(r_pes)):
            popped[r_pes[i]] += taken[i]
            progress[r_pes[i]] += taken[i]
        for i in range(len(s_pes)):
            progress[s_pes[i]] += count[i]
        for e in range(len(dest)):
            pushed[dest[e]] += count[lane[e]]
        pairs += 1
        if words < 0:  # (the senders' last words)
            return pairs


@njit(cache=True, nogil=True)
def pump_receives(sorted_dest: np.ndarray, r_pes: np.ndarray, base_row: np.ndarray, length_row: np.ndarray,
                  words: int) -> tuple[bool, np.ndarray, np.ndarray]:
    """(whether the receivers `r_pes` are exactly a route's sorted receivers `sorted_dest` and each one's receive,
    at its `base_row` and `length_row` registers, is non-empty and inside SRAM's `words`; the receives' bases and
    lengths as int64): `StreamPumpMixin._pump_receivers`' last test in one pass (its NumPy comparisons, gathers
    and tests took ~40 us of each of a GEMM's panels)."""
    count = len(r_pes)
    base = np.empty(count, dtype=np.int64)
    length = np.empty(count, dtype=np.int64)
    if len(sorted_dest) != count:
        return False, base, length
    for i in range(count):
        pe = r_pes[i]
        if sorted_dest[i] != pe:
            return False, base, length
        first, words_of = np.int64(base_row[pe]), np.int64(length_row[pe])
        if words_of <= 0 or first < 0 or first + words_of > words:
            return False, base, length
        base[i], length[i] = first, words_of
    return True, base, length
