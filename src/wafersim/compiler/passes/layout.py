"""Branch layout: the `then` side of an if/else falls through to the join instead of jumping there.

The front end lowers ``if c: A else: B`` as ``bz c, ELSE; A; jmp END; ELSE: B; END:``, so the `then`
side costs a branch not taken, A and a jump. Laid out as ``bnz c, THEN; B; jmp END; THEN: A; END:``
it costs a taken branch and A; the `else` side pays the jump instead. With no profile, the `then` side is
taken to be the common one (``recv(d) if has_neighbor(d) else c`` is the neighbour's value on every PE
but the edge ones).

Both sides move as whole runs of instructions, so branches into them by label still land; only the
fall-through edges change, and each is replaced as described. A diamond is rearranged only when ELSE is
branched to by its `bz` alone, END directly follows ELSE's side, and it lies in a loop (code that runs
once gains nothing, and keeping its order keeps program counters, which diagnostics sort by, as written).
"""
from __future__ import annotations

from ..ir import BRANCHES, IRFunction, Label, Op
from .cfg import CFG


def place_then_before_join(fn: IRFunction) -> None:
    """Rewrite every if/else diamond of the front end's shape (outermost first, then again inside)."""
    serial = 0
    # The instructions in loops, found once: a rewrite keeps every instruction's loop membership but that of
    # the `jmp END` it moves (the graph is the same with that jump contracted: each side still reaches END,
    # the branch still reaches both sides), and only `bz`s are asked about. (Rebuilding the CFG and its loops
    # after each rewrite, as this pass did, was most of its time: a kernel has dozens of diamonds in loops.)
    cfg = CFG.of(fn)
    in_loops = {id(fn.ops[i]) for loop in cfg.loops() for b in loop.blocks for i in cfg.blocks[b]}
    changed = True
    while changed:
        changed = False
        targets: dict[Label, int] = {}
        for op in fn.instructions():
            if op.op in BRANCHES:
                targets[op.target] = targets.get(op.target, 0) + 1
        position = {op: k for k, op in enumerate(fn.ops) if isinstance(op, Label)}
        for i, op in enumerate(fn.ops):
            if not (isinstance(op, Op) and op.op == "bz" and targets.get(op.target) == 1 and id(op) in in_loops):
                continue
            otherwise = position[op.target]  # index of the ELSE label
            jump = fn.ops[otherwise - 1]
            if not (isinstance(jump, Op) and jump.op == "jmp") or otherwise - 1 <= i:
                continue
            end = position.get(jump.target)
            if end is None or end <= otherwise:
                continue
            serial += 1
            then_label = Label(f"then{serial}_")
            then_side = fn.ops[i + 1:otherwise - 1]
            else_side = fn.ops[otherwise:end]  # starts with the ELSE label
            fn.ops = (fn.ops[:i] + [Op("bnz", a=op.a, target=then_label, line=op.line, rebinds=op.rebinds)] + else_side
                      + [jump, then_label] + then_side + fn.ops[end:])
            changed = True
            break
