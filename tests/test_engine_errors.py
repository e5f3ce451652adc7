"""The engine's errors: a send or receive off the block's edge, a global access outside the allocations, a
kernel that never halts (max_cycles, max_seconds), a program or block too large, a malformed binary, each
naming the PEs, the pc and the source line where it can; and a failed launch leaves the device usable."""
from __future__ import annotations

import re

import numpy as np
import pytest

import wafersim as ws
from wafersim.kernels.assembly import saxpy_program
from test_engine import run


def test_send_off_the_block_edge_names_the_pe():
    with pytest.raises(ws.MeshBoundaryError) as info:
        run("li r1, 1\nsend east, 0, r1\nhalt\n", (2, 1), (4, 3))
    err = info.value
    assert "(3, 0)" in str(err) and "east" in str(err)
    assert (3, 0) in err.pes and (7, 2) in err.pes  # last column of both blocks, wafer coordinates
    assert err.pc == 2 and "send east, 0, r1" in str(err)


def test_recv_from_beyond_the_block_edge_is_a_boundary_error():
    with pytest.raises(ws.MeshBoundaryError) as info:
        run("recv r1, north, 0\nhalt\n", (1, 1), (3, 3))
    assert (0, 0) in info.value.pes and "north" in str(info.value)


def test_global_access_outside_allocations_names_pe_and_address():
    with pytest.raises(ws.MemoryAccessError) as info:
        run("sreg r1, tid.x\nshli r1, r1, 2\ngld r2, r1, 0\nhalt\n", (1, 1), (2, 2))
    err = info.value
    assert err.address == 0 and err.pe == (0, 0) and "below every allocation" in str(err)


def test_use_after_free_in_a_kernel_is_reported():
    dev = ws.Device(ws.WaferSpec(width=4, height=4))
    arr = dev.device_array(16)
    address = arr.address
    arr.free()
    with pytest.raises(ws.MemoryAccessError) as info:
        dev.launch(ws.assemble("arg r1, 0\ngld r2, r1, 0\nhalt\n"), (1, 1), (1, 1), (address,))
    assert "freed" in str(info.value)


def test_a_kernel_that_never_halts_hits_max_cycles():
    with pytest.raises(ws.CycleLimitError) as info:
        run("spin:\njmp spin\n", (1, 1), (2, 2), max_cycles=1000)
    assert info.value.max_cycles == 1000 and "max_cycles" in str(info.value)


def test_program_larger_than_sram_is_refused_with_sizes():
    with pytest.raises(ws.OutOfMemoryError) as info:
        run(".sram 20000\nhalt\n", (1, 1), (1, 1))
    err = info.value
    assert err.needed == 4 + 80000 and err.available == 49152 and "80,000 data" in str(err)


def test_channel_beyond_the_machine_is_refused():
    with pytest.raises(ws.LaunchError, match="channel 5"):
        run("li r1, 1\nsend east, 5, r1\nhalt\n", (1, 1), (2, 1))


def test_block_larger_than_the_wafer_is_refused():
    with pytest.raises(ws.LaunchError, match="larger than the wafer"):
        run("halt\n", (1, 1), (17, 1))


def test_a_failed_launch_leaves_the_device_usable():
    dev = ws.Device(ws.WaferSpec(width=8, height=8))
    with pytest.raises(ws.MeshBoundaryError):
        dev.launch(ws.assemble("send west, 0, r0\nhalt\n"), (1, 1), (2, 2), ())
    x = np.arange(10, dtype=np.float32)
    d_x, d_y, d_out = dev.to_device(x), dev.to_device(x), dev.device_array(10)
    ws.Kernel(saxpy_program())[(1, 1), (4, 4)](d_x, d_y, d_out, np.float32(2), 10)
    np.testing.assert_array_equal(d_out.copy_to_host(), 3 * x)
    assert len(dev.launches) == 1


def test_a_binary_naming_a_special_register_that_does_not_exist_is_refused():
    from wafersim.isa.encoding import Instr, encode

    code = np.array(encode(Instr("sreg", d=1, imm=12)) + encode(Instr("halt")), dtype=np.uint32)
    with pytest.raises(ws.LaunchError, match="special register number 12"):
        ws.Device(ws.WaferSpec(width=2, height=2)).launch(ws.Program(code=code), 1, 1)


def test_a_vmath_naming_a_function_past_the_table_is_refused_and_the_last_one_runs():
    # The assembler takes a function by number (a stray word's disassembly reassembles), so the launch must
    # refuse a number past VECTOR_MATH, not stop with Python's IndexError; the last entry still runs.
    from wafersim.isa.float_math import VECTOR_MATH

    dev = ws.Device(ws.WaferSpec(width=2, height=2))
    source = ".sram 4\nli r1, 0\nli r4, 2\nvmath r1, r1, {}, r4\nhalt\n"
    with pytest.raises(ws.LaunchError, match=f"function number {len(VECTOR_MATH)}; there are {len(VECTOR_MATH)}"):
        dev.launch(ws.assemble(source.format(len(VECTOR_MATH))), 1, 1)
    with pytest.raises(ws.LaunchError, match="function number 31"):
        dev.launch(ws.assemble(source.format(31)), 1, 1)
    dev.launch(ws.assemble(source.format(len(VECTOR_MATH) - 1)), 1, 1)


@pytest.mark.parametrize("source, message", [
    # (`@N`: the word itself, as disassemble writes such a target; the assembler refuses a plain number there)
    ("jmp @2\nli r1, 0x02000000\nhalt\n", "jump to pc 2, into the middle of the li at pc 1 (its extension word)"),
    ("li r2, 2\nloop:\naddi r2, r2, -1\nli r3, 5\nbnz r2, @4\n", "jump to pc 4, into the middle of the li at pc 3"),
    ("jmp @40\n", "jump to pc 40, outside the program (1 word)"),
])
def test_a_numeric_jump_into_an_extension_word_or_past_the_code_is_a_launch_error_saying_which(source, message):
    # An assembly branch may name a pc by number; one landing on a `li`'s immediate was reported as "outside
    # the program (7 words)" though 2 < 7, which sent a reader looking for the wrong mistake.
    with pytest.raises(ws.LaunchError, match=re.escape(message)):
        ws.Device(ws.WaferSpec(width=2, height=2)).launch(ws.assemble(source), 1, (2, 2))


def test_cycle_limit_error_names_the_running_pes_and_their_source_lines(tmp_path):
    from conftest import load_source

    module = load_source(tmp_path, "import wafersim as ws\n\n\n@ws.jit\ndef spin(out, n):\n    i = 0\n"
                                   "    while i < n:\n        i = i * 1\n    out[0] = i\n")
    dev = ws.Device(ws.WaferSpec(width=4, height=4))
    with pytest.raises(ws.CycleLimitError) as info:
        module.spin[(1, 1), (2, 2)](dev.device_array(1, np.int32), 10, max_cycles=2000)
    err = info.value
    assert err.source[1] in (7, 8) and err.source[0].endswith(".py")
    assert [place["count"] for place in err.running] == [4]
    assert sorted(err.running[0]["pes"]) == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert "4 PEs at pc" in str(err) and "(1, 1)" in str(err)


def test_max_seconds_stops_a_kernel_that_never_halts():
    with pytest.raises(ws.CycleLimitError) as info:
        run("spin:\njmp spin\n", (1, 1), (3, 1), max_cycles=1e15, max_seconds=0.2)
    err = info.value
    assert err.max_seconds == 0.2 and "max_seconds=0.2" in str(err)
    # (one wave, none of it done: a kernel that may never halt, unlike a long grid's later waves)
    assert err.waves_done == 0 and err.waves == 1 and "does it ever halt?" in str(err)
    assert err.running[0]["count"] == 3 and err.pe == (0, 0)


def test_max_seconds_is_a_known_launch_option_and_does_not_change_a_halting_kernel():
    plain = run("li r1, 1\nhalt\n", (1, 1), (2, 2))
    limited = run("li r1, 1\nhalt\n", (1, 1), (2, 2), max_seconds=60)
    assert plain.cycles == limited.cycles and plain.instructions == limited.instructions


def test_max_seconds_names_the_looping_pes_not_the_most_numerous_group(tmp_path):
    """Out of host time, 12 PEs that had not yet run their last line were named (`err.pe`, `err.source`) where
    the 4 spinning PEs are the ones to look at: the group furthest in simulated time is named."""
    from conftest import load_source
    module = load_source(tmp_path, (
        "import wafersim as ws\n\n\n"
        "@ws.jit\n"
        "def spin(u, n):\n"
        "    x, y = ws.grid(2)\n"
        "    k = 0\n"
        "    if x == 1:\n"
        "        while k >= 0:\n"
        "            k = (k + n) % 7\n"
        "    u[y, x] = k\n"))
    dev = ws.Device(ws.WaferSpec(width=8, height=8))
    with pytest.raises(ws.CycleLimitError) as info:
        module.spin[1, (4, 4)](dev.device_array((4, 4)), 3, max_cycles=1e15, max_seconds=0.5)
    err = info.value
    assert err.pe[0] == 1 and err.line in (9, 10)  # a spinning PE (x == 1), at the loop's lines
    assert sum(entry["count"] for entry in err.running) >= 4
