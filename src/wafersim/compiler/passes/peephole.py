"""Immediate forms and address folding: constants move into the instruction that uses them.

- `li k; add d, a, k` becomes `addi d, a, k` (likewise sub, mul, and, or, xor, shifts, slt, seq) when
  the constant fits the 14-bit signed immediate and the `li` is the register's only definition;
- within a block, `addi t, a, k1` followed by `addi u, t, k2`, or by a load/store at `t + imm`, uses
  `a` directly with the offsets added (as long as neither `a` nor `t` was written in between), so
  `a[i + 1]` costs one `ld` from the address of `a[i]` plus one, not an add and a load.

SRAM addresses of local arrays are fixed only at layout (`reloc`): they fold like numbers, but an
instruction can carry at most one such relocation.
"""
from __future__ import annotations

from ...isa.opcodes import IMM_MAX, IMM_MIN
from ..ir import IRFunction, Label, Op, Phi, VReg, basic_blocks
from .cfg import definitions

#: register form -> (immediate form, commutative)
_IMMEDIATE_FORMS = {"add": ("addi", True), "mul": ("muli", True), "and": ("andi", True), "or": ("ori", True),
                    "xor": ("xori", True), "shl": ("shli", False), "shr": ("shri", False), "sra": ("srai", False),
                    "slt": ("slti", False), "seq": ("seqi", True), "sub": ("addi", False)}
#: Instructions addressing memory at register + imm.
_ADDRESSED = {"ld", "st", "gld", "gst"}


def use_immediate_forms(fn: IRFunction, undefined: frozenset = frozenset()) -> None:
    """Replace register operands holding small constants by immediate forms."""
    defs = definitions(fn)
    constants: dict[VReg, Op] = {}
    for reg, where in defs.items():
        op = fn.ops[where[0]]
        if len(where) == 1 and op.op == "li" and reg.ty == "i32" and reg not in undefined:
            constants[reg] = op
    for k, op in enumerate(fn.ops):
        if not isinstance(op, Op) or op.op not in _IMMEDIATE_FORMS:
            continue
        form, commutative = _IMMEDIATE_FORMS[op.op]
        pairs = [(op.a, op.b)] + ([(op.b, op.a)] if commutative else [])
        for register, constant in pairs:
            li = constants.get(constant) if isinstance(constant, VReg) else None
            if li is None or not isinstance(register, VReg):
                continue
            value = -li.imm if op.op == "sub" else li.imm
            if li.reloc is not None:  # an SRAM address: only an add can carry it (wide ones are split at emission)
                if op.op != "add":
                    continue
            elif not IMM_MIN <= value <= IMM_MAX:
                continue
            fn.ops[k] = Op(form, d=op.d, a=register, imm=value, line=op.line, reloc=li.reloc, rebinds=op.rebinds)
            break


def fold_address_offsets(fn: IRFunction) -> None:
    """Within blocks, fold `addi`/`li` offsets into later `addi`s, `li`s and load/store immediates."""
    for block in basic_blocks(fn.ops):
        offsets: dict[VReg, tuple[VReg | int, int, str | None]] = {}  # t -> (base, offset, reloc): t = base + offset
        for i in block:
            op = fn.ops[i]
            if not isinstance(op, Op):
                continue
            if op.op in _ADDRESSED or op.op == "addi":
                known = offsets.get(op.a) if isinstance(op.a, VReg) else None
                if known is not None and (known[2] is None or op.reloc is None):
                    base, offset, reloc = known
                    op.a, op.imm, op.reloc = base, op.imm + offset, op.reloc or reloc
                    if op.op == "addi" and base == 0:
                        fn.ops[i] = op = Op("li", d=op.d, imm=op.imm, line=op.line, reloc=op.reloc, rebinds=op.rebinds)
            written = op.writes()
            if written is None:
                continue
            offsets = {t: v for t, v in offsets.items() if t is not written and v[0] is not written}
            if op.op == "addi" and op.a is not written:
                offsets[written] = (op.a, op.imm, op.reloc)
            elif op.op == "li" and written.ty == "i32":
                offsets[written] = (0, op.imm, op.reloc)


def _wrap(value: int) -> int:
    """int32 two's-complement wrap, as the machine's integer arithmetic."""
    return (value + (1 << 31)) % (1 << 32) - (1 << 31)


_FOLD_IMMEDIATE = {"addi": lambda a, k: a + k, "muli": lambda a, k: a * k, "andi": lambda a, k: a & k,
                   "ori": lambda a, k: a | k, "xori": lambda a, k: a ^ k, "shli": lambda a, k: a << (k & 31),
                   "slti": lambda a, k: int(a < k), "seqi": lambda a, k: int(a == k)}
_FOLD_REGISTER = {"add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
                  "min": min, "max": max, "slt": lambda a, b: int(a < b), "sle": lambda a, b: int(a <= b),
                  "seq": lambda a, b: int(a == b), "sne": lambda a, b: int(a != b)}


def propagate_constants(fn: IRFunction) -> None:
    """Compute integer operations on registers of known value at compile time.

    A register holds a known value after a plain `li` until it is written otherwise; at a join, the
    values all predecessors agree on (forward dataflow over the blocks). Ops whose operands are all
    known become `li` of the result, a `sel` of a known condition the operand it picks, and loads/stores
    at a known address use r0 + immediate; a bounds check (`chk`) of known operands that passes is
    dropped. Chiefly for unrolled loops, whose counters are constants in each copy. In SSA form a phi is
    known when the predecessors reached so far give it the same value (optimistic, as in Wegman and
    Zadeck's SCCP)."""
    from .cfg import CFG

    cfg = CFG.of(fn)
    n = len(cfg.blocks)
    out: list[dict | None] = [None] * n  # None: not reached yet

    def entry(k: int) -> dict:
        if k == 0:
            return {}
        states = [out[p] for p in cfg.pred[k] if p in cfg.reachable]
        if any(st is None for st in states) and not all(st is None for st in states):
            states = [st for st in states if st is not None]  # optimistic: unreached predecessors agree
        if not states or any(st is None for st in states):
            return {}
        if len(states) == 1:
            return states[0]  # (`_transfer` copies it before changing it)
        # the (register, value) pairs all agree on (values are ints), intersected as sets: a join in SSA form
        # carries every constant of the function so far (a comprehension over them was ~9% of a compile)
        common = states[0].items() & states[1].items()
        for st in states[2:]:
            common &= st.items()
        return dict(common)

    label_block = {fn.ops[block[0]]: k for k, block in enumerate(cfg.blocks) if isinstance(fn.ops[block[0]], Label)}

    def phi_value(phi: Phi) -> int | None:
        """In SSA form: the value every reached predecessor gives the phi, when they agree."""
        values = set()
        for label, value in phi.incoming:
            state = out[label_block[label]]
            if state is None:
                continue  # not reached yet (optimistic)
            values.add(state.get(value) if isinstance(value, VReg) else value)
        return values.pop() if len(values) == 1 and None not in values else None

    changed = True
    while changed:  # find the states (no rewriting yet)
        changed = False
        for k in sorted(cfg.reachable):
            if k != 0 and all(out[p] is None for p in cfg.pred[k]):
                continue  # no predecessor reached yet: nothing to say (optimistic)
            state = _transfer(fn, cfg.blocks[k], entry(k), False, phi_value)
            if state != out[k]:
                out[k], changed = state, True
    passed: set[int] = set()  # bounds checks of known operands that pass: no-ops
    for k in sorted(cfg.reachable):
        _transfer(fn, cfg.blocks[k], entry(k), True, phi_value, passed)
    if passed:
        fn.ops = [op for i, op in enumerate(fn.ops) if i not in passed]


def _transfer(fn: IRFunction, block: list[int], known: dict, rewrite: bool, phi_value,
              passed: set[int] | None = None) -> dict:
    known = dict(known)
    # within this block: t -> (base, k) where t = base + k (an `addi` of an unknown register), so that the
    # difference of two such registers of one base is known (a slice `x[s:s + n]`'s length, n a constant)
    sums: dict[VReg, tuple[VReg, int]] = {}

    def as_sum(reg) -> tuple | None:
        return sums.get(reg, (reg, 0)) if isinstance(reg, VReg) and reg.ty == "i32" else None

    for i in block:
        op = fn.ops[i]
        if isinstance(op, Phi):
            known.pop(op.d, None)
            value = phi_value(op) if op.d.ty == "i32" else None
            if value is not None:
                known[op.d] = value  # (the phi stays: the instructions reading it fold)
            continue
        if not isinstance(op, Op):
            continue
        value = None
        a = known.get(op.a) if isinstance(op.a, VReg) else (0 if op.a == 0 else None)
        b = known.get(op.b) if isinstance(op.b, VReg) else (0 if op.b == 0 else None)
        if rewrite and op.op == "addi" and op.reloc is not None and a is not None:
            # known + an SRAM address: an address `li` (fixed at layout); the result is not a number
            fn.ops[i] = op = Op("li", d=op.d, imm=op.imm + a, line=op.line, reloc=op.reloc, rebinds=op.rebinds)
        elif op.op in _FOLD_IMMEDIATE and op.reloc is None and a is not None:
            value = _FOLD_IMMEDIATE[op.op](a, op.imm)
        elif op.op in _FOLD_REGISTER and a is not None and b is not None:
            value = _FOLD_REGISTER[op.op](a, b)
        elif op.op in _SAME_BASE and (x := as_sum(op.a)) is not None and (y := as_sum(op.b)) is not None \
                and x[0] is y[0]:
            value = _SAME_BASE[op.op](x[1], y[1])
        elif rewrite and op.op in _IMMEDIATE_FORMS and (immediate := _immediate_form(op, a, b)) is not None:
            fn.ops[i] = op = immediate  # an unrolled copy's constant operand (its counter): `addi`, not `li`+`add`
        elif op.op == "mov" and a is not None and op.d.ty == "i32":
            value = a
        elif op.op == "sel" and a is not None:
            # a known condition picks one operand (a range's saturated limit, a conditional expression of
            # constants): a known i32 becomes a `li`, a register a `mov` that copy propagation removes
            chosen = op.b if a != 0 else op.c
            value = (known.get(chosen) if isinstance(chosen, VReg) else 0 if chosen == 0 else None) \
                if op.d.ty == "i32" else None
            if rewrite and value is None and isinstance(chosen, VReg):
                fn.ops[i] = op = Op("mov", d=op.d, a=chosen, line=op.line, rebinds=op.rebinds)
        elif rewrite and op.op in _ADDRESSED and isinstance(op.a, VReg) and a is not None:
            op.a, op.imm = 0, op.imm + a
        elif op.op == "chk" and passed is not None and a is not None and b is not None and 0 <= a < b:
            passed.add(i)  # (an unrolled loop's counter: a constant index into an array of known extent)
        written = op.writes()
        if value is not None:
            value = _wrap(value)
            if rewrite:
                fn.ops[i] = Op("li", d=written, imm=value, line=op.line, rebinds=op.rebinds)
        elif op.op == "li" and op.reloc is None and written is not None and written.ty == "i32":
            value = _wrap(op.imm)  # the register holds 32 bits, whatever number the li was given
        if written is not None:
            known.pop(written, None)
            if value is not None:
                known[written] = value
            if sums:
                sums = {t: v for t, v in sums.items() if t is not written and v[0] is not written}
            if value is None and op.op == "addi" and op.reloc is None and written.ty == "i32" \
                    and (base := as_sum(op.a)) is not None and base[0] is not written:
                sums[written] = (base[0], base[1] + op.imm)
    return known


#: immediate forms that leave their register as it is when the immediate is 0
_IDENTITY_AT_ZERO = {"addi", "ori", "xori", "shli", "shri", "srai"}
#: (x + j) op (x + k) of one base x, known whatever x is (int32 wrap-around does not change a difference)
_SAME_BASE = {"sub": lambda j, k: j - k, "seq": lambda j, k: int(j == k), "sne": lambda j, k: int(j != k)}


def _immediate_form(op: Op, a: int | None, b: int | None) -> Op | None:
    """`op` (a register form of `_IMMEDIATE_FORMS`) with its known operand as an immediate, or None: the
    dataflow counterpart of `use_immediate_forms`, for constants that are not a register's only definition
    (the copies of an unrolled loop each set the counter's register to their own value)."""
    form, commutative = _IMMEDIATE_FORMS[op.op]
    if b is not None and a is None and isinstance(op.a, VReg):
        register, value = op.a, (-b if op.op == "sub" else b)
    elif commutative and a is not None and b is None and isinstance(op.b, VReg):
        register, value = op.b, a
    else:
        return None
    if not IMM_MIN <= value <= IMM_MAX:
        return None
    if value == 0 and form in _IDENTITY_AT_ZERO:  # (the first copy's counter): a copy, which copyprop removes
        return Op("mov", d=op.d, a=register, line=op.line, var=op.var, rebinds=op.rebinds)
    return Op(form, d=op.d, a=register, imm=value, line=op.line, var=op.var, rebinds=op.rebinds)
