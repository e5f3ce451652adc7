"""The stream pump (`wafersim.sim.stream_pump`, `Strategy.stream_pump`): a routed background send and its
receivers stepped in one compiled call give the same results, cycles and per-PE statistics as the scheduler's
step by step path and as the reference strategy, and NumPy's product for SUMMA; it stops (or never starts)
where the scheduler would run anything else in between."""
from __future__ import annotations

import numpy as np
import pytest

import wafersim as ws
from wafersim.kernels import gemm
from wafersim.sim import parallel, stream_pump, stream_pump_kernels
from wafersim.sim.strategy import FAST, REFERENCE, Strategy, forced

NO_PUMP = Strategy(stream_pump=False)
SLOTS_READ = Strategy(pump_slot_free=False)  # (the pump's senders read the slots' free times again)
PAIR_BY_PAIR = Strategy(pump_panel=False)  # (no runs of pairs in closed form per sender)
FIRST_STORED = Strategy(pump_first_step=False)  # (the senders' step before the pump stores its words itself)
STAT_ARRAYS = ("busy", "stall", "pe_instructions", "link_words")
STAT_SCALARS = ("cycles", "instructions", "op_counts", "global_bytes", "flops", "vector_elements", "waves")


def counted(monkeypatch) -> list[int]:
    """The pairs of steps each pump call ran."""
    calls: list[int] = []
    pump = stream_pump_kernels.pump

    def counting(*args):
        result = pump(*args)
        calls.append(result[0])
        return result

    monkeypatch.setattr(stream_pump_kernels, "pump", counting)
    return calls


def assert_same(runs: list) -> None:
    """Bit-identical outputs and launch statistics."""
    (ref, ref_stats), *others = runs
    for out, stats in others:
        np.testing.assert_array_equal(np.asarray(out).view(np.int32), np.asarray(ref).view(np.int32))
        for name in STAT_SCALARS:
            assert getattr(stats, name) == getattr(ref_stats, name), name
        for name in STAT_ARRAYS:
            np.testing.assert_array_equal(getattr(stats, name), getattr(ref_stats, name), err_msg=name)


@pytest.mark.parametrize("p, tile, depth", [(2, 8, None), (2, 6, None), (4, 4, None), (4, 8, None), (4, 6, 5),
                                            (4, 5, 3), (3, 7, 4)])
def test_gemm_is_identical_with_and_without_the_pump(p, tile, depth, monkeypatch):
    """SUMMA's panels (tile * tile words) in FIFO-deep steps: panels of a whole number of FIFOs and not, FIFOs
    shallower than a tile row, the reference strategy as a third opinion and NumPy's product as a fourth."""
    rng = np.random.default_rng(p * 100 + tile)
    a, b = rng.random((p * tile, p * tile), dtype=np.float32), rng.random((p * tile, p * tile), dtype=np.float32)
    spec = ws.WaferSpec(width=p, height=p) if depth is None else ws.WaferSpec(width=p, height=p, fifo_depth=depth)
    calls = counted(monkeypatch)
    runs = []
    for strategy in (REFERENCE, NO_PUMP, SLOTS_READ, PAIR_BY_PAIR, FIRST_STORED, FAST):
        with forced(strategy):
            runs.append(gemm.gemm(a, b, p, device=ws.Device(spec)))
    assert_same(runs)
    np.testing.assert_allclose(runs[-1][0], a.astype(np.float64) @ b, rtol=1e-4)
    if tile * tile > 3 * (depth or ws.WaferSpec().fifo_depth):  # (panels of four steps or more: pumped)
        assert sum(calls) > 0


@pytest.mark.parametrize("p, tile, depth", [(4, 8, None), (6, 8, 5), (5, 7, 3)])
def test_a_pump_in_parts_on_threads_is_identical(p, tile, depth, monkeypatch):
    """The senders cut into parts (`stream_pump._split`: disjoint receivers and links), each part's pump on a
    thread for the pairs of steps `steady_pairs` counts for the whole: the same runs as without the pump."""
    monkeypatch.setattr(stream_pump, "PARALLEL_RECEIVERS", 1)
    rng = np.random.default_rng(p * 10 + tile)
    a, b = rng.random((p * tile, p * tile), dtype=np.float32), rng.random((p * tile, p * tile), dtype=np.float32)
    spec = ws.WaferSpec(width=p, height=p) if depth is None else ws.WaferSpec(width=p, height=p, fifo_depth=depth)
    calls = counted(monkeypatch)
    runs = []
    for strategy, threads in ((NO_PUMP, 1), (FAST, 1), (FAST, 2), (FAST, 3), (SLOTS_READ, 2)):
        calls.clear()
        with forced(strategy), parallel.threads(threads):
            runs.append(gemm.gemm(a, b, p, device=ws.Device(spec)))
        assert (sum(calls) > 0) == (strategy is not NO_PUMP)
    assert_same(runs)
    np.testing.assert_allclose(runs[0][0], a.astype(np.float64) @ b, rtol=1e-4)


def test_senders_whose_routes_share_a_link_are_not_split():
    """Link reservations depend on the order senders reserve them in: no parts across a shared link."""
    s_pes, r_pes = np.array([0, 5]), np.array([1, 2, 6, 7])
    dest, lane = np.array([1, 2, 6, 7]), np.array([0, 0, 1, 1])
    latency, base = np.ones(4), np.zeros(2, np.int64)
    whole = [s_pes, base, base + 9, r_pes, np.zeros(4, np.int64), np.full(4, 9), np.arange(4), dest, lane, latency,
             dest, lane, latency, np.array([10, 11, 12, 13]), np.array([0, 0, 1, 1]), np.ones(4)]
    parts = stream_pump._split(tuple(whole), 2)
    assert parts is not None and [list(part[3]) for part in parts] == [[1, 2], [6, 7]]
    assert [list(part[8]) for part in parts] == [[0, 0], [0, 0]]  # (lanes numbered within each part)
    whole[13] = np.array([10, 11, 11, 13])  # (sender 1's path takes a link of sender 0's)
    assert stream_pump._split(tuple(whole), 2) is None


ROW, WORDS = 5, 90  # a row bus of 5 PEs; panels of up to 90 words (not a whole number of FIFOs)


@ws.jit
def stream_beside_work(out, work, short, late):
    """PE 0 of rows 0 and 1 multicasts its words over its row's bus (channel 0) to the row's other PEs, in the
    background: WORDS words in row 0, `short` in row 1 (a stream that ends first). Row 2 runs `work` trips of
    a vector loop after them in the program, touching no FIFO (a runnable group beside the stream). With
    `late`, PE (3, 1) does that work before it posts its receive, at a pc of its own (its row's sender fills
    its FIFO and waits)."""
    px, py = ws.grid(2)
    buf = ws.local.array(WORDS, np.float32)
    acc = ws.local.array(WORDS, np.float32)
    ws.use_route(0, "row_bus")
    acc[0:WORDS] = 0.0
    for i in range(WORDS):
        buf[i] = i * 0.25 + py + 100 * px
    n = WORDS
    if py == 1:
        n = short
    waiting = 0
    if late != 0 and px == 3 and py == 1:
        waiting = 1
    if py < 2 and waiting == 0:
        if px == 0:
            ws.send_async(ws.RAMP, buf[0:n], channel=0)
            ws.send_wait(ws.RAMP, channel=0)
        else:
            ws.recv_async(ws.RAMP, out=buf[0:n], channel=0)
            ws.recv_wait(ws.RAMP, channel=0)
    else:
        for i in range(work):
            acc[0:WORDS] = acc[0:WORDS] + 1.0
        if waiting != 0:
            ws.recv_async(ws.RAMP, out=buf[0:n], channel=0)
            ws.recv_wait(ws.RAMP, channel=0)
    acc[0:WORDS] = buf[0:WORDS] + acc[0:WORDS]
    out[(py * ROW + px) * WORDS:(py * ROW + px + 1) * WORDS] = acc[0:WORDS]


def run_beside_work(work: int, short: int, late: int):
    dev = ws.Device(ws.WaferSpec(width=ROW, height=3))
    out = dev.device_array(3 * ROW * WORDS)
    stats = stream_beside_work[(1, 1), (ROW, 3)](out, work, short, late)
    return out.copy_to_host(), stats


def expected_beside_work(work: int, short: int, late: int) -> np.ndarray:
    """Each PE's own words, the first n of them its row's sender's in rows 0 and 1, plus its work."""
    i = np.arange(WORDS, dtype=np.float32) * np.float32(0.25)
    out = np.zeros((3, ROW, WORDS), np.float32)
    for py in range(3):
        for px in range(ROW):
            out[py, px] = i + np.float32(py + 100 * px)
        if py < 2:
            n = WORDS if py == 0 else short
            out[py, 1:, :n] = i[:n] + np.float32(py)
    out[2] += np.float32(work)
    if late:
        out[1, 3] += np.float32(work)
    return out.reshape(-1)


@pytest.mark.parametrize("work, short, late", [(0, WORDS, 0), (30, WORDS, 0), (30, 40, 0), (0, 17, 0), (5, 40, 1),
                                               (50, WORDS, 1)])
def test_the_pump_stops_where_the_scheduler_would_run_other_steps(work, short, late, monkeypatch):
    """A runnable group beside the stream (row 2's loop, after the stream in the program: it waits), a stream
    that ends first (the pump stops before its last steps and goes on with the other), a receiver that posts
    late (its sender waits on a full FIFO: never pumped): identical runs with and without the pump."""
    calls = counted(monkeypatch)
    runs, pairs = [], []
    for strategy in (REFERENCE, NO_PUMP, SLOTS_READ, PAIR_BY_PAIR, FIRST_STORED, FAST):
        calls.clear()
        with forced(strategy):
            runs.append(run_beside_work(work, short, late))
        pairs.append(sum(calls))
    assert_same(runs)
    np.testing.assert_array_equal(runs[-1][0], expected_beside_work(work, short, late))
    assert pairs[:2] == [0, 0] and pairs[2] == pairs[3] == pairs[4]
    # (row 0's stream at least, six steps, unless a sender of the group waits: the pump needs every one moving)
    assert (pairs[2] > 0) == (not late)


def test_pump_kernel_stops_before_a_step_that_finishes_a_transfer():
    """`steady_counts`: 0 (stop) when a receiver would take no word or its last ones, or a sender would send
    none, or some senders but not all their last ones; minus the words when all send their last; else each
    side's words, the senders' room counted after the receivers' pops."""
    depth = 4
    s_pes, r_pes = np.array([0]), np.array([1, 2])
    dest, lane, receiver_of = np.array([1, 2]), np.array([0, 0]), np.array([0, 1])
    progress = np.array([8, 4, 4])
    pushed, popped = np.array([0, 8, 8]), np.array([0, 4, 4])
    taken, count = np.zeros(2, np.int64), np.zeros(1, np.int64)

    def steady(s_length, r_length, progress=progress, pushed=pushed, popped=popped):
        return stream_pump_kernels.steady_counts(s_pes, np.array([s_length]), r_pes, np.array(r_length), progress,
                                                 pushed, popped, dest, lane, receiver_of, depth, taken, count)

    assert steady(20, [20, 20]) == 4 and list(taken) == [4, 4] and list(count) == [4]
    assert steady(12, [20, 20]) == -4  # the sender's last words (every sender's: the pump's last pair)
    assert steady(20, [20, 8]) == 0  # a receiver's last words
    assert steady(20, [20, 20], popped=np.array([0, 8, 4])) == 0  # a receiver with nothing to take
    # a receiver that took fewer words than were queued elsewhere bounds the room: 4 - (8 - (5 + 3)) = 4
    assert steady(20, [20, 20], popped=np.array([0, 5, 4])) == 4 and list(taken) == [3, 4]
    # two senders (PEs 0 and 3, a receiver each), one at its last words: stop
    two = dict(s_pes=np.array([0, 3]), r_pes=np.array([1, 2]), dest=np.array([1, 2]), lane=np.array([0, 1]))
    progress2, count2 = np.array([8, 4, 4, 8]), np.zeros(2, np.int64)
    pushed2, popped2 = np.array([0, 8, 8, 0]), np.array([0, 4, 4, 0])

    def steady2(s_lengths):
        return stream_pump_kernels.steady_counts(two["s_pes"], np.array(s_lengths), two["r_pes"], np.array([20, 20]),
                                                 progress2, pushed2, popped2, two["dest"], two["lane"],
                                                 receiver_of, depth, taken, count2)

    assert steady2([12, 20]) == 0 and steady2([12, 12]) == -4 and steady2([20, 20]) == 4


@pytest.mark.parametrize("seed", range(4))
def test_steady_counts_in_order_is_steady_counts_and_receive_applies(seed):
    """`steady_counts_in_order` (the pump's, receivers in PE order, each once) against the two functions it
    fuses: the same words, takes and counts as `steady_counts`, and uniform[0] as `receive_applies` (no
    segments of several senders), uniform[1] as it but for receivers all at the first word of their transfers
    (`Strategy.pump_first_step`), over random states that make both answers common."""
    from wafersim.sim.stream_pump_steps import receive_applies

    rng = np.random.default_rng(seed)
    depth, agreed, uniform_seen, starts_seen = 4, 0, set(), set()
    for _ in range(400):
        senders = int(rng.integers(1, 4))
        receivers = senders * int(rng.integers(1, 3))
        s_pes = np.arange(senders, dtype=np.int64)
        r_pes = np.arange(senders, senders + receivers, dtype=np.int64)
        p_lane = np.sort(rng.integers(0, senders, receivers)).astype(np.int64)
        p_lane[:senders] = np.arange(senders)  # (every sender has a receiver)
        pes = senders + receivers
        # (int32 counters, as the engine keeps them: int64 would be signatures compiled for this test alone)
        progress = rng.choice([0, 4, 4, 8], pes).astype(np.int32)
        if rng.random() < 0.3:  # (every receiver at the first word of its transfer)
            progress[r_pes] = 0
        popped = rng.choice([0, 4], pes).astype(np.int32)
        pushed = popped + rng.choice([0, 2, 2, 4], pes).astype(np.int32)
        s_length = rng.choice([10, 20, 20], senders).astype(np.int64)
        r_length = rng.choice([8, 20, 20, 20], receivers).astype(np.int64)
        r_base = rng.choice([16, 16, 16, 20], receivers).astype(np.int64) - progress[r_pes]
        sent = rng.choice([2, 2, 4], senders).astype(np.int64)
        taken, count = np.zeros(receivers, np.int64), np.zeros(senders, np.int64)
        want_taken, want_count = np.zeros(receivers, np.int64), np.zeros(senders, np.int64)
        room, uniform = np.empty(senders, np.int64), np.zeros(2, np.bool_)
        words = stream_pump_kernels.steady_counts_in_order(s_pes, s_length, r_pes, r_length, progress, pushed,
                                                           popped, p_lane, depth, taken, count, room, r_base, sent,
                                                           uniform)
        want = stream_pump_kernels.steady_counts(s_pes, s_length, r_pes, r_length, progress, pushed, popped, r_pes,
                                                 p_lane, np.arange(receivers), depth, want_taken, want_count)
        assert words == want
        if want == 0:
            continue
        agreed += 1
        assert taken.tolist() == want_taken.tolist() and count.tolist() == want_count.tolist()
        applies = receive_applies(r_pes, r_base, progress, pushed, popped, taken, np.empty((0, 5), np.int64),
                                  p_lane, sent)
        assert bool(uniform[0]) == applies
        uniform_seen.add(applies)
        later = progress.copy()  # (the same state a word on: `receive_applies` then asks all but the start)
        later[r_pes] += 1
        starts = bool((progress[r_pes] == 0).all()) and receive_applies(
            r_pes, r_base - 1, later, pushed, popped, taken, np.empty((0, 5), np.int64), p_lane, sent)
        assert bool(uniform[1]) == starts
        starts_seen.add(starts)
    assert agreed > 20 and uniform_seen == {True, False} == starts_seen  # (the states reach both answers)
