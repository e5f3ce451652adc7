"""Where a warm launch's compiled time goes: the CPU time of each of the engine's compiled (Numba) functions that
Python calls, per launch, for one workload of bench/workloads.py.

    python bench/compiled_profile.py NAME [--size full|quick|tiny] [--repeat N] [--runs]

After two warm launches (everything compiled or loaded), every Numba dispatcher held by a module of `wafersim`
is replaced by a wrapper that adds the calling thread's CPU time (`time.thread_time_ns`) and a call to its
entry; the engine's threads time their own calls (`sim.parallel` parts), so an entry's time is CPU time over
all threads, comparable with the process's CPU time of the same launches, which is printed beside it (what
is left is Python and NumPy). A compiled function called from compiled code is part of its caller's time.
The wrappers are removed afterwards. `--repeat` warm launches are timed; figures are per launch.

A function that only appears after the warm launches (a new specialisation) is not timed. Numba dispatchers
are C objects, which `cProfile` does not see: hence the wrappers.

`--runs`: instead, the scheduler thread's CPU time in the engine's group runs (`WaveSim._run_group`, wrapped the
same way), per launch, by the pc, instruction and lane count a run starts with: which steps of a kernel's loop
the time goes to, compiled and Python together (the library GEMM's: its two panel pumps, its rank-1 flushes).
What is left of the thread's time is the scheduler's own, between runs. (Each group run is timed on its own:
`Strategy.runs_on`, a NumPy run going on with the scheduler's next group, is off while they are timed.)
"""
from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from workloads import WORKLOADS  # noqa: E402

import wafersim as ws  # noqa: E402


def _dispatchers() -> list[tuple[object, str, object]]:
    """(module, attribute, dispatcher) for every Numba dispatcher a loaded `wafersim` module holds (known by what
    a dispatcher has: its Python function and its compiled overloads; only `sim.compiled.jit` imports Numba)."""
    found = []
    for name, module in list(sys.modules.items()):
        if name.split(".")[0] == "wafersim" and module is not None:
            found += [(module, attr, value) for attr, value in list(vars(module).items())
                      if callable(value) and hasattr(value, "py_func") and hasattr(value, "overloads")]
    return found


def _timed(entry: list[int], function: Callable) -> Callable:
    def call(*args, **kwargs):
        start = time.thread_time_ns()
        try:
            return function(*args, **kwargs)
        finally:
            entry[0] += time.thread_time_ns() - start
            entry[1] += 1
    return call


def profile(simulate: Callable[[], object], repeat: int) -> tuple[dict[str, tuple[float, float]], float]:
    """Run `simulate` `repeat` times with the engine's compiled functions timed: ({"module.function": (CPU
    seconds, calls) per run}, the process's CPU seconds per run)."""
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    replaced = _dispatchers()
    try:
        for module, attr, dispatcher in replaced:
            key = f"{dispatcher.py_func.__module__.split('.', 2)[-1]}.{dispatcher.py_func.__name__}"
            setattr(module, attr, _timed(totals[key], dispatcher))
        start = time.process_time()
        for _ in range(repeat):
            simulate()
        process = (time.process_time() - start) / repeat
    finally:
        for module, attr, dispatcher in replaced:
            setattr(module, attr, dispatcher)
    return {key: (ns / 1e9 / repeat, calls / repeat) for key, (ns, calls) in totals.items() if calls}, process


def runs(simulate: Callable[[], object], repeat: int) -> tuple[dict[tuple[int, str, int], tuple[float, float]], float]:
    """Run `simulate` `repeat` times with the engine's group runs timed (thread CPU): ({(pc, instruction, lanes):
    (CPU seconds, runs) per launch}, the launching thread's CPU seconds per launch)."""
    import dataclasses

    from wafersim.sim import strategy
    from wafersim.sim.wave import WaveSim

    totals: dict[tuple[int, str, int], list[int]] = defaultdict(lambda: [0, 0])
    original = WaveSim.__dict__["_run_group"]

    def timed(self, pc: int, group) -> list[tuple]:
        start = time.thread_time_ns()
        try:
            return original(self, pc, group)
        finally:
            instr = self.launch.decoded.get(pc)
            entry = totals[pc, instr.op if instr is not None else "?", int(group.lanes.count)]
            entry[0] += time.thread_time_ns() - start
            entry[1] += 1

    WaveSim._run_group = timed
    # (a run going on with the scheduler's next group, `Strategy.runs_on`, would hide that group's run)
    each_run = dataclasses.replace(strategy.active(), runs_on=False)
    try:
        start = time.thread_time()
        with strategy.forced(each_run):
            for _ in range(repeat):
                simulate()
        thread = (time.thread_time() - start) / repeat
    finally:
        WaveSim._run_group = original
    return {key: (ns / 1e9 / repeat, count / repeat) for key, (ns, count) in totals.items()}, thread


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("name", choices=sorted(WORKLOADS))
    parser.add_argument("--size", choices=("full", "quick", "tiny"), default="full")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--runs", action="store_true", help="time the group runs by pc instead")
    args = parser.parse_args(argv)
    ws.init()
    case = WORKLOADS[args.name](args.size, np.random.default_rng(0))
    _, stats = case.simulate()
    case.simulate()
    if args.runs:
        table, thread = runs(case.simulate, args.repeat)
        inside = sum(seconds for seconds, _ in table.values())
        print(f"{case.label}: the scheduler thread's CPU {thread:.3f} s a launch, {inside:.3f} s of it in "
              f"{sum(count for _, count in table.values()):.0f} group runs")
        for (pc, op, lanes), (seconds, count) in sorted(table.items(), key=lambda item: -item[1][0])[:40]:
            print(f"{seconds:9.4f} s {count:8.1f} runs {seconds / count * 1e6:9.1f} us/run  "
                  f"pc {pc} {op}, {lanes} lanes")
        return
    entries, process = profile(case.simulate, args.repeat)
    compiled = sum(seconds for seconds, _ in entries.values())
    print(f"{case.label}: {stats.instructions:,} PE-instructions a launch; process CPU {process:.3f} s a launch, "
          f"compiled entry points {compiled:.3f} s, the rest (Python, NumPy) {process - compiled:.3f} s")
    for key, (seconds, calls) in sorted(entries.items(), key=lambda item: -item[1][0]):
        print(f"{seconds:9.4f} s {calls:10.1f} calls {seconds / calls * 1e6:10.1f} us/call  {key}")


if __name__ == "__main__":
    main()
