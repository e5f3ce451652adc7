"""sim/fabric.py: FIFO value rings only as deep as the queues they hold, against plain Python queues."""
from collections import deque

import numpy as np
import pytest

import wafersim as ws
from wafersim.kernels import heat
from wafersim.sim import fabric
from wafersim.sim.fabric import Fifo, SlotRows


def push(fifo: Fifo, pe: int, value: int) -> None:
    """Push one word as the engine does: deepen the ring first, then write the word's value slot."""
    if fifo.shallow:
        fifo.make_room(int(fifo.pushed[pe] - fifo.popped[pe]) + 1)
    fifo.value.scatter(np.array([fifo.value_slots(int(fifo.pushed[pe]))]), np.array([pe]), np.int32(value))
    fifo.pushed[pe] += 1


def pop(fifo: Fifo, pe: int) -> int:
    word = int(fifo.popped[pe])
    fifo.popped[pe] += 1
    return int(fifo.value[int(fifo.value_slots(word))][pe])


@pytest.mark.parametrize("seed", range(4))
def test_value_ring_deepens_without_losing_queued_words(seed):
    rng = np.random.default_rng(seed)
    depth, pes = 16, 5
    fifo = Fifo(depth, pes, np.float32)
    queues = [deque() for _ in range(pes)]
    popped_seen, popped_expected = [], []
    for step in range(600):
        pe = int(rng.integers(pes))
        # bursts of pushes at times: queues grow to various depths, up to the FIFO's
        if rng.random() < 0.55 and len(queues[pe]) < depth:
            value = int(rng.integers(-2**31, 2**31))
            push(fifo, pe, value)
            queues[pe].append(value)
        elif queues[pe]:
            popped_seen.append(pop(fifo, pe))
            popped_expected.append(queues[pe].popleft())
        for p in range(pes):
            assert list(fifo.queued_values(p)) == list(queues[p])
    assert popped_seen == popped_expected
    deepest = fifo.value_depth
    assert 2 < deepest <= depth  # (the queues did grow past the first rows)
    # a checkpoint's full-depth layout round-trips
    times = np.stack([fifo.time[s] for s in range(depth)])
    back = Fifo.restore(fifo.values_by_slot(), times, fifo.pushed, fifo.popped, np.float32)
    for p in range(pes):
        assert list(back.queued_values(p)) == list(queues[p])


def test_value_ring_grows_only_as_far_as_the_deepest_queue():
    fifo = Fifo(16, 3, np.float32)
    for value in range(3):  # three words queued at PE 1: the ring doubles 1 -> 2 -> 4
        push(fifo, 1, value)
    assert fifo.value_depth == 4 and fifo.shallow
    assert list(fifo.queued_values(1)) == [0, 1, 2]
    for _ in range(3):
        pop(fifo, 1)
    for value in range(40):  # one word at a time: no deeper
        push(fifo, 2, value)
        assert pop(fifo, 2) == value
    assert fifo.value_depth == 4


def test_a_stencil_keeps_one_value_row_per_fifo_and_matches_numpy(monkeypatch):
    """The heat kernel pops every word before the next arrives: its FIFOs keep one value row, not 16."""
    from wafersim.kernels import reference
    from wafersim.sim.wave import WaveSim
    seen: list[dict] = []
    accumulate = WaveSim._accumulate

    def record_fifos(sim):  # the FIFOs as the wave leaves them (the engine drops them right after)
        seen.append(dict(sim.fifos))
        accumulate(sim)

    monkeypatch.setattr(WaveSim, "_accumulate", record_fifos)
    u = np.random.default_rng(1).random((6, 8), dtype=np.float32)
    result, _ = heat.heat(u, 0.1, 5, ws.Device(ws.WaferSpec(width=8, height=6)))
    np.testing.assert_array_equal(result, reference.heat(u, 0.1, 5, order=reference.ORDER_API))
    (fifos,) = seen
    assert len(fifos) == 4
    assert all(fifo.value_depth == 1 and fifo.depth == 16 for fifo in fifos.values())


def test_a_noted_uniform_count_is_forgotten_when_its_counter_is_read_and_for_good_when_replaced():
    fifo = Fifo(4, 6, np.float32)
    key = ("some", b"group")
    fifo.note_uniform("pushed", key, 3)
    fifo.note_uniform("popped", key, 2)
    assert fifo.uniform_count("pushed", key) == 3 and fifo.uniform_count("popped", key) == 2
    assert fifo.uniform_count("pushed", ("other", b"group")) is None  # another group of PEs
    fifo.pushed[0] += 1                                                # a read (then a write) of pushed
    assert fifo.uniform_count("pushed", key) is None
    assert fifo.uniform_count("popped", key) == 2                      # the other counter's note stays
    _ = fifo.popped
    assert fifo.uniform_count("popped", key) is None
    fifo.popped = np.zeros(6, dtype=np.int32)                          # mapped elsewhere: never noted again
    fifo.note_uniform("popped", key, 0)
    assert fifo.uniform_count("popped", key) is None


def test_region_keys_are_equal_exactly_for_the_same_pes_whatever_the_window():
    from wafersim.sim.lanes import Lanes

    n, width = 12, 4  # a 4 x 3 region; exclusions: the first column
    first_column = np.arange(0, n, width)
    everyone_but = Lanes(n, excl=first_column)
    # the same PEs as receivers of a send east: window [1, n), excluding the first column after PE 0
    windowed = Lanes(n - 1, excl=first_column[1:] - 1, window=slice(1, n))
    assert everyone_but.region_key(n) == windowed.region_key(n)
    assert Lanes(n).region_key(n) != everyone_but.region_key(n)
    assert Lanes(n - 1, window=slice(1, n)).region_key(n) != Lanes(n - 1, window=slice(0, n - 1)).region_key(n)
    last_column = Lanes(n, excl=np.arange(width - 1, n, width))
    assert last_column.region_key(n) != everyone_but.region_key(n)
    for lanes in (everyone_but, windowed, last_column, Lanes(n)):  # the key lists the PEs left out
        left_out = np.frombuffer(lanes.region_key(n)[1], dtype=np.int64)
        np.testing.assert_array_equal(left_out, np.setdiff1d(np.arange(n), lanes.indices()))


@ws.jit
def _lockstep_then_divergent(values, out, rounds):
    """Lockstep sends and receives east (every PE with a neighbour), between which a divergent subset sends
    and receives extra words (the general path changes the counters of some PEs only)."""
    x = ws.threadIdx.x
    total = 0.0
    for r in range(rounds):
        v = values[x] + r
        for _ in range(3):  # lockstep exchanges: the second and third find their counts noted
            if ws.has_neighbor(ws.EAST):
                ws.send(ws.EAST, v)
            if ws.has_neighbor(ws.WEST):
                total += ws.recv(ws.WEST)
        if x % 3 == 1 and ws.has_neighbor(ws.EAST):  # some PEs send one more word...
            ws.send(ws.EAST, v * 2.0)
        if x % 3 == 2 and ws.has_neighbor(ws.WEST):  # ...which their east neighbours take
            total += ws.recv(ws.WEST) * 0.5
    out[x] = total


def test_lockstep_rounds_around_divergent_extra_words_match_numpy_with_and_without_noted_counts():
    from wafersim.sim.strategy import Strategy, forced

    width, rounds = 40, 5  # (wide enough that "all but the last PE" is a dense group: the lockstep path)
    values = np.arange(width, dtype=np.float32) + 1.0
    expected = np.zeros(width, dtype=np.float32)
    for r in range(rounds):
        v = values + np.float32(r)
        for x in range(1, width):
            for _ in range(3):
                expected[x] += v[x - 1]
            if x % 3 == 2:
                expected[x] += (v[x - 1] * np.float32(2.0)) * np.float32(0.5)
    runs = []
    # (the NumPy engine: the compiled interpreter runs small divergent regions like this one otherwise; counters
    # and clocks written at every transfer, then owed where no lane waits: the divergent words settle them)
    for strategy in (Strategy(compiled=False, uniform_counts=False, owed_transfers=False, deferred_counts=False),
                     Strategy(compiled=False, uniform_counts=False), Strategy(compiled=False)):
        with forced(strategy):
            dev = ws.Device(ws.WaferSpec(width=width, height=1))
            out = dev.device_array(width)
            stats = _lockstep_then_divergent[1, (width, 1)](dev.to_device(values), out, rounds)
            runs.append((out.copy_to_host(), stats.cycles, stats.stall.copy()))
    for result, cycles, stall in runs:
        np.testing.assert_array_equal(result, expected)
        assert cycles == runs[0][1]
        np.testing.assert_array_equal(stall, runs[0][2])


def test_owed_counts_are_written_when_read_or_when_other_pes_move_words():
    """`Fifo.count_one`: words owed to one group's PEs add up, and reach the array when the counter is read, when
    another group moves words, or before the array is replaced; a plain-Python count of the same moves agrees."""
    from wafersim.sim.lanes import Lanes

    n = 10
    fifo = Fifo(4, n, np.float32)
    expected = {"pushed": np.zeros(n, dtype=np.int64), "popped": np.zeros(n, dtype=np.int64)}
    all_but_ends = Lanes(n, excl=np.array([0, n - 1]))
    shifted = Lanes(n - 1, excl=np.array([n - 2]), window=slice(1, n))  # the same PEs seen through a window
    first_half = Lanes(n, excl=np.arange(5, n))

    def move(counter, lanes):
        fifo.count_one(counter, lanes, lanes.region_key(n))
        expected[counter][lanes.indices()] += 1

    for _ in range(3):
        move("pushed", all_but_ends)
        move("pushed", shifted)  # (the same key: added to what is owed)
    assert not fifo._pushed.any()  # nothing written yet
    move("popped", all_but_ends)
    np.testing.assert_array_equal(fifo.pushed, expected["pushed"])  # a read writes them
    move("pushed", Lanes(n))  # another group: what the first is owed is written, the new one owed
    np.testing.assert_array_equal(fifo._pushed, expected["pushed"] - 1)
    move("pushed", first_half)
    np.testing.assert_array_equal(fifo._pushed, expected["pushed"] - np.isin(np.arange(n), np.arange(5)))
    fifo.popped = fifo.popped.copy()  # (replaced, as the compiled interpreter maps it: nothing owed is lost)
    for counter in ("pushed", "popped"):
        np.testing.assert_array_equal(getattr(fifo, counter), expected[counter])


@ws.jit
def _exchanges_between_barriers(values, out, steps, per_step):
    """Each step: `per_step` words east (send, receive, send, receive, ...) then a barrier. With a FIFO of one
    word, word k takes the slot of word k - 1: freed before the last barrier for the first word of a step,
    during this step for the others (taken late by receivers whose vector instruction took long: their west
    neighbours wait for the slot)."""
    x, y = ws.threadIdx.x, ws.threadIdx.y
    v = values[y * ws.blockDim.x + x]
    buf = ws.local.array(64, np.float32)
    m = (x * 37) % 61 + 1  # a vector length that varies by PE: one instruction, cycles by PE
    total = 0.0
    for t in range(steps):
        for j in range(per_step):
            if ws.has_neighbor(ws.EAST):
                ws.send(ws.EAST, v + j)
            buf[0:m] = buf[0:m] + 1.0  # receivers with long vectors take their words late
            if ws.has_neighbor(ws.WEST):
                total = total * 0.5 + ws.recv(ws.WEST)
        ws.syncthreads()
    out[y * ws.blockDim.x + x] = total


def _run_exchanges_between_barriers(strategies, width: int, height: int, steps: int, per_step: int, depth: int,
                                    seed: int) -> list[tuple]:
    """`_exchanges_between_barriers` under each strategy: (result, cycles, stall, busy) per run, each result
    checked against the same steps in NumPy."""
    from wafersim.sim.strategy import forced

    values = np.random.default_rng(seed).random(width * height, dtype=np.float32)
    grid = values.reshape(height, width)
    expected = np.zeros((height, width), dtype=np.float32)
    for _ in range(steps):
        for j in range(per_step):
            expected[:, 1:] = expected[:, 1:] * np.float32(0.5) + (grid[:, :-1] + np.float32(j))
    runs = []
    for strategy in strategies:
        with forced(strategy):
            dev = ws.Device(ws.WaferSpec(width=width, height=height, fifo_depth=depth))
            out = dev.device_array(width * height)
            stats = _exchanges_between_barriers[1, (width, height)](dev.to_device(values), out, steps, per_step)
            runs.append((out.copy_to_host().reshape(height, width), stats.cycles, stats.stall.copy(),
                         stats.busy.copy()))
    for result, *_ in runs:
        np.testing.assert_array_equal(result, expected)
    return runs


def test_slots_freed_before_a_barrier_give_the_same_cycles_as_the_checked_path(monkeypatch):
    """`popped_by_barrier` lets a lockstep send skip its slot check only for words whose slot was freed
    before a barrier of the whole wave: every push told so has no lane whose slot frees after it is ready
    (checked lane by lane), some pushes that are not told so do wait, and results (against NumPy), cycles
    and stalls are the same with and without."""
    from wafersim.sim.exchange import ExchangeMixin
    from wafersim.sim.strategy import Strategy

    told, waited = [], []
    push_rows = ExchangeMixin._push_rows

    def checked_push_rows(sim, src, dst, values, fifo, cost, latency, word, slot_free=False, whole=False):
        freed = dst.window_view(fifo.time[word % fifo.depth])[src.as_mask()]
        ready = src.window_view(sim.cycle)[src.as_mask()] + cost
        (told if slot_free else waited).append(bool((freed > ready).any()))
        return push_rows(sim, src, dst, values, fifo, cost, latency, word, slot_free, whole)

    monkeypatch.setattr(ExchangeMixin, "_push_rows", checked_push_rows)

    runs = _run_exchanges_between_barriers((Strategy(compiled=False, uniform_counts=False), Strategy(compiled=False)),
                                           width=48, height=8, steps=4, per_step=3, depth=1, seed=3)
    assert runs[0][1] == runs[1][1]
    np.testing.assert_array_equal(runs[0][2], runs[1][2])
    assert told and not any(told)  # pushes told their slots were free: no lane waits
    assert any(waited)             # (and the kernel has pushes that do wait for their slots)


# ----------------------------------------------------------------------------- recycled slot rows
def test_recycled_rows_are_handed_out_before_fresh_ones(monkeypatch):
    from wafersim.sim import fabric

    monkeypatch.setattr(fabric, "BLOCK_BYTES", 0)  # rows allocated on first use, as at wafer scale
    rows = fabric.SlotRows(4, 10, np.float32)
    first, third = rows[0], rows[2]
    first[:], third[:] = 5.0, 7.0
    rows.recycle()
    assert all(row is None for row in rows.rows)
    handed = [rows[3], rows[1], rows[0]]
    assert {id(handed[0]), id(handed[1])} == {id(first), id(third)}  # the pool's rows, old times and all
    assert handed[2] is not first and handed[2] is not third and not handed[2].any()  # then fresh zeros
    assert rows.pool == []
    monkeypatch.setattr(fabric, "BLOCK_BYTES", 1 << 20)
    block = fabric.SlotRows(4, 10, np.float32)
    kept = list(block.rows)
    block.recycle()  # a block's rows are views of it: nothing to give back
    assert all(a is b for a, b in zip(block.rows, kept))


@pytest.mark.parametrize("case", ["drained", "left_out_holds_a_word", "pushed_not_noted", "not_asked"])
def test_a_fifo_recycles_its_time_rows_only_when_every_pe_has_taken_every_word(monkeypatch, case):
    """`note_popped_at_barrier(recycle=True)`: the noted group's pushed and popped counts agree, and every PE
    left out of the group has taken all its words too (a plain-Python check of the same condition)."""
    from wafersim.sim import fabric

    monkeypatch.setattr(fabric, "BLOCK_BYTES", 0)
    pes, left_out = 6, np.array([0, 5])
    fifo = Fifo(4, pes, np.float32)
    key = (pes, left_out.astype(np.int64).tobytes())  # (`Lanes.region_key` of the group of PEs 1..4)
    for slot in range(3):
        fifo.time[slot][:] = slot + 1.0
    fifo._pushed[1:5] = fifo._popped[1:5] = 3
    fifo._pushed[left_out] = [1, 2 if case == "left_out_holds_a_word" else 1]
    fifo._popped[left_out] = 1
    fifo.note_uniform("popped", key, 3)
    if case != "pushed_not_noted":
        fifo.note_uniform("pushed", key, 3)
    fifo.note_popped_at_barrier(recycle=case != "not_asked")
    drained = all(int(fifo._pushed[pe]) == int(fifo._popped[pe]) for pe in range(pes))
    recycled = all(row is None for row in fifo.time.rows)
    assert recycled == (case == "drained") and (drained or not recycled)
    assert fifo.popped_by_barrier == (key, 3)  # (the slot-free fact is noted either way)


@pytest.mark.parametrize("depth, per_step", [(1, 3), (2, 3), (3, 2)])
def test_recycled_slot_rows_give_the_same_run_as_rows_of_their_own(monkeypatch, depth, per_step):
    """`_exchanges_between_barriers` over FIFOs kept row by row: at each barrier every FIFO is empty, so its
    time rows go back to the pool, and the next step's words (whose senders wait for slots freed late within
    a step) take them. Results (against NumPy), cycles and stalls equal those of rows kept per slot, and
    rows were recycled."""
    from wafersim.sim import fabric
    from wafersim.sim.strategy import Strategy

    monkeypatch.setattr(fabric, "BLOCK_BYTES", 0)
    recycled = []
    recycle = fabric.SlotRows.recycle

    def counted(rows):
        recycled.append(sum(row is not None for row in rows.rows))
        recycle(rows)

    monkeypatch.setattr(fabric.SlotRows, "recycle", counted)
    runs = _run_exchanges_between_barriers((Strategy(compiled=False, recycled_slot_rows=False), Strategy(compiled=False)),
                                           width=40, height=6, steps=4, per_step=per_step, depth=depth, seed=depth)
    assert runs[0][1] == runs[1][1]
    np.testing.assert_array_equal(runs[0][2], runs[1][2])
    np.testing.assert_array_equal(runs[0][3], runs[1][3])
    assert sum(recycled) > 0  # (the recycling ran: rows went back to the pool)


@ws.jit
def _words_held_across_barriers(values, out, steps):
    """Each step one word received (from the step before), two sent east, then a barrier: FIFOs are never
    empty at a barrier, and with a hop latency longer than the barrier the last words sent arrive after the
    release, so the receive after it waits for their arrival times (which the time rows must keep). The
    words left are received after the last step."""
    x, y = ws.threadIdx.x, ws.threadIdx.y
    v = values[y * ws.blockDim.x + x]
    total = 0.0
    for t in range(steps):
        if t > 0 and ws.has_neighbor(ws.WEST):
            total = total * 0.5 + ws.recv(ws.WEST)
        if ws.has_neighbor(ws.EAST):
            ws.send(ws.EAST, v + t)
            ws.send(ws.EAST, v - t)
        ws.syncthreads()
    if ws.has_neighbor(ws.WEST):
        for t in range(steps + 1):
            total = total * 0.5 + ws.recv(ws.WEST)
    out[y * ws.blockDim.x + x] = total


def test_fifos_holding_words_at_a_barrier_keep_their_rows(monkeypatch):
    from wafersim.sim import fabric
    from wafersim.sim.strategy import Strategy, forced

    monkeypatch.setattr(fabric, "BLOCK_BYTES", 0)
    width, height, steps = 24, 4, 3
    values = np.random.default_rng(7).random(width * height, dtype=np.float32)
    grid = values.reshape(height, width)
    expected = np.zeros((height, width), dtype=np.float32)
    sent = [grid[:, :-1] + np.float32(t // 2) if t % 2 == 0 else grid[:, :-1] - np.float32(t // 2)
            for t in range(2 * steps)]
    for word in sent:
        expected[:, 1:] = expected[:, 1:] * np.float32(0.5) + word
    runs = []
    for strategy in (Strategy(compiled=False, recycled_slot_rows=False), Strategy(compiled=False)):
        with forced(strategy):
            dev = ws.Device(ws.WaferSpec(width=width, height=height, fifo_depth=2 * steps, hop_latency=120))
            out = dev.device_array(width * height)
            stats = _words_held_across_barriers[1, (width, height)](dev.to_device(values), out, steps)
            runs.append((out.copy_to_host().reshape(height, width), stats.cycles, stats.stall.copy()))
    for result, *_ in runs:
        np.testing.assert_array_equal(result, expected)
    assert runs[0][1] == runs[1][1]
    np.testing.assert_array_equal(runs[0][2], runs[1][2])


def test_a_fifo_that_drained_takes_the_next_tag_as_uniform_and_is_freed_without_the_collector():
    """`WordTags.needs_marking`: words of two tags in flight at once keep per-slot tags; once every PE has
    taken every word, the next push's tag is the uniform one again (a kernel's halo words and a collective's
    chain words on one FIFO, each drained before the other is sent, keep none: bench `bicgstab7`). The tags
    reach their FIFO through a weak reference: a reference cycle kept every launch's FIFOs (and their rings)
    until the collector ran, 20% of a warm gemv2d launch."""
    import gc
    import weakref

    from wafersim.isa.opcodes import WORD_TAG
    fifo = Fifo(4, 3)
    plain, chain = WORD_TAG["f32"], WORD_TAG["cf32"]
    assert not fifo.tags.needs_marking(plain)
    fifo.pushed[:] += 1                                  # one plain word for every PE
    before = fifo.pushed.copy()
    assert fifo.tags.needs_marking(chain)               # a chain word behind it: per-slot tags
    fifo.pushed[1] += 1
    fifo.tags.mark(before, fifo.pushed, chain)
    pes, got = fifo.tags.read(np.zeros(3, dtype=np.int32), fifo.pushed)
    assert pes.tolist() == [0, 1, 1, 2] and got.tolist() == [plain, plain, chain, plain]
    fifo.popped[:] = fifo.pushed                         # all taken
    assert not fifo.tags.needs_marking(plain)
    assert fifo.tags.slots is None and fifo.tags.uniform == plain
    assert fifo.tags.unchecked(plain) and not fifo.tags.unchecked(chain)
    gc.disable()
    try:
        alive = weakref.ref(fifo)
        del fifo
        assert alive() is None
    finally:
        gc.enable()


@pytest.mark.parametrize("dtype, pes", [(np.float32, 4096), (np.float64, 1024), (np.int32, 1500)])
def test_blocks_of_page_wide_rows_begin_at_staggered_page_offsets_and_hold_zeros(dtype, pes):
    """A FIFO's time block and value ring whose rows span a 4 KiB page or more begin PAGE_STAGGER bytes apart in
    their pages (glibc could put them 16 bytes apart: one L1 set for both column walks); small rows stay plain."""
    rows = [SlotRows(8, pes, dtype) for _ in range(3)]
    offsets = [row.block.ctypes.data % 4096 for row in rows]
    steps = [(b - a) % 4096 for a, b in zip(offsets, offsets[1:])]
    assert steps == [fabric.PAGE_STAGGER, fabric.PAGE_STAGGER]
    for row in rows:
        assert row.block.shape == (8, pes) and row.block.dtype == dtype and row.block.flags.c_contiguous
        assert row.block.ctypes.data % row.block.itemsize == 0 and not row.block.any()
        row.rows[3][pes - 1] = 7  # (a row is a view of the block)
        assert row.block[3, pes - 1] == 7 and row.block.sum() == 7
    small = SlotRows(8, 16, np.float32)
    assert small.block.base is None and small.block.shape == (8, 16) and not small.block.any()


def test_fifos_on_page_wide_rows_keep_their_words_in_order():
    """The queue test above on rows of 4,096 PEs (staggered blocks), against plain Python queues."""
    rng = np.random.default_rng(7)
    depth, pes = 8, 4096
    fifo = Fifo(depth, pes, np.float32)
    queues = [deque() for _ in range(pes)]
    for _ in range(300):
        pe = int(rng.integers(pes // 2 - 2, pes // 2 + 2))
        if queues[pe] and (len(queues[pe]) == depth or rng.random() < 0.4):
            assert pop(fifo, pe) == queues[pe].popleft()
        else:
            value = int(rng.integers(-2**31, 2**31))
            push(fifo, pe, value)
            queues[pe].append(value)
    for pe in range(pes // 2 - 2, pes // 2 + 2):
        while queues[pe]:
            assert pop(fifo, pe) == queues[pe].popleft()


@pytest.mark.parametrize("shape, dtype, staggered", [
    ((8, 1024), np.float32, True),    # (a row of exactly one page: staggered)
    ((8, 1023), np.float32, False),   # (4 bytes short of a page: plain np.zeros)
    ((2, 512), np.float64, True),
    ((3, 2, 4096), np.uint8, True),   # (a stack of FIFOs' tags, 1-byte words)
    ((0, 2048), np.int32, True)])
def test_page_staggered_blocks_are_zeros_of_their_own_even_on_reused_heap_memory(shape, dtype, staggered):
    """`fabric.page_staggered_zeros` is np.zeros(shape, dtype) (fresh zeros where the heap hands back memory an
    earlier array filled, aligned, C-contiguous, writable), and no two blocks share a byte: a write into one
    shows in no other, as with np.zeros."""
    nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
    blocks = []
    for _ in range(4):
        dirty = np.full(nbytes + 4096, 0xA5, np.uint8)  # (freed just before: glibc hands its chunk back)
        del dirty
        blocks.append(fabric.page_staggered_zeros(shape, dtype))
    for block in blocks:
        assert block.shape == shape and block.dtype == dtype and not block.any()
        assert block.flags.c_contiguous and block.flags.aligned and block.flags.writeable
        assert (block.base is not None) == staggered  # (a plain block is np.zeros' own array)
    if staggered and nbytes:
        offsets = [block.ctypes.data % 4096 for block in blocks]
        assert [(b - a) % 4096 for a, b in zip(offsets, offsets[1:])] == [fabric.PAGE_STAGGER] * 3
        assert all(offset % 64 == 0 for offset in offsets)  # (whole cache lines: a row's words align as np.zeros')
    for k, block in enumerate(blocks):
        assert not any(np.shares_memory(block, other) for other in blocks[k + 1:])
        block.reshape(-1)[[0, -1] if block.size else []] = k + 1  # (a block's first and last word)
    for k, block in enumerate(blocks):
        if block.size:
            assert block.reshape(-1)[0] == block.reshape(-1)[-1] == k + 1 and np.count_nonzero(block) == 2
