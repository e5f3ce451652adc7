"""Speed-up from 1 to 2 threads (sim/parallel.py) on whole-wafer workloads of issue 9, same process.

    python bench/threads.py [--only heat,life,heat-tiled,switch-4] [--repeat 2] [--write bench/RESULTS.md]

Each workload (`bench/workloads.py`'s, on wse2) first launches once to warm up (compiling, mapping
memory), then alternates launches on 1 and on 2 threads, `--repeat` times each, and reports the best
wall time of each, their ratio, and both against the same math in NumPy (best of three). Results and
cycle counts must be identical on 1 and 2 threads. What runs split over threads (`SPLIT`): a large
lockstep group's scalar sends and receives, its vector transfers and vector operations, and the
compiled interpreter's large divergent groups; the rest of a launch runs on one.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from wafersim.sim import parallel
from wafersim.sim.compiled import stepper
from wafersim.tools.results import machine, write_section

sys.path.insert(0, str(Path(__file__).resolve().parent))
from kernels import timed  # noqa: E402
from workloads import WORKLOADS, check, command_line, engine_source, times  # noqa: E402

COUNTS = (1, 2)
SPLIT = ("scalar sends and receives, vector transfers and vector operations of lockstep groups of at least "
         f"{parallel.PARALLEL_LANES:,} PEs, and the compiled interpreter's divergent groups of at least "
         f"{stepper.PARALLEL_MIN:,} PEs")


def measure(name: str, repeat: int) -> dict:
    case = WORKLOADS[name]("full", np.random.default_rng(0))
    (first, first_stats), warmup = timed(case.simulate)
    expected, numpy_s = timed(case.numpy, repeat=3)
    check(name, case, first, expected)
    best = {count: float("inf") for count in COUNTS}
    for _ in range(repeat):
        for count in COUNTS:
            with parallel.threads(count):
                start = time.perf_counter()
                result, stats = case.simulate()
                best[count] = min(best[count], time.perf_counter() - start)
            if not np.array_equal(result, first) or stats.cycles != first_stats.cycles:
                raise AssertionError(f"{name}: {count} thread(s) gave another result or cycle count")
    return {"name": name, "label": case.label, "first_s": warmup, "numpy_s": numpy_s, "best": best,
            "instructions": int(first_stats.instructions)}


def table(rows: list[dict], repeat: int) -> str:
    head = ("| workload | what | first launch (s) | 1 thread, best of {r} (s) | 2 threads, best of {r} (s) | "
            "speed-up | NumPy (s) | x NumPy, 1 / 2 threads | PE-instr/s, 2 threads |").format(r=repeat)
    lines = [head, "|---" * (head.count("|") - 1) + "|"]
    for r in rows:
        one, two = r["best"][1], r["best"][2]
        lines.append(f"| {r['name']} | {r['label']} | {r['first_s']:.3g} | {one:.3g} | {two:.3g} | {one / two:.2f}x | "
                     f"{r['numpy_s']:.3g} | {times(one / r['numpy_s'])} / {times(two / r['numpy_s'])} | "
                     f"{r['instructions'] / two:.2g} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="heat,life,heat-tiled,switch-4", help="comma-separated workloads of bench/workloads.py")
    parser.add_argument("--repeat", type=int, default=2, help="launches per thread count (best is reported)")
    parser.add_argument("--write", help="replace the threads section of this Markdown file")
    args = parser.parse_args(argv)
    rows = [measure(name, args.repeat) for name in args.only.split(",")]
    text = table(rows, args.repeat)
    print(f"machine: {machine()}\nengine: {engine_source()}\n{text}")
    if args.write:
        write_section(args.write, "threads", (
            f"## Threads: large groups on 1 and 2 cores\n\n"
            f"Command: `{command_line(argv, 'bench/threads.py')}`\n\n"
            f"Machine: {machine()}\n\nEngine: {engine_source()}\n\n"
            "One process per run; the first launch warms up, then launches alternate between 1 and 2 threads. "
            "Wall times are noisy (2 cores shared with other work while this ran): the speed-up is a same-run "
            f"ratio, and it is bounded by the part of a launch that runs split ({SPLIT}).\n\n{text}\n"))
        print(f"wrote {args.write}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
