"""Compile errors point at file:line:col with the source line and a caret; runtime errors name the
kernel's source line; the SRAM budget is enforced at compile time."""
from __future__ import annotations

import inspect

import numpy as np
import pytest

import wafersim as ws
from conftest import load_source
from wafersim import collectives as wsc


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
def float_index_augmented(out):
    i = ws.grid(1)
    out[i * 0.5] += 1.0  # MARK-augfloat (the target as read: once pointed at the decorator)


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
    (float_index_augmented, "MARK-augfloat", "an array index must be an int32", 9),
    (variable_direction, "MARK-dir", "a direction must be an int constant", 13),
    (send_without_value, "MARK-arity", "ws.send(direction, value, channel=0)", 5),
    (grid_three, "MARK-grid", "ws.grid(n) takes n = 1 or 2, got 3 (no 3-D grids: the wafer is a 2-D mesh", 9),
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
    big = ws.local.array(12200, np.float32)  # MARK-big
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
    # (and where the largest is declared: the line to change)
    assert (err.file, err.line) == (__file__, marker_line(huge_local, "MARK-big"))
    assert f"the largest, big, declared at {__file__}:{err.line}" in message
    # The same kernel fits a machine with more SRAM, and runs.
    dev = ws.Device(ws.WaferSpec(width=4, height=4, sram_bytes=65536))
    out = dev.device_array(8)
    huge_local[(1, 1), (1, 1)](out)
    assert out.copy_to_host()[0] == 4.0


HELPER_SOURCE = '''
import wafersim as ws


@ws.jit
def helper(v):
    w = v * 2.0
    return w + undefined_name  # HERE


@ws.jit
def kernel(out):
    out[0] = helper(1.0)
'''


def test_an_error_in_a_device_function_points_at_its_own_line(tmp_path):
    module = load_source(tmp_path, HELPER_SOURCE)
    with pytest.raises(ws.CompileError) as info:
        launch(module.kernel)
    expected_line = next(k for k, line in enumerate(HELPER_SOURCE.splitlines(), 1) if "# HERE" in line)
    assert info.value.file == module.__file__ and info.value.line == expected_line
    assert "unknown name 'undefined_name'" in str(info.value) and "# HERE" in str(info.value)


@ws.jit
def _half(v, scale):
    return v[0] * scale  # MARK-inner (v is a scalar here: cannot index)


@ws.jit
def calls_a_device_function_wrongly(out):
    x = 2.0
    out[0] = _half(x, 0.5)  # MARK-call


@ws.jit
def misuses_a_library_collective(out):
    values = ws.local.array(4, np.float32)
    wsc.block_all_reduce_array(values, wsc.SUM, channel=0)  # MARK-library (no scratch array `part`)
    out[0] = values[0]


@ws.jit
def passes_a_slice_to_a_library_collective(out):
    values = ws.local.array(8, np.float32)
    part = ws.local.array(8, np.float32)
    values[0:8] = 1.0
    wsc.row_reduce_array(values[0:6], part, 0, wsc.SUM, channel=0)  # MARK-slice
    out[0] = values[0]


def test_a_slice_passed_to_a_library_collective_is_told_to_pass_the_array():
    """The collectives index their arrays; a slice passed for one is refused at the user's call, saying so
    (not only that the library could not index a view)."""
    with pytest.raises(ws.CompileError) as info:
        launch(passes_a_slice_to_a_library_collective, block=(2, 1))
    err = info.value
    assert err.file == __file__ and err.line == marker_line(passes_a_slice_to_a_library_collective, "MARK-slice")
    assert ("wsc.row_reduce_array() takes whole local arrays, and values[0:6] is a slice: pass its array, or copy "
            "the slice into a local array of its own") in str(err)


def test_an_error_in_an_inlined_function_names_the_call_and_a_library_error_points_at_the_users_line():
    """An error inside a device function says where it was called (one line per level of inlining); an
    error inside wafersim's own library (a collective given the wrong arguments) points at the user's call,
    the library's line kept as a field."""
    with pytest.raises(ws.CompileError) as info:
        launch(calls_a_device_function_wrongly)
    err = info.value
    assert err.line == marker_line(_half, "MARK-inner") and "cannot index a float32 scalar" in str(err)
    assert f"(in _half(), called at {__file__}:{marker_line(calls_a_device_function_wrongly, 'MARK-call')}:" in str(err)
    with pytest.raises(ws.CompileError) as info:
        launch(misuses_a_library_collective, block=(2, 2))
    err = info.value
    assert err.file == __file__ and err.line == marker_line(misuses_a_library_collective, "MARK-library")
    assert "collectives" in err.library_file
    # The message leads with the user's call as written (file:line:col, the line, a caret), as every other
    # CompileError does; the library's own line follows for whoever reads wafersim's source.
    first, text, caret = str(err).splitlines()[:3]
    assert first.startswith(f"{__file__}:{err.line}:{err.col}: wsc.block_all_reduce_array(): ")
    assert "MARK-library" in text and caret.index("^") == err.col - 1 == text.index("wsc.block_all_reduce_array")
    assert f"(raised inside wafersim's block_all_reduce_array() at {err.library_file}:{err.library_line}" in str(err)


@ws.jit
def _star_parameters(out, *rest):
    out[0] = 1


@ws.jit
def _keyword_only(out, *, scale):
    out[0] = scale


@pytest.mark.parametrize("kernel, shown", [(_star_parameters, "*rest"), (_keyword_only, "scale")])
def test_a_kernel_with_star_or_keyword_only_parameters_is_refused_at_its_def(kernel, shown):
    dev = ws.Device(ws.WaferSpec(width=4, height=4))
    with pytest.raises(ws.CompileError, match=r"parameters are plain names") as info:
        kernel[(1, 1), (1, 1)](dev.device_array(1, np.int32), 5)
    lines, start = inspect.getsourcelines(kernel.py_func)
    assert info.value.line == start + 1 and f"({shown})" in str(info.value)  # the `def` line, under the decorator


ROWS = (0, 1)


@ws.jit
def reuses_a_tuple_loop_name_in_a_branch(out):
    for r in ROWS:
        out[r] = 1.0
    if ws.grid(1) == 0:
        for r in ROWS:  # MARK-reuse
            out[r] = 2.0


def test_a_tuple_loop_reusing_a_name_inside_a_branch_is_refused_at_its_variable_as_documented():
    with pytest.raises(ws.CompileError, match="cannot reuse 'r'") as info:
        launch(reuses_a_tuple_loop_name_in_a_branch, block=(1, 1))
    assert info.value.line == marker_line(reuses_a_tuple_loop_name_in_a_branch, "MARK-reuse")
    from pathlib import Path
    docs = (Path(__file__).parents[1] / "docs" / "python-supported.md").read_text()
    assert "the loop variable cannot reuse a name bound before that branch or loop" in docs


# ----------------------------------------------------------------------------- an int received untyped
@ws.jit
def argmax_untyped(x, out):
    px = ws.grid(1)
    best = x[px]
    bi = px
    if ws.has_neighbor(ws.WEST):
        wb = ws.recv(ws.WEST)
        wi = ws.recv(ws.WEST)
        if wb >= best:
            best = wb
            bi = wi  # MARK-untyped
    if ws.has_neighbor(ws.EAST):
        ws.send(ws.EAST, best)
        ws.send(ws.EAST, bi)
    else:
        out[0] = bi


@ws.jit
def argmax_typed(x, out):
    px = ws.grid(1)
    best = x[px]
    bi = px
    if ws.has_neighbor(ws.WEST):
        wb = ws.recv(ws.WEST)
        wi = ws.recv(ws.WEST, dtype=np.int32)
        if wb >= best:
            best = wb
            bi = wi
    if ws.has_neighbor(ws.EAST):
        ws.send(ws.EAST, best)
        ws.send(ws.EAST, bi)
    else:
        out[0] = bi


def test_an_int_received_untyped_into_a_temporary_is_told_to_receive_with_dtype():
    """`wi = ws.recv(d)` then `bi = wi` (bi an int): the hint is dtype=np.int32 on that receive, not int(...)
    (which compiles but stops the launch with a WordTypeError), and following it runs."""
    dev = ws.Device(ws.WaferSpec(width=4, height=4))
    x = np.array([1, 3, 3, 2], np.float32)
    with pytest.raises(ws.CompileError) as info:
        argmax_untyped[(1, 1), (4, 1)](dev.to_device(x), dev.device_array(1, np.int32))
    message = str(info.value)
    assert info.value.line == marker_line(argmax_untyped, "MARK-untyped")
    assert "wi = ws.recv(direction, dtype=np.int32)" in message and "or convert with int(...)" not in message
    out = dev.device_array(1, np.int32)
    argmax_typed[(1, 1), (4, 1)](dev.to_device(x), out)
    assert out.copy_to_host()[0] == 1  # the first of the largest: a tie takes the word from the west (`>=`)
