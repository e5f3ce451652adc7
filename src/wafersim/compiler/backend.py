"""Optimisation, linear-scan register allocation and code emission.

The optimisation passes live in `compiler/passes/` (a named list, then the verifier; see
docs/compiler.md, "Optimisation passes"). Constants are folded earlier, by the front end.

Register allocation: liveness by dataflow over basic blocks gives each virtual register one live
interval over the linear order; linear scan (Poletto and Sarkar) assigns physical registers
r1..r(N-5) and spills the interval that ends last to an SRAM slot when none is free. The top four
registers are scratch for reloading spilled operands around an instruction.
"""
from __future__ import annotations

import dataclasses
import functools

from ..arch.spec import WaferSpec
from ..errors import CompileError, SramBudgetError
from ..isa.assembler import Program, disassemble
from ..isa.opcodes import IMM_MAX, IMM_MIN
from .encode import encode_machine_code
from .debuginfo import symbols
from .ir import BRANCHES, REGISTER_FIELDS, IRFunction, Label, Op, SourceLine, VReg, basic_blocks, place_of
from .passes import PassLog, run_passes
from .passes.cfg import CFG

SCRATCH_REGISTERS = 4


# ----------------------------------------------------------------------------- passes
def optimize(fn: IRFunction, passes: list | None = None) -> PassLog:
    """Run the optimisation pipeline (`passes.PASSES` unless given), then the verifier (`passes.run_passes`)."""
    return run_passes(fn, passes)


# ----------------------------------------------------------------------------- liveness
def block_liveness(fn: IRFunction) -> tuple[list[list[int]], list[set], list[set]]:
    """Basic blocks (op indices) with the virtual registers live into and out of each (dataflow)."""
    ops = fn.ops
    blocks = basic_blocks(ops)
    label_block = {ops[b[0]]: k for k, b in enumerate(blocks) if isinstance(ops[b[0]], Label)}
    successors: list[list[int]] = []
    for k, block in enumerate(blocks):
        last = ops[block[-1]]
        succ = []
        if isinstance(last, Op) and last.op in BRANCHES:
            succ.append(label_block[last.target])
            if last.op != "jmp" and k + 1 < len(blocks):
                succ.append(k + 1)
        elif not (isinstance(last, Op) and last.op == "halt") and k + 1 < len(blocks):
            succ.append(k + 1)
        successors.append(succ)
    use, define = [], []
    for block in blocks:
        u, d = set(), set()
        for i in block:
            op = ops[i]
            if isinstance(op, Op):
                u |= {r for r in op.reads() if r not in d}
                if op.writes() is not None:
                    d.add(op.writes())
        use.append(u)
        define.append(d)
    live_in = [set() for _ in blocks]
    live_out = [set() for _ in blocks]
    changed = True
    while changed:
        changed = False
        for k in reversed(range(len(blocks))):
            out = set().union(*[live_in[s] for s in successors[k]]) if successors[k] else set()
            inn = use[k] | (out - define[k])
            if out != live_out[k] or inn != live_in[k]:
                live_out[k], live_in[k], changed = out, inn, True
    return blocks, live_in, live_out


def live_intervals(fn: IRFunction) -> dict[VReg, tuple[int, int]]:
    """[first, last] linear positions where each virtual register is live (dataflow over blocks)."""
    ops = fn.ops
    blocks, live_in, live_out = block_liveness(fn)
    intervals: dict[VReg, list[int]] = {}

    def extend(reg: VReg, pos: int) -> None:
        span = intervals.get(reg)
        if span is None:
            intervals[reg] = [pos, pos]
        elif pos < span[0]:
            span[0] = pos
        elif pos > span[1]:
            span[1] = pos

    for k, block in enumerate(blocks):
        for reg in live_in[k]:
            extend(reg, block[0])
        for reg in live_out[k]:
            extend(reg, block[-1])
        for i in block:
            op = ops[i]
            if isinstance(op, Op):
                for reg in op.reads():
                    extend(reg, i)
                written = op.writes()
                if written is not None:
                    extend(written, i)
    return {reg: (s, e) for reg, (s, e) in intervals.items()}


# ----------------------------------------------------------------------------- allocation
@dataclasses.dataclass
class Allocation:
    registers: dict[VReg, int]
    spills: dict[VReg, int]  # vreg -> spill slot number
    registers_used: int


def spill_weights(fn: IRFunction) -> dict[VReg, float]:
    """How much spilling each register would cost: its reads and writes, each weighted 10**(loop depth)."""
    cfg = CFG(fn)
    depth = [0] * len(cfg.blocks)
    for loop in cfg.loops():
        for b in loop.blocks:
            depth[b] += 1
    weights: dict[VReg, float] = {}
    for k, block in enumerate(cfg.blocks):
        cost = 10.0 ** min(depth[k], 8)
        for i in block:
            op = fn.ops[i]
            if isinstance(op, Op):
                for reg in op.reads() + ([op.writes()] if op.writes() is not None else []):
                    weights[reg] = weights.get(reg, 0.0) + cost
    return weights


def allocate_registers(fn: IRFunction, n_registers: int) -> Allocation:
    """Linear scan; when registers run out, spill the live value that is cheapest to spill (fewest reads
    and writes weighted by loop depth), so values used in inner loops keep their registers."""
    allocatable = list(range(1, n_registers - SCRATCH_REGISTERS))
    if not allocatable:
        raise CompileError(f"a machine with {n_registers} registers leaves none to allocate "
                           f"({SCRATCH_REGISTERS} are spill scratch and r0 is zero)")
    intervals = sorted(live_intervals(fn).items(), key=lambda item: (item[1][0], item[0].id))
    weights = spill_weights(fn)
    free = list(reversed(allocatable))
    active: list[tuple[int, VReg]] = []  # (end, vreg), sorted by end
    registers: dict[VReg, int] = {}
    spills: dict[VReg, int] = {}
    for reg, (start, end) in intervals:
        while active and active[0][0] < start:
            free.append(registers[active.pop(0)[1]])
        if free:
            registers[reg] = free.pop()
            active.append((end, reg))
            active.sort(key=lambda item: (item[0], item[1].id))
            continue
        victim_end, victim = min(active, key=lambda item: (weights.get(item[1], 0.0), -item[0], item[1].id))
        if (weights.get(victim, 0.0), -victim_end) < (weights.get(reg, 0.0), -end):
            registers[reg] = registers.pop(victim)
            spills[victim] = len(spills)
            active.remove((victim_end, victim))
            active.append((end, reg))
            active.sort(key=lambda item: (item[0], item[1].id))
        else:
            spills[reg] = len(spills)
    used = max(list(registers.values()) + [0]) + 1
    return Allocation(registers, spills, used)


# ----------------------------------------------------------------------------- emission
@dataclasses.dataclass
class Compiled:
    program: Program
    ir_text: str
    allocation: Allocation
    passes: PassLog | None = None  # the IR after each optimisation pass
    machine_code: list | None = None  # the allocated instructions (`Op`s over r0..r31) and labels encoded
    #: loaded from the on-disk kernel cache (`runtime.kernel_cache`), which keeps no `passes` (they are most
    #: of a pickle's size and loading time): `inspect_ir(after=...)` compiles the kernel again for them
    from_disk_cache: bool = False
    #: the machine's fields the compilation read, with their values (`compiler.spec_reads`; None: the whole
    #: spec): the program is the same on any machine that has those values, which `@ws.jit` reuses it for
    spec_reads: tuple | None = None

    @functools.cached_property
    def asm_text(self) -> str:
        """The program disassembled, with the IR's labels (on first use: most compiles never print it)."""
        return disassemble(self.program)

    def ir_after(self, name: str) -> str:
        """The IR text after the named pass (`wafersim.compiler.PASS_NAMES`)."""
        if self.passes is None:
            raise KeyError("this binary was not compiled by the optimising pipeline")
        return self.passes.text_after(name)


def _physical(op: Op, regs: dict) -> Op:
    """A copy of `op` with its virtual registers replaced by the physical registers `regs` gives them."""
    twin = dataclasses.replace(op)
    for field in REGISTER_FIELDS:
        value = getattr(twin, field)
        if isinstance(value, VReg):
            setattr(twin, field, regs[value])
    return twin


def _special_spills(fn: IRFunction, spills: dict[VReg, int]) -> dict[VReg, int]:
    """Spilled registers whose every definition reads one special register (threadIdx, blockIdx, ...: fixed
    for a launch), with that register's number. Their reloads read it again (`sreg`, an issue cycle like the
    `ld`'s) rather than the slot, so that threadIdx stays visible in registers to the engine's proof that one
    PE per block sends routed words (`sim.routed_senders` follows registers, not SRAM: a spilled threadIdx kept
    such kernels off the engine's fast path). The spill store stays: the debugger reads the slot."""
    found: dict[VReg, int | None] = {}
    for op in fn.ops:
        written = None if isinstance(op, Label) else op.writes()
        if written in spills:
            special = op.imm if op.op == "sreg" else None
            found[written] = special if found.get(written, special) == special else None
    return {reg: special for reg, special in found.items() if special is not None}


def emit(fn: IRFunction, spec: WaferSpec, filename: str, passes: list | None = None) -> Compiled:
    """Optimise, allocate registers, lay out SRAM, and encode the kernel into a `Program`.

    The allocated instructions go to the encoder as `Instr`s (`encode_machine_code`), never through
    assembly text; `Compiled.asm_text` is the result disassembled."""
    log = optimize(fn, passes)
    ir_text = log.before  # (the IR the passes started from, which `run_passes` printed: not printed twice)
    alloc = allocate_registers(fn, spec.registers)
    spill_base = 0
    scratch_base = spill_base + len(alloc.spills)
    local_base = scratch_base + fn.scratch_words
    data_words = local_base + fn.local_words
    scratch = list(range(spec.registers - SCRATCH_REGISTERS, spec.registers))
    specials = _special_spills(fn, alloc.spills)
    machine: list[Op | Label] = []  # physical instructions and labels, in program order
    owners: list[tuple[int, bool]] = []  # per machine instruction: the IR op it is for, and whether after its own
    for k, op in enumerate(fn.ops):
        if isinstance(op, Label):
            machine.append(op)
            continue
        regs = dict(alloc.registers)
        reloads, stores = [], []
        used_scratch = iter(scratch)
        for reg in dict.fromkeys(op.reads()):
            if reg in alloc.spills:
                regs[reg] = next(used_scratch)
                reloads.append(Op("sreg", d=regs[reg], imm=specials[reg], line=op.line) if reg in specials else
                               Op("ld", d=regs[reg], a=0, imm=spill_base + alloc.spills[reg], line=op.line))
        written = op.writes()
        if written is not None and written in alloc.spills:
            regs[written] = regs.get(written) if written in op.reads() else next(used_scratch, scratch[-1])
            stores.append(Op("st", d=regs[written], a=0, imm=spill_base + alloc.spills[written], line=op.line))
        located = _relocate(op, {"local": local_base, "scratch": scratch_base})
        own = reloads + _wide_immediates(located, regs, scratch[-1])
        machine += own + stores
        owners += [(k, False)] * len(own) + [(k, True)] * len(stores)
    strings = tuple(fn.strings)
    code, labels, pcs = encode_machine_code(machine, fn.name, filename)
    instructions = [op for op in machine if isinstance(op, Op)]
    table = {pc: place_of(op.line, filename) for pc, op in zip(pcs, instructions) if op.line is not None}
    callers = {pc: op.line.callers for pc, op in zip(pcs, instructions)
               if isinstance(op.line, SourceLine) and op.line.callers}
    pc_owner = [(pc, k, past) for pc, (k, past) in zip(pcs, owners)]
    program = Program(code=code, name=fn.name, data_words=data_words, arg_count=fn.arg_count, strings=strings,
                      labels=labels, lines=table, callers=callers, routes=tuple(sorted(fn.routes.items())),
                      arguments=tuple(fn.arguments))
    program = dataclasses.replace(program, symbols=symbols(
        fn, alloc.registers, alloc.spills, spill_base, local_base, pc_owner, len(program.code)))
    needed = program.sram_bytes_needed
    if needed > spec.sram_bytes:
        parts = [f"code {program.code_bytes:,}"]
        parts += [f"local array {name} {4 * words:,}" for name, words, *_ in fn.local_arrays]
        if alloc.spills:
            parts.append(f"register spills {4 * len(alloc.spills):,}")
        if fn.scratch_words:
            parts.append(f"vector temporaries {4 * fn.scratch_words:,}")
        where = {}
        if fn.local_arrays:  # the largest local array's line: where a smaller one would help most
            largest = max(fn.local_arrays, key=lambda entry: entry[1])[0]
            place = place_of(fn.local_array_lines.get(largest), filename)
            if place is not None:
                where = {"file": place[0], "line": place[1]}
                parts.append(f"the largest, {largest}, declared at {place[0]}:{place[1]}")
        raise SramBudgetError(f"{fn.name} needs {needed:,} bytes of SRAM per PE but a PE has {spec.sram_bytes:,}: "
                           + ", ".join(parts), needed=needed, available=spec.sram_bytes, **where)
    return Compiled(program, ir_text, alloc, log, machine)


ADDRESSING = {"ld", "st", "gld", "gst"}


def _wide_immediates(op: Op, regs: dict, spare: int) -> list[Op]:
    """An instruction over physical registers; an SRAM address beyond the 14-bit immediate goes through a
    spare register."""
    if op.op not in ADDRESSING | {"addi"} or IMM_MIN <= op.imm <= IMM_MAX:
        return [_physical(op, regs)]
    base = regs.get(op.a, op.a) if isinstance(op.a, VReg) else op.a
    out = [Op("li", d=spare, imm=op.imm, line=op.line)]
    if op.op == "addi":
        return out + [_physical(dataclasses.replace(op, op="add", a=base, b=spare, imm=0), regs)]
    if base:
        out.append(Op("add", d=spare, a=spare, b=base, line=op.line))
    return out + [_physical(dataclasses.replace(op, a=spare, imm=0), regs)]


def _relocate(op: Op, bases: dict[str, int]) -> Op:
    """SRAM addresses are lowered relative to their segment; the layout is known only after allocation."""
    if op.reloc:
        return dataclasses.replace(op, imm=op.imm + bases[op.reloc], reloc=None)
    return op
