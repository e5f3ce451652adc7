"""The debugger's names and lines around inlined device functions and loops (runtime/state.py's scopes,
compiler/debuginfo.py, the `for` loop's lines in compiler/for_loops.py): every value shown is the one
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
    """`_scale`'s acc has no value yet where its line starts and its x is a copy of the kernel's y: the
    kernel's acc (1001) or x (1) must not be shown in their place."""
    dev = ws.Device(ws.WaferSpec(width=8, height=8))
    out = dev.device_array((4, 4), np.int32)
    pe = (1, 2)
    with ws.debug(_calls_scale[1, (4, 4)], out) as dbg:
        dbg.break_at(line_of(_scale, "MARK-scale"), pe=pe)
        dbg.break_at(line_of(_calls_scale, "MARK-scale-caller"), pe=pe)
        assert dbg.cont().line == line_of(_scale, "MARK-scale")
        assert int(dbg.read_local("x", pe)) == 2  # plain Python: _scale's x is the kernel's y
        with pytest.raises(VariableUnavailableError):
            dbg.read_local("acc", pe)  # (the constant 5 has no storage; the register is the new acc's)
        assert "acc" not in dbg.locals(pe) and "y" not in dbg.locals(pe)  # (y: folded into acc's sum)
        with pytest.raises(VariableUnavailableError, match="device function"):
            dbg.read_local("y", pe)
        assert dbg.cont().line == line_of(_calls_scale, "MARK-scale-caller")
        assert int(dbg.read_local("acc", pe)) == 1001  # the kernel's, no longer hidden by the helper's
    assert out.copy_to_host()[2, 1] == (2 * 100 + 5 + 7) + 1001 + 1


@ws.jit
def _counts(out, n):
    acc = 0  # MARK-loop-first
    for t in range(n):  # MARK-loop-for
        acc += 1  # MARK-loop-add
        out[0] = acc  # MARK-loop-store
    out[1] = acc  # MARK-loop-after


def _python_loop_lines(n: int) -> list[int]:
    """The kernel's line numbers in the order pdb reports them (sys.settrace 'line' events) for `_counts`."""
    marks = [line_of(_counts, m) for m in ("MARK-loop-first", "MARK-loop-for", "MARK-loop-add",
                                           "MARK-loop-store", "MARK-loop-after")]
    first, for_line, add, store, after = marks
    lines = [first, for_line]
    for _ in range(n):
        lines += [add, store, for_line]
    return lines + [after]


def test_a_breakpoint_on_a_loops_last_body_line_stops_only_when_that_line_runs():
    dev = ws.Device(ws.WaferSpec(width=4, height=4))
    out = dev.device_array(2, np.int32)
    seen = []
    with ws.debug(_counts[1, 1], out, 2) as dbg:
        dbg.break_at(line_of(_counts, "MARK-loop-store"))
        while dbg.cont().reason != "finished":
            seen.append(int(dbg.read_local("acc", (0, 0))))
    assert seen == [1, 2]  # plain Python: acc each time it reaches that line


def test_stepping_through_a_for_loop_goes_through_its_lines_as_python_does():
    dev = ws.Device(ws.WaferSpec(width=4, height=4))
    out = dev.device_array(2, np.int32)
    with ws.debug(_counts[1, 1], out, 2) as dbg:
        dbg.break_at(line_of(_counts, "MARK-loop-first"))
        stop, lines = dbg.cont(), []
        while stop.reason != "finished":
            lines.append(stop.line)
            stop = dbg.step()
    assert lines == _python_loop_lines(2)
    assert out.copy_to_host().tolist() == [2, 2]


@ws.jit
def _triple(a):
    z = a * 3
    return z


@ws.jit
def _calls_triple(out):
    x, y = ws.grid(2)
    q = _triple(x + 10 * y)
    out[y, x] = q + 1  # MARK-triple-caller


@ws.jit
def _copies(out, n):
    x = ws.grid(1)
    prev = x + 1
    for t in range(n):
        b = prev
        cur = b + t  # MARK-copy-read
        out[x * 8 + t] = cur
        prev = cur * 2
    out[x * 8 + 7] = prev


def test_a_variable_holding_a_device_functions_result_is_read_by_its_name(tmp_path):
    dev = ws.Device(ws.WaferSpec(width=4, height=4))
    out = dev.device_array((2, 2), np.int32)
    with ws.debug(_calls_triple[1, (2, 2)], out) as dbg:
        dbg.break_at(line_of(_calls_triple, "MARK-triple-caller"), pe=(1, 1))
        dbg.cont()
        assert int(dbg.read_local("q", (1, 1))) == (1 + 10 * 1) * 3  # plain Python: _triple(11)
        assert "z" not in dbg.locals((1, 1))  # the function's own name is not the kernel's
        program = dbg.program
    # the symbols (scopes and folded copies included) survive a program file
    from wafersim.isa import binary
    assert binary.load(binary.save(program, tmp_path / "k.wsb")).symbols == program.symbols


def test_a_copy_the_optimiser_folded_away_is_read_from_its_sources_register():
    """`b = prev` has no register of its own: where `prev`'s register still holds that value, `b` is read
    from it (it used to be an error naming `prev`), at every iteration the value plain Python has."""
    dev = ws.Device(ws.WaferSpec(width=4, height=4))
    out = dev.device_array(16, np.int32)
    pe, expected, prev = (1, 0), [], 1 + 1  # plain Python, x == 1
    for t in range(3):
        expected.append(prev)
        prev = (prev + t) * 2
    seen = []
    with ws.debug(_copies[1, 2], out, 3) as dbg:
        dbg.break_at(line_of(_copies, "MARK-copy-read"), pe=pe)
        while dbg.cont().reason != "finished":
            seen.append(int(dbg.read_local("b", pe)))
            assert int(dbg.read_local("prev", pe)) == seen[-1]
    assert seen == expected


@ws.jit
def _grow(value, n):
    acc = value  # one register for the caller's `a`, this `acc` and the caller's `total` (out of SSA)
    for k in range(n):
        acc = acc + value * 2.0  # MARK-grow
    return acc


@ws.jit
def _shares_a_register(v, out, n):
    x = ws.threadIdx.x
    a = v[x]
    total = _grow(a, n)
    if x > 0:  # MARK-after-grow
        total = total + 1.0
    out[x] = total  # MARK-store


def test_variables_sharing_one_register_are_each_shown_only_with_their_own_value():
    """`a`, the helper's `acc` and `total` end up in one register; `a` was shown with the loop's sum
    (28.0 where Python's `a` is 4.0) wherever the register was live. Every value shown at every line must be
    the one plain Python has under that name there (or the name is left out)."""
    n, pe = 3, (3, 0)
    a = np.float32(pe[0] + 1)
    acc_values = [a + np.float32(2.0) * a * k for k in range(n + 1)]  # acc before each iteration, and after
    total = acc_values[-1]
    dev = ws.Device(ws.WaferSpec(width=8, height=1))
    out = dev.device_array(6, np.float32)
    lines = {line_of(_shares_a_register, "MARK-after-grow"): {"a": a, "total": total, "x": pe[0], "n": n},
             line_of(_shares_a_register, "MARK-store"): {"total": total + 1, "x": pe[0]}}
    seen_grow = []
    with ws.debug(_shares_a_register[1, (6, 1)], dev.to_device(np.arange(1, 7, dtype=np.float32)), out, n) as dbg:
        dbg.break_at(line_of(_grow, "MARK-grow"), pe=pe)
        for line in lines:
            dbg.break_at(line, pe=pe)
        while (stop := dbg.cont()).reason != "finished":
            shown = dbg.locals(pe)
            if stop.line in lines:
                expected = lines[stop.line]
                assert {name: shown[name] for name in shown if name in expected} == {
                    name: expected[name] for name in shown if name in expected}, (stop.line, shown)
                assert set(shown) <= set(expected) | {"v", "out"}, shown  # (helper names stay in the helper)
            else:  # in the loop: the helper's acc, if shown, is the iteration's
                assert set(shown) <= {"acc", "value", "k", "n"}, shown
                seen_grow.append(shown.get("acc"))
    # (the line is also where the loop starts: a stop there before the first iteration shows acc = value,
    # as Python has it after `acc = value`)
    assert [got for got in seen_grow if got is not None] in (acc_values[:n], acc_values[:1] + acc_values[:n])
    assert out.copy_to_host()[pe[0]] == total + 1
