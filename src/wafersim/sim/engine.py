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
import time
from typing import Callable, Sequence

import numpy as np

from ..arch.spec import WaferSpec
from ..arch.values import plural
from ..errors import CycleLimitError, LaunchError, OutOfMemoryError, WaferError
from ..isa.assembler import Program
from ..isa.encoding import code_bytes
from ..isa.float_math import VECTOR_MATH
from ..isa.opcodes import DIRECTIONS, NOWHERE, PORTS, RAMP, SPECIAL_REGISTERS, STREAM_OPS, opcode_cycles
from .batching import WaveBatcher
from .code_facts import code_facts
from .compiled import numba_cache
from .diagnostics import wave_fields, time_limit_text
from .debug_hooks import WaveSnapshot, failed_snapshot, snapshot
from .compute import FLOPS_PER_OP, FLOPS_PER_VECTOR_ELEMENT  # noqa: F401  (re-exported)
from . import parallel
from .hostmem import available_bytes, format_bytes, launch_bytes, reserve_heap, sparse_zeros, tune_allocator
from .layout import Placement, normalize_dims
from .memory import GlobalMemory
from .memory_order import GlobalOrder
from .racecheck import RaceChecker, race_error, real_races
from .racecheck_routes import changes_routes
from .route_order import RouteOrderCheck
from .stats import LaunchStats, PrintRecord
from .trace import TraceRecorder
from .wave import TIME32_LIMIT, WaveSim  # noqa: F401  (re-exported)

DEFAULT_MAX_CYCLES = 100_000_000
DEFAULT_MAX_SECONDS = None  # no wall-clock limit unless asked: results must not depend on the host's speed
DEFAULT_PRINT_LIMIT = 1000
#: A launch whose heap estimate is smaller reserves none ahead (`Launch.heap_to_reserve`).
RESERVE_MIN_BYTES = 64 << 20


class _Totals:
    """Counters summed over the waves of a launch."""

    def __init__(self, spec: WaferSpec, program: Program, shape: tuple[int, int] | None = None) -> None:
        shape = shape or (spec.height, spec.width)  # (a batch of waves keeps its own, `sim.batching`)
        self.busy = np.zeros(shape)
        self.stall = np.zeros(shape)
        self.instructions = np.zeros(shape, dtype=np.int64)
        self.link_shape = (4, *shape)  # (`link_words`' shape, without making it)
        self._link_words: np.ndarray | None = None
        self.routed_link_words: dict[int, np.ndarray] = {}  # channel -> (4, *shape), routed words only
        self.pc_counts = np.zeros(len(program.code) + 1, dtype=np.int64)
        self.vector_elements = 0
        self.flops = 0
        self.half_flops = 0  # the part of `flops` done on 16-bit floats (`LaunchStats.half_flops`)
        self.global_bytes = 0
        self.words_left = 0  # words pushed into FIFOs and never popped (`LaunchStats.words_left_in_fifos`)
        self.prints: list[tuple] = []  # (cycle, y, x, text, value)
        self.prints_dropped = 0

    @property
    def link_words(self) -> np.ndarray:
        """(4, *shape) int64: words moved over each PE's link per direction, summed (made zero on first use)."""
        if self._link_words is None:
            self._link_words = np.zeros(self.link_shape, dtype=np.int64)
        return self._link_words

    @property
    def moved_words(self) -> bool:
        """Whether `link_words` was used (a launch whose PEs move no word between them never makes it)."""
        return self._link_words is not None

    def final_link_words(self) -> np.ndarray:
        """`link_words` for the launch's statistics: where it was never made, zeros in memory mapped for them
        alone (`hostmem.sparse_zeros`), whose pages are never touched unless read: `np.zeros` from the heap
        clears all of them (24 MB at wafer scale; a first launch in a process page-faults them in)."""
        return self._link_words if self._link_words is not None else sparse_zeros(self.link_shape, np.int64)

    def keep_earliest_prints(self, limit: int) -> None:
        """Sort prints by (cycle, PE) and drop all but the first `limit`, counting what was dropped."""
        self.prints.sort(key=lambda record: record[:3])
        self.prints_dropped += max(len(self.prints) - limit, 0)
        del self.prints[limit:]


_SPEC_TIMING: dict[tuple, tuple[dict[str, float], bool, tuple]] = {}


def _spec_timing(spec: WaferSpec) -> tuple[dict[str, float], bool, tuple]:
    """`opcode_cycles(spec)` (launches only read it), whether every timing figure of the spec is a whole
    number of cycles (then float32 times can be exact), and `tuple(sorted(costs.items()))`, the key of the
    caches by code and costs (`Launch.cost_key`); kept per timing (the last 16): by the fields read here,
    not the whole spec, so that wafers of other sizes with the same timing share it (`ws.init`'s own launch on
    a 4 x 2 wafer makes it for every default-timed wafer: a host function's wafer just large enough)."""
    latencies = (spec.hop_latency, spec.ramp_latency, spec.global_latency, spec.barrier_base_cycles,
                 spec.barrier_cycles_per_hop)
    key = (tuple(sorted(spec.cost_cycles.items())), tuple(sorted(spec.op_cycles.items())), latencies,
           spec.link_words_per_cycle)
    if key not in _SPEC_TIMING:
        if len(_SPEC_TIMING) >= 16:
            _SPEC_TIMING.pop(next(iter(_SPEC_TIMING)))
        costs = opcode_cycles(spec)
        figures = [*costs.values(), *latencies, 1 / spec.link_words_per_cycle]
        _SPEC_TIMING[key] = costs, all(float(f).is_integer() for f in figures), tuple(sorted(costs.items()))
    return _SPEC_TIMING[key]


def heap_bytes(parts: dict[str, int]) -> int:
    """`Launch.heap_to_reserve` of `launch_bytes` parts: their heap's (per-PE state, temporaries, statistics),
    0 below `RESERVE_MIN_BYTES`, at most an eighth of the available memory."""
    heap = parts["PE state"] + parts["temporaries"] + parts["statistics"]
    if heap < RESERVE_MIN_BYTES:
        return 0
    available = available_bytes()
    heap = heap if available is None else min(heap, available // 8)
    return heap if heap >= RESERVE_MIN_BYTES else 0


def reserve_before_compile(spec: WaferSpec, grid, block) -> None:
    """Start mapping in the heap a launch of `grid` blocks of `block` PEs will take (`Launch.heap_to_reserve`,
    on the populating thread: `hostmem.reserve_heap`) before its kernel compiles, so that the populating thread
    maps its pages in while the launch's thread compiles. Its parts are the same for any program (times taken
    as 4 bytes, the fewer), for the PEs of the grid, at most the wafer's; the launch then adds what its own
    estimate needs beyond (`_run`). Shapes the launch will refuse reserve nothing here (its error comes from
    the launch). A process's first whole-wafer heat launch, compiling its kernel: ~8,000 page faults fewer on
    the launch's thread (the compile's 20-30 ms of CPU are the populating thread's head start). The PEs are
    the largest wave's, as the launch counts them (`Launch.host_memory`): the grid's PEs capped at the wafer's
    reserved 195 MiB on wse2 for four blocks of 379 x 499 PEs, one a wave, whose launch needs 79 MiB."""
    try:  # (a shape the launch refuses, a block larger than the wafer among them, is its LaunchError)
        pes = Placement(spec, normalize_dims(grid, "grid"), normalize_dims(block, "block")).wave(0).n
    except WaferError:
        return
    heap = heap_bytes(launch_bytes(pes, spec.n_pes, 0, 0, 0, 0, 4)) if pes > 0 else 0
    if heap and tune_allocator():
        reserve_heap(heap, background=True)


class Launch:
    """One kernel launch: a program, a grid of blocks, arguments, and the device memory it sees."""

    def __init__(self, program: Program, spec: WaferSpec, grid: tuple[int, int], block: tuple[int, int],
                 args: Sequence[int], memory: GlobalMemory, max_cycles: float | None = None,
                 print_limit: int = DEFAULT_PRINT_LIMIT,
                 progress: Callable[[int, int, int], None] | None = None, trace: bool = False,
                 max_seconds: float | None = DEFAULT_MAX_SECONDS,
                 routes: dict[int, np.ndarray] | None = None, racecheck: bool | str = False,
                 keep_state: bool | str = False, wave_class: type[WaveSim] = WaveSim) -> None:
        self.program, self.spec = program, spec
        # keep_state: True keeps the last wave's PE state (registers, SRAM, pcs), 'all' every wave's
        self.keep_state, self.wave_class = keep_state, wave_class
        self.kept_states: list[WaveSnapshot] = []
        # channel -> (5, block height, block width) uint8: per input port, the mask of output ports
        self.routes = dict(routes or {})
        self.placement = Placement(spec, grid, block)
        self.args = np.asarray([int(a) & 0xFFFFFFFF for a in args], dtype=np.uint32).view(np.int32)
        self.memory = memory
        self.max_cycles = DEFAULT_MAX_CYCLES if max_cycles is None else max_cycles
        self.max_seconds = max_seconds
        self.deadline: float | None = None  # time.monotonic() past which the launch stops (from max_seconds)
        self.waves_done = 0  # waves run to the end so far (a time-limit error counts them)
        self.print_limit = print_limit
        self.progress = progress  # called as progress(waves done, waves, barriers released so far)
        self.barriers = 0
        self.tracer = TraceRecorder(grid, block, grid[0] * grid[1] * block[0] * block[1]) if trace else None
        # (`cost_key`: the costs as the key of the caches by code and timing, sorted once per timing)
        self.costs, self.whole_cycles, self.cost_key = _spec_timing(spec)
        self.facts = code_facts(code_bytes(program.code))
        self.decoded, self.n_registers = self.facts.decoded, self.facts.registers
        self.compiled_table = None  # the program as arrays for sim.compiled, built by the first wave using it
        self._check_fits()
        # Global accesses in simulated-time order (sim/memory_order.py); the race checker when asked for.
        self.memory_order = GlobalOrder(self.facts, self.costs, len(program.code), spec.global_latency, self.cost_key,
                                        self.placement.waves * self.placement.wave(0).n)
        self.racecheck = RaceChecker(self) if racecheck else None
        # A program that changes routes: its waves watch the changes against the routed words (`racecheck_routes`);
        # without racecheck, one run out of cycle order stops the launch (`route_order`).
        self.watches_routes = self.facts.memo("changes_routes", lambda: changes_routes(self.decoded))
        self.route_order = RouteOrderCheck(self) if self.watches_routes and self.racecheck is None else None
        self.raise_on_race = not isinstance(racecheck, str)  # 'report': only list them on LaunchStats

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
            raise LaunchError(f"{program.name} takes {plural(program.arg_count, 'argument')}, the launch gave "
                              f"{len(self.args)} "
                              f"(a program is launched with argument words: one compiled by @ws.jit takes each array "
                              f"as the array followed by its dimensions)", expected=program.arg_count, given=len(self.args))
        for pc in self.facts.bad_fields:
            instr = self.decoded[pc]
            ports = 4 if instr.op == "hasnb" else len(PORTS)  # (a 3-bit field: 5..7 name no port)
            if "dir" in instr.opcode.operands and instr.dir >= ports:
                raise LaunchError(f"{program.name}: pc {pc} ({instr.op}) names direction {instr.dir}; there are "
                                  f"{ports} ({', '.join(PORTS[:ports])})", pc=pc)
            if "odir" in instr.opcode.operands and instr.d not in (*range(len(DIRECTIONS)), NOWHERE):
                raise LaunchError(f"{program.name}: pc {pc} ({instr.op}) names output port {instr.d}; there are "
                                  f"{', '.join(f'{name} = {i}' for i, name in enumerate(DIRECTIONS))} and none = "
                                  f"{NOWHERE} (a stream op sends to a neighbour or nowhere)", pc=pc)
            if instr.op == "sreg" and not 0 <= instr.imm < len(SPECIAL_REGISTERS):
                raise LaunchError(f"{program.name}: pc {pc} reads special register number {instr.imm}; there are "
                                  f"{len(SPECIAL_REGISTERS)} ({', '.join(SPECIAL_REGISTERS)})", pc=pc)
            if instr.op == "vmath" and instr.b >= len(VECTOR_MATH):
                raise LaunchError(f"{program.name}: pc {pc} (vmath) names function number {instr.b}; there are "
                                  f"{len(VECTOR_MATH)} (0 = {VECTOR_MATH[0]} ... {len(VECTOR_MATH) - 1} = "
                                  f"{VECTOR_MATH[-1]}: docs/isa.md)", pc=pc)
        grid_barriers = self.facts.memo("grid_barriers", lambda: [pc for pc, instr in self.decoded.items()
                                                                  if instr.op == "gbar"])
        if grid_barriers and self.placement.waves > 1:  # (CUDA's cooperative launch: every block resident)
            pc = grid_barriers[0]
            raise LaunchError(
                f"{program.name} has a grid barrier (ws.cg.this_grid().sync()) at {program.describe_pc(pc)}, so every "
                f"block of its grid must be on the wafer at once, but grid {self.placement.grid} of "
                f"{self.placement.block} blocks runs in {self.placement.waves} waves here (at most "
                f"{self.placement.slots} blocks at once{self.placement.defects_note()}): launch fewer or smaller "
                f"blocks, or split the kernel at the barrier into two launches", pc=pc, source=program.source_of(pc),
                waves=self.placement.waves)
        channels = self.facts.channels | set(self.routes)
        if channels and max(channels) >= spec.channels:
            raise LaunchError(f"{program.name} uses channel {max(channels)} but the machine has {spec.channels} "
                              f"channels per link direction", channel=max(channels))

    def host_memory(self) -> dict[str, int]:
        """Host memory this launch needs, by part (the largest wave is simulated at once)."""
        parts = launch_bytes(self.placement.wave(0).n, self.spec.n_pes, self.n_registers, self.program.data_words,
                             len(self.facts.memo("fifos", self._fifos)), self.spec.fifo_depth,
                             4 if self.whole_cycles else 8)
        if self.keep_state == "all":  # every earlier wave's registers, SRAM, pcs and cycles stay alive
            per_pe = 4 * (self.n_registers + self.program.data_words) + 8 + (4 if self.whole_cycles else 8)
            parts["kept state"] = (self.placement.waves - 1) * self.placement.wave(0).n * per_pe
        return parts

    def _fifos(self) -> set[tuple[int, int]]:
        """(direction, channel) of every FIFO the code pushes into or pops from (the same for every launch of it)."""
        fifos = set()
        for instr in self.decoded.values():
            if instr.op in ("recv", "recvv", "recva") or instr.op in STREAM_OPS:
                fifos.add((instr.dir, instr.ch))
                if instr.op in STREAM_OPS and instr.d != NOWHERE:
                    fifos.add(((instr.d + 2) % 4, instr.ch))
            elif instr.op in ("send", "sendv", "senda"):
                fifos.add((instr.dir if instr.dir == RAMP else (instr.dir + 2) % 4, instr.ch))
        return fifos

    def heap_to_reserve(self, parts: dict[str, int]) -> int:
        """Bytes of heap to map in before the launch (`hostmem.reserve_heap`, which adds only what no launch or
        `wafersim.init` of this process reserved before): the parts of `host_memory` that come from the heap
        (per-PE state, temporaries, statistics; registers, SRAM and FIFOs of a large wave are mapped apart),
        when at least `RESERVE_MIN_BYTES`, at most an eighth of the available memory. Mapped in at once, a page
        costs ~40% less CPU than faulted in by its first write (`hostmem.populate_now`): a process's first
        whole-wafer launch maps ~200 MiB so. `parts`: `host_memory()`'s."""
        return heap_bytes(parts)

    def check_host_memory(self) -> dict[str, int]:
        """Refuse, with the numbers, a launch whose state would not fit in host memory; else the memory it needs,
        by part (`host_memory`)."""
        parts = self.host_memory()
        needed, available = sum(parts.values()), available_bytes()
        if available is not None and needed > available:
            detail = ", ".join(f"{name} {format_bytes(size)}" for name, size in parts.items() if size)
            raise OutOfMemoryError(
                f"{self.program.name} on {self.placement.wave(0).n:,} PEs needs about {format_bytes(needed)} of "
                f"host memory ({detail}) but {format_bytes(available)} is available; launch fewer or smaller "
                f"blocks at once, or use a machine with more memory", needed=needed, available=available, parts=parts)
        return parts

    def run(self) -> LaunchStats:
        """Simulate the launch, wave by wave; its statistics."""
        with numba_cache.damage_reported():  # (a damaged cache file of Numba's, met by any compiled function)
            try:
                return self._run()
            finally:  # (a failed launch too: an error keeps its launch, which need not keep the stamps)
                self.memory_order.stamps.release()

    def _run(self) -> LaunchStats:
        parts = self.check_host_memory()
        parallel.thread_count()  # (reads WAFERSIM_THREADS once: a bad value is reported here, before PEs run)
        if self.max_seconds is not None:
            self.deadline = time.monotonic() + self.max_seconds
        tune_allocator()
        reserve_heap(self.heap_to_reserve(parts), background=True)  # (mapped in by a thread while the launch starts)
        totals = _Totals(self.spec, self.program)
        slot_free = np.zeros(self.placement.slots)  # when each slot's current block finishes
        first = 0
        restore = getattr(self.wave_class, "restore_totals", None)  # a launch resumed from a checkpoint:
        if restore is not None:  # runtime.resume restores the counters, gives the wave and the slots' times
            first, slot_free = restore(totals)
        self.slot_free = slot_free  # (updated in place: a checkpoint reads it)
        batcher = WaveBatcher.for_launch(self, totals)  # several full waves at once where that is exact
        w = first
        while w < self.placement.waves:
            self.waves_done = w
            if w > first and self.deadline is not None and time.monotonic() > self.deadline:
                # (between waves: every PE so far halted, so the message counts waves, not looping PEs)
                raise CycleLimitError(time_limit_text(self, float(slot_free.max()), in_wave=False),
                                      max_seconds=self.max_seconds, running=[], **wave_fields(self))
            done = batcher.run(w, slot_free) if batcher is not None else 0
            if done:
                for k in range(w, w + done):
                    if self.progress:
                        self.progress(k + 1, self.placement.waves, self.barriers)
                w += done
                continue
            region = self.placement.wave(w)
            began = slot_free.copy()
            start = slot_free[np.minimum(region.slot, region.count - 1)]
            sim = self.wave_class(self, region, start, totals)
            try:
                finish = sim.run()
                if self.route_order is not None:  # (a route change run out of cycle order: a RouteError)
                    self.route_order.wave_done(sim)
            except WaferError as error:  # the failing wave's state goes with the error (runtime.state)
                error.wave_states = [failed_snapshot(sim, error)]
                if self.racecheck is not None:  # a route change misordered may be why it failed: say so
                    self.racecheck.wave_done(sim)
                    self.racecheck.launch_failed(error, self.raise_on_race)
                elif self.route_order is not None:
                    self.route_order.wave_done(sim, error)
                raise
            if self.racecheck is not None:
                self.racecheck.wave_done(sim)
            if self.keep_state == "all" or (self.keep_state and w == self.placement.waves - 1):
                self.kept_states.append(snapshot(sim))
            sim.release_state()
            ends = region.per_block_max(finish)
            slot_free[: region.count] = ends[: region.count]
            if batcher is not None:
                batcher.observe(w, began, slot_free)
            if self.progress:
                self.progress(w + 1, self.placement.waves, self.barriers)
            w += 1
        self.memory_order.log.commit(self.memory, np.inf, self.memory_order.stamps)  # every PE has halted: all land
        op_counts: dict[str, int] = {}
        counted = totals.pc_counts
        for pc in np.flatnonzero(counted).tolist():  # (in pc order, as `decoded`: the pcs that ran only)
            instr = self.decoded.get(pc)
            if instr is not None:
                op_counts[instr.op] = op_counts.get(instr.op, 0) + int(counted[pc])
        totals.keep_earliest_prints(self.print_limit)
        prints = [PrintRecord(c, x, y, t, v) for c, y, x, t, v in totals.prints]
        stats = LaunchStats(
            program=self.program.name, spec=self.spec, grid=self.placement.grid, block=self.placement.block,
            cycles=int(math.ceil(slot_free.max())), instructions=int(totals.pc_counts.sum()),
            busy=totals.busy, stall=totals.stall, pe_instructions=totals.instructions,
            link_words=totals.final_link_words(), routed_link_words=totals.routed_link_words, global_bytes=int(totals.global_bytes), waves=self.placement.waves,
            op_counts=op_counts, vector_elements=int(totals.vector_elements),
            flops=int(totals.flops) + sum(FLOPS_PER_OP.get(op, 0) * c for op, c in op_counts.items()),
            half_flops=int(totals.half_flops),
            prints=prints, prints_dropped=totals.prints_dropped, words_left_in_fifos=int(totals.words_left),
            trace=self.tracer.trace if self.tracer else None)
        if self.racecheck is not None:
            stats.races, stats.races_dropped = self.racecheck.hazards()
            if self.raise_on_race and real_races(stats.races):  # (benign same-value writes do not raise)
                raise race_error(stats)
        return stats

