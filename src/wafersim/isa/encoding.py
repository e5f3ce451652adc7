"""Binary encoding and decoding of instructions, driven by the opcode table."""
from __future__ import annotations

import dataclasses
import functools
from typing import Sequence

import numpy as np

from ..errors import AssemblyError
from .opcodes import BY_CODE, BY_NAME, FORMATS, Opcode

#: Where an operand that is not a field of its own is stored.
OPERAND_FIELD = {"sreg": "imm", "rx": "a", "tx": "b", "fn": "b", "odir": "d"}


@dataclasses.dataclass(frozen=True)
class Instr:
    """One decoded instruction. Unused fields are 0."""

    op: str
    d: int = 0
    a: int = 0
    b: int = 0
    c: int = 0
    imm: int = 0
    target: int = 0
    dir: int = 0
    ch: int = 0
    flags: int = 0

    @property
    def opcode(self) -> Opcode:
        return BY_NAME[self.op]

    @functools.cached_property
    def words(self) -> int:
        """Code words the instruction takes (kept: the engine asks for every instruction of every wave)."""
        return self.opcode.words


def _field_range(width: int, signed: bool) -> tuple[int, int]:
    return (-(1 << (width - 1)), (1 << (width - 1)) - 1) if signed else (0, (1 << width) - 1)


def encode(instr: Instr) -> list[int]:
    """The 32-bit word(s) of one instruction; raises `AssemblyError` for a value that does not fit."""
    opcode = BY_NAME.get(instr.op)
    if opcode is None:
        raise AssemblyError(f"unknown opcode {instr.op!r}")
    word = opcode.code << 24
    for name, low, width, signed in FORMATS[opcode.fmt]:
        value = getattr(instr, name)
        lo, hi = _field_range(width, signed)
        if not lo <= value <= hi:
            raise AssemblyError(f"{instr.op}: field {name} = {value} does not fit in {width} bits ({lo}..{hi})",
                                field=name, value=value)
        word |= (value & ((1 << width) - 1)) << low
    if opcode.fmt == "EXT":
        lo, hi = -(1 << 31), (1 << 32) - 1
        if not lo <= instr.imm <= hi:
            raise AssemblyError(f"{instr.op}: immediate {instr.imm} does not fit in 32 bits", field="imm", value=instr.imm)
        return [word, instr.imm & 0xFFFFFFFF]
    return [word]


def decode_at(words: Sequence[int], pc: int) -> Instr:
    """Decode the instruction that starts at word `pc`."""
    word = int(words[pc]) & 0xFFFFFFFF
    opcode = BY_CODE.get(word >> 24)
    if opcode is None:
        raise AssemblyError(f"word {pc}: unknown opcode number {word >> 24} in 0x{word:08x}", pc=pc)
    fields: dict[str, int] = {}
    for name, low, width, signed in FORMATS[opcode.fmt]:
        value = (word >> low) & ((1 << width) - 1)
        if signed and value >> (width - 1):
            value -= 1 << width
        fields[name] = value
    if opcode.fmt == "EXT":
        if pc + 1 >= len(words):
            raise AssemblyError(f"word {pc}: {opcode.name} is missing its extension word", pc=pc)
        ext = int(words[pc + 1]) & 0xFFFFFFFF
        fields["imm"] = ext - (1 << 32) if ext >> 31 else ext
    return Instr(opcode.name, **fields)


def decode(words: Sequence[int]) -> list[tuple[int, Instr]]:
    """All instructions of a code segment as (word address, instruction)."""
    out, pc = [], 0
    while pc < len(words):
        instr = decode_at(words, pc)
        out.append((pc, instr))
        pc += instr.words
    return out


def code_before_stop_51(words: Sequence[int]) -> np.ndarray:
    """`words` (code written before stop 51: `.wsb` versions 1 and 2, launch checkpoints of version 1) in
    today's encoding: the stream ops' MSGX words had `odir[23:19] ... ch[5:1] flags[0]` (flags: `.f` only)
    and now have `odir[23:21] flags[20:19] ... ch[5:1] 0[0]`; read the new way, an old word names another
    output port and flags (a silent wrong route, a chain's tag). Other formats did not change; extension
    words are skipped. An output port that does not fit the new 3-bit field is an `AssemblyError`."""
    code = (np.asarray(words, dtype=np.int64) & 0xFFFFFFFF).astype(np.uint32)
    pc = 0
    while pc < len(code):
        word = int(code[pc])
        opcode = BY_CODE.get(word >> 24)
        if opcode is None:  # (decode names it; nothing after it can be told apart from data)
            break
        if opcode.fmt == "MSGX":
            odir = word >> 19 & 0x1F
            if odir > 7:
                raise AssemblyError(f"word {pc}: {opcode.name}'s output port {odir} (written before stop 51) does "
                                    f"not fit today's 3-bit field", pc=pc)
            code[pc] = (word & 0xFF07FFFE) | odir << 21 | (word & 1) << 19
        pc += opcode.words
    return code


def code_bytes(words: Sequence[int]) -> bytes:
    """A code segment as bytes of uint32 words: the key of what is kept per code (`sim.code_facts`)."""
    return (np.asarray(words, dtype=np.int64) & 0xFFFFFFFF).astype(np.uint32).tobytes()
