"""Benchmark of the solver kernels (`wafersim.kernels.solvers`): cycles, achieved FLOP/s and utilization
per kernel and size, iterations to a tolerance against SciPy, and the bandwidth tests.

    python bench/solvers.py [--wafer] [--write bench/RESULTS.md] [--plot docs/solvers_bandwidth.png]

Each kernel runs on a wafer just the size of its nx x ny block (utilization is of the PEs used):

- once with the default figures of `WaferSpec` but `--channels` channels (default 24, as `wse2`: the solvers'
  block sums take the tree all-reduce where the block's tree fits them and is modelled cheaper,
  `columns.reduction_rounds`, else the chains the default 4 channels give), for the cycles of the whole
  launch (which at scale are dominated by loading the vectors from off-wafer memory and storing the result);
- twice more, at two iteration (or step) counts, on the same wafer with the off-wafer bandwidth set
  out of the way (1e18 B/s): the difference is the steady state of one iteration, which touches no
  off-wafer memory (so its cost does not depend on that figure, but the launch's loads and stores,
  bandwidth-bound and overlapping everything, would otherwise hide it): cycles, FLOPs, FLOP/s and
  utilization of peak per iteration.

`--wafer` adds CG and the 7-point stencil on a 757 x 996 block (the size of the `wse2` preset).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from wafersim.kernels.solvers import (bicgstab, broadcast_bandwidth, conjugate_gradient,  # noqa: E402
                                      global_read_bandwidth, memcpy_bandwidth, power_method, stencil7)
from wafersim.arch.spec import WaferSpec  # noqa: E402
from wafersim.runtime.device import Device  # noqa: E402
from wafersim.sim.stats import LaunchStats  # noqa: E402
from wafersim.tools.results import machine, write_section  # noqa: E402

try:  # the 25-point stencil of the SC22 reproduction, where it is in the library
    from wafersim.kernels.stencil25 import stencil25
except ImportError:  # pragma: no cover - absent in older trees
    stencil25 = None


def runners(shape: tuple[int, int, int], rng: np.random.Generator
            ) -> dict[str, Callable[[int, Device], LaunchStats]]:
    """Kernel name -> a function running it for n iterations (or steps) on a grid of `shape`, on a device."""
    b = rng.standard_normal(shape).astype(np.float32)
    shift = (rng.random(shape) * 10).astype(np.float32)
    nz, ny, nx = shape
    found = {
        "cg": lambda n, d: conjugate_gradient(b, rtol=0.0, maxiter=n, device=d).stats,
        "cg, Jacobi": lambda n, d: conjugate_gradient(b, shift=shift, rtol=0.0, maxiter=n, preconditioner="jacobi",
                                                      device=d).stats,
        "cg, single reduction": lambda n, d: conjugate_gradient(b, rtol=0.0, maxiter=n, single_reduction=True,
                                                                device=d).stats,
        "bicgstab": lambda n, d: bicgstab(b, rtol=0.0, maxiter=n, device=d).stats,
        "power method": lambda n, d: power_method(b, tol=0.0, maxiter=n, device=d).stats,
        "stencil 7-point": lambda n, d: stencil7(b, (0.4, 0.1, 0.1, 0.1), n, device=d)[1],
    }
    if stencil25 is not None:  # (ny, nx, nz) arrays: its own layout
        u = np.ascontiguousarray(b.transpose(1, 2, 0))
        vp = np.full(u.shape, 0.01, np.float32)
        found["stencil 25-point"] = lambda n, d: stencil25(np.zeros_like(u), u, vp, n, device=d)[1]
    return found


def steady_state(run: Callable[[int, Device], LaunchStats], shape: tuple[int, int, int], n1: int, n2: int,
                 channels: int = 24) -> dict:
    """The launch at n2 iterations on the default spec with `channels` channels, and the steady state of one
    iteration: runs at n1 and n2 iterations with the off-wafer bandwidth out of the way, differenced."""
    start = time.perf_counter()
    spec = WaferSpec(width=shape[2], height=shape[1], channels=channels)
    launch = run(n2, Device(spec))
    fast = Device(spec.replace(global_bytes_per_s=1e18))
    first, second = run(n1, fast), run(n2, fast)
    wall = time.perf_counter() - start
    cycles = (second.cycles - first.cycles) / (n2 - n1)
    flops = (second.flops - first.flops) / (n2 - n1)
    seconds = second.spec.seconds(cycles)
    return {"total": launch.cycles, "n": n2, "per_iter": cycles, "flops": flops,
            "gflops": flops / seconds / 1e9, "util": flops / seconds / second.spec.peak_flops, "wall": wall}


def throughput_table(sizes: list[tuple[tuple[int, int, int], tuple[str, ...] | None]], n1: int, n2: int,
                     channels: int = 24) -> str:
    lines = ["| kernel | grid (nz x ny x nx), PEs | launch cycles (n iterations) | cycles / iteration "
             "| FLOPs / iteration | GFLOP/s | utilization of peak | wall s |", "|---|---|---|---|---|---|---|---|"]
    for shape, only in sizes:
        for name, run in runners(shape, np.random.default_rng(0)).items():
            if only is not None and name not in only:
                continue
            r = steady_state(run, shape, n1, n2, channels)
            lines.append(f"| {name} | {shape[0]} x {shape[1]} x {shape[2]}, {shape[1] * shape[2]:,} | "
                         f"{r['total']:,} ({r['n']}) | {r['per_iter']:,.0f} | {r['flops']:,.0f} | "
                         f"{r['gflops']:,.1f} | {100 * r['util']:.2f}% | {r['wall']:.1f} |")
            print(lines[-1], flush=True)
    return "\n".join(lines)


def laplacian(shape: tuple[int, int, int], shift) -> sp.csr_matrix:
    """The same operator as the kernels' (7-point Dirichlet Laplacian + diag(shift)), by Kronecker sums."""
    def t(n):
        return sp.diags([-np.ones(n - 1), 2 * np.ones(n), -np.ones(n - 1)], [-1, 0, 1])
    nz, ny, nx = shape
    a = (sp.kron(sp.kron(t(nz), sp.identity(ny)), sp.identity(nx)) + sp.kron(sp.kron(sp.identity(nz), t(ny)),
         sp.identity(nx)) + sp.kron(sp.kron(sp.identity(nz), sp.identity(ny)), t(nx)))
    return (a + sp.diags(np.broadcast_to(shift, shape).ravel())).tocsr()


def iterations_table(sizes: list[tuple[int, int, int]], rtol: float) -> str:
    lines = [f"| solver | grid (nz x ny x nx) | iterations to rtol {rtol:g}: wafer / SciPy float32 / SciPy float64 "
             "| true residual, relative (float64) "
             "| cycles | simulated time |", "|---|---|---|---|---|---|"]
    for shape in sizes:
        rng = np.random.default_rng(1)
        b = rng.standard_normal(shape).astype(np.float32)
        shift = rng.random(shape) ** 4 * 200
        a0, a1 = laplacian(shape, 0.0), laplacian(shape, shift)
        cases = [("cg", a0, spla.cg, None, lambda: conjugate_gradient(b, rtol=rtol)),
                 ("cg, Jacobi, varying shift", a1, spla.cg, sp.diags(1 / a1.diagonal()),
                  lambda: conjugate_gradient(b, shift=shift, rtol=rtol, preconditioner="jacobi")),
                 ("cg, Jacobi, varying shift, single reduction", a1, spla.cg, sp.diags(1 / a1.diagonal()),
                  lambda: conjugate_gradient(b, shift=shift, rtol=rtol, preconditioner="jacobi", single_reduction=True)),
                 ("cg, varying shift", a1, spla.cg, None, lambda: conjugate_gradient(b, shift=shift, rtol=rtol)),
                 ("cg, single reduction", a0, spla.cg, None, lambda: conjugate_gradient(b, rtol=rtol, single_reduction=True)),
                 ("bicgstab", a0, spla.bicgstab, None, lambda: bicgstab(b, rtol=rtol))]
        for name, a, method, m, solve in cases:
            counts = []
            for dtype in (np.float32, np.float64):  # SciPy works in the precision of A and b
                count = [0]
                method(a.astype(dtype), b.ravel().astype(dtype), rtol=rtol, M=None if m is None else m.astype(dtype),
                       callback=lambda _x, count=count: count.__setitem__(0, count[0] + 1))
                counts.append(count[0])
            sol = solve()
            err = np.linalg.norm(b.ravel() - a @ sol.x.ravel().astype(np.float64)) / np.linalg.norm(b)
            lines.append(f"| {name} | {shape[0]} x {shape[1]} x {shape[2]} | {sol.iterations} / {counts[0]} / {counts[1]} | "
                         f"{err:.2e} | {sol.stats.cycles:,} | {sol.stats.seconds * 1e6:,.1f} us |")
            print(lines[-1], flush=True)
    return "\n".join(lines)


def bandwidth_tables(plot: Path | None) -> str:
    sizes = [4 << k for k in range(0, 25, 3)]
    memcpy = memcpy_bandwidth(sizes)
    lines = ["| memcpy_htod bytes | simulated GB/s | WaferSpec GB/s |", "|---|---|---|"]
    lines += [f"| {p.nbytes:,} | {p.bytes_per_s / 1e9:.4g} | {p.predicted_bytes_per_s / 1e9:.4g} |" for p in memcpy]
    reads = []
    lines += ["", "| off-wafer read, words per PE x PEs | bytes | cycles | simulated GB/s | WaferSpec bound GB/s |",
              "|---|---|---|---|---|"]
    for words, side in ((16, 8), (256, 8), (256, 32), (1024, 32), (1024, 64)):
        point, stats = global_read_bandwidth(words, (side, side))
        reads.append(point)
        lines.append(f"| {words} x {side}x{side} | {point.nbytes:,} | {stats.cycles:,} | "
                     f"{point.bytes_per_s / 1e9:.4g} | {point.predicted_bytes_per_s / 1e9:.4g} |")
    lines += ["", "| routed row broadcast, words x row length | cycles | simulated GB/s per receiver | WaferSpec bound GB/s |",
              "|---|---|---|---|"]
    for words, length in ((16, 8), (1024, 8), (1024, 16), (1024, 64), (1024, 256), (1024, 757)):
        point, stats = broadcast_bandwidth(words, (length, 1))
        lines.append(f"| {words} x {length} | {stats.cycles:,} | {point.bytes_per_s / 1e9:.4g} | "
                     f"{point.predicted_bytes_per_s / 1e9:.4g} |")
    if plot is not None:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(6.4, 3.8))
        ax.loglog([p.nbytes for p in memcpy], [p.bytes_per_s / 1e9 for p in memcpy], "o", label="memcpy_htod, simulated")
        ax.loglog([p.nbytes for p in memcpy], [p.predicted_bytes_per_s / 1e9 for p in memcpy], "-",
                  label="latency + bytes / bandwidth (WaferSpec)")
        ax.loglog([p.nbytes for p in reads], [p.bytes_per_s / 1e9 for p in reads], "s", label="block read (gldv), simulated")
        ax.loglog([p.nbytes for p in reads], [p.predicted_bytes_per_s / 1e9 for p in reads], "--",
                  label="block read bound (WaferSpec)")
        ax.set_xlabel("bytes moved")
        ax.set_ylabel("GB/s")
        ax.set_title("Host <-> device and off-wafer read bandwidth (dev spec)")
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(plot, dpi=110)
        plt.close(fig)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write")
    parser.add_argument("--plot", default=None, help="write the bandwidth plot here (PNG)")
    parser.add_argument("--wafer", action="store_true", help="add a 757 x 996 block run (minutes)")
    parser.add_argument("--channels", type=int, default=24, help="channels of the throughput runs' wafers")
    args = parser.parse_args(argv)
    sizes = [((64, 16, 16), None), ((64, 64, 64), None)]
    sizes += [((32, 996, 757), ("cg", "cg, single reduction", "stencil 7-point"))] if args.wafer else []
    start = time.perf_counter()
    throughput = throughput_table(sizes, 2, 4, args.channels)
    iterations = iterations_table([(16, 8, 8), (32, 16, 16)], 1e-5)
    bandwidth = bandwidth_tables(Path(args.plot) if args.plot else None)
    command = "python bench/solvers.py" + (" --wafer" if args.wafer else "") + (
        f" --channels {args.channels}" if args.channels != 24 else "") + " --write bench/RESULTS.md" + (
        f" --plot {args.plot}" if args.plot else "")
    section = ("## Solvers (kernels.solvers): Krylov solvers, power method, 3-D stencils, bandwidth\n\n"
               f"Command: `{command}` ({time.perf_counter() - start:,.0f} s of host time)\n\n"
               f"Machine: {machine()}\n\n"
               "Each kernel on a wafer just the size of its nx x ny block. Launch cycles: the whole launch, "
               f"default `WaferSpec` figures but {args.channels} channels (the solvers' block sums by the tree "
               "all-reduce where it fits them, 4 rounds + 2 channels with the halo's, and is modelled cheaper, "
               "`columns.reduction_rounds`; else by chains), 4 iterations or steps (loads of the vectors and the store of the "
               "result included: off-wafer bandwidth-bound at scale). Per iteration: the difference of runs at 2 "
               "and 4 iterations with the off-wafer bandwidth out of the way (an iteration touches no "
               "off-wafer memory; see the script's docstring):\n\n"
               f"{throughput}\n\nIterations to a tolerance, against SciPy on the same matrix (float32 like the wafer, and float64; "
               "each solver's default device: 4 channels, the chains' block sums):\n\n"
               f"{iterations}\n\nBandwidth (default `dev` figures: 150 GB/s off-wafer, 5 us per host copy, one word a "
               "cycle a link, 16-word FIFOs):\n\n"
               f"{bandwidth}\n")
    print(section)
    if args.write:
        write_section(args.write, "solvers", section)
        print(f"wrote {args.write}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
