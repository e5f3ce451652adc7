"""A fabric call whose transfers all stay in their row runs as parts of whole rows on the engine's threads
(`sim.compiled.fabric_parts`): results, cycles and every per-PE statistic must be those of one thread and of the
reference strategy, and a call that could cross parts (a FIFO from the north) or turn a FIFO's tags per slot (two
tags pushed into one FIFO) must stay on one thread."""
from __future__ import annotations

import numpy as np
import pytest

import wafersim as ws
from test_engine_strategies import assert_same_run, error_facts
from wafersim.sim import parallel
from wafersim.sim.compiled import fabric_parts, stepper
from wafersim.sim.compiled.fabric_parts import MIXED, push_tags
from wafersim.sim.compiled.kinds import K_ADD, K_RECVV, K_SEND, K_SENDV, K_VADDX
from wafersim.sim.compiled.table import FIFO, KIND, OUT_FIFO, TAG
from wafersim.sim.strategy import FAST, REFERENCE, Strategy, forced

LENGTHS = (3, 20, 1)  # words of a round's messages: one longer than the FIFO
OFFSETS = tuple(sum(LENGTHS[:k]) for k in range(len(LENGTHS)))
ROUND = sum(LENGTHS)
ROUNDS = 3


@ws.jit
def row_relay(words, scale, rounds, out):
    """Row y passes `rounds[y]` rounds of messages east (a number of its own: rows end at other times); PE x maps
    each word w of round r to w * scale[y, x] + r; the east-most PE stores them."""
    x, y = ws.grid(2)
    buf = ws.local.array(20, np.float32)
    a = scale[y, x]
    for r in range(rounds[y]):
        for n, offset in zip(LENGTHS, OFFSETS):
            at = r * ROUND + offset
            if ws.has_neighbor(ws.WEST):
                ws.recv(ws.WEST, out=buf[0:n])
            else:
                buf[0:n] = words[y, at:at + n]
            buf[0:n] = buf[0:n] * a + r
            if ws.has_neighbor(ws.EAST):
                ws.send(ws.EAST, buf[0:n])
            else:
                out[y, at:at + n] = buf[0:n]


@ws.jit
def column_relay(words, scale, out):
    """The same along columns: words flow south from row 0 (FIFOs from the north: rows' parts would share them)."""
    x, y = ws.grid(2)
    buf = ws.local.array(20, np.float32)
    a = scale[y, x]
    for n, offset in zip(LENGTHS, OFFSETS):
        if ws.has_neighbor(ws.NORTH):
            ws.recv(ws.NORTH, out=buf[0:n])
        else:
            buf[0:n] = words[x, offset:offset + n]
        buf[0:n] = buf[0:n] * a
        if ws.has_neighbor(ws.SOUTH):
            ws.send(ws.SOUTH, buf[0:n])
        else:
            out[x, offset:offset + n] = buf[0:n]


@ws.jit
def two_tags(values, out):
    """Each PE passes east an int32 count and then float32 words (two tags into one FIFO)."""
    x, y = ws.grid(2)
    buf = ws.local.array(4, np.float32)
    if ws.has_neighbor(ws.WEST):
        count = ws.recv(ws.WEST, dtype=np.int32)
        ws.recv(ws.WEST, out=buf[0:4])
    else:
        count = 0
        buf[0:4] = values[y, 0:4]
    buf[0:4] = buf[0:4] + 1.0
    if ws.has_neighbor(ws.EAST):
        ws.send(ws.EAST, count + 1)
        ws.send(ws.EAST, buf[0:4])
    else:
        out[y, 0:4] = buf[0:4]
        out[y, 4] = count


@ws.jit
def failing_relay(words, index, stuck, east, rounds, out):
    """Rows relay words east twice, each PE reading `buf[index[y, x]]` (out of bounds where it is large) and
    sending east past the block's edge where `east` is set; a PE with `stuck` set waits for a word that never
    comes (a deadlock at the barrier)."""
    x, y = ws.grid(2)
    buf = ws.local.array(8, np.float32)
    for r in range(rounds[y]):
        if ws.has_neighbor(ws.WEST):
            ws.recv(ws.WEST, out=buf[0:6])
        else:
            buf[0:6] = words[y, 0:6]
        buf[0:6] = buf[0:6] * 2.0 + 1.0
        buf[0] = buf[0] + buf[index[y, x] + r]
        if ws.has_neighbor(ws.EAST) or east[y, x] != 0:
            ws.send(ws.EAST, buf[0:6])
        else:
            out[y, 0:6] = buf[0:6]
    if stuck[y, x] != 0:
        ws.recv(ws.WEST, out=buf[0:6])
    ws.syncthreads()


def numpy_row_relay(words, scale, rounds):
    out = np.zeros_like(words)
    for y in range(words.shape[0]):
        for r in range(rounds[y]):
            v = words[y, r * ROUND:(r + 1) * ROUND].copy()
            for a in scale[y]:
                v = v * a + np.float32(r)
            out[y, r * ROUND:(r + 1) * ROUND] = v
    return out


@pytest.fixture
def parts_seen(monkeypatch):
    """Every fabric call's parts (None: one thread), with the fabric calls of any size considered."""
    seen = []
    original = fabric_parts.row_parts

    def recorded(fabric, idx, threads, tags):
        parts = original(fabric, idx, threads, tags)
        seen.append((fabric.wave.region.width, idx.copy(), parts))
        return parts

    monkeypatch.setattr(fabric_parts, "row_parts", recorded)
    monkeypatch.setattr(stepper, "PARALLEL_MIN", 1)
    return seen


def launch(kernel, spec, out_shape, *args):
    dev = ws.Device(spec)
    d_out = dev.to_device(np.zeros(out_shape, dtype=np.float32))
    stats = kernel[(1, 1), (spec.width, spec.height)](*[dev.to_device(a) for a in args], d_out)
    return d_out.copy_to_host(), stats


@pytest.mark.parametrize("threads", [2, 3])
@pytest.mark.parametrize("depth", [16, 4])
@pytest.mark.parametrize("strategy", [FAST, Strategy(event_wakeup=False)])
def test_row_chains_run_in_parts_of_whole_rows_as_on_one_thread(parts_seen, threads, depth, strategy):
    width, height = 7, 5
    rng = np.random.default_rng(threads * 10 + depth)
    words = rng.integers(-4, 5, (height, ROUNDS * ROUND)).astype(np.float32)  # (small integers: exact products)
    scale = rng.choice(np.array([-2, -1, 1, 2], dtype=np.float32), (height, width))
    rounds = rng.integers(0, ROUNDS + 1, height).astype(np.int32)
    rounds[0] = ROUNDS  # (some row runs them all)
    spec = ws.WaferSpec(width=width, height=height, fifo_depth=depth)
    args = (words, scale, rounds)
    with forced(REFERENCE):
        reference = launch(row_relay, spec, words.shape, *args)
    with parallel.threads(1), forced(strategy):
        alone = launch(row_relay, spec, words.shape, *args)
    assert all(parts is None for _, _, parts in parts_seen)
    parts_seen.clear()
    with parallel.threads(threads), forced(strategy):
        split = launch(row_relay, spec, words.shape, *args)
    np.testing.assert_array_equal(reference[0], numpy_row_relay(words, scale, rounds))
    assert_same_run(reference, alone)
    assert_same_run(reference, split)
    split_calls = [(w, idx, parts) for w, idx, parts in parts_seen if parts is not None]
    assert split_calls, "no call ran in parts"
    for w, idx, parts in split_calls:
        assert 1 < len(parts) <= threads
        np.testing.assert_array_equal(np.concatenate(parts), idx)
        row_sets = [set((part // w).tolist()) for part in parts]
        for k in range(len(parts) - 1):  # (each part's rows all before the next's: whole rows)
            assert max(row_sets[k]) < min(row_sets[k + 1])


def test_a_chain_along_columns_stays_on_one_thread(parts_seen):
    width, height = 4, 6
    rng = np.random.default_rng(5)
    words = rng.integers(-4, 5, (width, ROUND)).astype(np.float32)
    scale = rng.choice(np.array([-2, -1, 1, 2], dtype=np.float32), (height, width))
    spec = ws.WaferSpec(width=width, height=height)
    with forced(REFERENCE):
        reference = launch(column_relay, spec, words.shape, words, scale)
    parts_seen.clear()
    with parallel.threads(2):
        run = launch(column_relay, spec, words.shape, words, scale)
    np.testing.assert_array_equal(reference[0], words * np.prod(scale, axis=0)[:, None])
    assert_same_run(reference, run)
    assert parts_seen and all(parts is None for _, _, parts in parts_seen)


def test_two_tags_into_one_fifo_stay_on_one_thread(parts_seen):
    width, height = 5, 4
    values = np.arange(height * 4, dtype=np.float32).reshape(height, 4)
    spec = ws.WaferSpec(width=width, height=height)
    with forced(REFERENCE):
        reference = launch(two_tags, spec, (height, 5), values)
    parts_seen.clear()
    with parallel.threads(2):
        run = launch(two_tags, spec, (height, 5), values)
    expected = np.concatenate([values + width, np.full((height, 1), width - 1, dtype=np.float32)], axis=1)
    np.testing.assert_array_equal(reference[0], expected)
    assert_same_run(reference, run)
    assert parts_seen and all(parts is None for _, _, parts in parts_seen)


def test_push_tags_names_the_one_tag_pushed_into_each_fifo():
    rng = np.random.default_rng(3)
    pcs, fifos = 60, 8
    fields = np.zeros((15, pcs), dtype=np.int64)
    fields[KIND] = rng.choice([K_ADD, K_SEND, K_SENDV, K_RECVV, K_VADDX], pcs)
    fields[FIFO] = rng.integers(0, fifos - 2, pcs)  # (the last two FIFOs: none pushes into them)
    fields[OUT_FIFO] = rng.integers(-1, fifos - 2, pcs)
    fields[TAG] = 7
    fields[TAG, rng.choice(pcs, 4, replace=False)] = 8
    pushed: dict[int, set] = {}
    for pc in range(pcs):
        kind = int(fields[KIND, pc])
        target = (int(fields[FIFO, pc]) if kind in (K_SEND, K_SENDV)
                  else int(fields[OUT_FIFO, pc]) if kind >= K_VADDX else -1)
        if target >= 0:
            pushed.setdefault(target, set()).add(int(fields[TAG, pc]))
    expected = [-1 if f not in pushed else pushed[f].pop() if len(pushed[f]) == 1 else MIXED for f in range(fifos)]
    assert push_tags(fields, fifos).tolist() == expected
    assert {MIXED, -1, 7} <= set(expected)  # (the draw has every case)


FAILURES = {  # what to plant at PEs (x, y) of rows 1 and 4 (other parts on 2 and 3 threads); the error's PEs
    "bounds": ("index", {(6, 1): 40, (1, 4): 1000}, ws.MemoryAccessError, [(1, 4)]),  # (row 4's first in time)
    "bounds at once": ("index", {(3, 1): 40, (3, 4): 1000}, ws.MemoryAccessError, [(3, 1), (3, 4)]),
    "second round": ("index", {(7, 1): 7, (0, 4): 7}, ws.MemoryAccessError, [(0, 4)]),  # (buf[8] at r = 1)
    "edge": ("east", {(7, 2): 1, (7, 3): 1}, ws.MeshBoundaryError, [(7, 2), (7, 3)]),
    "deadlock": ("stuck", {(2, 1): 1, (5, 4): 1}, ws.DeadlockError, None),
    "cycle limit": (None, {}, ws.CycleLimitError, None),
}


@pytest.mark.parametrize("case", sorted(FAILURES))
def test_a_failure_in_any_part_is_reported_as_on_one_thread(parts_seen, case):
    """The failure first in simulated time, its message and PEs, whichever part met it and whatever the other
    parts ran on meanwhile (a part does not stop at another's refusal)."""
    width, height = 8, 6
    planted, at, error_type, pes = FAILURES[case]
    arrays = {name: np.zeros((height, width), dtype=np.int32) for name in ("index", "stuck", "east")}
    for (x, y), value in at.items():
        arrays[planted][y, x] = value
    words = np.random.default_rng(2).integers(-3, 4, (height, 6)).astype(np.float32)
    spec = ws.WaferSpec(width=width, height=height, fifo_depth=4)
    options = {"max_cycles": 600} if case == "cycle limit" else {}

    def failure(strategy, threads):
        parts_seen.clear()
        dev = ws.Device(spec)
        args = [dev.to_device(a) for a in (words, arrays["index"], arrays["stuck"], arrays["east"],
                                              np.full(height, 2, dtype=np.int32))]
        with parallel.threads(threads), forced(strategy), pytest.raises(error_type) as raised:
            failing_relay[(1, 1), (width, height)](*args, dev.to_device(np.zeros((height, 6), np.float32)),
                                                   **options)
        return error_facts(raised.value), any(parts is not None for _, _, parts in parts_seen)

    reference, _ = failure(REFERENCE, 1)
    if pes is not None:
        assert reference[2] == pes
    if case == "deadlock":  # (the planted PEs wait for a word; every other PE at the barrier)
        assert "(2, 1), (5, 4)" in reference[1] and "46 PEs at pc" in reference[1]
    for strategy in (FAST, Strategy(event_wakeup=False)):
        assert failure(strategy, 1)[0] == reference
        for threads in (2, 3):
            facts, split = failure(strategy, threads)
            assert facts == reference, (strategy, threads)
            assert split, "no call ran in parts"
