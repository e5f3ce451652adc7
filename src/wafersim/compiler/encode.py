"""Machine code straight from the allocated IR: `Op`s over physical registers become `Instr`s for the encoder.

There is no assembly text on the way (the assembler is for people): a field the encoding cannot hold, a
modifier the opcode does not take or a branch to a label that is not there is a compiler bug, reported as
an internal `CompileError` naming the kernel's source line, never as an `AssemblyError` about a line of
text the user never wrote. `Compiled.asm_text` is the result disassembled (`isa.assembler.disassemble`).
"""
from __future__ import annotations

import numpy as np

from ..errors import AssemblyError, CompileError
from ..isa.encoding import OPERAND_FIELD, Instr, encode
from ..isa.opcodes import BY_NAME, FLAG_LETTERS, MESSAGE_OPS, WORD_TYPES
from .ir import Label, Op, VReg, place_of

#: The `Instr` fields an instruction's operands occupy, per opcode; every other field encodes as 0.
_FIELDS = {name: {OPERAND_FIELD.get(operand, operand) for operand in opcode.operands} | {"flags"}
           for name, opcode in BY_NAME.items()}
#: The flag bits each opcode accepts (its modifier letters).
_FLAG_BITS = {name: sum(FLAG_LETTERS[letter] for letter in opcode.flags) for name, opcode in BY_NAME.items()}


def _internal_error(kernel: str, filename: str, op: Op, problem: str) -> CompileError:
    place = place_of(op.line, filename)
    where = f"{place[0]}:{place[1]}: " if place is not None else ""
    return CompileError(f"{where}internal compiler error in {kernel}: {op.text()}: {problem}",
                        file=place[0] if place else filename, line=place[1] if place else None)


def to_instr(op: Op, label_pcs: dict[str, int], kernel: str = "kernel", filename: str = "<kernel>") -> Instr:
    """The `Instr` of one allocated instruction (register fields hold r0..r31; `label_pcs` gives targets)."""
    if op.op not in BY_NAME:
        raise _internal_error(kernel, filename, op, "not an instruction of the ISA")
    fields = _FIELDS[op.op]
    values = {}
    for name in ("d", "a", "b", "c", "imm", "dir", "ch"):
        value = getattr(op, name) if name in fields else 0
        if isinstance(value, VReg):
            raise _internal_error(kernel, filename, op, f"field {name} still holds the virtual register {value!r}")
        values[name] = value
    if op.op in MESSAGE_OPS:  # (their flags field is a word type tag, not modifier bits)
        if not 0 <= op.flags < len(WORD_TYPES):
            raise _internal_error(kernel, filename, op, f"{op.op} has no word type {op.flags}")
    elif op.flags & ~_FLAG_BITS[op.op]:
        raise _internal_error(kernel, filename, op, f"{op.op} takes no flags {op.flags:#x} "
                                                    f"(accepts: {BY_NAME[op.op].flags or 'none'})")
    target = 0
    if "target" in fields:
        if op.target is None or op.target.name not in label_pcs:
            raise _internal_error(kernel, filename, op, "branch to a label that is not in the program")
        target = label_pcs[op.target.name]
    return Instr(op.op, target=target, flags=op.flags, **values)


def encode_machine_code(machine: list, kernel: str = "kernel",
                        filename: str = "<kernel>") -> tuple[np.ndarray, dict[str, int], list[int]]:
    """(code words, label name -> pc, pc of each instruction) of allocated `Op`s and `Label`s in order."""
    label_pcs: dict[str, int] = {}
    pcs: list[int] = []
    pc = 0
    for item in machine:
        if isinstance(item, Label):
            if item.name in label_pcs:
                raise CompileError(f"internal compiler error in {kernel}: label {item.name} placed twice")
            label_pcs[item.name] = pc
        else:
            if item.op not in BY_NAME:
                raise _internal_error(kernel, filename, item, "not an instruction of the ISA")
            pcs.append(pc)
            pc += BY_NAME[item.op].words
    words: list[int] = []
    for op in (item for item in machine if isinstance(item, Op)):
        try:
            words += encode(to_instr(op, label_pcs, kernel, filename))
        except AssemblyError as exc:
            raise _internal_error(kernel, filename, op, str(exc)) from None
    return np.array(words, dtype=np.uint32), label_pcs, pcs

