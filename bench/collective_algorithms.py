"""The block all-reduce's two algorithms on the `wse2` preset: the chains (`algorithm=wsc.CHAIN`, rows then
the first column, then a multicast back) against the tree (`wsc.TREE`, collectives/trees.py: a binary
tree to the centre over routed channels, then a multicast; bench/reproduce_rocki_allreduce.py's), the
block's diameter and Rocki et al.'s ~1.1 x the diameter.

    python bench/collective_algorithms.py [--sizes 32x32,128x128,256x256,757x996] [--write bench/RESULTS.md]

Each figure is the launch's cycles with the collective less the same launch without it (barriers before
and after), its result checked against NumPy (integer-valued float32: exact in any order). Where the
cycles go: one more cycle of `hop_latency` adds the hops on the critical path, one more of
`ramp_latency` the ramp crossings on it (each PE-to-router or router-to-PE step); the rest is PE time
(instructions, waits for words that are not yet there) and the barrier's skew.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

import wafersim as ws
from wafersim import collectives as wsc
from wafersim.tools.results import machine, write_section

ARRAY = 4  # words of the short-array all-reduce (as single-reduction CG's few dot products)
CASES = {  # name: (kernel's `which`, algorithm)
    "all-reduce, chains": (0, wsc.CHAIN), "chains to the centre": (2, wsc.CHAIN), "all-reduce, tree": (0, wsc.TREE),
    f"{ARRAY} words, chains": (1, wsc.CHAIN), f"{ARRAY} words, chains to the centre": (3, wsc.CHAIN),
    f"{ARRAY} words, tree": (1, wsc.TREE), "broadcast from a corner": (4, wsc.CHAIN),
}
# ("chains to the centre": block_reduce to (bx // 2, by // 2), then block_broadcast from it, as the solvers'
# block sums do, kernels/solvers/columns.py: chains half as long, two-sided.)


@ws.jit
def kernel(values, out, go, which: ws.constant, algorithm: ws.constant, rounds: ws.constant):
    x, y = ws.grid(2)
    v = values[y, x]
    a = ws.local.array(ARRAY, np.float32)
    part = ws.local.array(ARRAY, np.float32)
    for k in range(ARRAY):
        a[k] = v + k
    ws.syncthreads()
    if go:
        cx, cy = ws.blockDim.x // 2, ws.blockDim.y // 2
        if which == 0:
            v = wsc.block_all_reduce(v, wsc.SUM, 0, algorithm, rounds)
        elif which == 1:
            wsc.block_all_reduce_array(a, part, wsc.SUM, 0, algorithm, rounds)
            v = a[ARRAY - 1] - (ARRAY - 1) * ws.blockDim.x * ws.blockDim.y
        elif which == 2:
            v = wsc.block_broadcast(wsc.block_reduce(v, cx, cy, wsc.SUM, 0), cx, cy, 2)
        elif which == 3:
            wsc.block_reduce_array(a, part, cx, cy, wsc.SUM, 0)
            wsc.block_broadcast_array(a, cx, cy, 2)
            v = a[ARRAY - 1] - (ARRAY - 1) * ws.blockDim.x * ws.blockDim.y
        else:
            v = wsc.block_broadcast(v, 0, 0, 2)
    ws.syncthreads()
    out[y, x] = v


def cycles(width: int, height: int, case: str, **fields) -> float:
    """Cycles of one collective over a width x height block of wse2 (with `fields` changed)."""
    which, algorithm = CASES[case]
    spec = ws.WaferSpec.preset("wse2", **{**fields, "width": width, "height": height, "global_bytes_per_s": 1e18})
    values = np.random.default_rng(width + 7 * height).integers(-3, 4, (height, width)).astype(np.float32)
    got = []
    for go in (0, 1):
        dev = ws.Device(spec)
        out = dev.device_array((height, width))
        got.append(kernel[(1, 1), (width, height)](dev.to_device(values), out, go, which, algorithm,
                                                   wsc.tree_rounds(width, height)).cycles)
    result = out.copy_to_host()
    expected = values[0, 0] if which == 4 else values.sum()
    if not np.array_equal(result, np.full_like(values, expected)):
        raise AssertionError(f"{case} on {width} x {height} differs from NumPy")
    return float(got[1] - got[0])


def breakdown(width: int, height: int, case: str, base: float) -> str:
    hops = cycles(width, height, case, hop_latency=2) - base
    ramps = cycles(width, height, case, ramp_latency=3) - base
    return f"{hops:,.0f} hops + {ramps:,.0f} ramps x 2 + {base - hops - 2 * ramps:,.0f} PE"


def main(argv: list[str] | None = None) -> str:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="32x32,128x128,256x256,757x996")
    ap.add_argument("--write", type=Path)
    args = ap.parse_args(argv)
    lines = ["| block | diameter | Rocki et al. (1.1 x diameter) | " + " | ".join(CASES) + " |",
             "|---|---|---|" + "---|" * len(CASES)]
    notes, walls = [], []
    for size in args.sizes.split(","):
        w, h = (int(v) for v in size.split("x"))
        start = time.perf_counter()
        diameter = (w - 1) + (h - 1)
        got = {case: cycles(w, h, case) for case in CASES}
        lines.append(f"| {w} x {h} | {diameter:,} | {1.1 * diameter:,.0f} | "
                     + " | ".join(f"{got[c]:,.0f}" for c in CASES) + " |")
        for case in ("all-reduce, chains", "chains to the centre", "all-reduce, tree"):
            notes.append(f"- {w} x {h}, {case}: {got[case]:,.0f} = {breakdown(w, h, case, got[case])}")
        walls.append(f"{w} x {h}: {time.perf_counter() - start:.0f} s")
        print(*(lines[:2] if len(lines) == 3 else []), lines[-1], *notes[-3:], sep="\n", flush=True)
    body = "\n".join(lines) + "\n\nWhere the cycles go (one more cycle a hop, a ramp crossing):\n\n" + "\n".join(notes)
    body += f"\n\nWall time: {', '.join(walls)}.\n"
    if args.write:
        command = "python bench/collective_algorithms.py " + " ".join(argv if argv is not None else sys.argv[1:])
        write_section(args.write, "collective-algorithms",
                      f"## Block all-reduce: chains against the tree (wse2)\n\n`{command.strip()}` on {machine()}.\n\n"
                      + body)
    return body


if __name__ == "__main__":
    main()
