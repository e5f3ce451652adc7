"""`CompiledMixin`: the scheduler's route into the compiled interpreter (see `interpreter`).

A group the NumPy executors would run slowly -- a small one, where every NumPy call costs microseconds
of overhead for a handful of PEs, or a divergent one (mask or index form), where every call is a masked
or gathered operation over the region -- runs in the interpreter instead: each PE follows its own
program counter through compute, SRAM and branch instructions until the next instruction the NumPy
engine handles (fabric, global memory, barrier, print, halt, or an unsupported compute instruction),
where it joins the group of PEs at that pc. Large converged groups stay in NumPy.

Only PE-local state changes on this path, so no other PE can observe how far ahead a PE ran; results,
cycle counts and statistics are bit-identical to the NumPy path (tests/test_engine_strategies.py).
"""
from __future__ import annotations

import numpy as np

from ...isa.opcodes import MESSAGE_OPS, RAMP
from .. import parallel
from ..lanes import Lanes
from .table import ProgramTable

#: Groups up to this many PEs run compiled even when converged, if they have a long enough run of
#: instructions ahead (`ProgramTable.long_run`). Off (0): measured on saxpy's waves of 256 PEs and on
#: the 64-PE transpose, the interpreter's per-call cost (tens of microseconds from Python) did not pay
#: (bench/RESULTS.md, engine-compiled); the tests switch it on to keep the mode exercised.
SMALL_GROUP = 0
#: Groups of a few PEs (index form) run compiled in regions of up to this many PEs (off, as SMALL_GROUP).
SMALL_REGION = 0
#: Groups of at least this many PEs are split between the engine's threads (`sim.parallel.thread_count`).
PARALLEL_MIN = 16384
#: The interpreter runs segments (PEs at one pc) smaller than this PE by PE rather than together.
ALONE_BELOW = 8
#: The interpreter takes a large group this many PEs at a time, so that their registers stay in cache.
CHUNK_LANES = 1024


class CompiledMixin:
    """Compiled execution of small and divergent groups for `WaveSim` (switched by `Strategy.compiled`)."""

    #: False in subclasses that must see every instruction of every group (the debugger stops at lines).
    compiled_compute = True

    def _compiled_setup(self) -> None:
        launch = self.launch
        self.compiled_table = None
        self.lane_constants = None  # (rows, PEs) special registers and neighbour flags, on first use
        # Routed channels share links first come, first served in the order groups reach their sends:
        # PEs that ran ahead here could reach them in another order (a measured difference of cycles).
        routed = bool(launch.routes) or any(instr.op in ("route", "routr") or (
            instr.op in MESSAGE_OPS and instr.dir == RAMP) for instr in launch.decoded.values())
        if not (self.strategy.compiled and self.compiled_compute and self.whole_times) or routed:
            return  # (fractional times: sums of issue cycles taken in another order could round differently)
        if launch.compiled_table is None:
            launch.compiled_table = ProgramTable(launch.decoded, len(self.program.code), launch.costs)
        self.compiled_table = launch.compiled_table
        self.limit_margin = self.spec.global_latency + len(self.program.code) * max(launch.costs.values())

    def _wants_compiled(self, pc: int, lanes: Lanes) -> bool:
        table = self.compiled_table
        if table is None or not table.runs(pc):
            return False
        if lanes.mask is not None:  # divergent and large: every NumPy call a masked one over the region
            return True
        # A few PEs of a small region, or a small group: NumPy's calls are cheap per PE but cost
        # microseconds each, the interpreter's call some tens: worth it with a run of instructions ahead.
        # (A few PEs of a large region stay in NumPy: the edges of a stencil's block, say, which would
        # otherwise make every stencil launch load Numba, some 150 MiB, for little gain.)
        small = self.n <= SMALL_REGION if lanes.idx is not None else lanes.count <= SMALL_GROUP
        return small and bool(table.long_run[pc])

    def _run_compiled(self, pc: int, group) -> list[tuple]:
        """Run `group` (at `pc`) in the interpreter; (pc, lanes, blocked) continuations where its PEs stopped."""
        from .interpreter import run_group  # (imports Numba: only launches that come here pay for it)
        from ..wave import TIME32_LIMIT

        table, lanes = self.compiled_table, group.lanes
        if self.lane_constants is None:
            self.lane_constants = table.lane_constants(self.region)
        idx = lanes.indices().astype(np.int64, copy=False)
        # Region-sized (only the lanes' entries are touched; untouched pages are never mapped in).
        times, counts, stops = np.empty(self.n), np.empty(self.n, dtype=np.int64), np.empty(self.n, dtype=np.int64)
        times[idx] = self.cycle[idx] + np.float64(group.cost)
        counts[idx] = group.count
        time_limit = TIME32_LIMIT - self.limit_margin if self.time_dtype == np.float32 else np.inf
        pc_counts = self.totals.pc_counts
        fixed = (times, counts, stops, table.fields, table.costs, self.regs, self.fregs, self.sram, self.fsram,
                 self.lane_constants, self.launch.args, int(self.spec.vector_lanes), float(self.launch.max_cycles),
                 float(time_limit))
        threads = parallel.thread_count()
        stats = np.zeros(2, dtype=np.int64)
        if threads > 1 and len(idx) >= PARALLEL_MIN:  # parts of the group on several threads (GIL released)
            outputs = [(np.zeros_like(pc_counts), np.zeros(2, dtype=np.int64)) for _ in range(threads)]
            parallel.run(lambda part, pcs, part_stats: run_group(part, pc, *fixed, pcs, part_stats, ALONE_BELOW,
                                                                 CHUNK_LANES),
                         [[part, *output] for part, output in zip(np.array_split(idx, threads), outputs)])
            for part_pc_counts, part_stats in outputs:
                pc_counts += part_pc_counts
                stats += part_stats
        else:
            run_group(idx, pc, *fixed, pc_counts, stats, ALONE_BELOW, CHUNK_LANES)
        self.cycle[idx] = times[idx]
        self.icount[idx] += counts[idx].astype(self.icount.dtype)
        self.totals.vector_elements += int(stats[0])
        self.totals.flops += int(stats[1])
        stops = stops[idx]
        if (stops == stops[0]).all():
            places = [(int(stops[0]), lanes)]
        else:
            order = np.argsort(stops, kind="stable")  # (stable: each part's indices stay sorted)
            cuts = np.flatnonzero(np.diff(stops[order])) + 1
            places = [(int(stops[part[0]]), Lanes.from_indices(self.n, idx[part])) for part in np.split(order, cuts)]
        # PEs before an instruction the NumPy engine runs at its turn (fabric, global memory, ...) join
        # the scheduler's groups first; then, if the interpreter stopped before an instruction it runs
        # (one that would fail or pass a limit), or before a compute instruction it does not run, the
        # NumPy engine runs that one instruction now (raising what it raises, with every other PE in
        # its place), so that every visit makes progress.
        now = [(stop, stopped) for stop, stopped in places if self._stopped_before_compute(stop)]
        for stop, stopped in places:
            if not self._stopped_before_compute(stop):
                self._add_group(stop, stopped)
        continuations = []
        for stop, stopped in now:
            self.running = stopped  # (what a failed launch's state shows as running: these PEs, at `stop`)
            continuations += self._run_numpy(stop, stopped, one_step=True)
        return continuations

    def _stopped_before_compute(self, pc: int) -> bool:
        """Whether the instruction at `pc` only computes (the interpreter refused it, or does not run it)."""
        instr = self.ops.get(pc)
        return self.compiled_table.runs(pc) or (instr is not None and instr[3] is not None)
