"""A group's NumPy run taking the scheduler's next step itself (`WaveSim._hand_on`, `Strategy.runs_on`): a halo
exchange's block and edges, split at each `has_neighbor` and merged after each transfer, give NumPy's shifted
copies with the same results, cycles and per-PE statistics as the scheduler's loop taking every step, in
fewer trips through that loop; a launch with a wall-clock limit keeps every step in the loop."""
from __future__ import annotations

import numpy as np

import wafersim as ws
from conftest import load_source
from test_exchange_rows import halo_under_every_strategy
from test_stream_whole import KERNEL, expected
from wafersim.sim import wave
from wafersim.sim.compiled import stepper
from wafersim.sim.strategy import FAST, REFERENCE, Strategy, forced


def test_runs_going_on_give_the_schedulers_results_cycles_and_statistics_in_fewer_loop_trips(tmp_path, monkeypatch):
    width, height, nz, chunk = 20, 18, 12, 4
    halo = load_source(tmp_path, KERNEL.format(order=(0, 1, 2, 3), dtype="float32", ragged=False, dirs=4)).halo
    monkeypatch.setattr(stepper, "FABRIC_GROUP", 0)  # (else FAST's interpreter may run this block's transfers)
    trips = {}  # strategy's runs_on -> [group runs the scheduler's loop started, steps runs took on]
    run_group, hand_on = wave.WaveSim._run_group, wave.WaveSim._hand_on

    def counted_run(self, *args):
        trips.setdefault(self.strategy.runs_on, [0, 0])[0] += 1
        return run_group(self, *args)

    def counted_hand_on(self, *args):
        picked = hand_on(self, *args)
        trips.setdefault(self.strategy.runs_on, [0, 0])[1] += picked is not None
        return picked

    monkeypatch.setattr(wave.WaveSim, "_run_group", counted_run)
    monkeypatch.setattr(wave.WaveSim, "_hand_on", counted_hand_on)
    spec = ws.WaferSpec(width=width, height=height, fifo_depth=4)
    cols = np.random.default_rng(7).standard_normal((height, width, nz)).astype(np.float32)
    out = halo_under_every_strategy(halo, spec, cols, chunk, [REFERENCE, Strategy(runs_on=False), FAST])
    for k, got in enumerate(expected(cols, np.full(height, nz))):
        np.testing.assert_array_equal(out[:, :, k], got, err_msg=f"direction {k}")
    loop_off, taken_off = trips[False]  # (REFERENCE and runs_on=False: every step in the loop)
    loop_on, taken_on = trips[True]
    assert taken_off == 0 and taken_on > 0
    assert loop_on < loop_off / 2  # (FAST alone against the two strategies without it: still fewer than half)


def test_a_launch_with_a_time_limit_takes_every_step_in_the_schedulers_loop(tmp_path, monkeypatch):
    halo = load_source(tmp_path, KERNEL.format(order=(0, 1), dtype="int32", ragged=False, dirs=2)).halo
    steps = []
    hand_on = wave.WaveSim._hand_on
    monkeypatch.setattr(wave.WaveSim, "_hand_on", lambda self, *args: steps.append(1) or hand_on(self, *args))
    spec = ws.WaferSpec(width=12, height=10, fifo_depth=4)
    cols = np.arange(10 * 12 * 8, dtype=np.int32).reshape(10, 12, 8)
    results = []
    for limit in (None, 3600.0):
        device = ws.Device(spec)
        d_out = device.device_array((10 * 12, 4 * 8), np.int32)
        with forced(FAST):
            stats = halo[1, (12, 10)](device.to_device(cols.reshape(-1, 8)), d_out, 8, 4, max_seconds=limit)
        results.append((d_out.copy_to_host(), stats.cycles, len(steps)))
        steps.clear()
    (out, cycles, stepped), (out_limited, cycles_limited, stepped_limited) = results
    np.testing.assert_array_equal(out_limited, out)
    assert cycles_limited == cycles and stepped > 0 and stepped_limited == 0
