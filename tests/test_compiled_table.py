"""`ProgramTable`'s per-pc facts (`long_run`, `loop_ahead`, `steady`) equal the plain walks they are defined by:
from every pc, as the interpreter would go (`_runs_ahead`), and from every conditional branch, everywhere it
may go (`_steady_branches`), on random control flow and on a compiled 25-point stencil."""
from __future__ import annotations

import numpy as np
import pytest

from wafersim.isa.encoding import decode
from wafersim.kernels import stencil25 as st
from wafersim.sim.compiled.table import (A, D, FIELDS, IMM, KIND, KINDS, LONG_RUN, NEXT, STOP, ProgramTable)


def walked_runs_ahead(rows):
    """The reference: walk from each pc, following fall-through and jumps, until the interpreter would stop."""
    kinds, targets, nexts = rows[KIND], rows[IMM], rows[NEXT]
    size = len(kinds)
    branches = {KINDS["bz"], KINDS["bnz"], KINDS["jmp"]}
    long, loops = [False] * size, [False] * size
    for start in range(size):
        pc, steps, seen = start, 0, set()
        while 0 <= pc < size and kinds[pc] != STOP:
            if kinds[pc] in branches and targets[pc] <= pc:
                loops[start] = True
                break
            if pc in seen:
                steps = LONG_RUN
                break
            seen.add(pc)
            pc = targets[pc] if kinds[pc] == KINDS["jmp"] else nexts[pc]
            steps += 1
        long[start] = loops[start] or steps >= LONG_RUN
    return long, loops


def walked_steady_branches(rows):
    """The reference: from each bz/bnz, every pc it may reach; steady if none of them writes its register."""
    kinds, regs, targets, nexts, dests = rows[KIND], rows[A], rows[IMM], rows[NEXT], rows[D]
    size = len(kinds)
    quiet = {KINDS[name] for name in ("stop", "nop", "bz", "bnz", "jmp", "st", "chk", "send", "sendv", "vaddx",
                                      "vmaxx", "vminx")}
    conditional = (KINDS["bz"], KINDS["bnz"])
    steady = [False] * size
    for start in [pc for pc, kind in enumerate(kinds) if kind in conditional]:
        seen, todo, clean = {start}, [start], True
        while todo and clean:
            pc = todo.pop()
            if kinds[pc] == STOP:
                continue
            if kinds[pc] not in quiet and dests[pc] != 0 and dests[pc] == regs[start]:
                clean = False
            follow = [targets[pc]] if kinds[pc] == KINDS["jmp"] else [nexts[pc]]
            if kinds[pc] in conditional:
                follow.append(targets[pc])
            for nxt in follow:
                if 0 <= nxt < size and nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        steady[start] = clean
    return steady


def random_rows(rng: np.random.Generator, size: int) -> list[list[int]]:
    """Control flow of `size` code words: straight runs, branches and jumps either way (and out of the code),
    instructions of one or two words (the second word STOP, as in a table), registers r0..r3."""
    names = ["stop", "nop", "add", "addi", "ld", "st", "bz", "bnz", "jmp", "send", "vaddx", "fadd"]
    weights = np.array([1, 2, 6, 4, 2, 2, 2, 2, 2, 1, 1, 2], dtype=float)
    rows = [[0] * size for _ in range(FIELDS)]
    pc = 0
    while pc < size - 1:
        kind = KINDS[names[rng.choice(len(names), p=weights / weights.sum())]]
        words = 2 if rng.random() < 0.2 and pc + 2 < size else 1
        rows[KIND][pc], rows[D][pc], rows[A][pc] = kind, int(rng.integers(0, 4)), int(rng.integers(0, 4))
        rows[IMM][pc], rows[NEXT][pc] = int(rng.integers(-2, size + 2)), pc + words
        pc += words
    return rows


@pytest.mark.parametrize("seed", range(40))
def test_runs_ahead_and_steady_branches_equal_the_walks_on_random_control_flow(seed):
    rng = np.random.default_rng(seed)
    rows = random_rows(rng, int(rng.integers(2, 120)))
    long, loops = ProgramTable._runs_ahead(rows)
    assert (long.tolist(), loops.tolist()) == walked_runs_ahead(rows)
    assert ProgramTable._steady_branches(rows).tolist() == walked_steady_branches(rows)


def test_runs_ahead_and_steady_branches_equal_the_walks_on_a_compiled_stencil():
    """The routed 25-point stencil: ~4,600 code words, unrolled runs, ~200 conditional branches."""
    device = st.fitting_device(3, 2)
    device = type(device)(device.spec.replace(channels=max(device.spec.channels, 20)))
    column = device.to_device(np.zeros((6, 5), np.float32))
    program = st.stencil25_routed_kernel(5, 16).compile_for(column, column, column, column, 1, 3,
                                                            device=device).program
    decoded = dict(decode(program.code))
    table = ProgramTable(decoded, len(program.code), {instr.op: 1.0 for instr in decoded.values()}, fabric=True)
    rows = table.fields.tolist()
    assert (table.long_run.tolist(), table.loop_ahead.tolist()) == walked_runs_ahead(rows)
    assert table.steady.tolist() == walked_steady_branches(rows)
    assert table.loop_ahead.any() and table.steady.any() and not table.long_run.all()
