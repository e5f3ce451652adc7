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

import bisect
import itertools

from ...errors import CompileError
from ...isa.opcodes import IMM_MAX, IMM_MIN
from ..ir import IRFunction, Op, VReg
from ..values import wrap_int32
from .cfg import CFG, definitions, new_vreg, read_write, uses
from .induction import Affine, analyse, reads_before_change



def reduce_induction_variables(fn: IRFunction, undefined: frozenset = frozenset()) -> None:
    """Give every worthwhile derived induction variable its own register, stepped with the loop."""
    cfg = CFG.of(fn)
    while True:
        # (the definitions and readers of these ops, shared by the loops' attempts: none changes `fn` but the
        # one that reduces, after which all is computed again; built on the first loop with a preheader)
        found: list = []
        for loop in cfg.loops():
            after = _reduce_one(fn, cfg, loop, undefined, found)
            if after is not None:
                cfg = after
                break
        else:
            return


def _reduce_one(fn: IRFunction, cfg: CFG, loop, undefined: frozenset, found: list) -> CFG | None:
    """Reduce one derived induction variable of `loop`, returning the CFG of the ops after (`_install`); None
    when there is none worth it. `found`: the
    definitions and readers of `fn`'s ops as they are now, once computed (else empty, filled here)."""
    pre = cfg.preheader(loop)
    if pre is None:
        return None
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
        return _install(fn, cfg, pre, t, form, facts.increments[form.iv], readers)
    return None


def _install(fn: IRFunction, cfg: CFG, pre: int, t: VReg, form: Affine, increments: list[tuple[int, int]],
             readers: dict[VReg, list[int]]) -> CFG:
    """Initialise the new register in the preheader, step it after each increment, redirect readers; the CFG
    of the ops after, its blocks and each op's reads and write updated from `cfg`'s (the rest unchanged)."""
    reduced = new_vreg(fn, "i32", f"{t.hint or 'iv'}_sr")
    line = fn.ops[increments[0][0]].line
    init = [_scaled(fn, reduced, form.iv, form.scale, line)]
    if form.inv is not None:
        init.append(Op("add", d=reduced, a=reduced, b=form.inv, line=line))
    if form.const or form.reloc:
        init.append(Op("addi", d=reduced, a=reduced, imm=wrap_int32(form.const), reloc=form.reloc, line=line))
    rewritten = readers.get(t, [])
    for i in rewritten:
        fn.ops[i].replace_reads({t: reduced})
    # (the products are Python ints: a step of 2**30 scaled by 5000 is wrapped to the 32 bits the machine adds)
    steps = {i: Op("addi", d=reduced, a=reduced, imm=wrap_int32(step * form.scale), line=fn.ops[i].line)
             for i, step in increments}
    at = cfg.insertion_point(pre)  # the preheader's closing jump, else the loop header's label after it
    # The new ops, each one's reads and write (`cfg.rw`'s, but for the new ops and the readers rewritten) and
    # the blocks, by slices of the old: a walk over every op for each reduction was most of the pass's time.
    # (old index the new ops go before, the new ops) in order: a step after its increment, the initialisation
    # before `at` (a step that went before the same index would go first, as when the ops were walked).
    inserts = sorted([(i + 1, 0, [step]) for i, step in steps.items()] + [(at, 1, init)], key=lambda x: x[:2])
    old_ops, old_rw = fn.ops, cfg.rw
    out: list = []
    rw: list = []
    start = 0
    for before, _, new in inserts:
        out += old_ops[start:before]
        rw += old_rw[start:before]
        out += new
        rw += [read_write(op) for op in new]
        start = before
    out += old_ops[start:]
    rw += old_rw[start:]
    places = [before for before, _, _ in inserts]
    shifts = list(itertools.accumulate(len(new) for _, _, new in inserts))
    for i in rewritten:  # (op i moved by the new ops placed before i + 1)
        placed = bisect.bisect_right(places, i)
        rw[i + (shifts[placed - 1] if placed else 0)] = read_write(old_ops[i])
    # None of the new ops branches or labels: each joins the block of the op before it, the initialisation
    # the preheader (which it ends, or whose jump it goes before): the blocks stay runs of consecutive ops.
    block_of = cfg.block_of
    added = [0] * len(cfg.blocks)
    added[pre] += len(init)
    for i in steps:
        added[block_of[i]] += 1
    blocks = []
    first = 0
    for k, block in enumerate(cfg.blocks):
        blocks.append(list(range(first, first + len(block) + added[k])))
        first += len(block) + added[k]
    fn.ops = out
    after = cfg.after_insertions(fn, blocks, rw)
    from . import VERIFY_EACH_PASS  # (the tests' setting: there, check these against ones built afresh)
    if VERIFY_EACH_PASS:
        fresh = CFG(fn)
        if fresh.blocks != after.blocks or fresh.rw != after.rw or fresh.succ != after.succ:
            raise CompileError(f"internal compiler error in {fn.name}: strength reduction's updated blocks or "
                               f"registers differ from the ops'")
    return after


def _scaled(fn: IRFunction, d: VReg, iv: VReg, scale: int, line: int | None) -> Op:
    if scale == 1:
        return Op("addi", d=d, a=iv, imm=0, line=line)
    return Op("muli", d=d, a=iv, imm=scale, line=line)  # the caller keeps scales within the immediate
