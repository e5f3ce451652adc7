"""The wafersim instruction set: opcode table, encoding, assembler and disassembler."""
from .assembler import Program, assemble, disassemble, format_instr
from .encoding import Instr, decode, decode_at, encode
from .opcodes import BY_NAME, DIRECTIONS, OPCODES, opcode_cycles

__all__ = ["BY_NAME", "DIRECTIONS", "Instr", "OPCODES", "Program", "assemble", "decode", "decode_at",
           "disassemble", "encode", "format_instr", "opcode_cycles"]
