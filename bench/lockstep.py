"""The engine's lockstep path (`Strategy.lockstep`) on and off, same process: the whole-wafer stencils of issue 9.

    python bench/lockstep.py [--only heat,life] [--repeat 2] [--threads N] [--write bench/RESULTS.md]

Each workload (`bench/workloads.py`'s heat and Life on wse2) first launches once with the lockstep path
(the default; compiling, mapping memory: the first launch), runs the same math in NumPy (best of three),
then alternates launches with the lockstep path on and off, `--repeat` times each. Reported: the best
wall and CPU time (`time.process_time`, the process's: steadier than wall time on a shared machine) of
each, both against NumPy's, and the speed-up. Results, cycle counts and statistics must be identical on
and off (and equal to NumPy's). `--threads` (default 1): threads of `sim.parallel` for every launch, so
that CPU time is one core's.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from wafersim.sim import parallel
from wafersim.sim.strategy import FAST, Strategy, forced
from wafersim.tools.results import machine, write_section

sys.path.insert(0, str(Path(__file__).resolve().parent))
from workloads import SIZES, WORKLOADS, check, command_line, engine_source, times  # noqa: E402

STRATEGIES = {"on": FAST, "off": Strategy(lockstep=False)}
STAT_ARRAYS = ("busy", "stall", "pe_instructions", "link_words")


def clocked(fn):
    """(fn(), wall seconds, CPU seconds of this process)."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def same_stats(a, b) -> bool:
    return (a.cycles, a.instructions, a.op_counts) == (b.cycles, b.instructions, b.op_counts) and all(
        np.array_equal(getattr(a, name), getattr(b, name)) for name in STAT_ARRAYS)


def measure(name: str, repeat: int, size: str = "full") -> dict:
    case = WORKLOADS[name](size, np.random.default_rng(0))
    (first, first_stats), first_wall, first_cpu = clocked(case.simulate)
    numpy_wall = numpy_cpu = float("inf")
    for _ in range(3):
        expected, wall, cpu = clocked(case.numpy)
        numpy_wall, numpy_cpu = min(numpy_wall, wall), min(numpy_cpu, cpu)
    check(name, case, first, expected)
    best = {key: [float("inf"), float("inf")] for key in STRATEGIES}  # [wall, cpu]
    for _ in range(repeat):
        for key, strategy in STRATEGIES.items():
            with forced(strategy):
                (result, stats), wall, cpu = clocked(case.simulate)
            if not np.array_equal(result, first) or not same_stats(stats, first_stats):
                raise AssertionError(f"{name}: the lockstep path {key} gave another result or statistics")
            best[key] = [min(best[key][0], wall), min(best[key][1], cpu)]
    return {"name": name, "label": case.label, "first": (first_wall, first_cpu), "numpy": (numpy_wall, numpy_cpu),
            "best": best, "instructions": int(first_stats.instructions)}


def table(rows: list[dict], repeat: int) -> str:
    head = (f"| workload | what | first launch wall / CPU (s) | lockstep on, best of {repeat} wall / CPU (s) | "
            f"lockstep off, best of {repeat} wall / CPU (s) | speed-up (CPU) | NumPy wall / CPU (s) | "
            "x NumPy (CPU): first / on / off | x NumPy (wall): first / on / off |")
    lines = [head, "|---" * (head.count("|") - 1) + "|"]
    for r in rows:
        (fw, fc), (nw, nc), on, off = r["first"], r["numpy"], r["best"]["on"], r["best"]["off"]
        lines.append(f"| {r['name']} | {r['label']} | {fw:.3g} / {fc:.3g} | {on[0]:.3g} / {on[1]:.3g} | "
                     f"{off[0]:.3g} / {off[1]:.3g} | {off[1] / on[1]:.2f}x | {nw:.3g} / {nc:.3g} | "
                     f"{times(fc / nc)} / {times(on[1] / nc)} / {times(off[1] / nc)} | "
                     f"{times(fw / nw)} / {times(on[0] / nw)} / {times(off[0] / nw)} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="heat,life", help="comma-separated workloads of bench/workloads.py")
    parser.add_argument("--repeat", type=int, default=2, help="launches each way (best is reported)")
    parser.add_argument("--threads", type=int, default=1, help="sim.parallel threads (default 1)")
    parser.add_argument("--write", help="replace the lockstep section of this Markdown file")
    parser.add_argument("--size", choices=SIZES, default="full", help=argparse.SUPPRESS)  # (tests: tiny)
    args = parser.parse_args(argv)
    with parallel.threads(args.threads):
        rows = [measure(name, args.repeat, args.size) for name in args.only.split(",")]
    text = table(rows, args.repeat)
    print(f"machine: {machine()}\nengine: {engine_source()}\n{text}")
    if args.write:
        write_section(args.write, "lockstep", (
            f"## Engine v2: the lockstep path (issue 9, heat and Life)\n\n"
            f"Command: `{command_line(argv, 'bench/lockstep.py')}`\n\n"
            f"Machine: {machine()}\n\nEngine: {engine_source()}\n\n"
            "One process for all workloads; the first launch (lockstep path on) includes compiling the kernel and "
            "mapping fresh memory, then launches alternate with the lockstep path (`Strategy.lockstep`) on and "
            "off, every one bit-identical (results, cycles, statistics). CPU time is the process's "
            f"(`time.process_time`, {args.threads} thread(s)): on this shared 2-core machine it is steadier than "
            "wall time, which other work inflates; NumPy's is timed the same way, best of three.\n\n"
            f"{text}\n"))
        print(f"wrote {args.write}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
