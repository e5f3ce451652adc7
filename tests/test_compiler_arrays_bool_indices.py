"""A bool as an array index is refused at the line (NumPy takes it as a mask, not as the int it equals), and a
bool slice bound is the int it equals, as in NumPy (docs/python-supported.md, "Arrays and slices")."""
from __future__ import annotations

import re

import numpy as np
import pytest

import wafersim as ws
from conftest import load_source

HEADER = """import math
import numpy as np
import wafersim as ws

FLAGS = (False, True)
FLAG = True


@ws.jit
def pick(a, k):
    return a[k]


@ws.jit
def pick_default(a, k=True):
    return a[k]


@ws.jit
def positive(v):
    if v > 100:
        return 2
    return v > 0


@ws.jit
def truth(v):
    return bool(v)


@ws.jit
def missing(v):
    return math.isnan(v)


@ws.jit
def held(v):
    b = v > 0
    return b


@ws.jit
def through(v):
    return positive(v)


@ws.jit
def same(k):
    return k


@ws.jit
def flag():
    return FLAG


@ws.jit
def lane():
    return ws.threadIdx.x  # (an intrinsic's attribute, read only in a kernel)


@ws.jit
def kern(x, out):
    a = ws.local.array(5, np.int32)
    t = ws.local.array((3, 4), np.int32)
    for i in range(5):
        a[i] = i
    for i in range(3):
        for j in range(4):
            t[i, j] = 4 * i + j
    y = ws.local.array(5, np.int32)
"""
TAIL = "    out[0:5] = y[0:5]\n"


def kernel(tmp_path, *lines: str):
    return load_source(tmp_path, HEADER + "".join(f"    {line}  # MARK\n" for line in lines) + TAIL).kern


def run(kern, x):
    dev = ws.Device(ws.WaferSpec(width=4, height=4))
    out = dev.device_array(5, np.int32)
    kern[1, 1](dev.to_device(x), out)
    return out.copy_to_host()


def test_numpy_takes_a_bool_index_as_a_mask_and_a_bool_slice_bound_as_an_int():
    """The rule the kernel follows, as NumPy 2 has it."""
    a, t = np.arange(5), np.arange(12).reshape(3, 4)
    assert a[True].shape == (1, 5) and a[False].shape == (0, 5)  # not a[1], a[0]
    assert t[True, 0].shape == (1, 4)  # t[0] with a new axis, not t[1, 0]
    np.testing.assert_array_equal(a[True:3], a[1:3])
    with pytest.raises(TypeError):  # (NumPy refuses an np.bool_ slice bound; the kernel's bools are Python's)
        a[np.True_:3]


@pytest.mark.parametrize("lines, shown", [
    (["y[0] = t[True, 0]"], "True"),
    (["y[0] = t[1, False]"], "False"),
    (["y[0] = a[x[0] > 0]"], "x[0] > 0"),
    (["y[0] = x[x[0] == 1]"], "x[0] == 1"),           # a global array
    (["x[True] = 3"], "True"),                          # a store
    (["a[x[0] > 0] += 5"], "x[0] > 0"),                 # an augmented assignment's index, evaluated once
    (["y[0] = a[not x[0]]"], "not x[0]"),
    (["y[0] = a[bool(x[0])]"], "bool(x[0])"),
    (["y[0] = a[math.isnan(1.0)]"], "math.isnan(1.0)"),
    (["y[0] = a[x[0] > 0 and x[1] > 0]"], "x[0] > 0 and x[1] > 0"),
    (["y[0] = a[True if x[0] else 0]"], "True if x[0] else 0"),
    (["y[0] = a[(x[0] > 0) | (x[1] > 0)]"], "(x[0] > 0) | (x[1] > 0)"),  # `|` of two bools is a bool
    (["b = x[0] > 0", "y[0] = a[b & FLAG]"], "b & FLAG"),
    (["y[0] = a[FLAG]"], "FLAG"),                       # a module constant
    (["b = x[0] > 0", "y[0] = a[b]"], "b"),             # a variable assigned a bool
    (["b = 2", "if x[0] > 0:", "    b = True", "y[0] = a[b]"], "b"),  # on some path
    (["p, q = x[0] > 0, 2", "y[0] = a[p]"], "p"),
    (["for f in FLAGS:", "    y[0] = a[f]"], "f"),      # a loop over a tuple holding a bool
    (["y[0] = pick(a, x[0] > 0)"], "k"),                # a device function's parameter bound to a bool
    (["y[0] = pick(a, k=not x[0])"], "k"),
    (["y[0] = pick_default(a)"], "k"),                   # ... or by its default
    (["y[0] = a[positive(x[0])]"], "positive(x[0])"),   # a device function that may return one
    (["y[0] = a[truth(x[0])]"], "truth(x[0])"),         # ... by bool(), a predicate, a variable holding one,
    (["y[0] = a[missing(1.0)]"], "missing(1.0)"),       # another device function's result, a parameter the
    (["y[0] = a[held(x[0])]"], "held(x[0])"),           # call binds to one or a module constant
    (["y[0] = a[through(x[0])]"], "through(x[0])"),
    (["y[0] = a[same(x[0] > 0)]"], "same(x[0] > 0)"),
    (["y[0] = a[flag()]"], "flag()"),
    # (a device function is judged once a compilation for each set of parameters its calls bind to bools:
    # a call binding an int first, or a judgement of it inside another function, decides nothing for later ones)
    (["y[1] = a[same(x[0])]", "y[0] = a[same(x[0] > 0)]"], "same(x[0] > 0)"),
    (["y[1] = a[int(through(x[0]))]", "y[0] = a[positive(x[0])]"], "positive(x[0])"),
    (["y[1] = a[same(x[0] > 0) + 0]", "y[0] = a[same(x[0])]", "y[0] = a[same(not x[0])]"], "same(not x[0])"),
])
def test_a_bool_index_is_refused_at_its_line_saying_to_convert_it(tmp_path, lines, shown):
    kern = kernel(tmp_path, *lines)
    refused = rf"a bool used as an array index \({re.escape(shown)}\): NumPy takes a bool index as a mask.*write int\("
    with pytest.raises(ws.CompileError, match=refused) as info:
        run(kern, np.ones(4, np.int32))
    assert "# MARK" in str(info.value) or "return a[k]" in str(info.value)  # the line it is on


@pytest.mark.parametrize("x0", [0, 3])
def test_an_int_of_a_bool_indexes_as_that_int_and_a_bool_slice_bound_is_the_int_it_equals(tmp_path, x0):
    kern = kernel(tmp_path, "b = True", "c = x[0] > 0",
                  "y[0] = a[int(x[0] > 0)] + 10 * a[b + 0]",  # `b + 0` is an int in Python too
                  "y[1] = pick(a, int(c)) + 10 * a[int(positive(x[0]))] + 0 * a[same(x[0])] + a[lane()]",
                  "y[2:4] = a[True:3]",
                  "y[4:5] = a[c + 2:c + 3] + 0 * a[x[0] & 1] + 0 * a[(x[0] > 0) + 0]")
    x = np.array([x0, 1, 1, 1], np.int32)
    a, c = np.arange(5, dtype=np.int32), bool(x0 > 0)
    want = [a[int(x0 > 0)] + 10 * a[True + 0], a[int(c)] + 10 * a[int(x0 > 0)] + a[0], *a[True:3], *a[c + 2:c + 3]]
    np.testing.assert_array_equal(run(kern, x), want)


@ws.jit
def _index_by_argument(x, out, k):
    out[0] = x[k]  # MARK-arg


@ws.jit
def _slice_by_argument(x, out, lo: ws.constant, hi):
    a = ws.local.array(5, np.int32)
    a[0:5] = x[0:5]
    b = ws.local.array(5, np.int32)
    b[0:hi - lo] = a[lo:hi]
    out[0:5] = b[0:5]


@pytest.mark.parametrize("flag", [True, False])  # (an np.bool_ argument is refused at launch: test_runtime_jit.py)
def test_a_kernel_argument_launched_as_a_bool_is_refused_as_an_index_and_is_an_int_as_a_slice_bound(flag):
    dev = ws.Device(ws.WaferSpec(width=4, height=4))
    x = np.arange(5, dtype=np.int32) * 3
    out = dev.device_array(5, np.int32)
    _index_by_argument[1, 1](dev.to_device(x), out, 1)  # an int argument indexes as it is
    assert out.copy_to_host()[0] == x[1]
    with pytest.raises(ws.CompileError, match=r"a bool used as an array index \(k\)") as info:
        _index_by_argument[1, 1](dev.to_device(x), out, flag)
    assert "MARK-arg" in str(info.value)
    out = dev.device_array(5, np.int32)
    _slice_by_argument[1, 1](dev.to_device(x), out, flag, 3)  # also a ws.constant one
    want = x[flag:3]
    np.testing.assert_array_equal(out.copy_to_host()[:len(want)], want)
