"""bench/compiled_profile.py: the engine's compiled functions timed per launch, then put back as they were."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import compiled_profile  # noqa: E402

from wafersim.sim import descriptor_kernels, fifo_kernels  # noqa: E402
from wafersim.kernels import gemm  # noqa: E402


def _lane_runs_calls(times: int):
    """A stand-in launch: `times` calls of a compiled function through its module, as the engine makes them."""
    pes = np.array([0, 1, 2, 5, 6], dtype=np.int64)

    def run():
        for _ in range(times):
            assert fifo_kernels.lane_runs(pes).tolist() == [0, 3, 5]  # (runs 0-2 and 5-6, as plain Python finds)
    return run


def test_calls_are_counted_per_run_and_the_functions_put_back():
    original = fifo_kernels.lane_runs
    entries, process = compiled_profile.profile(_lane_runs_calls(7), repeat=3)
    assert entries["fifo_kernels.lane_runs"][1] == 7  # calls per run: 21 in 3 runs
    assert entries["fifo_kernels.lane_runs"][0] >= 0 and process >= 0
    assert fifo_kernels.lane_runs is original


def test_the_functions_are_put_back_when_a_run_fails():
    original = descriptor_kernels.rank1_updates_float32

    def fails():
        raise RuntimeError("a failing launch")
    with pytest.raises(RuntimeError):
        compiled_profile.profile(fails, repeat=1)
    assert descriptor_kernels.rank1_updates_float32 is original


def test_a_timed_gemm_gives_numpy_s_product_and_times_its_rank_1_pass():
    rng = np.random.default_rng(1)
    a, b = rng.random((8, 8), dtype=np.float32), rng.random((8, 8), dtype=np.float32)
    results = []
    gemm.gemm(a, b, 2)  # (compiled or loaded before the wrappers go in)
    entries, _ = compiled_profile.profile(lambda: results.append(gemm.gemm(a, b, 2)[0]), repeat=2)
    for c in results:
        np.testing.assert_allclose(c, a.astype(np.float64) @ b, rtol=1e-5)
    assert entries["descriptor_kernels.rank1_updates_float32"][1] >= 1  # SUMMA's vgers run as queued passes


def test_the_group_runs_are_timed_by_pc_and_put_back():
    from wafersim.sim.wave import WaveSim

    original = WaveSim.__dict__["_run_group"]
    rng = np.random.default_rng(2)
    a, b = rng.random((8, 8), dtype=np.float32), rng.random((8, 8), dtype=np.float32)
    c, stats = gemm.gemm(a, b, 2)  # (compiled or loaded before the wrapper goes in)
    results = []
    table, thread = compiled_profile.runs(lambda: results.append(gemm.gemm(a, b, 2)), repeat=2)
    for again, again_stats in results:  # (the wrapped runs give the same product and cycles)
        np.testing.assert_array_equal(again, c)
        assert again_stats.cycles == stats.cycles
    assert WaveSim.__dict__["_run_group"] is original
    assert sum(seconds for seconds, _ in table.values()) <= thread + 1e-3
    # The launch starts with one run of all 4 PEs at pc 0; every run is a whole number per launch (2 alike)
    assert table[0, next(op for pc, op, _ in table if pc == 0), 4][1] == 1
    assert all(count == int(count) and 1 <= lanes <= 4 for (_, _, lanes), (_, count) in table.items())
    # SUMMA's panels: runs of the senders from a `senda`, of the receivers woken at their `recva`; all 4 PEs halt
    # together, in one run a launch
    ops = {op for _, op, _ in table}
    assert {"senda", "recva"} <= ops
    assert [(lanes, count) for (_, op, lanes), (_, count) in table.items() if op == "halt"] == [(4, 1)]
