"""Debug information: where each kernel variable and local array lives at each instruction.

The back end calls `symbols` once the program is assembled. A variable is its virtual register (the one
the front end named after it); it is reported at a pc only where that register is *live* (some path
from there reads it before writing it). There the register, or its spill slot, holds exactly the value
the rest of the program uses; elsewhere its register may already hold another value, or a write the
optimiser removed as dead would make the old value wrong, so the variable is left out rather than
shown stale (like a debugger's "optimised out"). It is also reported only until the source assigns the
variable again (`variable_bindings`): passes that remove or move an assignment leave its mark on a
neighbouring op (`carry_bindings`, `Op.rebinds`), since the old register may stay live as another
variable's value (`c, a = a, 7`); a copy folded into another register (`b = prev`) is reported from that
register. Local arrays live at fixed SRAM words for the whole program. Names bound to compile-time
constants have no storage and are not listed.
"""
from __future__ import annotations

from ..isa.assembler import Symbol
from .ir import IRFunction, Label, Op, Phi, VReg, basic_blocks

#: Hints the front end gives temporaries (not source variables); other internal hints end in "_".
INTERNAL_HINTS = frozenset({"chain", "bool", "sel", "ret"})


def is_variable(hint: str) -> bool:
    """Whether a register hint names a source variable (not a temporary, a shape or a derived value)."""
    return (hint.isidentifier() and not hint.endswith("_") and not hint.endswith("_sr")
            and hint not in INTERNAL_HINTS)


def op_liveness(fn: IRFunction, wanted: set[VReg]) -> tuple[list[frozenset], list[frozenset]]:
    """The registers of `wanted` live into and out of every op (index into `fn.ops`)."""
    from .backend import block_liveness

    blocks, _, live_out = block_liveness(fn)
    before: list[frozenset] = [frozenset()] * len(fn.ops)
    after: list[frozenset] = [frozenset()] * len(fn.ops)
    for k, block in enumerate(blocks):
        live = {reg for reg in live_out[k] if reg in wanted}
        current = frozenset(live)  # (shared by the ops that leave `live` as it is: `symbols` goes by identity)
        for i in reversed(block):
            op = fn.ops[i]
            after[i] = current
            if isinstance(op, Op):
                written = op.writes()
                read = {reg for reg in op.reads() if reg in wanted}
                if read or written in live:
                    live.discard(written)
                    live |= read
                    current = frozenset(live)
            before[i] = current
    return before, after


_UNKNOWN = ("", ())  # a write whose variable is not known (a temporary's value, or made by a later pass)


def written_variable(fn: IRFunction, op: Op) -> tuple | None:
    """The source variable (name, scope) whose value `op` writes; None for a temporary's (or no write)."""
    written = op.writes()
    if written is None or isinstance(op, Phi):  # (a phi's variable: the join of the bindings reaching it)
        return None
    if written.id in fn.shared_registers:
        return op.var
    return (written.hint, written.scope) if is_variable(written.hint) else None


def carry_bindings(fn: IRFunction, drop: set[int], bound: dict[int, VReg] | None = None) -> None:
    """Before a pass removes (or moves away) the ops at the indices `drop`: record what each did to the
    source variables on the next op kept in its basic block (or the last one kept before it), as
    `Op.rebinds` (a block left with none: the next block's first, with no register). `a = x + 3;
    c, a = a, 7` leaves `a`'s first register live (it is `c` now) past the folded `a = 7`: without the
    record the debugger would show it as `a`. The variable is then in no
    register, except after a copy (`mov d, a` dropped: its readers read `a`) and where `bound` gives the
    register a dropped op's variable is in from there on (the earlier result common-subexpression
    elimination reads instead, a hoisted invariant that keeps its register)."""
    bound = bound or {}
    carry: list[tuple] = []
    for block in basic_blocks(fn.ops):
        # a block left without instructions falls through to the next: what it did happens before that
        # block's first instruction, on this path only: there, no register is known to hold the variable
        carry = [(var, None) for var, _ in carry]
        last_kept: Op | None = None
        for i in block:
            op = fn.ops[i]
            if not isinstance(op, Op):
                continue
            if isinstance(op, Phi) and i not in drop:
                last_kept = op  # (only what comes after it: out of SSA `unssa` moves it to the block's copies)
                continue
            if i in drop:
                var = written_variable(fn, op)
                carry += [(v, reg) for v, reg, after in op.rebinds if not after]
                if var is not None:
                    copied = op.a if op.op == "mov" and isinstance(op.a, VReg) else None
                    carry.append((var, bound.get(i, copied)))
                carry += [(v, reg) for v, reg, after in op.rebinds if after]
                continue
            if carry:  # they ran before this op, and before what earlier dropped ops left on it
                op.rebinds = tuple((v, reg, False) for v, reg in carry) + op.rebinds
                carry = []
            last_kept = op
        if carry and last_kept is not None:
            last_kept.rebinds = last_kept.rebinds + tuple((v, reg, True) for v, reg in carry)
            carry = []
        elif carry and fn.ssa and isinstance(fn.ops[block[0]], Label):  # (out of SSA its phis' copies go here)
            label = fn.ops[block[0]]
            fn.end_rebinds[label] = fn.end_rebinds.get(label, ()) + tuple(carry)
            carry = []


#: in `variable_bindings`: a path on which the variable has not been assigned yet
UNASSIGNED = "unassigned"


def variable_bindings(fn: IRFunction) -> tuple[list[dict], list[dict]]:
    """For each op, before its instruction and after it: which register (by id; None: none, the value was
    folded away; `UNASSIGNED`: not assigned yet) each source variable's last assignment left it in, over
    every path that reaches there (a forward dataflow). A register is that variable only where this is
    that register: past a later assignment the register may still be live as another variable's value (a
    copy the optimiser folded), no longer as this one's."""
    from .passes.cfg import CFG

    ops = fn.ops
    before: list[dict] = [{}] * len(ops)
    after: list[dict] = [{}] * len(ops)
    if not ops:
        return before, after
    cfg = CFG(fn)
    exits: list[dict | None] = [None] * len(cfg.blocks)
    start = {var: frozenset({UNASSIGNED}) for op in fn.instructions()
             for var in [written_variable(fn, op), *(v for v, _, _ in op.rebinds)] if var is not None}
    # What each op does to the bindings, worked out once (the dataflow goes over the ops several times):
    # (bindings before its instruction, the register id it writes or None, its variable, bindings after);
    # and per register id the variables anything binds to it: only those can lose it to a write of it
    single: dict = {}  # id -> frozenset({id}), one per id (a binding's value)

    def one(reg: VReg | int | None) -> frozenset:
        key = reg.id if isinstance(reg, VReg) else reg
        value = single.get(key)
        if value is None:
            value = single[key] = frozenset({key})
        return value

    holders: dict = {}
    steps: list[tuple | None] = [None] * len(ops)
    for i, op in enumerate(ops):
        if not isinstance(op, Op):
            continue
        early = tuple((var, one(reg)) for var, reg, late in op.rebinds if not late)
        late = tuple((var, one(reg)) for var, reg, late in op.rebinds if late)
        written, var = op.writes(), None
        if written is not None and not isinstance(op, Phi):
            var = written_variable(fn, op)
            written = written.id
        else:
            written = None
        steps[i] = (early, written, var, late, one(written) if var is not None else None)
        for bound_var, regs in (*early, *late):
            holders.setdefault(next(iter(regs)), set()).add(bound_var)
        if var is not None:
            holders.setdefault(written, set()).add(var)
    for names in fn.join_names.values():
        for reg, var in names.items():
            if var is not None:
                holders.setdefault(reg, set()).add(var)

    changed = True
    while changed:  # (sets only grow, so this ends)
        changed = False
        for k, block in enumerate(cfg.blocks):
            state: dict = dict(start) if k == 0 else {}
            for p in cfg.pred[k]:
                if not state and exits[p]:  # (the first predecessor's bindings: as they are)
                    state = dict(exits[p])
                    continue
                for var, regs in (exits[p] or {}).items():
                    known = state.get(var)
                    if known is None:
                        state[var] = regs
                    elif known is not regs:
                        state[var] = known | regs
            first = ops[block[0]]
            if isinstance(first, Label):
                for reg, var in fn.join_names.get(first, {}).items():
                    if var is not None:
                        state[var] = one(reg)
            # `state` is recorded for an op as it is (never changed after): copied before it changes again
            recorded = False
            for i in block:
                step = steps[i]
                if step is None:
                    before[i] = after[i] = state
                    recorded = True
                    continue
                early, written, var, late, value = step
                if early:
                    if recorded:
                        state, recorded = dict(state), False
                    for bound_var, regs in early:
                        state[bound_var] = regs
                before[i] = state
                recorded = True
                if written is not None:
                    for other in holders.get(written, ()):  # the register no longer holds them
                        regs = state.get(other)
                        if regs is not None and written in regs and other != var:
                            if recorded:
                                state, recorded = dict(state), False
                            state[other] = (regs - {written}) | {None}
                    if var is not None:
                        if recorded:
                            state, recorded = dict(state), False
                        state[var] = value
                if late:
                    if recorded:
                        state, recorded = dict(state), False
                    for bound_var, regs in late:
                        state[bound_var] = regs
                after[i] = state
                recorded = True
            if state != exits[k]:
                exits[k], changed = state, True
    return before, after


def shared_names(fn: IRFunction) -> tuple[list[dict[int, frozenset]], list[dict[int, frozenset]]]:
    """For each op (index into `fn.ops`), before and after it: which variables' writes reach it in each
    register of `fn.shared_registers` (by id), a forward dataflow over the blocks. Where a register holds
    several variables one after another, only a pc reached by writes of one variable alone (or the join of
    its phi) can name what it holds; elsewhere it is left out, as a dead variable is."""
    from .passes.cfg import CFG

    shared = fn.shared_registers
    before: list[dict[int, frozenset]] = [{}] * len(fn.ops)
    after: list[dict[int, frozenset]] = [{}] * len(fn.ops)
    if not shared or not fn.ops:
        return before, after
    cfg = CFG(fn)
    exits: list[dict[int, frozenset] | None] = [None] * len(cfg.blocks)
    changed = True
    while changed:  # (sets only grow, so this ends)
        changed = False
        for k, block in enumerate(cfg.blocks):
            state: dict[int, frozenset] = {}
            for p in cfg.pred[k]:
                for reg, names in (exits[p] or {}).items():
                    state[reg] = state.get(reg, frozenset()) | names
            first = fn.ops[block[0]]
            if isinstance(first, Label):
                for reg, var in fn.join_names.get(first, {}).items():
                    state[reg] = frozenset({var or _UNKNOWN})
            for i in block:  # (an op that writes no shared register shares the dict: never changed after)
                op = fn.ops[i]
                before[i] = state
                written = op.writes() if isinstance(op, Op) else None
                if written is not None and written.id in shared:
                    state = dict(state)
                    state[written.id] = frozenset({op.var or _UNKNOWN})
                after[i] = state
            if state != exits[k]:
                exits[k], changed = state, True
    return before, after


def symbols(fn: IRFunction, registers: dict[VReg, int], spills: dict[VReg, int], spill_base: int,
            local_base: int, pc_owner: list[tuple[int, int, bool]], code_words: int) -> tuple[Symbol, ...]:
    """The symbol table of a kernel.

    `pc_owner` lists (pc, op index, after) for every instruction in address order: which IR op it was
    emitted for, and whether it comes after that op's own instruction (a spill store), where the op's
    result is in its scratch register but not yet in its spill slot."""
    stored = {*registers, *spills}
    variables = {reg for reg in stored if is_variable(reg.hint)}
    # registers a folded copy left a variable in (`b = a` read from a's register, `q = helper(...)` from
    # the helper's result): listed under that variable too, where the bindings say it is there
    variables |= {reg for op in fn.instructions() for _, reg, _ in op.rebinds if reg in stored}
    pointers = {reg.hint[: -len("_n0_")] for reg in (*registers, *spills) if reg.hint.endswith("_n0_")}
    before, after = op_liveness(fn, variables)
    names_before, names_after = shared_names(fn)
    bound_before, bound_after = variable_bindings(fn)
    # [start, end) pcs where each register holds a variable: (register, name, scope) -> runs; a shared
    # register is listed under the variable whose writes alone reach the pc
    runs: dict[tuple[VReg, str, tuple], list[list[int]]] = {}
    bounds = [pc for pc, _, _ in pc_owner[1:]] + [code_words]
    # The runs keys at a pc depend only on the live registers, the bindings and (for a shared register) the
    # names reaching it; ops that change none of them share those objects (`op_liveness`, `shared_names`,
    # `variable_bindings`), so the keys are worked out once per combination (by id(): all of them are kept
    # alive in the lists above) and a stretch of pcs with the same keys is one run for each
    per_bound: dict[int, dict[int, list[tuple]]] = {}  # id(bindings) -> register id -> variables bound to it alone
    keys_at: dict[tuple[int, int, int], list[tuple]] = {}
    shared_ids = fn.shared_registers

    own: dict[VReg, tuple] = {}  # register -> (its variable's key or None, {its id}): the same at every pc
    unassigned = frozenset({UNASSIGNED})

    def keys_for(live: frozenset, bound: dict, reaching: dict) -> list[tuple]:
        copies = per_bound.get(id(bound))
        if copies is None:
            copies = per_bound[id(bound)] = {}  # register id -> the variables bound to it alone, on every path
            for var, regs in bound.items():
                if len(regs) == 1 and None not in regs and UNASSIGNED not in regs:
                    copies.setdefault(next(iter(regs)), []).append(var)
        keys = []
        for reg in live:
            if reg.id in shared_ids:
                names = []
                held = reaching.get(reg.id, frozenset())
                if len(held) == 1 and _UNKNOWN not in held:
                    ((name, scope),) = held
                    names.append((name, scope))
                # (as below)
                names = [var for var in names if bound.get(var, frozenset({reg.id})) - {UNASSIGNED} == {reg.id}]
                names += [var for var in copies.get(reg.id, ()) if var not in names]
                keys += [(reg, name, scope) for name, scope in names]
                continue
            mine = own.get(reg)
            if mine is None:
                mine = own[reg] = ((reg, reg.hint, reg.scope) if is_variable(reg.hint) else None, frozenset({reg.id}))
            key, alone = mine
            # past a later assignment of the variable the register may still be live as another variable's
            # value (a copy the optimiser folded), no longer as this one's
            # (a variable that some paths have not assigned yet is shown from its own register, as before)
            if key is not None:
                regs = bound.get(key[1:])
                if not (regs is None or regs == alone or regs - unassigned == alone):
                    key = None
            others = copies.get(reg.id)
            if key is not None:
                keys.append(key)
            if others:
                keys += [(reg, *var) for var in others if key is None or var != key[1:]]
        return keys

    def add_run(keys: list[tuple], start: int, end: int) -> None:
        for key in keys:
            spans = runs.get(key)
            if spans is None:
                runs[key] = [[start, end]]
            elif spans[-1][1] == start:
                spans[-1][1] = end
            else:
                spans.append([start, end])

    group: list[tuple] | None = None  # the keys of the stretch of pcs from group_start on
    group_start = 0
    for (pc, k, past), end in zip(pc_owner, bounds):
        reaching = names_after[k] if past else names_before[k]
        bound = bound_after[k] if past else bound_before[k]
        written = fn.ops[k].writes() if past else None
        if past and written in spills:  # (a fresh set: not kept, so not looked up by id)
            keys = keys_for(after[k] - {written}, bound, reaching)
        else:
            live = after[k] if past else before[k]
            at = (id(live), id(bound), id(reaching) if shared_ids else 0)
            keys = keys_at.get(at)
            if keys is None:
                keys = keys_at[at] = keys_for(live, bound, reaching)
        if keys is not group:
            if group:
                add_run(group, group_start, pc)
            group, group_start = keys, pc
    if group:
        add_run(group, group_start, code_words)
    table = []
    for reg, name, scope in sorted(runs, key=lambda r: (r[1], r[0].id)):
        dtype = "ptr" if name in pointers else reg.ty
        where = ("reg", registers[reg]) if reg in registers else ("spill", spill_base + spills[reg])
        table.append(Symbol(name, dtype, *where, tuple((s, e) for s, e in runs[(reg, name, scope)]), (), scope))
    held = {(sym.name, sym.scope) for sym in table}
    for (name, scope), copied in fn.folded_copies.items():
        if copied is not None and (name, scope) not in held:
            ty, source, source_scope = copied
            table.append(Symbol(name, ty, "copy", 0, (), (), scope, (source, source_scope)))
    offset = local_base
    for name, words, shape, *dtype in fn.local_arrays:  # (an entry without its dtype is left out)
        if dtype:
            table.append(Symbol(name, dtype[0], "sram", offset, ((0, code_words),), tuple(shape)))
        offset += words
    return tuple(table)
