"""The engine: runs a program on every PE of every placed block, exactly, with a cycle model.

Every PE-level quantity (registers, SRAM, program counter, cycle counter, FIFO contents) is a NumPy
array over the PEs of the simulated region. PEs that share a program counter form a group (`Lanes`)
and execute together: one NumPy call per instruction and group, never a loop over PEs. Divergent
control flow splits groups; groups that reach the same program counter merge again. The scheduler
always runs the group with the lowest program counter that can progress, so forward branches
reconverge before either side runs ahead.

Timing: each PE has its own cycle counter. An instruction adds its issue cost (from `WaferSpec`);
messages carry their arrival time (departure + `hop_latency`); a receive waits for its word; a send
waits for its link (`link_words_per_cycle`) and for a free FIFO slot (back-pressure: word k waits until
word k - `fifo_depth` has been popped); global memory adds `global_latency` plus hops to the nearest
wafer edge, and all traffic shares `global_bytes_per_s`; a barrier releases a block at its latest
arrival plus a cost that grows with the block's diameter.
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

import numpy as np

from ..arch.spec import WaferSpec
from ..errors import (CycleLimitError, DeadlockError, KernelZeroDivisionError, LaunchError, MemoryAccessError,
                      MeshBoundaryError, OutOfMemoryError)
from ..isa.assembler import Program, format_instr
from ..isa.encoding import Instr
from ..isa.opcodes import DIRECTIONS, FLAG_FLOAT, FLAG_SCALAR, SPECIAL_REGISTERS, opcode_cycles
from .fabric import Fifo, SlotRows
from .hostmem import available_bytes, launch_bytes, tune_allocator
from .lanes import Lanes
from .layout import Placement, WaveRegion
from .memory import GlobalMemory
from .stats import LaunchStats, PrintRecord
from .trace import TraceRecorder

DEFAULT_MAX_CYCLES = 100_000_000
# Per-PE times are float32 while every timing figure is a whole number of cycles and every time stays
# below this bound (float32 holds every integer below 2**24 exactly); past it, a wave widens its time
# arrays to float64. Half the bytes per time array make the fabric model much faster at wafer scale.
TIME32_LIMIT = float(2**23)
DEFAULT_PRINT_LIMIT = 1000
MAX_PES_NAMED = 8  # PEs listed by name in an error message

# Instructions that read or change timing state, or transfer control: they end a straight-line run.
_CONTROL = {"bz", "bnz", "jmp", "halt", "bar", "send", "sendv", "recv", "recvv", "gld", "gst", "gldv", "gstv", "print"}

_INT_BINARY = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "and": np.bitwise_and, "or": np.bitwise_or,
               "xor": np.bitwise_xor, "min": np.minimum, "max": np.maximum, "slt": np.less, "sle": np.less_equal,
               "seq": np.equal, "sne": np.not_equal}
_INT_IMMEDIATE = {"addi": np.add, "muli": np.multiply, "andi": np.bitwise_and, "ori": np.bitwise_or,
                  "xori": np.bitwise_xor, "slti": np.less, "seqi": np.equal}
_FLOAT_BINARY = {"fadd": np.add, "fsub": np.subtract, "fmul": np.multiply, "fdiv": np.divide, "fmin": np.minimum,
                 "fmax": np.maximum, "flt": np.less, "fle": np.less_equal, "feq": np.equal, "fne": np.not_equal}
_FLOAT_UNARY = {"fneg": np.negative, "fabs": np.abs, "fsqrt": np.sqrt, "fexp": np.exp, "flog": np.log,
                "ftanh": np.tanh}
_VECTOR_BINARY = {"vadd": np.add, "vsub": np.subtract, "vmul": np.multiply, "vmin": np.minimum, "vmax": np.maximum}
FLOPS_PER_OP = {name: 1 for name in ("fadd", "fsub", "fmul", "fdiv", "fmin", "fmax")} | {"fma": 2}
FLOPS_PER_VECTOR_ELEMENT = {"vadd": 1, "vsub": 1, "vmul": 1, "vmin": 1, "vmax": 1, "vfma": 2, "vscale": 1}


def _int_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a64, b64 = a.astype(np.int64), b.astype(np.int64)
    safe = np.where(b64 == 0, 1, b64)
    q = np.abs(a64) // np.abs(safe) * np.sign(a64) * np.sign(safe)
    return np.where(b64 == 0, -1, q).astype(np.int32)  # INT_MIN / -1 wraps to INT_MIN


def _int_rem(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    q = _int_div(a, b).astype(np.int64)
    return np.where(b == 0, a, a.astype(np.int64) - b.astype(np.int64) * q).astype(np.int32)


def _shift_left(a, b):
    return np.left_shift(a, np.bitwise_and(b, 31))


def _shift_right_logical(a, b):
    return np.right_shift(np.asarray(a).view(np.uint32), np.bitwise_and(b, 31).astype(np.uint32)).view(np.int32)


def _shift_right_arith(a, b):
    return np.right_shift(a, np.bitwise_and(b, 31))


def _float_to_int(f: np.ndarray) -> np.ndarray:
    f64 = np.nan_to_num(f.astype(np.float64), nan=0.0, posinf=2**31 - 1, neginf=-(2**31))
    return np.clip(np.trunc(f64), -(2**31), 2**31 - 1).astype(np.int32)


def _fma(a, b, c):
    return (a.astype(np.float64) * b + c).astype(np.float32)


class _Group:
    """PEs at one program counter. `cost`/`count`: issue cycles and instructions every lane has executed
    but that are not yet added to the per-PE arrays (written once, at the next timing instruction or
    when merging with a group that owes a different amount, rather than at every branch)."""

    __slots__ = ("lanes", "blocked", "cost", "count")

    def __init__(self, lanes: Lanes, blocked: bool = False, cost: float = 0.0, count: int = 0) -> None:
        self.lanes, self.blocked, self.cost, self.count = lanes, blocked, cost, count


class _Totals:
    """Counters summed over the waves of a launch."""

    def __init__(self, spec: WaferSpec, program: Program) -> None:
        shape = (spec.height, spec.width)
        self.busy = np.zeros(shape)
        self.stall = np.zeros(shape)
        self.instructions = np.zeros(shape, dtype=np.int64)
        self.link_words = np.zeros((4, *shape), dtype=np.int64)
        self.pc_counts = np.zeros(len(program.code) + 1, dtype=np.int64)
        self.vector_elements = 0
        self.flops = 0
        self.global_bytes = 0
        self.prints: list[tuple] = []  # (cycle, y, x, text, value)
        self.prints_dropped = 0

    def keep_earliest_prints(self, limit: int) -> None:
        """Sort prints by (cycle, PE) and drop all but the first `limit`, counting what was dropped."""
        self.prints.sort(key=lambda record: record[:3])
        self.prints_dropped += max(len(self.prints) - limit, 0)
        del self.prints[limit:]


class Launch:
    """One kernel launch: a program, a grid of blocks, arguments, and the device memory it sees."""

    def __init__(self, program: Program, spec: WaferSpec, grid: tuple[int, int], block: tuple[int, int],
                 args: Sequence[int], memory: GlobalMemory, max_cycles: float | None = None,
                 print_limit: int = DEFAULT_PRINT_LIMIT,
                 progress: Callable[[int, int, int], None] | None = None, trace: bool = False) -> None:
        self.program, self.spec = program, spec
        self.placement = Placement(spec, grid, block)
        self.args = np.asarray([int(a) & 0xFFFFFFFF for a in args], dtype=np.uint32).view(np.int32)
        self.memory = memory
        self.max_cycles = DEFAULT_MAX_CYCLES if max_cycles is None else max_cycles
        self.print_limit = print_limit
        self.progress = progress  # called as progress(waves done, waves, barriers released so far)
        self.barriers = 0
        self.tracer = TraceRecorder(grid, block, grid[0] * grid[1] * block[0] * block[1]) if trace else None
        self.costs = opcode_cycles(spec)
        self.decoded = dict(program.instructions())
        self.n_registers = 1 + max([max(i.d, i.a, i.b, i.c) for i in self.decoded.values()] + [0])
        figures = [*self.costs.values(), spec.hop_latency, 1 / spec.link_words_per_cycle, spec.global_latency,
                   spec.barrier_base_cycles, spec.barrier_cycles_per_hop]
        self.whole_cycles = all(float(f).is_integer() for f in figures)  # then float32 times can be exact
        self._check_fits()

    def _check_fits(self) -> None:
        spec, program = self.spec, self.program
        if program.sram_bytes_needed > spec.sram_bytes:
            raise OutOfMemoryError(
                f"{program.name} needs {program.sram_bytes_needed:,} bytes of SRAM per PE ({program.code_bytes:,} code "
                f"+ {4 * program.data_words:,} data) but a PE has {spec.sram_bytes:,}",
                needed=program.sram_bytes_needed, available=spec.sram_bytes,
                code_bytes=program.code_bytes, data_bytes=4 * program.data_words)
        if self.n_registers > spec.registers:
            raise LaunchError(f"{program.name} uses register r{self.n_registers - 1} but the machine has "
                              f"{spec.registers} registers", registers=self.n_registers)
        if program.arg_count is not None and program.arg_count != len(self.args):
            raise LaunchError(f"{program.name} takes {program.arg_count} argument(s), the launch gave {len(self.args)}",
                              expected=program.arg_count, given=len(self.args))
        for pc, instr in self.decoded.items():
            if instr.op == "sreg" and not 0 <= instr.imm < len(SPECIAL_REGISTERS):
                raise LaunchError(f"{program.name}: pc {pc} reads special register number {instr.imm}; there are "
                                  f"{len(SPECIAL_REGISTERS)} ({', '.join(SPECIAL_REGISTERS)})", pc=pc)
        channels = {i.ch for i in self.decoded.values() if i.op in ("send", "sendv", "recv", "recvv")}
        if channels and max(channels) >= spec.channels:
            raise LaunchError(f"{program.name} uses channel {max(channels)} but the machine has {spec.channels} "
                              f"channels per link direction", channel=max(channels))

    def host_memory(self) -> dict[str, int]:
        """Host memory this launch needs, by part (the largest wave is simulated at once)."""
        fifos = set()
        for instr in self.decoded.values():
            if instr.op in ("recv", "recvv"):
                fifos.add((instr.dir, instr.ch))
            elif instr.op in ("send", "sendv"):
                fifos.add(((instr.dir + 2) % 4, instr.ch))
        return launch_bytes(self.placement.wave(0).n, self.spec.n_pes, self.n_registers, self.program.data_words,
                            len(fifos), self.spec.fifo_depth, 4 if self.whole_cycles else 8)

    def check_host_memory(self) -> None:
        """Refuse, with the numbers, a launch whose state would not fit in host memory."""
        parts = self.host_memory()
        needed, available = sum(parts.values()), available_bytes()
        if available is not None and needed > available:
            detail = ", ".join(f"{name} {size / 2**20:,.0f} MiB" for name, size in parts.items() if size)
            raise OutOfMemoryError(
                f"{self.program.name} on {self.placement.wave(0).n:,} PEs needs about {needed / 2**30:.2f} GiB of "
                f"host memory ({detail}) but {available / 2**30:.2f} GiB is available; launch fewer or smaller "
                f"blocks at once, or use a machine with more memory", needed=needed, available=available, parts=parts)

    def run(self) -> LaunchStats:
        self.check_host_memory()
        tune_allocator()
        totals = _Totals(self.spec, self.program)
        slot_free = np.zeros(self.placement.slots)  # when each slot's current block finishes
        for w in range(self.placement.waves):
            region = self.placement.wave(w)
            start = slot_free[np.minimum(region.slot, region.count - 1)]
            sim = _WaveSim(self, region, start, totals)
            ends = region.per_block_max(sim.run())
            slot_free[: region.count] = ends[: region.count]
            if self.progress:
                self.progress(w + 1, self.placement.waves, self.barriers)
        op_counts: dict[str, int] = {}
        for pc, instr in self.decoded.items():
            if totals.pc_counts[pc]:
                op_counts[instr.op] = op_counts.get(instr.op, 0) + int(totals.pc_counts[pc])
        totals.keep_earliest_prints(self.print_limit)
        prints = [PrintRecord(c, x, y, t, v) for c, y, x, t, v in totals.prints]
        return LaunchStats(
            program=self.program.name, spec=self.spec, grid=self.placement.grid, block=self.placement.block,
            cycles=int(math.ceil(slot_free.max())), instructions=int(totals.pc_counts.sum()),
            busy=totals.busy, stall=totals.stall, pe_instructions=totals.instructions,
            link_words=totals.link_words, global_bytes=int(totals.global_bytes), waves=self.placement.waves,
            op_counts=op_counts, vector_elements=int(totals.vector_elements),
            flops=int(totals.flops) + sum(FLOPS_PER_OP.get(op, 0) * c for op, c in op_counts.items()),
            prints=prints, prints_dropped=totals.prints_dropped,
            trace=self.tracer.trace if self.tracer else None)


class _WaveSim:
    """The state of one wave: every PE of its region, run to completion."""

    def __init__(self, launch: Launch, region: WaveRegion, start: np.ndarray, totals: _Totals) -> None:
        self.launch, self.region, self.totals = launch, region, totals
        self.spec = spec = launch.spec
        self.program = launch.program
        n = self.n = region.n
        self.regs = np.zeros((launch.n_registers, n), dtype=np.int32)
        self.fregs = self.regs.view(np.float32)
        self.sram = np.zeros((self.program.data_words, n), dtype=np.int32)
        self.fsram = self.sram.view(np.float32)
        self.time_dtype = np.float32 if launch.whole_cycles and start.max(initial=0) < TIME32_LIMIT else np.float64
        self.start = start.astype(self.time_dtype)
        self.cycle = self.start.copy()
        self.stall = np.zeros(n, dtype=self.time_dtype)
        self.icount = np.zeros(n, dtype=np.int32)
        self.store_done = np.zeros(n, dtype=self.time_dtype)
        self.progress = np.zeros(n, dtype=np.int32)  # words done of a partly finished vector send/recv
        self.at_barrier = np.zeros(n, dtype=bool)
        self.barrier_time = np.zeros(n, dtype=self.time_dtype)
        self.fifos: dict[tuple[int, int], Fifo] = {}
        self.word_time = 1.0 / spec.link_words_per_cycle
        self.groups: dict[int, _Group] = {}
        # Splits on has_neighbor are the same every time the same lanes reach the same branch.
        self.static_splits: dict[tuple, tuple[Lanes, Lanes]] = {}
        self.ops = self._compile()
        self.tracer = launch.tracer

    # ------------------------------------------------------------------ time representation
    def _guard_time(self, latest: float) -> None:
        """Widen per-PE times to float64 before float32 could round them."""
        if self.time_dtype == np.float32 and latest >= TIME32_LIMIT:
            self.time_dtype = np.float64
            for name in ("start", "cycle", "stall", "store_done", "barrier_time"):
                setattr(self, name, getattr(self, name).astype(np.float64))
            for fifo in self.fifos.values():
                fifo.widen_time()

    # ------------------------------------------------------------------ program preparation
    def _compile(self) -> dict[int, tuple[Instr, int, float, Callable | None]]:
        """pc -> (instruction, next pc, issue cost, plain executor or None for control/timing ops)."""
        table = {}
        for pc, instr in self.launch.decoded.items():
            plain = None if instr.op in _CONTROL else self._plain(instr)
            table[pc] = (instr, pc + instr.words, self.launch.costs[instr.op], plain)
        return table

    def _plain(self, ins: Instr) -> Callable[[Lanes], None]:
        """An executor for an instruction that only computes (no timing, no control transfer)."""
        R, F, op = self.regs, self.fregs, ins.op
        d = ins.d
        if op == "nop" or (d == 0 and op not in ("st", "ld", "chk") and not op.startswith("v")):
            return lambda lanes: None  # r0 stays zero (a load into r0 still checks its address)
        if op in _INT_BINARY:
            f = _INT_BINARY[op]
            return lambda L: L.apply(f, R[d], R[ins.a], R[ins.b])
        if op in _INT_IMMEDIATE:
            f, imm = _INT_IMMEDIATE[op], np.int32(ins.imm)
            return lambda L: L.apply(f, R[d], R[ins.a], imm)
        if op in _FLOAT_BINARY:
            f = _FLOAT_BINARY[op]
            out = R[d] if op in ("flt", "fle", "feq", "fne") else F[d]
            return lambda L: L.apply(f, out, F[ins.a], F[ins.b])
        if op in _FLOAT_UNARY:
            f = _FLOAT_UNARY[op]
            return lambda L: L.apply(f, F[d], F[ins.a])
        custom2 = {"div": _int_div, "rem": _int_rem, "shl": _shift_left, "shr": _shift_right_logical,
                   "sra": _shift_right_arith}
        if op in custom2:
            f = custom2[op]
            return lambda L: L.put(R[d], f(L.get(R[ins.a]), L.get(R[ins.b])))
        shifts = {"shli": _shift_left, "shri": _shift_right_logical, "srai": _shift_right_arith}
        if op in shifts:
            f, imm = shifts[op], np.int32(ins.imm)
            return lambda L: L.put(R[d], f(L.get(R[ins.a]), imm))
        simple = {
            "mov": lambda L: L.put(R[d], L.get(R[ins.a])),
            "neg": lambda L: L.apply(np.negative, R[d], R[ins.a]),
            "abs": lambda L: L.apply(np.abs, R[d], R[ins.a]),
            "sel": lambda L: L.put(R[d], np.where(L.get(R[ins.a]) != 0, L.get(R[ins.b]), L.get(R[ins.c]))),
            "li": lambda L: L.put(R[d], np.int32(ins.imm)),
            "fma": lambda L: L.put(F[d], _fma(L.get(F[ins.a]), L.get(F[ins.b]), L.get(F[ins.c]))),
            "itof": lambda L: L.put(F[d], L.get(R[ins.a]).astype(np.float32)),
            "ftoi": lambda L: L.put(R[d], _float_to_int(L.get(F[ins.a]))),
            "hasnb": lambda L: L.put(R[d], L.get(self.region.has_neighbor(ins.dir))),
            "sreg": lambda L: L.put(R[d], L.get(self.region.special(SPECIAL_REGISTERS[ins.imm]))),
            "arg": lambda L: L.put(R[d], self._arg(ins.imm)),
            "ld": lambda L: self._load(L, ins),
            "chk": lambda L: self._bounds_check(L, ins),
        }
        if op in simple:
            return simple[op]
        if op == "st":
            return lambda L: self._store(L, ins)
        if op.startswith("v"):
            return lambda L: self._vector(L, ins)
        raise AssertionError(f"no executor for {op}")  # the opcode table and the engine disagree

    def _bounds_check(self, L: Lanes, ins: Instr) -> None:
        index = L.get(self.regs[ins.a]).astype(np.int64)
        bound = L.get(self.regs[ins.b]).astype(np.int64)
        bad = (index < 0) | (index >= bound)
        if L.any(bad):
            i = self._first_true(L, bad)
            what = self.program.strings[ins.imm] if 0 < ins.imm < len(self.program.strings) else "index"
            if what == "division by zero":
                raise self._lane_error(KernelZeroDivisionError, "integer division by zero", L, bad)
            raise self._lane_error(MemoryAccessError, f"{what}: index {int(index[i])} is out of bounds for size "
                                   f"{int(bound[i])}", L, bad, index=int(index[i]), size=int(bound[i]),
                                   array=what.split(" ")[0])

    def _arg(self, k: int) -> np.int32:
        if not 0 <= k < len(self.launch.args):
            raise LaunchError(f"{self.program.name} reads argument {k} but the launch gave {len(self.launch.args)}",
                              index=k, given=len(self.launch.args))
        return self.launch.args[k]

    # ------------------------------------------------------------------ scheduling
    def run(self) -> np.ndarray:
        """Run the wave to completion; returns each PE's finishing cycle."""
        self._add_group(0, Lanes.from_mask(self.region.active))
        counts = self.totals.pc_counts
        if self.tracer:
            self.tracer.begin_wave(self.region)
        with np.errstate(all="ignore"):
            while self.groups:
                runnable = [pc for pc, g in self.groups.items() if not g.blocked]
                if not runnable:
                    self._raise_deadlock()
                pc = min(runnable)
                group = self.groups.pop(pc)
                for next_pc, lanes, blocked, *owed in self._run_group(pc, group):
                    if blocked and next_pc == pc:  # it will execute again: count it once, when it completes
                        counts[pc] -= lanes.count
                        lanes.add(self.icount, -1)
                    self._add_group(next_pc, lanes, blocked, *owed)
        self._accumulate()
        if self.tracer:
            self.tracer.end_wave(self.start, self.cycle)
        # The executors are closures over this object: drop them so its arrays are freed now, by
        # reference counting, rather than at some later cyclic garbage collection (a second launch
        # would otherwise map fresh memory while this one's is still held).
        self.ops = {}
        self.fifos = {}
        return self.cycle

    def _add_group(self, pc: int, lanes: Lanes, blocked: bool = False, cost: float = 0.0, count: int = 0) -> None:
        if lanes.count == 0:
            return
        other = self.groups.get(pc)
        if other is None:
            self.groups[pc] = _Group(lanes, blocked, cost, count)
            return
        if (other.cost, other.count) != (cost, count):  # they owe different amounts: settle both first
            self._flush(other.lanes, other.cost, other.count)
            self._flush(lanes, cost, count)
            cost, count = 0.0, 0
        self.groups[pc] = _Group(other.lanes.union(lanes), blocked and other.blocked, cost, count)

    def _progress(self) -> None:
        """Something changed that may unblock waiting groups."""
        for group in self.groups.values():
            group.blocked = False

    def _run_group(self, pc: int, group: _Group) -> list[tuple]:
        """Run one group along straight-line code and branches until a timing instruction or a merge.

        Returns (pc, lanes, blocked) or (pc, lanes, blocked, owed cost, owed count) continuations."""
        lanes, pending_cost, pending_count = group.lanes, group.cost, group.count
        counts = self.totals.pc_counts
        previous = None  # the instruction this run executed last
        while True:
            if pc not in self.ops:
                self._flush(lanes, pending_cost, pending_count)
                if pc == len(self.program.code):  # falling off the end halts, like returning
                    return self._halt(lanes)
                raise LaunchError(f"{self.program.name}: jump to pc {pc}, outside the program "
                                  f"({len(self.program.code)} words){self._where(lanes)}", pc=pc)
            instr, next_pc, cost, plain = self.ops[pc]
            counts[pc] += lanes.count
            if plain is not None:
                try:
                    plain(lanes)
                except (MemoryAccessError, KernelZeroDivisionError) as exc:
                    raise self._locate(exc, pc) from None
                pending_cost += cost
                pending_count += 1
                previous = instr
                pc = next_pc
                if pc in self.groups:  # another group waits here: merge with it
                    return [(pc, lanes, False, pending_cost, pending_count)]
                continue
            if instr.op in ("bz", "bnz", "jmp"):
                pending_cost += cost
                pending_count += 1
                if instr.target <= pc:
                    self._check_cycle_limit(lanes, pc, pending_cost)
                if instr.op == "jmp":
                    return [(instr.target, lanes, False, pending_cost, pending_count)]
                taken, fall = self._branch_split(pc, instr, lanes, previous)
                return [(instr.target, taken, False, pending_cost, pending_count),
                        (next_pc, fall, False, pending_cost, pending_count)]
            self._flush(lanes, pending_cost, pending_count + 1)
            try:
                return self._control(pc, instr, next_pc, cost, lanes)
            except (MemoryAccessError, MeshBoundaryError, KernelZeroDivisionError) as exc:
                raise self._locate(exc, pc) from None

    def _branch_split(self, pc: int, instr: Instr, lanes: Lanes, previous: Instr | None) -> tuple[Lanes, Lanes]:
        """(taken, not taken) lanes of a conditional branch."""
        static = previous is not None and previous.op == "hasnb" and previous.d == instr.a and instr.a != 0
        if static:  # the condition is has_neighbor(dir) over these lanes: a fixed function of the lane set
            key = (pc, previous.dir, lanes.key())
            if key in self.static_splits:
                return self.static_splits[key]
        nonzero = lanes.get(self.regs[instr.a]) != 0
        result = lanes.split(nonzero if instr.op == "bnz" else ~nonzero)
        if static:
            self.static_splits[key] = result
        return result

    def _flush(self, lanes: Lanes, cost: float, count: int) -> None:
        if cost:
            lanes.add(self.cycle, cost)
        if count:
            lanes.add(self.icount, count)

    def _control(self, pc: int, ins: Instr, next_pc: int, cost: float, lanes: Lanes):
        op = ins.op
        if op == "halt":
            lanes.add(self.cycle, cost)
            return self._halt(lanes)
        if op == "bar":
            return self._barrier(pc, lanes, cost)
        if op in ("send", "sendv"):
            return self._send(pc, ins, next_pc, cost, lanes)
        if op in ("recv", "recvv"):
            return self._recv(pc, ins, next_pc, cost, lanes)
        if op == "print":
            self._print(ins, lanes)  # stamped with the cycle at which it issues
            lanes.add(self.cycle, cost)
            return [(next_pc, lanes, False)]
        return self._global(ins, next_pc, cost, lanes)

    def _check_cycle_limit(self, lanes: Lanes, pc: int, owed: float = 0.0) -> None:
        latest = lanes.max(lanes.get(self.cycle)) + owed
        self._guard_time(latest + self.spec.global_latency + len(self.program.code) * max(self.launch.costs.values()))
        if latest > self.launch.max_cycles:
            raise CycleLimitError(
                f"{self.program.name} ran past max_cycles={self.launch.max_cycles:,} (a PE reached cycle "
                f"{latest:,.0f}) at {self.program.describe_pc(pc)}; does it ever halt? Pass a larger "
                f"max_cycles to the launch if it should run longer", max_cycles=self.launch.max_cycles, pc=pc,
                **self._first_pe(lanes))

    def _halt(self, lanes: Lanes) -> list:
        # Posted global stores drain before a PE counts as finished.
        cyc = lanes.get(self.cycle)
        done = np.maximum(cyc, lanes.get(self.store_done))
        lanes.add(self.stall, done - cyc)
        if self.tracer:
            self.tracer.record(lanes, "store drain", cyc, done)
        lanes.put(self.cycle, done)
        return []

    # ------------------------------------------------------------------ errors
    def _coords(self, flat: np.ndarray) -> list[tuple[int, int]]:
        x, y = self.region.xy
        return [(int(x[i]), int(y[i])) for i in flat[:MAX_PES_NAMED]]

    def _first_pe(self, lanes: Lanes) -> dict:
        i = lanes.indices()[:1]
        if not len(i):
            return {}
        x, y = self.region.xy
        return {"pe": (int(x[i[0]]), int(y[i[0]])), "block_index": self._block_of(int(i[0]))}

    def _block_of(self, flat: int) -> tuple[int, int]:
        block = int(self.region.block_id[flat])
        gx = self.launch.placement.grid[0]
        return block % gx, block // gx

    def _where(self, lanes: Lanes) -> str:
        fields = self._first_pe(lanes)
        return f" (PE {fields['pe']} of block {fields['block_index']})" if fields else ""

    def _locate(self, exc, pc: int):
        """Add the program counter, instruction and source line to an error raised by an executor."""
        exc.pc = pc
        exc.instruction = format_instr(self.launch.decoded[pc])
        exc.source = self.program.source_of(pc)
        exc.args = (f"{exc.args[0]} at {self.program.describe_pc(pc)}",)
        return exc

    def _lane_error(self, cls, message: str, lanes: Lanes, bad: np.ndarray, **fields):
        """An error naming the PEs of `lanes` where `bad` (lane-aligned) holds."""
        flat = lanes.split(np.asarray(bad, dtype=bool))[0].indices()
        pes = self._coords(flat)
        more = f" (and {len(flat) - len(pes)} more)" if len(flat) > len(pes) else ""
        first = {"pe": pes[0], "block_index": self._block_of(int(flat[0]))} if pes else {}
        names = ", ".join(f"({x}, {y})" for x, y in pes)
        return cls(f"{message}: PE {names}{more}", pes=pes, **first, **fields)

    def _raise_deadlock(self) -> None:
        lines, blocked = [], []
        x, y = self.region.xy
        for pc, group in sorted(self.groups.items()):
            instr = self.launch.decoded[pc]
            flat = group.lanes.indices()
            if instr.op in ("recv", "recvv"):
                what = f"waits for a word from the {DIRECTIONS[instr.dir]} on channel {instr.ch}"
            elif instr.op in ("send", "sendv"):
                what = (f"waits for room to send {DIRECTIONS[instr.dir]} on channel {instr.ch} "
                        f"(the FIFO of {self.spec.fifo_depth} words is full)")
            else:
                what = "waits at a barrier that part of its block never reaches"
            for i in flat:
                blocked.append({"pe": (int(x[i]), int(y[i])), "pc": pc, "waits_for": what,
                                "block_index": self._block_of(int(i))})
            pes = ", ".join(f"({px}, {py})" for px, py in self._coords(flat))
            more = f" and {len(flat) - MAX_PES_NAMED} more" if len(flat) > MAX_PES_NAMED else ""
            lines.append(f"  {len(flat)} PE(s) at {self.program.describe_pc(pc)} {what}: {pes}{more}")
        first = blocked[0]
        lines.append(self._deadlock_map(first["pe"]))
        raise DeadlockError(f"deadlock in {self.program.name}: no PE can make progress\n" + "\n".join(lines),
                            blocked=blocked, pe=first["pe"], block_index=first["block_index"], pc=first["pc"],
                            source=self.program.source_of(first["pc"]))

    MAP_WIDTH, MAP_HEIGHT = 64, 24

    def _deadlock_map(self, pe: tuple[int, int]) -> str:
        """A character map of the block holding `pe` (a window of it, for big blocks): what each PE waits on."""
        bx, by = self.launch.placement.block
        x0, y0 = pe[0] - pe[0] % bx, pe[1] - pe[1] % by  # the block's north-west PE, region coordinates
        wx, wy = min(bx, self.MAP_WIDTH), min(by, self.MAP_HEIGHT)
        left = x0 + min(max(pe[0] - x0 - wx // 2, 0), bx - wx)
        top = y0 + min(max(pe[1] - y0 - wy // 2, 0), by - wy)
        grid = [["h"] * wx for _ in range(wy)]  # PEs in no group have halted
        x, y = self.region.xy
        for pc, group in self.groups.items():
            instr = self.launch.decoded[pc]
            if instr.op in ("recv", "recvv"):
                char = "^>v<"[instr.dir]
            elif instr.op in ("send", "sendv"):
                char = "NESW"[instr.dir]
            else:
                char = "B"
            for i in group.lanes.indices():
                gx, gy = int(x[i]) - left, int(y[i]) - top
                if 0 <= gx < wx and 0 <= gy < wy:
                    grid[gy][gx] = char
        block = self._block_of(int(np.flatnonzero((x == pe[0]) & (y == pe[1]))[0]))
        window = "" if (wx, wy) == (bx, by) else f", PEs x {left}..{left + wx - 1}, y {top}..{top + wy - 1} shown"
        rows = "\n".join("    " + "".join(row) for row in grid)
        return (f"  block {block} (north up{window}): ^ > v < wait to receive from north/east/south/west, "
                f"N E S W wait to send (FIFO full), B waits at a barrier, h halted\n{rows}")

    # ------------------------------------------------------------------ SRAM
    @staticmethod
    def _first_true(lanes: Lanes, cond: np.ndarray) -> int:
        """Position (in `get` coordinates) of the first lane where `cond` holds."""
        if lanes.idx is None and not lanes.is_full:
            cond = cond & lanes.as_mask()
        return int(np.argmax(cond))

    def _sram_check(self, lanes: Lanes, addr: np.ndarray, length, what: str) -> None:
        size = self.program.data_words
        bad = (addr < 0) | (addr + length > size)
        if lanes.any(bad):
            i = self._first_true(lanes, bad)
            a = int(addr[i])
            n = int(length if np.isscalar(length) else np.asarray(length)[i])
            raise self._lane_error(MemoryAccessError,
                                   f"{what} of SRAM words [{a}, {a + n}) outside the data segment [0, {size})",
                                   lanes, bad, address=a, length=n, size=size)

    def _load(self, L: Lanes, ins: Instr) -> None:
        addr = L.get(self.regs[ins.a]).astype(np.int64) + ins.imm
        self._sram_check(L, addr, 1, "load")
        if ins.d == 0:
            return
        common = L.all_equal(addr)
        if common is not None:
            L.put(self.regs[ins.d], L.get(self.sram[int(common)]))
        else:
            Li = L.to_index_form(self.n)
            self.regs[ins.d, Li.idx] = self.sram[addr if L.idx is not None else addr[L.as_mask()], Li.idx]

    def _store(self, L: Lanes, ins: Instr) -> None:
        addr = L.get(self.regs[ins.a]).astype(np.int64) + ins.imm
        self._sram_check(L, addr, 1, "store")
        common = L.all_equal(addr)
        if common is not None:
            L.put(self.sram[int(common)], L.get(self.regs[ins.d]))
        else:
            Li = L.to_index_form(self.n)
            self.sram[addr if L.idx is not None else addr[L.as_mask()], Li.idx] = self.regs[ins.d, Li.idx]

    def _vector(self, L: Lanes, ins: Instr) -> None:
        """A vector op over SRAM ranges; each distinct (addresses, length) tuple is one NumPy call."""
        scalar_b = ins.op in ("vscale", "vfill") or bool(ins.flags & FLAG_SCALAR)
        names = ["d", "c"] + (["a"] if ins.op != "vfill" else []) + ([] if scalar_b else ["b"])
        keys = np.stack([L.get(self.regs[getattr(ins, f)]).astype(np.int64) for f in names])
        common = [L.all_equal(k) for k in keys]
        if all(c is not None for c in common):
            self._vector_uniform(L, ins, dict(zip(names, map(int, common))), scalar_b)
            return
        Li = L.to_index_form(self.n)
        if L.idx is None:
            keys = keys[:, L.as_mask()]
        uniq, inverse = np.unique(keys, axis=1, return_inverse=True)
        inverse = inverse.reshape(-1)
        for j in range(uniq.shape[1]):
            sub = Lanes(self.n, idx=Li.idx[inverse == j])
            self._vector_uniform(sub, ins, dict(zip(names, map(int, uniq[:, j]))), scalar_b)

    def _all_lanes(self, L: Lanes) -> np.ndarray:
        return np.ones(np.shape(L.get(self.cycle)), dtype=bool)

    def _vector_uniform(self, L: Lanes, ins: Instr, where: dict[str, int], scalar_b: bool) -> None:
        d, n, a, b = where["d"], where["c"], where.get("a", 0), where.get("b", 0)
        if n < 0:
            raise self._lane_error(MemoryAccessError, f"{ins.op} with a negative length {n}", L, self._all_lanes(L),
                                   length=n)
        for operand in [f for f in ("d", "a", "b") if f in where]:
            base = where[operand]
            if base < 0 or base + n > self.program.data_words:
                raise self._lane_error(MemoryAccessError,
                                       f"{ins.op} operand {operand}: SRAM words [{base}, {base + n}) outside the data "
                                       f"segment [0, {self.program.data_words})", L, self._all_lanes(L),
                                       address=base, length=n, size=self.program.data_words)
        is_float = bool(ins.flags & FLAG_FLOAT)
        S = self.fsram if is_float else self.sram
        regs = self.fregs if is_float else self.regs
        scalar = regs[ins.b]
        dst = S[d:d + n]
        op = ins.op
        if op == "vcopy":
            L.put(dst, np.array(L.get(S[a:a + n])))
        elif op == "vfill":
            L.put(dst, L.get(scalar))
        elif op == "vscale":
            L.put(dst, L.get(S[a:a + n]) * L.get(scalar))
        else:
            other = L.get(scalar) if scalar_b else L.get(S[b:b + n])
            if op == "vfma":
                L.put(dst, L.get(dst) + L.get(S[a:a + n]) * other)
            else:
                L.put(dst, _VECTOR_BINARY[op](L.get(S[a:a + n]), other))
        # Elements beyond the issue cost: n / vector_lanes cycles.
        L.add(self.cycle, math.ceil(n / self.spec.vector_lanes))
        self.totals.vector_elements += n * L.count
        if is_float:
            self.totals.flops += FLOPS_PER_VECTOR_ELEMENT.get(op, 0) * n * L.count

    # ------------------------------------------------------------------ fabric
    def _fifo(self, direction: int, channel: int) -> Fifo:
        key = (direction, channel)
        if key not in self.fifos:
            self.fifos[key] = Fifo(self.spec.fifo_depth, self.n, self.time_dtype)
        return self.fifos[key]

    def _check_neighbor(self, lanes: Lanes, direction: int, what: str) -> None:
        has = lanes.get(self.region.has_neighbor(direction))
        if not lanes.all(has):
            raise self._lane_error(MeshBoundaryError,
                                   f"{what} {DIRECTIONS[direction]} across the edge of the block "
                                   f"{self.launch.placement.block}", lanes, ~has, direction=DIRECTIONS[direction])

    @staticmethod
    def _slot_rows(lanes: Lanes, counter: np.ndarray, depth: int):
        """The FIFO slot each lane uses next: one int when all lanes agree, else lane-aligned indices."""
        counts = lanes.get(counter)
        common = lanes.all_equal(counts)  # equal counters use the same slot: one row for every lane
        return int(common) % depth if common is not None else counts % depth

    @staticmethod
    def _field_get(field: SlotRows, lanes: Lanes, slot):
        return lanes.get(field[slot]) if isinstance(slot, int) else field.gather(slot, lanes.idx)

    @staticmethod
    def _field_put(field: SlotRows, lanes: Lanes, slot, values) -> None:
        if isinstance(slot, int):
            lanes.put(field[slot], values)
        else:
            field.scatter(slot, lanes.idx, values)

    def _push(self, src: Lanes, dst: Lanes, values: np.ndarray, fifo: Fifo, cost: float) -> None:
        """Push one word per lane (all have room): timing and FIFO contents.

        A link carries only its sender's words, and the sender is busy until its word has left, so the
        link is always free by the time its sender is ready: the sender's clock is the link's clock."""
        slot = self._slot_rows(dst, fifo.pushed, fifo.depth)
        if not isinstance(slot, int) and src.idx is None:
            values = values if src.idx is not None else values[src.as_mask()]
            src = src.to_index_form(self.n)
            dst = dst.to_index_form(self.n)
            slot = dst.get(fifo.pushed) % fifo.depth
        ready = src.get(self.cycle) + cost
        depart = np.maximum(ready, self._field_get(fifo.time, dst, slot))  # after word k - depth left
        self._field_put(fifo.value, dst, slot, values)
        self._field_put(fifo.time, dst, slot, depart + self.spec.hop_latency)  # now: its arrival
        dst.add(fifo.pushed, 1)
        self._add_stall(src, depart, ready)
        if self.tracer:
            self.tracer.record(src, "send", ready - cost, depart + self.word_time)
        src.put(self.cycle, depart + self.word_time)

    def _add_stall(self, lanes: Lanes, later: np.ndarray, ready: np.ndarray) -> None:
        """stall += later - ready, skipped when no lane waited (the common case, and a cheap test)."""
        waited = later != ready
        if lanes.any(waited):
            lanes.add(self.stall, later - ready)

    def _pop(self, lanes: Lanes, fifo: Fifo, cost: float) -> np.ndarray:
        """Pop one word per lane (all have one): returns the values, lane-aligned."""
        slot = self._slot_rows(lanes, fifo.popped, fifo.depth)
        if not isinstance(slot, int) and lanes.idx is None:
            lanes = lanes.to_index_form(self.n)
            slot = lanes.get(fifo.popped) % fifo.depth
        ready = lanes.get(self.cycle) + cost
        taken = np.maximum(ready, self._field_get(fifo.time, lanes, slot))
        values = self._field_get(fifo.value, lanes, slot)  # a view: use it before the slot is written again
        self._field_put(fifo.time, lanes, slot, taken)  # now: when the slot was freed
        lanes.add(fifo.popped, 1)
        self._add_stall(lanes, taken, ready)
        if self.tracer:
            self.tracer.record(lanes, "recv", ready - cost, taken)
        lanes.put(self.cycle, taken)
        return values, lanes

    def _send(self, pc: int, ins: Instr, next_pc: int, cost: float, lanes: Lanes):
        self._check_neighbor(lanes, ins.dir, "send")
        fifo = self._fifo((ins.dir + 2) % 4, ins.ch)
        offset = self.region.offset(ins.dir)
        if ins.op == "sendv":
            return self._stream(pc, ins, next_pc, cost, lanes, offset, fifo, sending=True)
        src, dst = lanes.shifted_pair(offset)
        room = dst.get(fifo.pushed) - dst.get(fifo.popped) < fifo.depth
        blocked = None
        if not src.all(room):
            src, blocked = src.split(room)
            dst = src.aligned(dst.window, offset)
        if src.count:
            self._push(src, dst, src.get(self.regs[ins.a]), fifo, cost)
            self._progress()
        out = [(next_pc, src.unwindow(self.n), False)]
        if blocked is not None and blocked.count:
            out.append((pc, blocked.unwindow(self.n), True))
        return out

    def _recv(self, pc: int, ins: Instr, next_pc: int, cost: float, lanes: Lanes):
        self._check_neighbor(lanes, ins.dir, "recv from")
        fifo = self._fifo(ins.dir, ins.ch)
        if ins.op == "recvv":
            return self._stream(pc, ins, next_pc, cost, lanes, 0, fifo, sending=False)
        has = lanes.get(fifo.pushed) - lanes.get(fifo.popped) > 0
        ready, waiting = (lanes, None) if lanes.all(has) else lanes.split(has)
        if ready.count:
            values, ready_i = self._pop(ready, fifo, cost)
            if ins.d:
                ready_i.put(self.regs[ins.d], values)
            self._progress()
        out = [(next_pc, ready, False)]
        if waiting is not None and waiting.count:
            out.append((pc, waiting, True))
        return out

    def _stream(self, pc: int, ins: Instr, next_pc: int, cost: float, lanes: Lanes, offset: int,
                fifo: Fifo, sending: bool):
        """sendv / recvv: move words one at a time while there is room / data; resumable."""
        L = lanes.to_index_form(self.n)
        base = self.regs[ins.a, L.idx].astype(np.int64)
        length = self.regs[ins.b, L.idx].astype(np.int64)
        what = "sendv" if sending else "recvv"
        self._sram_check(L, base, np.maximum(length, 0), what)
        if (length < 0).any():
            raise self._lane_error(MemoryAccessError, f"{what} with a negative length", L, length < 0)
        moved_any = False
        while True:
            done = self.progress[L.idx].astype(np.int64)
            counterpart = L.idx + offset
            if sending:
                can = (done < length) & (fifo.pushed[counterpart] - fifo.popped[counterpart] < fifo.depth)
            else:
                can = (done < length) & (fifo.pushed[L.idx] - fifo.popped[L.idx] > 0)
            if not can.any():
                break
            moved_any = True
            sub = Lanes(self.n, idx=L.idx[can])
            first_cost = np.where(done[can] == 0, cost, 0.0)
            addr = base[can] + done[can]
            if sending:
                values = self.sram[addr, sub.idx]
                self._push(sub, Lanes(self.n, idx=sub.idx + offset), values, fifo, first_cost)
            else:
                values, _ = self._pop(sub, fifo, first_cost)
                self.sram[addr, sub.idx] = values
            self.progress[sub.idx] += 1
        finished = self.progress[L.idx] >= length
        zero = length == 0  # an empty transfer still costs its issue
        if zero.any():
            self.cycle[L.idx[zero]] += cost
        if moved_any:
            self._progress()
        finished_lanes, waiting = L.split(finished)
        self.progress[finished_lanes.idx] = 0
        out = [(next_pc, Lanes.from_indices(self.n, finished_lanes.idx), False)]
        if waiting.count:
            out.append((pc, Lanes.from_indices(self.n, waiting.idx), True))
        return out

    # ------------------------------------------------------------------ barrier
    def _barrier(self, pc: int, lanes: Lanes, cost: float):
        lanes.put(self.at_barrier, True)
        lanes.put(self.barrier_time, lanes.get(self.cycle) + cost)
        self._add_group(pc, lanes, blocked=True)
        complete = self.region.block_all(self.at_barrier)
        if not complete.any():
            return []
        release_at = self.region.block_reduce_max(np.where(self.at_barrier, self.barrier_time, -np.inf))
        release_at += self.spec.barrier_cycles(*self.launch.placement.block)
        self._guard_time(float(release_at.max()))
        self.launch.barriers += 1
        if self.launch.progress:
            self.launch.progress(0, self.launch.placement.waves, self.launch.barriers)
        for bar_pc in [p for p in self.groups if self.launch.decoded.get(p) is not None
                       and self.launch.decoded[p].op == "bar"]:
            group = self.groups.pop(bar_pc)
            cond = group.lanes.get(complete)
            go, stay = group.lanes.split(cond)
            if go.count:
                if self.tracer:
                    self.tracer.record(go, "barrier", go.get(self.barrier_time) - cost, go.get(release_at))
                go.add(self.stall, go.get(release_at) - go.get(self.cycle))
                go.put(self.cycle, go.get(release_at))
                go.put(self.at_barrier, False)
                self._add_group(bar_pc + 1, go.unwindow(self.n))
            if stay.count:
                self._add_group(bar_pc, stay, blocked=True)
        self._progress()
        return []

    # ------------------------------------------------------------------ global memory
    def _global(self, ins: Instr, next_pc: int, cost: float, lanes: Lanes):
        L = lanes.to_index_form(self.n)
        op, spec = ins.op, self.spec
        if op in ("gld", "gst"):
            addr = (self.regs[ins.a, L.idx].astype(np.int64) & 0xFFFFFFFF) + ins.imm
            words = np.ones(L.count, dtype=np.int64)
        else:
            addr = self.regs[ins.a, L.idx].astype(np.int64) & 0xFFFFFFFF
            words = self.regs[ins.c, L.idx].astype(np.int64)
            sram_base = self.regs[ins.d if op == "gldv" else ins.b, L.idx].astype(np.int64)
            if (words < 0).any():
                raise self._lane_error(MemoryAccessError, f"{op} with a negative length", L, words < 0)
            self._sram_check(L, sram_base, words, op)
        bases, ok = self.launch.memory.locate(addr, 4 * words)
        ok |= words == 0
        if not ok.all():
            i = int(np.argmax(~ok))
            why = self.launch.memory.describe_address(int(addr[i]))
            raise self._lane_error(MemoryAccessError, f"{op} of {4 * int(words[i])} bytes: {why}", L, ~ok,
                                   address=int(addr[i]), nbytes=4 * int(words[i]))
        if op == "gld":
            self.regs[ins.d, L.idx] = self.launch.memory.gather_words(addr, bases) if ins.d else 0
        elif op == "gst":
            self.launch.memory.scatter_words(addr, bases, self.regs[ins.d, L.idx])
        else:
            for n in np.unique(words):  # one gather per distinct transfer length
                sel = words == n
                if not n:
                    continue
                cols = np.arange(n)
                word_addr = addr[sel, None] + 4 * cols
                sram_rows = sram_base[sel, None] + cols
                pes = np.broadcast_to(L.idx[sel, None], word_addr.shape)
                where = bases if isinstance(bases, int) else np.broadcast_to(bases[sel, None], word_addr.shape)
                if op == "gldv":
                    self.sram[sram_rows, pes] = self.launch.memory.gather_words(word_addr, where)
                else:
                    self.launch.memory.scatter_words(word_addr, where, self.sram[sram_rows, pes])
        # Timing: latency plus hops to the wafer edge, and the wafer's shared off-wafer bandwidth.
        nbytes = 4 * words
        issued = self.cycle[L.idx] + cost
        served = np.ceil((self.totals.global_bytes + np.cumsum(nbytes)) / spec.global_bytes_per_cycle)
        self.totals.global_bytes += int(nbytes.sum())
        hops = self.region.hops_to_edge[L.idx]
        finished = np.maximum(issued + spec.global_latency + hops + (words - 1).clip(0) * self.word_time, served)
        self._guard_time(float(finished.max(initial=0)))
        if self.tracer:
            loads = op in ("gld", "gldv")
            self.tracer.record(L, "global load" if loads else "global store", issued - cost,
                               finished if loads else issued)
        if op in ("gld", "gldv"):
            self.stall[L.idx] += finished - issued
            self.cycle[L.idx] = finished
        else:  # posted: the PE goes on; its halt waits for the store to land
            self.cycle[L.idx] = issued
            self.store_done[L.idx] = np.maximum(self.store_done[L.idx], finished)
        return [(next_pc, lanes, False)]

    # ------------------------------------------------------------------ debug print
    def _print(self, ins: Instr, lanes: Lanes) -> None:
        totals = self.totals
        L = lanes.to_index_form(self.n)
        raw = self.regs[ins.a, L.idx]
        values = raw.view(np.float32).astype(float) if ins.flags & FLAG_FLOAT else raw.astype(int)
        x, y = self.region.xy
        text = self.program.strings[ins.imm] if 0 <= ins.imm < len(self.program.strings) else f"#{ins.imm}"
        totals.prints.extend((float(c), int(py), int(px), text, v.item()) for c, px, py, v in
                             zip(self.cycle[L.idx], x[L.idx], y[L.idx], values))
        if len(totals.prints) > 4 * self.launch.print_limit:  # keep only the earliest, by (cycle, PE)
            totals.keep_earliest_prints(self.launch.print_limit)

    # ------------------------------------------------------------------ results
    def _accumulate(self) -> None:
        totals, region = self.totals, self.region
        h, w = region.height, region.width
        active = region.active
        elapsed = np.where(active, self.cycle - self.start, 0.0)
        stall = np.where(active, self.stall, 0.0)
        totals.busy[:h, :w] += (elapsed - stall).reshape(h, w)
        totals.stall[:h, :w] += stall.reshape(h, w)
        totals.instructions[:h, :w] += self.icount.reshape(h, w)
        for (incoming, _), fifo in self.fifos.items():  # words a PE sent = words its neighbour received
            sender_direction = (incoming + 2) % 4
            offset = region.offset(sender_direction)
            sent = np.zeros(self.n, dtype=np.int64)
            senders = region.has_neighbor(sender_direction)
            sent[senders] = fifo.pushed[np.flatnonzero(senders) + offset]
            totals.link_words[sender_direction, :h, :w] += sent.reshape(h, w)
        self.cycle = np.where(active, self.cycle, 0.0)
