"""Fuzzing the engine and the host API: random programs, launch configurations and memcpy sizes must
either work or fail with a `WaferError` -- never crash, hang, or corrupt the device -- and random programs
must do so alike under every execution strategy.

The suite runs a bounded number of examples; for a longer nightly run set WAFERSIM_FUZZ_EXAMPLES
(e.g. WAFERSIM_FUZZ_EXAMPLES=5000 python -m pytest tests/test_fuzz_engine.py)."""
from __future__ import annotations

import os

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import wafersim as ws
from test_engine_strategies import run_every_strategy
from wafersim.isa.encoding import Instr, encode
from wafersim.isa.opcodes import FORMATS, OPCODES

EXAMPLES = int(os.environ.get("WAFERSIM_FUZZ_EXAMPLES", "60"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def instructions(draw, length: int):
    """Any encodable instruction; branch targets stay within the program (or one past it)."""
    op = draw(st.sampled_from(OPCODES))
    fields = {}
    for name, _, width, signed in FORMATS[op.fmt]:
        if name == "target":
            fields[name] = draw(st.integers(0, length))
        elif name == "flags":
            fields[name] = draw(st.integers(0, min(3, (1 << width) - 1))) if op.flags else 0  # (MSGX: 1 bit)
        elif name in "dabc":
            fields[name] = draw(st.integers(0, 7))  # a few registers, so values flow between instructions
        elif name == "ch":
            fields[name] = draw(st.integers(0, 3))
        elif signed:
            fields[name] = draw(st.integers(-64, 64))
        else:
            fields[name] = draw(st.integers(0, (1 << width) - 1))
    if op.fmt == "EXT":
        fields["imm"] = draw(st.integers(-(2**31), 2**32 - 1))
    if op.name == "sreg":
        fields["imm"] = draw(st.integers(0, 15))  # 10..15 name no register: a LaunchError
    return Instr(op.name, **fields)


@st.composite
def programs(draw):
    length = draw(st.integers(1, 24))
    body = [draw(instructions(length)) for _ in range(length)]
    words = np.array([w for instr in body for w in encode(instr)], dtype=np.uint32)
    return ws.Program(code=words, name="fuzz", data_words=draw(st.integers(0, 16)))


@FUZZ
@given(program=programs(), block=st.tuples(st.integers(1, 4), st.integers(1, 3)),
       args=st.lists(st.integers(0, 2**31 - 1), max_size=3))
def test_random_programs_run_or_fail_with_a_wafer_error(program, block, args):
    """... and alike under every execution strategy of the engine: the same words, cycles and statistics, or
    the same error (tests/test_fuzz_engine_strategies.py draws programs that mostly run)."""
    devices = []

    def launch():
        devices.append(ws.Device(ws.WaferSpec(width=8, height=6, fifo_depth=4)))
        buffer = devices[-1].to_device(np.zeros(64, dtype=np.int32))
        stats = devices[-1].launch(program, (2, 1), block, [buffer] + args, max_cycles=5_000, print_output=False)
        return buffer.copy_to_host(), stats

    try:
        _, stats = run_every_strategy(launch)
    except ws.WaferError:
        pass
    else:
        assert stats.cycles >= 0 and stats.instructions == stats.pe_instructions.sum()
    # Whatever happened, the device still works.
    x = np.arange(8, dtype=np.float32)
    d_x = devices[0].to_device(x)
    np.testing.assert_array_equal(d_x.copy_to_host(), x)


@FUZZ
@given(grid=st.tuples(st.integers(-2, 6), st.integers(-2, 6)), block=st.tuples(st.integers(-2, 12),
                                                                               st.integers(-2, 12)))
def test_random_launch_configurations_work_or_fail_cleanly(grid, block):
    dev = ws.Device(ws.WaferSpec(width=8, height=8))
    from wafersim.kernels.assembly import saxpy_program

    n = 40
    x = np.arange(n, dtype=np.float32)
    d_x, d_y, d_out = dev.to_device(x), dev.to_device(x), dev.device_array(n)
    valid = min(grid) >= 1 and min(block) >= 1 and block[0] <= 8 and block[1] <= 8
    try:
        stats = dev.launch(saxpy_program(), grid, block, (d_x, d_y, d_out, np.float32(2), n))
    except ws.LaunchError:
        assert not valid
        return
    assert valid
    threads = grid[0] * block[0] * grid[1] * block[1]
    # Threads are numbered row-major over the whole grid, so they cover the first `threads` elements.
    expected = np.where(np.arange(n) < threads, 3 * x, 0)
    np.testing.assert_array_equal(d_out.copy_to_host(), expected)
    assert stats.waves == -(-(grid[0] * grid[1]) // ((8 // block[0]) * (8 // block[1])))


@FUZZ
@given(sizes=st.lists(st.integers(-8, 5000), min_size=1, max_size=8), copy=st.integers(0, 6000),
       dtype=st.sampled_from([np.float32, np.int32, np.uint8, np.float64]))
def test_random_allocations_and_memcpy_sizes(sizes, copy, dtype):
    dev = ws.Device(ws.WaferSpec(width=4, height=4, global_bytes=64 * 1024))
    live = []
    for size in sizes:
        try:
            live.append((dev.malloc(size), size))
        except (ws.OutOfMemoryError, ws.ArgumentError):  # (a size <= 0: an ArgumentError)
            assert size <= 0 or sum(-(-s // 256) * 256 for _, s in live) + size > 64 * 1024 - 256 - 256 * len(live)
    data = np.arange(copy, dtype=dtype)
    for pointer, size in live:
        try:
            dev.memcpy_htod(pointer, data)
        except ws.MemoryAccessError:
            assert data.nbytes > size
            continue
        back = np.empty_like(data)
        dev.memcpy_dtoh(back, pointer)
        np.testing.assert_array_equal(back, data)
    for pointer, _ in live:
        dev.free(pointer)
    assert dev.memory.used_bytes == 0


def test_a_vector_copy_ignores_its_unused_b_field():
    # Found by the fuzzer: `vcopy` (operands d, a, c) with its b field naming a register the program never
    # uses read that register's row, past the registers the launch allocates (an IndexError, not a result).
    word = encode(Instr("vcopy", d=0, a=0, c=0))[0] | (1 << 9)  # b = r1
    dev = ws.Device(ws.WaferSpec(width=2, height=2))
    stats = dev.launch(ws.Program(code=np.array([word], dtype=np.uint32), name="stray_b", data_words=0),
                       (1, 1), (1, 1), [])
    assert stats.instructions == 1
