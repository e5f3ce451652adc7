"""Reproduce Jacquelin, Araya-Polo and Meng, "Massively scalable stencil algorithm" (SC22) on the `wse2`
preset: the 25-point 3-D wave-equation stencil (`wafersim.kernels.stencil25`), one Z column of nz = 1000
float32 cells per PE, microseconds per time step, and flat weak scaling across grid sizes.

    python bench/reproduce_jacquelin_stencil.py [--nz 1000] [--sizes 9x9,36x36,755x9]
                                                [--full] [--write bench/RESULTS.md]

Published (section V.B): 76.1 us per time step on 755 x 994 PEs with nz = 1000 (Table II: 0.0761 s for
1,000 steps on a CS-2), near-perfect weak scaling (over 98% of ideal from 200 x 200 PEs, Figure 9).

Two kernels: the columns relayed PE to PE by neighbour sends, and the paper's "localized broadcasts"
(each column handed to the router once per direction and multicast to the next four PEs).

Per step = (cycles of 3 steps - cycles of 1 step) / 2, with barriers around the time loop and the
off-wafer bandwidth lifted, so loading and storing the columns do not count.
Every PE at least four PEs from the edge does the same work, so the per-step time of any grid at least
9 x 9 is the full wafer's in this model; the script shows it stays flat from 9 x 9 to a full-width
strip. The full 755 x 994 launch (`--full`) needs ~8,000 words of SRAM state per PE in the simulator,
about 24 GB plus FIFOs on the host: run it on a machine that has the memory (the simulator refuses a
launch that would not fit, before allocating). Every run is checked against the NumPy reference.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from reproduce_common import Comparison, table, write_results  # noqa: E402

import wafersim as ws  # noqa: E402
from wafersim.kernels import stencil25 as st  # noqa: E402

PUBLISHED_US = 76.1  # Jacquelin et al., SC22, Table II: 755 x 994 PEs, nz = 1000, 0.0761 s / 1,000 steps
PUBLISHED_GRID = (755, 994)
OTHER_CLOCK_HZ = 1.1e9  # the core clock of Lie, Hot Chips 34 (2022), for the other reading


def per_step(nx: int, ny: int, nz: int, preset: str = "wse2", check: bool = True, routed: bool = False) -> dict:
    """Simulated cycles per step on an nx x ny grid with the preset's figures, checked against NumPy;
    `routed`: the kernel with localized broadcasts instead of relays."""
    # The per-step figure leaves out loading and storing the columns. A launch cannot end before all its
    # off-wafer bytes have passed `global_bytes_per_s`, which at nz = 1000 outlasts several steps, so the
    # measurement lifts that bandwidth (the time loop never touches off-wafer memory: nothing else changes).
    spec = ws.WaferSpec.preset(preset, width=nx, height=ny, global_bytes_per_s=1e18)
    rng = np.random.default_rng(1)
    u_prev = rng.standard_normal((ny, nx, nz), dtype=np.float32)
    u = rng.standard_normal((ny, nx, nz), dtype=np.float32)
    vp = np.full((ny, nx, nz), 0.01, np.float32)
    cycles, wall = {}, 0.0
    for steps in (1, 3):
        start = time.perf_counter()
        out, stats = st.stencil25(u_prev, u, vp, steps, device=ws.Device(spec), routed=routed)
        wall += time.perf_counter() - start
        cycles[steps] = stats.cycles
        if check and not np.array_equal(out, st.stencil25_reference(u_prev, u, vp, steps, routed=routed)):
            raise AssertionError(f"stencil25 on {nx} x {ny} x {nz}, {steps} steps differs from NumPy")
    step = (cycles[3] - cycles[1]) / 2
    return {"nx": nx, "ny": ny, "cycles": step, "us": spec.seconds(step) * 1e6, "wall": wall,
            "clock_hz": spec.clock_hz, "kernel": "routed" if routed else "relay"}


def main(argv: list[str] | None = None) -> list[Comparison]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nz", type=int, default=1000)
    ap.add_argument("--sizes", default="9x9,36x36,755x9")
    ap.add_argument("--full", action="store_true", help="also run the published 755 x 994 grid")
    ap.add_argument("--preset", default="wse2")
    ap.add_argument("--write", type=Path, help="write the table into this results file's section")
    args = ap.parse_args(argv)
    sizes = [tuple(int(v) for v in s.split("x")) for s in args.sizes.split(",") if s]
    if args.full:
        sizes.append(PUBLISHED_GRID)
    rows = []
    print(f"{'kernel':>7} {'grid':>10} {'PEs':>8} {'cycles/step':>12} {'us/step':>9} {'us @1.1GHz':>10} {'wall s':>7}")
    for routed in (False, True):
        for nx, ny in sizes:
            r = per_step(nx, ny, args.nz, args.preset, routed=routed)
            rows.append(r)
            print(f"{r['kernel']:>7} {nx:>4} x {ny:<4} {nx * ny:>8,} {r['cycles']:>12,.0f} {r['us']:>9.1f} "
                  f"{r['cycles'] / OTHER_CLOCK_HZ * 1e6:>10.1f} {r['wall']:>7.1f}", flush=True)
    comparisons = []
    for kernel, how in (("relay", "columns relayed by neighbour sends"),
                        ("routed", "localized broadcasts on 20 routed channels")):
        mine = [r for r in rows if r["kernel"] == kernel]
        steps = [r["cycles"] for r in mine]
        widest = max(mine, key=lambda r: r["nx"] * r["ny"])
        other_us = widest["cycles"] / OTHER_CLOCK_HZ * 1e6
        comparisons += [
            Comparison(f"us per step, nz = {args.nz}, {how} (grid {widest['nx']} x {widest['ny']}; published "
                       f"755 x 994)", widest["us"], PUBLISHED_US, "us",
                       f"at {widest['clock_hz'] / 1e9:g} GHz; {other_us:.1f} us at 1.1 GHz (ratio "
                       f"{other_us / PUBLISHED_US:.3f})"),
            Comparison(f"weak scaling, {kernel}: slowest / fastest per-step time over the grids",
                       max(steps) / min(steps), 1.0, "", "published: near-perfect weak scaling"),
        ]
    print()
    print(table(comparisons))
    if args.write:
        grid_rows = "\n".join(f"| {r['kernel']} | {r['nx']} x {r['ny']} | {r['nx'] * r['ny']:,} | {r['cycles']:,.0f} | "
                              f"{r['us']:.1f} | {r['wall']:.1f} |" for r in rows)
        body = (table(comparisons) + "\n\n| kernel | grid | PEs | cycles per step | us per step | "
                "wall s (2 launches) |\n|---|---|---|---|---|---|\n" + grid_rows + "\n")
        command = "python bench/reproduce_jacquelin_stencil.py " + " ".join(argv if argv is not None else sys.argv[1:])
        write_results("reproduce-jacquelin", "Reproduction: Jacquelin et al. SC22, 25-point stencil on wse2",
                      command.strip(), body, args.write)
    return comparisons


if __name__ == "__main__":
    main()
