"""Defect study: what dead PEs cost a wafer-scale kernel, and how many spares keep the mesh whole.

For the `wse2` preset and defect rates from 0 to 1% (each physical PE dead independently, one seed):

- the spare budget at which the logical 757 x 996 mesh stays whole: the fewest spare columns that
  cover the defects with no spare rows, and the fewest columns, then rows, with up to `--spare-rows`;
- the usable rectangle with a fixed small budget (`--fixed-cols` columns, `--spare-rows` rows);
- with the smallest whole budget, the simulated cycles of the heat stencil (`wafersim.kernels.heat`,
  one 757 x 996 block, `--steps` steps), of a whole-wafer all-reduce (`wafersim.kernels.reduce`), and
  of the same all-reduce on the fabric alone (`--rounds` all-reduces of values made in place, one PE
  stores the result: no off-wafer traffic to hide the fabric's latency), against a perfect wafer:
  results must be bit-identical, only cycles move.

    .venv/bin/python bench/defects.py --write docs/defects.md --plot docs/defects_study.png

rewrites the table between the study markers of docs/defects.md and the plot (a few minutes on 2 cores).
"""
from __future__ import annotations

import argparse
import re
import time
from pathlib import Path

import numpy as np

import wafersim as ws
from wafersim.kernels import heat as heat_lib
from wafersim.kernels import reduce as reduce_lib
from wafersim.kernels.reduce import allreduce

SUM = reduce_lib.SUM  # a module constant: the compiler folds it (allreduce's op is compile-time)

RATES = (0.0, 0.001, 0.0025, 0.005, 0.0075, 0.01)
BEGIN, END = "<!-- defect study: begin -->", "<!-- defect study: end -->"


def smallest_whole_budget(base: ws.WaferSpec, rate: float, seed: int, max_spare_rows: int) -> ws.WaferSpec:
    """The spec with the fewest spare columns, then the fewest spare rows (at most `max_spare_rows`),
    whose repair covers the whole mesh (each budget draws its own map: the physical array changes)."""
    for cols in range(0, base.width):
        for rows in range(max_spare_rows + 1):
            spec = base.replace(spare_cols=cols, spare_rows=rows, defect_rate=rate, defect_seed=seed)
            if spec.repair() is not None:
                return spec
    raise RuntimeError(f"no spare budget covers rate {rate}")


@ws.jit
def fabric_allreduce(out, rounds):
    """`rounds` all-reduces over the block with no off-wafer traffic but one word: latency-bound."""
    x, y = ws.grid(2)
    acc = 0.0
    for r in range(rounds):
        acc += allreduce(float(x % 7 + y % 5 + r), SUM)
    if x == 0 and y == 0:
        out[0] = acc


def run_kernels(spec: ws.WaferSpec, field: np.ndarray, values: np.ndarray, steps: int, rounds: int) -> dict:
    """Heat, all-reduce and the fabric-only all-reduce on devices of `spec`: results and LaunchStats."""
    heat_out, heat_stats = heat_lib.heat(field, 0.1, steps, device=ws.Device(spec))
    block = (spec.width, spec.height)
    reduce_out, reduce_stats = reduce_lib.block_allreduce(values, "sum", block=block, device=ws.Device(spec))
    device = ws.Device(spec)
    d_out = device.device_array(1, np.float32)
    fabric_stats = fabric_allreduce[(1, 1), block](d_out, rounds)
    return {"heat": (heat_out, heat_stats), "allreduce": (reduce_out, reduce_stats),
            "fabric": (d_out.copy_to_host(), fabric_stats)}


def study(args) -> list[dict]:
    base = ws.WaferSpec.preset(args.preset)
    rng = np.random.default_rng(1)
    field = rng.random((base.height, base.width), dtype=np.float32)
    values = rng.random((base.height, base.width), dtype=np.float32)
    t0 = time.perf_counter()
    perfect = run_kernels(base, field, values, args.steps, args.rounds)
    print(f"perfect wafer: " + ", ".join(f"{name} {stats.cycles:,} cycles" for name, (_, stats) in perfect.items())
          + f" ({time.perf_counter() - t0:.0f} s)", flush=True)
    rows = []
    for rate in args.rates:
        t0 = time.perf_counter()
        no_rows = smallest_whole_budget(base, rate, args.seed, 0)
        spec = smallest_whole_budget(base, rate, args.seed, args.spare_rows)
        fixed = base.replace(spare_cols=args.fixed_cols, spare_rows=args.spare_rows, defect_rate=rate,
                             defect_seed=args.seed)
        runs = run_kernels(spec, field, values, args.steps, args.rounds)
        row = {"rate": rate, "dead": spec.n_dead, "cols_no_rows": no_rows.spare_cols, "cols": spec.spare_cols,
               "rows": spec.spare_rows,
               "spare_fraction": 1 - base.n_pes / (spec.physical_width * spec.physical_height),
               "fixed_usable": fixed.usable_rectangle, "fixed_dead": fixed.n_dead}
        for name, (out, stats) in runs.items():
            reference_out, reference = perfect[name]
            if not np.array_equal(out, reference_out):
                raise AssertionError(f"{name} at defect rate {rate}: results differ from the perfect wafer")
            row[name] = stats.cycles
            row[name + "_slowdown"] = stats.cycles / reference.cycles - 1
            row[name + "_detour"] = stats.detour_word_hops
        rows.append(row)
        print(f"rate {rate:.2%}: {row} ({time.perf_counter() - t0:.0f} s)", flush=True)
    return rows, perfect


def table(rows: list[dict], perfect: dict, args) -> str:
    head = (f"| defect rate | dead PEs (whole budget with spare rows) | smallest whole budget: spare columns with 0 spare rows; columns + rows "
            f"with up to {args.spare_rows} | spare PEs of that budget | usable rectangle with {args.fixed_cols} "
            f"columns + {args.spare_rows} rows | heat cycles ({args.steps} steps) | heat slowdown | all-reduce cycles "
            f"| all-reduce slowdown | fabric all-reduce cycles ({args.rounds} rounds) | fabric slowdown |")
    lines = [head, "|" + "---|" * 11]
    for r in rows:
        usable = r["fixed_usable"]
        lines.append(f"| {r['rate']:.2%} | {r['dead']:,} | {r['cols_no_rows']}; {r['cols']} + {r['rows']} | {r['spare_fraction']:.2%} "
                     f"| {usable[0]} x {usable[1]} | {r['heat']:,} | {r['heat_slowdown']:+.2%} | {r['allreduce']:,} "
                     f"| {r['allreduce_slowdown']:+.2%} | {r['fabric']:,} | {r['fabric_slowdown']:+.2%} |")
    lines.append(f"\nPerfect wafer (no spares): heat {perfect['heat'][1].cycles:,} cycles, all-reduce "
                 f"{perfect['allreduce'][1].cycles:,}, fabric all-reduce {perfect['fabric'][1].cycles:,}. Seed "
                 f"{args.seed}; every run's results are bit-identical to the perfect wafer's.")
    return "\n".join(lines)


def plot(rows: list[dict], base: ws.WaferSpec, args) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rates = [100 * r["rate"] for r in rows]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4), layout="constrained")
    left.plot(rates, [100 * r["heat_slowdown"] for r in rows], "o-", label=f"heat stencil ({args.steps} steps)")
    left.plot(rates, [100 * r["allreduce_slowdown"] for r in rows], "s-", label="all-reduce (sum), from memory")
    left.plot(rates, [100 * r["fabric_slowdown"] for r in rows], "^-", label=f"all-reduce on the fabric alone "
              f"({args.rounds} rounds)")
    left.set_xlabel("defect rate (% of physical PEs dead)")
    left.set_ylabel("slowdown vs a perfect wafer (%)")
    left.set_title(f"{base.name}: simulated cycles, smallest whole spare budget")
    left.legend()
    area = [100 * r["fixed_usable"][0] * r["fixed_usable"][1] / base.n_pes for r in rows]
    right.plot(rates, area, "o-", color="tab:red",
               label=f"usable area, {args.fixed_cols} spare col + {args.spare_rows} spare rows")
    right.set_xlabel("defect rate (% of physical PEs dead)")
    right.set_ylabel("usable rectangle (% of the logical mesh)", color="tab:red")
    twin = right.twinx()
    twin.plot(rates, [r["cols"] for r in rows], "s--", color="tab:blue",
              label=f"spare columns to stay whole (up to {args.spare_rows} spare rows)")
    twin.set_ylabel("spare columns needed", color="tab:blue")
    right.set_title("usable rectangle and spares needed")
    handles = right.get_legend_handles_labels()[0] + twin.get_legend_handles_labels()[0]
    right.legend(handles=handles, loc="center left", fontsize="small")
    Path(args.plot).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.plot, dpi=100)
    plt.close(fig)


def write_table(path: str, text: str) -> None:
    """Replace the text between the study markers of `path`."""
    doc = Path(path).read_text()
    pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.S)
    if not pattern.search(doc):
        raise SystemExit(f"{path} has no '{BEGIN}' ... '{END}' markers")
    Path(path).write_text(pattern.sub(lambda _: f"{BEGIN}\n{text}\n{END}", doc))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="wse2")
    parser.add_argument("--steps", type=int, default=20, help="heat steps per launch")
    parser.add_argument("--rounds", type=int, default=4, help="all-reduces of the fabric-only kernel")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--spare-rows", type=int, default=8)
    parser.add_argument("--fixed-cols", type=int, default=2)
    parser.add_argument("--rates", type=float, nargs="+", default=list(RATES))
    parser.add_argument("--plot", help="a PNG to draw the study into (docs/defects_study.png for the docs; none "
                        "unless given, so a trial run at another preset or rate leaves the docs' plot alone)")
    parser.add_argument("--write", help="a markdown file whose study markers get the table")
    args = parser.parse_args(argv)
    rows, perfect = study(args)
    text = table(rows, perfect, args)
    print(text)
    if args.plot:
        plot(rows, ws.WaferSpec.preset(args.preset), args)
    if args.write:
        write_table(args.write, text)


if __name__ == "__main__":
    main()
