"""The dataflow analyses of the passes and the verifier against brute force on random control-flow graphs
(loops, irreducible cycles, blocks nothing reaches): `undefined_reads` (a register read where some path from
the entry reaches without writing it), in SSA form the reads whose write does not dominate them
(compiler/passes/verify.py), and the registers live into each block (`CFG.live_in`, compiler/passes/cfg.py)."""
from __future__ import annotations

import random

import pytest

from wafersim.compiler.ir import BRANCHES, IRFunction, Label, Op, VReg
from wafersim.compiler.passes.cfg import CFG
from wafersim.compiler.passes.verify import ssa_problems, undefined_reads

REGISTERS = [VReg(10 + k, "i32", f"v{k}") for k in range(6)]


def _random_function(rng: random.Random, blocks: int, ssa: bool) -> IRFunction:
    """Random blocks of adds over a few registers (each written once in `ssa`), ending in a fall-through, a
    jump, a conditional branch or a halt to random labels."""
    labels = [Label(f"b{k}") for k in range(blocks)]
    registers = list(REGISTERS) if not ssa else [VReg(100 + k, "i32", f"s{k}") for k in range(3 * blocks)]
    unwritten = list(registers)
    ops: list = []
    for k in range(blocks):
        ops.append(labels[k])
        for _ in range(rng.randint(0, 3)):
            if ssa and not unwritten:
                break
            d = unwritten.pop(rng.randrange(len(unwritten))) if ssa else rng.choice(registers)
            ops.append(Op("add", d=d, a=rng.choice(registers), b=rng.choice([0, *registers])))
        end = rng.random()
        if end < 0.3:
            ops.append(Op("bnz", a=rng.choice(registers), target=rng.choice(labels)))
        elif end < 0.5:
            ops.append(Op("jmp", target=rng.choice(labels)))
        elif end < 0.6:
            ops.append(Op("halt"))
    ops.append(Op("halt"))
    return IRFunction("random", ops, ssa=ssa, ssa_undefined=frozenset(rng.sample(registers, 2)) if ssa else frozenset())


def _op_successors(ops: list, i: int) -> list[int]:
    op = ops[i]
    if isinstance(op, Op) and op.op in BRANCHES:
        target = ops.index(op.target)
        return [target] if op.op == "jmp" else [target, i + 1]
    if isinstance(op, Op) and op.op == "halt":
        return []
    return [i + 1] if i + 1 < len(ops) else []


def _brute_undefined(fn: IRFunction) -> set[VReg]:
    """Per register: the ops reachable from the entry by paths that never write it; a read at one is undefined."""
    found = set()
    for reg in {r for op in fn.instructions() for r in op.reads()}:
        seen, todo = {0}, [0]
        while todo:
            i = todo.pop()
            op = fn.ops[i]
            if isinstance(op, Op) and reg in op.reads():
                found.add(reg)
            if isinstance(op, Op) and op.writes() is reg:
                continue  # (past here it is written)
            for j in _op_successors(fn.ops, i):
                if j not in seen:
                    seen.add(j)
                    todo.append(j)
    return found


def _brute_not_dominated(fn: IRFunction) -> list[str]:
    """The reads (in op order, reachable blocks) whose write does not dominate them: a write at op w
    dominates a read at op r when r cannot be reached from the entry without passing w (brute force)."""
    def reaches(target: int, without: int) -> bool:
        seen, todo = {0}, [0]
        while todo:
            i = todo.pop()
            if i == target:
                return True
            if i == without:
                continue
            for j in _op_successors(fn.ops, i):
                if j not in seen:
                    seen.add(j)
                    todo.append(j)
        return False

    written = {op.writes(): i for i, op in enumerate(fn.ops) if isinstance(op, Op) and op.writes() is not None}
    problems = []
    for i, op in enumerate(fn.ops):
        if not isinstance(op, Op) or not reaches(i, -1):
            continue
        for r in op.reads():
            good = r in fn.ssa_undefined if r not in written else written[r] != i and not reaches(i, written[r])
            if not good:
                problems.append(f"{op.text()}: {r!r} is read where its write does not dominate")
    return problems


@pytest.mark.parametrize("seed", range(80))
def test_undefined_reads_match_brute_force(seed):
    rng = random.Random(seed)
    fn = _random_function(rng, rng.randint(1, 25), ssa=False)
    assert undefined_reads(fn) == _brute_undefined(fn)
    assert undefined_reads(fn, CFG(fn)) == _brute_undefined(fn)


def test_the_random_functions_have_both_kinds_of_read():
    kinds = set()
    for seed in range(80):
        rng = random.Random(seed)
        fn = _random_function(rng, rng.randint(1, 25), ssa=False)
        reads = {r for op in fn.instructions() for r in op.reads()}
        found = undefined_reads(fn)
        kinds |= {bool(found), bool(reads - found)}
    assert kinds == {True, False}


@pytest.mark.parametrize("seed", range(80))
def test_reads_not_dominated_by_their_write_match_brute_force(seed):
    rng = random.Random(seed)
    fn = _random_function(rng, rng.randint(1, 25), ssa=True)
    found = [p for p in ssa_problems(fn) if p.endswith("is read where its write does not dominate")]
    assert found == _brute_not_dominated(fn)


def _brute_live_in(fn: IRFunction, cfg: CFG) -> list[set[VReg]]:
    """A register is live into a block when a path from the block's start reads it before any write of it."""
    live = []
    for block in cfg.blocks:
        found = set()
        for reg in REGISTERS:
            seen, todo = {block[0]}, [block[0]]
            while todo:
                i = todo.pop()
                op = fn.ops[i]
                if isinstance(op, Op) and reg in op.reads():
                    found.add(reg)
                    break
                if isinstance(op, Op) and op.writes() is reg:
                    continue
                for j in _op_successors(fn.ops, i):
                    if j not in seen:
                        seen.add(j)
                        todo.append(j)
        live.append(found)
    return live


@pytest.mark.parametrize("seed", range(80))
def test_the_registers_live_into_each_block_match_brute_force(seed):
    rng = random.Random(seed)
    fn = _random_function(rng, rng.randint(1, 25), ssa=False)
    cfg = CFG(fn)
    assert cfg.live_in() == _brute_live_in(fn, cfg)
    assert cfg.live_in() is cfg.live_in()  # (once per CFG)
