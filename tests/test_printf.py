"""Kernel printf: `ws.print` output carries PE coordinates and cycle, is ordered, and is bounded."""
from __future__ import annotations

import numpy as np

import wafersim as ws
from wafersim.sim.engine import Launch


@ws.jit
def countdown(out):
    x, y = ws.grid(2)
    for k in range(x + 1):      # PE x prints x + 1 times, at different cycles
        ws.print("k", k)
    ws.print("x", x * 1.5)      # a float32 value


def test_prints_are_ordered_by_cycle_then_pe_and_carry_coordinates(capsys):
    dev = ws.Device(ws.WaferSpec(width=4, height=2))
    stats = countdown[(1, 1), (4, 2)](dev.device_array(1))
    records = stats.prints
    assert len(records) == sum(x + 2 for x in range(4)) * 2 and stats.prints_dropped == 0
    keys = [(r.cycle, r.y, r.x) for r in records]
    assert keys == sorted(keys)
    floats = [r for r in records if r.text == "x"]
    assert sorted((r.x, r.y, r.value) for r in floats) == [(x, y, x * 1.5) for x in range(4) for y in range(2)]
    for x in range(4):  # each PE printed k = 0 .. x in order
        assert [r.value for r in records if r.text == "k" and (r.x, r.y) == (x, 0)] == list(range(x + 1))
    printed = capsys.readouterr().out.splitlines()
    assert printed == [str(r) for r in records]
    assert printed[0].startswith("[PE (0, 0) @ cycle ") and printed[0].endswith("k: 0")


@ws.jit
def tenths(v):
    ws.print("v", v)
    ws.print("w", v * 3.0)
    ws.print("tiny", 1e-40)
    ws.print("big", v * 1e30)
    ws.print("i", 2147483647)


def test_float32_values_print_as_numpy_prints_them_and_keep_their_exact_value(capsys):
    """0.1 as a float32 is 0.100000001490116...: the line shows NumPy's shortest float32 digits, as
    copy_to_host's array would, and `value` is the float32's exact value."""
    stats = tenths[(1, 1), (1, 1)](0.1)
    f = np.float32
    expected = [f(0.1), f(0.1) * f(3.0), f(1e-40), f(0.1) * f(1e30)]
    assert [r.value for r in stats.prints] == [float(v) for v in expected] + [2147483647]
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("] ", 1)[1] for line in lines] == [
        "v: 0.1", "w: 0.3", "tiny: 1e-40", "big: 1e+29", "i: 2147483647"]
    assert [line.split(": ", 1)[1] for line in lines[:4]] == [str(v) for v in expected]


def test_a_flood_of_prints_is_cut_off_with_a_note(capsys):
    dev = ws.Device(ws.WaferSpec(width=64, height=64))
    stats = countdown[(1, 1), (64, 64)](dev.device_array(1))
    total = sum(x + 2 for x in range(64)) * 64
    assert len(stats.prints) == 1000 and stats.prints_dropped == total - 1000
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1001 and lines[-1] == f"[wafersim] {total - 1000:,} more prints dropped (limit 1000)"
    cycles = [r.cycle for r in stats.prints]
    assert cycles == sorted(cycles)
    # The kept prints are exactly the earliest 1000 by (cycle, PE) of an unlimited run.
    out = dev.device_array(1)
    program = countdown.compile_for(out).program
    everything = Launch(program, dev.spec, (1, 1), (64, 64), [out.address, 1], dev.memory,
                        print_limit=10**6).run().prints
    assert len(everything) == total and everything[:1000] == stats.prints


def test_print_limit_and_output_are_launch_options(capsys):
    dev = ws.Device(ws.WaferSpec(width=4, height=2))
    stats = countdown[(1, 1), (4, 2)](dev.device_array(1), print_limit=5)
    assert len(stats.prints) == 5 and stats.prints_dropped == 28 - 5
    assert capsys.readouterr().out.splitlines()[-1] == "[wafersim] 23 more prints dropped (limit 5)"
    countdown[(1, 1), (4, 2)](dev.device_array(1), print_output=False)
    assert capsys.readouterr().out == ""
    import pytest

    with pytest.raises(ws.LaunchError, match="unknown launch option"):
        countdown[(1, 1), (4, 2)](dev.device_array(1), steps=3)


@ws.jit
def print_grid(out):
    x, y = ws.grid(2)
    if ws.threadIdx.x == 1 and ws.threadIdx.y == 2:
        ws.print("x", x)
        ws.print("y", y)


def test_print_records_carry_global_coordinates_in_every_wave_and_slot():
    # 3 x 2 blocks of 8 x 8 on an 8 x 8 wafer: six waves, each block in the same slot
    dev = ws.Device(ws.WaferSpec(width=8, height=8))
    for device in (dev, ws.Device(ws.WaferSpec(width=16, height=16))):  # and four slots in one wave
        stats = print_grid[(3, 2), (8, 8)](device.device_array(1), print_output=False)
        xs = [r for r in stats.prints if r.text == "x"]
        ys = [r for r in stats.prints if r.text == "y"]
        expected = {(bx * 8 + 1, by * 8 + 2) for bx in range(3) for by in range(2)}  # blockIdx * blockDim + threadIdx
        assert {(r.x, r.y) for r in xs} == expected
        assert all(r.value == r.x for r in xs) and all(r.value == r.y for r in ys)
        assert {str(r).split(" @")[0] for r in xs} == {f"[PE ({x}, {y})" for x, y in expected}
