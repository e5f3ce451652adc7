"""Strength reduction of address arithmetic: `base + i * stride` becomes one add per iteration.

For a derived induction variable ``t = i * scale + inv + const`` that took two or more instructions a
trip to compute (e.g. `muli` then `addi` for `a[i * T + k]`), the pass keeps a new register ``T`` equal
to that expression at every point of the loop: ``T = i * scale + inv + const`` in the preheader, and
``T += step * scale`` right after each ``i += step``. Readers of ``t`` then read ``T`` instead, provided
no increment of ``i`` runs between the computation of ``t`` and the read (so ``T`` still has ``t``'s
value there), and dead-code elimination drops the old computation. Arithmetic wraps modulo 2**32 in
both forms, so they agree even on overflow.
"""
from __future__ import annotations

from ...isa.opcodes import IMM_MAX, IMM_MIN
from ..ir import IRFunction, Op, VReg
from ..values import wrap_int32
from .cfg import CFG, definitions, new_vreg, uses
from .induction import Affine, analyse, reads_before_change



def reduce_induction_variables(fn: IRFunction, undefined: frozenset = frozenset()) -> None:
    """Give every worthwhile derived induction variable its own register, stepped with the loop."""
    cfg = CFG.of(fn)
    while True:
        # (the definitions and readers of these ops, shared by the loops' attempts: none changes `fn` but the
        # one that reduces, after which all is computed again; built on the first loop with a preheader)
        found: list = []
        if not any(_reduce_one(fn, cfg, loop, undefined, found) for loop in cfg.loops()):
            return
        cfg = cfg.after_insertions(fn)  # (a reduction adds instructions, no branch: the loops stay)


def _reduce_one(fn: IRFunction, cfg: CFG, loop, undefined: frozenset, found: list) -> bool:
    """Reduce one derived induction variable of `loop`; False when there is none worth it. `found`: the
    definitions and readers of `fn`'s ops as they are now, once computed (else empty, filled here)."""
    pre = cfg.preheader(loop)
    if pre is None:
        return False
    if not found:
        found.extend((definitions(fn, cfg), uses(fn, cfg)))
    defs, readers = found
    facts = analyse(fn, cfg, loop, defs, undefined)
    live_header = cfg.live_in_of(loop.header)
    for t, form in facts.affine.items():
        if form.cost < 2 or t in facts.increments or form.iv not in live_header or not IMM_MIN <= form.scale <= IMM_MAX:
            continue
        consumers = [fn.ops[i] for i in readers.get(t, [])]
        if all(op.writes() in facts.affine for op in consumers):
            continue  # only feeds other derived values: reduce those instead
        (def_index,) = defs[t]
        changes = {i for i, _ in facts.increments[form.iv]}
        if not reads_before_change(cfg, def_index, t, changes, stop={def_index}):
            continue
        _install(fn, cfg, pre, t, form, facts.increments[form.iv], readers)
        return True
    return False


def _install(fn: IRFunction, cfg: CFG, pre: int, t: VReg, form: Affine, increments: list[tuple[int, int]],
             readers: dict[VReg, list[int]]) -> None:
    """Initialise the new register in the preheader, step it after each increment, redirect readers."""
    reduced = new_vreg(fn, "i32", f"{t.hint or 'iv'}_sr")
    line = fn.ops[increments[0][0]].line
    init = [_scaled(fn, reduced, form.iv, form.scale, line)]
    if form.inv is not None:
        init.append(Op("add", d=reduced, a=reduced, b=form.inv, line=line))
    if form.const or form.reloc:
        init.append(Op("addi", d=reduced, a=reduced, imm=wrap_int32(form.const), reloc=form.reloc, line=line))
    for i in readers.get(t, []):
        fn.ops[i].replace_reads({t: reduced})
    # (the products are Python ints: a step of 2**30 scaled by 5000 is wrapped to the 32 bits the machine adds)
    steps = {i: Op("addi", d=reduced, a=reduced, imm=wrap_int32(step * form.scale), line=fn.ops[i].line)
             for i, step in increments}
    at = cfg.insertion_point(pre)
    out = []
    for i, op in enumerate(fn.ops):
        if i == at:
            out.extend(init)
        out.append(op)
        if i in steps:
            out.append(steps[i])
    if at == len(fn.ops):
        out.extend(init)
    fn.ops = out


def _scaled(fn: IRFunction, d: VReg, iv: VReg, scale: int, line: int | None) -> Op:
    if scale == 1:
        return Op("addi", d=d, a=iv, imm=0, line=line)
    return Op("muli", d=d, a=iv, imm=scale, line=line)  # the caller keeps scales within the immediate
