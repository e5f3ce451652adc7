"""Tests of the host API: devices, memory, streams, events, launches (src/wafersim/runtime/)."""
from __future__ import annotations

import numpy as np
import pytest

import wafersim as ws
import wafersim.runtime.current as current
from wafersim.kernels.assembly import saxpy_program


@pytest.fixture
def dev():
    return ws.Device(ws.WaferSpec(width=16, height=16))


@pytest.fixture(scope="module")
def saxpy():
    return saxpy_program()


@pytest.fixture
def restore_current(monkeypatch):
    """Module-level tests change the current device: put it back afterwards."""
    monkeypatch.setattr(current, "_current", None)
    yield


def transfer_ms(spec: ws.WaferSpec, nbytes: int) -> float:
    return (spec.host_transfer_latency_s + nbytes / spec.global_bytes_per_s) * 1e3


def saxpy_inputs(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(n).astype(np.float32), rng.standard_normal(n).astype(np.float32),
            np.float32(rng.uniform(-3, 3)))


def saxpy_expected(a, x, y):
    # the kernel computes a * x + y with one rounding (fma); float64 then float32 is that
    return (np.float64(a) * x.astype(np.float64) + y).astype(np.float32)


# ----------------------------------------------------------------------------- memory
def test_malloc_returns_a_device_pointer(dev):
    p = dev.malloc(100)
    assert isinstance(p, ws.DevicePointer)
    assert p.device is dev
    assert p.nbytes == 100
    assert int(p) == p.address > 0
    q = dev.malloc(8)
    assert q.address != p.address
    assert q.address >= p.address + 100  # allocations do not overlap


@pytest.mark.parametrize("offset", [lambda p: p + 16, lambda p: 16 + p, lambda p: p - 4])
def test_pointer_arithmetic_is_refused_with_what_to_write(dev, offset):
    """cudaMemcpy(p + offset, ...): copies start at an allocation's first byte, so an offset pointer is an
    ArgumentTypeError (a WaferError and a TypeError) saying what to do, not Python's bare TypeError."""
    p = dev.malloc(64)
    with pytest.raises(ws.ArgumentTypeError, match="pointer arithmetic .* is not supported") as info:
        offset(p)
    assert isinstance(info.value, TypeError) and "host[k:]" in str(info.value)


@pytest.mark.parametrize("dtype", [np.float32, np.int32])
def test_memcpy_round_trip(dev, dtype):
    rng = np.random.default_rng(1)
    if dtype == np.float32:
        host = rng.standard_normal((7, 13)).astype(np.float32)
    else:
        host = rng.integers(-2**31, 2**31 - 1, size=(7, 13), dtype=np.int32)
    p = dev.malloc(host.nbytes)
    dev.memcpy_htod(p, host)
    back = np.empty_like(host)
    dev.memcpy_dtoh(back, p)
    np.testing.assert_array_equal(back, host)
    assert back.dtype == host.dtype


@pytest.mark.parametrize("view", ["transpose", "tiles", "step", "reversed"])
def test_memcpy_of_a_strided_view_copies_its_elements_in_c_order(dev, view):
    host = np.arange(12 * 8, dtype=np.float32).reshape(12, 8)
    data = {"transpose": host.T, "tiles": host.reshape(3, 4, 2, 4).transpose(0, 2, 1, 3),
            "step": host[::2, 1::3], "reversed": host[::-1]}[view]
    assert not data.flags.c_contiguous
    p = dev.malloc(host.nbytes)
    dev.memcpy_htod(p, data)
    back = np.empty(data.size, dtype=np.float32)
    dev.memcpy_dtoh(back, p)
    np.testing.assert_array_equal(back, np.ascontiguousarray(data).reshape(-1))


def test_memcpy_dtoh_into_a_non_contiguous_destination_says_what_to_pass(dev):
    host = np.arange(24, dtype=np.float32).reshape(4, 6).T       # a transposed view: F-ordered
    p = dev.malloc(host.nbytes)
    dev.memcpy_htod(p, host)                                      # its elements in C order
    for destination in (np.empty_like(host), np.empty((6, 8), np.float32)[:, ::2]):
        assert not destination.flags.c_contiguous                 # empty_like keeps the transposed layout
        with pytest.raises(ws.LaunchError, match=r"\(6, 4\) float32 .*np\.empty\(shape, dtype\)"):
            dev.memcpy_dtoh(destination, p)
    with pytest.raises(ws.LaunchError, match="got list"):
        dev.memcpy_dtoh([0.0] * 24, p)
    back = np.empty(host.shape, host.dtype)                       # what the message asks for
    dev.memcpy_dtoh(back, p)
    np.testing.assert_array_equal(back, host)


def test_memcpy_partial_copy_and_bit_exact_floats(dev):
    host = np.array([np.nan, -0.0, np.inf, 1e-45, 3.5], dtype=np.float32)
    p = dev.malloc(64)
    dev.memcpy_htod(p, host)
    back = np.empty(3, dtype=np.float32)
    dev.memcpy_dtoh(back, p)  # fewer bytes than the allocation is fine
    np.testing.assert_array_equal(back.view(np.uint32), host[:3].view(np.uint32))
    rest = np.empty(16, dtype=np.int32)
    dev.memcpy_dtoh(rest, p)
    np.testing.assert_array_equal(rest[5:], 0)  # malloc zero-fills


def test_to_device_and_copy_to_host(dev):
    rng = np.random.default_rng(2)
    for host in (rng.standard_normal((4, 5, 3)).astype(np.float32),
                 rng.integers(-1000, 1000, size=37, dtype=np.int32),
                 np.asfortranarray(rng.standard_normal((6, 9)).astype(np.float32))):
        d = dev.to_device(host)
        assert isinstance(d, ws.DeviceArray)
        assert d.shape == host.shape and d.dtype == host.dtype
        assert d.size == host.size and d.nbytes == host.nbytes and d.ndim == host.ndim
        back = d.copy_to_host()
        np.testing.assert_array_equal(back, host)
        out = np.empty(host.shape, dtype=host.dtype)
        assert d.copy_to_host(out) is out
        np.testing.assert_array_equal(out, host)


def test_device_array_is_zero_filled(dev):
    d = dev.device_array((5, 6), np.int32)
    assert d.shape == (5, 6) and d.dtype == np.int32
    np.testing.assert_array_equal(d.copy_to_host(), np.zeros((5, 6), np.int32))
    f = dev.device_array(10)
    assert f.dtype == np.float32 and f.shape == (10,)
    np.testing.assert_array_equal(f.copy_to_host(), np.zeros(10, np.float32))


def test_reused_memory_is_zero_filled_again(dev):
    d = dev.to_device(np.arange(1, 65, dtype=np.int32))
    address = d.address
    d.free()
    assert d.is_freed
    e = dev.device_array(64, np.int32)
    assert e.address == address  # lowest free address first
    np.testing.assert_array_equal(e.copy_to_host(), np.zeros(64, np.int32))


def test_copy_to_device_overwrites(dev):
    d = dev.device_array(8, np.float32)
    new = np.linspace(-1, 1, 8, dtype=np.float32)
    d.copy_to_device(new)
    np.testing.assert_array_equal(d.copy_to_host(), new)


# ----------------------------------------------------------------------------- memory errors
def test_double_free(dev):
    p = dev.malloc(64)
    dev.free(p)
    with pytest.raises(ws.InvalidPointerError):
        dev.free(p)
    d = dev.device_array(4)
    d.free()
    with pytest.raises(ws.InvalidPointerError):
        d.free()


def test_free_of_another_devices_pointer(dev):
    other = ws.Device(ws.WaferSpec(width=4, height=4))
    p = other.malloc(64)
    dev.malloc(64)  # same address exists on `dev` too
    with pytest.raises(ws.InvalidPointerError):
        dev.free(p)
    other.free(p)  # still valid on its own device


def test_use_after_free(dev):
    d = dev.to_device(np.ones(16, np.float32))
    d.free()
    with pytest.raises(ws.MemoryAccessError):
        d.copy_to_host()
    with pytest.raises(ws.MemoryAccessError):
        d.copy_to_device(np.ones(16, np.float32))
    p = dev.malloc(16)
    dev.free(p)
    with pytest.raises(ws.MemoryAccessError):
        dev.memcpy_htod(p, np.zeros(4, np.float32))


def test_memcpy_larger_than_the_allocation(dev):
    p = dev.malloc(16)
    with pytest.raises(ws.MemoryAccessError) as info:
        dev.memcpy_htod(p, np.zeros(5, np.float32))
    assert info.value.nbytes == 20 and info.value.available == 16
    with pytest.raises(ws.MemoryAccessError):
        dev.memcpy_dtoh(np.empty(17, np.uint8), p)
    dev.memcpy_htod(p, np.zeros(4, np.float32))  # exactly the size is fine


def test_out_of_device_memory():
    dev = ws.Device(ws.WaferSpec(width=4, height=4, global_bytes=4096))
    a = dev.malloc(1024)
    with pytest.raises(ws.OutOfMemoryError) as info:
        dev.malloc(8192)
    assert info.value.requested == 8192
    assert info.value.available <= 4096 - 1024
    assert info.value.available < info.value.requested
    with pytest.raises(ws.OutOfMemoryError):
        dev.device_array(2048, np.float32)  # 8192 bytes
    dev.free(a)
    dev.malloc(2048)  # freed memory can be allocated again


def test_out_of_memory_never_reports_enough_available():
    # an OutOfMemoryError that says as many bytes are available as were requested contradicts itself
    dev = ws.Device(ws.WaferSpec(width=4, height=4, global_bytes=4096))
    try:
        dev.malloc(4096)
    except ws.OutOfMemoryError as exc:
        assert exc.available < exc.requested, (exc.requested, exc.available)


def test_copy_to_device_wrong_shape_or_dtype(dev):
    d = dev.device_array((4, 4), np.float32)
    with pytest.raises(ws.LaunchError):
        d.copy_to_device(np.zeros((2, 8), np.float32))
    with pytest.raises(ws.LaunchError):
        d.copy_to_device(np.zeros((4, 4), np.int32))
    np.testing.assert_array_equal(d.copy_to_host(), 0)


# ----------------------------------------------------------------------------- streams and events
def test_memcpy_time_on_a_stream_is_analytic(dev):
    s = dev.stream()
    start, stop = dev.event(), dev.event()
    host = np.arange(1000, dtype=np.float32)
    p = dev.malloc(host.nbytes)
    start.record(s)
    dev.memcpy_htod(p, host, stream=s)
    stop.record(s)
    assert ws.event_elapsed_time(start, stop) == pytest.approx(transfer_ms(dev.spec, 4000), rel=1e-12)
    assert start.elapsed_time(stop) == pytest.approx(transfer_ms(dev.spec, 4000), rel=1e-12)
    # the default stream did not move
    assert dev.default_stream.time == 0


def test_memcpy_time_with_custom_bandwidth():
    spec = ws.WaferSpec(width=4, height=4, global_bytes_per_s=1e9, host_transfer_latency_s=1e-3)
    dev = ws.Device(spec)
    start, stop = dev.event(), dev.event()
    start.record()
    d = dev.to_device(np.zeros(250_000, np.int32))  # 1e6 bytes
    d.copy_to_host()
    stop.record()
    assert ws.event_elapsed_time(start, stop) == pytest.approx(2 * (1e-3 + 1e6 / 1e9) * 1e3, rel=1e-12)


def test_two_streams_keep_separate_clocks(dev):
    s1, s2 = dev.stream(), dev.stream()
    e0, e1, e2 = dev.event(), dev.event(), dev.event()
    e0.record(s2)
    d1 = dev.to_device(np.zeros(1 << 14, np.float32), stream=s1)
    dev.to_device(np.zeros(100, np.float32), stream=s2)
    e1.record(s1)
    e2.record(s2)
    assert s1.time == pytest.approx(transfer_ms(dev.spec, 1 << 16) / 1e3, rel=1e-12)
    assert s2.time == pytest.approx(transfer_ms(dev.spec, 400) / 1e3, rel=1e-12)
    assert ws.event_elapsed_time(e0, e2) == pytest.approx(transfer_ms(dev.spec, 400), rel=1e-12)
    d1.copy_to_host(stream=s1)
    assert s1.time == pytest.approx(2 * transfer_ms(dev.spec, 1 << 16) / 1e3, rel=1e-12)
    assert s2.time == pytest.approx(transfer_ms(dev.spec, 400) / 1e3, rel=1e-12)
    assert dev.default_stream.time == 0


def test_a_dropped_device_is_freed_at_once_with_its_memory_and_history():
    # No reference cycle (streams point back weakly): a loop making a device per launch must not keep
    # each old device's memory alive until Python's occasional full collection.
    import gc
    import weakref

    gc.disable()
    try:
        dev = ws.Device(ws.WaferSpec(width=4, height=4))
        x = dev.to_device(np.arange(16, dtype=np.float32))
        y = dev.to_device(np.ones(16, dtype=np.float32))
        dev.stream()
        dev.launch(saxpy_program(), 1, (4, 4), [x, y, y, 2.0, 16])
        np.testing.assert_array_equal(y.copy_to_host(), 2 * np.arange(16, dtype=np.float32) + 1)
        memory, history = weakref.ref(dev.memory), weakref.ref(dev.launches[-1])
        del dev, x, y
        assert memory() is None and history() is None
    finally:
        gc.enable()


def test_a_stream_whose_device_is_gone_is_a_launch_error():
    stream = ws.Device(ws.WaferSpec(width=4, height=4)).stream()
    with pytest.raises(ws.LaunchError, match="no longer exists"):
        stream.device


def test_commands_on_one_stream_are_ordered(dev):
    s = dev.stream()
    sizes = [64, 4096, 4, 1 << 15]
    arrays = [dev.to_device(np.zeros(n // 4, np.float32), stream=s) for n in sizes]
    for arr in arrays:
        arr.copy_to_host(stream=s)
    assert len(s.log) == 2 * len(sizes)
    previous_end = 0.0
    for (_what, start, end), n in zip(s.log, sizes + sizes):
        assert start == previous_end
        assert end > start
        assert end - start == pytest.approx(transfer_ms(dev.spec, n) / 1e3, rel=1e-12)
        previous_end = end
    assert s.time == previous_end


def test_unrecorded_event_raises(dev):
    a, b = dev.event(), dev.event()
    a.record()
    with pytest.raises(ws.LaunchError):
        ws.event_elapsed_time(a, b)


def test_stream_of_another_device_is_refused(dev):
    other = ws.Device(ws.WaferSpec(width=4, height=4))
    with pytest.raises(ws.LaunchError):
        dev.to_device(np.zeros(4, np.float32), stream=other.stream())


# ----------------------------------------------------------------------------- launches
def test_saxpy_through_kernel_call(dev, saxpy):
    n = 200  # fewer threads than PEs: the rest must not write
    x, y, a = saxpy_inputs(n)
    dx, dy = dev.to_device(x), dev.to_device(y)
    dout = dev.device_array(256, np.float32)
    stats = ws.Kernel(saxpy)[(4, 1), (8, 8)](dx, dy, dout, a, n)
    out = dout.copy_to_host()
    np.testing.assert_allclose(out[:n], saxpy_expected(a, x, y), rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(out[n:], 0)
    np.testing.assert_array_equal(dx.copy_to_host(), x)  # inputs untouched
    assert isinstance(stats, ws.LaunchStats)
    assert dev.last_launch is stats
    assert stats.cycles > 0
    assert stats.seconds == pytest.approx(stats.cycles / dev.spec.clock_hz)
    assert stats.grid == (4, 1) and stats.block == (8, 8)
    assert stats.waves == 1


def test_saxpy_through_device_launch_with_pointers(dev, saxpy):
    n = 64
    x, y, a = saxpy_inputs(n, seed=3)
    px, py, po = dev.malloc(4 * n), dev.malloc(4 * n), dev.malloc(4 * n)
    dev.memcpy_htod(px, x)
    dev.memcpy_htod(py, y)
    stats = dev.launch(saxpy, (8, 1), (8, 1), [px, py, po, float(a), n])
    out = np.empty(n, np.float32)
    dev.memcpy_dtoh(out, po)
    np.testing.assert_allclose(out, saxpy_expected(a, x, y), rtol=1e-6, atol=1e-6)
    assert dev.last_launch is stats
    assert dev.launches == [stats]


def test_saxpy_with_more_blocks_than_fit_runs_in_waves(dev, saxpy):
    n = 8 * 64  # grid 8 x 1 of 8 x 8 blocks; a 16 x 16 wafer holds 4 at once
    x, y, a = saxpy_inputs(n, seed=4)
    dx, dy, dout = dev.to_device(x), dev.to_device(y), dev.device_array(n)
    stats = ws.Kernel(saxpy)[8, (8, 8)](dx, dy, dout, a, n)
    np.testing.assert_allclose(dout.copy_to_host(), saxpy_expected(a, x, y), rtol=1e-6, atol=1e-6)
    assert stats.waves == 2
    single = ws.Kernel(saxpy)[4, (8, 8)](dx, dy, dout, a, 4 * 64)
    assert single.waves == 1
    assert stats.cycles > single.cycles


def test_launch_time_on_a_stream_equals_stats_seconds(dev, saxpy):
    n = 100
    x, y, a = saxpy_inputs(n, seed=5)
    s = dev.stream()
    dx, dy, dout = dev.to_device(x, stream=s), dev.to_device(y, stream=s), dev.device_array(n)
    start, stop = dev.event(), dev.event()
    before = s.time
    start.record(s)
    stats = ws.Kernel(saxpy)[(2, 2), (5, 5), s](dx, dy, dout, a, n)
    stop.record(s)
    assert ws.event_elapsed_time(start, stop) == pytest.approx(stats.seconds * 1e3, rel=1e-12)
    assert s.time == pytest.approx(before + stats.seconds, rel=1e-12)
    assert s.log[-1][0].startswith("launch")
    assert dev.default_stream.time == 0
    np.testing.assert_allclose(dout.copy_to_host(stream=s), saxpy_expected(a, x, y), rtol=1e-6, atol=1e-6)


def test_launches_keep_history(dev, saxpy):
    n = 16
    x, y, a = saxpy_inputs(n, seed=6)
    dx, dy, dout = dev.to_device(x), dev.to_device(y), dev.device_array(n)
    assert dev.last_launch is None
    first = dev.launch(saxpy, 1, (4, 4), [dx, dy, dout, a, n])
    second = dev.launch(saxpy, 2, (4, 2), [dx, dy, dout, a, n])
    assert dev.launches == [first, second]
    assert dev.last_launch is second


@pytest.mark.parametrize("grid, block", [
    ((0, 1), (4, 4)),
    ((1, 1), (-1, 2)),
    ((1, 1), (0, 4)),
    ((1, 1), (17, 1)),
    ((1, 1), (4, 17)),
    ("ab", (4, 4)),
    ((1, 1), "4"),
    ((1.0, 1), (4, 4)),
    ((1, 2, 3), (4, 4)),
    (None, (4, 4)),
])
def test_bad_launch_configuration(dev, saxpy, grid, block):
    dx, dy, dout = dev.device_array(16), dev.device_array(16), dev.device_array(16)
    with pytest.raises(ws.LaunchError):
        ws.Kernel(saxpy)[grid, block](dx, dy, dout, 1.0, 16)
    with pytest.raises(ws.LaunchError):
        dev.launch(saxpy, grid, block, [dx, dy, dout, 1.0, 16])
    assert dev.last_launch is None


def test_block_as_large_as_the_wafer_is_fine(dev, saxpy):
    n = 256
    x, y, a = saxpy_inputs(n, seed=7)
    dx, dy, dout = dev.to_device(x), dev.to_device(y), dev.device_array(n)
    ws.Kernel(saxpy)[1, (16, 16)](dx, dy, dout, a, n)
    np.testing.assert_allclose(dout.copy_to_host(), saxpy_expected(a, x, y), rtol=1e-6, atol=1e-6)


def test_wrong_argument_count(dev, saxpy):
    assert saxpy.arg_count == 5
    dx, dy, dout = dev.device_array(16), dev.device_array(16), dev.device_array(16)
    with pytest.raises(ws.LaunchError):
        ws.Kernel(saxpy)[1, 16](dx, dy, dout, 1.0)
    with pytest.raises(ws.LaunchError):
        dev.launch(saxpy, 1, 16, [dx, dy, dout, 1.0, 16, 0])
    assert dev.last_launch is None


@pytest.mark.parametrize("bad", [[1, 2], (1.0,), "x", None, {"a": 1}, np.zeros(4, np.float32), 2**32, -(2**31) - 1])
def test_unsupported_argument(dev, saxpy, bad):
    dx, dy, dout = dev.device_array(16), dev.device_array(16), dev.device_array(16)
    with pytest.raises(ws.LaunchError):
        ws.Kernel(saxpy)[1, 16](dx, dy, dout, bad, 16)
    assert dev.last_launch is None


def test_freed_array_argument(dev, saxpy):
    dx, dy, dout = dev.device_array(16), dev.device_array(16), dev.device_array(16)
    dy.free()
    with pytest.raises(ws.MemoryAccessError):
        ws.Kernel(saxpy)[1, 16](dx, dy, dout, 1.0, 16)


def test_argument_of_another_device(dev, saxpy):
    other = ws.Device(ws.WaferSpec(width=4, height=4))
    dx, dout = dev.device_array(16), dev.device_array(16)
    foreign = other.device_array(16)
    with pytest.raises(ws.InvalidPointerError):
        dev.launch(saxpy, 1, 16, [dx, foreign, dout, 1.0, 16])


def test_kernel_configuration_must_be_grid_block_stream(saxpy):
    with pytest.raises(ws.LaunchError):
        ws.Kernel(saxpy)[1]
    with pytest.raises(ws.LaunchError):
        ws.Kernel(saxpy)[1, 2, None, 4]


# ----------------------------------------------------------------------------- current device
def test_select_and_get_current_device(restore_current):
    dev = ws.select_device("dev")
    assert isinstance(dev, ws.Device)
    assert ws.get_current_device() is dev
    assert dev.spec == ws.WaferSpec.preset("dev")
    assert (dev.spec.width, dev.spec.height) == (64, 64)
    small = ws.select_device(ws.WaferSpec(width=8, height=8))
    assert small is not dev
    assert ws.get_current_device() is small
    assert small.spec.n_pes == 64


def test_default_current_device_is_dev_preset(restore_current):
    dev = ws.get_current_device()
    assert dev.spec == ws.WaferSpec.preset("dev")
    assert ws.get_current_device() is dev


def test_module_level_helpers_act_on_the_current_device(restore_current):
    dev = ws.select_device(ws.WaferSpec(width=16, height=16))
    host = np.arange(24, dtype=np.int32).reshape(4, 6)
    d = ws.to_device(host)
    assert d.device is dev
    np.testing.assert_array_equal(d.copy_to_host(), host)
    z = ws.device_array((3, 3), np.float32)
    assert z.device is dev
    np.testing.assert_array_equal(z.copy_to_host(), np.zeros((3, 3), np.float32))
    s = ws.stream()
    assert isinstance(s, ws.Stream) and s.device is dev
    start, stop = ws.event(), ws.event()
    assert isinstance(start, ws.Event) and start.device is dev
    start.record(s)
    ws.to_device(np.zeros(10, np.float32), stream=s)
    stop.record(s)
    ws.synchronize()
    assert ws.event_elapsed_time(start, stop) == pytest.approx(transfer_ms(dev.spec, 40), rel=1e-12)


def test_kernel_launch_uses_the_current_device_by_default(restore_current, saxpy):
    dev = ws.select_device(ws.WaferSpec(width=16, height=16))
    n = 32
    x, y, a = saxpy_inputs(n, seed=8)
    dx, dy, dout = ws.to_device(x), ws.to_device(y), ws.device_array(n)
    stats = ws.Kernel(saxpy)[2, 16](dx, dy, dout, a, n)
    assert dev.last_launch is stats
    np.testing.assert_allclose(dout.copy_to_host(), saxpy_expected(a, x, y), rtol=1e-6, atol=1e-6)


def test_copy_to_host_into_a_mismatched_array_is_refused(dev):
    # copy_to_device refuses a host array of another shape or dtype; copy_to_host(ary) must not silently
    # reinterpret the bytes either (Numba raises for both directions)
    d = dev.to_device(np.arange(16, dtype=np.float32))
    with pytest.raises(ws.WaferError):
        d.copy_to_host(np.empty(8, np.float64))  # same byte count, other dtype
    with pytest.raises(ws.WaferError):
        d.copy_to_host(np.empty(4, np.float32))  # fewer elements


@ws.jit
def _add_first(a, b, c, k):
    a[0] = b[0] + c[0] + k


def test_launch_errors_name_the_kernel_parameter_not_the_argument_word():
    """Arrays expand to several argument words (address, shape): a refused argument is still named by
    its parameter's position and name."""
    dev, other = (ws.Device(ws.WaferSpec(width=8, height=8)) for _ in range(2))
    mine = [dev.to_device(np.zeros(4, np.float32)) for _ in range(3)]
    foreign = other.to_device(np.zeros(4, np.float32))
    with pytest.raises(ws.InvalidPointerError, match=r"argument 2 \(c\) is a device array of another Device"):
        _add_first[1, 1](mine[0], mine[1], foreign, 1.0)
    with pytest.raises(ws.LaunchError, match=r"argument 3 \(k\): .* does not fit int32"):
        _add_first[1, 1](*mine, 2**40)


def test_a_float_argument_that_overflows_float32_is_refused_and_inf_passes():
    dev = ws.Device(ws.WaferSpec(width=8, height=8))
    a, b, c = (dev.to_device(np.zeros(4, np.float32)) for _ in range(3))
    with pytest.raises(ws.LaunchError, match=r"argument 3 \(k\): 1e\+300 overflows float32"):
        _add_first[1, 1](a, b, c, 1e300)
    _add_first[1, 1](a, b, c, float("inf"))
    assert a.copy_to_host()[0] == np.inf
    _add_first[1, 1](a, b, c, 3.0e38)  # finite in float32: kept
    assert a.copy_to_host()[0] == np.float32(3.0e38)
