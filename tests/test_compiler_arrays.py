"""Local arrays: aliasing through device-function parameters, row slices of 2-D arrays, computed shapes."""
from __future__ import annotations

import numpy as np
import pytest

import wafersim as ws

T = 4


@ws.jit
def add_shifted(dst, src):
    dst[1:5] = src[0:4] + src[0:4] + dst[0:4]  # dst is read after the first operator would write it


@ws.jit
def alias_through_parameter(out):
    a = ws.local.array(8, np.float32)
    b = ws.local.array(8, np.float32)
    for i in range(8):
        a[i] = float(i)
        b[i] = 1.0
    add_shifted(a, b)
    for i in range(8):
        out[i] = a[i]


@ws.jit
def row_slices(out):
    t = ws.local.array((T, T * 2), np.float32)  # a shape computed from a module constant
    for i in range(T):
        for j in range(T * 2):
            t[i, j] = float(i * 10 + j)
    t[1, 0:4] = t[2, 4:8] * 2.0 + t[1, 0:4]
    for i in range(T):
        for j in range(T * 2):
            out[i * T * 2 + j] = t[i, j]


def run(kernel, n):
    dev = ws.Device(ws.WaferSpec(width=1, height=1))
    out = dev.device_array(n)
    kernel[(1, 1), (1, 1)](out)
    return out.copy_to_host()


def test_aliasing_is_detected_through_a_device_function_parameter():
    a = np.arange(8, dtype=np.float32)
    a[1:5] = np.float32(1) + np.float32(1) + a[0:4]
    np.testing.assert_array_equal(run(alias_through_parameter, 8), a)


def test_row_slices_of_a_2d_local_array_are_vector_operands():
    t = np.array([[i * 10 + j for j in range(8)] for i in range(4)], np.float32)
    t[1, 0:4] = t[2, 4:8] * np.float32(2) + t[1, 0:4]
    np.testing.assert_array_equal(run(row_slices, 32).reshape(4, 8), t)
    assert "vfma" in row_slices.inspect_asm()


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
