"""The compiled FIFO and SRAM run movers (`wafersim.sim.fifo_kernels`) against NumPy's fancy indexing and
the timing recurrences of `wafersim.sim.streams`, on float32 and float64 times, rings deeper and shallower
than the runs, and runs that wrap around the ring."""
from __future__ import annotations

import numpy as np
import pytest

from wafersim.sim import fifo_kernels as fk
from wafersim.sim.streams import receive_times

rng = np.random.default_rng(11)
DEPTH, PES = 6, 40


def lanes_and_counts(lanes: int, words: int):
    pes = np.sort(rng.choice(PES, lanes, replace=False)).astype(np.int64)
    counts = rng.integers(0, words + 1, lanes).astype(np.int64)
    counts[0] = words  # one lane moves a full run
    return pes, counts


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32])
def test_slot_runs_gather_and_scatter_like_fancy_indexing(dtype):
    block = (rng.random((DEPTH, PES)) * 100).astype(dtype)
    pes, counts = lanes_and_counts(13, DEPTH)
    slots = (rng.integers(0, 50, len(pes))[:, None] + np.arange(DEPTH)) % DEPTH
    np.testing.assert_array_equal(fk.gather_slot_runs(block, slots, pes), block[slots, pes[:, None]])
    values = rng.random((len(pes), DEPTH)) * 100  # float64 values: converted as NumPy's assignment converts
    valid = np.arange(DEPTH) < counts[:, None]
    expected = block.copy()
    expected[slots[valid], np.repeat(pes, counts)] = values[valid]
    fk.scatter_slot_runs(block, slots, pes, values, counts)
    np.testing.assert_array_equal(block, expected)


def test_word_runs_gather_and_scatter_like_fancy_indexing():
    sram = rng.integers(-1000, 1000, (30, PES)).astype(np.int32)
    pes, counts = lanes_and_counts(9, 5)
    first = rng.integers(0, 25, len(pes)).astype(np.int64)
    valid = np.arange(5) < counts[:, None]
    rows, cols = (first[:, None] + np.arange(5))[valid], np.repeat(pes, counts)
    expected = np.zeros((len(pes), 5), np.int32)
    expected[valid] = sram[rows, cols]
    np.testing.assert_array_equal(fk.gather_word_runs(sram, first, pes, counts, 5), expected)
    values = rng.integers(-1000, 1000, (len(pes), 5)).astype(np.int32)
    target = sram.copy()
    target[rows, cols] = values[valid]
    fk.scatter_word_runs(sram, first, pes, counts, values)
    np.testing.assert_array_equal(sram, target)


@pytest.mark.parametrize("time_dtype", [np.float32, np.float64])
@pytest.mark.parametrize("value_depth", [DEPTH, 4])
def test_receive_slot_runs_take_words_like_the_numpy_receive(time_dtype, value_depth):
    words = 4  # (a shallow value ring holds every queued word: runs no longer than it)
    time_block = rng.integers(0, 60, (DEPTH, PES)).astype(time_dtype) + (0.5 if time_dtype == np.float64 else 0)
    value_block = rng.integers(-99, 99, (value_depth, PES)).astype(np.int32)
    sram = np.zeros((20, PES), np.int32)
    pes, counts = lanes_and_counts(11, words)
    first_word = rng.integers(0, 40, len(pes)).astype(np.int64)
    ready = rng.integers(0, 60, len(pes)).astype(np.float64)
    first_row = rng.integers(0, 16, len(pes)).astype(np.int64)
    numbers = first_word[:, None] + np.arange(words)
    valid = np.arange(words) < counts[:, None]
    slots = numbers % DEPTH
    expected_taken = receive_times(ready, time_block[slots, pes[:, None]])
    expected_sram, expected_times = sram.copy(), time_block.copy()
    expected_sram[(first_row[:, None] + np.arange(words))[valid], np.repeat(pes, counts)] = \
        value_block[numbers % value_depth, pes[:, None]][valid]
    expected_times[slots[valid], np.repeat(pes, counts)] = expected_taken[valid]
    taken = fk.receive_slot_runs(time_block, value_block, sram, pes, first_word, ready, counts, first_row, words)
    np.testing.assert_array_equal(np.where(valid, taken, 0), np.where(valid, expected_taken, 0))
    np.testing.assert_array_equal(sram, expected_sram)
    np.testing.assert_array_equal(time_block, expected_times)


@pytest.mark.parametrize("time_dtype", [np.float32, np.float64])
@pytest.mark.parametrize("words_at", ["scattered", "one", "two"])  # the receivers' first word numbers
@pytest.mark.parametrize("value_depth", [DEPTH, DEPTH + 3])
@pytest.mark.parametrize("receivers", ["scattered", "runs"])
def test_routed_slot_free_and_delivery_match_numpy(time_dtype, words_at, value_depth, receivers):
    senders, words = 5, DEPTH
    per_sender = rng.integers(0, 7, senders)  # receivers of each sender (some none)
    per_sender[0] = 3
    lane = np.repeat(np.arange(senders), per_sender).astype(np.int64)
    dest = rng.choice(PES, len(lane), replace=False).astype(np.int64)
    if receivers == "runs":  # a bus's receivers: a run of PEs per sender, up (stride 1) or down (-1)
        dest = np.concatenate([s * 8 + (np.arange(k) if s % 2 else 7 - np.arange(k))
                               for s, k in enumerate(per_sender)]).astype(np.int64)
    latency = rng.integers(2, 9, len(lane)).astype(np.float64)
    # Scattered: the loop per receiver and word; one or two numbers (a multicast in step; the last step's
    # senders behind): the passes with the slot rows hoisted, from a number whose run wraps the ring.
    first_word = {"scattered": rng.integers(0, 40, len(lane)),
                  "one": np.full(len(lane), 2 * DEPTH + 3),
                  "two": np.where(rng.random(len(lane)) < 0.5, 2 * DEPTH + 3, DEPTH - 1)}[words_at].astype(np.int64)
    time_block = rng.integers(0, 80, (DEPTH, PES)).astype(time_dtype)
    value_block = np.zeros((value_depth, PES), np.int32)
    slots = (first_word[:, None] + np.arange(words)) % DEPTH
    value_slots = (first_word[:, None] + np.arange(words)) % value_depth
    expected_free = np.full((senders, words), -np.inf)
    np.maximum.at(expected_free, lane, time_block[slots, dest[:, None]] - latency[:, None])
    np.testing.assert_array_equal(fk.routed_slot_free(time_block, dest, lane, latency, first_word, senders, words),
                                  expected_free)
    counts = rng.integers(1, words + 1, senders).astype(np.int64)
    values = rng.integers(-99, 99, (senders, words)).astype(np.int32)
    departures = rng.integers(0, 90, (senders, words)).astype(np.float64) + 0.25
    valid = np.arange(words) < counts[lane][:, None]
    expected_times, expected_values = time_block.copy(), value_block.copy()
    expected_values[value_slots[valid], np.repeat(dest, counts[lane])] = values[lane][valid]
    expected_times[slots[valid], np.repeat(dest, counts[lane])] = (departures[lane] + latency[:, None])[valid]
    fk.routed_deliver(time_block, value_block, dest, lane, latency, first_word, values, departures, counts)
    np.testing.assert_array_equal(time_block, expected_times)
    np.testing.assert_array_equal(value_block, expected_values)


@pytest.mark.parametrize("pes", [[3], [0, 1, 2, 3], [2, 3, 4, 9, 10, 20], [5, 7, 9]])
def test_lane_runs_split_pes_into_runs_of_consecutive_ones(pes):
    pes = np.array(pes, dtype=np.int64)
    runs = fk.lane_runs(pes)
    assert runs[0] == 0 and runs[-1] == len(pes)
    for r in range(len(runs) - 1):
        run = pes[runs[r]:runs[r + 1]]
        np.testing.assert_array_equal(run, run[0] + np.arange(len(run)))
        if r:
            assert pes[runs[r]] != pes[runs[r] - 1] + 1


def test_receiver_segments_cover_the_receivers_in_order():
    dest = np.array([1, 2, 3, 9, 7, 5, 20, 21, 30, 31], dtype=np.int64)
    lane = np.array([0, 0, 0, 0, 0, 0, 1, 1, 1, 1], dtype=np.int64)
    first_word = np.array([4, 4, 4, 4, 4, 4, 4, 4, 5, 5], dtype=np.int64)
    segments = fk.receiver_segments(dest, lane, first_word)
    np.testing.assert_array_equal(segments, [[0, 3, 1, 1], [3, 6, 9, -2], [6, 8, 20, 1], [8, 10, 30, 1]])


def routed_setup(senders: int = 6):
    """Senders' receivers (distinct, lanes in order, a sender with none) and their FIFO counters."""
    per_sender = rng.integers(0, 7, senders)
    per_sender[1] = 0
    lane = np.repeat(np.arange(senders), per_sender).astype(np.int64)
    dest = rng.choice(PES, len(lane), replace=False).astype(np.int64)
    popped = rng.integers(0, 30, PES).astype(np.int32)
    pushed = (popped + rng.integers(0, DEPTH + 1, PES)).astype(np.int32)
    return lane, dest, pushed, popped


def test_routed_room_is_the_least_room_over_each_lanes_receivers():
    lane, dest, pushed, popped = routed_setup()
    expected = np.full(6, np.iinfo(np.int64).max)
    np.minimum.at(expected, lane, DEPTH - (pushed[dest] - popped[dest]).astype(np.int64))
    np.testing.assert_array_equal(fk.routed_room(pushed, popped, dest, lane, DEPTH, 6), expected)


@pytest.mark.parametrize("early", [False, True])
@pytest.mark.parametrize("time_dtype", [np.float32, np.float64])
def test_routed_arrivals_keep_the_books_or_change_nothing(early, time_dtype):
    lane, dest, pushed, popped = routed_setup()
    sources = np.array([3, 7, 11, 19, 23, 29], dtype=np.int64)
    later = (rng.integers(50, 90, (6, DEPTH)) + 0.5).astype(time_dtype)
    counts = rng.integers(1, DEPTH + 1, 6).astype(np.int64)
    latency = rng.integers(1, 9, len(lane)).astype(np.float64)
    previous = np.where(rng.random(PES) < 0.5, -np.inf, rng.integers(0, 40, PES)).astype(np.float64)
    by = rng.integers(0, PES, PES).astype(np.int64)
    if early:  # a word already queued at the third receiver arrives after this send's first word
        previous[dest[2]] = later[lane[2], 0] + latency[2] + 1
    before = [previous.copy(), by.copy(), pushed.copy()]
    found = fk.routed_arrivals(previous, by, pushed, dest, lane, sources, later, counts, latency)
    if early:
        assert found == 2
        for got, kept in zip((previous, by, pushed), before):
            np.testing.assert_array_equal(got, kept)
        return
    assert found == -1
    expected_previous, expected_by, expected_pushed = before
    assert not (later[lane, 0] + latency < expected_previous[dest]).any()
    expected_previous[dest] = later[lane, counts[lane] - 1] + latency
    expected_by[dest] = sources[lane]
    expected_pushed[dest] += counts[lane].astype(np.int32)
    np.testing.assert_array_equal(previous, expected_previous)
    np.testing.assert_array_equal(by, expected_by)
    np.testing.assert_array_equal(pushed, expected_pushed)


def numpy_share_links(link_busy, link, lane, link_offset, first, last, word_time, lanes):
    """`RoutedExchangeMixin._share_links`' NumPy arithmetic (the reference the compiled pass must equal)."""
    begin = first[lane] + link_offset
    end = last[lane] + link_offset + word_time
    busy_from, busy_until = link_busy[0, link], link_busy[1, link]
    overlap = (begin < busy_until) & (end > busy_from)
    delay = np.zeros(lanes)
    if overlap.any():
        np.maximum.at(delay, lane, np.where(overlap, busy_until - begin, 0.0))
        begin, end = begin + delay[lane], end + delay[lane]
    later = begin >= busy_until
    gap = later & (begin > busy_until)
    link_busy[0, link] = np.where(gap, begin, busy_from)
    link_busy[1, link] = np.where(later, end, busy_until)
    return delay


@pytest.mark.parametrize("busy", ["free", "contended", "shared link"])
@pytest.mark.parametrize("word_time", [1.0, 4 / 3])
def test_share_links_delays_and_reserves_like_numpy(busy, word_time):
    lanes, links = 5, 4 * PES
    per_lane = rng.integers(1, 8, lanes)
    lane = np.repeat(np.arange(lanes), per_lane).astype(np.int64)
    link = rng.choice(links, len(lane), replace=False).astype(np.int64)
    if busy == "shared link":  # two lanes' paths over one link: the later entry's reservation stays
        link[-1] = link[0]
    link_offset = rng.integers(0, 6, len(lane)).astype(np.float64)
    first = rng.integers(0, 30, lanes).astype(np.float64)
    last = first + rng.integers(0, 12, lanes)
    link_busy = np.full((2, links), -np.inf)
    if busy != "free":  # reservations that overlap some words, end right at others' start, or lie before
        link_busy[0] = rng.integers(0, 30, links)
        link_busy[1] = link_busy[0] + rng.integers(0, 15, links)
        link_busy[1, link[1]] = first[lane[1]] + link_offset[1]
    expected_busy = link_busy.copy()
    expected = numpy_share_links(expected_busy, link, lane, link_offset, first, last, word_time, lanes)
    distinct = fk.distinct_links(link, links)
    assert distinct == (busy != "shared link")
    fast_busy = link_busy.copy()
    delay = fk.share_links(link_busy, link, lane, link_offset, first, last, word_time, lanes)
    np.testing.assert_array_equal(delay, expected)
    np.testing.assert_array_equal(link_busy, expected_busy)
    if distinct:  # (the pass that reads each reservation where it writes it: the same)
        fast = fk.share_links(fast_busy, link, lane, link_offset, first, last, word_time, lanes, True)
        np.testing.assert_array_equal(fast, expected)
        np.testing.assert_array_equal(fast_busy, expected_busy)
    if busy == "contended":
        assert delay.any()


def test_whole_cycle_departures_are_the_running_maximum_of_the_slot_times_less_the_spacing():
    """Word j of sender i leaves at j w + max(ready, max over k <= j of slot_free[i, k] - k w): plain Python."""
    rng = np.random.default_rng(3)
    slot_free = rng.integers(0, 60, size=(3, 9)).astype(np.float32)
    later = np.full((3, 9), -1.0)
    word_time = 2.0
    for i, ready in enumerate((0.0, 17.0, 500.0)):
        fk.whole_cycle_departures(slot_free, i, 7, ready, word_time, later)
        best, want = ready, []
        for j in range(7):
            best = max(best, float(slot_free[i, j]) - j * word_time)
            want.append(best + j * word_time)
        assert later[i, :7].tolist() == want
        assert (later[i, 7:] == -1.0).all()  # (only the words asked for)


@pytest.mark.parametrize("size", [1, 2, 7, 64])
def test_smallest_and_largest_are_numpys_min_and_max(size):
    values = rng.integers(-2**62, 2**62, size).astype(np.int64)
    assert fk.smallest(values) == values.min() and fk.largest(values) == values.max()
    assert fk.INT64_MAX == np.iinfo(np.int64).max


def test_smallest_and_largest_of_nothing_raise_as_numpy_does():
    for reduce, numpy_reduce in ((fk.smallest, np.min), (fk.largest, np.max)):
        with pytest.raises(ValueError) as ours:
            reduce(np.empty(0, dtype=np.int64))
        with pytest.raises(ValueError) as numpys:
            numpy_reduce(np.empty(0, dtype=np.int64))
        assert str(ours.value) == str(numpys.value)


@pytest.mark.parametrize("time_dtype", [np.float32, np.float64])
@pytest.mark.parametrize("value_depth", [DEPTH, 4])
def test_bulk_receive_step_takes_words_and_keeps_the_books_like_a_word_by_word_model(time_dtype, value_depth):
    """Each lane takes min(words left, words queued) words, one at a time in plain Python: word k is taken at
    max(the previous take, its arrival), the first no earlier than the clock plus the issue cost (only on a
    transfer's first step); the lane's stall grows by the waits, its clock is the last take."""
    n, cost = PES, 3.0
    time_block = rng.integers(0, 80, (DEPTH, n)).astype(time_dtype)
    value_block = rng.integers(-99, 99, (value_depth, n)).astype(np.int32)
    sram = np.zeros((30, n), np.int32)
    pes = np.sort(rng.choice(n, 15, replace=False)).astype(np.int64)
    popped = rng.integers(0, 40, n).astype(np.int32)
    pushed = popped + rng.integers(0, min(DEPTH, value_depth) + 1, n).astype(np.int32)
    progress = rng.integers(0, 3, n).astype(np.int32)
    length = progress[pes] + rng.integers(0, 6, len(pes))
    base = rng.integers(0, 20, len(pes)).astype(np.int64)
    cycle = rng.integers(0, 60, n).astype(time_dtype)
    stall = rng.integers(0, 9, n).astype(time_dtype)
    model = [a.copy() for a in (time_block, sram, pushed, popped, progress, cycle, stall)]
    m_time, m_sram, m_pushed, m_popped, m_progress, m_cycle, m_stall = model
    took_model = []
    for i, pe in enumerate(pes.tolist()):
        count = min(int(length[i]) - int(m_progress[pe]), int(m_pushed[pe]) - int(m_popped[pe]))
        took_model.append(count > 0)
        if count <= 0:
            continue
        ready = float(m_cycle[pe]) + (cost if m_progress[pe] == 0 else 0.0)
        taken = ready
        for j in range(count):
            word = int(m_popped[pe]) + j
            taken = max(taken, float(m_time[word % DEPTH, pe]))
            m_sram[base[i] + m_progress[pe] + j, pe] = value_block[word % value_depth, pe]
            m_time[word % DEPTH, pe] = taken
        m_stall[pe] = float(m_stall[pe]) + taken - ready  # (whole cycles: the waits add up exactly)
        m_cycle[pe] = taken
        m_progress[pe] += count
        m_popped[pe] += count
    took = fk.bulk_receive_step(pes, base, length.astype(np.int64), cost, progress, pushed, popped, time_block,
                                value_block, sram, cycle, stall)
    assert took.tolist() == took_model and any(took_model) and not all(took_model)
    for got, expected in zip((time_block, sram, pushed, popped, progress, cycle, stall), model):
        np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("bad", ["none", "negative base", "negative length", "past the end"])
def test_transfer_ranges_read_the_registers_and_say_whether_every_range_is_inside_sram(bad):
    size = 50
    base_row = rng.integers(0, 30, PES).astype(np.int32)
    length_row = rng.integers(0, 21, PES).astype(np.int32)
    pes = np.sort(rng.choice(PES, 12, replace=False)).astype(np.int64)
    pe = int(pes[5])
    if bad == "negative base":
        base_row[pe] = -1
    elif bad == "negative length":
        length_row[pe] = -3
    elif bad == "past the end":
        base_row[pe], length_row[pe] = 45, 6
    base, length, inside = fk.transfer_ranges(base_row, length_row, pes, size)
    np.testing.assert_array_equal(base, base_row[pes].astype(np.int64))
    np.testing.assert_array_equal(length, length_row[pes].astype(np.int64))
    assert base.dtype == length.dtype == np.int64
    expected = all(0 <= int(b) and 0 <= int(n) and int(b) + int(n) <= size
                   for b, n in zip(base_row[pes].tolist(), length_row[pes].tolist()))
    assert inside == expected == (bad == "none")
