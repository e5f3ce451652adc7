"""The debugger's names and lines around inlined device functions and loops (runtime/state.py's scopes,
compiler/debuginfo.py, the `for` loop's lines in compiler/statements.py): every value shown is the one
plain Python has under that name at that line, or the name is reported unavailable, never another
variable's value."""
from __future__ import annotations

import numpy as np
import pytest

import wafersim as ws
from conftest import line_of
from wafersim.runtime.state import VariableUnavailableError


@ws.jit
def _accumulate(x, acc, n):
    for t in range(n):
        acc = acc + x * t  # MARK-helper-acc
    return acc


@ws.jit
def _calls_accumulate(out, n):
    x, y = ws.grid(2)
    acc = x + 1000
    r = _accumulate(y + 7, x + 3, n)
    out[y, x] = r + acc + x  # MARK-kernel-out


@ws.jit
def _scale(x, acc):
    y = x * 100 + acc
    acc = y + 7  # MARK-scale
    return acc


@ws.jit
def _calls_scale(out):
    x, y = ws.grid(2)
    acc = x + 1000
    r = _scale(y, 5)
    out[y, x] = r + acc + x  # MARK-scale-caller


def _python_accumulate(x: int, acc: int, n: int) -> list[tuple[int, int]]:
    """(x, acc) each time plain Python reaches the helper's loop body line."""
    seen = []
    for t in range(n):
        seen.append((x, acc))
        acc = acc + x * t
    return seen


def test_a_stop_inside_a_device_function_shows_its_variables_not_the_callers():
    dev = ws.Device(ws.WaferSpec(width=8, height=8))
    out = dev.device_array((4, 4), np.int32)
    pe = (1, 2)
    seen = []
    with ws.debug(_calls_accumulate[1, (4, 4)], out, 3) as dbg:
        dbg.break_at(line_of(_accumulate, "MARK-helper-acc"), pe=pe)
        dbg.break_at(line_of(_calls_accumulate, "MARK-kernel-out"), pe=pe)
        while (stop := dbg.cont()).reason != "finished":
            if stop.line == line_of(_accumulate, "MARK-helper-acc"):
                seen.append((int(dbg.read_local("x", pe)), int(dbg.read_local("acc", pe))))
            else:  # back in the kernel: the kernel's acc and x
                assert (int(dbg.read_local("acc", pe)), int(dbg.read_local("x", pe))) == (1001, 1)
    assert seen == _python_accumulate(2 + 7, 1 + 3, 3)
    acc = 1 + 3
    for t in range(3):
        acc += 9 * t
    assert out.copy_to_host()[2, 1] == acc + 1001 + 1


def test_a_device_functions_name_without_storage_is_unavailable_not_the_callers_value():
    """`_scale`'s acc is the constant 5 and its x a copy of the kernel's y: neither has storage of its own,
    and the kernel's acc (1001) or x (1) must not be shown in their place."""
    dev = ws.Device(ws.WaferSpec(width=8, height=8))
    out = dev.device_array((4, 4), np.int32)
    pe = (1, 2)
    with ws.debug(_calls_scale[1, (4, 4)], out) as dbg:
        dbg.break_at(line_of(_scale, "MARK-scale"), pe=pe)
        dbg.break_at(line_of(_calls_scale, "MARK-scale-caller"), pe=pe)
        assert dbg.cont().line == line_of(_scale, "MARK-scale")
        with pytest.raises(VariableUnavailableError, match="device function"):
            dbg.read_local("x", pe)  # (the function has no register named x at all)
        with pytest.raises(VariableUnavailableError):
            dbg.read_local("acc", pe)  # (its acc register is written on this line, not yet holding acc)
        assert "acc" not in dbg.locals(pe) and "x" not in dbg.locals(pe)
        assert dbg.cont().line == line_of(_calls_scale, "MARK-scale-caller")
        assert int(dbg.read_local("acc", pe)) == 1001  # the kernel's, no longer hidden by the helper's
    assert out.copy_to_host()[2, 1] == (2 * 100 + 5 + 7) + 1001 + 1
