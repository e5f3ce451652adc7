"""Host-memory safety: a launch's host memory is estimated before anything is allocated, and a launch that
would not fit is refused with the numbers instead of being killed by the OS."""
from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

import wafersim as ws
from wafersim.kernels.heat import heat_kernel
from wafersim.sim.engine import Launch


def heat_launch(side: int, steps: int = 5):
    dev = ws.Device(ws.WaferSpec(width=side, height=side))
    d_u, d_out = dev.device_array((side, side)), dev.device_array((side, side))
    program = heat_kernel.compile_for(d_u, d_out, np.float32(0.1), steps).program
    words = [d_u.address, side, side, d_out.address, side, side, 0, steps]
    return dev, Launch(program, dev.spec, (1, 1), (side, side), words, dev.memory)


def test_the_estimate_follows_what_numpy_actually_allocates():
    _, launch = heat_launch(256, steps=20)  # enough steps to use every FIFO slot
    estimate = sum(launch.host_memory().values())
    tracemalloc.start()
    launch.run()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    # An upper bound that stays close: it counts FIFO value rings at their full depth, where heat's stay one
    # word deep (sim/fabric.py), which the lockstep path's fewer temporaries no longer make up for.
    assert 0.7 * peak <= estimate <= 1.75 * peak


def test_a_launch_too_big_for_host_memory_is_refused_with_the_numbers(monkeypatch):
    monkeypatch.setenv("WAFERSIM_HOST_MEMORY", str(50 * 2**20))
    dev = ws.Device("wse2")
    u = np.zeros((dev.spec.height, dev.spec.width), np.float32)
    d_u, d_out = dev.to_device(u), dev.device_array(u.shape)
    with pytest.raises(ws.OutOfMemoryError) as info:
        heat_kernel[(1, 1), (dev.spec.width, dev.spec.height)](d_u, d_out, np.float32(0.1), 10)
    err = info.value
    assert err.available == 50 * 2**20 and err.needed > err.available
    assert err.needed == sum(err.parts.values()) and err.parts["FIFOs"] > 0
    assert f"{err.needed / 2**20:,.2f} MiB of host memory" in str(err) and "753,972 PEs" in str(err)
    assert "but 50.00 MiB is available" in str(err)
    assert dev.launches == []  # nothing ran; the device is untouched and usable
    monkeypatch.setenv("WAFERSIM_HOST_MEMORY", str(2**40))
    small = ws.Device(ws.WaferSpec(width=8, height=8))
    x = small.to_device(np.ones((8, 8), np.float32))
    out = small.device_array((8, 8))
    heat_kernel[(1, 1), (8, 8)](x, out, np.float32(0.1), 2)
    np.testing.assert_array_equal(out.copy_to_host(), np.ones((8, 8), np.float32))


def test_sizes_in_the_refusal_are_shown_in_a_unit_that_shows_them(monkeypatch):
    from wafersim.sim.hostmem import format_bytes

    assert [format_bytes(n) for n in (0, 1000, 1536, 3 * 2**20 + 2**19, 2**30 * 5 // 4)] == [
        "0 bytes", "1,000 bytes", "1.50 KiB", "3.50 MiB", "1.25 GiB"]
    monkeypatch.setenv("WAFERSIM_HOST_MEMORY", "1000")
    dev = ws.Device(ws.WaferSpec(width=8, height=8))
    with pytest.raises(ws.OutOfMemoryError) as info:
        heat_kernel[(1, 1), (8, 8)](dev.device_array((8, 8)), dev.device_array((8, 8)), np.float32(0.1), 2)
    assert "but 1,000 bytes is available" in str(info.value) and "0.00" not in str(info.value)
    assert f"needs about {format_bytes(info.value.needed)} of host memory" in str(info.value)


@pytest.mark.parametrize("variable, value", [("WAFERSIM_HOST_MEMORY", "abc"), ("WAFERSIM_HOST_MEMORY", "-5"),
                                             ("WAFERSIM_THREADS", "x"), ("WAFERSIM_THREADS", "2.5")])
def test_a_bad_environment_variable_is_an_error_naming_it(monkeypatch, variable, value):
    from wafersim.sim import parallel

    monkeypatch.setenv(variable, value)
    monkeypatch.setattr(parallel, "_configured", None)  # (the thread count is read on first use)
    dev = ws.Device(ws.WaferSpec(width=8, height=8))
    with pytest.raises(ws.ArgumentError, match=f"{variable}={value!r} is not a") as info:
        heat_kernel[(1, 1), (8, 8)](dev.device_array((8, 8)), dev.device_array((8, 8)), np.float32(0.1), 2)
    assert info.value.variable == variable and dev.launches == []
