"""Library host functions on a user's device: right answers, no device memory left behind, clear errors."""
from __future__ import annotations

import numpy as np
import pytest

import wafersim as ws
from wafersim.kernels import gemm, gemv, heat, heat_tiled, life, reduce, saxpy, scan
from wafersim.kernels.reference import ORDER_API
from wafersim.kernels.reference import heat as heat_reference

RNG = np.random.default_rng(7)
U = RNG.random((8, 8), dtype=np.float32)
A = RNG.random((8, 8), dtype=np.float32)
V = RNG.random((4, 8), dtype=np.float32)

# (host function call on a device, NumPy reference of its first result, tolerance)
CALLS = {
    "saxpy": (lambda d: saxpy.saxpy(2.0, V[0], V[1], block=4, device=d), np.float32(2.0) * V[0] + V[1], 1e-6),
    "block_reduce": (lambda d: reduce.block_reduce(V, "sum", (8, 4), device=d), V.sum(dtype=np.float64).reshape(1, 1), 1e-5),
    "block_allreduce": (lambda d: reduce.block_allreduce(V, "max", (8, 4), device=d), np.full_like(V, V.max()), 0),
    "prefix_sum": (lambda d: scan.prefix_sum(V, device=d), np.cumsum(V, axis=1, dtype=np.float32), 1e-6),
    "life": (lambda d: life.life((U > 0.5).astype(np.int32), 0, device=d), (U > 0.5).astype(np.int32), 0),
    "heat": (lambda d: heat.heat(U, 0.1, 3, device=d), heat_reference(U, 0.1, 3, order=ORDER_API), 0),
    "heat_tiled": (lambda d: heat_tiled.heat_tiled(U, 0.1, 3, 4, device=d), heat_reference(U, 0.1, 3, order=ORDER_API), 0),
    "gemm": (lambda d: gemm.gemm(A, A, 2, device=d), A.astype(np.float64) @ A, 1e-5),
    "gemv": (lambda d: gemv.gemv(A, A[0], 2, 2, device=d), A.astype(np.float64) @ A[0], 1e-5),
    "gemv_batch": (lambda d: gemv.gemv_batch(A, V, 2, 2, device=d), V.astype(np.float64) @ A.T, 1e-5),
}


@pytest.mark.parametrize("name", sorted(CALLS))
def test_host_functions_free_their_device_arrays(name):
    call, expected, tolerance = CALLS[name]
    dev = ws.Device(ws.WaferSpec(width=16, height=16))
    keep = dev.to_device(np.arange(5, dtype=np.float32))  # the user's own array stays
    for _ in range(2):  # a loop of calls on one device does not fill its memory
        result, stats = call(dev)
        np.testing.assert_allclose(result, expected, rtol=tolerance, atol=tolerance)
        assert dev.memory.used_bytes == keep.nbytes and stats.cycles > 0
    np.testing.assert_array_equal(keep.copy_to_host(), np.arange(5, dtype=np.float32))


@pytest.mark.parametrize("call", [
    lambda: saxpy.saxpy(1.0, np.zeros(3, np.float32), np.zeros(4, np.float32)),
    lambda: reduce.block_reduce(V, "mean", (8, 4)),
    lambda: scan.prefix_sum(np.zeros(3)),
    lambda: life.life(np.zeros(3), 1),
    lambda: heat.heat(U, 0.1, 1, block=(3, 3)),
    lambda: heat_tiled.heat_tiled(U, 0.1, 1, 3),
    lambda: gemm.gemm(A, A, 3),
    lambda: gemv.gemv(A, A[0, :5], 2, 2),
    lambda: gemv.gemv_batch(A, V[:, :5], 2, 2),
])
def test_bad_arguments_are_wafer_errors(call):
    with pytest.raises(ws.ArgumentError) as info:
        call()
    assert isinstance(info.value, ws.WaferError) and isinstance(info.value, ValueError)


def test_inputs_convert_to_float32_only_where_nothing_is_lost_silently():
    from wafersim.kernels.hosting import FLOAT32_EXACT_INTEGERS, float32_input, int32_input

    doubles = RNG.random(5)
    np.testing.assert_array_equal(float32_input(doubles, "x"), doubles.astype(np.float32))  # rounds, as a cast
    exact = np.array([-FLOAT32_EXACT_INTEGERS, 3, FLOAT32_EXACT_INTEGERS], np.int64)
    assert float32_input(exact, "x").tolist() == exact.tolist()
    with pytest.raises(ws.ArgumentError, match="2\\*\\*24"):
        float32_input(np.array([FLOAT32_EXACT_INTEGERS + 1], np.int32), "x")  # would round to 2**24
    with pytest.raises(ws.ArgumentTypeError, match="complex"):
        float32_input(np.array([1 + 1j]), "x")
    with pytest.raises(ws.ArgumentError, match="beyond float32's range"):
        float32_input(np.array([1.0, 1e40]), "x")  # (a cast gives inf with a RuntimeWarning)
    infinite = float32_input(np.array([np.inf, -np.inf, np.nan]), "x")  # (already not finite: kept)
    assert np.isposinf(infinite[0]) and np.isneginf(infinite[1]) and np.isnan(infinite[2])
    assert int32_input(np.array([-2**31, 2**31 - 1], np.int64), "v").dtype == np.int32
    for outside in ([2**31], [-2**31 - 1]):
        with pytest.raises(ws.ArgumentError, match="outside int32"):
            int32_input(np.array(outside, np.int64), "v")
    with pytest.raises(ws.ArgumentError, match="outside int32"):
        int32_input(np.array([2**32 - 1], np.uint32), "v")


@pytest.mark.parametrize("call, error", [
    (lambda: gemm.gemm(A * (1 + 1j), A, 2), ws.ArgumentTypeError),  # was the real part, with a ComplexWarning
    (lambda: reduce.block_reduce(np.full((4, 8), 2**31, np.int64), "sum", (8, 4)), ws.ArgumentError),  # not int32
    (lambda: reduce.block_reduce(np.full((4, 8), 2**27, np.int32), "sum", (8, 4)), ws.ArgumentError),  # sum 2**32
    (lambda: scan.prefix_sum(np.array([[3_000_000_000, 1, 2]])), ws.ArgumentError),  # was wrapped to int32
    (lambda: saxpy.saxpy(2.0, V[0] * 1j, V[1]), ws.ArgumentTypeError),
    (lambda: saxpy.saxpy(2**24 + 1, V[0], V[1]), ws.ArgumentError),  # a scalar by the same rule (was rounded)
    (lambda: saxpy.saxpy(1 + 2j, V[0], V[1]), ws.ArgumentTypeError),  # (was a bare TypeError)
    (lambda: saxpy.saxpy("2", V[0], V[1]), ws.ArgumentTypeError),  # (was taken as 2.0)
    (lambda: saxpy.saxpy(1.0, [2**70 + 1, 1], [0, 0]), ws.ArgumentError),  # Python ints past int64: objects
    (lambda: scan.prefix_sum(np.array([[2**40 + 1, 1]], object)), ws.ArgumentError),
    (lambda: heat.heat(U, 1j, 1), ws.ArgumentTypeError),
])
def test_host_functions_refuse_what_a_cast_would_change_silently(call, error):
    with pytest.raises(error):
        call()


def test_int64_values_inside_int32_scan_as_int32():
    values = np.array([[2**31 - 3, 1, 1], [-5, 2, -2**31 + 9]], np.int64)
    got, _ = scan.prefix_sum(values)
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, np.cumsum(values.astype(np.int32), axis=1, dtype=np.int32))  # int32 wraps


def test_put_as_copies_a_strided_view_into_a_device_array_of_another_shape():
    from wafersim.kernels.hosting import Scratch

    dev = ws.Device(ws.WaferSpec(width=4, height=4))
    u = RNG.random((8, 12), dtype=np.float32)
    with Scratch(dev) as mem:
        d = mem.put_as(heat_tiled.tiles_view(u, 4), (6, 16))
        assert d.shape == (6, 16)
        np.testing.assert_array_equal(mem.get(d), heat_tiled.to_tiles(u, 4))
        with pytest.raises(ws.ArgumentError):
            mem.put_as(u, (5, 5))
    assert dev.memory.allocations() == []


def test_get_as_untiles_a_device_array_into_a_strided_host_view():
    from wafersim.kernels.hosting import Scratch

    dev = ws.Device(ws.WaferSpec(width=4, height=4))
    u = RNG.random((8, 12), dtype=np.float32)
    tiles = heat_tiled.to_tiles(u, 4)
    with Scratch(dev) as mem:
        d = mem.put(tiles)
        out = np.full(u.shape, np.nan, np.float32)
        assert mem.get_as(d, heat_tiled.tiles_view(out, 4)) is not None
        np.testing.assert_array_equal(out, u)  # the inverse of to_tiles, with no host copy of the tiles
        np.testing.assert_array_equal(out, heat_tiled.from_tiles(tiles, 4, u.shape))
        flat = np.empty(tiles.size, np.float32)
        mem.get_as(d, flat)  # (a contiguous one of another shape: the elements in C order)
        np.testing.assert_array_equal(flat, tiles.reshape(-1))
        for wrong in (np.empty((5, 5), np.float32), np.empty(u.shape, np.float64)):
            with pytest.raises(ws.ArgumentError, match="get_as"):
                mem.get_as(d, wrong)
        with pytest.raises(ws.LaunchError, match="C-contiguous"):  # the public copy still asks for one
            dev.memcpy_dtoh(np.empty((12, 8), np.float32).T, d.pointer)
    assert dev.memory.allocations() == []


def test_a_stream_of_another_device_is_refused_saying_to_pass_its_device():
    # With device=None a host function makes its own device, so the device's check said "a stream of
    # another device" about one the caller never made; the message now says to pass the stream's device.
    from wafersim.kernels import reference
    from wafersim.kernels.heat import heat
    from wafersim.kernels.solvers import stencil7

    dev = ws.Device(ws.WaferSpec(width=8, height=8))
    stream = dev.stream()
    u = np.random.default_rng(4).random((6, 5), dtype=np.float32)
    with pytest.raises(ws.LaunchError, match=r"pass that device too \(device=\.\.\.\)"):
        heat(u, 0.1, 2, stream=stream)
    with pytest.raises(ws.LaunchError, match="pass that device too"):
        stencil7(u[None], (0.4, 0.1, 0.1, 0.1), stream=stream, device=ws.Device(ws.WaferSpec(width=8, height=8)))
    out, _ = heat(u, 0.1, 2, stream=stream, device=dev)                 # with its device: runs on the stream
    np.testing.assert_array_equal(out, reference.heat(u, 0.1, 2, order=reference.ORDER_API))
