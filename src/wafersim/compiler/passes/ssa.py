"""Into and out of SSA form: the passes `ssa` and `unssa`.

`into_ssa` (Cytron et al., "Efficiently computing static single assignment form and the control
dependence graph", TOPLAS 1991): every block gets a label (phis name their predecessors by label),
unreachable blocks go, phis are placed at the iterated dominance frontier of each register's writes
where the register is live (pruned SSA), and a walk of the dominator tree renames every write to a new
register (a *version*, with the original's type and name hint) and every read to the version that
reaches it. A read that no write reaches (a path on which the front end never wrote the register) reads
one *undefined* version of it, which has no write at all (`IRFunction.ssa_undefined`).

`out_of_ssa` puts versions back into shared registers, coalescing in the manner of Sreedhar et al.
("Translating out of static single assignment form", SAS 1999) and Boissinot et al. (CGO 2009): a phi's
result and each operand join one congruence class unless some member of one is live where a member of
the other is written (interference, from liveness on the SSA form); each class then becomes one register
(the original, where the class holds versions of one register). The phi disappears; an operand that
could not join becomes a copy on its edge (before the predecessor's jump, just before the join's label
on a fall-through edge, or in a block of its own for a conditional branch), the copies of an edge
ordered as a parallel copy. When every phi coalesces (the front end's loops do), the code comes out with
the registers the front end chose and the loop shapes the later passes recognise.
"""
from __future__ import annotations

import dataclasses
from collections import defaultdict

from ..debuginfo import is_variable
from ..ir import BRANCHES, IRFunction, Label, Op, Phi, VReg
from .cfg import CFG, new_vreg
from .cleanup import remove_unused_labels


# ----------------------------------------------------------------------------- dominance
def immediate_dominators(cfg: CFG) -> dict[int, int | None]:
    """idom of each reachable block (None for the entry): its strict dominator dominated by all the others."""
    return {k: cfg.idom[k] for k in cfg.reachable}


def dominance_frontiers(cfg: CFG, idom: dict[int, int | None]) -> dict[int, set[int]]:
    """DF(b): the joins where b's dominance ends (Cooper, Harvey and Kennedy's walk up from each join)."""
    frontier: dict[int, set[int]] = {k: set() for k in cfg.reachable}
    for join in cfg.reachable:
        preds = [p for p in cfg.pred[join] if p in cfg.reachable]
        if len(preds) < 2:
            continue
        for p in preds:
            runner = p
            while runner is not None and runner != idom[join]:
                frontier[runner].add(join)
                runner = idom[runner]
    return frontier


def _dominator_children(idom: dict[int, int | None]) -> dict[int, list[int]]:
    children: dict[int, list[int]] = defaultdict(list)
    for k in sorted(idom):
        if idom[k] is not None:
            children[idom[k]].append(k)
    return children


# ----------------------------------------------------------------------------- into SSA
def _prepare(fn: IRFunction) -> None:
    """Drop unreachable blocks; give the entry a predecessor-free block and every block a label."""
    cfg = CFG.of(fn)
    dead = {i for k, block in enumerate(cfg.blocks) if k not in cfg.reachable for i in block}
    ops = [op for i, op in enumerate(fn.ops) if i not in dead]
    taken = {op.name for op in ops if isinstance(op, Label)}
    serial = 0

    def fresh() -> Label:
        nonlocal serial
        while f"bb{serial}_" in taken:
            serial += 1
        taken.add(f"bb{serial}_")
        return Label(f"bb{serial}_")

    out: list = [fresh()]  # the entry: nothing branches to it, so it has no predecessors
    starts_block = True
    for op in ops:
        if starts_block and not isinstance(op, Label) and out and not isinstance(out[-1], Label):
            out.append(fresh())
        out.append(op)
        starts_block = isinstance(op, Op) and (op.op in BRANCHES or op.op == "halt")
    fn.ops = out


def into_ssa(fn: IRFunction, undefined: frozenset = frozenset()) -> None:
    """Convert `fn` (not in SSA form) to pruned SSA form."""
    _prepare(fn)
    cfg = CFG(fn)
    idom = immediate_dominators(cfg)
    frontier = dominance_frontiers(cfg, idom)
    live_in = cfg.live_in()
    written_in: dict[VReg, set[int]] = defaultdict(set)
    for k, block in enumerate(cfg.blocks):
        for i in block:
            if cfg.rw[i][1] is not None:
                written_in[cfg.rw[i][1]].add(k)
    phis: dict[int, list[Phi]] = defaultdict(list)
    original_of: dict[int, VReg] = {}  # id(phi) -> the register it joins
    for reg in sorted(written_in, key=lambda r: r.id):
        placed: set[int] = set()
        work = sorted(written_in[reg])
        while work:
            for join in sorted(frontier[work.pop()]):
                if join not in placed and reg in live_in[join]:
                    placed.add(join)
                    first = next((fn.ops[i].line for i in cfg.blocks[join] if isinstance(fn.ops[i], Op)), None)
                    phi = Phi("phi", d=reg, line=first)
                    phis[join].append(phi)
                    original_of[id(phi)] = reg
                    if join not in written_in[reg]:
                        work.append(join)
    label_of = {k: fn.ops[block[0]] for k, block in enumerate(cfg.blocks)}
    origin: dict[VReg, VReg] = {}
    undefined_versions: dict[VReg, VReg] = {}
    stacks: dict[VReg, list[VReg]] = defaultdict(list)

    def version(reg: VReg) -> VReg:
        new = new_vreg(fn, reg.ty, reg.hint, reg.scope)
        origin[new] = origin.get(reg, reg)
        stacks[reg].append(new)
        return new

    def reaching(reg: VReg) -> VReg:
        if stacks[reg]:
            return stacks[reg][-1]
        if reg not in undefined_versions:
            undefined_versions[reg] = new_vreg(fn, reg.ty, reg.hint, reg.scope)
            origin[undefined_versions[reg]] = reg
        return undefined_versions[reg]

    children = _dominator_children(idom)
    todo: list[tuple[int, bool]] = [(0, True)]
    pushed: dict[int, list[VReg]] = {}
    while todo:  # depth-first over the dominator tree; a block's versions are popped when it is left
        k, entering = todo.pop()
        if not entering:
            for reg in pushed.pop(k):
                stacks[reg].pop()
            continue
        mine: list[VReg] = []
        for phi in phis[k]:
            reg = original_of[id(phi)]
            phi.d = version(reg)
            mine.append(reg)
        for i in cfg.blocks[k]:
            op = fn.ops[i]
            if not isinstance(op, Op):
                continue
            reads, written = cfg.rw[i]
            if reads:
                op.replace_reads({reg: reaching(reg) for reg in reads})
            if written is not None:
                op.d = version(written)
                mine.append(written)
        for s in cfg.succ[k]:
            for phi in phis[s]:
                phi.incoming = phi.incoming + [(label_of[k], reaching(original_of[id(phi)]))]
        pushed[k] = mine
        todo.append((k, False))
        todo.extend((c, True) for c in reversed(children[k]))
    out: list = []
    block_start = {block[0]: k for k, block in enumerate(cfg.blocks)}
    for i, op in enumerate(fn.ops):
        out.append(op)
        if i in block_start:  # (every block starts with its label)
            out.extend(phis[block_start[i]])
    fn.ops = out
    fn.ssa, fn.ssa_origin, fn.ssa_undefined = True, origin, frozenset(undefined_versions.values())


# ----------------------------------------------------------------------------- out of SSA
def _interference(fn: IRFunction, cfg: CFG) -> tuple[dict[VReg, set[VReg]], list[set[VReg]]]:
    """Which registers are live where another is written (SSA liveness: a phi reads its operand at the end
    of that predecessor), and the registers live out of each block."""
    n = len(cfg.blocks)
    label_block = {cfg.ops[block[0]]: k for k, block in enumerate(cfg.blocks)}
    phi_reads_out: list[set[VReg]] = [set() for _ in range(n)]  # operands of successors' phis, per block
    use: list[set[VReg]] = []
    define: list[set[VReg]] = []
    phi_defs: list[set[VReg]] = []
    for k, block in enumerate(cfg.blocks):
        u: set[VReg] = set()
        d: set[VReg] = set()
        pd: set[VReg] = set()
        for i in block:
            op = cfg.ops[i]
            if isinstance(op, Phi):
                pd.add(op.d)
                for label, value in op.incoming:
                    if isinstance(value, VReg):
                        phi_reads_out[label_block[label]].add(value)
                continue
            reads, written = cfg.rw[i]
            u.update(r for r in reads if r not in d and r not in pd)  # (a phi's result is written at the start)
            if written is not None:
                d.add(written)
        use.append(u)
        define.append(d)
        phi_defs.append(pd)
    live_in: list[set[VReg]] = [set() for _ in range(n)]
    live_out: list[set[VReg]] = [set() for _ in range(n)]
    changed = True
    while changed:
        changed = False
        for k in reversed(range(n)):
            out = set(phi_reads_out[k]).union(*[live_in[s] for s in cfg.succ[k]])
            inn = use[k] | (out - define[k] - phi_defs[k])
            if out != live_out[k] or inn != live_in[k]:
                live_out[k], live_in[k], changed = out, inn, True
    edges: dict[VReg, set[VReg]] = defaultdict(set)

    def conflict(reg: VReg, live: set[VReg]) -> None:
        for other in live:
            if other is not reg:
                edges[reg].add(other)
                edges[other].add(reg)

    for k, block in enumerate(cfg.blocks):
        live = set(live_out[k])
        for i in reversed(block):
            op = cfg.ops[i]
            if isinstance(op, Phi):
                continue
            reads, written = cfg.rw[i]
            if written is not None:
                conflict(written, live)
                live.discard(written)
            live.update(reads)
        for reg in phi_defs[k]:  # the phis write together, at the block's start
            conflict(reg, live | phi_defs[k])
    return edges, live_out


class _Classes:
    """Union-find of congruence classes, with each root's members and their interference neighbours."""

    def __init__(self, edges: dict[VReg, set[VReg]]) -> None:
        self.parent: dict[VReg, VReg] = {}
        self.members: dict[VReg, set[VReg]] = {}
        self.neighbours: dict[VReg, set[VReg]] = {}
        self.edges = edges

    def find(self, reg: VReg) -> VReg:
        if reg not in self.parent:
            self.parent[reg] = reg
            self.members[reg] = {reg}
            self.neighbours[reg] = set(self.edges.get(reg, ()))
        while self.parent[reg] is not reg:
            self.parent[reg] = self.parent[self.parent[reg]]
            reg = self.parent[reg]
        return reg

    def try_join(self, a: VReg, b: VReg) -> bool:
        """Merge the classes of a and b unless they interfere or differ in type; whether they are one now."""
        ra, rb = self.find(a), self.find(b)
        if ra is rb:
            return True
        if a.ty != b.ty or self.neighbours[ra] & self.members[rb]:
            return False
        if len(self.members[ra]) < len(self.members[rb]):
            ra, rb = rb, ra
        self.parent[rb] = ra
        self.members[ra] |= self.members.pop(rb)
        self.neighbours[ra] |= self.neighbours.pop(rb)
        return True


def _sequential(copies: list[tuple[VReg, VReg | int]], temporary) -> list[tuple[VReg, VReg | int]]:
    """A parallel copy (every source read before any destination is written) as copies in order; a cycle
    goes through a temporary."""
    pending = {dst: src for dst, src in copies if dst is not src}
    order: list[tuple[VReg, VReg | int]] = []
    while pending:
        sources = {id(src) for src in pending.values()}
        ready = [dst for dst in pending if id(dst) not in sources]
        if ready:
            for dst in ready:
                order.append((dst, pending.pop(dst)))
            continue
        dst = next(iter(pending))  # every destination is still to be read: break the cycle at this one
        saved = temporary(dst)
        order.append((saved, dst))
        pending = {d: (saved if s is dst else s) for d, s in pending.items()}
    return order


def out_of_ssa(fn: IRFunction, undefined: frozenset = frozenset()) -> None:
    """Leave SSA form: coalesce phis into shared registers, copies on the edges where they do not."""
    cfg = CFG.of(fn)
    edges, live_out = _interference(fn, cfg)
    _forget_dead_bindings(fn, cfg, live_out)
    classes = _Classes(edges)
    depth = [0] * len(cfg.blocks)
    for loop in cfg.loops():
        for b in loop.blocks:
            depth[b] += 1
    located = [(k, i, fn.ops[i]) for k, block in enumerate(cfg.blocks) for i in block if isinstance(fn.ops[i], Phi)]
    located.sort(key=lambda item: (-depth[item[0]], item[1]))  # inner loops' phis first: their copies cost most
    for _, _, phi in located:
        for _, value in phi.incoming:
            if isinstance(value, VReg):
                classes.try_join(phi.d, value)
    for reads, written in cfg.rw:
        for reg in reads + ([written] if written is not None else []):
            classes.find(reg)
    origin = fn.ssa_origin
    roots = {classes.find(reg) for reg in list(classes.parent)}
    register: dict[VReg, VReg] = {}  # class root -> the register the class becomes
    claimed: set[VReg] = set()
    # A class holding an undefined version takes its original (reads of which the verifier knows); then
    # bigger classes first. A class of versions of one register becomes that register, unless taken.
    for root in sorted(roots, key=lambda r: (not (classes.members[r] & fn.ssa_undefined), -len(classes.members[r]),
                                             r.id)):
        members = classes.members[root]
        undefined_members = sorted(members & fn.ssa_undefined, key=lambda r: r.id)
        originals = {origin.get(m, m) for m in members}
        if undefined_members:
            wanted = origin.get(undefined_members[0], undefined_members[0])
        else:
            wanted = next(iter(originals)) if len(originals) == 1 else None
        named = sorted({m.hint for m in members if is_variable(m.hint)})
        if (wanted is not None and wanted not in claimed and (undefined_members or not named or is_variable(wanted.hint))
                and (undefined_members or any(m.hint == wanted.hint for m in members))):
            register[root] = wanted
            claimed.add(wanted)
        elif named:  # e.g. `above = <temporary>`, propagated: the variable's name (for the debugger)
            scope = min((m for m in members if m.hint == named[0]), key=lambda m: m.id).scope
            register[root] = new_vreg(fn, root.ty, named[0], scope)
        else:
            register[root] = min(members, key=lambda r: r.id)
    _name_shared_writes(fn, cfg, classes, register)
    rename = {reg: register[classes.find(reg)] for reg in classes.parent}
    fn.rename_rebinds(rename)
    for op in fn.instructions():
        op.replace_reads(rename)
        if op.writes() is not None:
            op.d = rename[op.d]
    _place_copies(fn, cfg)
    fn.ssa, fn.ssa_origin, fn.ssa_undefined = False, {}, frozenset()
    remove_unused_labels(fn)


def _forget_dead_bindings(fn: IRFunction, cfg: CFG, live_out: list[set[VReg]]) -> None:
    """A variable an optimised-away copy left in a register (`Op.rebinds`) is in it only while that register
    is live there: once dead, coalescing may give its register to a later version written before that point
    (`a, d = 3, a` in a loop: `d` bound to the old `a` after the new `a` took its register)."""
    for k, block in enumerate(cfg.blocks):
        live = set(live_out[k])
        label = cfg.ops[block[0]]
        if label in fn.end_rebinds:
            fn.end_rebinds[label] = tuple((var, reg if reg is None or reg in live else None)
                                          for var, reg in fn.end_rebinds[label])
        for i in reversed(block):
            op = cfg.ops[i]
            if isinstance(op, Phi) and op.rebinds:  # (after the block's phis: `live` is what is live there)
                op.rebinds = tuple((var, reg if reg is None or reg in live else None, late)
                                   for var, reg, late in op.rebinds)
            if not isinstance(op, Op) or isinstance(op, Phi):
                continue
            after = set(live)
            reads, written = cfg.rw[i]
            if written is not None:
                live.discard(written)
            live.update(reads)
            if op.rebinds:
                op.rebinds = tuple((var, reg if reg is None or reg in (after if late else live) else None, late)
                                   for var, reg, late in op.rebinds)


def _name_shared_writes(fn: IRFunction, cfg: CFG, classes: _Classes, register: dict[VReg, VReg]) -> None:
    """For the debugger: where a class holds versions of several source variables (`a = v[x]`, then
    `acc = a` and `acc += ...` in a loop: one register, named after one of them), tag each write with the
    variable it gives a value, and each phi's join label with the phi's variable, so that the symbol table
    can tell which variable the register holds at each pc (see debuginfo.symbols)."""
    for root, members in classes.members.items():
        names = {(m.hint, m.scope) for m in members if is_variable(m.hint)}
        # (one variable and temporaries: a constant of an earlier line CSE shared with `d = a`, `a` that
        # constant, is in d's register before the source assigns d; its write is no assignment of d)
        if len(names) < 2 and not (names and any(not is_variable(m.hint) for m in members)):
            continue
        shared = register[root]
        fn.shared_registers.add(shared.id)
        for op in fn.ops:
            if isinstance(op, Op) and op.writes() in members:
                written = op.writes()
                op.var = (written.hint, written.scope) if is_variable(written.hint) else None
        for block in cfg.blocks:
            for i in block:
                phi = fn.ops[i]
                if isinstance(phi, Phi) and phi.d in members and isinstance(fn.ops[block[0]], Label):
                    var = (phi.d.hint, phi.d.scope) if is_variable(phi.d.hint) else None
                    fn.join_names.setdefault(fn.ops[block[0]], {})[shared.id] = var


def _place_copies(fn: IRFunction, cfg: CFG) -> None:
    """Replace the (renamed) phis by copies on the edges whose operand is not in the phi's register."""
    label_block = {cfg.ops[block[0]]: k for k, block in enumerate(cfg.blocks)}
    per_edge: dict[tuple[int, int], list[tuple[VReg, VReg | int]]] = defaultdict(list)
    line_of: dict[tuple[int, int], int | None] = {}
    for s, block in enumerate(cfg.blocks):
        for i in block:
            phi = cfg.ops[i]
            if isinstance(phi, Phi):
                for label, value in phi.incoming:
                    if value is not phi.d:
                        per_edge[(label_block[label], s)].append((phi.d, value))
                        line_of[(label_block[label], s)] = phi.line
    before: dict[int, list] = defaultdict(list)  # op index -> copies to insert before it
    appended: list = []
    for (p, s), copies in sorted(per_edge.items()):
        order = _sequential(copies, lambda reg: new_vreg(fn, reg.ty, "swap_"))
        moves = [Op("mov", d=dst, a=src, line=line_of[(p, s)]) for dst, src in order]
        last_index = cfg.blocks[p][-1]
        last = cfg.ops[last_index]
        branch = last if isinstance(last, Op) and last.op in BRANCHES else None
        join = cfg.ops[cfg.blocks[s][0]]
        clobbers_test = branch is not None and any(r is dst for r in branch.reads() for dst, _ in order)
        if len(cfg.succ[p]) == 1 and not clobbers_test:
            before[cfg.insertion_point(p)].extend(moves)
            continue
        if last_index + 1 == cfg.blocks[s][0] and (branch is None or branch.op != "jmp"):
            before[cfg.blocks[s][0]].extend(moves)  # the fall-through edge: just before the join's label
        if branch is not None and branch.target is join:  # the branch's edge: a block of its own, at the end
            split = Label(f"{join.name}_from{p}_")
            fn.ops[last_index] = Op(branch.op, a=branch.a, target=split, line=branch.line, rebinds=branch.rebinds)
            appended += [split, *(dataclasses.replace(m) for m in moves), Op("jmp", target=join, line=branch.line)]
    ops = []
    pending: tuple = ()  # what removed phis carried for the debugger (`Op.rebinds`): on the next instruction
    # what removed instructions of a block left with none did (`end_rebinds`): before the copies at its end
    end_at = {cfg.insertion_point(k): fn.end_rebinds[cfg.ops[block[0]]] for k, block in enumerate(cfg.blocks)
              if cfg.ops[block[0]] in fn.end_rebinds}
    fn.end_rebinds = {}
    for i, op in enumerate(fn.ops):
        pending += tuple((var, reg, False) for var, reg in end_at.get(i, ()))
        for item in [*before.get(i, ()), op]:
            if isinstance(item, Phi):
                pending += tuple((var, reg, False) for var, reg, _ in item.rebinds)
                continue
            if pending and isinstance(item, Label):  # (past the block: on this path only, so no register)
                pending = tuple((var, None, False) for var, _, _ in pending)
            elif pending:
                item.rebinds, pending = pending + item.rebinds, ()
            ops.append(item)
    ops.extend(before.get(len(fn.ops), ()))  # (what `pending` holds here ran at the very end: nothing to show)
    if appended:
        if not (isinstance(ops[-1], Op) and ops[-1].op in ("jmp", "halt")):
            ops.append(Op("halt"))  # (the front end ends every kernel in halt: never reached)
        ops.extend(appended)
    fn.ops = ops
