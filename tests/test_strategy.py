"""`wafersim.sim.strategy`: `forced(strategy)` runs the launches of the thread that entered the block under
that strategy, and only those (the wave's `strategy` attribute records which one a launch ran under)."""
from __future__ import annotations

import threading

import numpy as np

import wafersim as ws
from wafersim.sim import wave
from wafersim.sim.strategy import FAST, REFERENCE, active, forced


@ws.jit
def double(x, out):
    i = ws.grid(1)
    out[i] = x[i] * 2.0


def record_strategies(monkeypatch) -> list:
    """(thread name, strategy) of every wave created from now on."""
    seen = []
    original = wave.WaveSim.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        seen.append((threading.current_thread().name, self.strategy))

    monkeypatch.setattr(wave.WaveSim, "__init__", init)
    return seen


def test_forced_blocks_nest_and_unwind():
    assert active() is FAST
    with forced(REFERENCE):
        assert active() is REFERENCE
        with forced(FAST):
            assert active() is FAST
        assert active() is REFERENCE
    assert active() is FAST


def test_a_forced_strategy_applies_to_its_own_threads_launches_only(monkeypatch):
    # With one module-wide stack, thread "forced" put thread "plain"'s launches under REFERENCE, and the first
    # to leave its block popped the other's entry.
    dev = ws.Device(ws.WaferSpec(width=4, height=1))
    x = np.arange(4, dtype=np.float32)
    double[1, 4](dev.to_device(x), dev.device_array(4))  # (compiled outside the threads)
    seen = record_strategies(monkeypatch)
    inside, results = threading.Barrier(2), {}

    def run(name, strategy):
        def body():
            with forced(strategy):
                inside.wait()  # both threads inside their blocks
                out = dev.device_array(4)
                double[1, 4](dev.to_device(x), out)
                results[name] = (active(), out.copy_to_host())
                inside.wait()
            results[name + " after"] = active()
        return threading.Thread(target=body, name=name)

    threads = [run("forced", REFERENCE), run("plain", FAST)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results["forced"][0] is REFERENCE and results["plain"][0] is FAST
    assert results["forced after"] is FAST and results["plain after"] is FAST
    for name in ("forced", "plain"):
        np.testing.assert_array_equal(results[name][1], 2 * x)
    assert sorted(seen, key=lambda s: s[0]) == [("forced", REFERENCE), ("plain", FAST)]


def test_a_launch_under_the_debugger_runs_under_the_callers_forced_strategy(monkeypatch):
    dev = ws.Device(ws.WaferSpec(width=4, height=1))
    x, out = dev.to_device(np.arange(4, dtype=np.float32)), dev.device_array(4)
    seen = record_strategies(monkeypatch)
    with forced(REFERENCE):
        with ws.debug(double[1, 4], x, out) as dbg:
            assert dbg.cont().reason == "finished"
    assert [strategy for _, strategy in seen] == [REFERENCE]
    np.testing.assert_array_equal(out.copy_to_host(), 2 * np.arange(4, dtype=np.float32))
