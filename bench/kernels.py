"""Kernel benchmarks: every library kernel at two or more sizes, against the same computation in NumPy.

    python bench/kernels.py [--write bench/RESULTS.md] [--plot docs/kernel_utilization.png] [--only gemm]

For each case: simulated cycles and time, achieved float32 FLOP/s against the peak of the wafer it ran
on (the host functions size the wafer to the problem), words per busy link, wall time and simulation
speed (PE-instructions per wall second), and the NumPy time for the same computation.
"""
from __future__ import annotations

import argparse
import dataclasses
import re
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np

from wafersim.kernels import heat as heat_mod
from wafersim.sim.stats import LaunchStats

from wafersim.tools.results import machine, write_section


def timed(fn: Callable[[], object], repeat: int = 1) -> tuple[object, float]:
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return result, best


def cases(rng: np.random.Generator):
    """(kernel, size label, simulate() -> LaunchStats, numpy()) for every benchmark case."""
    from wafersim.kernels import gemm, gemv, heat_tiled, life, reduce, saxpy, scan

    out = []
    for n in (4096, 65536):
        x, y = rng.random(n, dtype=np.float32), rng.random(n, dtype=np.float32)
        out.append(("saxpy", f"n={n:,}", lambda x=x, y=y: saxpy.saxpy(np.float32(2), x, y)[1],
                    lambda x=x, y=y: np.float32(2) * x + y))
    for side in (16, 64):
        values = rng.random((side, side), dtype=np.float32)
        out.append(("allreduce sum", f"{side}x{side} PEs", lambda v=values: reduce.block_allreduce(v, "sum", v.shape[::-1])[1],
                    lambda v=values: np.full_like(v, v.sum())))
    for side, steps in ((32, 50), (128, 50)):
        u = rng.random((side, side), dtype=np.float32)
        out.append(("heat (cell/PE)", f"{side}x{side}, {steps} steps", lambda u=u, s=steps: heat_mod.heat(u, 0.1, s)[1],
                    lambda u=u, s=steps: _numpy_heat(u, 0.1, s)))
    for tile, pes in ((8, 4), (16, 8)):
        u = rng.random((pes * tile, pes * tile), dtype=np.float32)
        out.append(("heat (tile/PE)", f"{pes}x{pes} PEs, {tile}x{tile} tiles, 20 steps",
                    lambda u=u, t=tile: heat_tiled.heat_tiled(u, 0.1, 20, t)[1],
                    lambda u=u: _numpy_heat(u, 0.1, 20)))
    for side, steps in ((32, 20), (128, 20)):
        board = (rng.random((side, side)) < 0.3).astype(np.int32)
        out.append(("game of life", f"{side}x{side}, {steps} steps", lambda b=board, s=steps: life.life(b, s)[1],
                    lambda b=board, s=steps: _numpy_life(b, s)))
    for rows, cols in ((4, 64), (16, 256)):
        values = rng.random((rows, cols), dtype=np.float32)
        out.append(("prefix sum", f"{rows} rows x {cols} PEs", lambda v=values: scan.prefix_sum(v)[1],
                    lambda v=values: np.cumsum(v, axis=1)))
    for p, tile in GEMM_SIZES:
        n = p * tile
        a, b = rng.random((n, n), dtype=np.float32), rng.random((n, n), dtype=np.float32)
        out.append(("gemm", f"{p}x{p} PEs, {tile}x{tile} tiles (n={n})", lambda a=a, b=b, p=p: gemm.gemm(a, b, p)[1],
                    lambda a=a, b=b: a @ b))
    for p, q, rows in GEMV_SIZES:
        a = rng.random((p * rows, q * rows), dtype=np.float32)
        x = rng.random(q * rows, dtype=np.float32)
        out.append(("gemv", f"{p}x{q} PEs, {rows}x{rows} tiles", lambda a=a, x=x, p=p, q=q: gemv.gemv(a, x, p, q)[1],
                    lambda a=a, x=x: a @ x))
    for p, q, rows in GEMV_SIZES:  # the matrix resident on the wafer, vectors streamed through it
        a = rng.random((p * rows, q * rows), dtype=np.float32)
        xs = rng.random((RESIDENT_VECTORS, q * rows), dtype=np.float32)
        size = f"{p}x{q} PEs, {rows}x{rows} tiles"
        out.append(("gemv resident", f"{size}, {RESIDENT_VECTORS} vectors",
                    lambda a=a, xs=xs, p=p, q=q: gemv.gemv_batch(a, xs, p, q)[1], lambda a=a, xs=xs: xs @ a.T))
        half = RESIDENT_VECTORS // 2
        out.append(("gemv resident, steady state", f"{size}, {RESIDENT_VECTORS} - {half} vectors",
                    lambda a=a, xs=xs, p=p, q=q: steady_state(gemv.gemv_batch(a, xs, p, q)[1],
                                                              gemv.gemv_batch(a, xs[:half], p, q)[1]),
                    lambda a=a, xs=xs: xs[half:] @ a.T))
    return out


def steady_state(more: LaunchStats, fewer: LaunchStats) -> LaunchStats:
    """What the extra work of launch `more` over launch `fewer` cost (cycles, instructions, FLOPs, words):
    the same kernel with more vectors, so the one-time tile load and the final store drain cancel out."""
    return dataclasses.replace(
        more, cycles=more.cycles - fewer.cycles, instructions=more.instructions - fewer.instructions,
        flops=more.flops - fewer.flops, link_words=more.link_words - fewer.link_words,
        busy=more.busy - fewer.busy, stall=more.stall - fewer.stall,
        pe_instructions=more.pe_instructions - fewer.pe_instructions,
        global_bytes=more.global_bytes - fewer.global_bytes, vector_elements=more.vector_elements - fewer.vector_elements)


GEMM_SIZES = ((2, 16), (4, 16), (8, 16), (2, 32), (4, 32), (8, 32))
GEMV_SIZES = ((2, 2, 32), (4, 4, 32), (8, 8, 32))
RESIDENT_VECTORS = 16


def _numpy_heat(u, alpha, steps):
    from wafersim.kernels.reference import heat

    return heat(u, alpha, steps)


def _numpy_life(board, steps):
    b = board.copy()
    for _ in range(steps):
        p = np.pad(b, 1)
        n = sum(p[1 + dy:1 + dy + b.shape[0], 1 + dx:1 + dx + b.shape[1]]
                for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx)
        b = ((n == 3) | ((b == 1) & (n == 2))).astype(np.int32)
    return b


def row(kernel: str, size: str, stats: LaunchStats, wall: float, numpy_wall: float) -> dict:
    busy_links = np.count_nonzero(stats.link_words)
    return {
        "kernel": kernel, "size": size, "cycles": stats.cycles, "sim_us": stats.seconds * 1e6,
        "gflops": stats.flops / stats.seconds / 1e9 if stats.cycles else 0.0,
        "utilization": stats.utilization, "pes": stats.spec.n_pes,
        "words_per_link": stats.words_moved / busy_links if busy_links else 0.0,
        "wall_s": wall, "rate": stats.instructions / wall, "numpy_s": numpy_wall, "instructions": stats.instructions,
    }


def heat_instructions(rows: list[dict]) -> str:
    """Instructions per PE per step of the heat rows (every PE of the wafer used; loads and stores included)."""
    parts = []
    for r in rows:
        if r["kernel"].startswith("heat"):
            steps = int(re.search(r"(\d+) steps", r["size"])[1])
            parts.append(f"{r['kernel']} {r['size']}: {r['instructions'] / r['pes'] / steps:.1f}")
    return ("Heat instructions per PE per step: " + "; ".join(parts) + ".") if parts else ""


def table(rows: list[dict]) -> str:
    lines = ["| kernel | size | wafer PEs | cycles | simulated time | GFLOP/s (simulated) | utilization of peak | "
             "words per busy link | wall (s) | PE-instr / wall s | NumPy (s) |", "|---" * 11 + "|"]
    for r in rows:
        lines.append(f"| {r['kernel']} | {r['size']} | {r['pes']:,} | {r['cycles']:,} | {r['sim_us']:.2f} us | "
                     f"{r['gflops']:.2f} | {100 * r['utilization']:.2f}% | {r['words_per_link']:.0f} | "
                     f"{r['wall_s']:.2f} | {r['rate']:.3g} | {r['numpy_s'] * 1e3:.3f} ms |")
    return "\n".join(lines)


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4), layout="constrained")
    series: dict[str, list[dict]] = {}
    for r in rows:
        if r["kernel"].startswith(("gemm", "gemv")):
            tile = r["size"].split(", ")[1].split(" (")[0]
            series.setdefault(f"{r['kernel']}, {tile}", []).append(r)
    for label, points in series.items():
        ax.plot([r["pes"] for r in points], [100 * r["utilization"] for r in points],
                marker="o" if label.startswith("gemm") else "s", label=label)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("PEs in the block (= wafer size used)")
    ax.set_ylabel("utilization of peak FLOP/s (%)")
    ax.set_title("GEMM and GEMV: utilization against block size")
    ax.grid(alpha=0.3)
    ax.legend()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write")
    parser.add_argument("--plot", default="docs/kernel_utilization.png")
    parser.add_argument("--only", help="run only the kernels whose name contains this text (no --write)")
    args = parser.parse_args(argv)
    if args.only and args.write:
        parser.error("--only gives a partial table: it cannot --write the results file")
    rows = []
    for kernel, size, simulate, direct in cases(np.random.default_rng(0)):
        if args.only and args.only not in kernel:
            continue
        stats, wall = timed(simulate)
        _, numpy_wall = timed(direct, repeat=3)
        rows.append(row(kernel, size, stats, wall, numpy_wall))
        print(f"{kernel:16s} {size:40s} {stats.cycles:>10,} cycles  {100 * stats.utilization:6.2f}%  "
              f"wall {wall:.2f} s", flush=True)
    text = table(rows)
    if not args.only:
        plot(rows, Path(args.plot))
    section = ("## Kernels\n\n"
               f"Command: `python bench/kernels.py --write bench/RESULTS.md --plot {args.plot}`\n\n"
               f"Machine: {machine()}\n\nSimulated cycles and utilization are exact and reproducible; wall times "
               f"are noisy (2 cores shared with other work): compare the same-run ratios to NumPy.\n\n"
               f"{text}\n\n{heat_instructions(rows)}\n\n"
               f"GEMM and GEMV utilization against block size: `{args.plot}`.\n")
    print(text)
    print(heat_instructions(rows))
    if args.write:
        write_section(args.write, "kernels", section)
        print(f"wrote {args.write} and {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
