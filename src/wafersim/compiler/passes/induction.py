"""Induction variables of a loop: the shared analysis of strength reduction and bounds-check elimination.

A *basic* induction variable of a loop is a register every in-loop write of which is `addi i, i, c`.
A *derived* one is a single-definition register computed in the loop as an affine function of a basic
one: ``t = i * scale + inv + const`` through `mov`, `addi`, `add` of a loop-invariant register, `muli`
and `shli`.
"""
from __future__ import annotations

import dataclasses

from ..ir import IRFunction, Op, VReg
from .cfg import CFG, Loop


@dataclasses.dataclass(frozen=True)
class Affine:
    """t = iv * scale + inv + const (+ the SRAM base of `reloc`), computed by `cost` in-loop instructions."""

    iv: VReg
    scale: int
    const: int
    inv: VReg | None = None
    reloc: str | None = None
    cost: int = 0


@dataclasses.dataclass
class LoopFacts:
    loop: Loop
    in_loop: list[int]  # op indices, program order
    increments: dict[VReg, list[tuple[int, int]]]  # basic IV -> [(op index, step)]
    affine: dict[VReg, Affine]  # derived IVs (basic ones too, with scale 1 and cost 0)

    def written_in_loop(self, reg: VReg, defs: dict[VReg, list[int]]) -> bool:
        return any(i in self._in_loop_set for i in defs.get(reg, []))

    def __post_init__(self) -> None:
        self._in_loop_set = set(self.in_loop)


def analyse(fn: IRFunction, cfg: CFG, loop: Loop, defs: dict[VReg, list[int]],
            undefined: frozenset) -> LoopFacts:
    """Basic and derived induction variables of `loop`."""
    in_loop = sorted(i for b in loop.blocks for i in cfg.blocks[b])
    in_set = set(in_loop)
    rw = cfg.rw  # (each op's written register, listed once per CFG: as `op.writes()`, a label's None)
    # The registers written in the loop, in `defs`'s order (`definitions`: by first definition), as walking
    # all of `defs` finds them: that order is the order the derived ones are tried in (strength reduction
    # takes the first worth it). Walking every register of the function for each loop was most of this.
    written = {reg for i in in_loop if (reg := rw[i][1]) is not None}
    increments: dict[VReg, list[tuple[int, int]]] = {}
    for reg in sorted(written, key=lambda reg: defs[reg][0]):
        if reg in undefined or reg.ty != "i32":
            continue
        inside = [i for i in defs[reg] if i in in_set]
        ops = [fn.ops[i] for i in inside]
        if all(op.op == "addi" and op.a is reg and op.reloc is None for op in ops):
            increments[reg] = [(i, fn.ops[i].imm) for i in inside]
    affine: dict[VReg, Affine] = {iv: Affine(iv, 1, 0) for iv in increments}

    def invariant(reg) -> bool:
        return isinstance(reg, VReg) and reg not in undefined and not any(i in in_set for i in defs.get(reg, []))

    # the in-loop ops that may define a derived one (single-definition i32 registers), in program order
    candidates = [(i, t) for i in in_loop if (t := rw[i][1]) is not None and t not in affine
                  and len(defs[t]) == 1 and t not in undefined and t.ty == "i32"]
    changed = True
    while changed:
        changed = False
        for i, t in candidates:
            if t in affine:
                continue
            form = _derive(fn.ops[i], affine, invariant)
            if form is not None:
                affine[t] = form
                changed = True
    return LoopFacts(loop, in_loop, increments, affine)


def _derive(op: Op, affine: dict[VReg, Affine], invariant) -> Affine | None:
    """The affine form of `op`'s result, if its operands have one (or are invariant where allowed)."""
    src = affine.get(op.a) if isinstance(op.a, VReg) else None
    if op.op == "mov" and src is not None:
        return src
    if op.op == "addi" and src is not None and (src.reloc is None or op.reloc is None):
        return dataclasses.replace(src, const=src.const + op.imm, reloc=src.reloc or op.reloc, cost=src.cost + 1)
    if op.op == "add":
        for x, y in ((op.a, op.b), (op.b, op.a)):
            form = affine.get(x) if isinstance(x, VReg) else None
            if form is not None and form.inv is None and invariant(y):
                return dataclasses.replace(form, inv=y, cost=form.cost + 1)
    if op.op in ("muli", "shli") and src is not None and src.inv is None and src.reloc is None:
        factor = op.imm if op.op == "muli" else 1 << (op.imm & 31)
        if op.op == "shli" and (op.imm & 31) > 30:
            return None
        return dataclasses.replace(src, scale=src.scale * factor, const=src.const * factor, cost=src.cost + 1)
    return None


def reads_before_change(cfg: CFG, start: int, reg: VReg, changes: set[int], stop: set[int]) -> bool:
    """True if, on every path from just after op `start`, `reg` is read only before any op in `changes`
    runs (walking stops at ops in `stop`, e.g. a redefinition of what `start` defines)."""
    ops, rw = cfg.ops, cfg.rw  # (each op's reads, listed once per CFG: `op.reads()` made a list per op visited)
    first = cfg.block_of[start]
    todo = [(first, cfg.blocks[first].index(start) + 1, False)]
    seen: set[tuple[int, int, bool]] = set()
    while todo:
        block, pos, changed = todo.pop()
        if (block, pos, changed) in seen:
            continue
        seen.add((block, pos, changed))
        halted = False
        for i in cfg.blocks[block][pos:]:
            if i in stop:
                halted = True
                break
            op = ops[i]
            if isinstance(op, Op):
                if changed and reg in rw[i][0]:
                    return False
                if i in changes:
                    changed = True
        if not halted:
            todo.extend((s, 0, changed) for s in cfg.succ[block])
    return True
