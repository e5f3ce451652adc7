"""The order of the compiled interpreter's work list of woken PEs (sim/compiled/wake.py): after a batch of long
runs, the lowest-numbered woken PEs run first. The order is free (a PE's results depend only on its FIFOs'
words), so a wavefront run in that order must stay bit-identical to the reference strategy and to the
one-at-a-time interpreter, and its results equal the textbook recurrence."""
from __future__ import annotations

import numpy as np
import pytest

import wafersim as ws
from test_compiled_fabric_state import lcs_table, lcs_wavefront
from test_engine_strategies import assert_same_run
from wafersim.sim.compiled import stepper, wake
from wafersim.sim.strategy import FAST, REFERENCE, Strategy, forced

ONE_AT_A_TIME = Strategy(compiled_wavefronts=False)
ROUNDS = 12  # string pairs: each PE's wake runs ~8 of them (its east FIFO's 16 words), ~200 instructions


@pytest.mark.parametrize("seed", range(8))
def test_lowest_first_puts_the_lowest_pes_on_top_of_the_work_list_after_long_runs(seed):
    g = np.random.default_rng(seed)
    for top, runs in [(int(g.integers(2, wake.LOWEST_FIRST_MAX + 1)), wake.LONG_RUNS), (wake.LOWEST_FIRST_MAX, 900),
                      (0, 900), (1, 900), (wake.LOWEST_FIRST_MAX + 1, 900), (40, wake.LONG_RUNS - 1)]:
        ready = g.permutation(4 * wake.LOWEST_FIRST_MAX).astype(np.int64)
        before = ready.copy()
        wake.lowest_first(ready, top, runs)
        sorts = 2 <= top <= wake.LOWEST_FIRST_MAX and runs >= wake.LONG_RUNS
        # (a stack: its top, the end of ready[:top], holds the lowest PE)
        expected = sorted(before[:top].tolist(), reverse=True) if sorts else before[:top].tolist()
        assert ready[:top].tolist() == expected
        assert ready[top:].tolist() == before[top:].tolist()  # (past the top: untouched)


@pytest.mark.parametrize("width,height,depth", [(40, 24, 16), (17, 30, 6)])
def test_a_wavefront_of_long_runs_lowest_first_is_identical_to_the_reference(width, height, depth):
    """Each PE runs ~`depth` / 2 rounds a wake (~25 instructions each: past `LONG_RUNS`), and tens of woken PEs
    wait at once along the front: the work list is sorted before most batches."""
    rng = np.random.default_rng(width)
    a = rng.integers(0, 4, (height, ROUNDS), dtype=np.int32)  # a[:, r] against b[:, r]
    b = rng.integers(0, 4, (width, ROUNDS), dtype=np.int32)
    kernel = lcs_wavefront(ROUNDS)

    def launch():
        dev = ws.Device(ws.WaferSpec(width=width, height=height, fifo_depth=depth))
        d_out = dev.device_array((height * width, ROUNDS), np.int32)
        stats = kernel[(1, 1), (width, height)](dev.to_device(a), dev.to_device(b), d_out)
        return d_out.copy_to_host(), stats

    runs = {}
    for name, strategy in [("reference", REFERENCE), ("one at a time", ONE_AT_A_TIME), ("fast", FAST)]:
        with forced(strategy):
            runs[name] = launch()
    assert_same_run(runs["reference"], runs["one at a time"])
    assert_same_run(runs["reference"], runs["fast"])
    expected = np.stack([np.ravel(lcs_table(list(a[:, r]), list(b[:, r]))) for r in range(ROUNDS)], axis=1)
    np.testing.assert_array_equal(runs["fast"][0], expected)


MESSAGES = (5, 19, 3, 9, 1)  # words a message; FIFOs of 4 words: most park their PEs mid-message


@ws.jit
def echo(words, spin, out, sums):
    """Row y's messages flow east (each PE maps w to w / 2 + 1), the last PE's answer flows back west: a PE sends
    east, then waits for its east neighbour's answer, which wakes it from another batch. Between the two, a scalar
    loop of spin[y, x] rounds (up to ~250 instructions a wake: past `wake.LONG_RUNS`, so the work list is sorted)."""
    x, y = ws.grid(2)
    buf = ws.local.array(19, np.float32)
    back = ws.local.array(19, np.float32)
    rounds = spin[y, x]
    total = 0
    at = 0
    for n in MESSAGES:
        if ws.has_neighbor(ws.WEST):
            ws.recv(ws.WEST, out=buf[0:n])
        else:
            buf[0:n] = words[y, at:at + n]
        s = 0
        for k in range(rounds):
            s = s + (k * 3) % 7
        total += s
        buf[0:n] = buf[0:n] * 0.5 + 1.0
        if ws.has_neighbor(ws.EAST):
            ws.send(ws.EAST, buf[0:n])
            ws.recv(ws.EAST, out=back[0:n])
        else:
            back[0:n] = buf[0:n]
        if ws.has_neighbor(ws.WEST):
            ws.send(ws.WEST, back[0:n])
        out[y * ws.blockDim.x + x, at:at + n] = back[0:n]
        at += n
    sums[y, x] = total


@pytest.mark.parametrize("width,height,wake_words,wake_batch,budget,chunk", [
    (9, 5, 1, 16, 1, 4), (12, 7, 64, 64, 3, 1024), (6, 8, 1, 2, 4096, 8)])
def test_woken_pes_in_any_batches_and_calls_cut_short_are_identical_to_the_reference(
        width, height, wake_words, wake_batch, budget, chunk, monkeypatch):
    """Batches sized by vector words (`stepper.WAKE_WORDS`, this region counted as large), lowest-first sorts after
    long runs, interpreter calls cut by the loop budget and chunks of a few PEs: the same results, cycles and
    statistics as the reference strategy and one woken PE at a time; the results as plain NumPy computes them."""
    g = np.random.default_rng(width * height)
    words = g.integers(-4, 4, (height, sum(MESSAGES))).astype(np.float32)
    spin = g.integers(0, 40, (height, width)).astype(np.int32)

    def launch():
        dev = ws.Device(ws.WaferSpec(width=width, height=height, fifo_depth=4))
        d_out, d_sums = dev.device_array((height * width, sum(MESSAGES))), dev.device_array((height, width), np.int32)
        stats = echo[(1, 1), (width, height)](dev.to_device(words), dev.to_device(spin), d_out, d_sums)
        return np.concatenate([d_out.copy_to_host().ravel(), d_sums.copy_to_host().ravel().astype(np.float32)]), stats

    with forced(REFERENCE):
        reference = launch()
    with forced(ONE_AT_A_TIME):
        assert_same_run(reference, launch())
    for name, value in [("WAKE_WORK_REGION", 0), ("WAKE_WORDS", wake_words), ("WAKE_BATCH", wake_batch),
                        ("LOOP_BUDGET_PER_PE", budget), ("CHUNK_LANES", chunk)]:
        monkeypatch.setattr(stepper, name, value)
    with forced(FAST):
        assert_same_run(reference, launch())
    answer = words.copy()  # (small integers and halves: every step exact in float32)
    for _ in range(width):
        answer = answer * np.float32(0.5) + np.float32(1.0)
    sums = [[len(MESSAGES) * sum((k * 3) % 7 for k in range(int(spin[y, x]))) for x in range(width)]
            for y in range(height)]
    expected = np.concatenate([np.repeat(answer, width, axis=0).ravel(), np.ravel(sums).astype(np.float32)])
    np.testing.assert_array_equal(reference[0], expected)


COLUMN_WORDS = 12


@ws.jit
def broadcast_then_relay(values, out):
    """Row 0 of each block's column broadcasts a vector down it (routed, channel 1: one sender a column, proven), a
    barrier, then each row relays a vector east (w -> w / 2 + the column's vector), a barrier; data-dependent
    scalar work before each part keeps the PEs out of step."""
    x, y = ws.grid(2)
    v = values[y, x]
    col = ws.local.array(COLUMN_WORDS, np.float32)
    buf = ws.local.array(COLUMN_WORDS, np.float32)
    s = 0.0
    for k in range(int(v * 6.0)):
        s += 1.0
    if ws.threadIdx.y == 0:
        for k in range(COLUMN_WORDS):
            col[k] = v * (k + 1)
        ws.send(ws.RAMP, col[0:COLUMN_WORDS], channel=1)
    else:
        ws.recv(ws.RAMP, out=col[0:COLUMN_WORDS], channel=1)
    ws.syncthreads()
    if ws.has_neighbor(ws.WEST):
        ws.recv(ws.WEST, out=buf[0:COLUMN_WORDS])
    else:
        buf[0:COLUMN_WORDS] = col[0:COLUMN_WORDS]
    for k in range(int(v * 9.0)):
        s += 0.5
    buf[0:COLUMN_WORDS] = buf[0:COLUMN_WORDS] * 0.5 + col[0:COLUMN_WORDS]
    if ws.has_neighbor(ws.EAST):
        ws.send(ws.EAST, buf[0:COLUMN_WORDS])
    ws.syncthreads()
    acc = 0.0
    for k in range(COLUMN_WORDS):
        acc += buf[k]
    out[y, x] = acc + s


@pytest.mark.parametrize("grid,block,depth,budget", [((2, 1), (7, 5), 2, 1), ((1, 2), (6, 3), 4, 4096)])
def test_routed_broadcasts_barriers_and_woken_batches_are_identical_to_the_reference(grid, block, depth, budget,
                                                                                     monkeypatch):
    """The interpreter's batches and calls cut short around routed sends and barriers (which the NumPy engine runs):
    the same run as the reference strategy, and what NumPy computes (eighths and halves: exact in float32)."""
    bx, by = block
    g = np.random.default_rng(bx * by)
    values = (g.integers(0, 8, (grid[1] * by, grid[0] * bx)) / 8).astype(np.float32)

    def launch():
        dev = ws.Device(ws.WaferSpec(width=16, height=16, fifo_depth=depth))
        d_out = dev.device_array(values.shape)
        stats = broadcast_then_relay[grid, block](dev.to_device(values), d_out,
                                                  routes=[ws.routes.column_broadcast(1)])
        return d_out.copy_to_host(), stats

    with forced(REFERENCE):
        reference = launch()
    for name, value in [("WAKE_WORK_REGION", 0), ("WAKE_WORDS", 1), ("WAKE_BATCH", 4), ("LOOP_BUDGET_PER_PE", budget)]:
        monkeypatch.setattr(stepper, name, value)
    with forced(FAST):
        assert_same_run(reference, launch())
    v = values.astype(np.float64)
    top = np.repeat(v[::by], by, axis=0)  # (each PE's block column's row 0)
    columns = top[:, :, None] * np.arange(1, COLUMN_WORDS + 1)  # (rows, columns, words)
    relayed = np.empty_like(columns)
    for x in range(values.shape[1]):
        before = columns[:, x] if x % bx == 0 else relayed[:, x - 1]
        relayed[:, x] = before * 0.5 + columns[:, x]
    expected = relayed.sum(axis=2) + np.floor(v * 6) + np.floor(v * 9) * 0.5
    np.testing.assert_array_equal(reference[0], expected.astype(np.float32))
