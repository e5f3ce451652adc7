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

import concurrent.futures
import functools

import numpy as np

from ..lanes import Lanes
from .table import ProgramTable

#: Groups up to this many PEs run compiled even when converged (NumPy's per-call overhead dominates).
SMALL_GROUP = 4096
#: Groups of at least this many PEs are split between the strategy's threads.
PARALLEL_MIN = 16384


@functools.lru_cache(maxsize=None)
def _pool(threads: int) -> concurrent.futures.ThreadPoolExecutor:
    return concurrent.futures.ThreadPoolExecutor(max_workers=threads, thread_name_prefix="wafersim-compiled")


class CompiledMixin:
    """Compiled execution of small and divergent groups for `WaveSim` (switched by `Strategy.compiled`)."""

    #: False in subclasses that must see every instruction of every group (the debugger stops at lines).
    compiled_compute = True

    def _compiled_setup(self) -> None:
        launch = self.launch
        self.compiled_table = None
        self.lane_constants = None  # (rows, PEs) special registers and neighbour flags, on first use
        if not (self.strategy.compiled and self.compiled_compute and launch.whole_cycles):
            return  # (fractional issue costs: NumPy's owed-cost sums would round differently)
        if launch.compiled_table is None:
            launch.compiled_table = ProgramTable(launch.decoded, len(self.program.code), launch.costs)
        self.compiled_table = launch.compiled_table
        self.limit_margin = self.spec.global_latency + len(self.program.code) * max(launch.costs.values())

    def _wants_compiled(self, pc: int, lanes: Lanes) -> bool:
        table = self.compiled_table
        return (table is not None and table.runs(pc)
                and (lanes.count <= SMALL_GROUP or lanes.idx is not None or lanes.mask is not None))

    def _run_compiled(self, pc: int, group) -> list[tuple]:
        """Run `group` (at `pc`) in the interpreter; (pc, lanes, blocked) continuations where its PEs stopped."""
        from .interpreter import run_lanes  # (imports Numba: only launches that come here pay for it)
        from ..wave import TIME32_LIMIT

        table, lanes = self.compiled_table, group.lanes
        if self.lane_constants is None:
            self.lane_constants = table.lane_constants(self.region)
        idx = lanes.indices().astype(np.int64, copy=False)
        times = self.cycle[idx].astype(np.float64) + group.cost
        counts = np.full(len(idx), group.count, dtype=np.int64)
        stops = np.empty(len(idx), dtype=np.int64)
        time_limit = TIME32_LIMIT - self.limit_margin if self.time_dtype == np.float32 else np.inf
        pc_counts = self.totals.pc_counts
        fixed = (table.fields, table.costs, self.regs, self.fregs, self.sram, self.fsram, self.lane_constants,
                 self.launch.args, int(self.spec.vector_lanes), float(self.launch.max_cycles), float(time_limit))
        threads = self.strategy.threads
        if threads > 1 and len(idx) >= PARALLEL_MIN:
            parts = np.array_split(np.arange(len(idx)), threads)
            outputs = [(np.zeros_like(pc_counts), np.zeros(2, dtype=np.int64)) for _ in parts]
            results = [np.empty(len(part), dtype=np.int64) for part in parts]

            def run_part(k: int) -> None:
                part = parts[k]
                part_times, part_counts = times[part], counts[part]
                run_lanes(idx[part], pc, part_times, part_counts, results[k], *fixed, *outputs[k])
                times[part], counts[part], stops[part] = part_times, part_counts, results[k]

            for future in [_pool(threads).submit(run_part, k) for k in range(len(parts))]:
                future.result()
            stats = np.zeros(2, dtype=np.int64)
            for part_pc_counts, part_stats in outputs:
                pc_counts += part_pc_counts
                stats += part_stats
        else:
            stats = np.zeros(2, dtype=np.int64)
            run_lanes(idx, pc, times, counts, stops, *fixed, pc_counts, stats)
        self.cycle[idx] = times
        self.icount[idx] += counts.astype(self.icount.dtype)
        self.totals.vector_elements += int(stats[0])
        self.totals.flops += int(stats[1])
        if (stops == stops[0]).all():
            return self._compiled_stop(int(stops[0]), lanes)
        order = np.argsort(stops, kind="stable")  # (stable: each part's indices stay sorted)
        ordered = stops[order]
        cuts = np.flatnonzero(np.diff(ordered)) + 1
        continuations = []
        for part in np.split(order, cuts):
            continuations += self._compiled_stop(int(stops[part[0]]), Lanes.from_indices(self.n, idx[part]))
        return continuations

    def _compiled_stop(self, pc: int, lanes: Lanes) -> list[tuple]:
        """Continuations of PEs the interpreter left at `pc`. If it stopped before an instruction it runs
        (one that would fail or pass a limit), or before a compute instruction it does not run, the NumPy
        engine runs that one instruction now (raising what it raises), so every visit makes progress."""
        instr = self.ops.get(pc)
        if self.compiled_table.runs(pc) or (instr is not None and instr[3] is not None):
            return self._run_numpy(pc, lanes, one_step=True)
        return [(pc, lanes, False)]
