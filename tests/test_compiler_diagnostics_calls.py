"""Run-time errors inside device functions name the function's own line and every call that led there (in
the kernel's file or another one), and the debugger keeps those lines."""
from __future__ import annotations

import numpy as np
import pytest

import wafersim as ws
from wafersim import collectives as wsc
from conftest import load_source
from test_compiler_diagnostics import launch, marker_line


@ws.jit
def _reads_at(buf, j):
    return buf[j] * 2.0  # MARK-helper-read


@ws.jit
def reads_through_a_helper(out):
    i = ws.grid(1)
    buf = ws.local.array(2, np.float32)
    buf[0:2] = 1.0
    out[i] = _reads_at(buf, i)  # MARK-helper-call


OTHER_FILE_HELPER = """
import wafersim as ws
from wafersim import collectives as wsc


@ws.jit
def recv_west(buf):
    ws.recv_async(ws.WEST, out=buf[0:1])  # THERE
    ws.recv_wait(ws.WEST)  # (the caller reads buf: only after the wait)
"""


def test_a_runtime_error_in_a_device_function_names_its_own_line_and_the_call():
    """The instruction's source line is the device function's own; the message adds where it was called."""
    with pytest.raises(ws.MemoryAccessError) as info:
        launch(reads_through_a_helper)
    own, call = marker_line(_reads_at, "MARK-helper-read"), marker_line(reads_through_a_helper, "MARK-helper-call")
    assert info.value.source == (__file__, own)
    assert f"at {__file__}:{own}, called from {__file__}:{call}" in str(info.value)


def test_a_runtime_error_in_a_device_function_of_another_file_names_that_file_and_every_call(tmp_path):
    module = load_source(tmp_path, OTHER_FILE_HELPER)
    there = next(k for k, line in enumerate(OTHER_FILE_HELPER.splitlines(), 1) if "# THERE" in line)

    @ws.jit
    def middle(buf):
        module.recv_west(buf)  # MARK-middle

    @ws.jit
    def kernel(out):
        buf = ws.local.array(2, np.float32)
        middle(buf)  # MARK-outer
        out[0] = buf[0]

    with pytest.raises(ws.MeshBoundaryError) as info:
        launch(kernel, block=(2, 1))
    inner, outer = marker_line(middle, "MARK-middle"), marker_line(kernel, "MARK-outer")
    assert info.value.source == (module.__file__, there)
    assert f"at {module.__file__}:{there}, called from {__file__}:{inner}, called from {__file__}:{outer}" \
        in str(info.value)
    # The debugger's lines are the kernel file's: the call, for a function of another file; its own line
    # for one in the kernel's file. The line table and its callers survive a program file.
    dev = ws.Device(ws.WaferSpec(width=8, height=8))
    program = kernel.compile_for(dev.device_array(8), device=dev).program
    lines = {program.kernel_line(pc) for pc in program.callers}
    assert lines == {inner} and {program.source_of(pc) for pc in program.callers} == {(module.__file__, there),
                                                                                      (module.__file__, there + 1)}
    from wafersim.isa.binary import load, save
    assert load(save(program, tmp_path / "k.wsb")).callers == program.callers


def test_a_device_function_in_the_kernels_file_keeps_its_own_lines_for_the_debugger():
    dev = ws.Device(ws.WaferSpec(width=8, height=8))
    program = reads_through_a_helper.compile_for(dev.device_array(8), device=dev).program
    own, call = marker_line(_reads_at, "MARK-helper-read"), marker_line(reads_through_a_helper, "MARK-helper-call")
    assert {program.kernel_line(pc) for pc in program.callers} == {own}
    assert set(program.callers.values()) == {((__file__, call),)}
    # instructions after the call in the calling statement (the store to out) keep the call's line
    assert call in {program.kernel_line(pc) for pc in program.lines if pc not in program.callers}


@ws.jit
def _tree_then_row(out):
    i = ws.threadIdx.y * ws.blockDim.x + ws.threadIdx.x
    total = wsc.block_all_reduce(out[i], wsc.SUM, 0, algorithm=wsc.TREE, rounds=2)  # MARK-tree
    out[i] = total + wsc.row_all_reduce(out[i], wsc.MAX, channel=3)  # MARK-row: takes 3 and 4; the tree 0 .. 4


@ws.jit
def _own_route_then_collective(out):
    i = ws.grid(1)
    ws.use_route(1, "column_bus")  # MARK-own-route
    out[i] = wsc.row_all_reduce(out[i], wsc.SUM, channel=0)  # MARK-collective: its bus on channel 1


def test_a_channel_routed_twice_names_where_it_was_routed_first():
    """A collective given a channel that an earlier call's routes already took: the error is at the second
    call and names the first one's line (the user's call, not the library's line inside it), and says that
    a collective takes channels from the one given up, which is why a channel=3 call can clash on channel 4."""
    with pytest.raises(ws.CompileError) as info:
        launch(_tree_then_row)
    message = str(info.value)
    assert info.value.line == marker_line(_tree_then_row, "MARK-row")
    assert f"{__file__}:{marker_line(_tree_then_row, 'MARK-tree')})" in message
    assert "channel 4 is already routed as tree_broadcast_2" in message and "uses c, c + 1" in message
    with pytest.raises(ws.CompileError) as info:
        launch(_own_route_then_collective)
    assert f"as column_bus in this kernel (at {__file__}:{marker_line(_own_route_then_collective, 'MARK-own-route')})" \
        in str(info.value)


@ws.jit
def passes_a_slice_variable_to_a_library_collective(out):
    values = ws.local.array(8, np.float32)
    part = ws.local.array(8, np.float32)
    values[0:8] = 1.0
    view = values[2:7]
    wsc.row_reduce_array(view, part, 0, wsc.MAX, channel=0)  # MARK-view
    out[0] = values[0]


def test_a_slice_held_in_a_variable_passed_to_a_library_collective_is_told_to_pass_the_array():
    """As a slice written in the call (test_compiler_diagnostics), a slice held in a variable and passed for a
    collective's array is refused at the user's call saying so: it got the library's general hint, to index
    the array at the slice's start plus the offset, which is about the library's code (a new user's GEMV)."""
    with pytest.raises(ws.CompileError) as info:
        launch(passes_a_slice_variable_to_a_library_collective, block=(2, 1))
    err = info.value
    assert err.line == marker_line(passes_a_slice_variable_to_a_library_collective, "MARK-view")
    assert ("wsc.row_reduce_array() takes whole local arrays, and view holds a slice (a view of its array): pass "
            "its array, or copy the slice into a local array of its own") in str(err)
