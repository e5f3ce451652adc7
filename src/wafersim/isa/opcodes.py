"""The opcode table: the single source of truth of the wafersim ISA.

The encoder, decoder, assembler, disassembler, the per-opcode cost table and docs/isa.md are all
derived from `OPCODES`. This ISA is our own design, not a copy of any product's (those are not public).

Instruction word (32 bits), field layouts by format:

    REG  op[31:24] d[23:19] a[18:14] b[13:9] c[8:4] flags[3:0]
    IMM  op[31:24] d[23:19] a[18:14] imm[13:0]            (imm: signed 14-bit)
    EXT  op[31:24] d[23:19] 0[18:0]   + one extension word  (imm: any 32-bit value)
    BR   op[31:24] a[23:19] target[18:0]                   (absolute word address)
    JMP  op[31:24] target[23:0]
    MSG  op[31:24] d[23:19] a[18:14] b[13:9] dir[8:6] ch[5:1] 0[0]     (dir 4: the PE's router, RAMP)
    MSGS op[31:24] flags[23:19] a[18:14] b[13:9] dir[8:6] ch[5:1] 0[0] (flags: the word type, WORD_TYPES)
    MSGR op[31:24] d[23:19] flags[18:14] 0[13:9] dir[8:6] ch[5:1] 0[0] (flags: the word type, WORD_TYPES)
    RTE  op[31:24] ch[23:19] rx[18:14] tx[13:8] 0[7:0]       (rx, tx: port masks, bit p = port p; tx bit 5: ACCEPT)
    PRT  op[31:24] a[23:19] flags[18:15] imm[14:0]         (imm: unsigned 15-bit)
    CHK  op[31:24] a[23:19] b[18:14] imm[13:0]             (imm: unsigned 14-bit)
    MSGX op[31:24] odir[23:21] flags[20:19] a[18:14] b[13:9] dir[8:6] ch[5:1] 0[0]  (odir: an output port or NOWHERE)
"""
from __future__ import annotations

import dataclasses
import numbers
from typing import Any

from ..arch.spec import DEFAULT_COST_CYCLES

#: (name, lowest bit, width, signed) of each field, per format.
FORMATS: dict[str, tuple[tuple[str, int, int, bool], ...]] = {
    "REG": (("d", 19, 5, False), ("a", 14, 5, False), ("b", 9, 5, False), ("c", 4, 5, False), ("flags", 0, 4, False)),
    "IMM": (("d", 19, 5, False), ("a", 14, 5, False), ("imm", 0, 14, True)),
    "EXT": (("d", 19, 5, False),),
    "BR": (("a", 19, 5, False), ("target", 0, 19, False)),
    "JMP": (("target", 0, 24, False),),
    "MSG": (("d", 19, 5, False), ("a", 14, 5, False), ("b", 9, 5, False), ("dir", 6, 3, False), ("ch", 1, 5, False)),
    "MSGS": (("flags", 19, 5, False), ("a", 14, 5, False), ("b", 9, 5, False), ("dir", 6, 3, False),
             ("ch", 1, 5, False)),
    "MSGR": (("d", 19, 5, False), ("flags", 14, 5, False), ("dir", 6, 3, False), ("ch", 1, 5, False)),
    "RTE": (("ch", 19, 5, False), ("a", 14, 5, False), ("b", 8, 6, False)),
    "PRT": (("a", 19, 5, False), ("flags", 15, 4, False), ("imm", 0, 15, False)),
    "CHK": (("a", 19, 5, False), ("b", 14, 5, False), ("imm", 0, 14, False)),
    # (the output port `odir` is stored in field d: it is no register)
    "MSGX": (("d", 21, 3, False), ("flags", 19, 2, False), ("a", 14, 5, False), ("b", 9, 5, False),
             ("dir", 6, 3, False), ("ch", 1, 5, False)),
}

#: The range of the IMM format's signed immediate (addi, andi, slti, ...): an operand outside it needs a register.
IMM_MIN, IMM_MAX = -(1 << 13), (1 << 13) - 1

DIRECTIONS = ("north", "east", "south", "west")
NORTH, EAST, SOUTH, WEST = range(4)
#: The ports of a PE's router: the four links and the PE itself ("ramp", as the Cerebras SDK calls it).
#: `dir` = RAMP in send/recv means "through this PE's router, along the channel's route".
PORTS = DIRECTIONS + ("ramp",)
RAMP = 4
#: Bit 5 of an output mask: the input has a rule (with no output bits, its words are dropped). A mask of
#: 0 means no rule: a word arriving there is an error.
ACCEPT = 1 << 5


def port_mask(ports) -> int:
    """The bit mask of a port or a sequence of ports (bit p = port p); ValueError for anything else."""
    if type(ports) is int and 0 <= ports < len(PORTS):  # (the usual forms, without the general checks: a custom
        return 1 << ports                                 # route's rules give one a PE and channel at launch)
    if type(ports) is tuple and all(type(port) is int and 0 <= port < len(PORTS) for port in ports):
        return sum(1 << port for port in set(ports))
    items = (ports,) if isinstance(ports, numbers.Integral) else tuple(ports)
    for port in items:
        if isinstance(port, bool) or not isinstance(port, numbers.Integral) or not 0 <= port < len(PORTS):
            raise ValueError(f"{port!r} is not a port")
    return sum(1 << int(p) for p in set(items))


def port_mask_text(mask: int) -> str:
    """`west+ramp` for a mask with bits WEST and RAMP, `none` for 0, `drop` for ACCEPT alone."""
    text = "+".join(name for port, name in enumerate(PORTS) if mask >> port & 1)
    return text or ("drop" if mask & ACCEPT else "none")
#: The output port `none` of a stream op (`vaddx`, `vmaxx`, `vminx`): the results stay in SRAM, nothing is sent.
NOWHERE = 5
#: The 16-bit stream ops: float16 words (one per 32-bit word, isa/halfprec.py), each result rounded to nearest
#: even in float16 (the Cerebras SDK's `@faddh` with fabric DSDs), a word per max(1 / `link_words_per_cycle`,
#: 1 / `vector_lanes_half`) cycles.
HALF_STREAM_OPS = frozenset({"vhaddx", "vhmaxx", "vhminx"})
#: Stream ops: word k of a fabric input combined with sram[a + k], the result written back and sent on as it
#: is made (docs/timing.md, "Streams through the FMAC").
STREAM_OPS = frozenset({"vaddx", "vmaxx", "vminx"}) | HALF_STREAM_OPS


def stream_word_type(op: str, flags: int) -> str:
    """The word type (`WORD_TYPES`) a stream op's words are tagged and checked as, and its elements' type:
    `f16` for the 16-bit ones, `f32` with the `.f` flag, else `i32`."""
    return "f16" if op in HALF_STREAM_OPS else "f32" if flags & FLAG_FLOAT else "i32"


def stream_word_tag(op: str, flags: int) -> int:
    """The tag (`WORD_TAG`) of the words a stream op sends and takes: its element type's, a chain's (`.c`,
    `chain_tag`) when a collective's chain emitted it."""
    tag = WORD_TAG[stream_word_type(op, flags)]
    return chain_tag(tag) if flags & FLAG_CHAIN else tag


def output_port_text(port: int) -> str:
    """A stream op's output port as assembly writes it: `east`, or `none` (NOWHERE); anything else as it is
    (a port out of range, or what a field that should hold one holds, as the verifier's messages show it)."""
    if isinstance(port, bool) or not isinstance(port, numbers.Integral):
        return repr(port)
    return "none" if port == NOWHERE else DIRECTIONS[port] if 0 <= port < len(DIRECTIONS) else str(port)
#: (dx, dy) of each direction; y grows south.
DIRECTION_STEP = ((0, -1), (1, 0), (0, 1), (-1, 0))

#: `chk` messages ending with one of these test a slice's start, end or length against the array's size + 1
#: (a slice may end at the size): the engine reports the size itself. A `chk` against r0 (always 0) is a guard
#: that fails when b is 0; its message is the whole message.
SLICE_BOUND_CHECKS = (" slice start", " slice end", " slice length")

SPECIAL_REGISTERS = ("tid.x", "tid.y", "bid.x", "bid.y", "bdim.x", "bdim.y", "gdim.x", "gdim.y", "pe.x", "pe.y")

#: Modifier letters written after a dot (`vadd.fs`): bit values in the `flags` field. `c` (the stream ops
#: only, which take no `s`; their flags field has 2 bits): a collective's chain words (`chain_tag`).
FLAG_LETTERS = {"f": 1, "s": 2, "b": 4, "c": 2}
FLAG_FLOAT, FLAG_SCALAR = 1, 2
FLAG_CHAIN = 2
#: On the 16-bit float opcodes (`vhadd` ... `f2h`): bfloat16 instead of float16 (isa/halfprec.py).
FLAG_BFLOAT = 4

#: The type tag a fabric word carries (docs/python-supported.md, "Words on the fabric"): the `flags` field of
#: send/sendv/recv/recvv, written as a modifier (`send.i32`). A send tags its words; a typed receive of a
#: word tagged with another type stops the kernel with a `WordTypeError`. `raw` (0, what untyped assembly
#: gives) is never checked against a type: a raw send's words go to any receive, a raw receive (`bitcast=True`)
#: takes any word, but not across the line between the kernel's words and a chain's (below). Tags are positions in this tuple (the field has 5 bits; `f16`, `bf16`: 16-bit floats, one per word).
#: The `c` types (`cf32`, ...: tag + CHAIN_TAGS) are the same types' words of a collective's chain (the
#: partial results `wafersim.collectives` passes as plain neighbour words, `block_reduce_to_corner`, ...):
#: a chain's receive taking a word of the kernel's own on that FIFO, or the kernel's receive taking a chain's,
#: stops with a `ChainWordError` instead of a wrong result.
WORD_TYPES = ("raw", "f32", "i32", "f16", "bf16", "cf32", "ci32", "cf16", "cbf16")
CHAIN_TAGS = 4
#: The NumPy name of each word type (and IR type) but raw, for messages: `f32` -> "float32".
WORD_TYPE_NAMES = {"f32": "float32", "i32": "int32", "f16": "float16", "bf16": "bfloat16"}
WORD_TAG = {name: tag for tag, name in enumerate(WORD_TYPES)}


def chain_tag(tag: int) -> int:
    """The tag of a collective's chain words of the type tagged `tag` (raw stays raw: never checked)."""
    return tag + CHAIN_TAGS if 0 < tag <= CHAIN_TAGS else tag


def is_chain_tag(tag: Any) -> Any:
    """Whether `tag` marks a collective's chain words (elementwise for an array of tags)."""
    return (tag > CHAIN_TAGS) & (tag < len(WORD_TYPES))


def word_type_name(tag: int) -> str:
    """The NumPy name of a tag's type (`cf32` too: "float32"); `raw`, or `tag N` for one out of range."""
    if not 0 <= tag < len(WORD_TYPES):
        return f"tag {tag}"
    name = WORD_TYPES[tag - CHAIN_TAGS if is_chain_tag(tag) else tag]
    return WORD_TYPE_NAMES.get(name, name)
#: Opcodes whose `flags` field is a word type rather than modifier letters.
MESSAGE_OPS = frozenset({"send", "sendv", "recv", "recvv", "senda", "recva"})


def modifier_text(op: str, flags: int) -> str:
    """The modifier written after an instruction's mnemonic: `.fs` (flag letters) or `.i32` (a word type)."""
    if not flags:
        return ""
    if op in MESSAGE_OPS:
        return "." + (WORD_TYPES[flags] if flags < len(WORD_TYPES) else str(flags))
    return "." + "".join(letter for letter in BY_NAME[op].flags if flags & FLAG_LETTERS[letter])


@dataclasses.dataclass(frozen=True)
class Opcode:
    code: int
    name: str
    fmt: str
    operands: tuple[str, ...]  # fields in assembly order
    cost_class: str
    doc: str
    flags: str = ""  # modifier letters this opcode accepts

    @property
    def words(self) -> int:
        return 2 if self.fmt == "EXT" else 1


_TABLE: list[tuple[str, str, tuple[str, ...], str, str, str]] = [
    # name, format, operands, cost class, meaning, accepted flags
    ("nop", "REG", (), "alu", "no operation", ""),
    ("halt", "REG", (), "halt", "stop this PE", ""),
    # integer ALU
    ("add", "REG", ("d", "a", "b"), "alu", "d = a + b (int32, wraps)", ""),
    ("sub", "REG", ("d", "a", "b"), "alu", "d = a - b", ""),
    ("mul", "REG", ("d", "a", "b"), "mul", "d = a * b (low 32 bits)", ""),
    ("div", "REG", ("d", "a", "b"), "div", "d = a / b truncated toward zero; b = 0 gives -1; INT_MIN / -1 gives INT_MIN", ""),
    ("rem", "REG", ("d", "a", "b"), "div", "d = a - b * (a / b) (sign of a); b = 0 gives a", ""),
    ("and", "REG", ("d", "a", "b"), "alu", "d = a & b", ""),
    ("or", "REG", ("d", "a", "b"), "alu", "d = a | b", ""),
    ("xor", "REG", ("d", "a", "b"), "alu", "d = a ^ b", ""),
    ("shl", "REG", ("d", "a", "b"), "alu", "d = a << (b & 31)", ""),
    ("shr", "REG", ("d", "a", "b"), "alu", "d = a >> (b & 31), logical", ""),
    ("sra", "REG", ("d", "a", "b"), "alu", "d = a >> (b & 31), arithmetic", ""),
    ("min", "REG", ("d", "a", "b"), "alu", "d = min(a, b) signed", ""),
    ("max", "REG", ("d", "a", "b"), "alu", "d = max(a, b) signed", ""),
    ("slt", "REG", ("d", "a", "b"), "alu", "d = 1 if a < b (signed) else 0", ""),
    ("sle", "REG", ("d", "a", "b"), "alu", "d = 1 if a <= b (signed) else 0", ""),
    ("seq", "REG", ("d", "a", "b"), "alu", "d = 1 if a == b else 0", ""),
    ("sne", "REG", ("d", "a", "b"), "alu", "d = 1 if a != b else 0", ""),
    ("mov", "REG", ("d", "a"), "alu", "d = a", ""),
    ("neg", "REG", ("d", "a"), "alu", "d = -a", ""),
    ("abs", "REG", ("d", "a"), "alu", "d = |a| (abs(INT_MIN) = INT_MIN)", ""),
    ("sel", "REG", ("d", "a", "b", "c"), "alu", "d = b if a != 0 else c (any 32-bit values)", ""),
    # immediates
    ("addi", "IMM", ("d", "a", "imm"), "alu", "d = a + imm", ""),
    ("muli", "IMM", ("d", "a", "imm"), "mul", "d = a * imm", ""),
    ("andi", "IMM", ("d", "a", "imm"), "alu", "d = a & imm", ""),
    ("ori", "IMM", ("d", "a", "imm"), "alu", "d = a | imm", ""),
    ("xori", "IMM", ("d", "a", "imm"), "alu", "d = a ^ imm", ""),
    ("shli", "IMM", ("d", "a", "imm"), "alu", "d = a << (imm & 31)", ""),
    ("shri", "IMM", ("d", "a", "imm"), "alu", "d = a >> (imm & 31), logical", ""),
    ("srai", "IMM", ("d", "a", "imm"), "alu", "d = a >> (imm & 31), arithmetic", ""),
    ("slti", "IMM", ("d", "a", "imm"), "alu", "d = 1 if a < imm else 0", ""),
    ("seqi", "IMM", ("d", "a", "imm"), "alu", "d = 1 if a == imm else 0", ""),
    ("li", "EXT", ("d", "imm"), "alu", "d = imm (32 bits in the extension word; a float literal gives its float32 bits)", ""),
    # float32 ALU
    ("fadd", "REG", ("d", "a", "b"), "fpu", "d = a + b (float32)", ""),
    ("fsub", "REG", ("d", "a", "b"), "fpu", "d = a - b", ""),
    ("fmul", "REG", ("d", "a", "b"), "mul", "d = a * b", ""),
    ("fdiv", "REG", ("d", "a", "b"), "div", "d = a / b (IEEE: x/0 is inf or nan)", ""),
    ("fmin", "REG", ("d", "a", "b"), "fpu", "d = min(a, b), as np.minimum: nan if either is nan; of two zeros, b", ""),
    ("fmax", "REG", ("d", "a", "b"), "fpu", "d = max(a, b), as np.maximum (as fmin)", ""),
    ("fma", "REG", ("d", "a", "b", "c"), "mul", "d = a * b + c (float32, one rounding)", ""),
    ("flt", "REG", ("d", "a", "b"), "fpu", "d = 1 if a < b else 0", ""),
    ("fle", "REG", ("d", "a", "b"), "fpu", "d = 1 if a <= b else 0", ""),
    ("feq", "REG", ("d", "a", "b"), "fpu", "d = 1 if a == b else 0", ""),
    ("fne", "REG", ("d", "a", "b"), "fpu", "d = 1 if a != b else 0 (nan != nan)", ""),
    ("fneg", "REG", ("d", "a"), "fpu", "d = -a", ""),
    ("fabs", "REG", ("d", "a"), "fpu", "d = |a|", ""),
    ("fsqrt", "REG", ("d", "a"), "sfu", "d = sqrt(a)", ""),
    ("fexp", "REG", ("d", "a"), "sfu", "d = exp(a)", ""),
    ("flog", "REG", ("d", "a"), "sfu", "d = log(a)", ""),
    ("ftanh", "REG", ("d", "a"), "sfu", "d = tanh(a)", ""),
    ("itof", "REG", ("d", "a"), "fpu", "d = float32(a)", ""),
    ("ftoi", "REG", ("d", "a"), "fpu", "d = int32(a) truncated toward zero, saturating; nan gives 0", ""),
    # control flow
    ("bz", "BR", ("a", "target"), "branch", "jump to target if a == 0", ""),
    ("bnz", "BR", ("a", "target"), "branch", "jump to target if a != 0", ""),
    ("jmp", "JMP", ("target",), "branch", "jump to target", ""),
    # SRAM (data segment, word addresses)
    ("ld", "IMM", ("d", "a", "imm"), "sram", "d = sram[a + imm]", ""),
    ("st", "IMM", ("d", "a", "imm"), "sram", "sram[a + imm] = d", ""),
    # vector ops over SRAM ranges: d, a = base word addresses, b = base (or a scalar with .s), c = length
    ("vadd", "REG", ("d", "a", "b", "c"), "vector", "sram[d:d+c] = sram[a:a+c] + sram[b:b+c]  (.s: + b)", "fs"),
    ("vsub", "REG", ("d", "a", "b", "c"), "vector", "sram[d:d+c] = sram[a:a+c] - sram[b:b+c]  (.s: - b)", "fs"),
    ("vmul", "REG", ("d", "a", "b", "c"), "vector", "sram[d:d+c] = sram[a:a+c] * sram[b:b+c]  (.s: * b)", "fs"),
    ("vmin", "REG", ("d", "a", "b", "c"), "vector", "sram[d:d+c] = min(sram[a:a+c], sram[b:b+c])  (.s: min with b; "
     ".f: as fmin)", "fs"),
    ("vmax", "REG", ("d", "a", "b", "c"), "vector", "sram[d:d+c] = max(sram[a:a+c], sram[b:b+c])  (.s: max with b; "
     ".f: as fmax)", "fs"),
    ("vfma", "REG", ("d", "a", "b", "c"), "vector", "sram[d:d+c] += sram[a:a+c] * sram[b:b+c]  (.s: * b)", "fs"),
    ("vscale", "REG", ("d", "a", "b", "c"), "vector", "sram[d:d+c] = sram[a:a+c] * b  (b a scalar register)", "f"),
    ("vcopy", "REG", ("d", "a", "c"), "vector", "sram[d:d+c] = sram[a:a+c] (overlap: as if through a temporary)", ""),
    ("vfill", "REG", ("d", "b", "c"), "vector", "sram[d:d+c] = b (b a scalar register)", ""),
    # global (off-wafer) memory, byte addresses, 32-bit words
    ("gld", "IMM", ("d", "a", "imm"), "global", "d = global[a + imm] (blocking; latency + hops to the wafer edge)", ""),
    ("gst", "IMM", ("d", "a", "imm"), "global", "global[a + imm] = d (posted; drained before the PE halts)", ""),
    ("gldv", "REG", ("d", "a", "c"), "global", "sram[d:d+c] = global words at byte address a (one bulk transfer)", ""),
    ("gstv", "REG", ("a", "b", "c"), "global", "global words at byte address a = sram[b:b+c] (one bulk transfer)", ""),
    # mesh messages to nearest neighbours in the same block
    ("send", "MSGS", ("dir", "ch", "a"), "send", "send word a to the neighbour in dir on channel ch (.i32, .f32: its "
     "type tag)", ""),
    ("sendv", "MSGS", ("dir", "ch", "a", "b"), "send", "send sram[a:a+b] to the neighbour in dir on channel ch", ""),
    ("recv", "MSGR", ("d", "dir", "ch"), "recv", "d = next word from the neighbour in dir on channel ch (blocking; "
     ".i32, .f32: a word tagged with another type is a WordTypeError)", ""),
    ("recvv", "MSGS", ("dir", "ch", "a", "b"), "recv", "sram[a:a+b] = next b words from the neighbour in dir on ch", ""),
    ("hasnb", "MSG", ("d", "dir"), "special", "d = 1 if the neighbour in dir is inside this block else 0", ""),
    # identity, arguments, synchronisation, debugging
    ("sreg", "IMM", ("d", "sreg"), "special", "d = special register (" + ", ".join(SPECIAL_REGISTERS) + ")", ""),
    ("arg", "IMM", ("d", "imm"), "special", "d = kernel argument number imm (a 32-bit word)", ""),
    ("bar", "REG", (), "barrier", "wait until every PE of the block reaches a barrier", ""),
    ("chk", "CHK", ("a", "b", "imm"), "alu", "bounds check: stop with a MemoryAccessError (message: the program's "
     "string number imm) unless 0 <= a < b", ""),
    ("print", "PRT", ("a", "imm"), "print", "debug print of a with the program's string number imm (.f: as float32)", "f"),
    # added later; opcode numbers are positions in this table, so new opcodes go last and old binaries
    # keep their meaning
    ("vdiv", "REG", ("d", "a", "b", "c"), "div", "sram[d:d+c] = sram[a:a+c] / sram[b:b+c]  (.s: / b; .f: IEEE, x/0 is "
     "inf or nan; int32: truncating like div)", "fs"),
    ("route", "RTE", ("ch", "rx", "tx"), "route", "at this PE's router, words on channel ch arriving from the ports in "
     "mask rx go to the ports in mask tx (multicast; `drop`: discarded; `none`: no rule, an error if a word comes)", ""),
    ("routr", "MSG", ("ch", "a", "b"), "route", "route with the port masks in registers: rx = a, tx = b (6 bits: "
     "ports and ACCEPT = 32; each PE its own)", ""),
    # zero-skipping and sparse operands (docs/sparsity.md): a pair is a value word then an index word
    ("vfmaz", "REG", ("d", "a", "b", "c"), "vector", "sram[d:d+c] += sram[a:a+c] * sram[b:b+c]  (.s: * b), skipping "
     "elements where sram[a+k] is zero: costs ceil(nonzeros / vector_lanes) + zero_skip_cycles per zero", "fs"),
    ("vspfma", "REG", ("d", "a", "b", "c"), "vector", "for the c (value, index) pairs at sram[a:a+2c]: sram[d + (index "
     ">> 16)] += value * sram[b + (index & 0xffff)]  (.s: sram[d + index] += value * b); products read first; costs ceil(c * sparse_pair_words / vector_lanes)", "fs"),
    ("vspchk", "REG", ("a", "b", "c"), "vector", "check the c pairs at sram[a:a+2c]: stop with a MemoryAccessError "
     "unless index >> 16 < b >> 16 and index & 0xffff < b & 0xffff  (.s: 0 <= index < b); costs ceil(c * "
     "sparse_pair_words / vector_lanes)", "s"),
    ("vpacknz", "REG", ("d", "a", "b", "c"), "vector", "write a (value, position) pair to sram[a:] for each nonzero of "
     "sram[b:b+c], in order; d = their count (.f: float32 zero test, -0.0 is zero); costs ceil(nonzeros * "
     "sparse_pair_words / vector_lanes) + zero_skip_cycles per zero", "f"),
    # scalar float32 math (docs/python-supported.md): each computes what NumPy's float32 ufunc of the same name
    # gives on float32 arrays; transcendental functions on the special-function unit, rounding and sign ops
    # on the FPU, the remainders on the divider
    ("fsin", "REG", ("d", "a"), "sfu", "d = sin(a) (float32, as np.sin)", ""),
    ("fcos", "REG", ("d", "a"), "sfu", "d = cos(a)", ""),
    ("ftan", "REG", ("d", "a"), "sfu", "d = tan(a)", ""),
    ("fasin", "REG", ("d", "a"), "sfu", "d = asin(a) (nan outside [-1, 1])", ""),
    ("facos", "REG", ("d", "a"), "sfu", "d = acos(a) (nan outside [-1, 1])", ""),
    ("fatan", "REG", ("d", "a"), "sfu", "d = atan(a)", ""),
    ("fsinh", "REG", ("d", "a"), "sfu", "d = sinh(a)", ""),
    ("fcosh", "REG", ("d", "a"), "sfu", "d = cosh(a)", ""),
    ("fasinh", "REG", ("d", "a"), "sfu", "d = asinh(a)", ""),
    ("facosh", "REG", ("d", "a"), "sfu", "d = acosh(a) (nan below 1)", ""),
    ("fatanh", "REG", ("d", "a"), "sfu", "d = atanh(a) (+-inf at +-1, nan outside)", ""),
    ("fexpm1", "REG", ("d", "a"), "sfu", "d = exp(a) - 1, accurate near 0", ""),
    ("flog2", "REG", ("d", "a"), "sfu", "d = log2(a)", ""),
    ("flog10", "REG", ("d", "a"), "sfu", "d = log10(a)", ""),
    ("flog1p", "REG", ("d", "a"), "sfu", "d = log(1 + a), accurate near 0", ""),
    ("fpow", "REG", ("d", "a", "b"), "sfu", "d = a ** b, evaluated in float64 and rounded once (a ** 2 is a * a; "
     "a negative base to a fractional power is nan, as np.power)", ""),
    ("fatan2", "REG", ("d", "a", "b"), "sfu", "d = atan2(a, b) (the angle of the point (b, a))", ""),
    ("fhypot", "REG", ("d", "a", "b"), "sfu", "d = sqrt(a * a + b * b) without intermediate overflow", ""),
    ("ffloor", "REG", ("d", "a"), "fpu", "d = floor(a) (float32)", ""),
    ("fceil", "REG", ("d", "a"), "fpu", "d = ceil(a)", ""),
    ("ftrunc", "REG", ("d", "a"), "fpu", "d = trunc(a) (toward zero)", ""),
    ("fcopysign", "REG", ("d", "a", "b"), "fpu", "d = |a| with the sign bit of b", ""),
    ("ffmod", "REG", ("d", "a", "b"), "div", "d = fmod(a, b): a - trunc(a / b) * b exactly, the sign of a (C's "
     "fmod, np.fmod)", ""),
    ("ffloordiv", "REG", ("d", "a", "b"), "div", "d = a // b as np.floor_divide computes it on float32 (Python's "
     "floor division, from fmod: not floor(a / b), which can round up to the next whole number; a quotient beyond "
     "2**24 can differ in the last bit from Python's float64 a // b rounded to float32)", ""),
    ("fpymod", "REG", ("d", "a", "b"), "div", "d = a % b as Python and np.remainder compute it on floats (the "
     "sign of b)", ""),
    # reductions of an SRAM range into a register (docs/python-supported.md): sequential order, element 0
    # first, each step rounded (float32) or wrapped (int32), as a Python loop computes them
    ("vredsum", "REG", ("d", "a", "c"), "vector", "d = 0 + sram[a] + sram[a+1] + ... + sram[a+c-1], left to "
     "right, as Python's sum (0 when c = 0; .f: float32, and a sum of -0.0s is +0.0)", "f"),
    ("vredmin", "REG", ("d", "a", "c"), "vector", "d = the smallest of sram[a:a+c] (.f: float32, nan if any is "
     "nan); c = 0 stops the PE with a KernelValueError", "f"),
    ("vredmax", "REG", ("d", "a", "c"), "vector", "d = the largest of sram[a:a+c] (as vredmin)", "f"),
    ("vdot", "REG", ("d", "a", "b", "c"), "vector", "d = 0 + the sum of sram[a+k] * sram[b+k], left to right, "
     "each product and each sum rounded (.f: float32; int32 wraps)", "f"),
    # 16-bit floats (isa/halfprec.py, docs/python-supported.md): one float16 value (.b: bfloat16) per 32-bit
    # word, in its low half. Each 16-bit result is rounded to nearest even, as NumPy / ml_dtypes compute on
    # arrays of that dtype; their elements cost ceil(c / vector_lanes_half) cycles (WaferSpec)
    ("vhadd", "REG", ("d", "a", "b", "c"), "vector", "16-bit sram[d:d+c] = sram[a:a+c] + sram[b:b+c]  (.s: + b, a "
     "float32 register rounded to 16 bits first; .b: bfloat16)", "sb"),
    ("vhsub", "REG", ("d", "a", "b", "c"), "vector", "16-bit sram[d:d+c] = sram[a:a+c] - sram[b:b+c]  (.s: - b)", "sb"),
    ("vhmul", "REG", ("d", "a", "b", "c"), "vector", "16-bit sram[d:d+c] = sram[a:a+c] * sram[b:b+c]  (.s: * b: the "
     "16-bit scale)", "sb"),
    ("vhmin", "REG", ("d", "a", "b", "c"), "vector", "16-bit sram[d:d+c] = min(sram[a:a+c], sram[b:b+c])  (.s: min "
     "with b); as NumPy's float16 (ml_dtypes' bfloat16) np.minimum: nan if either is nan; of two zeros, float16 "
     "gives a, bfloat16 b", "sb"),
    ("vhmax", "REG", ("d", "a", "b", "c"), "vector", "16-bit sram[d:d+c] = max(sram[a:a+c], sram[b:b+c])  (.s: max "
     "with b); as vhmin", "sb"),
    ("vhfma", "REG", ("d", "a", "b", "c"), "vector", "16-bit sram[d:d+c] += sram[a:a+c] * sram[b:b+c]  (.s: * b); "
     "the product rounded to 16 bits, then the sum", "sb"),
    ("vwfma", "REG", ("d", "a", "b", "c"), "vector", "float32 sram[d:d+c] += float32(16-bit sram[a:a+c]) * "
     "float32(16-bit sram[b:b+c])  (.s: * b, a float32 register): float32 accumulation, one rounding when "
     "both factors are 16-bit (their product is exact)", "sb"),
    ("vcvth", "REG", ("d", "a", "c"), "vector", "16-bit sram[d:d+c] = float32 sram[a:a+c] rounded to nearest even "
     "(.b: bfloat16)", "b"),
    ("vcvtf", "REG", ("d", "a", "c"), "vector", "float32 sram[d:d+c] = 16-bit sram[a:a+c] (exact; .b: bfloat16)",
     "b"),
    ("h2f", "REG", ("d", "a"), "fpu", "d = float32 of the 16-bit value in the low half of a (exact; .b: "
     "bfloat16)", "b"),
    ("f2h", "REG", ("d", "a"), "fpu", "d = the 16-bit bits of float32 a rounded to nearest even, high half zero "
     "(.b: bfloat16)", "b"),
    # more scalar float32 math (isa/float_math.py defines what NumPy has no float32 ufunc for), and vector
    # math: one of them applied to each element of an SRAM range
    ("ferf", "REG", ("d", "a"), "sfu", "d = erf(a) (float32: float64 erf rounded once)", ""),
    ("ferfc", "REG", ("d", "a"), "sfu", "d = erfc(a) = 1 - erf(a), accurate for large a", ""),
    ("fgamma", "REG", ("d", "a"), "sfu", "d = gamma(a) (C's tgamma at the poles: +-inf at +-0, nan at the negative integers and -inf)", ""),
    ("flgamma", "REG", ("d", "a"), "sfu", "d = log(|gamma(a)|)", ""),
    ("frint", "REG", ("d", "a"), "fpu", "d = a rounded to the nearest integer, ties to even (np.rint)", ""),
    ("ffrac", "REG", ("d", "a"), "fpu", "d = a - trunc(a) with the sign of a, 0 for infinities (math.modf)", ""),
    ("fremainder", "REG", ("d", "a", "b"), "div", "d = a - n * b, n the integer nearest a / b, ties to even "
     "(IEEE remainder, math.remainder; exact)", ""),
    ("vmath", "REG", ("d", "a", "fn", "c"), "vector", "sram[d:d+c] = fn(sram[a:a+c]) for a float32 math instruction "
     "fn of one operand (float_math.VECTOR_MATH: fsqrt, fexp, ..., ffrac); it costs the issue plus "
     "ceil(c x fn's cycles / vector_lanes), in place of a vector's ceil(c / vector_lanes)", ""),
    # operand descriptors (docs/timing.md, "Strided and 2-D operands"): a strided copy and a rank-1 update, as the
    # strided and multi-dimensional memory DSDs of the Cerebras SDK describe whole tensors to one instruction
    ("vcopys", "REG", ("d", "a", "b", "c"), "vector", "strided copy: sram[d + k*sd] = sram[a + k*sa] for k < c, the "
     "strides the signed 16-bit halves of b (sd = b >> 16, sa = low half); every element read before any is "
     "written (a repeated destination keeps the last); costs ceil(c / vector_lanes), as vcopy", ""),
    ("vger", "REG", ("d", "a", "b", "c"), "vector", "rank-1 update (outer product): sram[d + i*N + j] += sram[a + i] "
     "* sram[b + j] for i < M = c >> 16, j < N = c & 0xffff (.f: float32, the product rounded, then the sum, as "
     "vfma; int32 wraps); every operand read before any element is written; costs ceil(M*N / vector_lanes)", "f"),
    # background transfers (docs/timing.md, "Background transfers"): the fabric moves words while the PE
    # computes, as the asynchronous DSD operations of the Cerebras SDK run on a microthread beside the main thread
    ("recva", "MSGS", ("dir", "ch", "a", "b"), "recv", "start receiving the next b words from dir on channel ch into "
     "sram[a:a+b] in the background: the PE goes on after the issue; words are taken as they arrive", ""),
    ("rwait", "MSG", ("dir", "ch"), "recv", "wait until the background receive from dir on channel ch has taken its "
     "last word (at once if none is running); sram[a:a+b] of that recva is defined only after it", ""),
    ("senda", "MSGS", ("dir", "ch", "a", "b"), "send", "start sending sram[a:a+b] to dir on channel ch in the "
     "background (as sendv, a word per 1 / link_words_per_cycle): the PE goes on after the issue", ""),
    ("swait", "MSG", ("dir", "ch"), "send", "wait until the background send to dir on channel ch has sent its last "
     "word (at once if none is running); sram[a:a+b] of that senda may change only after it", ""),
    # a grid-wide barrier (docs/programming-model.md, "Grid-wide barriers"): CUDA's cooperative-groups
    # grid.sync(), for a launch whose blocks are all on the wafer at once
    ("gbar", "REG", (), "barrier", "wait until every PE of the launch reaches a grid barrier (one wave only: a launch "
     "of several waves is refused)", ""),
    # streams through the FMAC (docs/timing.md, "Streams through the FMAC"): a vector op whose operands are a
    # fabric input and a fabric output, as a CSL DSD operation with fabric DSDs (`@fadds(fabout, fabin, mem)`)
    ("vaddx", "MSGX", ("odir", "dir", "ch", "a", "b"), "vector", "for k < b: word k from dir on channel ch (as "
     "recv: blocking; dir a neighbour or ramp) is added to sram[a+k] (sram[a+k] + word: .f float32, else int32 "
     "wrapping), the sum written there and sent to the neighbour odir on channel ch (as send; `none`: not sent), "
     "words tagged and checked as `.f32` (.f) or `.i32`; a word per max(1 / link_words_per_cycle, 1 / vector_lanes) "
     "cycles as the link delivers them, each sum leaving one such cycle after its word is taken (.c: a collective's "
     "chain words, tagged and checked as `.cf32`, `.ci32`)", "fc"),
    ("vmaxx", "MSGX", ("odir", "dir", "ch", "a", "b"), "vector", "as vaddx with max(sram[a+k], word) (.f: as fmax, "
     "np.maximum: nan if either is nan)", "fc"),
    ("vminx", "MSGX", ("odir", "dir", "ch", "a", "b"), "vector", "as vaddx with min(sram[a+k], word) (.f: as fmin)",
     "fc"),
    # 16-bit streams through the FMAC: the float16 form of the stream ops, as CSL's `@faddh` with fabric DSDs
    ("vhaddx", "MSGX", ("odir", "dir", "ch", "a", "b"), "vector", "as vaddx on float16 words (one per 32-bit word, "
     "in its low half): sram[a+k] + word rounded to nearest even in float16 (as NumPy's float16 add), words "
     "tagged and checked as `.f16` (.c: `.cf16`); a word per max(1 / link_words_per_cycle, 1 / vector_lanes_half) "
     "cycles", "c"),
    ("vhmaxx", "MSGX", ("odir", "dir", "ch", "a", "b"), "vector", "as vhaddx with max(sram[a+k], word), as vhmax: "
     "nan if either is nan; of two zeros, sram[a+k]", "c"),
    ("vhminx", "MSGX", ("odir", "dir", "ch", "a", "b"), "vector", "as vhaddx with min(sram[a+k], word) (as vhmin)",
     "c"),
]

OPCODES: tuple[Opcode, ...] = tuple(Opcode(code, *row) for code, row in enumerate(_TABLE))
#: The vector opcodes on 16-bit floats (their elements cost ceil(n / `WaferSpec.vector_lanes_half`) cycles).
HALF_VECTOR_OPS = frozenset({"vhadd", "vhsub", "vhmul", "vhmin", "vhmax", "vhfma", "vwfma", "vcvth", "vcvtf"})
#: Vector instructions over SRAM: `d` and `a` (and `b`, unless `.s` makes it a scalar register) hold SRAM
#: word addresses, `c` the length; none of them writes a register.
VECTOR_OPS = frozenset({"vadd", "vsub", "vmul", "vdiv", "vmin", "vmax", "vfma", "vscale", "vcopy", "vfill",
                        "vfmaz", "vspfma", "vmath", "vcopys", "vger"}) | HALF_VECTOR_OPS  # (vmath's b is a function number)
BY_NAME: dict[str, Opcode] = {op.name: op for op in OPCODES}
BY_CODE: dict[int, Opcode] = {op.code: op for op in OPCODES}

for _op in OPCODES:  # the table must agree with the cost classes of the machine description
    assert _op.cost_class in DEFAULT_COST_CYCLES, _op


def opcode_cycles(spec) -> dict[str, float]:
    """The per-instruction cost table of a `WaferSpec`: issue cycles of every opcode by name.

    A class cost from `spec.cost_cycles`, unless `spec.op_cycles` names the opcode itself.
    """
    from ..errors import SpecError

    unknown = sorted(set(spec.op_cycles) - set(BY_NAME))
    if unknown:
        raise SpecError(f"WaferSpec.op_cycles: unknown {'opcode' if len(unknown) == 1 else 'opcodes'} {unknown}",
                        field="op_cycles", key=unknown[0])
    return {op.name: float(spec.op_cycles.get(op.name, spec.cost_cycles[op.cost_class])) for op in OPCODES}
