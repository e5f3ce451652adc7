"""Clean-up passes: jumps to the next instruction, copy propagation, dead-code elimination."""
from __future__ import annotations

from ..ir import BRANCHES, PURE, IRFunction, Label, Op, Phi, VReg, basic_blocks
from ..debuginfo import carry_bindings, is_variable
from .cfg import CFG, _read_write, rename_registers


def drop_jumps_to_next(fn: IRFunction) -> None:
    """Remove branches whose target is the very next instruction (e.g. the `return` of an inlined call)."""
    drop = set()
    for k, op in enumerate(fn.ops):
        if isinstance(op, Op) and op.op in BRANCHES:
            following = []
            for later in fn.ops[k + 1:]:
                if not isinstance(later, Label):
                    break
                following.append(later)
            if op.target in following:
                drop.add(k)
    if drop:
        carry_bindings(fn, drop)
        fn.ops = [op for k, op in enumerate(fn.ops) if k not in drop]


def copy_propagate(fn: IRFunction, undefined: frozenset = frozenset()) -> None:
    """Read the source of `mov d, a` instead of d: everywhere when both are written only once (a's
    write dominates the move, which dominates every read of d), else within the block until either is
    written again."""
    writes: dict[VReg, int] = {}
    for op in fn.instructions():
        written = op.writes()
        if written is not None:
            writes[written] = writes.get(written, 0) + 1
    alias: dict[VReg, VReg] = {}
    named: dict[VReg, str] = {}  # variables copied from a register
    named_scope: dict[VReg, tuple] = {}
    named_line: dict = {}  # the line of the copy
    copied: list[VReg] = []  # variables read from their copy's source from here on (for the debugger)
    for op in fn.instructions():
        if (op.op == "mov" and isinstance(op.a, VReg) and op.a.ty == op.d.ty and writes.get(op.d) == 1
                and writes.get(op.a) == 1 and op.d not in undefined and op.a not in undefined):
            alias[op.d] = op.a
            if is_variable(op.d.hint):
                copied.append(op.d)
            if fn.ssa and is_variable(op.d.hint):
                named[op.d] = op.d.hint
                named_scope[op.d] = op.d.scope
                named_line[op.d] = op.line
        elif isinstance(op, Phi):  # in SSA form: a phi of one value (besides itself) is a copy of it
            values = {id(v): v for _, v in op.incoming if v is not op.d}
            (only,) = values.values() if len(values) == 1 else (None,)
            if isinstance(only, VReg) and only.ty == op.d.ty:
                alias[op.d] = only
    for reg, source in list(alias.items()):  # chains of copies: read the first source
        seen = {reg}
        while source in alias and source not in seen:  # (a cycle can only be unreachable code)
            seen.add(source)
            source = alias[source]
        alias[reg] = source
    if alias:
        for op in fn.instructions():
            op.replace_reads(alias)
        fn.rename_rebinds(alias)
    for reg in copied:  # `b = prev` propagated: b has no register of its own (the debugger says whose it reads)
        source = alias[reg]
        if is_variable(source.hint) and (source.hint, source.scope) != (reg.hint, reg.scope):
            key, value = (reg.hint, reg.scope), (reg.ty, source.hint, source.scope)
            fn.folded_copies[key] = value if fn.folded_copies.get(key, value) == value else None
    # in SSA form, `above = <temporary>` propagated: the temporary takes the name (the debugger finds `above`),
    # where the statement computed it; a temporary of an earlier line (a constant shared with `c = 3`) would
    # show the name before the source assigns it: the copy's binding (debuginfo) names it from the copy on
    def_line = {op.d: op.line for op in fn.instructions() if op.writes() is not None}
    named = {reg: hint for reg, hint in named.items() if def_line.get(alias[reg]) == named_line[reg]}
    scopes = {alias[reg]: named_scope[reg] for reg in named if not is_variable(alias[reg].hint)}
    named = {alias[reg]: hint for reg, hint in named.items() if not is_variable(alias[reg].hint)}
    if named:
        rename_registers(fn, named, scopes)
    for block in basic_blocks(fn.ops):
        copies: dict[VReg, VReg] = {}
        # the copies of each source: a write to it ends them without scanning every copy (which made a block
        # of many copies, a long tuple's, quadratic)
        copies_of: dict[VReg, set[VReg]] = {}
        for i in block:
            op = fn.ops[i]
            if not isinstance(op, Op):
                continue
            op.replace_reads(copies)
            written = op.writes()
            if written is not None:
                if written in copies:
                    copies_of[copies.pop(written)].discard(written)
                for copy in copies_of.pop(written, ()):
                    del copies[copy]
                if op.op == "mov" and isinstance(op.a, VReg) and op.a is not written and op.a.ty == written.ty:
                    copies[written] = op.a
                    copies_of.setdefault(op.a, set()).add(written)


def eliminate_dead_code(fn: IRFunction) -> None:
    """Drop pure instructions (and phis) whose result no instruction reads (repeated until nothing changes;
    a phi read only by itself goes too, and so does a counter read only by its own steps, `addi k, k, 32`,
    as bounds-check elimination leaves one)."""
    while True:
        rw = _read_write(fn)
        read = {r for op, (reads, written) in zip(fn.ops, rw) for r in reads
                if not ((isinstance(op, Phi) or op.op in PURE) and r is written)}
        drop = {i for i, (op, (_, written)) in enumerate(zip(fn.ops, rw))
                if isinstance(op, Op) and ((op.op in PURE or isinstance(op, Phi)) and written is not None
                                           and written not in read or op.op == "mov" and op.d is op.a)}
        if not drop:
            return
        carry_bindings(fn, drop)  # a removed assignment still ends what an older register of the variable held
        fn.ops = [op for i, op in enumerate(fn.ops) if i not in drop]


#: Pure ops that read memory: moved down past a store (`t = buf[j]; buf[j] = 1; v = t`), a load would read
#: what the store wrote (found by tests/test_compiler_fuzz_control.py).
_NOT_SUNK = {"ld"}


def coalesce_moves(fn: IRFunction) -> None:
    """`t = op ...; mov v, t` in one block, t read by nothing else: the op writes v itself.

    The front end computes `v += x` as a temporary and a move; written directly, `v` becomes a plain
    induction variable (`addi v, v, k`) that strength reduction and bounds-check elimination recognise.
    Nothing between the two may write `v`; if something reads it, the (pure) op moves down to the
    move's place instead, provided nothing in between writes its operands (a load never moves: something in
    between may store to its address).
    """
    readers: dict[VReg, int] = {}
    writers: dict[VReg, int] = {}
    for op in fn.instructions():
        for reg in op.reads():
            readers[reg] = readers.get(reg, 0) + 1
        if op.writes() is not None:
            writers[op.writes()] = writers.get(op.writes(), 0) + 1
    for block in basic_blocks(fn.ops):
        pending: dict[VReg, int] = {}  # single-definition temporary -> index of the op writing it
        for i in block:
            op = fn.ops[i]
            if not isinstance(op, Op):
                continue
            if (op.op == "mov" and isinstance(op.a, VReg) and op.a in pending and readers.get(op.a) == 1
                    and op.a.ty == op.d.ty and op.d is not op.a):
                start = pending[op.a]
                target = op.d
                # (a block's indices are consecutive: slicing, not scanning the block, keeps a long
                # straight-line run linear)
                between = [b for b in fn.ops[start + 1:i] if isinstance(b, Op)]
                written_between = {b.writes() for b in between} - {None}
                producer = fn.ops[start]
                if target in written_between:
                    pass
                elif all(target not in b.reads() for b in between):
                    pending.pop(op.a)
                    producer.d = target
                    op.a = target  # now `mov v, v`: dead-code elimination drops it
                    continue
                elif (producer.op in PURE and producer.op not in _NOT_SUNK
                      and not written_between & set(producer.reads())):
                    # v is still read in between: compute the new value where the move was instead
                    pending.pop(op.a)
                    fn.ops[start] = None  # removed below (a placeholder would read a register nothing writes)
                    producer.d = target
                    fn.ops[i] = producer
                    continue
            written = op.writes()
            if written is not None:
                pending.pop(written, None)  # (registers compare by identity; a rebuilt dict made long blocks quadratic)
                if writers.get(written) == 1:
                    pending[written] = i
    fn.ops = [op for op in fn.ops if op is not None]


def remove_unused_labels(fn: IRFunction) -> None:
    """Drop labels no branch targets (e.g. the `continue` point of an unrolled loop), merging the
    straight-line blocks on either side so that block-local passes see the whole run."""
    targets = {op.target for op in fn.instructions() if op.op in BRANCHES}
    fn.ops = [op for op in fn.ops if not isinstance(op, Label) or op in targets]


def eliminate_dead_writes(fn: IRFunction) -> None:
    """Drop pure instructions whose result is overwritten (or never read) before any read: the register
    is not live after them. Catches what whole-function DCE cannot: a register written many times."""
    cfg = CFG.of(fn)
    live_in = cfg.live_in()
    dead: set[int] = set()
    for k, block in enumerate(cfg.blocks):
        live = set().union(*[live_in[s] for s in cfg.succ[k]]) if cfg.succ[k] else set()
        for i in reversed(block):
            reads, written = cfg.rw[i]
            op = fn.ops[i]
            if written is not None and op.op in PURE and written not in live:
                dead.add(i)
                continue
            if written is not None:
                live.discard(written)
            live.update(reads)
    if dead:
        carry_bindings(fn, dead)
        fn.ops = [op for i, op in enumerate(fn.ops) if i not in dead]
