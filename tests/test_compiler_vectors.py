"""`compiler/vectors.py`: slice assignments as vector instructions, compared with the same statements run by
NumPy; what cannot be ordered as NumPy orders it is a CompileError."""
from __future__ import annotations

import numpy as np
import pytest

import wafersim as ws


def run(kernel, n: int) -> np.ndarray:
    dev = ws.Device(ws.WaferSpec(width=1, height=1))
    out = dev.device_array(n)
    kernel[(1, 1), (1, 1)](out)
    return out.copy_to_host()


@ws.jit
def unary_plus_copies(out):
    a = ws.local.array(4, np.float32)
    c = ws.local.array(4, np.float32)
    t = ws.local.array((2, 3), np.float32)
    u = ws.local.array((2, 3), np.float32)
    for i in range(4):
        c[i] = i + 0.5
    for i in range(6):
        u[i // 3, i % 3] = i * 2.0
    a[0:4] = +c[0:4]
    t[0:2, 0:3] = +(+u[0:2, 0:3])
    out[0:4] = a[0:4]
    for i in range(6):
        out[4 + i] = t[i // 3, i % 3]


def test_a_unary_plus_of_a_slice_is_a_copy():
    """`a[0:4] = +c[0:4]` (and a block's) crashed the compiler with an AttributeError (a tree of one leaf has
    no operation to write with), not a CompileError: it is a copy, as in NumPy."""
    c = np.arange(4, dtype=np.float32) + 0.5
    u = np.arange(6, dtype=np.float32).reshape(2, 3) * 2.0
    np.testing.assert_array_equal(run(unary_plus_copies, 10), np.concatenate([+c, (+(+u)).ravel()]))


@ws.jit
def _triple_into(a, c):
    a[0:4] = c[0:4] * 3.0  # a slice statement of its own, inside a call of the enclosing statement's scalar
    return 1.0


@ws.jit
def call_with_slices_first(out):
    a = ws.local.array(4, np.float32)
    c = ws.local.array(4, np.float32)
    for i in range(4):
        a[i] = i + 1.0
        c[i] = 10.0 * (i + 1)
    a[0:4] = _triple_into(a, c) + a[0:4]  # Python calls first, then reads a: as the kernel does
    out[0:4] = a[0:4]


@ws.jit
def call_after_a_slice_operation(out):
    a = ws.local.array(4, np.float32)
    c = ws.local.array(4, np.float32)
    a[0:4] = a[0:4] * 2.0 + _triple_into(a, c)  # NumPy doubles a[0:4] before the call writes a
    out[0:4] = a[0:4]


def test_a_called_functions_slice_statement_does_not_count_as_the_callers_operation():
    """Whether a slice operation came before an array-writing call was one flag for every statement; a
    called function's own slice statement set it, so a call before any operation of the enclosing
    statement (which the kernel orders as Python does) was refused. After an operation it still is."""
    a, c = np.arange(1, 5, dtype=np.float32), 10.0 * np.arange(1, 5, dtype=np.float32)
    a[0:4] = (a.__setitem__(slice(0, 4), c * np.float32(3.0)) or np.float32(1.0)) + a[0:4]
    np.testing.assert_array_equal(run(call_with_slices_first, 4), a)
    with pytest.raises(ws.CompileError, match="writes an array, after a slice operation"):
        run(call_after_a_slice_operation, 4)
