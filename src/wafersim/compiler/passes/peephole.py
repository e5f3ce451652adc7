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

from ..ir import IRFunction, Op, VReg, basic_blocks
from .cfg import definitions

IMM_MIN, IMM_MAX = -(1 << 13), (1 << 13) - 1
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
            fn.ops[k] = Op(form, d=op.d, a=register, imm=value, line=op.line, reloc=li.reloc)
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
                        fn.ops[i] = op = Op("li", d=op.d, imm=op.imm, line=op.line, reloc=op.reloc)
            written = op.writes()
            if written is None:
                continue
            offsets = {t: v for t, v in offsets.items() if t is not written and v[0] is not written}
            if op.op == "addi" and op.a is not written:
                offsets[written] = (op.a, op.imm, op.reloc)
            elif op.op == "li" and written.ty == "i32":
                offsets[written] = (0, op.imm, op.reloc)
