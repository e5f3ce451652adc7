"""A program decoded into flat arrays for the compiled interpreter (`interpreter.run_lanes`).

Every program counter gets an operation kind (`KINDS`) and its operand fields; `STOP` marks what the
interpreter leaves to the NumPy engine: timing and control instructions (fabric, global memory, barrier,
print, halt), instructions whose NumPy results a compiled version might not reproduce bit for bit
(transcendental float32 math, whose NumPy kernels differ from libm's in the last bit), and the rarer
ones (sparse, routing, float min/max reductions). Kinds are plain integers so that the interpreter's
dispatch compiles to a jump table. The interpreter's cached machine code holds these numbers: a change
here must come with a change of interpreter.py (Numba re-compiles when that file changes).
"""
from __future__ import annotations

import weakref

import numpy as np

from ...isa.encoding import Instr
from ...isa.opcodes import (FLAG_FLOAT, FLAG_SCALAR, NOWHERE, RAMP, SPECIAL_REGISTERS, STREAM_OPS,
                            stream_word_tag, stream_word_type)

#: Operation kinds of the interpreter, by opcode name; anything else is STOP.
KIND_NAMES = (
    "stop", "nop",
    # integer ALU, register operands
    "add", "sub", "mul", "div", "rem", "and", "or", "xor", "shl", "shr", "sra", "min", "max",
    "slt", "sle", "seq", "sne", "mov", "neg", "abs", "sel",
    # integer ALU, immediate operand
    "addi", "muli", "andi", "ori", "xori", "shli", "shri", "srai", "slti", "seqi", "li",
    # float32 ALU
    "fadd", "fsub", "fmul", "fdiv", "fmin", "fmax", "fma", "flt", "fle", "feq", "fne", "fneg", "fabs",
    "fsqrt", "itof", "ftoi", "ffloor", "fceil", "ftrunc",
    # control within a PE
    "bz", "bnz", "jmp",
    # SRAM, identity, arguments, checks
    "ld", "st", "chk", "hasnb", "sreg", "arg",
    # vector ops and reductions over SRAM ranges
    "vadd", "vsub", "vmul", "vmin", "vmax", "vfma", "vscale", "vcopy", "vfill", "vdiv", "vredsum", "vdot",
    # neighbour (non-routed) fabric transfers (`fabric_ops`), only in tables built with `fabric=True`
    "send", "recv", "sendv", "recvv",
    # stream ops (a neighbour input, a neighbour or no output), only in tables built with `fabric=True`
    "vaddx", "vmaxx", "vminx",
)
KINDS = {name: number for number, name in enumerate(KIND_NAMES)}
#: The 16-bit stream ops run as the kind of their 32-bit form, with HALF_FLOAT in the FLOAT row.
_HALF_STREAMS = {"vhaddx": "vaddx", "vhmaxx": "vmaxx", "vhminx": "vminx"}
#: The FLOAT row of a stream op: its elements' type (float32: 1, as any instruction's `.f` flag; int32: 0).
HALF_FLOAT = 2
STOP, NOP = KINDS["stop"], KINDS["nop"]
# Opcodes that write only register d: with d = r0 they do nothing (r0 stays zero), as in the NumPy engine.
_REGISTER_WRITERS = frozenset(KIND_NAMES[KINDS["add"]:KINDS["ld"]]) - {"bz", "bnz", "jmp"} | {"hasnb", "sreg", "arg"}

FABRIC_KINDS = frozenset({"send", "recv", "sendv", "recvv"}) | STREAM_OPS
# Rows of `ProgramTable.fields`. FIFO: the fabric instruction's FIFO (a number into `fifo_keys`; a stream op's
# input), TAG: its word type tag, DIR: its direction (for the link latency; a stream op's output direction).
# A stream op's output: OUT_FIFO (-1: none) and OUT_LANE_ROW (the `has_neighbor` row of its direction).
KIND, D, A, B, C, IMM, NEXT, FLOAT, SCALAR, LANE_ROW, FIFO, TAG, DIR, OUT_FIFO, OUT_LANE_ROW = range(15)
FIELDS = 15
LONG_RUN = 12  # instructions (see `ProgramTable._runs_ahead`)
CHAIN_AHEAD = 8  # instructions (see `ProgramTable._chain_entries`)
_TABLES: dict[int, tuple] = {}  # id(program) -> (a weak reference to it, {(costs, fabric): its table})


class ProgramTable:
    """`fields[row, pc]` (int64, rows KIND..LANE_ROW) and `costs[pc]` (issue cycles) of a launch's program.

    `lane_rows`: the per-PE constants the program reads (special registers by name, `has_neighbor`
    directions), in the order of the rows `WaveSim` stacks into its lane-constant array; an `sreg` or
    `hasnb` instruction names its row in LANE_ROW (and a fabric instruction its direction's `has_neighbor`).

    `fabric`: the interpreter also runs neighbour send/recv/sendv/recvv and the stream ops with a neighbour
    input and a neighbour or no output (the caller decides that the program allows it: no routes, no
    background transfers); `fifo_keys` lists their FIFOs, (incoming direction, channel) as `WaveSim.fifos`
    keys them, in the order of the FIFO rows. `routed` (with `fabric`): scalar routed sends and receives too
    (`routed_words`: DIR is RAMP, the FIFO (RAMP, channel) at the receivers, its lane row all ones)."""

    def __init__(self, decoded: dict[int, Instr], code_words: int, costs: dict[str, float],
                 fabric: bool = False, routed: bool = False) -> None:
        # (built in Python lists, then made arrays once: item assignment into NumPy arrays cost a small program's
        # first launch some 0.2 ms of its ~4)
        size = code_words + 1  # pc = code_words: falls off the end
        rows = [[0] * size for _ in range(FIELDS)]
        pc_costs = [0.0] * size
        self.lane_rows: list[tuple[str, int]] = []  # ("sreg", register number) or ("hasnb", direction)
        self.fifo_keys: list[tuple[int, int]] = []
        kind_row, float_row, scalar_row, lane_row = rows[KIND], rows[FLOAT], rows[SCALAR], rows[LANE_ROW]
        for pc, instr in decoded.items():
            op = instr.op
            kind = KINDS.get(_HALF_STREAMS.get(op, op), STOP)
            stream = op in STREAM_OPS
            routed_word = routed and op in ("send", "recv") and instr.dir == RAMP
            if op in FABRIC_KINDS and not (fabric and (routed_word or instr.dir < RAMP and (
                    not stream or instr.d < RAMP or instr.d == NOWHERE))):
                kind = STOP
            if kind != STOP and op in _REGISTER_WRITERS and instr.d == 0:
                kind = NOP
            kind_row[pc] = kind
            rows[D][pc], rows[A][pc], rows[B][pc], rows[C][pc] = instr.d, instr.a, instr.b, instr.c
            rows[IMM][pc] = instr.target if op in ("bz", "bnz", "jmp") else instr.imm
            rows[NEXT][pc] = pc + instr.words
            float_row[pc] = int(bool(instr.flags & FLAG_FLOAT))
            scalar_row[pc] = int(bool(instr.flags & FLAG_SCALAR) or op in ("vscale", "vfill"))
            rows[OUT_FIFO][pc] = rows[OUT_LANE_ROW][pc] = -1
            if kind != STOP and op in FABRIC_KINDS:
                key = (instr.dir if op.startswith("recv") or stream or routed_word else (instr.dir + 2) % 4,
                       instr.ch)
                rows[FIFO][pc], rows[TAG][pc], rows[DIR][pc] = self._fifo_number(key), instr.flags, instr.dir
                float_row[pc] = scalar_row[pc] = 0
                if stream:  # words typed as the op's element type (`wordtypes.stream_tag`); results to d
                    element = stream_word_type(op, instr.flags)
                    float_row[pc] = {"i32": 0, "f32": 1, "f16": HALF_FLOAT}[element]
                    rows[TAG][pc] = stream_word_tag(op, instr.flags)
                    rows[DIR][pc] = instr.d
                    if instr.d != NOWHERE:
                        rows[OUT_FIFO][pc] = self._fifo_number(((instr.d + 2) % 4, instr.ch))
                        rows[OUT_LANE_ROW][pc] = self._lane_row(("hasnb", instr.d))
            if kind in (KINDS["sreg"], KINDS["hasnb"]) or (kind != STOP and op in FABRIC_KINDS):
                if kind == KINDS["sreg"] and not 0 <= instr.imm < len(SPECIAL_REGISTERS):
                    kind_row[pc] = STOP  # the launch refuses it before running
                    continue
                key = (("sreg", instr.imm) if kind == KINDS["sreg"] else ("routed", RAMP) if routed_word
                       else ("hasnb", instr.dir))  # (fabric: its neighbour; a routed word: every PE, all ones)
                lane_row[pc] = self._lane_row(key)
            pc_costs[pc] = costs[op]
        self.fields = np.array(rows, dtype=np.int64)
        self.costs = np.array(pc_costs, dtype=np.float64)
        self.long_run, self.loop_ahead = self._runs_ahead(rows)
        self.steady = self._steady_branches(rows)
        fabric_kinds = {KINDS[_HALF_STREAMS.get(name, name)] for name in FABRIC_KINDS}
        self.fabric_pcs = frozenset(pc for pc, kind in enumerate(kind_row) if kind in fabric_kinds)  # its transfers
        self.chain_entries = self._chain_entries(rows)

    def _fifo_number(self, key: tuple[int, int]) -> int:
        if key not in self.fifo_keys:
            self.fifo_keys.append(key)
        return self.fifo_keys.index(key)

    def _lane_row(self, key: tuple[str, int]) -> int:
        if key not in self.lane_rows:
            self.lane_rows.append(key)
        return self.lane_rows.index(key)

    @staticmethod
    def _runs_ahead(rows: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
        """Per pc, walking from it as the interpreter would (following fall-through and jumps until it stops):
        `long_run`, whether it runs at least `LONG_RUN` instructions or a loop -- enough to repay calling it for
        a converged group, which NumPy runs at one call per instruction -- and `loop_ahead`, whether it reaches
        a backward branch (a loop): a group there that NumPy runs comes back to the scheduler at every
        iteration, the interpreter runs the loop through in one call. (`rows`: `fields` as lists.)

        One pass from the last pc back: the walk from a pc that neither stops nor branches back goes on to a
        later pc (fall-through, or a forward `jmp`), so it is one step more than the walk from there, which
        is already known. (Walking from every pc took time quadratic in the length of straight-line code:
        0.21 s of CPU for a 25-point stencil's 4,132 words, now ~1 ms.)"""
        kinds, targets, nexts = rows[KIND], rows[IMM], rows[NEXT]
        size = len(kinds)
        branches = {KINDS["bz"], KINDS["bnz"], KINDS["jmp"]}
        jmp = KINDS["jmp"]
        steps, loops = [0] * size, [False] * size  # steps: instructions run before stopping (where no loop is met)
        for pc in range(size - 1, -1, -1):
            kind = kinds[pc]
            if kind == STOP:
                continue
            if kind in branches and targets[pc] <= pc:
                loops[pc] = True
                continue
            after = targets[pc] if kind == jmp else nexts[pc]
            if after <= pc:  # (no instruction has 0 words: a walk only moves forward, so it cannot come back)
                raise AssertionError(f"pc {pc}: the walk goes back to {after} without a branch")
            if after < size:
                steps[pc], loops[pc] = steps[after] + 1, loops[after]
            else:
                steps[pc] = 1
        long = [loop or count >= LONG_RUN for loop, count in zip(loops, steps)]
        return np.array(long, dtype=bool), np.array(loops, dtype=bool)

    @staticmethod
    def _chain_entries(rows: list[list[int]]) -> frozenset[int]:
        """The conditional forward branches from which both ways reach a stream op (`vaddx`, `vmaxx`, `vminx`: a
        neighbour's word folded in) within `CHAIN_AHEAD` instructions of scalar code the interpreter runs: where a
        chain reduction (`collectives.lines`, a block all-reduce's rows and column) splits its PEs into the chain's
        root, middle and end. A converged group there runs the chain through in one interpreter call
        (`CompiledMixin._wants_compiled`), rather than NumPy's split and a call per part. (A halo exchange of plain
        sends and receives is none: its block stays with NumPy, its edges apart. `rows`: `fields` as lists.)"""
        kinds, targets, nexts = rows[KIND], rows[IMM], rows[NEXT]
        size = len(kinds)
        chain_kinds = {KINDS[name] for name in ("vaddx", "vmaxx", "vminx")}
        branches, jmp = {KINDS["bz"], KINDS["bnz"]}, KINDS["jmp"]
        scalar = set(range(NOP, KINDS["arg"] + 1))  # register, float, control, SRAM-word and lane-constant kinds
        steps = [CHAIN_AHEAD + 1] * (size + 1)  # instructions before a stream op, by a way within reach
        for pc in range(size - 1, -1, -1):
            kind = kinds[pc]
            if kind in chain_kinds:
                steps[pc] = 0
            elif kind in scalar and (kind not in branches and kind != jmp or targets[pc] > pc):
                ways = [targets[pc]] if kind == jmp else [nexts[pc], targets[pc]] if kind in branches else [nexts[pc]]
                steps[pc] = min(CHAIN_AHEAD + 1, 1 + min(steps[min(way, size)] for way in ways))
        return frozenset(pc for pc in range(size) if kinds[pc] in branches and targets[pc] > pc
                         and steps[nexts[pc]] <= CHAIN_AHEAD and steps[min(targets[pc], size)] <= CHAIN_AHEAD)

    @staticmethod
    def _steady_branches(rows: list[list[int]]) -> np.ndarray:
        """Per pc: a bz or bnz whose register no instruction the interpreter may run after it (following
        fall-through and branches from it, loops included) writes, so that within one call of the interpreter
        each PE takes it the same way every time it gets there (`interpreter.run_group` then reuses the
        conditions of a segment that comes back with the same PEs). Conservative: every instruction but
        branches, stores, checks and sends counts as writing its d register. (`rows`: `fields` as lists.)

        Per register the branches test: the pcs from which a writer of it can be reached, found by walking
        the edges backwards from its writers once (a walk forward from each branch took time proportional to
        branches x code length)."""
        kinds, regs, targets, nexts, dests = rows[KIND], rows[A], rows[IMM], rows[NEXT], rows[D]
        size = len(kinds)
        quiet = {KINDS[name] for name in ("stop", "nop", "bz", "bnz", "jmp", "st", "chk", "send", "sendv", "vaddx",
                                          "vmaxx", "vminx")}
        conditional, jmp = (KINDS["bz"], KINDS["bnz"]), KINDS["jmp"]
        # (the interpreter stops at a STOP for the rest of the call: nothing runs after it, and it writes nothing)
        predecessors: list[list[int]] = [[] for _ in range(size)]
        for pc, kind in enumerate(kinds):
            if kind == STOP:
                continue
            follow = (targets[pc],) if kind == jmp else (nexts[pc], targets[pc]) if kind in conditional \
                else (nexts[pc],)
            for nxt in follow:
                if 0 <= nxt < size:
                    predecessors[nxt].append(pc)
        steady = [False] * size
        starts = [pc for pc, kind in enumerate(kinds) if kind in conditional]
        for register in sorted({regs[pc] for pc in starts}):
            reaching = [kind != STOP and kind not in quiet and d != 0 and d == register
                        for kind, d in zip(kinds, dests)]
            todo = [pc for pc in range(size) if reaching[pc]]
            while todo:
                for before in predecessors[todo.pop()]:
                    if not reaching[before]:
                        reaching[before] = True
                        todo.append(before)
            for pc in starts:
                if regs[pc] == register:
                    steady[pc] = not reaching[pc]
        return np.array(steady, dtype=bool)

    @classmethod
    def of(cls, program, decoded: dict[int, Instr], costs: dict[str, float], fabric: bool,
           cost_key: tuple, routed: bool = False) -> "ProgramTable":
        """The table of `program` (its `decoded` instructions) for these costs, built once per program and
        reused by its later launches (a table is only read). `cost_key`: `tuple(sorted(costs.items()))`
        (`Launch.cost_key`)."""
        key = (cost_key, fabric, routed)
        entry = _TABLES.get(id(program))
        if entry is None or entry[0]() is not program:
            entry = _TABLES[id(program)] = (weakref.ref(program), {})
            weakref.finalize(program, _TABLES.pop, id(program), None)
        if key not in entry[1]:
            entry[1][key] = cls(decoded, len(program.code), costs, fabric, routed)
        return entry[1][key]

    def runs(self, pc: int) -> bool:
        """Whether the interpreter executes the instruction at `pc`."""
        return self.fields[KIND, pc] != STOP if 0 <= pc < self.fields.shape[1] else False

    def lane_constants(self, region) -> np.ndarray:
        """(rows, PEs) int32: the per-PE constants of `lane_rows` over a wave's region."""
        # (empty, not zeros, where every row is written below: a wafer's table is tens of MB)
        table = (np.empty if self.lane_rows else np.zeros)((max(len(self.lane_rows), 1), region.n), dtype=np.int32)
        for row, (what, number) in enumerate(self.lane_rows):
            table[row] = (region.special(SPECIAL_REGISTERS[number]) if what == "sreg"
                          else 1 if what == "routed" else region.has_neighbor(number))
        return table
