"""The IR verifier, run after every pass: a pass that breaks an invariant is a compiler bug, caught at once.

Checked: every instruction is an opcode of the ISA with its register fields holding virtual registers
(or r0); branch targets are labels of the function and labels are unique; operand and result types fit
the opcode (int32 addresses and integer arithmetic, float32 float arithmetic); and every register read
is written on every path from the entry before the read. The front end can (for now) produce reads of
variables assigned only on some paths, which read 0; the verifier accepts those that were already
there before the first pass and refuses any a pass introduces.

In SSA form (`fn.ssa`, between the passes `ssa` and `unssa`) it checks instead that every register is
written exactly once; that each phi stands at the start of its block with one operand per predecessor,
named by the predecessor's label, and of the phi's type; and that every write dominates its reads (the
end of the predecessor, for a phi's operand). Only the undefined versions (`fn.ssa_undefined`: a path
on which the front end never wrote the variable) are read without a write.
"""
from __future__ import annotations

from ...errors import CompileError
from ...isa.encoding import OPERAND_FIELD
from ...isa.opcodes import BY_NAME, FLAG_SCALAR, STREAM_OPS, VECTOR_OPS
from ..ir import BRANCHES, REGISTER_FIELDS, IRFunction, Label, Op, Phi, VReg
from .cfg import CFG

_INT_ALU = {"add", "sub", "mul", "div", "rem", "and", "or", "xor", "shl", "shr", "sra", "min", "max", "slt", "sle",
            "seq", "sne", "neg", "abs", "addi", "muli", "andi", "ori", "xori", "shli", "shri", "srai", "slti", "seqi"}
_FLOAT_ALU = {"fadd", "fsub", "fmul", "fdiv", "fmin", "fmax", "fma", "fneg", "fabs", "fsqrt", "fexp", "flog", "ftanh",
              "flt", "fle", "feq", "fne", "ftoi", "fsin", "fcos", "ftan", "fasin", "facos", "fatan", "fsinh", "fcosh",
              "fasinh", "facosh", "fatanh", "fexpm1", "flog2", "flog10", "flog1p", "fpow", "fatan2", "fhypot", "ffloor",
              "fceil", "ftrunc", "fcopysign", "ffmod", "ffloordiv", "fpymod"}
_INT_RESULT = _INT_ALU | {"flt", "fle", "feq", "fne", "ftoi", "hasnb", "sreg"}
_FLOAT_RESULT = _FLOAT_ALU - {"flt", "fle", "feq", "fne", "ftoi"} | {"itof"}
#: Fields holding SRAM/global addresses or lengths: int32 whatever the data type.
_ADDRESS_FIELDS = {"ld": "a", "st": "a", "gld": "a", "gst": "a", "gldv": "dac", "gstv": "abc", "sendv": "ab",
                   "recvv": "ab", "recva": "ab", "senda": "ab", "chk": "ab", "vredsum": "ac", "vredmin": "ac", "vredmax": "ac",
                   "vdot": "abc", **{op: "ab" for op in STREAM_OPS}}


def _type_problems(op: Op) -> list[str]:
    problems = []

    def need(field: str, ty: str) -> None:
        value = getattr(op, field)
        if isinstance(value, VReg) and value.ty != ty:
            problems.append(f"operand {field} = {value!r} is {value.ty}, {op.op} needs {ty}")

    if op.op in _INT_ALU:
        for f in ("a", "b"):
            need(f, "i32")
    if op.op in _FLOAT_ALU:
        for f in ("a", "b", "c"):
            need(f, "f32")
    if op.op == "itof":
        need("a", "i32")
    if op.op in _INT_RESULT:
        need("d", "i32")
    if op.op in _FLOAT_RESULT:
        need("d", "f32")
    if op.op in VECTOR_OPS:
        fields = "dac" if (op.flags & FLAG_SCALAR or op.op in ("vscale", "vfill")) else "dabc"
        for f in fields:
            need(f, "i32")
    if op.op in ("vredsum", "vredmin", "vredmax", "vdot"):  # the result's type is the elements' (.f: float32)
        need("d", "f32" if op.flags & 1 else "i32")
    if op.op == "sel" and isinstance(op.d, VReg):  # an int32 condition chooses between values of d's type
        need("a", "i32")
        for f in ("b", "c"):
            need(f, op.d.ty)
    for f in _ADDRESS_FIELDS.get(op.op, ""):
        need(f, "i32")
    return problems


def _static_checks(name: str) -> tuple[tuple, tuple, bool, tuple]:
    """For opcode `name`: ((register field, whether it is an operand, the types `_type_problems` requires of a
    register there whatever the instruction's flags) for the fields `verify` checks; (field, type) required
    of the other fields; whether it has requirements that depend on the flags or registers (then
    `_type_problems` itself is asked); the register fields that hold a number instead (a stream op's port in
    `d`), where a register is a problem)."""
    operands = BY_NAME[name].operands
    immediates = {OPERAND_FIELD[o] for o in operands if o in OPERAND_FIELD}
    types: list[tuple[str, str]] = []
    if name in _INT_ALU:
        types += [("a", "i32"), ("b", "i32")]
    if name in _FLOAT_ALU:
        types += [("a", "f32"), ("b", "f32"), ("c", "f32")]
    if name == "itof":
        types.append(("a", "i32"))
    if name in _INT_RESULT:
        types.append(("d", "i32"))
    if name in _FLOAT_RESULT:
        types.append(("d", "f32"))
    types += [(f, "i32") for f in _ADDRESS_FIELDS.get(name, "")]
    fields = tuple((f, f in operands, tuple(ty for g, ty in types if g == f))
                   for f in REGISTER_FIELDS if f not in immediates)
    checked = {f for f, _, _ in fields}
    others = tuple((f, ty) for f, ty in types if f not in checked)
    dynamic = name in VECTOR_OPS or name in ("vredsum", "vredmin", "vredmax", "vdot", "sel")
    return fields, others, dynamic, tuple(sorted(immediates))


_CHECKS = {name: _static_checks(name) for name in BY_NAME}


def _instructions_look_right(fn: IRFunction, label_set: set) -> bool:
    """True when no instruction of `fn` has a problem that `verify`'s per-instruction checks would report
    (the same checks, tabulated per opcode: `verify` runs after every pass). On False `verify` goes over
    the instructions again to say what is wrong."""
    ssa = fn.ssa
    checks_of = _CHECKS
    for op in fn.ops:
        kind = type(op)
        if kind is not Op:
            if kind is Label or isinstance(op, Label):
                continue
            if isinstance(op, Phi):
                if not ssa:
                    return False
                continue
            if not isinstance(op, Op):
                return False
        fields = op.__dict__
        checks = checks_of.get(fields["op"])
        if checks is None:
            return False
        registers, others, dynamic, immediates = checks
        for f in immediates:
            if isinstance(fields[f], VReg):
                return False
        for f, present, types in registers:
            value = fields[f]
            if isinstance(value, VReg):
                if not present:
                    return False
                for ty in types:
                    if value.ty != ty:
                        return False
            elif value != 0:
                return False
        for f, ty in others:
            value = fields[f]
            if isinstance(value, VReg) and value.ty != ty:
                return False
        if fields["op"] in BRANCHES and fields["target"] not in label_set:
            return False
        if dynamic and _type_problems(op):
            return False
    return True


def instruction_problems(fn: IRFunction, label_set: set) -> list[str]:
    """What is wrong with the instructions of `fn` one by one (opcodes, fields, branch targets among the
    labels `label_set`, types), worded for the internal compiler error."""
    problems: list[str] = []
    for op in fn.ops:
        if isinstance(op, Label):
            continue
        if isinstance(op, Phi):
            if not fn.ssa:
                problems.append(f"{op.text()}: a phi outside SSA form")
            continue
        if not isinstance(op, Op) or op.op not in BY_NAME:
            problems.append(f"not an instruction: {op!r}")
            continue
        operands = BY_NAME[op.op].operands
        immediates = {OPERAND_FIELD[o] for o in operands if o in OPERAND_FIELD}  # e.g. route's port masks
        for f in REGISTER_FIELDS:
            if f in immediates:
                if isinstance(getattr(op, f), VReg):  # (a stream op's port in `d`, route's port masks)
                    operand = next(o for o in operands if OPERAND_FIELD.get(o) == f)
                    problems.append(f"{op.text()}: field {f} holds the register {getattr(op, f)!r}, where "
                                    f"{op.op}'s {operand} is a number written in the instruction")
                continue
            value = getattr(op, f)
            if not isinstance(value, VReg) and value != 0:
                problems.append(f"{op.text()}: field {f} holds {value!r}, not a virtual register or r0")
            if f not in operands and value != 0:
                problems.append(f"{op.text()}: field {f} is set but {op.op} has no such operand")
        if op.op in BRANCHES and op.target not in label_set:
            problems.append(f"{op.text()}: target is not a label of the function")
        problems += [f"{op.text()}: {p}" for p in _type_problems(op)]
    return problems


def undefined_reads(fn: IRFunction, cfg: CFG | None = None) -> set[VReg]:
    """Registers read somewhere that some path from the entry reaches without writing them."""
    cfg = cfg or CFG(fn)
    rw = cfg.rw
    # One scan: registers as bit positions (the sets below are Python ints), each block's writes and its
    # exposed reads (of registers not written before them in the block: only those can be undefined)
    bit: dict[VReg, int] = {}
    writes_of: list[int] = []
    exposed_of: list[int] = []
    for block in cfg.blocks:
        written_here = exposed = 0
        for i in block:
            reads, written = rw[i]
            for reg in reads:
                mask = bit.get(reg)
                if mask is None:  # (not setdefault: that would build a len(bit)-bit number for every operand)
                    mask = bit[reg] = 1 << len(bit)
                if not written_here & mask:
                    exposed |= mask
            if written is not None:
                mask = bit.get(written)
                if mask is None:
                    mask = bit[written] = 1 << len(bit)
                written_here |= mask
        writes_of.append(written_here)
        exposed_of.append(exposed)
    everything = (1 << len(bit)) - 1
    defined_out = [everything] * len(cfg.blocks)
    order = sorted(cfg.reachable)
    preds = [[p for p in cfg.pred[k] if p in cfg.reachable] for k in range(len(cfg.blocks))]

    def defined_in(k: int) -> int:
        if k == 0 or not preds[k]:
            return 0
        mask = everything
        for p in preds[k]:
            mask &= defined_out[p]
        return mask

    changed = True
    while changed:
        changed = False
        for k in order:
            current = defined_in(k) | writes_of[k]
            if current != defined_out[k]:
                defined_out[k], changed = current, True
    found: set[VReg] = set()
    registers = list(bit)  # (by bit position)
    for k in order:
        missing = exposed_of[k] & ~defined_in(k)
        while missing:
            lowest = missing & -missing
            found.add(registers[lowest.bit_length() - 1])
            missing ^= lowest
    return found


def verify(fn: IRFunction, after: str, known_undefined: set[VReg]) -> CFG | None:
    """Raise CompileError (an internal compiler error naming the pass) if `fn` breaks an IR invariant.
    Returns the CFG it analysed `fn` with (None if it found a problem before building one), which
    `run_passes` hands to the next pass (`CFG.of`)."""
    cfg = None
    problems: list[str] = []
    labels = [op for op in fn.ops if isinstance(op, Label)]
    names = [label.name for label in labels]
    if len(set(names)) != len(names):
        problems.append("duplicate labels " + ", ".join(sorted({n for n in names if names.count(n) > 1})))
    label_set = set(labels)
    if not _instructions_look_right(fn, label_set):
        problems += instruction_problems(fn, label_set)
    if not problems and fn.ssa:
        cfg = CFG(fn)
        problems += ssa_problems(fn, cfg)
    elif not problems:
        cfg = CFG(fn)
        new = undefined_reads(fn, cfg) - known_undefined
        problems += [f"{reg!r} is read before it is written on some path" for reg in sorted(new, key=lambda r: r.id)]
    if problems:
        raise CompileError(f"internal compiler error in {fn.name} after pass {after!r}: " + "; ".join(problems[:5]),
                           pass_name=after)
    return cfg


def ssa_problems(fn: IRFunction, cfg: CFG | None = None) -> list[str]:
    """What breaks SSA form in `fn`: see the module's docstring (`cfg`: a current CFG of it)."""
    cfg = cfg or CFG(fn)
    problems: list[str] = []
    where: dict[VReg, tuple[int, int]] = {}  # register -> (block, op index) of its write
    rw, undefined = cfg.rw, fn.ssa_undefined
    for k, block in enumerate(cfg.blocks):
        for i in block:
            written = rw[i][1]
            if written is None:
                continue
            if written in where:
                problems.append(f"{written!r} is written twice (not SSA)")
            where[written] = (k, i)
    label_block = {fn.ops[block[0]]: k for k, block in enumerate(cfg.blocks) if isinstance(fn.ops[block[0]], Label)}

    def dominated(reg: VReg, k: int, i: int | None) -> bool:
        """Whether the write of `reg` dominates the read at op i of block k (None: the block's end)."""
        if reg not in where:
            return reg in fn.ssa_undefined
        dk, di = where[reg]
        return cfg.dominates(dk, k) and (dk != k or i is None or di < i)

    enter, leave = cfg._tree_numbers()
    for k, block in enumerate(cfg.blocks):
        if k not in cfg.reachable:
            problems.append(f"block {k} is unreachable")
            continue
        in_phis = True
        enter_k, leave_k = enter[k], leave[k]
        for i in block:
            op = fn.ops[i]
            if isinstance(op, Label):
                continue
            if not isinstance(op, Phi):
                in_phis = False
                for r in rw[i][0]:  # (`dominated`, inlined: every read of every instruction is asked)
                    write = where.get(r)
                    if write is None:
                        good = r in undefined
                    else:
                        dk, di = write
                        good = di < i if dk == k else enter_k >= enter[dk] >= 0 and leave[dk] >= leave_k
                    if not good:
                        problems.append(f"{op.text()}: {r!r} is read where its write does not dominate")
                continue
            if not in_phis:
                problems.append(f"{op.text()}: a phi after the block's first instruction")
            preds = sorted(p for p in cfg.pred[k] if p in cfg.reachable)
            named = sorted(label_block.get(label, -1) for label, _ in op.incoming)
            if named != preds:
                problems.append(f"{op.text()}: operands for blocks {named}, predecessors are {preds}")
            for label, value in op.incoming:
                if isinstance(value, VReg):
                    if value.ty != op.d.ty:
                        problems.append(f"{op.text()}: {value!r} is {value.ty}, the phi is {op.d.ty}")
                    if label in label_block and not dominated(value, label_block[label], None):
                        problems.append(f"{op.text()}: the write of {value!r} does not dominate the end of {label}")
    return problems
