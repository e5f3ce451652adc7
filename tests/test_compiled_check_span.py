"""`simple_ops.run_check_span`: the interpreter's `chk`, `hasnb`, `sreg` and `arg` over a segment's PEs at once
(`Strategy.compiled_loops`), against plain Python and against every strategy (the general loop's per-PE version
with `compiled_loops=False`, the NumPy engine with `compiled=False`): the same results and statistics, and where
a bounds check fails at some PEs of a segment, the same error naming the same PEs."""
from __future__ import annotations

import numpy as np
import pytest

import wafersim as ws
from test_engine_strategies import run_every_strategy
from wafersim.sim.strategy import Strategy

STRATEGIES = [Strategy(), Strategy(compiled_loops=False), Strategy(compiled=False)]
SIZE = 8  # words of each PE's local array


@ws.jit
def _checked_loop(out, shift, fail):
    i = ws.grid(1)
    local = ws.local.array(SIZE, np.int32)
    for k in range(SIZE):
        local[k] = k * 3 + i
    s = 0
    j = 0
    while j < 3 + i % 5:  # trip counts differ: the group diverges (the interpreter's segments)
        where = (i + j * shift) % SIZE
        if fail != 0 and i % 7 == 3 and j == 2:
            where = where + SIZE  # past the end of `local`, at these PEs only, in their third trip
        s += local[where] + ws.threadIdx.x * shift  # (a bounds check of the whole segment, then a PE constant)
        if ws.has_neighbor(ws.EAST):
            s += 1
        j += 1
    out[i] = s


def _expected(width: int, shift: int) -> list[int]:
    """The kernel in plain Python (no PE fails)."""
    got = []
    for i in range(width):
        s = 0
        for j in range(3 + i % 5):
            s += (i + j * shift) % SIZE * 3 + i + i * shift + (1 if i + 1 < width else 0)
        got.append(s)
    return got


def _launch(width: int, shift: int, fail: int):
    dev = ws.Device(ws.WaferSpec(width=width, height=1))
    out = dev.device_array(width, np.int32)
    stats = _checked_loop[1, width](out, shift, fail)
    return out.copy_to_host(), stats


@pytest.mark.parametrize("width,shift", [(80, 3), (37, 5), (6, 1)])
def test_checks_and_pe_constants_of_whole_segments_give_the_general_loop_s_results(width, shift):
    out, _ = run_every_strategy(lambda: _launch(width, shift, 0), STRATEGIES)
    assert out.tolist() == _expected(width, shift)


@pytest.mark.parametrize("width", [80, 37, 12])
def test_a_check_failing_inside_a_segment_names_the_same_pes_on_every_strategy(width):
    """The span stops at the first PE that fails; the general loop then refuses it and every later one that
    fails, as it did alone (run_every_strategy: the same error, message and PEs under each strategy)."""
    failing = [(i, 0) for i in range(width) if i % 7 == 3]
    with pytest.raises(ws.WaferError) as info:
        run_every_strategy(lambda: _launch(width, 3, 1), STRATEGIES)
    assert info.value.instruction.startswith("chk ")
    assert info.value.pe_count == len(failing) and info.value.pes == failing[:8]  # (an error lists eight PEs)
