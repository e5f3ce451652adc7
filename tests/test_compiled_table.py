"""`ProgramTable`'s per-pc facts (`long_run`, `loop_ahead`, `steady`, `chain_entries`) equal the plain walks they are
defined by: from every pc, as the interpreter would go (`_runs_ahead`), from every conditional branch, everywhere it
may go (`_steady_branches`), and every way of a few scalar instructions from it (`_chain_entries`), on random
control flow and on a compiled 25-point stencil; a block all-reduce's chain split is a chain entry."""
from __future__ import annotations

import numpy as np
import pytest

import wafersim as ws

from wafersim.isa.encoding import decode
from wafersim.kernels import stencil25 as st
from wafersim.sim.compiled.table import (A, CHAIN_AHEAD, D, FIELDS, IMM, KIND, KINDS, LONG_RUN, NEXT, STOP,
                                         ProgramTable)


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


def walked_chain_entries(rows):
    """The reference: the forward bz/bnz whose fall-through and target each start some way (fall-through, forward
    jumps, either way of a forward branch) that meets a stream op after at most `CHAIN_AHEAD` instructions, all of
    them scalar ones the interpreter runs (no vector op, no transfer, no STOP)."""
    kinds, targets, nexts = rows[KIND], rows[IMM], rows[NEXT]
    size = len(kinds)
    transfers = {KINDS[name] for name in ("vaddx", "vmaxx", "vminx")}
    scalar = {kind for name, kind in KINDS.items() if KINDS["nop"] <= kind <= KINDS["arg"]}
    conditional = (KINDS["bz"], KINDS["bnz"])

    def reaches(pc, budget):
        if not 0 <= pc < size:
            return False
        kind = kinds[pc]
        if kind in transfers:
            return True
        if budget == 0 or kind not in scalar:
            return False
        if kind == KINDS["jmp"] or kind in conditional:
            if targets[pc] <= pc:
                return False
            ways = [targets[pc]] if kind == KINDS["jmp"] else [nexts[pc], targets[pc]]
        else:
            ways = [nexts[pc]]
        return any(reaches(way, budget - 1) for way in ways)
    return {pc for pc in range(size) if kinds[pc] in conditional and targets[pc] > pc
            and reaches(nexts[pc], CHAIN_AHEAD) and reaches(targets[pc], CHAIN_AHEAD)}


def random_rows(rng: np.random.Generator, size: int, branchy: bool = False) -> list[list[int]]:
    """Control flow of `size` code words: straight runs, branches and jumps either way (and out of the code),
    instructions of one or two words (the second word STOP, as in a table), registers r0..r3."""
    names = ["stop", "nop", "add", "addi", "ld", "st", "bz", "bnz", "jmp", "send", "vaddx", "fadd", "recv", "vadd"]
    weights = np.array([1, 2, 6, 4, 2, 2, 2, 2, 2, 1, 1, 2, 1, 1], dtype=float)
    if branchy:  # (more branches and transfers, few plain instructions: many chain entries)
        weights = np.array([1, 1, 1, 1, 1, 1, 4, 4, 2, 3, 3, 1, 3, 1], dtype=float)
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
    assert set(ProgramTable._chain_entries(rows)) == walked_chain_entries(rows)


@pytest.mark.parametrize("seed", range(20))
def test_chain_entries_equal_the_walk_on_branchy_random_control_flow(seed):
    rng = np.random.default_rng(100 + seed)
    rows = random_rows(rng, int(rng.integers(2, 80)), branchy=True)
    assert set(ProgramTable._chain_entries(rows)) == walked_chain_entries(rows)


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
    assert set(table.chain_entries) == walked_chain_entries(rows)
    assert table.loop_ahead.any() and table.steady.any() and not table.long_run.all()


def test_a_block_all_reduces_chain_split_is_a_chain_entry_and_a_halo_exchange_is_not():
    """`block_all_reduce`'s row chain splits its PEs at a branch into the root column (a `vaddx` from the east), the
    chain's end (a `send` west) and its middle (a `vaddx`): that branch is an entry; a halo exchange is none."""
    from wafersim import collectives as wsc

    @ws.jit
    def reduce_then_halo(values, out):
        x, y = ws.grid(2)
        halo = ws.local.array(16, np.float32)
        halo[0:16] = values[y, x]
        total = wsc.block_all_reduce(values[y, x], wsc.SUM)
        if ws.has_neighbor(ws.EAST):
            ws.send(ws.EAST, halo[0:8])
        if ws.has_neighbor(ws.WEST):
            ws.recv(ws.WEST, out=halo[8:16])
        out[y, x] = total + halo[8]

    device = ws.Device(ws.WaferSpec(width=8, height=4))
    values = device.to_device(np.ones((4, 8), np.float32))
    program = reduce_then_halo.compile_for(values, device.device_array((4, 8), np.float32), device=device).program
    decoded = dict(decode(program.code))
    table = ProgramTable(decoded, len(program.code), {instr.op: 1.0 for instr in decoded.values()}, fabric=True,
                         routed=True)
    entries = sorted(table.chain_entries)
    assert entries, "no chain entry"
    vector = {pc for pc, instr in decoded.items() if instr.op in ("sendv", "recvv")}
    row_chain = min(pc for pc, instr in decoded.items() if instr.op == "vaddx")
    assert vector and entries[0] < row_chain and all(pc < min(vector) for pc in entries)
    for pc in entries:  # (both ways of each reach a transfer soon)
        assert decoded[pc].op in ("bz", "bnz")
