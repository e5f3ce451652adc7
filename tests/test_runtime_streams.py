"""The simulated timeline of streams and events (runtime/streams.py): stream order, the legacy default
stream, `Stream.wait_event`, `Event.query` and host synchronization, checked against the spec's transfer
time and the launches' own `stats.seconds` (plain arithmetic); results are those of program order."""
from __future__ import annotations

import numpy as np
import pytest

import wafersim as ws
from wafersim.kernels.assembly import saxpy_program


@pytest.fixture
def dev():
    return ws.Device(ws.WaferSpec(width=16, height=16))


@pytest.fixture(scope="module")
def saxpy():
    return saxpy_program()


def copy_s(spec: ws.WaferSpec, nbytes: int) -> float:
    """Seconds of a host copy: the spec's latency plus bytes over its bandwidth."""
    return spec.host_transfer_latency_s + nbytes / spec.global_bytes_per_s


def run_saxpy(dev, saxpy, stream, n=256):
    x, y = np.arange(n, dtype=np.float32), np.ones(n, np.float32)
    dx, dy = dev.to_device(x, stream=stream), dev.to_device(y, stream=stream)
    out = dev.device_array(n)
    stats = dev.launch(saxpy, grid=(n // 16,), block=(16,), args=[dx, dy, out, np.float32(2.0), n], stream=stream)
    return out, stats, 2 * x + y


def test_wait_event_orders_a_copy_after_another_streams_kernel(dev, saxpy):
    s1, s2 = dev.stream(), dev.stream()
    done = dev.event()
    out, stats, expected = run_saxpy(dev, saxpy, s1)
    done.record(s1)
    end = 2 * copy_s(dev.spec, 1024) + stats.seconds
    assert done.time == pytest.approx(end, rel=1e-12)
    s2.wait_event(done)
    host = out.copy_to_host(stream=s2)
    np.testing.assert_array_equal(host, expected)  # program order: the copy sees the kernel's result
    what, start, stop = s2.log[0]
    assert start == done.time and stop == pytest.approx(end + copy_s(dev.spec, 1024), rel=1e-12)


def test_without_a_wait_streams_keep_independent_clocks(dev, saxpy):
    s1, s2 = dev.stream(), dev.stream()
    out, stats, expected = run_saxpy(dev, saxpy, s1)
    np.testing.assert_array_equal(out.copy_to_host(stream=s2), expected)
    assert s2.log[0][1] == 0.0  # (a copy that does not wait overlaps the kernel on the timeline)


def test_a_wait_for_an_unrecorded_event_does_nothing_and_query_is_true(dev):
    s = dev.stream()
    e = dev.event()
    assert e.query()
    s.wait_event(e)
    assert s.time == 0.0
    e.record(s)
    assert e.query()


def test_wait_event_refuses_other_devices_events_and_non_events(dev):
    other = ws.Device(ws.WaferSpec(width=4, height=4))
    e = other.event()
    e.record()
    with pytest.raises(ws.LaunchError, match="another device"):
        dev.stream().wait_event(e)
    with pytest.raises(ws.ArgumentTypeError):
        dev.stream().wait_event(1.0)


@pytest.mark.parametrize("how", ["device", "stream", "event", "module"])
def test_synchronize_moves_every_stream_up_to_the_time_waited_for(dev, saxpy, how, monkeypatch):
    s1, s2 = dev.stream(), dev.stream()
    dev.to_device(np.zeros(10, np.float32), stream=s2)
    _, stats, _ = run_saxpy(dev, saxpy, s1)
    done = dev.event()
    done.record(s1)
    end = 2 * copy_s(dev.spec, 1024) + stats.seconds
    if how == "device":
        dev.synchronize()
    elif how == "stream":
        s1.synchronize()
    elif how == "event":
        done.synchronize()
    else:
        import wafersim.runtime.current as current
        monkeypatch.setattr(current, "_current", dev)
        ws.synchronize()
    assert [s.time for s in dev.streams] == pytest.approx([end] * 3, rel=1e-12)
    dev.to_device(np.zeros(10, np.float32), stream=s2)
    assert s2.log[-1][1] == pytest.approx(end, rel=1e-12)


def test_the_default_stream_waits_for_other_streams_and_they_for_it(dev, saxpy):
    s1, s2 = dev.stream(), dev.stream()
    start, stop = dev.event(), dev.event()
    start.record()
    out, stats, expected = run_saxpy(dev, saxpy, s1)
    kernel_end = 2 * copy_s(dev.spec, 1024) + stats.seconds
    host = out.copy_to_host()  # on the default stream: after s1's kernel
    np.testing.assert_array_equal(host, expected)
    assert dev.default_stream.log[0][1] == pytest.approx(kernel_end, rel=1e-12)
    copy_end = kernel_end + copy_s(dev.spec, 1024)
    stop.record()
    assert start.elapsed_time(stop) == pytest.approx(copy_end * 1e3, rel=1e-12)  # covers s1's work
    dev.to_device(np.zeros(4, np.float32), stream=s2)  # on s2: after the default stream's copy
    assert s2.log[0][1] == pytest.approx(copy_end, rel=1e-12)
    assert stats.start_cycle == pytest.approx(2 * copy_s(dev.spec, 1024) * dev.spec.clock_hz, rel=1e-12)


def test_a_launch_on_a_stream_starts_after_earlier_default_stream_work(dev, saxpy):
    n = 256
    x, y = np.arange(n, dtype=np.float32), np.ones(n, np.float32)
    dx, dy, out = dev.to_device(x), dev.to_device(y), dev.device_array(n)  # default stream
    s = dev.stream()
    stats = dev.launch(saxpy, grid=(n // 16,), block=(16,), args=[dx, dy, out, np.float32(2.0), n], stream=s)
    assert stats.start_cycle == pytest.approx(2 * copy_s(dev.spec, 1024) * dev.spec.clock_hz, rel=1e-12)
    assert s.time == pytest.approx(2 * copy_s(dev.spec, 1024) + stats.seconds, rel=1e-12)


def test_stream_0_is_the_default_stream_as_in_numba(dev, saxpy):
    """`kernel[grid, block, 0]`, `stream=0` (Numba's default stream) and None are the device's default
    stream; other values that are no Stream are refused with an ArgumentTypeError."""
    before = len(dev.default_stream.log)
    run_saxpy(dev, saxpy, 0)                       # to_device(stream=0), launch(stream=0)
    run_saxpy(dev, saxpy, np.int64(0))
    assert len(dev.default_stream.log) == before + 2 * 3  # two copies in and the launch, each time
    for wrong in (1, -1, False, True, 0.0, "default"):
        with pytest.raises(ws.ArgumentTypeError, match="0 or None for the default stream"):
            dev.launch(saxpy, 1, 1, [], stream=wrong)


@ws.jit
def _store_one(a):
    a[0] = 1


def test_a_jit_launch_on_stream_0_runs_on_the_default_stream(dev):
    d = dev.to_device(np.zeros(1, np.int32))
    before = len(dev.default_stream.log)
    _store_one[1, 1, 0](d)
    assert len(dev.default_stream.log) == before + 1 and d.copy_to_host()[0] == 1
    with pytest.raises(ws.ArgumentTypeError):
        _store_one[1, 1, 2](d)
    other = ws.Device(ws.WaferSpec(width=4, height=4))
    with pytest.raises(ws.LaunchError, match="a stream of another device"):
        dev.launch(ws.assemble("halt"), 1, 1, [], stream=other.stream())


def test_auto_synchronize_synchronizes_the_stream_when_the_block_ends(dev, saxpy):
    """Numba's `with s.auto_synchronize():` runs the block's commands in order (results as NumPy's) and then
    makes the host wait for the stream: every clock moves up to its end, as `s.synchronize()`."""
    s1, s2 = dev.stream(), dev.stream()
    with s1.auto_synchronize() as entered:
        assert entered is s1
        out, stats, expected = run_saxpy(dev, saxpy, s1)
        assert s2.time == 0.0  # not yet: the wait is at the end of the block
        host = out.copy_to_host(stream=s1)
    np.testing.assert_array_equal(host, expected)
    end = 3 * copy_s(dev.spec, 1024) + stats.seconds
    assert [s.time for s in dev.streams] == pytest.approx([end] * 3, rel=1e-12)


def test_auto_synchronize_does_not_synchronize_a_block_left_by_an_exception(dev, saxpy):
    s1, s2 = dev.stream(), dev.stream()
    with pytest.raises(ZeroDivisionError):
        with s1.auto_synchronize():
            run_saxpy(dev, saxpy, s1)
            1 / 0
    assert s1.time > 0.0 and s2.time == 0.0  # as Numba's: no wait after an exception


def test_a_stream_is_no_context_manager_and_says_what_to_use(dev):
    with pytest.raises(ws.ArgumentTypeError, match="auto_synchronize"):
        with dev.stream():
            pass


@pytest.mark.parametrize("target", ["stream", "default"])
def test_event_wait_is_numbas_name_for_wait_event(dev, saxpy, target):
    s1, s2 = dev.stream(), dev.stream()
    done = dev.event()
    _, stats, _ = run_saxpy(dev, saxpy, s1)
    done.record(s1)
    if target == "stream":
        done.wait(s2)
        assert s2.time == done.time and dev.default_stream.time == 0.0
    else:
        done.wait(0)  # Numba's default: stream=0
        assert dev.default_stream.time == done.time and s2.time == 0.0
    assert done.time == pytest.approx(2 * copy_s(dev.spec, 1024) + stats.seconds, rel=1e-12)
    with pytest.raises(ws.ArgumentTypeError):
        done.wait("s2")
