"""ws.constant parameters: local arrays sized by them (and by variables assigned once from them), one
specialisation per value; int launch arguments and grids past int32 refused."""
from __future__ import annotations

import math

import numpy as np
import pytest

import wafersim as ws


@ws.jit
def sized_by_argument(out, n: ws.constant, fill: ws.constant):
    buf = ws.local.array((n, 2), np.float32)
    for i in range(n):
        buf[i, 0:2] = fill * i
    total = 0.0
    for i in range(n):
        total += sum(buf[i, 0:2])
    out[0] = total
    out[1] = len(buf)


def test_constant_parameters_size_local_arrays_and_compile_per_value():
    dev = ws.Device(ws.WaferSpec(width=2, height=2))
    out = dev.device_array(2)
    for n in (3, 7, 3):
        sized_by_argument[(1, 1), (1, 1)](out, n, 0.5)
        want = sum(np.float32(0.5) * i * 2 for i in range(n))
        assert out.copy_to_host().tolist() == [want, n]
    assert len(sized_by_argument.cache) == 2  # one binary per value, reused for the repeated 3
    with pytest.raises(ws.LaunchError, match="ws.constant"):
        sized_by_argument[(1, 1), (1, 1)](out, out, 0.5)


@ws.jit
def _fill_square(t, side):
    area = side * side  # assigned once from a parameter bound to a constant
    edge = ws.local.array(area, np.float32)
    edge[0:area] = 2.0
    t[0:area] = edge[0:area]


@ws.jit
def sized_by_a_variable_of_a_constant(out, T: ws.constant):
    TT = T * T
    H = TT + T  # (from another such variable)
    t = ws.local.array(TT, np.float32)
    u = ws.local.array((H, 2), np.float32)
    t[0:TT] = 1.0
    u[H - 1, 0:2] = 3.0
    _fill_square(t, T - 1)
    out[0] = sum(t)
    out[1] = float(len(u)) + u[H - 1, 1]


def test_a_variable_assigned_once_from_a_constant_parameter_sizes_a_local_array():
    """`TT = T * T` with T a ws.constant is a constant shape, as `T * T` written inline is (and as a variable
    assigned once from module constants is), in kernels and device functions alike."""
    dev = ws.Device(ws.WaferSpec(width=2, height=2))
    out = dev.device_array(2)
    for T in (3, 4):
        sized_by_a_variable_of_a_constant[(1, 1), (1, 1)](out, T)
        want = np.ones(T * T, np.float32)
        want[0:(T - 1) ** 2] = 2.0
        assert out.copy_to_host().tolist() == [float(want.sum()), T * T + T + 3.0]


@ws.jit
def sized_by_a_reassigned_variable(out):
    n = 2
    nn = n * n
    n = 5  # nn is still 4, but n is no longer the value nn was computed from: not a constant shape
    t = ws.local.array(nn, np.float32)
    t[0] = float(n)
    out[0] = t[0]


@ws.jit
def sized_by_a_reassigned_parameter(out, T: ws.constant):
    T = T + 1
    TT = T * T
    t = ws.local.array(TT, np.float32)
    t[0] = 1.0
    out[0] = t[0]


@pytest.mark.parametrize("kernel, args", [(sized_by_a_reassigned_variable, ()),
                                          (sized_by_a_reassigned_parameter, (2,))])
def test_a_variable_of_variables_that_change_is_not_a_constant_shape(kernel, args):
    dev = ws.Device(ws.WaferSpec(width=2, height=2))
    with pytest.raises(ws.CompileError, match="needs a constant shape"):
        kernel[(1, 1), (1, 1)](dev.device_array(1), *args)
@ws.jit(boundscheck=False)
def window_sum(src, out, s):
    a = ws.local.array(16, np.float32)
    r = ws.local.array(4, np.float32)
    a[0:16] = src[0:16]
    r[0:4] = a[s:s + 4] + a[s + 1:s + 1 + 4]  # run-time starts, constant lengths
    out[0:4] = r[0:4]


@ws.jit
def window_checked(src, out, s):
    a = ws.local.array(16, np.float32)
    r = ws.local.array(4, np.float32)
    a[0:16] = src[0:16]
    r[0:4] = a[s:s + 4]
    out[0:4] = r[0:4]


def test_a_slice_e_to_e_plus_k_has_the_constant_length_k():
    dev = ws.Device(ws.WaferSpec(width=2, height=2))
    src = np.arange(16, dtype=np.float32) ** 2
    out = dev.device_array(4)
    window_sum[1, 1](dev.to_device(src), out, 5)
    np.testing.assert_array_equal(out.copy_to_host(), src[5:9] + src[6:10])
    assert "sub " not in window_sum.inspect_asm()  # no stop - start: the vadd's length is the constant 4
    with pytest.raises(ws.MemoryAccessError):  # the bounds are still checked (stop 17 > 16)
        window_checked[1, 1](dev.to_device(src), dev.device_array(4), 13)


@ws.jit
def _sign_of(out, s: ws.constant):
    out[0] = math.copysign(1.0, s)


def test_ws_constant_floats_minus_zero_and_zero_are_two_specialisations():
    dev = ws.Device(ws.WaferSpec(width=4, height=4))
    out = dev.device_array(1)
    got = []
    for s in (0.0, -0.0, 0.0):
        _sign_of[(1, 1), (1, 1)](out, s)
        got.append(float(out.copy_to_host()[0]))
    assert got == [math.copysign(1.0, s) for s in (0.0, -0.0, 0.0)] == [1.0, -1.0, 1.0]


@ws.jit
def _nan_sign_and_bits(out, s: ws.constant):
    out[0] = math.copysign(1.0, s)
    out[1] = s


def test_ws_constant_nan_keeps_its_sign_and_payload_as_a_plain_argument_does():
    """The key holds one nan object for every nan (else no launch would find its compiled kernel again),
    so the value bound in the kernel comes from the key's float32 bits: -nan was bound as +nan, and
    `math.copysign(1.0, s)` gave 1.0 where Python (and a plain float parameter) gives -1.0."""
    dev = ws.Device(ws.WaferSpec(width=4, height=4))
    payload = np.uint32(0x7FC00123).view(np.float32)
    for s in (-math.nan, math.nan, np.float32(-math.nan), payload, -math.nan):
        out = dev.device_array(2)
        _nan_sign_and_bits[(1, 1), (1, 1)](out, s)
        got = out.copy_to_host()
        assert float(got[0]) == math.copysign(1.0, float(s))
        assert got[1:].view(np.uint32)[0] == np.float32(s).view(np.uint32)


@ws.jit
def _echo(out, n):
    out[0] = n


@pytest.mark.parametrize("n", [2**31, 2**32 - 1, np.uint32(4294967295), -(2**31) - 1])
def test_an_int_argument_outside_int32_is_a_launch_error_not_a_wrapped_value(n):
    dev = ws.Device(ws.WaferSpec(width=4, height=4))
    with pytest.raises(ws.LaunchError, match="argument 1 \\(n\\)"):
        _echo[(1, 1), (1, 1)](dev.device_array(1, np.int32), n)


def test_a_grid_whose_global_index_passes_int32_is_a_launch_error():
    dev = ws.Device(ws.WaferSpec(width=4, height=4))
    with pytest.raises(ws.LaunchError, match="int32 index"):
        _echo[2**40, 1](dev.device_array(1, np.int32), 1)
    with pytest.raises(ws.LaunchError, match="along y"):
        _echo[(1, 2**30), (1, 4)](dev.device_array(1, np.int32), 1)
