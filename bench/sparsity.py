"""Sparsity benchmark: simulated cycles and energy of y = A @ x against the density of A, 100% -> 1%.

    python bench/sparsity.py [--spec dev|wse2|wse3] [--write bench/RESULTS.md] [--plot docs/sparsity_density.png]
                             [--table docs/sparsity.md]

One matrix size (M x N, rows over a block of PEs) at every density; three kernels on the same partition:

- dense: every entry stored and multiplied (`dense_spmv`, a vector fma per column of the PE's tile);
- dense + skip: the same loop asking for zero-skipping (`dense_spmv(zero_skip=True)`: `vfmaz`);
- sparse: only the nonzeros, stored as (value, index) pairs (`spmv`: one `vspfma` per PE).

"multiply" is the cycles (and energy) of one multiply with the matrix resident in SRAM, as in an iterative
solver: (launch with REPEATS multiplies - launch with 1) / (REPEATS - 1). "launch" is one whole launch:
the multiply plus loading the matrix and x over the off-wafer links.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from wafersim import Device, WaferSpec
from wafersim.kernels.sparse import dense_spmv, spmv
from wafersim.kernels.sparse.layout import block_shape
from wafersim.kernels.sparse.spmspv import spmspv
from wafersim.tools.results import write_section

M, N, PES = 1024, 256, 64  # 16 rows of 256 columns per PE: the dense tile and the 100% pairs both fit SRAM
DENSITIES = (1.0, 0.5, 0.2, 0.1, 0.05, 0.02, 0.01)
REPEATS = 5
KERNELS = {"dense": lambda a, x, r, dev: dense_spmv(a, x, PES, repeats=r, device=dev),
           "dense + skip": lambda a, x, r, dev: dense_spmv(a, x, PES, zero_skip=True, repeats=r, device=dev),
           "sparse": lambda a, x, r, dev: spmv(a, x, PES, repeats=r, device=dev)}


def measure(rng: np.random.Generator, preset: str = "dev") -> list[dict]:
    """Every kernel at every density on a wafer with the figures of `preset`, sized to the block."""
    width, height = block_shape(PES)
    spec = WaferSpec.preset(preset).replace(width=width, height=height)
    rows = []
    x = rng.random(N, dtype=np.float32)
    for density in DENSITIES:
        a = sp.random_array((M, N), density=density, format="csr", dtype=np.float32, rng=rng,
                            data_sampler=lambda size: rng.uniform(0.5, 1.5, size))
        reference = a @ x
        for name, run in KERNELS.items():
            y1, one = run(a, x, 1, Device(spec))
            yr, many = run(a, x, REPEATS, Device(spec))
            for y in (y1, yr):
                assert np.allclose(y, reference, rtol=1e-5, atol=1e-5), (name, density)
            rows.append({"kernel": name, "density": density, "nnz": a.nnz,
                         "multiply_cycles": (many.cycles - one.cycles) / (REPEATS - 1),
                         "multiply_energy_j": (many.energy_j - one.energy_j) / (REPEATS - 1),
                         "launch_cycles": one.cycles, "launch_energy_j": one.energy_j})
    return rows


def table(rows: list[dict], preset: str = "dev") -> str:
    by = {(r["kernel"], r["density"]): r for r in rows}
    lines = [f"{M} x {N} float32 matrix, rows over {PES} PEs ({M // PES} rows each), `{preset}` spec figures; "
             f"multiply = one y = A @ x with A resident in SRAM; launch = one launch including loading A and x.", "",
             "| density | nonzeros | dense multiply | dense + skip | sparse multiply | dense / sparse | "
             "sparse 100% / sparse | energy dense / sparse (multiply) | launch dense / sparse (cycles) |",
             "|---|---|---|---|---|---|---|---|---|"]
    full = by[("sparse", 1.0)]["multiply_cycles"]
    for density in DENSITIES:
        d, s, z = by[("dense", density)], by[("sparse", density)], by[("dense + skip", density)]
        lines.append(f"| {density:.0%} | {s['nnz']:,} | {d['multiply_cycles']:,.0f} | {z['multiply_cycles']:,.0f} | "
                     f"{s['multiply_cycles']:,.0f} | {d['multiply_cycles'] / s['multiply_cycles']:.1f}x | "
                     f"{full / s['multiply_cycles']:.1f}x | "
                     f"{d['multiply_energy_j'] / s['multiply_energy_j']:.1f}x | "
                     f"{d['launch_cycles']:,} / {s['launch_cycles']:,} |")
    return "\n".join(lines)


SPMSPV_N, SPMSPV_WORKERS, SPMSPV_DENSITY = 1024, 32, 0.01


def measure_spmspv(rng: np.random.Generator, preset: str = "dev") -> list[dict]:
    """spmspv of one 1024 x 1024 matrix (1% dense) by vectors x of falling density: the work x triggers."""
    width, height = block_shape(SPMSPV_WORKERS)
    spec = WaferSpec.preset(preset).replace(width=width + 1, height=height)
    a = sp.random_array((SPMSPV_N, SPMSPV_N), density=SPMSPV_DENSITY, format="csr", dtype=np.float32, rng=rng)
    rows = []
    for density in DENSITIES + (0.0,):
        x = rng.uniform(0.5, 1.5, SPMSPV_N).astype(np.float32)
        x[rng.permutation(SPMSPV_N)[int(round(density * SPMSPV_N)):]] = 0.0
        y, stats = spmspv(a, x, SPMSPV_WORKERS, device=Device(spec))
        assert np.allclose(y, a @ x, rtol=1e-5, atol=1e-5), density
        rows.append({"density": density, "nnz_x": int(np.count_nonzero(x)), "cycles": stats.cycles,
                     "energy_j": stats.energy_j, "words": stats.words_moved})
    return rows


def spmspv_table(rows: list[dict], preset: str = "dev") -> str:
    base = next(r for r in rows if r["density"] == 0.0)
    lines = [f"`spmspv`: {SPMSPV_N} x {SPMSPV_N} matrix, {SPMSPV_DENSITY:.0%} dense, {SPMSPV_WORKERS} worker PEs plus "
             f"a source PE, `{preset}` figures; x's nonzeros routed along the row; \"triggered\" = cycles above the "
             f"launch with x = 0 (loading the matrix).", "",
             "| density of x | nonzeros of x | launch cycles | triggered cycles | triggered, 100% / this | "
             "words over links |", "|---|---|---|---|---|---|"]
    full = next(r for r in rows if r["density"] == 1.0)["cycles"] - base["cycles"]
    for r in rows:
        triggered = r["cycles"] - base["cycles"]
        ratio = f"{full / triggered:.1f}x" if triggered else "-"
        lines.append(f"| {r['density']:.0%} | {r['nnz_x']:,} | {r['cycles']:,} | {triggered:,} | {ratio} | "
                     f"{r['words']:,} |")
    return "\n".join(lines)


def plot(rows: list[dict], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for name in KERNELS:
        mine = [r for r in rows if r["kernel"] == name]
        dens = [100 * r["density"] for r in mine]
        left.plot(dens, [r["multiply_cycles"] for r in mine], "o-", label=name)
        right.plot(dens, [r["multiply_energy_j"] * 1e9 for r in mine], "o-", label=name)
    for axis, label in ((left, "simulated cycles per multiply"), (right, "energy per multiply (nJ)")):
        axis.set_xscale("log")
        axis.set_yscale("log")
        axis.set_xlabel("density of A (%)")
        axis.set_ylabel(label)
        axis.invert_xaxis()
        axis.grid(True, which="both", alpha=0.3)
        axis.legend()
    fig.suptitle(f"y = A @ x, {M} x {N}, {PES} PEs: dense vs zero-skipping")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", default="dev", help="preset whose figures the wafer takes (default dev)")
    parser.add_argument("--write", help="write the table as a section of this Markdown file")
    parser.add_argument("--plot", help="save the density plot here (PNG)")
    parser.add_argument("--table", help="replace the generated table in this Markdown file (docs/sparsity.md)")
    args = parser.parse_args()
    rows = measure(np.random.default_rng(0), args.spec)
    text = table(rows, args.spec) + "\n\n" + spmspv_table(measure_spmspv(np.random.default_rng(1), args.spec), args.spec)
    print(text)
    suffix = "" if args.spec == "dev" else f"-{args.spec}"
    if args.write:
        write_section(args.write, f"sparsity{suffix}", f"## Sparsity: dense vs zero-skipping y = A @ x against "
                      f"density ({args.spec})\n\n`python bench/sparsity.py --spec {args.spec}` (see "
                      f"docs/sparsity.md)\n\n" + text)
    if args.table:
        write_section(args.table, f"sparsity-table{suffix}", text)
    if args.plot:
        plot(rows, args.plot)
        Path(args.plot).stat()


if __name__ == "__main__":
    main()
