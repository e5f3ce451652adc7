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
from wafersim.sim.compiled import wake
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
