"""`wafersim.runtime.current`: the current device, and `init`'s own tiny launch (`warm_up_launch`), which does
a launch's process-wide first uses without any device, stream or observer seeing it."""
from __future__ import annotations

import sys
import threading

import numpy as np
import pytest

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


def test_select_device_makes_an_existing_device_current_again(monkeypatch):
    # As cudaSetDevice: with two devices, the module-level helpers follow the one selected last (a Device was
    # a SpecError, "unknown spec 'Device(...)'", so the first device could never be current again).
    monkeypatch.setattr(current, "_current", None)
    first, second = ws.Device(ws.WaferSpec(width=4, height=1)), ws.Device(ws.WaferSpec(width=2, height=2))
    assert ws.select_device(first) is first and ws.get_current_device() is first
    x = ws.to_device(np.arange(4, dtype=np.float32))
    assert x.device is first and ws.stream().device is first
    assert ws.select_device(second) is second and ws.device_array(3).device is second
    assert ws.select_device(first) is first and ws.event().device is first
    assert ws.to_device(np.ones(2, np.float32)).device is first and x.copy_to_host().tolist() == [0, 1, 2, 3]


def test_device_array_like_takes_the_shape_dtype_and_device_of_its_array(monkeypatch):
    """Numba's `d_out = cuda.device_array_like(d_in)`: a zero-filled array on the device of a device array
    (not the current device), or on the current one for a NumPy array."""
    monkeypatch.setattr(current, "_current", None)
    current_dev, other = ws.select_device(ws.WaferSpec(width=2, height=2)), ws.Device(ws.WaferSpec(width=4, height=1))
    d_in = other.to_device(np.arange(6, dtype=np.int32).reshape(2, 3))
    d_out = ws.device_array_like(d_in)
    assert d_out.device is other and (d_out.shape, d_out.dtype) == ((2, 3), np.int32)
    np.testing.assert_array_equal(d_out.copy_to_host(), np.zeros((2, 3), np.int32))
    host = np.ones(5, np.float16)
    for made in (ws.device_array_like(host), current_dev.device_array_like(host)):
        assert made.device is current_dev and (made.shape, made.dtype) == ((5,), np.float16)
    s = other.stream()
    assert other.device_array_like(d_in, stream=s).shape == (2, 3)
    with pytest.raises(ws.ArgumentTypeError, match=r"a NumPy or device array, got list"):
        ws.device_array_like([1, 2])
    with pytest.raises(ws.LaunchError):  # a stream of another device, as for device_array
        current_dev.device_array_like(d_in, stream=s)


def test_select_device_of_a_device_number_says_there_are_none(monkeypatch):
    monkeypatch.setattr(current, "_current", None)
    for number in (0, 1, np.int64(0), True):
        with pytest.raises(ws.ArgumentTypeError, match=r"no device numbers.*ws\.select_device\(dev\)"):
            ws.select_device(number)
    assert current._current is None  # (nothing was made current)


def test_threads_that_first_use_the_current_device_at_once_share_one(monkeypatch):
    # Each thread's first ws.get_current_device() made a device when several came at once (29 of 30 trials with
    # 4 threads); their arrays then lay on devices that were no longer current.
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        for _ in range(10):
            monkeypatch.setattr(current, "_current", None)
            start, arrays = threading.Barrier(4), []

            def first_use():
                start.wait()
                arrays.append(ws.to_device(np.full(2, 5.0, np.float32)))

            threads = [threading.Thread(target=first_use) for _ in range(4)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            assert len(arrays) == 4 and all(a.device is ws.get_current_device() for a in arrays)
            assert [a.copy_to_host().tolist() for a in arrays] == [[5.0, 5.0]] * 4
    finally:
        sys.setswitchinterval(interval)
