"""Common-subexpression elimination: compute a pure value once where an earlier computation dominates.

Two scopes:

- across blocks, along the dominator tree: an instruction whose result and operands are all
  single-definition registers (values that never change) is dropped, and its readers read the earlier
  result, when the same computation already ran in a dominating position;
- within a block, for any registers: a repeat of a computation whose operands have not been written
  since becomes a `mov` from the earlier result (copy propagation and DCE then remove it).

Never shared: `ld` (memory may change in between), and `li` across blocks (a constant is cheaper to
rematerialise than to keep in a register over a long range; loop-invariant motion still hoists it).
"""
from __future__ import annotations

from ..debuginfo import carry_bindings
from ..ir import PURE, IRFunction, Op, VReg
from .cfg import CFG, definitions, phi_operands
from .cleanup import copy_propagate

# (Not fmin/fmax: of two equal zeros they give the second operand, and of two nans the first, so
# fmax(a, b) and fmax(b, a) may differ in a sign or a nan's payload. Nor fadd/fmul: of two nans they give
# the first one (quieted), as NumPy does on the host, so `b + a` shared with an earlier `a + b` could give
# `a`'s payload where NumPy gives `b`'s.)
_COMMUTATIVE = {"add", "mul", "and", "or", "xor", "min", "max", "seq", "sne", "feq", "fne"}
_NEVER = {"ld"}


def _key(op: Op) -> tuple:
    """What the instruction computes: opcode, operands (registers by identity) and every other field."""
    a, b = op.a, op.b
    if op.op in _COMMUTATIVE and (isinstance(a, VReg), id(a)) > (isinstance(b, VReg), id(b)):
        a, b = b, a
    return (op.op, a, b, op.c, op.imm, op.dir, op.ch, op.flags, op.reloc, op.d.ty)


def _shareable(op: Op) -> bool:
    return isinstance(op, Op) and op.op in PURE and op.op not in _NEVER and op.writes() is not None


def eliminate_common_subexpressions(fn: IRFunction, undefined: frozenset = frozenset()) -> None:
    """Share repeated pure computations, across dominating blocks and within blocks (then propagate the
    copies the latter leaves, so that later passes see the shared register itself)."""
    unchanged = _across_blocks(fn, undefined)
    _within_blocks(fn, *(unchanged or ()))
    copy_propagate(fn, undefined)


def _across_blocks(fn: IRFunction, undefined: frozenset) -> tuple[CFG, dict, set] | None:
    """Share across blocks; when nothing is shared (the ops are as they were), return the analyses of them
    that `_within_blocks` makes too: (the CFG, `definitions`, `phi_operands`)."""
    cfg = CFG.of(fn)
    defs = definitions(fn, cfg)
    single = {reg for reg, where in defs.items() if len(where) == 1 and reg not in undefined}
    kept = phi_operands(fn)
    children: dict[int, list[int]] = {k: [] for k in range(len(cfg.blocks))}
    idom = cfg.idom
    for k in cfg.reachable:
        if idom[k] is not None:
            children[idom[k]].append(k)
    replace: dict[VReg, VReg] = {}
    dropped: set[int] = set()
    scopes: list[dict[tuple, VReg]] = [{}]
    stack: list[tuple[int, bool]] = [(0, True)] if cfg.blocks else []
    while stack:  # depth-first over the dominator tree with scoped tables
        k, entering = stack.pop()
        if not entering:
            scopes.pop()
            continue
        scopes.append({})
        stack.append((k, False))
        for i in cfg.blocks[k]:
            op = cfg.ops[i]
            if not _shareable(op) or op.op == "li" or op.writes() not in single or op.writes() in kept:
                continue
            op.replace_reads(replace)
            if any(r not in single for r in op.reads()):
                continue
            key = _key(op)
            earlier = next((scope[key] for scope in reversed(scopes) if key in scope), None)
            if earlier is not None:
                replace[op.writes()] = earlier
                dropped.add(i)
            else:
                scopes[-1][key] = op.writes()
        stack.extend((c, True) for c in reversed(children[k]))
    if not replace:
        return cfg, defs, kept
    # `d = x + 3` read from `a`'s register: still an assignment of d there, to that register
    carry_bindings(fn, dropped, {i: replace[fn.ops[i].writes()] for i in dropped})
    fn.ops = [op for i, op in enumerate(fn.ops) if i not in dropped]
    for op in fn.instructions():
        op.replace_reads(replace)
    fn.rename_rebinds(replace)


def _within_blocks(fn: IRFunction, cfg: CFG | None = None, defs: dict | None = None, kept: set | None = None) -> None:
    """Share within blocks (`cfg`, `defs`, `kept`: those of the ops as they are, if at hand)."""
    if cfg is None:
        cfg = CFG(fn)
        defs = definitions(fn, cfg)
        kept = phi_operands(fn)  # constants that start or carry a loop's value stay `li`s of their own
    for block in cfg.blocks:
        available: dict[tuple, VReg] = {}
        mentioning: dict[VReg, list[tuple]] = {}  # register -> keys that read or produce it
        for i in block:
            op = fn.ops[i]
            if not isinstance(op, Op):
                continue
            written = op.writes()
            if _shareable(op) and written not in op.reads() and written not in kept:
                # (keep `addi v, v, k`: an induction step)
                key = _key(op)
                earlier = available.get(key)
                if earlier is not None and earlier is not written and earlier.ty == written.ty:
                    fn.ops[i] = Op("mov", d=written, a=earlier, line=op.line, rebinds=op.rebinds)
                    op = fn.ops[i]
            if written is None:
                continue
            for key in mentioning.pop(written, []):  # forget what read or wrote the register just written
                available.pop(key, None)
            # a constant is shared only from a register that keeps it (written once): copies of that one
            # then propagate everywhere, where a copy of a variable would stay a copy
            if (_shareable(op) and op.op != "mov" and written not in op.reads()
                    and written not in kept and (op.op != "li" or len(defs.get(written, ())) == 1)):
                key = _key(op)
                available[key] = written
                for reg in {written, *op.reads()}:
                    mentioning.setdefault(reg, []).append(key)
