"""Speed-up from 1 to 2 (or more) threads (sim/parallel.py) on whole-wafer workloads of issue 9, same process.

    python bench/threads.py [--only heat,life,heat-tiled,switch-4] [--repeat 2] [--counts 1,2]
                            [--write bench/RESULTS.md [--section threads]]

Each workload (`bench/workloads.py`'s, on wse2) first launches once to warm up (compiling, mapping
memory), then alternates launches on each of `--counts` threads, `--repeat` times each, and reports the
best wall time of each, their ratios to one thread, and each against the same math in NumPy (best of
three). Results and cycle counts must be identical on every count. What runs split over threads (`SPLIT`): a large
lockstep group's scalar sends and receives, its vector transfers and vector operations, and the
compiled interpreter's large divergent groups (with their east-west transfers, in parts of whole rows: the row
pipeline's); the rest of a launch runs on one.
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

SPLIT = ("scalar sends and receives, vector transfers and vector operations of lockstep groups of at least "
         f"{parallel.PARALLEL_LANES:,} PEs, and the compiled interpreter's divergent groups of at least "
         f"{stepper.PARALLEL_MIN:,} PEs, those with east-west transfers too, in parts of whole rows")


def measure(name: str, repeat: int, counts: tuple[int, ...]) -> dict:
    case = WORKLOADS[name]("full", np.random.default_rng(0))
    (first, first_stats), warmup = timed(case.simulate)
    expected, numpy_s = timed(case.numpy, repeat=3)
    check(name, case, first, expected)
    best = {count: float("inf") for count in counts}
    for _ in range(repeat):
        for count in counts:
            with parallel.threads(count):
                start = time.perf_counter()
                result, stats = case.simulate()
                best[count] = min(best[count], time.perf_counter() - start)
            if not np.array_equal(result, first) or stats.cycles != first_stats.cycles:
                raise AssertionError(f"{name}: {count} thread(s) gave another result or cycle count")
    return {"name": name, "label": case.label, "first_s": warmup, "numpy_s": numpy_s, "best": best,
            "instructions": int(first_stats.instructions)}


def table(rows: list[dict], repeat: int, counts: tuple[int, ...]) -> str:
    shown = " / ".join(map(str, counts))
    head = (f"| workload | what | first launch (s) | {shown} threads, best of {repeat} (s) | speed-up over 1 thread | "
            f"NumPy (s) | x NumPy, {shown} threads | PE-instr/s, {counts[-1]} threads |")
    lines = [head, "|---" * (head.count("|") - 1) + "|"]
    for r in rows:
        walls = [r["best"][count] for count in counts]
        lines.append(f"| {r['name']} | {r['label']} | {r['first_s']:.3g} | {' / '.join(f'{w:.3g}' for w in walls)} | "
                     f"{' / '.join(f'{walls[0] / w:.2f}x' for w in walls[1:])} | {r['numpy_s']:.3g} | "
                     f"{' / '.join(times(w / r['numpy_s']) for w in walls)} | {r['instructions'] / walls[-1]:.2g} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="heat,life,heat-tiled,switch-4", help="comma-separated workloads of bench/workloads.py")
    parser.add_argument("--repeat", type=int, default=2, help="launches per thread count (best is reported)")
    parser.add_argument("--counts", default="1,2", help="comma-separated thread counts, the first 1 (default 1,2)")
    parser.add_argument("--write", help="replace a section of this Markdown file")
    parser.add_argument("--section", default="threads", help="the section --write replaces (default threads)")
    args = parser.parse_args(argv)
    words = args.counts.split(",")
    counts = tuple(int(word) for word in words) if all(word.strip().isdigit() for word in words) else ()
    if len(counts) < 2 or counts[0] != 1 or min(counts) < 1:
        parser.error(f"--counts {args.counts!r}: whole numbers >= 1, the first 1 and at least one more, such as 1,2 "
                     "or 1,2,4,8,16")
    rows = [measure(name, args.repeat, counts) for name in args.only.split(",")]
    text = table(rows, args.repeat, counts)
    print(f"machine: {machine()}\nengine: {engine_source()}\n{text}")
    if args.write:
        cores = "1 and 2 cores" if counts == (1, 2) else f"{', '.join(map(str, counts[:-1]))} and {counts[-1]} threads"
        write_section(args.write, args.section, (
            f"## Threads: large groups on {cores}\n\n"
            f"Command: `{command_line(argv, 'bench/threads.py')}`\n\n"
            f"Machine: {machine()}\n\nEngine: {engine_source()}\n\n"
            "One process per run; the first launch warms up, then launches alternate between the thread counts. "
            "Wall times are noisy (cores shared with other work while this ran): the speed-up is a same-run "
            f"ratio, and it is bounded by the part of a launch that runs split ({SPLIT}).\n\n{text}\n"))
        print(f"wrote {args.write}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
