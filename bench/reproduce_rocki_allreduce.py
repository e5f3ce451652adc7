"""Reproduce Rocki et al., "Fast Stencil-Code Computation on a Wafer-Scale Processor" (SC20) on the `wse2`
preset: a whole-fabric all-reduce of one float32 per PE in about 10% more cycles than the fabric's
diameter (W - 1) + (H - 1). The paper measured a CS-1 (the first WSE): applying its ratio to the diameter
of wse2's 757 x 996 fabric is our extrapolation, not a WSE-2 measurement.

    python bench/reproduce_rocki_allreduce.py [--sizes 757x996] [--write bench/RESULTS.md]

The all-reduce here is the library's, `wsc.block_all_reduce(v, wsc.SUM, algorithm=wsc.TREE)`
(src/wafersim/collectives/trees.py): a 2-D binary tree towards the centre PE (p, q) = (W // 2, H // 2),
then the routers' multicast from it back to every PE:

1. rows: in round r, the PEs 2^r (2k + 1) PEs west of column p send their partial sum 2^r PEs east,
   the PEs 2^r (2k + 1) east of it send 2^r PEs west (binary trees from each side into column p);
2. column p: the same along the column into row q, after each PE of column p has its row's sum;
3. a broadcast from (p, q): along row q, and from each PE of it up and down its column.

The routers forward every tree message over its 2^r hops without PE instructions (one channel per round
and side). Each PE receives what its tree sends it (the rounds before its own), adds, and sends once.
The time is the launch's cycles with the all-reduce minus the same launch without it (barriers before
and after), checked against NumPy (integer-valued floats: exact).

This script first had its own kernel (roles from the host, a test of the round's number against them at
every round, each line's centre taking one side's words and then the other's). bench/RESULTS.md last
had 285, 537 and 2,090 cycles from it at 32 x 32, 128 x 128 and 757 x 996; at the commit that replaced it,
220, 472 and 2,090, and the library's tree 165, 389 and 1,909. Of that kernel's 220 at 32 x 32, 62 were
hops, 18 ramp crossings (36 cycles, the hardware model's) and 122 PE instructions and waits, which the
library's tree cuts to 67 (bench/collective_algorithms.py breaks the cycles down).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from reproduce_common import Comparison, load_script, table, write_results  # noqa: E402

import wafersim as ws  # noqa: E402
from wafersim import collectives as wsc  # noqa: E402

models = load_script("reproduce_models")


def rounds_for(width: int, height: int) -> int:
    """Rounds of the longest half-line tree: the bits of the distance from the centre to the farthest edge."""
    return wsc.tree_rounds(width, height)


@ws.jit
def allreduce(vin, out, go, rounds: ws.constant):
    x, y = ws.grid(2)
    v = vin[y, x]
    ws.syncthreads()
    if go:
        v = wsc.block_all_reduce(v, wsc.SUM, 0, wsc.TREE, rounds)  # channels 0 .. 2 rounds
    ws.syncthreads()
    out[y, x] = v


def simulated(width: int, height: int, preset: str = "wse2", **fields) -> dict:
    """Cycles of the all-reduce over a width x height block of the preset (with `fields` changed),
    checked against NumPy."""
    spec = ws.WaferSpec.preset(preset, **{**fields, "width": width, "height": height, "global_bytes_per_s": 1e18})
    R = rounds_for(width, height)
    values = np.random.default_rng(width * 7 + height).integers(-3, 4, size=(height, width)).astype(np.float32)
    cycles, wall = [], time.perf_counter()
    for go in (0, 1):
        dev = ws.Device(spec)
        d_v, d_out = dev.to_device(values), dev.device_array((height, width))
        cycles.append(allreduce[(1, 1), (width, height)](d_v, d_out, go, R).cycles)
        if go and not np.array_equal(d_out.copy_to_host(), np.full_like(values, values.sum())):
            raise AssertionError(f"all-reduce on {width} x {height} differs from NumPy")
    return {"width": width, "height": height, "cycles": float(cycles[1] - cycles[0]),
            "diameter": (width - 1) + (height - 1), "wall": time.perf_counter() - wall}


def main(argv: list[str] | None = None) -> list[Comparison]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="32x32,128x128,757x996")
    ap.add_argument("--preset", default="wse2")
    ap.add_argument("--write", type=Path)
    args = ap.parse_args(argv)
    comparisons, rows = [], []
    print(f"{'fabric':>10} {'diameter':>8} {'cycles':>8} {'cycles/diameter':>15} {'wall s':>7}")
    for size in args.sizes.split(","):
        w, h = (int(v) for v in size.split("x"))
        r = simulated(w, h, args.preset)
        rows.append(r)
        print(f"{w:>4} x {h:<4} {r['diameter']:>8} {r['cycles']:>8,.0f} {r['cycles'] / r['diameter']:>15.3f} "
              f"{r['wall']:>7.1f}", flush=True)
        comparisons.append(Comparison(f"all-reduce of one fp32 per PE, {w} x {h} PEs", r["cycles"],
                                      models.rocki_allreduce(w, h), "cycles",
                                      f"{r['cycles'] / r['diameter']:.2f} x the diameter ({r['diameter']:,} hops); "
                                      f"published: ~1.1 x"))
    print()
    print(table(comparisons))
    if args.write:
        command = "python bench/reproduce_rocki_allreduce.py " + " ".join(argv if argv is not None else sys.argv[1:])
        walls = ", ".join(f"{r['width']} x {r['height']}: {r['wall']:.0f} s" for r in rows)
        write_results("reproduce-rocki", "Reproduction: Rocki et al. SC20 (a CS-1), whole-fabric all-reduce on wse2",
                      command.strip(), table(comparisons) + f"\n\nWall time (two launches each): {walls}.\n",
                      args.write)
    return comparisons


if __name__ == "__main__":
    main()
