"""The compiler's IR: ISA instructions over virtual registers, in a linear list with labels.

A kernel lowers to `IRFunction.ops`: each `Op` is one ISA instruction whose register fields hold
`VReg`s (or 0 for r0), plus `Label` markers. Basic blocks are the runs between labels and branches.
The IR is printable (`kernel.inspect_ir()`); passes and register allocation work on it directly.

Between the passes `ssa` and `unssa` (compiler/passes/ssa.py) the function is in SSA form
(`IRFunction.ssa`): every register is written by exactly one instruction, and a `Phi` at the start of
a block picks, per predecessor block (named by its label), the value that flows in from there.
"""
from __future__ import annotations

import dataclasses
import numbers
from typing import Iterator, NamedTuple

from ..isa.encoding import OPERAND_FIELD
from ..isa.float_math import VECTOR_MATH
from ..isa.opcodes import BY_NAME, PORTS, SPECIAL_REGISTERS, VECTOR_OPS, modifier_text, output_port_text, port_mask_text

#: Opcodes that take `d` as an input (an address or a value to store) rather than writing it.
READS_D = {"st", "gst", "gldv"} | VECTOR_OPS
#: Instructions without effects other than writing `d`: removable when `d` is never read.
PURE = {op.name for op in BY_NAME.values()
        if op.cost_class in ("alu", "mul", "fpu", "div", "sfu", "special") and "d" in op.operands} - READS_D - {"arg"}
PURE |= {"arg", "ld"}
BRANCHES = {"bz", "bnz", "jmp"}
REGISTER_FIELDS = ("d", "a", "b", "c")
#: Operands `Op.text` writes by name (a port, a port mask, a special register, a math function).
_NAMED_OPERANDS = frozenset({"dir", "odir", "rx", "tx", "sreg", "fn"})
#: Per opcode: the register fields it reads, in operand order, and whether it writes `d` (what `Op.reads`
#: and `Op.writes` would work out from the opcode table on every call; the passes call them millions of times).
_READ_FIELDS = {name: tuple(f for f in op.operands if f in REGISTER_FIELDS and (f != "d" or name in READS_D))
                for name, op in BY_NAME.items()}
_WRITES_D = {name: "d" in op.operands and name not in READS_D for name, op in BY_NAME.items()}


class SourceLine(NamedTuple):
    """Where an instruction inlined from a device function comes from: the function's own file and line,
    and the calls it was inlined through, innermost first (an `Op.line` that is a plain int is a line of
    the kernel's own file)."""

    file: str
    line: int
    callers: tuple[tuple[str, int], ...] = ()


def place_of(line: "int | SourceLine | None", filename: str) -> tuple[str, int] | None:
    """(file, line) of an `Op.line` in a kernel defined in `filename`."""
    if line is None:
        return None
    if isinstance(line, SourceLine):
        return line.file, line.line
    return filename, line


def line_text(line: "int | SourceLine | None", filename: str) -> str:
    """`file:line`, plus `, called from file:line` per level of inlining, for messages."""
    where = place_of(line, filename)
    if where is None:
        return "?"
    callers = line.callers if isinstance(line, SourceLine) else ()
    return ", called from ".join(f"{file}:{number}" for file, number in (where, *callers))


@dataclasses.dataclass(eq=False)
class VReg:
    id: int
    ty: str  # "i32" or "f32"
    hint: str = ""
    #: the inlined calls (file, line), innermost first, whose device function owns the variable `hint`
    #: names (() for the kernel's own): the debugger tells a helper's `x` from its caller's `x` by it
    scope: tuple[tuple[str, int], ...] = ()

    def __repr__(self) -> str:
        return f"%{self.hint}{self.id}" if self.hint else f"%{self.id}"


@dataclasses.dataclass(eq=False)
class Label:
    name: str

    def __repr__(self) -> str:
        return self.name


@dataclasses.dataclass(eq=False)
class Op:
    op: str
    d: VReg | int = 0
    a: VReg | int = 0
    b: VReg | int = 0
    c: VReg | int = 0
    imm: int = 0
    target: Label | None = None
    dir: int = 0
    ch: int = 0
    flags: int = 0
    line: int | SourceLine | None = None  # source line (a SourceLine where inlined from a device function)
    reloc: str | None = None  # "local" or "scratch": imm is relative to that SRAM segment
    #: the source variable (name, scope) whose value this op writes, where out-of-SSA gave several
    #: variables one register (`IRFunction.shared_registers`); None: a temporary's, or not known
    var: tuple | None = None
    #: for the debugger: source variables the optimiser's removed (or hoisted) instructions assigned at this
    #: point, ((name, scope), the VReg the variable is in from there or None, after this op's own
    #: instruction): an older register of that variable no longer holds it (`debuginfo.carry_bindings`)
    rebinds: tuple = ()

    def writes(self) -> VReg | None:
        if _WRITES_D[self.op] and isinstance(self.d, VReg):
            return self.d
        return None

    def reads(self) -> list[VReg]:
        return [v for v in [getattr(self, f) for f in _READ_FIELDS[self.op]] if isinstance(v, VReg)]

    def rename_rebinds(self, mapping: dict) -> None:
        """Follow registers renamed by `mapping` in `rebinds` (a pass that renames registers calls it)."""
        if self.rebinds:
            self.rebinds = tuple((var, mapping.get(reg, reg) if reg is not None else None, late)
                                 for var, reg, late in self.rebinds)

    def replace_reads(self, mapping: dict) -> None:
        for f in _READ_FIELDS[self.op]:
            value = getattr(self, f)
            if isinstance(value, VReg) and value in mapping:
                setattr(self, f, mapping[value])

    def text(self) -> str:
        """The op as assembly writes it. It prints any op, also one whose field holds what its operand cannot
        (a register in a stream op's port field, a port out of range: what the verifier reports, with this
        text): such a field shows as its repr, where formatting it raised a TypeError or an IndexError."""
        parts = [self._operand_text(operand) for operand in BY_NAME[self.op].operands]
        return f"{self.op}{modifier_text(self.op, self.flags)} {', '.join(parts)}".rstrip()

    def _operand_text(self, operand: str) -> str:
        field = "target" if operand == "target" else OPERAND_FIELD.get(operand, operand)
        value = getattr(self, field)
        if operand in REGISTER_FIELDS:
            return repr(value) if isinstance(value, VReg) else f"r{value}"
        if operand == "target":
            return value.name if isinstance(value, Label) else repr(value)
        if operand not in _NAMED_OPERANDS:
            return str(value)
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):  # (a VReg, None, ...)
            return repr(value)
        names = {"dir": PORTS, "sreg": SPECIAL_REGISTERS, "fn": VECTOR_MATH}.get(operand)
        if names is not None:
            return names[value] if 0 <= value < len(names) else repr(value)
        if operand == "odir":
            return output_port_text(value)
        return port_mask_text(value)  # rx, tx


@dataclasses.dataclass(eq=False)
class Phi(Op):
    """`d = phi(value from each predecessor)`: the SSA join, at the start of a block, before its other
    instructions. Not an instruction of the ISA: `unssa` replaces every phi by copies (or by nothing,
    when its operands share the register of `d`)."""

    #: (label of a predecessor block, the value that flows in along that edge), one per predecessor
    incoming: list = dataclasses.field(default_factory=list)

    def writes(self) -> VReg | None:
        return self.d if isinstance(self.d, VReg) else None

    def reads(self) -> list[VReg]:
        return [value for _, value in self.incoming if isinstance(value, VReg)]

    def replace_reads(self, mapping: dict) -> None:
        # a new list: pass snapshots (`passes.PassLog`) share the old one
        self.incoming = [(label, mapping.get(value, value) if isinstance(value, VReg) else value)
                         for label, value in self.incoming]

    def text(self) -> str:
        return f"phi {self.d!r}, " + ", ".join(f"[{label.name}: {value!r}]" for label, value in self.incoming)


@dataclasses.dataclass
class IRFunction:
    name: str
    ops: list = dataclasses.field(default_factory=list)  # Op and Label
    arg_count: int = 0
    arguments: list = dataclasses.field(default_factory=list)  # isa.assembler.ArgumentWord per argument word
    strings: list[str] = dataclasses.field(default_factory=lambda: [""])
    local_words: int = 0  # SRAM words of local arrays
    scratch_words: int = 0  # SRAM words of vector temporaries
    local_arrays: list[tuple[str, int, tuple[int, ...], str]] = dataclasses.field(default_factory=list)  # name, words, shape, type
    local_array_lines: dict = dataclasses.field(default_factory=dict)  # name -> the line declaring it (Op.line's kind)
    filename: str = "<kernel>"
    routes: dict[int, str] = dataclasses.field(default_factory=dict)  # channel -> pattern (ws.use_route)
    ssa: bool = False  # in SSA form (between the passes `ssa` and `unssa`)
    #: in SSA form: each register's original (the front end's register it is a version of)
    ssa_origin: dict = dataclasses.field(default_factory=dict)
    #: in SSA form: registers standing for a variable's value on a path where the front end never wrote it
    ssa_undefined: frozenset = frozenset()
    #: variables the optimiser folded into a copy's source (`b = prev`, `q = helper(...)`), for the debugger:
    #: (name, scope) -> (type, source name, source scope), or None where copies of several sources were
    folded_copies: dict = dataclasses.field(default_factory=dict)
    #: for the debugger: registers (by id) that hold several source variables one after another (out of
    #: SSA, `a = ...; acc = a; acc += ...` in a loop can share one), whose writes carry `Op.var`; and at
    #: the join labels where such a register's phi was, the variable it holds from there: {label: {id: var}}
    shared_registers: set = dataclasses.field(default_factory=set)
    join_names: dict = dataclasses.field(default_factory=dict)
    #: in SSA form, for the debugger: what removed instructions of a block left with none did to the source
    #: variables (`Op.rebinds` entries without their last field), by the block's label: `unssa` puts them
    #: before the copies it adds at the block's end
    end_rebinds: dict = dataclasses.field(default_factory=dict)

    def rename_rebinds(self, mapping: dict) -> None:
        """Follow registers renamed by `mapping` in every `Op.rebinds` and in `end_rebinds`."""
        for op in self.instructions():
            op.rename_rebinds(mapping)
        for label, entries in self.end_rebinds.items():
            self.end_rebinds[label] = tuple((var, mapping.get(reg, reg) if reg is not None else None)
                                            for var, reg in entries)

    def instructions(self) -> Iterator[Op]:
        return (op for op in self.ops if isinstance(op, Op))

    def text(self) -> str:
        form = ", SSA" if self.ssa else ""
        lines = [f"kernel {self.name} ({self.arg_count} argument words, {self.local_words} local SRAM words{form})"]
        for op in self.ops:
            if isinstance(op, Label):
                lines.append(f"{op.name}:")
            else:
                where = ""
                if isinstance(op.line, SourceLine):
                    other = f" of {op.line.file}" if op.line.file != self.filename else ""
                    where = f"    # line {op.line.line}{other}"
                elif op.line is not None:
                    where = f"    # line {op.line}"
                lines.append(f"    {op.text()}{where}")
        return "\n".join(lines) + "\n"


def basic_blocks(ops: list) -> list[list[int]]:
    """Indices of ops grouped into basic blocks (a label starts one, a branch or halt ends one)."""
    blocks, current = [], []
    ends = _BLOCK_ENDS
    for i, op in enumerate(ops):
        if type(op) is Op:  # (most ops: one test of their type instead of two isinstance calls)
            current.append(i)
            if op.op in ends:
                blocks.append(current)
                current = []
        elif type(op) is Label or isinstance(op, Label):
            if current:
                blocks.append(current)
            current = [i]
        elif isinstance(op, Op) and op.op in ends:
            current.append(i)
            blocks.append(current)
            current = []
        else:
            current.append(i)
    if current:
        blocks.append(current)
    return blocks


_BLOCK_ENDS = BRANCHES | {"halt"}
