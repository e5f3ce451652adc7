"""Text assembly <-> binary, and `Program`, the unit a launch runs.

Syntax (one instruction per line, `#` or `;` starts a comment):

    .name   saxpy          # program name
    .sram   64             # words of SRAM data segment per PE
    .args   3              # number of 32-bit kernel arguments it expects
    .string 1 "partial"    # text for `print rX, 1`
    loop:                  # a label
        vadd.fs r4, r5, r6, r7   # modifiers after a dot: f = float32, s = operand b is a scalar
        send east, 0, r1
        recv r2, west, 0
        li r3, 0.5             # float literals give their float32 bits
        bnz r3, loop

`assemble(disassemble(words)) == words` for any valid code.
"""
from __future__ import annotations

import dataclasses
import json
import re
import struct
from typing import Iterable, NamedTuple, Sequence

import numpy as np

from ..arch.spec import MAX_CHANNELS
from ..arch.values import plural
from ..errors import ArgumentTypeError, AssemblyError, call_checked
from .encoding import OPERAND_FIELD, Instr, decode, encode
from .routes import KNOWN as KNOWN_ROUTES
from .routes import NAMED as NAMED_ROUTES
from .opcodes import (ACCEPT, BY_NAME, DIRECTIONS, FLAG_LETTERS, MESSAGE_OPS, PORTS, SPECIAL_REGISTERS, WORD_TAG,
                      WORD_TYPES, RAMP, NOWHERE, modifier_text, output_port_text, port_mask_text)
from .float_math import VECTOR_MATH

_DIRECTION_NAMES = {name: i for i, name in enumerate(PORTS)} | {name[0]: i for i, name in enumerate(DIRECTIONS)}
_LABEL = re.compile(r"^([A-Za-z_.$][\w.$]*)\s*:\s*(.*)$")


class Symbol(NamedTuple):
    """Where a kernel variable or local array lives, and at which pcs it holds the source's value."""

    name: str
    dtype: str  # "i32", "f32", or "ptr" (a global array argument: its device address)
    storage: str  # "reg" (a register), "spill" (one SRAM word) or "sram" (a local array)
    index: int  # register number, or word address in the PE's SRAM data segment
    ranges: tuple[tuple[int, int], ...]  # [start, end) pcs where it is live (stopped before that pc)
    shape: tuple[int, ...] = ()  # a local array's shape
    #: the inlined calls (file, line), innermost first, of the device function whose variable it is (() for
    #: the kernel's own): where a stop's `Program.callers` matches, a name means that function's variable
    scope: tuple[tuple[str, int], ...] = ()
    #: storage "copy" (no storage: a variable the optimiser folded into the variable it copies): that
    #: variable's (name, scope)
    copy_of: tuple = ()


class ArgumentWord(NamedTuple):
    """What a compiled kernel reads from one of its argument words (`Program.arguments`)."""

    kind: str  # one of ARGUMENT_KINDS: "ptr" (a device array), "dim" (one of its dimensions), "i32", "f32", "constant"
    parameter: str  # the kernel parameter it comes from
    #: a "constant" (a `ws.constant` parameter, compiled into the code): the 32-bit word of its value
    word: int | None = None
    #: a "ptr": the element type the program reads the array as ("f32", "i32", "f16", "bf16")
    dtype: str | None = None


#: `ArgumentWord.kind`s.
ARGUMENT_KINDS = frozenset({"ptr", "dim", "i32", "f32", "constant"})

#: The largest string number `print` can name (its immediate is an unsigned 15-bit field).
MAX_STRING = (1 << 15) - 1

@dataclasses.dataclass(frozen=True)
class Program:
    """A kernel binary: code words plus what a launch needs to know about it."""

    code: np.ndarray  # uint32 words
    name: str = "kernel"
    data_words: int = 0  # SRAM data segment per PE, in 32-bit words
    arg_count: int | None = None  # expected kernel arguments, when known
    strings: tuple[str, ...] = ("",)  # texts for `print`, by number
    labels: dict[str, int] = dataclasses.field(default_factory=dict)
    #: word address -> (file, line) of the source that produced it (the compiler fills this in)
    lines: dict[int, tuple[str, int]] = dataclasses.field(default_factory=dict)
    #: word address -> the calls (file, line), innermost first, that the instruction's source line was
    #: inlined through (a `@ws.jit` device function's lines); absent for the kernel's own lines
    callers: dict[int, tuple[tuple[str, int], ...]] = dataclasses.field(default_factory=dict)
    #: (channel, pattern name) of the routes the kernel relies on (`.route`; `isa.routes.NAMED`)
    routes: tuple[tuple[int, str], ...] = ()
    #: kernel variables and local arrays by source name (the compiler fills this in; `runtime.state`)
    symbols: tuple[Symbol, ...] = ()
    #: what each argument word is, for a program compiled from Python (None: unknown, as for assembly);
    #: a launch checks its arguments against them (`runtime.program_arguments`)
    arguments: tuple[ArgumentWord, ...] | None = None

    @property
    def code_bytes(self) -> int:
        return 4 * len(self.code)

    @property
    def sram_bytes_needed(self) -> int:
        """Code plus data segment: what one PE's SRAM must hold."""
        return self.code_bytes + 4 * self.data_words

    def instructions(self) -> list[tuple[int, Instr]]:
        return decode(self.code)

    @property
    def from_assembly(self) -> bool:
        """Whether the program was written in assembly (`assemble`, or built from instructions), not
        compiled from Python: no kernel symbols and no Python source lines. Run-time errors then give
        their fix-its in assembly too."""
        return not self.symbols and not any(file.endswith(".py") for file, _ in self.lines.values())

    def source_of(self, pc: int) -> tuple[str, int] | None:
        """(file, line) of the instruction at `pc`, if the program has a line table."""
        return self.lines.get(int(pc))

    def kernel_line(self, pc: int) -> int | None:
        """The line of the kernel's own file the instruction at `pc` belongs to: its source line, or, where
        it was inlined from a device function in another file, the line of the call in the kernel's file
        (the debugger's lines; a device function in the kernel's file is stepped through)."""
        where = self.source_of(pc)
        if where is None:
            return None
        chain = (where, *self.callers.get(int(pc), ()))
        kernel_file = chain[-1][0]
        return next(line for file, line in chain if file == kernel_file)

    def instruction_text(self, instr: Instr) -> str:
        """`instr` as assembly text, a branch target by the program's label for it where it has one (`jmp
        loop`, not `jmp 2`: what an assembly programmer wrote)."""
        by_pc: dict[int, str] = {}
        for name, at in self.labels.items():
            by_pc.setdefault(at, name)
        return format_instr(instr, by_pc)

    def describe_pc(self, pc: int) -> str:
        """`pc 12 (recv r3, west, 0) at heat.py:14` -- for error messages (plus `, called from heat.py:30`
        per device function the instruction was inlined from)."""
        from .encoding import decode_at

        text = f"pc {pc}"
        instr = decode_at(self.code, pc) if 0 <= pc < len(self.code) else None
        if instr is not None:
            text += f" ({self.instruction_text(instr)})"
        where = self.source_of(pc)
        if where:
            text += f" at {where[0]}:{where[1]}"
            text += "".join(f", called from {file}:{line}" for file, line in self.callers.get(int(pc), ()))
        elif instr is not None and instr.op == "halt" and self.lines:  # (a compiled kernel's final halt has no
            text += f" at the end of {self.name}"                      # source line: it is no line's code)
        return text


# ----------------------------------------------------------------------------- disassembly
def _float_comment(value: int) -> str:
    as_float = struct.unpack("<f", struct.pack("<I", value & 0xFFFFFFFF))[0]
    return f"  # {as_float:g}" if as_float == as_float and abs(as_float) < 1e30 and value not in range(-4096, 4097) else ""


def format_instr(instr: Instr, labels: dict[int, str] | None = None) -> str:
    """One instruction as assembly text."""
    opcode = BY_NAME[instr.op]
    mnemonic = instr.op
    mnemonic += modifier_text(instr.op, instr.flags)
    parts = []
    for operand in opcode.operands:
        value = getattr(instr, OPERAND_FIELD.get(operand, operand))
        if operand in "dabc":
            parts.append(f"r{value}")
        elif operand == "dir":
            parts.append(PORTS[value] if value < len(PORTS) else str(value))
        elif operand == "odir":
            parts.append(output_port_text(value))
        elif operand in ("rx", "tx"):
            parts.append(port_mask_text(value))
        elif operand == "sreg":
            parts.append(SPECIAL_REGISTERS[value] if 0 <= value < len(SPECIAL_REGISTERS) else str(value))
        elif operand == "fn":
            parts.append(VECTOR_MATH[value] if value < len(VECTOR_MATH) else str(value))
        elif operand == "target" and labels and value in labels:
            parts.append(labels[value])
        elif operand == "target":
            parts.append(str(value))  # outside the program: no label to name it
        elif operand == "imm" and opcode.fmt == "EXT":
            parts.append(f"0x{value & 0xFFFFFFFF:08x}" if not -4096 <= value <= 4096 else str(value))
        else:
            parts.append(str(value))
    text = f"{mnemonic} {', '.join(parts)}".rstrip()
    if opcode.fmt == "EXT":
        text += _float_comment(instr.imm)
    return text


def quoted(text: str) -> str:
    """`text` as a .string operand: in double quotes, with JSON's escapes for a quote, a backslash and
    control characters (so that a `#`, `;` or quote inside it reads back as the same text)."""
    escaped = json.dumps(text, ensure_ascii=False)
    for breaking in "\x85\u2028\u2029":  # (line breaks to str.splitlines that JSON leaves as they are)
        escaped = escaped.replace(breaking, f"\\u{ord(breaking):04x}")
    return escaped


@call_checked
def disassemble(program: "Program | Sequence[int]") -> str:
    """Assembly text for a program (with its directives) or for bare code words."""
    if not isinstance(program, Program):
        words = np.asarray(program) if isinstance(program, (Sequence, np.ndarray)) and \
            not isinstance(program, (str, bytes)) else None
        # (a bare int would disassemble as one code word; floats and bools would be cut to integers)
        if words is None or words.ndim != 1 or (words.size and words.dtype.kind not in "iuO"):
            raise ArgumentTypeError(f"disassemble: expected a Program or a sequence of 32-bit code words, got "
                                    f"{program!r:.80}")
        try:
            program = Program(code=np.asarray(program, dtype=np.uint32).reshape(-1))
        except (TypeError, ValueError, OverflowError):
            raise ArgumentTypeError(f"disassemble: expected a Program or a sequence of 32-bit code words, got "
                                    f"{type(program).__name__}") from None
    instrs = program.instructions()
    # A label can only stand before an instruction (or just past the last one); a target inside an
    # instruction (an extension word) or outside the program stays a number.
    # Every label of the program is listed where it stands (a compiled kernel keeps the IR's labels);
    # a branch names the last label at its target, or L<pc> where the program has none.
    starts = {pc for pc, _ in instrs} | {len(program.code)}
    targets = sorted({i.target for _, i in instrs if BY_NAME[i.op].fmt in ("BR", "JMP") and i.target in starts})
    names = {pc: name for name, pc in program.labels.items()}
    labels = {t: names.get(t, f"L{t}") for t in targets}
    standing: dict[int, list[str]] = {}
    for name, pc in program.labels.items():
        if pc in starts and names[pc] != name:
            standing.setdefault(pc, []).append(name)
    for pc, name in labels.items():
        standing.setdefault(pc, []).append(name)
    for pc, name in names.items():
        if pc in starts and pc not in labels:
            standing.setdefault(pc, []).append(name)
    lines = [f".name {program.name}", f".sram {program.data_words}"]
    if program.arg_count is not None:
        lines.append(f".args {program.arg_count}")
    lines += [f".string {i} {quoted(s)}" for i, s in enumerate(program.strings) if i > 0]
    lines += [f".route {channel} {name}" for channel, name in program.routes]
    # (a target no instruction starts at, inside one or outside the code, is written @N: `assemble` refuses a
    # plain number there, a mistake in hand-written assembly)
    shown = {**labels, **{i.target: f"@{i.target}" for _, i in instrs
                          if BY_NAME[i.op].fmt in ("BR", "JMP") and i.target not in starts}}
    for pc, instr in instrs:
        lines += [f"{name}:" for name in standing.get(pc, ())]
        lines.append(f"    {format_instr(instr, shown)}")
    lines += [f"{name}:" for name in standing.get(len(program.code), ())]  # labels just past the last instruction
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- assembly
def _parse_int(token: str) -> int:
    return int(token.replace("_", ""), 0)


def _parse_imm(token: str, allow_float: bool) -> int:
    try:
        return _parse_int(token)
    except ValueError:
        pass
    if re.fullmatch(r"[+-]?0[0-9_]*[1-9][0-9_]*", token):
        # Neither int(token, 0) nor the assembler takes a leading zero; float() would, so `li r1, 017` gave the
        # bits of 17.0 (C reads 017 as octal 15): refuse it rather than guess.
        digits = token.lstrip("+-").lstrip("0_")
        octal = f", 0o{digits} (octal)" if set(digits) <= set("01234567_") else ""
        raise ValueError(f"{token}: an integer with a leading zero is ambiguous: write {digits} (decimal){octal} "
                         f"or {digits}.0 (a float)")
    if allow_float:
        try:
            value = float(token)
        except ValueError:
            pass
        else:
            try:
                return struct.unpack("<i", struct.pack("<f", value))[0]
            except OverflowError:  # (struct refuses a finite float beyond float32's range)
                raise ValueError(f"{token} does not fit in float32 (largest {np.finfo(np.float32).max:.7g}); "
                                 f"write inf for an infinity") from None
    raise ValueError(f"expected {'a number' if allow_float else 'an integer'}, got {token!r}")


def _parse_operand(kind: str, token: str, opname: str) -> int | str:
    low = token.lower()
    if kind in "dabc":
        if low == "zero":
            return 0
        if re.fullmatch(r"r\d+", low) and int(low[1:]) < 32:
            return int(low[1:])
        raise ValueError(f"expected a register r0..r31, got {token!r}")
    if kind == "dir":
        if low == "ramp" and opname == "hasnb":  # (the engine refused it only at launch, a LaunchError)
            raise ValueError("expected a neighbour's direction (north, east, south, west), got 'ramp': ramp is "
                             "this PE's own router, not a neighbour")
        if low in _DIRECTION_NAMES:
            return _DIRECTION_NAMES[low]
        raise ValueError(f"expected a direction (north, east, south, west, ramp), got {token!r}")
    if kind == "odir":  # a stream op's output: a neighbour, or none (the results only written back)
        if low == "none":
            return NOWHERE
        if low in _DIRECTION_NAMES and _DIRECTION_NAMES[low] != RAMP:
            return _DIRECTION_NAMES[low]
        if low.isdigit():
            return int(low)  # a port number no port has (the disassembly of a stray word; a launch refuses it)
        raise ValueError(f"expected an output port (north, east, south, west, none), got {token!r}"
                         + (": a stream op sends to a neighbour, not through the router (ramp)" if low == "ramp" else ""))
    if kind in ("rx", "tx"):
        if low == "drop" and kind == "tx":
            return ACCEPT
        names = [] if low == "none" else low.split("+")
        if not all(name in _DIRECTION_NAMES for name in names):
            raise ValueError(f"expected ports joined by + (north+east+ramp), none or drop, got {token!r}")
        if len(set(names)) < len(names):  # (a typo for another port, most likely: west+west for west+east)
            raise ValueError(f"a port named twice in {token!r}: name each port once")
        return sum(1 << _DIRECTION_NAMES[name] for name in set(names)) | (ACCEPT if kind == "tx" and names else 0)
    if kind == "sreg":
        if low in SPECIAL_REGISTERS:
            return SPECIAL_REGISTERS.index(low)
        raise ValueError(f"expected a special register ({', '.join(SPECIAL_REGISTERS)}), got {token!r}")
    if kind == "fn":
        if low in VECTOR_MATH:
            return VECTOR_MATH.index(low)
        if low.isdigit():
            return int(low)  # a function number past the table (the disassembly of a stray word)
        raise ValueError(f"expected a math instruction of one operand ({', '.join(VECTOR_MATH)}), got {token!r}")
    if kind == "target":
        if token.startswith("@"):  # word N itself, even inside an instruction (`assemble` checks the rest)
            try:
                return _RawTarget(_parse_int(token[1:]))
            except ValueError:
                raise ValueError(f"expected a word number after @ (@3), got {token!r}") from None
        try:
            return _parse_int(token)
        except ValueError:
            return token  # a label, resolved in the second pass
    value = _parse_imm(token, allow_float=(kind == "imm" and BY_NAME[opname].fmt == "EXT"))
    if opname == "arg" and value < 0:  # (encodable, but every launch would refuse it)
        raise ValueError(f"expected an argument number 0, 1, ..., got {token!r}")
    return value


class _RawTarget(int):
    """A branch target written `@N`: word N whether or not an instruction starts there (`disassemble` writes a
    branch into an extension word, or past the code, so; a launch that takes it stops with a `LaunchError`)."""


def _split_operands(text: str) -> list[str]:
    return [part.strip() for part in text.split(",")] if text.strip() else []


@call_checked
def assemble(source: str, name: str | None = None, file: str | None = None) -> Program:
    """Assemble text into a `Program`; errors name the line. The program's line table maps each instruction
    to (`file`, its line), so that run-time errors and the debugger name assembly lines as they name a
    kernel's Python lines (`file` defaults to "<assembly>"; `wafersim asm` passes the source's path)."""
    if not isinstance(source, str):
        raise ArgumentTypeError(f"assemble: expected assembly text (a str), got {type(source).__name__}")
    program_name, data_words, arg_count = name or "kernel", 0, None
    strings: dict[int, str] = {}
    routes: dict[int, str] = {}
    given: dict[str, str | int] = {}  # .name, .sram, .args: each once
    labels: dict[str, int] = {}
    pending: list[tuple[int, str, Instr, dict[str, str]]] = []  # (line number, text, instr, unresolved labels)
    pc = 0
    for number, raw in enumerate(source.splitlines(), start=1):
        line = raw.strip()
        if not line.startswith(".string"):  # a .string's text may hold '#' or ';'
            line = re.split(r"[#;]", line, maxsplit=1)[0].strip()
        if not line:
            continue

        def fail(message: str) -> AssemblyError:
            return AssemblyError(f"line {number}: {message}\n    {raw.strip()}", line=number)

        if line.startswith(".string"):
            match = re.fullmatch(r'\.string\s+(\d+)\s+("(?:[^"\\]|\\.)*")\s*(?:[#;].*)?', line)
            if not match or int(match.group(1)) == 0:
                raise fail('expected .string N "text" with N >= 1 (\\" and \\\\ for a quote and a backslash)')
            if int(match.group(1)) > MAX_STRING:
                raise fail(f".string {match.group(1)}: print names strings 1 to {MAX_STRING} (a 15-bit field)")
            if int(match.group(1)) in strings:
                raise fail(f".string {match.group(1)} is defined twice")
            try:
                strings[int(match.group(1))] = json.loads(match.group(2), strict=False)
            except ValueError as exc:
                raise fail(f"bad escape in the .string text ({exc.msg}): write \\\" \\\\ \\n \\t or \\uXXXX") from None
            continue
        while (label := _LABEL.match(line)) and not line.startswith("."):
            if label.group(1) in labels:
                raise fail(f"label {label.group(1)!r} defined twice")
            labels[label.group(1)] = pc
            line = label.group(2).strip()
        if not line:
            continue
        head, rest = (line.split(None, 1) + [""])[:2]
        if head.startswith("."):
            try:
                if head in (".name", ".sram", ".args"):
                    # (a second one with another value silently replaced the first: `.sram 10` then `.sram 20`
                    # gave 20 words, not the 30 a reader may expect)
                    value = rest.strip() if head == ".name" else _parse_int(rest.strip())
                    if given.setdefault(head, value) != value:
                        raise fail(f"{head} given twice, as {given[head]} and {value}: give it once")
                if head == ".name":
                    program_name = rest.strip()
                elif head in (".sram", ".args"):
                    count = _parse_int(rest.strip())
                    if count < 0:  # (a count: -1 would make a program no launch can match)
                        raise fail(f"{head} needs a number >= 0, got {count}")
                    if head == ".sram":
                        data_words = count
                    else:
                        arg_count = count
                elif head == ".route":
                    channel_text, _, pattern = rest.strip().partition(" ")
                    channel, pattern = _parse_int(channel_text), pattern.strip()
                    if pattern and channel >= 0 and pattern not in NAMED_ROUTES:  # (the pattern alone is wrong)
                        raise fail(f".route {channel}: {pattern!r} is not a named route pattern: use one of "
                                   f"{KNOWN_ROUTES}")
                    if pattern not in NAMED_ROUTES or channel < 0:
                        raise fail(f".route needs a channel and a pattern ({KNOWN_ROUTES})")
                    if channel >= MAX_CHANNELS:  # (accepted, then refused by every launch: a RouteError)
                        raise fail(f".route {channel}: channels are 0 to {MAX_CHANNELS - 1} (the 5-bit channel "
                                   f"field of send and recv; a machine has `WaferSpec.channels` of them)")
                    if routes.get(channel, pattern) != pattern:
                        raise fail(f"channel {channel} routed as {routes[channel]} and {pattern}")
                    routes[channel] = pattern
                else:
                    raise fail(f"unknown directive {head}")
            except ValueError:
                raise fail(f"{head} needs a number") from None
            continue
        mnemonic, _, modifiers = head.lower().partition(".")
        opcode = BY_NAME.get(mnemonic)
        if opcode is None:
            raise fail(f"unknown instruction {mnemonic!r}")
        flags = 0
        if mnemonic in MESSAGE_OPS and modifiers:
            if modifiers not in WORD_TAG:
                raise fail(f"{mnemonic} takes a word type modifier ({', '.join('.' + t for t in WORD_TYPES)})")
            flags, modifiers = WORD_TAG[modifiers], ""
        for letter in modifiers:
            if letter not in opcode.flags:
                raise fail(f"{mnemonic} takes no .{letter} modifier (accepts: {opcode.flags or 'none'})")
            flags |= FLAG_LETTERS[letter]
        tokens = _split_operands(rest)
        if len(tokens) != len(opcode.operands):
            raise fail(f"{mnemonic} takes {plural(len(opcode.operands), 'operand')} "
                       f"({', '.join(opcode.operands) or 'none'}), got {len(tokens)}")
        fields: dict[str, int] = {"flags": flags}
        unresolved: dict[str, str] = {}
        for kind, token in zip(opcode.operands, tokens):
            try:
                value = _parse_operand(kind, token, mnemonic)
            except ValueError as exc:
                raise fail(f"{mnemonic}: {exc}") from None
            if isinstance(value, str):
                unresolved[kind] = value
                value = 0
            elif kind == "target" and not isinstance(value, _RawTarget):
                unresolved["number"] = str(value)  # (checked below, once every instruction's start is known)
            fields[OPERAND_FIELD.get(kind, kind)] = int(value)
        instr = Instr(mnemonic, **fields)
        pending.append((number, raw.strip(), instr, unresolved))
        pc += opcode.words

    words: list[int] = []
    lines: dict[int, tuple[str, int]] = {}
    starts = _instruction_starts(pending)
    for number, raw, instr, unresolved in pending:
        lines[len(words)] = (file or "<assembly>", number)
        if "number" in unresolved and instr.target not in starts:
            raise AssemblyError(f"line {number}: {instr.op}: {_stray_target(instr.target, starts)}\n    {raw}",
                                line=number)
        if "target" in unresolved:
            label = unresolved["target"]
            if label not in labels:
                raise AssemblyError(f"line {number}: undefined label {label!r}\n    {raw}", line=number)
            instr = dataclasses.replace(instr, target=labels[label])
        try:
            words += encode(instr)
        except AssemblyError as exc:
            raise AssemblyError(f"line {number}: {exc}\n    {raw}", line=number) from None
    table = tuple(strings.get(i, "") for i in range(max(strings, default=0) + 1))
    return Program(code=np.array(words, dtype=np.uint32), name=program_name, data_words=data_words,
                   arg_count=arg_count, strings=table, labels=labels, lines=lines, routes=tuple(sorted(routes.items())))


def _instruction_starts(pending: list) -> dict[int, str]:
    """The word each instruction starts at, its opcode (and the end of the code, "")."""
    starts, pc = {}, 0
    for _, _, instr, _ in pending:
        starts[pc] = instr.op
        pc += BY_NAME[instr.op].words
    starts[pc] = ""
    return starts


def _stray_target(target: int, starts: dict[int, str]) -> str:
    """Why a numeric branch target that starts no instruction is refused (a launch would stop there)."""
    end = max(starts)
    if 0 <= target < end:
        at = max(pc for pc in starts if pc < target)
        where = f"the extension word of the {starts[at]} at word {at}, the middle of an instruction"
    else:
        where = f"outside the code (words 0 to {end - 1}{'' if end else ', none'}, or {end} just past it to halt)"
    return (f"target {target} is {where}: a PE that took the branch would stop the launch; name the target by a "
            f"label, or by the number of an instruction's first word (@{target} writes the word itself, as "
            f"disassemble does for such code)")


def assemble_words(instrs: Iterable[Instr]) -> np.ndarray:
    """Encode decoded instructions back into code words."""
    return np.array([w for instr in instrs for w in encode(instr)], dtype=np.uint32)
