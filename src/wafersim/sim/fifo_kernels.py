"""Compiled gathers and scatters of runs of FIFO slots and SRAM words, one run per lane.

A vector transfer of L lanes moving W words each reads and writes (L, W) entries of (slots, PEs) arrays.
NumPy's two-array fancy indexing (and the boolean selections of the valid entries before it) cost several
times what these loops do; they move the same entries (of two writes to one entry the later one in row-major
(lane, word) order wins, as in NumPy's assignment), converting values as NumPy's assignment does, so the
results are identical. Every loop runs word by word with the lanes innermost: rows of a field are 4 * PEs
bytes apart, and lanes in lockstep then read and write each row contiguously instead of touching a row per
word (rows a power-of-two stride apart share cache sets).
"""
from __future__ import annotations

import numpy as np
from .compiled.jit import njit

#: The int64 maximum, as a constant of the module: compiled code that reads `np.iinfo(np.int64).max` itself
#: refers to Numba's `numba.np.arraymath`, which loading its cached machine code then imports (with SciPy's
#: `scipy.linalg`: ~0.2 s of a process's start-up, `numba_cache.load_before_registries`).
INT64_MAX = int(np.iinfo(np.int64).max)


@njit(cache=True, nogil=True)
def smallest(values: np.ndarray):
    """`values.min()` of an integer array, whose own machine code refers to `numba.np.arraymath` (`INT64_MAX`);
    a ValueError for an empty one, as there."""
    if len(values) == 0:
        raise ValueError("zero-size array to reduction operation minimum which has no identity")
    low = values[0]
    for i in range(1, len(values)):
        low = min(low, values[i])
    return low


@njit(cache=True, nogil=True)
def largest(values: np.ndarray):
    """`values.max()` of an integer array (`smallest`)."""
    if len(values) == 0:
        raise ValueError("zero-size array to reduction operation maximum which has no identity")
    high = values[0]
    for i in range(1, len(values)):
        high = max(high, values[i])
    return high


@njit(cache=True, nogil=True)
def lane_runs(pes: np.ndarray) -> np.ndarray:
    """Where the runs of consecutive PEs start in `pes` (lane numbers), then len(pes): runs[r] .. runs[r + 1]
    are lanes whose PEs are pes[runs[r]] + 0, 1, ..."""
    lanes = len(pes)
    count = 1
    for k in range(1, lanes):
        if pes[k] != pes[k - 1] + 1:
            count += 1
    runs = np.empty(count + 1, dtype=np.int64)
    runs[0] = 0
    r = 0
    for k in range(1, lanes):
        if pes[k] != pes[k - 1] + 1:
            r += 1
            runs[r] = k
    runs[count] = lanes
    return runs


@njit(cache=True, nogil=True)
def gather_slot_runs(block: np.ndarray, slots: np.ndarray, pes: np.ndarray) -> np.ndarray:
    """out[i, j] = block[slots[i, j], pes[i]]."""
    lanes, words = slots.shape
    out = np.empty((lanes, words), dtype=block.dtype)
    for j in range(words):
        for i in range(lanes):
            out[i, j] = block[slots[i, j], pes[i]]
    return out


@njit(cache=True, nogil=True)
def scatter_slot_runs(block: np.ndarray, slots: np.ndarray, pes: np.ndarray, values: np.ndarray,
                      counts: np.ndarray) -> None:
    """block[slots[i, j], pes[i]] = values[i, j] for j < counts[i] (each (slot, PE) written at most once:
    a lane's run of slots is shorter than the ring, and lanes are distinct PEs)."""
    lanes, words = slots.shape
    for j in range(words):
        for i in range(lanes):
            if j < counts[i]:
                block[slots[i, j], pes[i]] = values[i, j]


@njit(cache=True, nogil=True)
def gather_word_runs(sram: np.ndarray, first: np.ndarray, pes: np.ndarray, counts: np.ndarray,
                     words: int) -> np.ndarray:
    """out[i, j] = sram[first[i] + j, pes[i]] for j < counts[i], zero after: (lanes, words)."""
    out = np.zeros((len(pes), words), dtype=sram.dtype)
    for j in range(words):
        for i in range(len(pes)):
            if j < counts[i]:
                out[i, j] = sram[first[i] + j, pes[i]]
    return out


@njit(cache=True, nogil=True)
def scatter_word_runs(sram: np.ndarray, first: np.ndarray, pes: np.ndarray, counts: np.ndarray,
                      values: np.ndarray) -> None:
    """sram[first[i] + j, pes[i]] = values[i, j] for j < counts[i] (distinct lanes: distinct PEs)."""
    for j in range(values.shape[1]):
        for i in range(len(pes)):
            if j < counts[i]:
                sram[first[i] + j, pes[i]] = values[i, j]


@njit(cache=True, nogil=True)
def receive_slot_runs(time_block: np.ndarray, value_block: np.ndarray, sram: np.ndarray, pes: np.ndarray,
                      first_word: np.ndarray, ready: np.ndarray, counts: np.ndarray, first_row: np.ndarray,
                      words: int) -> np.ndarray:
    """A bulk receive of counts[i] words by each lane i (distinct PEs) from its own FIFO
    (`exchange._stream_bulk`): word j (number first_word[i] + j) is taken at max(taken[j - 1], its arrival)
    (taken[-1] = ready[i]), its value goes to SRAM word first_row[i] + j, and its slot's time becomes the
    take time. Returns the take times, (lanes, words) float64; entries past a lane's count repeat its last
    take (callers ignore them)."""
    depth, value_depth = time_block.shape[0], value_block.shape[0]
    lanes = len(pes)
    taken = np.empty((lanes, words), dtype=np.float64)
    latest = ready.copy()
    slot, value_slot = first_word % depth, first_word % value_depth  # (then stepped: no divisions)
    take_slot_words(time_block, value_block, sram, pes, slot, value_slot, latest, counts, first_row, words, taken)
    return taken


@njit(cache=True, nogil=True, forceinline=True)
def take_slot_words(time_block: np.ndarray, value_block: np.ndarray, sram: np.ndarray, pes: np.ndarray,
                    slot: np.ndarray, value_slot: np.ndarray, latest: np.ndarray, counts: np.ndarray,
                    first_row: np.ndarray, words: int, taken: np.ndarray) -> None:
    """The word-by-word take of a bulk receive (lanes innermost: SRAM is word-major): lane i's word j is taken at
    max(latest[i], its arrival), stored at SRAM word first_row[i] + j, and its slot's time becomes the take time;
    `slot`/`value_slot`/`latest` are stepped in place. Where `taken` has `words` columns, taken[i, j] records
    latest[i] after word j (for every j: a lane past its count repeats its last take)."""
    depth, value_depth = time_block.shape[0], value_block.shape[0]
    record = taken.shape[1] >= words
    for j in range(words):
        for i in range(len(pes)):
            if j < counts[i]:
                pe = pes[i]
                arrival = np.float64(time_block[slot[i], pe])
                if arrival > latest[i]:
                    latest[i] = arrival
                sram[first_row[i] + j, pe] = value_block[value_slot[i], pe]
                time_block[slot[i], pe] = latest[i]
                slot[i] = slot[i] + 1 if slot[i] + 1 < depth else 0
                value_slot[i] = value_slot[i] + 1 if value_slot[i] + 1 < value_depth else 0
            if record:
                taken[i, j] = latest[i]


@njit(cache=True, nogil=True)
def transfer_ranges(base_row: np.ndarray, length_row: np.ndarray, pes: np.ndarray, size: int
                    ) -> tuple[np.ndarray, np.ndarray, bool]:
    """Each lane's SRAM base and length (int64) of a vector transfer from registers' rows, and whether every range
    lies inside SRAM ([0, `size`), no negative length): `exchange._stream_range` in one pass where all is well."""
    base, length = np.empty(len(pes), dtype=np.int64), np.empty(len(pes), dtype=np.int64)
    inside = True
    for i in range(len(pes)):
        first, words = np.int64(base_row[pes[i]]), np.int64(length_row[pes[i]])
        base[i], length[i] = first, words
        if first < 0 or words < 0 or first + words > size:
            inside = False
    return base, length, inside


@njit(cache=True, nogil=True)
def bulk_receive_step(pes: np.ndarray, base: np.ndarray, length: np.ndarray, cost: float, progress: np.ndarray,
                      pushed: np.ndarray, popped: np.ndarray, time_block: np.ndarray, value_block: np.ndarray,
                      sram: np.ndarray, cycle: np.ndarray, stall: np.ndarray) -> np.ndarray:
    """`exchange._stream_bulk`'s receive step with whole-cycle times, as one call: each lane i (distinct PEs)
    takes min(words left of its transfer, words queued) words from its own FIFO as `receive_slot_runs` does (word
    by word, the lanes innermost), then its stall, clock, progress and FIFO count are written as the NumPy path
    writes them (`waits_added` with whole cycles: the waits telescope to last - ready; the sums in float64, each
    stored with its array's rounding). Returns which lanes took words."""
    depth, value_depth = time_block.shape[0], value_block.shape[0]
    lanes = len(pes)
    took = np.zeros(lanes, dtype=np.bool_)
    count, row = np.zeros(lanes, dtype=np.int64), np.zeros(lanes, dtype=np.int64)
    slot, value_slot = np.zeros(lanes, dtype=np.int64), np.zeros(lanes, dtype=np.int64)
    ready, latest = np.zeros(lanes), np.zeros(lanes)
    words = 0
    for i in range(lanes):
        pe = pes[i]
        done = np.int64(progress[pe])
        count[i] = min(length[i] - done, np.int64(pushed[pe]) - np.int64(popped[pe]))
        if count[i] <= 0:
            count[i] = 0
            continue
        took[i] = True
        words = max(words, count[i])
        ready[i] = np.float64(cycle[pe]) + (cost if done == 0 else 0.0)
        latest[i] = ready[i]
        first_word = np.int64(popped[pe])
        slot[i], value_slot[i] = first_word % depth, first_word % value_depth
        row[i] = base[i] + done
    take_slot_words(time_block, value_block, sram, pes, slot, value_slot, latest, count, row, words,
                    np.empty((0, 0), dtype=np.float64))
    for i in range(lanes):
        if took[i]:
            pe = pes[i]
            stall[pe] = np.float64(stall[pe]) + (latest[i] - ready[i] - np.float64(count[i] - 1) * 0.0)
            cycle[pe] = latest[i] + 0.0
            progress[pe] += count[i]
            popped[pe] += count[i]
    return took


@njit(cache=True, nogil=True)
def receiver_segments(dest: np.ndarray, lane: np.ndarray, first_word: np.ndarray) -> np.ndarray:
    """The receivers of a routed step cut into segments of one lane and one first word number whose PEs
    step by a constant stride (a bus's row or column, in either direction): rows (first entry, end, first PE,
    stride), in receiver order. A multicast's thousands of receivers make a few segments per sender."""
    out = np.empty((len(dest), 4), dtype=np.int64)
    count = 0
    e = 0
    while e < len(dest):
        end = e + 1
        stride = dest[end] - dest[e] if end < len(dest) else 1
        while (end < len(dest) and lane[end] == lane[e] and first_word[end] == first_word[e]
               and dest[end] - dest[end - 1] == stride):
            end += 1
        out[count, 0], out[count, 1], out[count, 2], out[count, 3] = e, end, dest[e], stride
        count += 1
        e = end
    return out[:count]


@njit(cache=True, nogil=True)
def routed_slot_free(time_block: np.ndarray, dest: np.ndarray, lane: np.ndarray, latency: np.ndarray,
                     first_word: np.ndarray, lanes: int, words: int) -> np.ndarray:
    """out[lane[e], j] = max over the receivers e of a lane of (the time of the slot word first_word[e] + j
    takes at dest[e]) - latency[e], -inf for none: when each word of a routed send may leave so that it
    reaches every receiver after the word `depth` ahead of it was popped there (`routed`)."""
    return slot_free_of_segments(time_block, receiver_segments(dest, lane, first_word), lane, latency, first_word,
                                 lanes, words)


@njit(cache=True, nogil=True, inline="always")
def whole_cycle_departures(slot_free: np.ndarray, i: int, words: int, ready: float, word_time: float,
                           later: np.ndarray) -> None:
    """later[i, j] for j < words: `send_departures` with whole cycles for sender i, word j leaving at
    j * word_time + the running maximum of slot_free[i, :j + 1] - j * word_time, from `ready` (the slot times
    already rounded to the times' type, as `np.maximum(slot_free, free, out=)` rounds them). Inlined (Numba IR)
    where it is called: the routed send step, the pump's step and the pump's closed-form runs share it."""
    best = 0.0
    for j in range(words):
        spacing = np.float64(j) * word_time
        shifted = np.float64(slot_free[i, j]) - spacing
        if j == 0:
            best = shifted if shifted >= ready else ready
        elif not best >= shifted:
            best = shifted
        later[i, j] = best + spacing


@njit(cache=True, nogil=True, inline="always")
def latest_departure(times_run: np.ndarray, latency_run: np.ndarray, best: float) -> float:
    """The maximum of `best` and times_run - latency_run over a contiguous run: four maxima (chains of
    dependent compares, four at a time), equal to one maximum but perhaps for the sign of a zero, which every
    caller erases (it takes the maximum with +0.0; times are never NaN). Inlined (Numba IR) where it is
    called, so a caller's loop compiles as if it were written out there."""
    size = len(times_run)
    b1, b2, b3 = best, best, best
    t = 0
    while t + 4 <= size:
        f0, f1 = times_run[t] - latency_run[t], times_run[t + 1] - latency_run[t + 1]
        f2, f3 = times_run[t + 2] - latency_run[t + 2], times_run[t + 3] - latency_run[t + 3]
        best = f0 if f0 > best else best
        b1 = f1 if f1 > b1 else b1
        b2 = f2 if f2 > b2 else b2
        b3 = f3 if f3 > b3 else b3
        t += 4
    while t < size:
        f0 = times_run[t] - latency_run[t]
        best = f0 if f0 > best else best
        t += 1
    best = best if best > b1 else b1
    b2 = b2 if b2 > b3 else b3
    return best if best > b2 else b2


@njit(cache=True, nogil=True)
def slot_free_of_segments(time_block: np.ndarray, segments: np.ndarray, lane: np.ndarray, latency: np.ndarray,
                          first_word: np.ndarray, lanes: int, words: int) -> np.ndarray:
    """`routed_slot_free` of the receivers' `receiver_segments`."""
    depth = time_block.shape[0]
    out = np.full((lanes, words), -np.inf)
    first_slot = np.empty(len(segments), dtype=np.int64)
    for g in range(len(segments)):
        first_slot[g] = first_word[segments[g, 0]] % depth
    # A segment (`receiver_segments`) at a time, word by word: one slot row per word, no index per receiver.
    # Four maxima per run (a chain of dependent compares per maximum, four at a time): the maximum of the
    # same values in another order, equal but perhaps for the sign of a zero, which every caller erases
    # (it takes the maximum with +0.0; times are never NaN).
    for g in range(len(segments)):
        first, end, pe, stride = segments[g, 0], segments[g, 1], segments[g, 2], segments[g, 3]
        row = lane[first]
        for j in range(words):  # (words <= depth: a slot index wraps at most once)
            slot = first_slot[g] + j
            if slot >= depth:
                slot -= depth
            best = out[row, j]
            if stride == 1:  # (a row bus: contiguous slices; of the block in place, as in `deliver_segments`)
                best = latest_departure(time_block[slot, pe:pe + end - first], latency[first:end], best)
            else:  # (a column bus: a stride of a row of PEs; four maxima likewise)
                size = end - first
                b1, b2, b3 = best, best, best
                t = 0
                while t + 4 <= size:
                    at, e = pe + t * stride, first + t
                    f0, f1 = time_block[slot, at] - latency[e], time_block[slot, at + stride] - latency[e + 1]
                    f2 = time_block[slot, at + 2 * stride] - latency[e + 2]
                    f3 = time_block[slot, at + 3 * stride] - latency[e + 3]
                    best = f0 if f0 > best else best
                    b1 = f1 if f1 > b1 else b1
                    b2 = f2 if f2 > b2 else b2
                    b3 = f3 if f3 > b3 else b3
                    t += 4
                while t < size:
                    f0 = time_block[slot, pe + t * stride] - latency[first + t]
                    best = f0 if f0 > best else best
                    t += 1
                best = best if best > b1 else b1
                b2 = b2 if b2 > b3 else b3
                best = best if best > b2 else b2
            out[row, j] = best
    return out


@njit(cache=True, nogil=True)
def routed_deliver(time_block: np.ndarray, value_block: np.ndarray, dest: np.ndarray, lane: np.ndarray,
                   latency: np.ndarray, first_word: np.ndarray, values: np.ndarray, departures: np.ndarray,
                   counts: np.ndarray) -> None:
    """Write the first counts[lane[e]] words of each receiver e's sender into its FIFO (receivers distinct):
    values, and the arrival times departure + latency[e] (`routed`)."""
    deliver_segments(time_block, value_block, receiver_segments(dest, lane, first_word), lane, latency, first_word,
                     values, departures, counts)


@njit(cache=True, nogil=True)
def deliver_segments(time_block: np.ndarray, value_block: np.ndarray, segments: np.ndarray, lane: np.ndarray,
                     latency: np.ndarray, first_word: np.ndarray, values: np.ndarray, departures: np.ndarray,
                     counts: np.ndarray) -> None:
    """`routed_deliver` to the receivers' `receiver_segments`."""
    depth, value_depth = time_block.shape[0], value_block.shape[0]
    first_slot, first_value_slot = np.empty(len(segments), dtype=np.int64), np.empty(len(segments), dtype=np.int64)
    for g in range(len(segments)):
        word = first_word[segments[g, 0]]
        first_slot[g], first_value_slot[g] = word % depth, word % value_depth
    for j in range(values.shape[1]):  # (counts <= the queues the rings hold: an index wraps at most once)
        for g in range(len(segments)):  # (a segment at a time, as in `routed_slot_free`)
            first, end, pe, stride = segments[g, 0], segments[g, 1], segments[g, 2], segments[g, 3]
            row = lane[first]
            if j >= counts[row]:
                continue
            slot, value_slot = first_slot[g] + j, first_value_slot[g] + j
            if slot >= depth:
                slot -= depth
            if value_slot >= value_depth:
                value_slot -= value_depth
            sent, departed = values[row, j], departures[row, j]
            # (values and times in separate loops, rows indexed in place: LLVM cannot tell the two rows apart
            # and would not vectorise one loop storing into both; measured three times faster on a row bus)
            if stride == 1:  # (a row bus: contiguous slices, loops LLVM vectorises)
                value_block[value_slot, pe:pe + end - first] = sent
                times_run, latency_run = time_block[slot, pe:pe + end - first], latency[first:end]
                for t in range(end - first):
                    times_run[t] = departed + latency_run[t]
                continue
            at = pe
            for e in range(first, end):
                value_block[value_slot, at] = sent
                at += stride
            for e in range(first, end):
                time_block[slot, pe] = departed + latency[e]
                pe += stride


@njit(cache=True, nogil=True)
def routed_room(pushed: np.ndarray, popped: np.ndarray, dest: np.ndarray, lane: np.ndarray, depth: int,
                lanes: int) -> np.ndarray:
    """Per lane, the least room (depth - queued words) over its receivers dest[e] (lane[e]: its lane), the
    int64 maximum for a lane without receivers (`routed._routed_stream_step`)."""
    room = np.full(lanes, INT64_MAX, dtype=np.int64)
    for e in range(len(dest)):
        free = np.int64(depth) - (np.int64(pushed[dest[e]]) - np.int64(popped[dest[e]]))
        if free < room[lane[e]]:
            room[lane[e]] = free
    return room


@njit(cache=True, nogil=True)
def routed_arrivals(previous: np.ndarray, by: np.ndarray, pushed: np.ndarray, dest: np.ndarray, lane: np.ndarray,
                    sources: np.ndarray, later: np.ndarray, counts: np.ndarray, latency: np.ndarray) -> int:
    """The bookkeeping of a routed step's receivers (distinct), in two passes: the first receiver whose
    first word (departure later[lane, 0] + latency) would arrive before the word already queued there
    (previous[dest]), returned with nothing changed (`_check_arrival_order` then reports it); else -1,
    having set previous[dest] to the arrival of its last word (later[lane, counts[lane] - 1] + latency),
    by[dest] to its sender (sources[lane]) and added its sender's words to pushed[dest]."""
    for e in range(len(dest)):
        if later[lane[e], 0] + latency[e] < previous[dest[e]]:
            return e
    for e in range(len(dest)):
        row = lane[e]
        previous[dest[e]] = later[row, counts[row] - 1] + latency[e]
        by[dest[e]] = sources[row]
        pushed[dest[e]] += counts[row]
    return -1


@njit(cache=True, nogil=True)
def share_links(link_busy: np.ndarray, link: np.ndarray, lane: np.ndarray, link_offset: np.ndarray,
                first: np.ndarray, last: np.ndarray, word_time: float, lanes: int, distinct: bool = False) -> np.ndarray:
    """`RoutedExchangeMixin._share_links` over the links of some senders' paths (link[e] of lane lane[e],
    reached link_offset[e] after its words leave, first[lane] .. last[lane]): each lane's delay (the most
    any of its links' reservations holds it back, 0 for none), then the links reserved, as NumPy does it:
    every reservation read before any is written, a link listed twice keeping its last entry's. `distinct`:
    the caller knows no link is listed twice (`distinct_links`): the reservations are then read where they
    are written, not kept (no entry's write is another's read)."""
    links = len(link)
    busy0, busy1 = link_busy[0], link_busy[1]  # (rows: 1-D indexing, cheaper than link_busy[row, l])
    delay = np.zeros(lanes)
    overlap = False
    for e in range(links):
        l, r = link[e], lane[e]
        busy_from, busy_until = busy0[l], busy1[l]
        begin = first[r] + link_offset[e]
        if begin < busy_until and last[r] + link_offset[e] + word_time > busy_from:
            overlap = True
            wait = busy_until - begin  # (> 0: every delay is a positive number or zero)
            if wait > delay[r]:
                delay[r] = wait
    if distinct:
        for e in range(links):
            l, r = link[e], lane[e]
            begin = first[r] + link_offset[e]
            end = last[r] + link_offset[e] + word_time
            if overlap:  # (as NumPy: the times move only when some link held its words back)
                begin += delay[r]
                end += delay[r]
            busy_until = busy1[l]
            if begin >= busy_until:  # after the reservation (right after it, when it waited)
                if begin > busy_until:  # a new span; one right after the old extends it
                    busy0[l] = begin
                busy1[l] = end
        return delay
    # A link listed twice: every entry reads the reservation as it was before any was written.
    busy_from, busy_until = np.empty(links), np.empty(links)
    for e in range(links):
        busy_from[e], busy_until[e] = busy0[link[e]], busy1[link[e]]
    for e in range(links):
        r = lane[e]
        begin = first[r] + link_offset[e]
        end = last[r] + link_offset[e] + word_time
        if overlap:
            begin += delay[r]
            end += delay[r]
        later = begin >= busy_until[e]
        gap = later and begin > busy_until[e]
        busy0[link[e]] = begin if gap else busy_from[e]
        busy1[link[e]] = end if later else busy_until[e]
    return delay


@njit(cache=True, nogil=True)
def distinct_links(link: np.ndarray, links: int) -> bool:
    """Whether no link (of `links`) is listed twice in `link` (`share_links`' `distinct`)."""
    seen = np.zeros(links, dtype=np.bool_)
    for e in range(len(link)):
        if seen[link[e]]:
            return False
        seen[link[e]] = True
    return True


@njit(cache=True, nogil=True)
def add_link_words(link_words: np.ndarray, link_start: np.ndarray, link_dir: np.ndarray, link_pe: np.ndarray,
                   per_source: np.ndarray) -> None:
    """link_words[link_dir[e], link_pe[e]] += per_source[i] for every link e of source i's path
    (link_start[i] .. link_start[i + 1]): `np.add.at` of the repeated counts, without its cost (`routed`)."""
    for i in range(len(per_source)):
        words = per_source[i]
        for e in range(link_start[i], link_start[i + 1]):
            link_words[link_dir[e], link_pe[e]] += words


# ------------------------------------------------------------------ a routed send from one PE (`routed_one`)
@njit(cache=True, nogil=True)
def routed_one_word(dest: np.ndarray, pushed: np.ndarray, popped: np.ndarray, depth: int) -> tuple[int, int]:
    """(the word number every receiver is at, the most words queued at one), or (-1, 0) when their word
    numbers differ, (-2, 0) when a receiver's FIFO is full."""
    word = pushed[dest[0]]
    most = 0
    for d in dest:
        if pushed[d] != word:
            return -1, 0
        queued = pushed[d] - popped[d]
        if queued >= depth:
            return -2, 0
        most = max(most, queued)
    return word, most


@njit(cache=True, nogil=True)
def routed_one_free(time_row: np.ndarray, dest: np.ndarray, latency: np.ndarray) -> float:
    """max over the receivers of (the time of the word's slot there) - the path's latency, or -inf."""
    free = -np.inf
    for e in range(len(dest)):
        value = np.float64(time_row[dest[e]]) - latency[e]
        if value > free:
            free = value
    return free


@njit(cache=True, nogil=True)
def routed_one_delay(link_busy: np.ndarray, link_dir: np.ndarray, link_pe: np.ndarray, link_offset: np.ndarray,
                     n: int, first: float, last: float, word_time: float) -> float:
    """How long the words must wait for the links of their path (`RoutedExchangeMixin._share_links`)."""
    delay = 0.0
    for e in range(len(link_dir)):
        link = np.int64(link_dir[e]) * n + link_pe[e]
        begin = first + link_offset[e]
        end = last + link_offset[e] + word_time
        if begin < link_busy[1, link] and end > link_busy[0, link]:
            delay = max(delay, link_busy[1, link] - begin)
    return delay


@njit(cache=True, nogil=True)
def routed_one_reserve(link_busy: np.ndarray, link_dir: np.ndarray, link_pe: np.ndarray, link_offset: np.ndarray,
                       n: int, first: float, last: float, word_time: float, delay: float) -> None:
    """Reserve the path's links (distinct) for the words, `delay` later (`_share_links`)."""
    for e in range(len(link_dir)):
        link = np.int64(link_dir[e]) * n + link_pe[e]
        begin = first + link_offset[e] + delay
        end = last + link_offset[e] + word_time + delay
        busy_from, busy_until = link_busy[0, link], link_busy[1, link]
        later = begin >= busy_until  # after the reservation (right after it, when it waited)
        if later and begin > busy_until:  # a new span; one right after the old extends it
            link_busy[0, link] = begin
        else:
            link_busy[0, link] = busy_from
        link_busy[1, link] = end if later else busy_until


@njit(cache=True, nogil=True)
def routed_one_early(previous: np.ndarray, dest: np.ndarray, depart: float, latency: np.ndarray) -> bool:
    """Whether the word would reach some receiver before a word already queued there arrived."""
    for e in range(len(dest)):
        if depart + latency[e] < previous[dest[e]]:
            return True
    return False


@njit(cache=True, nogil=True)
def routed_one_deliver(dest: np.ndarray, latency: np.ndarray, depart: float, value: int, source: int,
                       previous: np.ndarray, by: np.ndarray, time_row: np.ndarray, value_row: np.ndarray,
                       pushed: np.ndarray) -> None:
    """Write the word into every receiver's FIFO (distinct receivers), arriving at depart + latency."""
    for e in range(len(dest)):
        d = dest[e]
        arrival = depart + latency[e]
        previous[d] = arrival
        by[d] = source
        value_row[d] = value
        time_row[d] = arrival
        pushed[d] += 1
