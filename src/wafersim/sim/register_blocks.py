"""Straight runs of integer register instructions (and float32 `fadd`, `fsub`, `fmul`) and queued rank-1 updates
of a group in one compiled call (`Strategy.register_blocks`).

The library GEMM's inner loop computes the operand addresses of each row of rank-1 updates with some thirty
register instructions (`li`, `add`, `addi`) around its eight `vger`s; its large groups ran each as a NumPy
call of a few microseconds, and each `vger` as a compiled read of its operands into the rank-1 queue
(`sim.rank1_queue`), each plus a trip through the scheduler's loop (`WaveSim._run_lanes`): some 7,500 a launch
on 64 x 64 PEs. A run of consecutive instructions of `BLOCK_OPS` (register-only: they read and write registers
alone, never fail, block or cost more than their issue), with the float32 `vger`s between them where the run's
group queues its rank-1 updates, runs instead as one pass (`register_block_kernels`): each instruction over
every lane before the next, as the NumPy path runs them, with the same integer results; each `vger` queued as
`DescriptorMixin._rank1_update_queued` queues it, its elements, FLOPs and cycles charged after the pass in
order (nothing else reads them in between), and the pass stops before a `vger` that does not join the queue
(the loop then runs it as it comes). Scalar loads and stores (`ld`, `st`) join the run, and over lanes by index
float32 `vadd`/`vsub`/`vmul`/`vscale` and `vcopy` (their element cycles, elements and FLOPs charged after the
pass: nothing in a run reads clocks): a routed stencil's receivers wake in small sets as their words come, each
running the compiler's spills and the halo arithmetic alone, one NumPy call an instruction (stencil25r, stop 42:
7 -> 3.6 s CPU warm). An access outside SRAM or a negative length ends the pass before it, as a failing `chk`
does, and so does the first access where vector work or rank-1 updates are queued (the loop runs those first:
their words may be the ones read or written). The scheduler's books are kept as the instruction-by-instruction loop
keeps them: every instruction's count added to its pc, its issue cost to what the lanes owe (in the same
order: exact), and the run stops before a pc where another group waits (the loop merges there) or where a
global load waits for the scheduler (`held_loads`). Register instructions and queued updates leave queued
vector work queued (`vector_batch.BATCH_PASSES`; before a `vger` it runs first, as the loop runs it), so
nothing else changes: results, cycles and statistics are bit-identical (tests/test_engine_strategies.py runs
every kernel with and without).

Only where Numba is loaded already (a launch with compiled work): a NumPy-only launch would otherwise pay
its import, more than a short launch takes.
"""
from __future__ import annotations


import numpy as np

from ..isa.opcodes import FLAG_FLOAT
from .compiled import numba_loaded
from .compiled.kinds import (BLOCK_CHK, BLOCK_LOAD, BLOCK_STORE, BLOCK_VADD, BLOCK_VCOPY, BLOCK_VGER, BLOCK_VMUL,
                             BLOCK_VSCALE, BLOCK_VSUB, FLOPS, STATS, VECTOR_ELEMENTS)
from .compiled.table import KINDS
from .lanes import Lanes
from .rank1_queue import Rank1Queue
from .vector_batch import REGISTER_ONLY

#: The instructions a block may hold: integer register-only ones and the float32 `fadd`, `fsub`, `fmul`
#: (`register_block_kernels._dense_op`'s and `_dense_float_op`'s kinds; of two NaN operands the first, quieted, as
#: the compiled interpreter gives it: docs/engine-strategies.md's one exception).
FLOAT_BLOCK_OPS = frozenset({"fadd", "fsub", "fmul"})
INT_BLOCK_OPS = frozenset({"add", "sub", "mul", "and", "or", "xor", "min", "max", "slt", "sle", "seq", "sne", "addi",
                           "muli", "andi", "ori", "xori", "slti", "seqi", "li", "mov", "nop"})
BLOCK_OPS = (INT_BLOCK_OPS | FLOAT_BLOCK_OPS) & REGISTER_ONLY
#: A float32 `vger` (`compiled.kinds.BLOCK_VGER`) holds its c register in the IMM column, a bounds check `chk` its
#: index register a and bound register b, a scalar load `ld` or store `st` its register d and address register a
#: plus imm: a check, load or store that fails in some lane ends the pass before it, and the scheduler's loop runs
#: it as it comes (raising as it does).
#: Scalar SRAM accesses: in a run only where no vector work or rank-1 update is queued before them (the loop
#: runs those first, as their words may be the ones read or written: `RegisterBlocks.execute`).
_MEMORY = {"ld": BLOCK_LOAD, "st": BLOCK_STORE}
#: Vector ops a run over lanes by index may hold (`register_block_kernels._vector_op`): float32 arithmetic (no
#: scalar operand b, no bfloat) and copies of any words; their element cycles and statistics charged after the pass.
_VECTOR = {"vadd": BLOCK_VADD, "vsub": BLOCK_VSUB, "vmul": BLOCK_VMUL, "vscale": BLOCK_VSCALE, "vcopy": BLOCK_VCOPY}
_VECTOR_FLAGS = {op: (FLAG_FLOAT,) for op in ("vadd", "vsub", "vmul", "vscale")} | {"vcopy": (0, FLAG_FLOAT)}
#: The fewest instructions a block runs (one alone: the NumPy call it would have cost).
SHORTEST = 2
_INT32 = range(-2**31, 2**31)


class RegisterRun:
    """The longest run of `BLOCK_OPS` instructions (and float32 `vger`s: `updates`) from one pc, straight on:
    their pcs, instructions and issue costs, `fields` as `register_block_kernels` reads them (kind, d, a, b,
    imm per instruction), `after`, the pc past the last, and `vgers`, how many it holds."""

    __slots__ = ("pcs", "pc_array", "instrs", "costs", "fields", "after", "first", "vgers", "first_access",
                 "first_vector")

    def __init__(self, ops: dict, pc: int, updates: bool) -> None:
        self.first = pc
        pcs, instrs, costs, rows = [], [], [], []
        while pc in ops:
            instr, next_pc, cost, plain = ops[pc]
            if updates and instr.op == "vger" and instr.flags & FLAG_FLOAT:
                row = (BLOCK_VGER, instr.d, instr.a, instr.b, instr.c)
            elif instr.op == "chk" and plain is not None:
                row = (BLOCK_CHK, 0, instr.a, instr.b, 0)
            elif instr.op in _MEMORY and plain is not None:
                row = (_MEMORY[instr.op], instr.d, instr.a, 0, instr.imm)
            elif instr.op in _VECTOR and plain is not None and instr.flags in _VECTOR_FLAGS[instr.op]:
                row = (_VECTOR[instr.op], instr.d, instr.a, instr.b, instr.c)
            elif instr.op in BLOCK_OPS and plain is not None and instr.imm in _INT32:
                kind = KINDS["nop"] if instr.d == 0 and instr.op != "nop" else KINDS[instr.op]  # (r0 stays zero)
                row = (kind, instr.d, instr.a, instr.b, instr.imm)
            else:
                break
            pcs.append(pc)
            instrs.append(instr)
            costs.append(cost)
            rows.append(row)
            pc = next_pc
        self.pcs, self.instrs, self.costs, self.after = pcs, instrs, costs, pc
        self.pc_array = np.array(pcs, dtype=np.int64)
        self.fields = np.array(rows, dtype=np.int64).reshape(len(rows), 5)
        self.vgers = sum(row[0] == BLOCK_VGER for row in rows)
        #: the position of the first load, store or vector op (len(pcs) where none), and of the first vector op
        self.first_access = next((i for i, row in enumerate(rows)
                                  if row[0] in (BLOCK_LOAD, BLOCK_STORE) or row[0] <= BLOCK_VADD), len(rows))
        self.first_vector = next((i for i, row in enumerate(rows) if row[0] <= BLOCK_VADD), len(rows))


class RegisterBlocks:
    """A wave's register runs, found on first use at each pc (`at`)."""

    def __init__(self, ops: dict, n: int, data_words: int,
                 found: dict[tuple[int, bool], RegisterRun | None] | None = None) -> None:
        self.ops, self.n, self.data_words = ops, n, data_words
        # (`found`: runs kept from earlier waves of the same code, costs and plain set, whose `ops` made the same
        # runs: a run is only read, and rebuilding a scan's 23 was 5% of its 2 ms warm launch)
        self.found: dict[tuple[int, bool], RegisterRun | None] = {} if found is None else found
        self.kernels = None  # (`register_block_kernels`, imported on first use: Numba is loaded by then)

    @staticmethod
    def applies() -> bool:
        """Whether this process has loaded the engine's Numba module already (see the module docstring)."""
        return numba_loaded()

    def at(self, pc: int, updates: bool) -> RegisterRun | None:
        """The run from `pc` (with float32 `vger`s where `updates`: the group queues its rank-1 updates), or None
        where fewer than `SHORTEST` instructions run straight on from there."""
        try:
            return self.found[pc, updates]
        except KeyError:
            run = RegisterRun(self.ops, pc, updates)
            found = self.found[pc, updates] = run if len(run.pcs) >= SHORTEST else None
            return found

    def execute(self, wave, run: RegisterRun, lanes: Lanes, batch, queue: Rank1Queue | None) -> int:
        """Run `run`'s instructions for `lanes` (of `wave`, a `WaveSim`: its registers, groups and books) up to the
        first pc after its first where another group waits or a load is held (`WaveSim.held_loads`), its `vger`s
        into `queue` (this run's: None where `run` has none), after `batch` (the run's vector batch, or None) where
        there are some; count them, and charge the `vger`s. Returns how many ran (0: none, where fewer than
        `SHORTEST` would: the caller's loop runs them)."""
        count = len(run.pcs)
        first, after = run.first, run.after
        pending = wave.rank1_queue
        if batch is not None or run.vgers or (pending is not None and (pending.count or pending.cycles)):
            count = run.first_access  # (the loop runs queued work before a load or store: it may be their word)
        for pcs in (wave.groups, wave.held_loads):  # (a handful of pcs: theirs, not the run's)
            for pc in pcs:
                if first < pc < after:
                    count = min(count, run.pcs.index(pc))
        dense = lanes.idx is None and lanes.mask is None  # full or complement: the window's rows, a few put back
        if dense or not wave.launch.whole_cycles:  # (vector ops: only over lanes by index, with whole-cycle times:
            count = min(count, run.first_vector)  # their element cycles, added after the pass, sum exactly)
        if count < SHORTEST:
            return 0
        if self.kernels is None:
            from . import register_block_kernels
            self.kernels = register_block_kernels
        if queue is not None and run.vgers:
            if batch is not None:
                batch.flush()  # (as the loop runs it before a `vger`, whose pass reads SRAM)
            rows, queued, (m, n), pes = queue.reserve(run.vgers), queue.count, queue.shape, queue.indices()
        else:
            rows, queued, m, n = _NO_ROWS, 0, 0, 0
            pes = _NONE if dense else lanes.to_index_form(self.n).idx.astype(np.int64, copy=False)
        lo = 0 if lanes.window is None else lanes.window.start
        outside = _NONE if not dense or lanes.excl is None else lanes.excl.astype(np.int64, copy=False) + lo
        vectors = not dense and run.first_vector < count
        element_cycles = np.zeros(len(pes) if vectors else 0)
        vector_stats = np.zeros(STATS, dtype=np.int64)
        ran, queued, m, n = self.kernels.run_block(run.fields, count, dense, lo, lo + lanes.n, outside, pes, wave.regs,
                                                   wave.fregs, wave.sram, wave.fsram, rows, queued, m, n,
                                                   self.data_words, int(wave.spec.vector_lanes), element_cycles,
                                                   vector_stats)
        wave.totals.pc_counts[run.pc_array[:ran]] += lanes.count
        if vector_stats[VECTOR_ELEMENTS]:  # (each lane's element cycles, in `pes` order)
            wave._add_element_cycles(lanes if lanes.idx is not None else Lanes(self.n, idx=pes), element_cycles)
            wave.totals.vector_elements += int(vector_stats[VECTOR_ELEMENTS])
            wave.totals.flops += int(vector_stats[FLOPS])
        if queued:
            wave._queued_updates(lanes, queue, queued, m, n)
        return ran


_NONE = np.empty(0, dtype=np.int64)
_NO_ROWS = np.empty((1, 3, 0), dtype=np.int64)
