"""Generate docs/isa.md from the opcode table (`python -m wafersim.isa.docgen docs/isa.md`)."""
from __future__ import annotations

import sys
from pathlib import Path

from ..arch.spec import DEFAULT_COST_CYCLES, DEFAULT_OP_ENERGY_PJ
from . import opcodes
from .opcodes import FORMATS, OPCODES, SPECIAL_REGISTERS

_OPERAND_TEXT = {"d": "rD", "a": "rA", "b": "rB", "c": "rC", "imm": "imm", "target": "label", "dir": "dir",
                 "ch": "ch", "sreg": "sreg", "rx": "rx", "tx": "tx", "fn": "fn",
                 "odir": "odir"}


def render() -> str:
    lines = [
        "# The wafersim ISA",
        "",
        "*Generated from `src/wafersim/isa/opcodes.py` by `python -m wafersim.isa.docgen docs/isa.md`; do not edit.*",
        "",
        "This instruction set is **our own design**, a point in the design space of wafer-scale engines. The",
        "ISAs of real wafer-scale chips are not public; nothing here describes any product.",
        "",
        "## Machine state per PE",
        "",
        "- 32-bit registers `r0`..`r31` (`WaferSpec.registers` of them); `r0` always reads 0. A register holds",
        "  an int32 or the bits of a float32: the instruction says which.",
        "- SRAM (`WaferSpec.sram_bytes`): the program's code, then its data segment of `.sram N` words. Loads,",
        "  stores and vector ops address the data segment in 32-bit words from 0.",
        "- A FIFO per incoming direction and channel (`fifo_depth` words); sends block while it is full.",
        "- A router with five ports (north, east, south, west and `ramp`, the PE itself) and, per channel, a",
        "  route: for each input port, the set of output ports its words go to (multicast). `send`/`recv` with",
        "  dir = `ramp` go through the router along the channel's route; other directions move one hop.",
        "  `route` changes this PE's route of one channel; masks are written `west+ramp`, or `none`.",
        "- Device (off-wafer) memory is byte-addressed; kernels reach the first 4 GiB (32-bit pointers).",
        "",
        "## Encoding",
        "",
        "Every instruction is one 32-bit word; `li` adds one extension word holding its 32-bit immediate.",
        "Bits 31..24 hold the opcode number. The other fields, by format:",
        "",
        "| format | fields (name[high:low]) |",
        "|---|---|",
    ]
    for name, fields in FORMATS.items():
        text = ", ".join(f"{f}[{low + width - 1}:{low}]{' (signed)' if signed else ''}" for f, low, width, signed in fields)
        if name == "EXT":
            text += ", then a 32-bit extension word (imm)"
        lines.append(f"| {name} | {text} |")
    lines += [
        "",
        "Directions: " + ", ".join(f"`{d}` = {i}" for i, d in enumerate(opcodes.DIRECTIONS)) +
        f" (`ramp` = {opcodes.RAMP}: through the PE's router). The stream ops' output port `odir` (`" +
        "`, `".join(sorted(opcodes.STREAM_OPS)) + f"`; MSGX keeps it in field d) is a direction or `none` = "
        f"{opcodes.NOWHERE}" +
        ". Special registers (`sreg`): " + ", ".join(f"`{s}` = {i}" for i, s in enumerate(SPECIAL_REGISTERS)) +
        ": the thread's index in its block, the block's index in the grid, the block's size and the grid's size in "
        "blocks (CUDA's threadIdx, blockIdx, blockDim, gridDim), and the PE's wafer column and row, where the "
        "launch placed its block (`LaunchStats.wafer_xy`): not the launch coordinate `ws.grid(2)`, which is "
        "bid * bdim + tid.",
        "Modifiers after a dot set `flags` bits: " + ", ".join(f"`.{k}` = {v}" for k, v in opcodes.FLAG_LETTERS.items()) +
        " (`f`: float32 elements; `s`: operand b is a scalar register; `b`: bfloat16 instead of float16 on the "
        "16-bit float opcodes; `c`, on the stream ops only: a collective's chain words, tagged `.cf32`, `.ci32`, "
        "`.cf16`).",
        "On `" + "`, `".join(sorted(opcodes.MESSAGE_OPS)) + "` the modifier is the word's type tag instead (`flags` "
        "in the MSGS/MSGR field): " + ", ".join(f"`.{t}` = {k}" for k, t in enumerate(opcodes.WORD_TYPES)) +
        " (no modifier: `raw`, never checked against a type); a typed receive of a word tagged with another type stops the "
        "kernel with a `WordTypeError`. The `c` tags are the same types' words of a collective's chain "
        "(`wafersim.collectives` passes its partial results as plain neighbour words): a chain's word taken by "
        "a receive of the plain type or a raw one, or a plain or raw word by a chain's receive, stops it with a "
        "`ChainWordError` "
        "(a `WordTypeError`).",
        "",
        "## Instructions",
        "",
        "Cost: the instruction class whose issue cycles `WaferSpec.cost_cycles` gives (and `op_cycles` may",
        "override by opcode); defaults in brackets. Vector ops add ceil(n / `vector_lanes`) cycles (the 16-bit",
        "float ops `" + "`, `".join(sorted(opcodes.HALF_VECTOR_OPS)) + "`: ceil(n / `vector_lanes_half`); `vmath`, `vger`,",
        "`vfmaz`, the sparse ops `vspfma`, `vspchk`, `vpacknz` and the stream ops: as their rows say); a send adds",
        "1 / `link_words_per_cycle` cycles a word; messages, global memory and barriers may wait on top (see",
        "docs/timing.md).",
        "",
        "A vector op whose SRAM operands overlap (`vadd r1, r0, r2, r4` with r1 = 1, r0 = 0: d = a + 1) reads every",
        "element of its operands before it writes any, as if through a temporary, as NumPy's `d[:] = a + b` does:",
        "not element by element (tests/test_vector.py).",
        "",
        "| opcode | # | format | assembly | meaning | class [cycles, pJ] |",
        "|---|---|---|---|---|---|",
    ]
    for op in OPCODES:
        mnemonic = op.name + (f"[.{op.flags}]" if op.flags else "")
        operands = ", ".join(_OPERAND_TEXT[o] for o in op.operands)
        cls = op.cost_class
        lines.append(f"| `{op.name}` | {op.code} | {op.fmt} | `{mnemonic} {operands}`".rstrip() +
                     f" | {op.doc.replace('|', '&#124;')} | {cls} [{DEFAULT_COST_CYCLES[cls]:g}, {DEFAULT_OP_ENERGY_PJ[cls]:g}] |")
    lines += [
        "",
        "## Assembly syntax",
        "",
        "```",
        ".name   saxpy          # program name",
        ".sram   64             # data segment words per PE",
        ".args   5              # kernel arguments it expects",
        '.string 1 "partial"    # text for print rX, 1',
        ".route  1 row_bus      # channel 1 takes a named route at launch (ws.routes, docs/routes.md)",
        "loop:                  # label",
        "    vadd.fs r4, r5, r6, r7",
        "    send east, 0, r1",
        "    recv r2, west, 0",
        "    li r3, 0.5         # float literal: its float32 bits",
        "    bnz r3, loop",
        "```",
        "",
        "`assemble(disassemble(program))` gives back the same code words and texts. A `.string` text is in double",
        "quotes with JSON's escapes (`\\\"` a quote, `\\\\` a backslash, `\\n`, `\\t`, `\\uXXXX`); `#` and `;` inside it",
        "are text, not comments. Strings are numbered 1 to 32767, each defined once; `print rX, N` with no `.string N`",
        "prints the label `#N` (and a `chk` error with no `.string N` says `#N`). `.name`, `.sram` and `.args` are",
        "given at most once each (a repeat must repeat the value: a second `.sram` does not add words). A",
        "`.route CH NAME` declares the named route (`row_bus`, `column_bus`, `block_bus`,",
        "`chain_east` and the like: `isa/routes.py`) a launch sets up on channel CH, as `ws.use_route` does in Python;",
        "a launch's `routes=` may not give that channel another. CH is 0 to 31, as the channel field of `send` and",
        "`recv` (an `AssemblyError` naming the line otherwise); a channel the machine lacks (`WaferSpec.channels`) is",
        "refused at launch.",
        "",
        "`chk rA, rB, N` stops the launch with a `MemoryAccessError` unless 0 <= a < b (signed), its message string",
        "N (`index` for N = 0) followed by `: index a is out of bounds for size b`. Its guard form `chk r0, rB, N`",
        "(a = r0, always 0) fails where b <= 0, and its message is string N alone: the compiler guards a condition",
        "it computed into rB this way. A string `division by zero`, `negative shift count` or `range() step is zero`",
        "raises Python's error instead (`KernelZeroDivisionError`, `KernelValueError`), as the compiler's guards of",
        "those do.",
        "",
        "A branch names its target by a label or by number: a number must be the first word of an instruction, or",
        "the word just past the code (to halt); any other (a `li`'s extension word, a word outside the code) is an",
        "`AssemblyError` naming the line. `@N` writes word N whatever stands there, as `disassemble` writes such a",
        "branch of code words made otherwise (a binary file). A PE that runs past the last instruction halts, as a",
        "return from a Python kernel does; a jump to a pc outside the program, or into a `li`'s extension word,",
        "stops the launch with a `LaunchError` that says which. Scalar float math without a note in the",
        "table (`fsin`, `fatan2`, `fhypot`, ...) computes NumPy's float32 ufunc of the same name, bit for bit",
        "(docs/python-supported.md, \"Scalar math\").",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str]) -> None:
    path = Path(argv[1] if len(argv) > 1 else "docs/isa.md")
    path.write_text(render())
    print(f"wrote {path}")


if __name__ == "__main__":
    main(sys.argv)
