"""Regression tests for the compiler: which names a function's code reads (a local read before its
assignment is not the global of that name; a device function does not see another's local names) and
statements no path reaches. Each kernel's result is compared with the same code run by Python, and what
the compiler cannot compile right is a CompileError at the source line (more: tests/test_compiler_regressions.py,
tests/test_compiler_regressions_2.py)."""
from __future__ import annotations

import types

import numpy as np
import pytest

import wafersim as ws
from conftest import compile_error, line_of
from conftest import run_on_one_block as run


@pytest.fixture(scope="module")
def dev():
    return ws.Device(ws.WaferSpec(width=8, height=8))


# ----------------------------------------------------------------------------- a local read before its assignment
LIMIT = 3
SHIFTS = (1, 2)


@ws.jit
def local_after_read(out, a):
    out[0] = LIMIT + a  # MARK-unbound: Python raises UnboundLocalError (LIMIT is local to the whole function)
    LIMIT = 5
    out[1] = LIMIT


@ws.jit
def local_from_earlier_trip(out, a):
    s = 0
    for i in range(3):
        if i > 0:
            s += LIMIT  # MARK-earlier-trip: Python reads the LIMIT of the trip before, never the global
        LIMIT = i + a
    out[0] = s


@ws.jit
def tuple_from_earlier_trip(out, a):
    s = 0
    k = 0
    while k < 3:
        if k > 0:
            s += SHIFTS[0]  # MARK-tuple-trip
        SHIFTS = (k + a, k)
        k += 1
    out[0] = s


@ws.jit
def helper_reads_late_local(v):
    r = 0
    for i in range(2):
        if i == 1:
            r = LIMIT + v  # MARK-helper-trip
        LIMIT = 10
    return r


@ws.jit
def calls_late_local(out, a):
    out[0] = helper_reads_late_local(a)


@ws.jit
def builtin_read_before_local(out, a):
    s = 0
    for i in range(3):
        if i > 0:
            s += max  # MARK-builtin-trip
        max = i * a
    out[0] = s


@pytest.mark.parametrize("kernel, mark, shadowed", [
    (local_after_read, "MARK-unbound", "LIMIT"), (local_from_earlier_trip, "MARK-earlier-trip", "LIMIT"),
    (tuple_from_earlier_trip, "MARK-tuple-trip", "SHIFTS"), (calls_late_local, "MARK-helper-trip", "LIMIT"),
    (builtin_read_before_local, "MARK-builtin-trip", "max")])
def test_a_local_read_before_its_assignment_is_not_the_global_of_that_name(dev, kernel, mark, shadowed):
    """A name assigned anywhere in a function is local to all of it (Python's scoping): read before the
    assignment it is an UnboundLocalError, or in a loop the value an earlier trip assigned. The compiler
    resolved such a read to the module global (or builtin) of the same name: a silent wrong answer (6, 2 and
    6 where Python gives 7, 7 and 13; the first kernel, which Python stops, ran and read 3), or an error
    about the builtin `max`. Now each is refused at the read, as every read of a value only an earlier trip
    assigned is."""
    python = np.zeros(2, np.int32)
    if kernel is local_after_read:
        with pytest.raises(UnboundLocalError):
            kernel.py_func(python, 1)
    elif kernel is calls_late_local:
        python[0] = helper_reads_late_local.py_func(3)
        assert python[0] == 13 != LIMIT + 3
    else:
        kernel.py_func(python, 3)
        assert python[0] == {local_from_earlier_trip: 3 + 4, tuple_from_earlier_trip: 3 + 4,
                             builtin_read_before_local: 0 + 3}[kernel]
    err = compile_error(dev, kernel, np.zeros(2, np.int32), 3)
    owner = helper_reads_late_local if kernel is calls_late_local else kernel
    assert err.line == line_of(owner, mark)
    assert f"variable {shadowed!r} may be used before assignment" in str(err) and "local" in str(err)
    assert f"not the {'builtin' if shadowed == 'max' else 'global'} {shadowed!r}" in str(err)


@ws.jit
def local_y_after_global_read(v):
    t = v * LIMIT  # a global read: its function's local names are computed (`y` among them)
    y = t + 1
    return y


@ws.jit
def reads_global_y(v):
    return v + y  # noqa: F821 (the module's `y` below)


y = 5
UNROLLED = tuple(range(16))


@ws.jit
def many_inlined(out, a):
    for i in UNROLLED:  # (a tuple: unrolled) each call parses its function anew, and the memory of a
        # freed tree is soon another's
        out[i % 4] += local_y_after_global_read(a) + reads_global_y(a)
        out[(i + 1) % 4] += reads_global_y(a) + local_y_after_global_read(a)
    y = a  # the kernel's own local `y`: not the helper's global  # noqa: F841


def test_a_device_function_does_not_see_another_functions_local_names(dev, monkeypatch):
    """Which names are local (read before assignment: refused) was cached by the id of a function's parsed
    tree; each inlining parses its function anew, so a tree of `reads_global_y` could take the address of a
    freed tree of `local_y_after_global_read`, whose local `y` then made the global `y` read refused as 'used
    before assignment' (a valid kernel refused, depending on memory reuse; seen in a plain script). Here
    every tree is given one id, as if each took the last one's address."""
    from wafersim.compiler import compile_time

    monkeypatch.setattr(compile_time, "id", lambda obj: 0, raising=False)
    python = np.zeros(4, np.int32)
    glob = dict(many_inlined.py_func.__globals__, local_y_after_global_read=local_y_after_global_read.py_func,
                reads_global_y=reads_global_y.py_func)
    types.FunctionType(many_inlined.py_func.__code__, glob)(python, 3)
    (out, ) = run(dev, many_inlined, np.zeros(4, np.int32), 3)
    assert out.tolist() == python.tolist() == [8 * (3 * LIMIT + 1 + 3 + 5)] * 4


@ws.jit
def three_long(a):
    n = 3
    buf = ws.local.array(n, np.float32)
    buf[0] = a
    return buf[0] + len(buf)


@ws.jit
def five_long(a):
    n = 5  # (the same name, assigned once, another value: a shape)
    buf = ws.local.array(n, np.float32)
    return a + len(buf)


@ws.jit
def two_shapes(out):
    out[0] = three_long(1.0)
    out[1] = five_long(1.0)


def test_a_device_function_does_not_take_another_functions_single_assignments(dev, monkeypatch):
    """Which variables a function assigns once, from what (`assigned_constant`: a shape, a direction), was
    cached by the id of the function's parsed tree without holding the tree, as `local_names` was: a tree of
    `five_long` at the freed address of `three_long`'s took its `n = 3`, a shape of 3 where Python's is 5 (a
    silent wrong answer). Here every tree is given one id, as if each took the last one's address."""
    from wafersim.compiler import compile_time

    monkeypatch.setattr(compile_time, "id", lambda obj: 0, raising=False)
    (out, ) = run(dev, two_shapes, np.zeros(2, np.float32))
    assert out.tolist() == [1.0 + len(np.zeros(3)), 1.0 + len(np.zeros(5))]  # (Python's: a + the array's length)


# ----------------------------------------------------------------------------- statements no path reaches
@ws.jit
def scaled_or_not(v, s=None):
    if s is None:
        return v
    return v * s  # with s None: never runs (Python would raise TypeError if it did)


@ws.jit
def first_positive(t):
    for v in t:
        if v > 0:
            return v
    return 0


@ws.jit
def after_exits(out, a):
    out[0] = scaled_or_not(a) + scaled_or_not(a, 3)
    out[1] = first_positive((0, 2, 1.5)) + first_positive((a, 7))
    s = 0
    for i in range(4):
        s += i
        continue
        s = undefined_name  # noqa: F821 (never runs)
    out[2] = s
    while True:
        s += 1
        if s > 10:
            break
        continue
        s = 2.5
    for d in SHIFTS:
        s += d
        break
        s += (1, 2)
    out[3] = s
    return
    out[4] = 1.5  # an int32 array: this store would be refused, but it never runs


def test_statements_after_a_return_break_or_continue_are_not_compiled(dev):
    """Code that follows a `return`, `break` or `continue` in its block never runs, as the branch of a constant
    condition that is not taken; it was compiled all the same and refused (`scaled_or_not(a)`, the usual
    `s=None` default: "cannot compute with None"), or made an unrolled loop's later items count."""
    python = np.zeros(5, np.int32)
    ref = {"scaled_or_not": scaled_or_not.py_func, "first_positive": first_positive.py_func}
    glob = dict(after_exits.py_func.__globals__, **ref)
    types.FunctionType(after_exits.py_func.__code__, glob)(python, 4)
    (out, ) = run(dev, after_exits, np.zeros(5, np.int32), 4)
    assert out.tolist() == python.tolist() == [4 + 12, 2 + 4, 6, 12, 0]
