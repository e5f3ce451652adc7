"""`wafersim.runtime.current`: the current device, and `init`'s own tiny launch (`warm_up_launch`), which does
a launch's process-wide first uses without any device, stream or observer seeing it."""
from __future__ import annotations

import numpy as np

import wafersim as ws
from wafersim.runtime import current, device as runtime_device


def test_the_warm_up_launch_computes_its_row_sums_and_nobody_sees_it(monkeypatch):
    seen = []
    monkeypatch.setattr(runtime_device, "launch_observers", [lambda *args, **kwargs: seen.append(args)])
    monkeypatch.setattr(current, "_warmed_up", False)  # (run it again here, whether or not init ran before)
    dev = ws.get_current_device()
    launches = list(dev.launches)
    assembled, jitted = current.warm_up_launch()
    values = np.arange(8, dtype=np.float32).reshape(2, 4)
    # each PE adds 2 a + 1 to the word from its west neighbour: running sums along each row
    np.testing.assert_array_equal(assembled, np.cumsum(2 * values + 1, axis=1, dtype=np.float32))
    np.testing.assert_array_equal(jitted, np.cumsum(2 * values + 1, axis=1, dtype=np.float32))
    assert seen == [] and dev.launches == launches
    assert current.warm_up_launch() is None  # (once a process)


def test_init_runs_the_warm_up_launch_once():
    ws.init()
    assert current._warmed_up and current.warm_up_launch() is None


def test_select_device_makes_the_current_device(monkeypatch):
    monkeypatch.setattr(current, "_current", None)  # (the session's current device again afterwards)
    chosen = ws.select_device(ws.WaferSpec(width=3, height=2))
    assert ws.get_current_device() is chosen and chosen.spec.width == 3
