"""The assembler (src/wafersim/isa/assembler.py): its syntax, directives and errors, checked against the
instruction words `Instr` and `struct` give for the same fields and values."""
from __future__ import annotations

import struct

import numpy as np
import pytest

from wafersim.errors import AssemblyError
from wafersim.isa import Instr, Program, assemble, decode, decode_at, disassemble
from wafersim.isa.assembler import format_instr
from wafersim.isa.opcodes import DIRECTIONS, FLAG_LETTERS, SPECIAL_REGISTERS


def f32_bits(value: float) -> int:
    """Signed int32 view of the float32 bits of `value`."""
    return struct.unpack("<i", struct.pack("<f", value))[0]


# ----------------------------------------------------------------------------- assembler features
SOURCE = """\
# a small program that uses every feature
.name   demo            ; its name
.sram   24
.args   3
.string 1 "partial"
.string 3 "x # y ; z"
start:                  # a label on its own line
    li r1, 1.5          ; float literal
    li r2, -0.25
    li r3, 0x7fffffff
    li r4, 1e-3
    addi r5, r0, 0x10   # hex immediate
    addi r6, r5, -0x20
    addi r7, r0, 8191
    addi r8, r0, -8192
    andi R9, r8, 0b1011
    send east, 3, r2
    send E, 1, r2
    recv r10, w, 2
    recv r11, NORTH, 0
    hasnb r12, south
    sreg r13, tid.y
    sreg r14, pe.x
    vadd.fs r15, r16, r17, r18
    vadd.sf r15, r16, r17, r18
    vmul.f r1, r2, r3, r4
    vscale.f r1, r2, r3, r4
    print r3, 1
loop: inner: bnz r3, loop
    bz r0, end
    jmp start
    mov r31, zero
end: halt
"""


PRINT_LABELS = ['x" # y', "a;b", "back\\slash", 'q"', "tab\there", "two\nlines", "µs ∑", "\x85\u2028\u2029 breaks",
                "\\u0041 written out", ""]


def test_string_texts_survive_disassembly():
    """Every print label reads back from `disassemble` as written (a `#` after a quote was read as a comment:
    'x" # y' came back as 'x'; a label with a quote, tab or newline did not assemble)."""
    program = Program(code=assemble("halt").code, name="labels", strings=("", *PRINT_LABELS))
    again = assemble(disassemble(program))
    assert again.strings == program.strings  # the reference: the Python strings themselves
    assert again.code.tolist() == program.code.tolist()


def test_string_escapes_and_their_errors():
    assert assemble('.string 1 "say \\"hi\\" \\\\ \\t" # comment\nhalt').strings == ("", 'say "hi" \\ \t')
    with pytest.raises(AssemblyError, match="bad escape"):
        assemble('.string 1 "\\q"\nhalt')


def test_assembler_features():
    program = assemble(SOURCE)
    assert isinstance(program, Program)
    assert program.name == "demo"
    assert program.data_words == 24
    assert program.arg_count == 3
    assert program.strings == ("", "partial", "", "x # y ; z")
    instrs = [i for _, i in decode(program.code)]
    by_index = iter(instrs)

    def nxt():
        return next(by_index)

    assert nxt() == Instr("li", d=1, imm=f32_bits(1.5))
    assert nxt() == Instr("li", d=2, imm=f32_bits(-0.25))
    assert nxt() == Instr("li", d=3, imm=0x7FFFFFFF)
    assert nxt() == Instr("li", d=4, imm=int(np.float32(1e-3).view(np.int32)))
    assert nxt() == Instr("addi", d=5, a=0, imm=16)
    assert nxt() == Instr("addi", d=6, a=5, imm=-32)
    assert nxt() == Instr("addi", d=7, imm=8191)
    assert nxt() == Instr("addi", d=8, imm=-8192)
    assert nxt() == Instr("andi", d=9, a=8, imm=0b1011)
    assert nxt() == Instr("send", dir=DIRECTIONS.index("east"), ch=3, a=2)
    assert nxt() == Instr("send", dir=DIRECTIONS.index("east"), ch=1, a=2)
    assert nxt() == Instr("recv", d=10, dir=DIRECTIONS.index("west"), ch=2)
    assert nxt() == Instr("recv", d=11, dir=DIRECTIONS.index("north"), ch=0)
    assert nxt() == Instr("hasnb", d=12, dir=DIRECTIONS.index("south"))
    assert nxt() == Instr("sreg", d=13, imm=SPECIAL_REGISTERS.index("tid.y"))
    assert nxt() == Instr("sreg", d=14, imm=SPECIAL_REGISTERS.index("pe.x"))
    assert nxt() == Instr("vadd", d=15, a=16, b=17, c=18, flags=FLAG_LETTERS["f"] | FLAG_LETTERS["s"])
    assert nxt() == Instr("vadd", d=15, a=16, b=17, c=18, flags=3)
    assert nxt() == Instr("vmul", d=1, a=2, b=3, c=4, flags=1)
    assert nxt() == Instr("vscale", d=1, a=2, b=3, c=4, flags=1)
    assert nxt() == Instr("print", a=3, imm=1)
    loop_pc = 4 * 2 + 17  # four 2-word `li`, then 17 one-word instructions
    assert program.labels == {"start": 0, "loop": loop_pc, "inner": loop_pc, "end": loop_pc + 4}
    assert nxt() == Instr("bnz", a=3, target=loop_pc)
    assert nxt() == Instr("bz", a=0, target=loop_pc + 4)
    assert nxt() == Instr("jmp", target=0)
    assert nxt() == Instr("mov", d=31, a=0)
    assert nxt() == Instr("halt")
    assert next(by_index, None) is None
    assert len(program.code) == loop_pc + 5


def test_print_float_modifier_is_kept():
    # `print.f` prints its register as float32 (opcodes.py), so it must not assemble to the same word as `print`
    as_float = assemble("print.f r3, 1")
    as_int = assemble("print r3, 1")
    assert decode_at(as_float.code, 0) == Instr("print", a=3, imm=1, flags=FLAG_LETTERS["f"])
    assert as_float.code.tolist() != as_int.code.tolist()


def test_every_special_register_name():
    for index, name in enumerate(SPECIAL_REGISTERS):
        program = assemble(f"sreg r2, {name}")
        assert decode_at(program.code, 0) == Instr("sreg", d=2, imm=index)
        assert format_instr(decode_at(program.code, 0)) == f"sreg r2, {name}"


def test_every_direction_name_full_and_short():
    for index, name in enumerate(DIRECTIONS):
        for spelling in (name, name[0], name.upper()):
            assert decode_at(assemble(f"hasnb r1, {spelling}").code, 0) == Instr("hasnb", d=1, dir=index)


def test_numeric_branch_target_and_name_argument():
    program = assemble("nop\njmp 0\nbz r1, 3\nhalt", name="given")
    assert program.name == "given"
    assert [i for _, i in decode(program.code)][1:3] == [Instr("jmp", target=0), Instr("bz", a=1, target=3)]


def test_empty_source_gives_empty_program():
    program = assemble("# nothing here\n\n   ; nor here\n")
    assert len(program.code) == 0
    assert program.name == "kernel" and program.data_words == 0 and program.arg_count is None


def test_comment_containing_a_quote_is_ignored():
    # a comment may contain any text, a double quote included
    program = assemble('addi r1, r0, 5   # load "five"\nhalt')
    assert [i for _, i in decode(program.code)] == [Instr("addi", d=1, imm=5), Instr("halt")]


def test_tab_between_mnemonic_and_operands():
    program = assemble("addi\tr1, r0, 5\nhalt")
    assert [i for _, i in decode(program.code)] == [Instr("addi", d=1, imm=5), Instr("halt")]


# ----------------------------------------------------------------------------- assembler errors
@pytest.mark.parametrize("source, line, words", [
    ("nop\nfrob r1, r2", 2, ["unknown instruction"]),
    ("nop\nnop\nadd r1, r2", 3, ["operand"]),
    ("add r1, r2, r3, r4", 1, ["operand"]),
    ("halt r1", 1, ["operand"]),
    ("nop\nmov r32, r1", 2, ["register"]),
    ("mov r1, x5", 1, ["register"]),
    ("nop\njmp nowhere\nhalt", 2, ["undefined label", "nowhere"]),
    ("a: nop\nnop\na: halt", 3, ["a", "twice"]),
    ("nop\naddi r1, r0, 8192", 2, ["8192"]),
    ("addi r1, r0, -8193", 1, ["-8193"]),
    ("addi r1, r0, 1.5", 1, ["integer"]),
    ("nop\nnop\nnop\nvscale.s r1, r2, r3, r4", 4, [".s"]),
    ("add.f r1, r2, r3", 1, [".f"]),
    ("vadd.x r1, r2, r3, r4", 1, [".x"]),
    ("nop\n.section text", 2, ["unknown directive"]),
    (".sram lots", 1, [".sram"]),
    ("send up, 0, r1", 1, ["direction"]),
    ("sreg r1, tid.z", 1, ["special register"]),
    ('.string 0 "zero"', 1, [".string"]),
    ("li r1, 0x100000000", 1, ["32 bits"]),
    ("nop\nhasnb r1, ramp", 2, ["neighbour's direction", "'ramp'"]),  # (was a LaunchError at every launch)
    ("arg r1, -1", 1, ["argument number", "'-1'"]),  # (was "kernel reads argument -1" at launch)
    (".sram 10\nnop\n.sram 20", 3, [".sram given twice, as 10 and 20"]),  # (was 20 words, silently)
    (".args 2\n.args 3", 2, [".args given twice, as 2 and 3"]),
    (".name a\n.name b", 2, [".name given twice, as a and b"]),
    ("nop\n.route 40 row_bus", 2, [".route 40", "channels are 0 to 31"]),  # (was a RouteError at every launch)
    # (was ".route needs a channel and a pattern", though both were given: the pattern is the mistake)
    (".route 1 row_busx", 1, [".route 1: 'row_busx' is not a named route pattern", "row_bus, column_bus"]),
    # a numeric branch target that starts no instruction (was a LaunchError only when a PE took the branch)
    ("nop\njmp 3\nli r1, 0x02000000\nhalt", 2, ["jmp: target 3 is the extension word of the li at word 2",
                                                  "@3"]),
    ("li r2, 2\nloop:\naddi r2, r2, -1\nbnz r2, 9\n", 4, ["target 9 is outside the code (words 0 to 3, or 4"]),
    ("bz r0, -1\nhalt", 1, ["target -1 is outside the code"]),
    ("jmp @x", 1, ["expected a word number after @"]),
])
def test_assembly_errors_name_the_line(source, line, words):
    with pytest.raises(AssemblyError) as info:
        assemble(source)
    message = str(info.value)
    assert f"line {line}" in message
    assert info.value.line == line
    for word in words:
        assert word in message


def test_numeric_branch_targets_at_instruction_starts_or_the_end_assemble_and_at_writes_any_word():
    # (a number at an instruction's first word, or just past the code, is a place a PE can go)
    program = assemble("li r1, 1\nbnz r1, 3\njmp 4\n")
    assert [i.target for _, i in decode(program.code)[1:]] == [3, 4]
    raw = assemble("jmp @2\nli r1, 5\nhalt")  # (the word itself: what disassemble writes for such a branch)
    assert decode(raw.code)[0][1] == Instr("jmp", target=2)
    assert "jmp @2" in disassemble(raw) and assemble(disassemble(raw)).code.tolist() == raw.code.tolist()


def test_route_channels_are_those_of_the_send_and_recv_channel_field():
    """`.route CH` takes the channels a `send` can name (its 5-bit `ch` field), and no other."""
    largest = 2 ** 5 - 1
    assert decode_at(assemble(f"send east, {largest}, r1").code, 0) == Instr("send", dir=1, ch=largest, a=1)
    assert assemble(f".route {largest} row_bus\nhalt").routes == ((largest, "row_bus"),)
    for channel in (largest + 1, 1000):
        for source in (f"send east, {channel}, r1", f".route {channel} row_bus"):
            with pytest.raises(AssemblyError, match="line 1"):
                assemble(source)


def test_largest_fitting_immediates_assemble():
    program = assemble("addi r1, r0, 8191\naddi r1, r0, -8192\nli r2, 0xffffffff\nli r2, -2147483648")
    assert [i.imm for _, i in decode(program.code)] == [8191, -8192, -1, -(1 << 31)]


@pytest.mark.parametrize("source, message", [
    ("li r1, 1e40", "1e40 does not fit in float32"),  # (was "expected a number")
    ("li r1, -3.5e38", "does not fit in float32"),
    ("route 1, west+west, east", r"a port named twice in 'west\+west'"),  # (was taken as west)
    ("route 1, east, north+ramp+north", "a port named twice"),
])
def test_numbers_beyond_float32_and_ports_named_twice_are_refused(source, message):
    with pytest.raises(AssemblyError, match=message):
        assemble(source + "\nhalt")
    assert [i.imm for _, i in decode(assemble("li r1, 3.4e38\nli r2, -inf").code)] == [
        struct.unpack("<i", struct.pack("<f", v))[0] for v in (3.4e38, -np.inf)]


@pytest.mark.parametrize("source, message", [
    ("li r1, 017", r"017: an integer with a leading zero is ambiguous: write 17 \(decimal\), 0o17"),  # (was 17.0's bits)
    ("li r1, -08", r"write 8 \(decimal\) or 8.0"),  # (no octal 0o8 to suggest)
    ("li r1, 0_7", "leading zero"),
    ("addi r1, r0, 010", "leading zero"),  # (was "expected an integer")
])
def test_integers_with_a_leading_zero_are_refused_not_read_as_floats(source, message):
    with pytest.raises(AssemblyError, match=message):
        assemble(source + "\nhalt")
    # What stays: a lone zero, 0o / 0x / 0b prefixes, and float literals with a leading zero.
    words = [i.imm for _, i in decode(assemble("li r1, 00\nli r1, 0o17\nli r1, 0x17\nli r1, 0017.5\nli r1, 0e0").code)]
    assert words == [0, 15, 23, struct.unpack("<i", struct.pack("<f", 17.5))[0], 0]
