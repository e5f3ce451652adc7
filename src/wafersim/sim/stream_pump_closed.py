"""The stream pump's receives in closed form (`stream_pump_steps.deliver_receive` where `closed_form_applies`).

In a panel's steady state every receiver t of sender l takes the c words just delivered, word j arriving at
a_j = departures[j, l] + latency[t]. The word-by-word passes keep a running maximum of the receiver's clock
and the arrivals, took_j = max(a_j, took_(j-1)); with the departures nondecreasing that is max(a_j, clock),
and with whole-number times below 2**24 (whole cycles and the narrow-times rule give them) nothing rounds:
the slots' free times the next senders' step needs (the most over l's receivers of took_j - latency[t]) are
max(departures[j, l], the most of clock - latency[t]): per sender, not per receiver and word
(`receive_closed`). What is left per word and receiver is the stores (`_closed_stores`): the value into its
FIFO slot and SRAM, the take time into its slot. And where the next step takes a whole FIFO again in closed
form, it rewrites every one of those slots before anything reads them: the pump then leaves the slots'
stores of a step to `receive_slots`, which it calls only where the next step does not rewrite them all.
"""
from __future__ import annotations

import numpy as np
from .compiled.jit import njit


@njit(cache=True, nogil=True)
def _first_slots(segments: np.ndarray, depth: int) -> np.ndarray:
    """Each segment's first slot in a ring of `depth` (a division per segment, not per segment and word)."""
    out = np.empty(len(segments), dtype=np.int64)
    for g in range(len(segments)):
        out[g] = segments[g, 4] % depth
    return out



#: Whole numbers below this are exact in float32 (and sums of them below it: `closed_form_applies`).
_EXACT = float(2**24)


@njit(cache=True, nogil=True)
def closed_form_applies(departures: np.ndarray, c: int, p_latency: np.ndarray) -> bool:
    """Whether `receive_closed` gives what `deliver_receive`'s word-by-word passes give: each sender's first c
    departures nondecreasing, and they and the latencies whole numbers, not negative, whose sums (the
    arrivals) lie in [1, 2**24). Then, per receiver t of sender l, word j's arrival a_j = departures[j, l] +
    latency[t] is exact in float32 and float64 (no rounding: a_j - latency[t] is the departure again), and
    a_j is nondecreasing in j, so the running maximum the passes keep, max(a_0, .., a_j, clock), is
    max(a_j, clock). (Whole cycles and the narrow-times rule keep every time below 2**24: this holds in a
    launch's steady streams; anything else runs the passes.)"""
    low, high = latency_range(p_latency)
    return departures_fit(departures, c, low, high)


@njit(cache=True, nogil=True)
def latency_range(p_latency: np.ndarray) -> tuple[float, float]:
    """(least, most) of the latencies where all are whole numbers, not negative; else NaNs (`departures_fit`
    then refuses)."""
    low, high = np.inf, 0.0
    for t in range(len(p_latency)):
        latency = p_latency[t]
        if not (latency >= 0.0 and latency == np.floor(latency)):  # (NaN and infinities fail too)
            return np.nan, np.nan
        low, high = min(low, latency), max(high, latency)
    return low, high


@njit(cache=True, nogil=True)
def departures_fit(departures: np.ndarray, c: int, low: float, high: float) -> bool:
    """`closed_form_applies` with the latencies' `latency_range` (a pump's, found once)."""
    if not (c > 0 and low == low):
        return False
    last = 0.0
    for l in range(departures.shape[1]):
        before = max(0.0, 1.0 - low)  # (every arrival at least 1: none is a zero, of either sign)
        for j in range(c):
            departed = departures[j, l]
            if not (departed >= before and departed == np.floor(departed)):
                return False
            before = departed
        last = max(last, before)
    return last + high < _EXACT


@njit(cache=True, nogil=True)
def receive_closed(time_block: np.ndarray, value_block: np.ndarray, sram: np.ndarray, row: int, c: int,
                   one: np.ndarray, first_one: np.ndarray, first_value_one: np.ndarray, many: np.ndarray,
                   first_many: np.ndarray, first_value_many: np.ndarray, p_lane: np.ndarray, p_latency: np.ndarray,
                   values: np.ndarray, departures: np.ndarray, latest: np.ndarray, free: np.ndarray,
                   narrow: bool, slots: bool) -> None:
    """`deliver_receive`'s word-by-word passes where `closed_form_applies`: word j's take time at receiver t is
    max(a_j, clock_t) (latest[t]: the receiver's clock before the step), stored; latest[t] becomes the last
    word's. The slots' free times (free[j, l]: the most over sender l's receivers t of take - latency[t]) are
    max(departures[j, l], max over t of (clock_t as the slot holds it) - latency[t]): per sender, not per
    receiver and word. Every slot, SRAM word and clock as the passes leave them; `free` too but perhaps for
    the sign of a zero, which its reader (`steady_send`) erases. `slots` False: all but the slots' stores
    (`receive_slots` makes them, from the clocks before)."""
    senders, receivers = departures.shape[1], len(latest)
    # Per sender, the most of its receivers' clocks (as their slots would hold them) less their latencies.
    held = np.full(senders, -np.inf)
    reached = np.zeros(senders, dtype=np.bool_)
    whole32 = narrow  # (every clock a float32: the take times then computed in float32, as exact)
    for t in range(receivers):
        clock = np.float64(np.float32(latest[t])) if narrow else latest[t]
        whole32 = whole32 and clock == latest[t]
        f, lane = clock - p_latency[t], p_lane[t]
        held[lane] = f if f > held[lane] else held[lane]
        reached[lane] = True
    if whole32 and slots:  # (exact either way; float32 is twice the lanes a vector)
        _closed_stores(time_block, value_block, sram, row, c, one, first_one, first_value_one, many, first_many,
                       first_value_many, p_lane, p_latency.astype(np.float32), latest.astype(np.float32),
                       departures[:c].astype(np.float32), values, True, True)
    else:
        _closed_stores(time_block, value_block, sram, row, c, one, first_one, first_value_one, many, first_many,
                       first_value_many, p_lane, p_latency, latest, departures, values, slots, True)
    for t in range(receivers):  # (the last word's take)
        arrival = departures[c - 1, p_lane[t]] + p_latency[t]
        latest[t] = arrival if arrival > latest[t] else latest[t]
    _free_times(free, departures, c, held, reached)


@njit(cache=True, nogil=True)
def _free_times(free: np.ndarray, departures: np.ndarray, c: int, held: np.ndarray, reached: np.ndarray) -> None:
    """free[j, l] (j < c) at least max(departures[j, l], held[l]) for each sender l with receivers (`reached`)."""
    for j in range(min(c, free.shape[0])):
        for lane in range(departures.shape[1]):
            if reached[lane]:
                departed = departures[j, lane]
                f = departed if departed > held[lane] else held[lane]
                free[j, lane] = f if f > free[j, lane] else free[j, lane]


@njit(cache=True, nogil=True)
def receive_held(pes: np.ndarray, progress: np.ndarray, cycle: np.ndarray, stall: np.ndarray, state: np.ndarray,
                 popped: np.ndarray, time_block: np.ndarray, value_block: np.ndarray, sram: np.ndarray, row: int,
                 c: int, cost: float, latest: np.ndarray, one: np.ndarray, many: np.ndarray, p_lane: np.ndarray,
                 p_latency: np.ndarray, values: np.ndarray, departures: np.ndarray, free: np.ndarray,
                 before: np.ndarray) -> None:
    """`deliver_receive` in closed form with its slots' stores held (`before` gets the clocks before), in one
    pass over the receivers: per receiver the transfer's clock in, its part of the slots' free times, the
    last word's take, the counters and the clocks back, as `deliver_receive` and `receive_closed` make them
    pass by pass (each receiver's own operations in the same order; the receivers' PEs distinct). Then the
    values into SRAM."""
    senders = departures.shape[1]
    held = np.full(senders, -np.inf)
    reached = np.zeros(senders, dtype=np.bool_)
    narrow = time_block.itemsize == 4
    for i in range(len(pes)):
        pe = pes[i]
        cycle[pe] = state[2, pe]  # (the transfer's clock in, read back as float64)
        clock = np.float64(cycle[pe]) + 0.0
        before[i] = clock
        slot_clock = np.float64(np.float32(clock)) if narrow else clock  # (as the slot would hold it)
        f, lane, latency = slot_clock - p_latency[i], p_lane[i], p_latency[i]
        held[lane] = f if f > held[lane] else held[lane]
        reached[lane] = True
        arrival = departures[c - 1, lane] + latency  # (the last word's take)
        latest[i] = arrival if arrival > clock else clock
        popped[pe] += c
        progress[pe] += c
        cycle[pe] = latest[i] + 0.0  # (the clocks back: the transfer's, then the PE's own clock and stall)
        state[2, pe] = cycle[pe]
        cycle[pe] = state[0, pe] + cost
        stall[pe] = state[1, pe]
    unused = np.empty(0, dtype=np.int64)  # (the slots' first words: no slot is stored)
    _closed_stores(time_block, value_block, sram, row, c, one, unused, unused, many, unused, unused, p_lane, p_latency,
                   before, departures, values, False, True)
    _free_times(free, departures, c, held, reached)


@njit(cache=True, nogil=True)
def receive_slots(time_block: np.ndarray, value_block: np.ndarray, c: int, one: np.ndarray, many: np.ndarray,
                  p_lane: np.ndarray, p_latency: np.ndarray, clock: np.ndarray, departures: np.ndarray,
                  values: np.ndarray) -> None:
    """The slots' stores of a `receive_closed` run without them (`deliver_receive` returned 2): `one`, `many`:
    its segments (their word numbers then), `clock`: its receivers' clocks before it (`before`)."""
    depth, value_depth = time_block.shape[0], value_block.shape[0]
    _closed_stores(time_block, value_block, np.empty((0, 0), dtype=values.dtype), 0, c, one,
                   _first_slots(one, depth), _first_slots(one, value_depth), many, _first_slots(many, depth),
                   _first_slots(many, value_depth), p_lane, p_latency, clock, departures, values, True, False)


@njit(cache=True, nogil=True)
def _closed_stores(time_block: np.ndarray, value_block: np.ndarray, sram: np.ndarray, row: int, c: int,
                   one: np.ndarray, first_one: np.ndarray, first_value_one: np.ndarray, many: np.ndarray,
                   first_many: np.ndarray, first_value_many: np.ndarray, p_lane: np.ndarray, latency: np.ndarray,
                   clock: np.ndarray, departures: np.ndarray, values: np.ndarray, slots: bool, rows: bool) -> None:
    """`receive_closed`'s stores: word j's value into SRAM row + j (`rows`), and into its slot with its take
    time, max(departures[j, lane] + latency[t], clock[t]) (`slots`); segment by segment, word by word (a
    segment's operands stay in registers and cache; every store is to a distinct word, so the order is free)."""
    depth, value_depth = time_block.shape[0], value_block.shape[0]
    for g in range(len(one)):
        first, end, pe = one[g, 0], one[g, 1], one[g, 2]
        size, lane = end - first, p_lane[first]
        latency_run, clock_run = latency[first:end], clock[first:end]
        for j in range(c):
            sent, departed = values[j, lane], departures[j, lane]
            if rows:
                into = sram[row + j, pe:pe + size]
                for t in range(size):
                    into[t] = sent
            if slots:
                slot, value_slot = first_one[g] + j, first_value_one[g] + j  # (c <= depth: they wrap at most once)
                slot = slot - depth if slot >= depth else slot
                value_slot = value_slot - value_depth if value_slot >= value_depth else value_slot
                kept, times_run = value_block[value_slot, pe:pe + size], time_block[slot, pe:pe + size]
                for t in range(size):
                    kept[t] = sent
                    arrival = departed + latency_run[t]
                    times_run[t] = arrival if arrival > clock_run[t] else clock_run[t]
    for g in range(len(many)):
        first, end, pe = many[g, 0], many[g, 1], many[g, 2]
        size, lane0 = end - first, p_lane[first]
        latency_run, clock_run = latency[first:end], clock[first:end]
        for j in range(c):
            sent, departed_run = values[j, lane0:lane0 + size], departures[j, lane0:lane0 + size]
            if rows:
                into = sram[row + j, pe:pe + size]
                for t in range(size):
                    into[t] = sent[t]
            if slots:
                slot, value_slot = first_many[g] + j, first_value_many[g] + j
                slot = slot - depth if slot >= depth else slot
                value_slot = value_slot - value_depth if value_slot >= value_depth else value_slot
                kept, times_run = value_block[value_slot, pe:pe + size], time_block[slot, pe:pe + size]
                for t in range(size):
                    kept[t] = sent[t]
                    arrival = departed_run[t] + latency_run[t]
                    times_run[t] = arrival if arrival > clock_run[t] else clock_run[t]
