"""Woken PEs run in batches in the compiled interpreter (`Strategy.compiled_wavefronts`).

A neighbour transfer that wakes a parked PE puts it on the interpreter's work list; with wavefronts on,
up to `stepper.WAKE_BATCH` of them run together, as segments by the pc each resumes at
(`fabric_ops.woken_segments`), instead of one at a time. Results, cycles and statistics must stay
bit-identical to the reference strategy and to the one-at-a-time interpreter, and the results to NumPy.
"""
from __future__ import annotations

import numpy as np
import pytest

import wafersim as ws
from test_engine import RELAY
from test_engine_strategies import assert_same_run, ping_pong_launch, ping_pong_model
from wafersim.kernels import reduce, scan
from wafersim.sim.compiled import fabric_ops, interpreter, stepper
from wafersim.sim.strategy import FAST, REFERENCE, Strategy, forced

rng = np.random.default_rng(909)
ONE_AT_A_TIME = Strategy(compiled_wavefronts=False)


def woken_segments_model(ready, base, take, resume):
    """(order, [(pc, lo, hi)]) as `woken_segments` lays them out, in plain Python."""
    woken = [int(ready[base + take - 1 - j]) for j in range(take)]  # the latest woken first
    pcs = list(dict.fromkeys(int(resume[i]) for i in ready[base:base + take]))  # in order of first sight
    if take == 1 or len(pcs) > fabric_ops.WOKEN_PCS:
        return woken, [(fabric_ops.WOKEN, 0, take)]
    order, segments = [], []
    for pc in pcs:
        members = [i for i in woken if resume[i] == pc]
        segments.append((pc, len(order), len(order) + len(members)))
        order += members
    return order, segments


@pytest.mark.parametrize("seed", range(12))
def test_woken_segments_group_a_batch_by_resume_pc(seed):
    g = np.random.default_rng(seed)
    n = 200
    pcs = g.choice([3, 7, 9, 12, 15, 20, 21, 30, 31, 40], size=int(g.integers(1, 11)), replace=False)
    resume = np.zeros(n, dtype=np.int64)
    resume[:] = g.choice(pcs, size=n)
    ready = g.permutation(n).astype(np.int64)
    base, take = int(g.integers(0, 50)), int(g.integers(1, 120))
    order = np.full(3 * n, -7, dtype=np.int64)
    seg_pc, seg_lo, seg_hi = (np.zeros(interpreter.MAX_SEGMENTS, dtype=np.int64) for _ in range(3))
    count = fabric_ops.woken_segments(ready, base, take, resume, order, seg_pc, seg_lo, seg_hi)
    expected_order, expected_segments = woken_segments_model(ready, base, take, resume)
    assert list(order[:take]) == expected_order
    assert [(seg_pc[s], seg_lo[s], seg_hi[s]) for s in range(count)] == expected_segments


def launches():
    """name -> a launch with pipelines of woken PEs (several chains at once, back-pressure, vectors)."""
    rows, block, ints = (rng.random((37, 23), dtype=np.float32), rng.random((19, 29), dtype=np.float32),
                         rng.integers(-9, 9, (30, 17)).astype(np.int32))

    def relay():
        dev = ws.Device(ws.WaferSpec(width=6, height=5, fifo_depth=2))
        return np.zeros(1), dev.launch(ws.assemble(".sram 8\n" + RELAY), (1, 5), (6, 1), print_output=False)

    return {
        "scan_rows": lambda: scan.prefix_sum(rows),
        "scan_int_rows": lambda: scan.prefix_sum(ints),
        "allreduce": lambda: reduce.block_allreduce(block, "sum", block=(29, 19)),
        "allreduce_blocks": lambda: reduce.block_allreduce(rows[:36, :20], "max", block=(5, 6)),
        "relay": relay,
    }


@pytest.mark.parametrize("batch,work", [(2, 0), (3, 0), (16, 0), (4096, 0), (2, 24)])
@pytest.mark.parametrize("name", sorted(launches()))
def test_batches_of_woken_pes_are_identical_to_one_at_a_time_and_the_reference(name, batch, work, monkeypatch):
    """Batches of `batch` woken PEs (work 0), or growing from it while the last batch's PEs ran few instructions."""
    launch = launches()[name]
    with forced(REFERENCE):
        reference = launch()
    with forced(ONE_AT_A_TIME):
        one_at_a_time = launch()
    batches = []
    original = interpreter.run_group
    monkeypatch.setattr(interpreter, "run_group", lambda *args: batches.append(args[-1]) or original(*args))
    monkeypatch.setattr(stepper, "WAKE_BATCH", batch)
    monkeypatch.setattr(stepper, "WAKE_WORK", work)
    with forced(FAST):
        fast = launch()
    assert batch in batches, "the interpreter did not run woken PEs in batches"
    assert_same_run(reference, one_at_a_time)
    assert_same_run(reference, fast)


def test_batched_scans_and_allreduce_match_numpy():
    rows = rng.random((41, 31), dtype=np.float32)
    out, _ = scan.prefix_sum(rows)
    np.testing.assert_array_equal(out, np.cumsum(rows, axis=1, dtype=np.float32))
    values = rng.random((18, 26), dtype=np.float32)
    out, _ = reduce.block_allreduce(values, "max", block=(26, 18))
    np.testing.assert_array_equal(out, np.full_like(values, values.max()))


@pytest.mark.parametrize("depth,k,width", [(1, 5, 6), (2, 7, 5), (16, 9, 3)])
def test_ping_pong_between_neighbours_in_batches_is_identical(depth, k, width, monkeypatch):
    """Woken PEs at several pcs (sends and receives both ways, back-pressure) in small batches."""
    values, launch = ping_pong_launch(depth, k, width)

    with forced(REFERENCE):
        reference = launch()
    monkeypatch.setattr(stepper, "WAKE_BATCH", 2)
    monkeypatch.setattr(stepper, "WAKE_WORK", 0)
    with forced(FAST):
        fast = launch()
    assert_same_run(reference, fast)
    totals, counts = ping_pong_model(values, k)
    np.testing.assert_array_equal(fast[0], np.concatenate([totals.view(np.int32), counts]))


def places_model(n, members, stops, parked, resume):
    """The scheduler's (pc, sorted members, parked) per stop, by (stop, parked): a stable sort."""
    keys = [(int(resume[i]) * 2 + 1) if parked[i] >= 0 else int(stops[i]) * 2 for i in members]
    found = {}
    for i, key in zip(members, keys):
        found.setdefault(key, []).append(int(i))
    return [(key >> 1, sorted(found[key]), bool(key & 1)) for key in sorted(found)]


@pytest.mark.parametrize("seed", range(10))
def test_settling_a_call_writes_back_and_groups_its_members_by_stop(seed):
    from wafersim.sim.compiled import settle
    from wafersim.sim.lanes import Lanes

    g = np.random.default_rng(seed)
    n = int(g.integers(20, 3000))
    chosen = g.permutation(n)[:int(g.integers(1, n))]
    idx = np.sort(chosen[:int(g.integers(0, len(chosen) + 1))]).astype(np.int64)
    sleepers = chosen[len(idx):].astype(np.int64)
    if not len(idx):
        idx, sleepers = sleepers[:1].copy(), sleepers[1:]
    pcs = g.choice(60, size=int(g.choice([1, 2, 5, 40])), replace=False)
    stops = g.choice(pcs, size=n).astype(np.int64)
    parked = np.where(g.random(n) < 0.3, 1, -1).astype(np.int64) if seed % 3 else np.full(n, -1, dtype=np.int64)
    resume = g.choice(pcs, size=n).astype(np.int64)
    times, counts = g.integers(0, 1000, n).astype(np.float64), g.integers(0, 50, n).astype(np.int64)
    cycle, icount = np.zeros(n, dtype=np.float32), g.integers(0, 9, n).astype(np.int32)
    members = np.concatenate([idx, sleepers])
    expected = places_model(n, members, stops, parked, resume)
    expected_icount = icount.copy()
    expected_icount[members] += counts[members].astype(np.int32)
    codes, keys = settle.codes_for(n, len(members)), np.zeros(settle.MAX_KEYS, dtype=np.int64)
    k = settle.settle(idx, sleepers, times, counts, stops, parked, resume, cycle, icount,
                      codes, keys)
    lanes = Lanes.from_indices(n, idx)
    found = settle.places(lanes, idx, sleepers, stops, codes, keys, k)
    assert [(pc, list(part.indices()), blocked) for pc, part, blocked in found] == expected
    np.testing.assert_array_equal(cycle[members], times[members].astype(np.float32))
    np.testing.assert_array_equal(icount, expected_icount)
    assert (parked[members] == -1).all()


MESSAGES = (5, 19, 3, 9, 1)  # words a message; a FIFO of 4 words: most bounce between the two ends in parts


@ws.jit
def vector_relay(words, scale, out):
    """Row y's messages flow east from PE (0, y); each PE maps a word w to w * scale[y, x] + 1 on the way."""
    x, y = ws.grid(2)
    buf = ws.local.array(19, np.float32)
    a = scale[y, x]
    at = 0
    for n in MESSAGES:
        if ws.has_neighbor(ws.WEST):
            ws.recv(ws.WEST, out=buf[0:n])
        else:
            buf[0:n] = words[y, at:at + n]
        buf[0:n] = buf[0:n] * a + 1.0
        if ws.has_neighbor(ws.EAST):
            ws.send(ws.EAST, buf[0:n])
        else:
            out[y, at:at + n] = buf[0:n]
        at += n


@pytest.mark.parametrize("wake_words", [1, 40, 0])
def test_batches_sized_by_vector_words_are_identical_and_match_numpy(wake_words, monkeypatch):
    """Woken PEs moving many words in vector transfers run in fewer at a time (`stepper.WAKE_WORDS`, in regions
    over `WAKE_WORK_REGION` PEs; 1: the fewest, `interpreter.WAKE_BATCH_FLOOR`): the same run as the reference and
    one at a time."""
    width, height = 11, 13
    words = rng.integers(-4, 4, (height, sum(MESSAGES))).astype(np.float32)
    scale = rng.choice(np.array([-1.0, 0.5, 1.0, 2.0], dtype=np.float32), (height, width))

    def launch():
        dev = ws.Device(ws.WaferSpec(width=width, height=height, fifo_depth=4))
        d_out = dev.device_array(words.shape)
        stats = vector_relay[(1, 1), (width, height)](dev.to_device(words), dev.to_device(scale), d_out)
        return d_out.copy_to_host(), stats

    with forced(REFERENCE):
        reference = launch()
    with forced(ONE_AT_A_TIME):
        one_at_a_time = launch()
    monkeypatch.setattr(stepper, "WAKE_BATCH", 16)
    monkeypatch.setattr(stepper, "WAKE_WORDS", wake_words)
    monkeypatch.setattr(stepper, "WAKE_WORK_REGION", 0)  # (this region counts as large)
    with forced(FAST):
        fast = launch()
    assert_same_run(reference, one_at_a_time)
    assert_same_run(reference, fast)
    expected = words.copy()  # (small integers and powers of two: every step exact)
    for x in range(width):
        expected = expected * scale[:, x:x + 1] + np.float32(1.0)
    np.testing.assert_array_equal(reference[0], expected)
