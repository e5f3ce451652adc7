"""What a debugger sees of the engine: snapshots of a wave's state, and a `WaveSim` that can stop.

`snapshot` records where every PE of a wave is (its pc, or halted) next to the wave's registers, SRAM
and FIFOs. The arrays are the wave's own, not copies: a launch that keeps its state keeps one wave's
memory alive (or every wave's, when asked), nothing more.

`DebugWaveSim` is used only when a debugger is attached (`Launch(wave_class=...)`); plain launches run
`WaveSim` untouched. It stops *inside* a group's run, before the first instruction of a source line,
by wrapping that instruction's executor, so that the scheduler runs groups in exactly the order it
would without a debugger: a launch gives the same results and cycle counts with or without stops.
"""
from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Protocol

import numpy as np

from ..isa.assembler import Program
from ..isa.opcodes import STREAM_OPS
from .lanes import Lanes
from .layout import WaveRegion
from .wave import WaveSim

if TYPE_CHECKING:
    from .fabric import Fifo

HALTED = -1  # a PE that has halted (or not started: PEs of blocks outside the launch never run)
UNKNOWN = -2  # a PE of the group that failed, when the error does not say at which pc
_FABRIC_OPS = frozenset({"send", "sendv", "recv", "recvv", "recva", "senda"}) | STREAM_OPS  # (the ones a PE retries when blocked)


@dataclasses.dataclass
class WaveSnapshot:
    """The state of one wave's PEs: pcs (`HALTED`, `UNKNOWN` or a pc), registers, SRAM, cycles, FIFOs."""

    wave: int
    region: WaveRegion
    pcs: np.ndarray  # (PEs,) int64
    regs: np.ndarray  # (registers, PEs) int32
    sram: np.ndarray  # (data words, PEs) int32
    cycle: np.ndarray  # (PEs,) each PE's cycle counter (a stopped group may owe its last few issue cycles)
    fifos: dict[tuple[int, int], "Fifo"]  # (direction, channel) -> FIFO, as the wave left them

    @property
    def nbytes(self) -> int:
        """Host memory the snapshot keeps alive."""
        return int(self.pcs.nbytes + self.regs.nbytes + self.sram.nbytes + self.cycle.nbytes)


def wave_of(region: WaveRegion) -> int:
    """Which wave of its launch a region is."""
    return region.first_block // region.placement.slots


def snapshot(sim: WaveSim, stopped: tuple[int | None, Lanes] | None = None) -> WaveSnapshot:
    """Where every PE of `sim` is now. `stopped`: (pc, lanes) of the group being run, which the scheduler
    holds outside its tables (pc None: not known)."""
    pcs = np.full(sim.n, HALTED, dtype=np.int64)
    for pc, lanes in sim._places():
        lanes.put(pcs, pc)
    if stopped is not None and stopped[1] is not None:
        pc, lanes = stopped
        lanes.put(pcs, UNKNOWN if pc is None else pc)
    pcs[~sim.region.active] = HALTED
    return WaveSnapshot(wave_of(sim.region), sim.region, pcs, sim.regs, sim.sram, sim.cycle, dict(sim.fifos))


def failed_snapshot(sim: WaveSim, error: BaseException) -> WaveSnapshot:
    """The state of a wave that raised `error`: the group being run is at the error's pc."""
    running = getattr(sim, "running", None)
    return snapshot(sim, None if running is None else (getattr(error, "pc", None), running))


def line_starts(program: Program) -> dict[int, int]:
    """pc -> source line of the instructions a debugger stops before: in each basic block, the first
    instruction of each source line. The optimiser interleaves lines: a line met again later in the same
    block is not a new stop, and neither is code it moved ahead of an earlier line (loop-invariant code
    hoisted in front of its loop: later in its block comes an earlier line, and never its own again, and a
    loop starting after it spans its line, from the loop's first line with code to its last: the hoisted
    code may be all the loop had of that line; the end of a loop body, followed by its `for` line's step
    and test, is not that)."""
    instrs = program.instructions()
    targets = {i.target for _, i in instrs if i.op in ("bz", "bnz", "jmp")}
    # lines with code in each loop (a backward branch's [target, branch]), by the loop's first pc
    loops = [(i.target, pc) for pc, i in instrs if i.op in ("bz", "bnz", "jmp") and i.target <= pc]
    loop_lines = []
    for top, end in loops:
        lines = [line for q, _ in instrs if top <= q <= end if (line := program.kernel_line(q)) is not None]
        if lines:
            loop_lines.append((top, min(lines), max(lines)))
    blocks: list[list[tuple[int, int | None]]] = [[]]
    for pc, instr in instrs:
        if pc in targets and blocks[-1]:
            blocks.append([])
        blocks[-1].append((pc, program.kernel_line(pc)))
        if instr.op in ("bz", "bnz", "jmp", "halt"):
            blocks.append([])
    starts: dict[int, int] = {}
    for block in blocks:
        seen: set[int] = set()
        for k, (pc, line) in enumerate(block):
            if line is None or line in seen:
                continue
            seen.add(line)
            later = [other for _, other in block[k + 1:] if other is not None]
            # (the line's own further instructions may come first: never its own again after the earlier one)
            earlier = next((j for j, other in enumerate(later) if other < line), None)
            if earlier is not None and line not in later[earlier:] \
                    and any(pc < top and low <= line <= high for top, low, high in loop_lines):
                continue  # moved ahead of its loop
            starts[pc] = line
    return starts


class Controller(Protocol):
    """What `DebugWaveSim` asks of a debugger (`runtime.debug` implements it)."""

    def wants(self, sim: "DebugWaveSim", pc: int, lanes: Lanes) -> bool:
        """Whether these PEs, about to run the first instruction of a line at `pc`, should stop."""

    def pause(self, sim: "DebugWaveSim", pc: int | None, lanes: Lanes | None, reason: str) -> None:
        """Stop (block until told to go on). `lanes` at `pc` are the group being run (None after a barrier)."""

    def wants_barriers(self) -> bool:
        """Whether to stop after every barrier release."""


class DebugWaveSim(WaveSim):
    """A `WaveSim` that asks its controller (a class attribute, see `bind`) whether to stop before each
    line's first instruction and after each barrier release."""

    controller: Controller
    compiled_compute = False  # every group runs through `_compile`'s executors, which stop at lines
    fold_owed_issue = False  # a stop shows every PE's clock up to date
    batches_vectors = False  # and SRAM as every instruction before the stop left it

    def __init__(self, launch, region, start, totals) -> None:
        self.starts = line_starts(launch.program)
        self.entries = {}  # line -> its first stop (where a loop whose body is that line comes back to)
        for pc, line in sorted(self.starts.items(), reverse=True):
            self.entries[line] = pc
        super().__init__(launch, region, start, totals)
        # pc a PE last blocked at (a send or recv it retries is the same arrival: it stops once)
        self.blocked_at = np.full(self.n, HALTED, dtype=np.int64)
        self.line_now = np.full(self.n, HALTED, dtype=np.int64)  # the line each PE last started
        self.wave = wave_of(region)

    @classmethod
    def bind(cls, controller: Controller) -> type["DebugWaveSim"]:
        """A subclass whose waves report to `controller`."""
        return type("BoundDebugWaveSim", (cls,), {"controller": controller})

    def _compile(self):
        ops = super()._compile()
        for pc in self.starts:
            if pc in ops and ops[pc][3] is not None:
                instr, next_pc, cost, plain = ops[pc]
                ops[pc] = (instr, next_pc, cost, self._stopping(pc, plain))
        return ops

    def _arrive(self, pc: int, lanes: Lanes, group: Lanes | None = None) -> None:
        """PEs start a line at `pc`: stop them if they come to it (not from another part of the same line,
        which the optimiser or a branch inside the line split off) and the controller wants them.
        `group`: every PE at `pc` (when `lanes` leaves out some retrying a send or receive)."""
        line = self.starts[pc]
        fresh = lanes if self.entries[line] == pc else lanes.split(lanes.get(self.line_now) != line)[0]
        lanes.put(self.line_now, line)
        if fresh.count and self.controller.wants(self, pc, fresh):
            self.controller.pause(self, pc, lanes if group is None else group, "line")

    def _stopping(self, pc: int, plain):
        def run(lanes: Lanes) -> None:
            self._arrive(pc, lanes)
            plain(lanes)
        return run

    def _watched_route(self, pc, instr, lanes, owed):  # (racecheck's route watch keeps it out of `_compile`'s)
        if pc in self.starts:
            self._arrive(pc, lanes)
        super()._watched_route(pc, instr, lanes, owed)

    def _branch_split(self, pc, instr, lanes, previous):
        if pc in self.starts:
            self._arrive(pc, lanes)
        return super()._branch_split(pc, instr, lanes, previous)

    def _control(self, pc, ins, next_pc, cost, lanes):
        if pc in self.starts:
            again = (lanes.get(self.at_barrier) if ins.op == "bar" else lanes.get(self.at_grid_barrier)
                     if ins.op == "gbar" else lanes.get(self.blocked_at) == pc)
            fresh = lanes.split(~np.asarray(again, dtype=bool))[0]
            if fresh.count:
                self._arrive(pc, fresh, lanes)
        released = self.launch.barriers
        result = super()._control(pc, ins, next_pc, cost, lanes)
        if ins.op in _FABRIC_OPS:
            for next_place, moved, blocked, *_ in result:
                moved.put(self.blocked_at, next_place if blocked else HALTED)
        if self.launch.barriers > released and self.controller.wants_barriers():
            self.controller.pause(self, None, None, "barrier")
        return result
