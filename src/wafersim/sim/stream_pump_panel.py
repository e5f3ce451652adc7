"""A run of a stream pump's steady pairs in closed form per sender (`run_panel`, called by
`stream_pump_kernels.pump`): the receivers' arrays touched once per run, not once per pair.

In a panel's steady state (a uniform multicast: every receiver takes every word its sender sent, a whole FIFO
each pair, into the same SRAM row) each pair of the pump reads and writes every receiver several times: the
counts (`steady_counts_in_order`), the receive (`stream_pump_closed.receive_held`: the clock in, its part of
the slots' free times, the clock out, the counters), the arrival books (`fifo_kernels.routed_arrivals`: an
order check, `previous`, `by`, `pushed`) and every link of the senders' paths twice (`fifo_kernels.share_links`).
Where the times are whole numbers below 2**24 (`stream_pump_closed`'s condition, which whole cycles and the
narrow-times rule give a launch's steady streams) none of those depends on a receiver but through its sender
and latency:

- a receiver t of sender l leaves each closed-form receive at max(clock, d + latency[t]), d the last word's
  departure: after several, at max(clock0, D + latency[t]), D the most of those departures (the maxima of
  exact sums: the same number); so the most over l's receivers of clock - latency[t] (the slots' free times'
  part, `held`) is max(held0, D) -- per sender;
- a word arrives before the one queued there, departure + latency[t] < previous[t], exactly where its
  departure is before the previous word's departure (after the first pair, whose check is the receivers');
- every link e of sender l's path, reached link_offset[e] after its words leave, holds a reservation
  (B0[l] + link_offset[e], B1[l] + link_offset[e]) at the run's start (checked, `_link_bases`): then its wait
  and new reservation are those of (B0[l], B1[l]) moved by link_offset[e], every sum exact -- per sender.

So a run walks the senders per pair (their departures, link waits, values, clocks: the `steady_send`
operations, in its order) and the receivers once at its end (their clocks, counters, books), plus the SRAM
stores of the words taken, word by word, the one store per word and receiver that is left. It stops before a
pair outside those conditions (nothing of that pair done: the pump's own steps then run it, raising an early
arrival as they would), and every array ends bit for bit as the pump's steps leave it
(tests/test_stream_pump_panel.py).
"""
from __future__ import annotations

import numpy as np
from .compiled.jit import njit

from .fifo_kernels import INT64_MAX, gather_word_runs, largest, smallest, whole_cycle_departures
from .stream_pump_closed import departures_fit

# Rows of a channel's background state (`background`).
_ISSUE, _STALL, _CLOCK = 0, 1, 2
#: Whole numbers below this are exact in float32, their sums exact in float64 (`stream_pump_closed._EXACT`).
_EXACT = float(2**24)
#: Reservations and their differences stay exact in float64 below this (whole numbers).
_WIDE = float(2**50)


@njit(cache=True, nogil=True)
def _whole(x: float, bound: float) -> bool:
    """Whether x is a whole number in [0, bound)."""
    return 0.0 <= x < bound and x == np.floor(x)


@njit(cache=True, nogil=True)
def _base_fits(b: float) -> bool:
    """Whether a link base is -inf (never reserved) or a whole number whose sums with offsets stay exact."""
    return b == -np.inf or (-_WIDE < b < _WIDE and b == np.floor(b))


@njit(cache=True, nogil=True)
def _link_bases(link_busy: np.ndarray, link: np.ndarray, link_lane: np.ndarray, link_offset: np.ndarray,
                senders: int, base0: np.ndarray, base1: np.ndarray) -> bool:
    """base0[l], base1[l]: sender l's links' reservations less their offsets, where every one of its links holds
    the same (exactly: each reservation is its base plus the offset again) and all are whole numbers (or -inf:
    a link never reserved) whose sums stay exact; else False."""
    busy0, busy1 = link_busy[0], link_busy[1]
    seen = np.zeros(senders, dtype=np.bool_)
    fits = True
    for e in range(len(link)):  # (one branch-free pass: `fits` tells at the end)
        l, r, offset = link[e], link_lane[e], link_offset[e]
        b0, b1 = busy0[l] - offset, busy1[l] - offset
        if not seen[r]:
            seen[r], base0[r], base1[r] = True, b0, b1
            fits = fits and _base_fits(b0) and _base_fits(b1)
        fits = (fits and b0 == base0[r] and b1 == base1[r] and b0 + offset == busy0[l] and b1 + offset == busy1[l]
                and 0.0 <= offset < _EXACT and offset == np.floor(offset))
    return fits


@njit(cache=True, nogil=True)
def panel_applies(s_pes: np.ndarray, r_pes: np.ndarray, p_lane: np.ndarray, word_time: float, pes: int) -> bool:
    """The pump's fixed conditions for `run_panel`: the senders and the receivers distinct PEs (their clocks
    and counters then never alias), every sender with receivers (each sender's room is then its receivers'),
    and a whole word time."""
    if not _whole(word_time, _EXACT) or len(r_pes) == 0:
        return False
    mark = np.zeros(pes, dtype=np.bool_)
    for i in range(len(r_pes)):
        mark[r_pes[i]] = True
    for i in range(len(s_pes)):
        if mark[s_pes[i]]:
            return False
    reached = np.zeros(len(s_pes), dtype=np.bool_)
    for i in range(len(p_lane)):
        reached[p_lane[i]] = True
    for i in range(len(s_pes)):  # (not `reached.all()`: its machine code refers to `numba.np.arraymath`, which
        if not reached[i]:       # loading this function's from Numba's cache would then import, SciPy with it)
            return False
    return True


@njit(cache=True, nogil=True)
def _send(s_pes: np.ndarray, s_base: np.ndarray, count: np.ndarray, words: int, s_cost: float, s_state: np.ndarray,
          progress: np.ndarray, word_time: float, departed: np.ndarray, c: int, held: np.ndarray, base0: np.ndarray,
          base1: np.ndarray, sram: np.ndarray, slot_free: np.ndarray, has_links: bool, box: np.ndarray
          ) -> tuple[bool, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A senders' step of `steady_send` after a closed-form receive (free[j, l] = max(departed[j, l], held[l])),
    its links' waits per sender; nothing stored but `slot_free` (`box`: scratch of the clocks' type). Returns
    (whether every departure is a whole number below 2**24, before and after the waits (else the rest is not
    to be used), ready, later (lanes, words) with the waits, the new link bases base0, base1, the values
    (words, lanes), the departures (words, lanes))."""
    lanes = len(s_pes)
    ready = np.empty(lanes)
    for i in range(lanes):  # (the transfer's clock in, as the PE's clock holds it: `steady_send`'s ready)
        box[0] = s_state[_CLOCK, s_pes[i]]
        ready[i] = np.float64(box[0]) + (s_cost if progress[s_pes[i]] == 0 else 0.0)
    later = np.empty((lanes, words))
    for i in range(lanes):  # (`steady_send`'s departures from `_free_times`' free times, operation by operation)
        for j in range(words):
            f = -np.inf
            if j < c:
                d = departed[j, i]
                g = d if d > held[i] else held[i]
                f = g if g > f else f
            slot_free[i, j] = f if f > 0.0 else 0.0
        whole_cycle_departures(slot_free, i, words, ready[i], word_time, later)
    exact = True  # (every departure, before and after the links' waits, a whole number below 2**24)
    for i in range(lanes):
        for j in range(words):
            exact = exact and _whole(later[i, j], _EXACT)
    new0, new1 = base0.copy(), base1.copy()
    if has_links and exact:  # (`share_links` per sender: every link of a sender holds its base moved by its offset)
        delay = np.zeros(lanes)
        for i in range(lanes):
            first, last = later[i, 0], later[i, count[i] - 1]
            if first < base1[i] and last + word_time > base0[i]:
                delay[i] = base1[i] - first
        for i in range(lanes):
            begin, end = later[i, 0] + delay[i], later[i, count[i] - 1] + word_time + delay[i]
            if begin >= new1[i]:
                if begin > new1[i]:
                    new0[i] = begin
                new1[i] = end
            for j in range(words):
                later[i, j] += delay[i]
                exact = exact and _whole(later[i, j], _EXACT)
    departures = np.empty((words, lanes))
    for i in range(lanes):
        for j in range(words):
            departures[j, i] = later[i, j]
    starts = np.empty(lanes, dtype=np.int64)
    for i in range(lanes):
        starts[i] = s_base[i] + np.int64(progress[s_pes[i]])
    values = gather_word_runs(sram, starts, s_pes, count, words).T.copy()
    return exact, ready, later, new0, new1, values, departures


@njit(cache=True, nogil=True)
def _stores(sram: np.ndarray, row: int, c: int, one: np.ndarray, many: np.ndarray, p_lane: np.ndarray,
            values: np.ndarray) -> None:
    """A closed-form receive's SRAM stores (`stream_pump_closed._closed_stores` with `rows` alone): word j of
    each segment's senders into SRAM row + j, a row at a time, indexed in place (no view per segment and
    word: those cost as much as the stores). The indices are unsigned (every one is a PE or a lane, never
    negative): a signed index is checked for wrapping around at every word, which kept LLVM from vectorising
    these loops (a GEMM panel's stores 4x slower: 0.6-0.95 against 0.12-0.16 ms for 64 x 64 PEs' 256 words)."""
    for j in range(c):
        into, sent = sram[row + j], values[j]
        for g in range(len(one)):
            first, end, pe = one[g, 0], one[g, 1], one[g, 2]
            value = sent[p_lane[first]]
            start = np.uint64(pe)
            for t in range(np.uint64(end - first)):
                into[start + t] = value
        for g in range(len(many)):
            first, end, pe = many[g, 0], many[g, 1], many[g, 2]
            start, lane0 = np.uint64(pe), np.uint64(p_lane[first])
            for t in range(np.uint64(end - first)):
                into[start + t] = sent[lane0 + t]


@njit(cache=True, nogil=True)
def run_panel(s_pes: np.ndarray, s_base: np.ndarray, s_length: np.ndarray, s_cost: float, s_state: np.ndarray,
              r_pes: np.ndarray, r_base: np.ndarray, r_length: np.ndarray, r_cost: float, r_state: np.ndarray,
              word_time: float, cycle: np.ndarray, stall: np.ndarray, progress: np.ndarray, injected: np.ndarray,
              sram: np.ndarray, pushed: np.ndarray, popped: np.ndarray, time_block: np.ndarray,
              value_block: np.ndarray, p_lane: np.ndarray, p_latency: np.ndarray, link_busy: np.ndarray,
              link: np.ndarray, link_lane: np.ndarray, link_offset: np.ndarray, previous: np.ndarray,
              by: np.ndarray, slot_free: np.ndarray, one: np.ndarray, many: np.ndarray, values: np.ndarray,
              departures: np.ndarray, sent: np.ndarray, count: np.ndarray, words: int, last: bool, most: int,
              low: float, high: float, before: np.ndarray
              ) -> tuple[int, bool, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray,
                         np.ndarray, np.ndarray]:
    """Steady pairs of `pump` from a pair whose receive is a closed-form receive of whole FIFOs (`pump`'s
    `whole`; its counts `count`, `words`, `last` found, the previous senders' step's words pending: `one`,
    `many`, `values`, `departures`, `sent`), while the next is one too, `most` at most (> 0), in closed form
    per sender (module docstring). Returns (pairs run, whether the last sent the senders' last words, then
    as the pump's steps leave them: the pending senders' step's segments `one`, `many`, values, departures,
    and the last receive's, whose slots' stores are held (`receive_slots`; `before` gets its receivers'
    clocks before it)); `sent`, `count` as there. 0 pairs: nothing changed (the pump's steps run that one)."""
    senders, receivers, depth = len(s_pes), len(r_pes), time_block.shape[0]
    nothing = (0, last, one, many, values, departures, one, many, values, departures)
    c = depth  # (every receive of the run takes a whole FIFO)
    base0, base1 = np.empty(senders), np.empty(senders)
    has_links = len(link) > 0
    if has_links and not _link_bases(link_busy, link, link_lane, link_offset, senders, base0, base1):
        return nothing
    if not (high < _EXACT):
        return nothing
    # The receivers, read: their clocks' part of the slots' free times (`held`), the least words left.
    held = np.full(senders, -np.inf)
    left = INT64_MAX
    box = np.empty_like(cycle[:1])  # (a time as the clocks' type holds it)
    for i in range(receivers):
        box[0] = r_state[_CLOCK, r_pes[i]]
        clock = np.float64(box[0])  # (as `receive_held` reads it)
        if not _whole(clock, _EXACT):
            return nothing
        f, lane = clock - p_latency[i], p_lane[i]
        held[lane] = f if f > held[lane] else held[lane]
        left = min(left, np.int64(r_length[i]) - np.int64(progress[r_pes[i]]))
    row = r_base[0] + np.int64(progress[r_pes[0]])  # (the same row for all: `uniform`)
    latest = np.full(senders, -np.inf)  # (the most departure of a last word taken: the receivers' clocks)
    earlier = latest.copy()  # (that before the last receive: `before`)
    added = np.zeros(senders, dtype=np.int64)  # (words pushed to each sender's receivers)
    held_one, held_many, held_values, held_departures = one, many, values, departures
    previous_later = np.empty((0, 0))
    trial = np.empty(senders, dtype=np.int64)  # (the next pair's counts, `count` once it runs)
    pairs = 0
    while True:
        if pairs > 0:  # the next pair: `whole` again (every sender sent a whole FIFO), and its counts
            if (last or pairs == most or left - pairs * c <= c or smallest(sent) != c or largest(sent) != c
                    or not departures_fit(departures, depth, low, high)):
                break
            words, finishing = 0, 0  # (`steady_counts_in_order` of the uniform state: each sender's room a FIFO)
            for l in range(senders):
                to_go = np.int64(s_length[l]) - np.int64(progress[s_pes[l]])
                trial[l] = min(to_go, np.int64(depth))
                finishing += trial[l] == to_go
                words = max(words, trial[l])
            if smallest(trial) <= 0 or 0 < finishing < senders:
                break
            count[:] = trial
            last = finishing == senders
        exact, ready, later, new0, new1, new_values, new_departures = _send(
            s_pes, s_base, count, words, s_cost, s_state, progress, word_time, departures, c, held, base0, base1,
            sram, slot_free, has_links, box)
        if not exact:
            break
        if pairs == 0:  # (a word arriving early: the first pair's check reads the receivers' books)
            early = False
            for i in range(receivers):
                early = early or later[p_lane[i], 0] + p_latency[i] < previous[r_pes[i]]
            if early:
                break
        else:
            early = False
            for l in range(senders):
                early = early or later[l, 0] < previous_later[l, sent[l] - 1]
            if early:
                break
        # The pair is run: the receive's SRAM stores and its part of the clocks (per sender), ...
        _stores(sram, row + pairs * c, c, one, many, p_lane, values)
        held_one, held_many, held_values, held_departures = one.copy(), many.copy(), values, departures
        for l in range(senders):
            d = departures[c - 1, l]
            earlier[l] = latest[l]
            latest[l] = d if d > latest[l] else latest[l]
            held[l] = d if d > held[l] else held[l]
        # ... then the senders' step, as `steady_send` and `pump` store it.
        one[:, 4] += c
        many[:, 4] += c
        for i in range(senders):
            pe = s_pes[i]
            cycle[pe] = s_state[_CLOCK, pe]
            end = later[i, count[i] - 1]
            stall[pe] = np.float64(stall[pe]) + (end - ready[i] - np.float64(count[i] - 1) * word_time)
            cycle[pe] = end + word_time
            progress[pe] += count[i]
            injected[pe] += count[i]
            added[i] += count[i]
            if last:
                progress[pe] = 0
            s_state[_CLOCK, pe] = cycle[pe]
            cycle[pe] = s_state[_ISSUE, pe] + s_cost
            stall[pe] = s_state[_STALL, pe]
        base0, base1 = new0, new1
        values, departures, previous_later = new_values, new_departures, later
        sent[:] = count
        pairs += 1
    if pairs == 0:
        return nothing
    # The receivers, once: their clocks, counters and books as the pairs' steps leave them.
    for i in range(receivers):
        pe, lane, latency = r_pes[i], p_lane[i], p_latency[i]
        box[0] = r_state[_CLOCK, pe]
        clock = np.float64(box[0])
        arrival = earlier[lane] + latency
        before[i] = arrival if arrival > clock else clock
        arrival = latest[lane] + latency
        cycle[pe] = arrival if arrival > clock else clock
        r_state[_CLOCK, pe] = cycle[pe]
        cycle[pe] = r_state[_ISSUE, pe] + r_cost
        stall[pe] = r_state[_STALL, pe]
        popped[pe] += pairs * c
        progress[pe] += pairs * c
        previous[pe] = previous_later[lane, sent[lane] - 1] + latency
        by[pe] = s_pes[lane]
        pushed[pe] += added[lane]
    if has_links:
        busy0, busy1 = link_busy[0], link_busy[1]
        for e in range(len(link)):
            busy0[link[e]] = base0[link_lane[e]] + link_offset[e]
            busy1[link[e]] = base1[link_lane[e]] + link_offset[e]
    return pairs, last, one, many, values, departures, held_one, held_many, held_values, held_departures
