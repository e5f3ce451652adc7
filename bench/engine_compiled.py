"""The engine's compiled path (`wafersim.sim.compiled`) against its NumPy path, same run, same process.

    python bench/engine_compiled.py [--quick] [--only NAME[,NAME]] [--repeat N] [--write bench/RESULTS.md]

For each workload of bench/workloads.py named (default: the divergent switches, saxpy's small waves, the
one-row and the whole-wafer scans, and the small transpose), one process launches it under `Strategy(compiled=False)` (every
group one NumPy call per instruction), under the default strategy with one interpreter thread and with
two, and times the same math in NumPy. Every launch must give the same result, cycle count and
statistics as the NumPy path's (bit for bit), or the run fails. Reported: the first launch of the process
(it imports Numba and loads the cached machine code: a first launch in a fresh process pays that) and the
best of `--repeat` warm launches, as wall time and as CPU time of the process (steadier than wall time
on a shared machine), the speed-up of the compiled path and its ratio to NumPy.
"""
from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from workloads import WORKLOADS, check, engine_source  # noqa: E402

from wafersim.sim import parallel  # noqa: E402
from wafersim.sim.strategy import Strategy, forced  # noqa: E402
from wafersim.tools.results import machine, write_section  # noqa: E402

DEFAULT = ("switch-2", "switch-4", "switch-8", "saxpy", "scan-row", "scan-rows", "transpose")
STRATEGIES = {"numpy path": (Strategy(compiled=False), 2), "compiled, 1 thread": (Strategy(), 1),
              "compiled, 2 threads": (Strategy(), 2)}  # (strategy, engine threads)
STATS = ("cycles", "instructions", "op_counts", "flops", "vector_elements", "global_bytes")


def timed_launch(simulate):
    """((result, stats), wall seconds, CPU seconds of this process)."""
    wall, cpu = time.perf_counter(), time.process_time()
    out = simulate()
    return out, time.perf_counter() - wall, time.process_time() - cpu


def measure(name: str, size: str, repeat: int) -> list[dict]:
    """One row per strategy: first and best warm launch (wall, CPU), checked against the NumPy path."""
    case = WORKLOADS[name](size, np.random.default_rng(0))
    rows, reference = [], None
    for label, (strategy, thread_count) in STRATEGIES.items():
        with forced(strategy), parallel.threads(thread_count):
            (result, stats), first_wall, first_cpu = timed_launch(case.simulate)
            warm = [timed_launch(case.simulate)[1:] for _ in range(repeat)]
        if reference is None:
            reference = (result, stats)
        elif not np.array_equal(np.asarray(result).view(np.uint8), np.asarray(reference[0]).view(np.uint8)) or any(
                getattr(stats, k) != getattr(reference[1], k) for k in STATS) or not np.array_equal(
                stats.pe_instructions, reference[1].pe_instructions):
            raise AssertionError(f"{name}: {label} differs from the NumPy path")
        rows.append({"workload": name, "strategy": label, "first": (first_wall, first_cpu),
                     "warm": (min(w for w, _ in warm), min(c for _, c in warm)), "instructions": stats.instructions})
    expected = case.numpy()
    check(name, case, reference[0], expected)
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(3):
        case.numpy()
    numpy_time = ((time.perf_counter() - wall) / 3, (time.process_time() - cpu) / 3)
    for row in rows:
        row["numpy"] = numpy_time
        row["label"] = case.label
    return rows


def table(rows: list[dict]) -> str:
    lines = ["| workload | strategy | first launch wall / CPU (s) | best warm wall / CPU (s) | PE-instr/s (warm CPU) | "
             "speed-up over the NumPy path (warm CPU) | x NumPy (warm CPU) |", "|---|---|---|---|---|---|---|"]
    base = {}
    for row in rows:
        base.setdefault(row["workload"], row["warm"][1])
        cpu = row["warm"][1]
        lines.append(f"| {row['workload']} | {row['strategy']} | {row['first'][0]:.3g} / {row['first'][1]:.3g} | "
                     f"{row['warm'][0]:.3g} / {cpu:.3g} | {row['instructions'] / cpu:.2g} | "
                     f"{base[row['workload']] / cpu:.2f}x | {cpu / row['numpy'][1]:,.0f}x |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="comma-separated workload names (default: %s)" % ",".join(DEFAULT))
    parser.add_argument("--quick", action="store_true", help="bench/workloads.py's quick sizes")
    parser.add_argument("--repeat", type=int, default=2, help="warm launches per strategy (default 2)")
    parser.add_argument("--write", help="replace the engine-compiled section of this Markdown file")
    args = parser.parse_args(argv)
    names = args.only.split(",") if args.only else list(DEFAULT)
    rows = []
    for name in names:
        print(f"{name} ...", flush=True)
        rows += measure(name, "quick" if args.quick else "full", args.repeat)
    text = table(rows)
    print(text)
    if args.write:
        command = "python bench/engine_compiled.py " + shlex.join(sys.argv[1:] if argv is None else argv)
        write_section(args.write, "engine-compiled", (
            f"## The engine's compiled path against its NumPy path (issue 9, part A)\n\nCommand: `{command}`\n\n"
            f"Machine: {machine()}\n\nEngine: {engine_source()}\n\n"
            "One process per run; each launch gave the NumPy path's result, cycles and statistics bit for bit. "
            "The first launch of the process includes importing Numba and loading the cached machine code "
            "(compiling it, once per machine, takes about half a minute more). CPU time is the process's: "
            "on this shared 2-core machine it is steadier than wall time, which other work inflates; with "
            "two threads the CPU time adds both threads' time, so compare their wall times.\n\n" + text))
    return 0


if __name__ == "__main__":
    sys.exit(main())
