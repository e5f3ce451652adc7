"""Compile errors point at file:line:col with the source line and a caret; runtime errors name the
kernel's source line; the SRAM budget is enforced at compile time."""
from __future__ import annotations

import inspect

import numpy as np
import pytest

import wafersim as ws


def marker_line(func, marker: str) -> int:
    """The file line number of the line of `func` containing `marker`."""
    lines, first = inspect.getsourcelines(func.py_func if hasattr(func, "py_func") else func)
    return first + next(i for i, text in enumerate(lines) if marker in text)


def launch(kernel, *args, block=(4, 1)):
    dev = ws.Device(ws.WaferSpec(width=8, height=8))
    out = dev.device_array(8)
    return kernel[(1, 1), block](out, *args)


@ws.jit
def uses_with(out):
    with open("x"):  # MARK-with
        pass


@ws.jit
def unknown_name(out):
    i = ws.grid(1)
    out[i] = no_such_name + 1  # MARK-unknown  # noqa: F821


@ws.jit
def float_index(out):
    i = ws.grid(1)
    out[i * 0.5] = 1.0  # MARK-float


@ws.jit
def variable_direction(out):
    i = ws.grid(1)
    ws.send(i, 1.0)  # MARK-dir


@ws.jit
def send_without_value(out):
    ws.send(ws.EAST)  # MARK-arity


@ws.jit
def grid_three(out):
    x = ws.grid(3)  # MARK-grid
    out[0] = x


@ws.jit
def float_into_int(out):
    n = 0
    n = 0.5  # MARK-assign
    out[0] = n


@ws.jit
def returns_value(out):
    return 1.0  # MARK-return


@pytest.mark.parametrize("kernel,marker,text,column", [
    (uses_with, "MARK-with", "unsupported statement in a kernel: With", 5),
    (unknown_name, "MARK-unknown", "unknown name 'no_such_name'", 14),
    (float_index, "MARK-float", "an array index must be an int32", 9),
    (variable_direction, "MARK-dir", "a direction must be a constant", 13),
    (send_without_value, "MARK-arity", "ws.send(direction, value, channel=0)", 5),
    (grid_three, "MARK-grid", "takes 1 or 2", 9),
    (float_into_int, "MARK-assign", "cannot assign a float32 value to an int32 variable", 5),
    (returns_value, "MARK-return", "a kernel cannot return a value", 5),
])
def test_compile_errors_point_at_the_source(kernel, marker, text, column):
    with pytest.raises(ws.CompileError) as info:
        launch(kernel)
    err = info.value
    line = marker_line(kernel, marker)
    assert err.file == __file__ and err.line == line and err.col == column
    message = str(err)
    assert message.startswith(f"{__file__}:{line}:{column}: ") and text in message
    source_line, caret = message.splitlines()[1:3]
    assert marker in source_line
    assert caret == " " * (column - 1) + "^"


@ws.jit
def sends_east_everywhere(out):
    i = ws.grid(1)
    ws.send(ws.EAST, 1.0)  # MARK-send
    out[i] = 1.0


@ws.jit
def waits_forever(out):
    i = ws.grid(1)
    if ws.has_neighbor(ws.EAST):
        out[i] = ws.recv(ws.EAST)  # MARK-recv


@ws.jit
def writes_past_local(out, k):
    buf = ws.local.array(8, np.float32)
    buf[k] = 1.0  # MARK-local
    out[0] = buf[0]


@ws.jit
def reads_past_global(out, k):
    out[0] = out[k]  # MARK-global


def test_runtime_errors_name_the_kernel_source_line():
    with pytest.raises(ws.MeshBoundaryError) as info:
        launch(sends_east_everywhere)
    line = marker_line(sends_east_everywhere, "MARK-send")
    assert f"{__file__}:{line}" in str(info.value) and info.value.source == (__file__, line)
    assert info.value.pe == (3, 0)

    with pytest.raises(ws.DeadlockError) as info:
        launch(waits_forever)
    assert info.value.source == (__file__, marker_line(waits_forever, "MARK-recv"))

    with pytest.raises(ws.MemoryAccessError) as info:
        launch(writes_past_local, 9)
    assert info.value.source == (__file__, marker_line(writes_past_local, "MARK-local"))

    with pytest.raises(ws.MemoryAccessError) as info:
        launch(reads_past_global, 1 << 20)
    assert info.value.source == (__file__, marker_line(reads_past_global, "MARK-global"))


@ws.jit
def huge_local(out):
    big = ws.local.array(12200, np.float32)
    small = ws.local.array((16, 16), np.int32)
    big[0] = 1.0
    small[1, 2] = 3
    out[0] = big[0] + small[1, 2]


def test_sram_budget_is_checked_at_compile_time_with_its_parts():
    with pytest.raises(ws.CompileError) as info:
        launch(huge_local)
    err = info.value
    assert isinstance(err, ws.OutOfMemoryError) and isinstance(err, ws.SramBudgetError)  # API.md: SRAM is OOM
    assert err.available == 49152 and err.needed > 49152
    code_bytes = err.needed - 4 * (12200 + 256)
    assert code_bytes > 0 and code_bytes % 4 == 0
    message = str(err)
    assert f"needs {err.needed:,} bytes" in message and "has 49,152" in message
    assert "local array big 48,800" in message and "local array small 1,024" in message
    # The same kernel fits a machine with more SRAM, and runs.
    dev = ws.Device(ws.WaferSpec(width=4, height=4, sram_bytes=65536))
    out = dev.device_array(8)
    huge_local[(1, 1), (1, 1)](out)
    assert out.copy_to_host()[0] == 4.0
