"""Scaling study of data-parallel training on a cluster of wafers (`wafersim.cluster`).

    python bench/cluster.py [--full 16] [--batch 32] [--hidden 64] [--ray-systems 8]
                            [--write docs/cluster.md] [--results bench/RESULTS.md] [--plot docs/cluster_scaling.png]

An MLP [h, h, 4] (h = 64) trains with Adam, weight streaming, each system on a wafer just large enough
for it (`train.default_device`). For n = 1 .. 192 systems it reports the simulated time of a step and the
speed-up over one system, against the ideal (n):

- **weak scaling** (as Cerebras reports cluster scaling): each system keeps a share of `--batch` samples,
  the batch grows with n; speed-up = throughput(n) / throughput(1);
- **strong scaling**: a batch of 192 samples split over n systems; speed-up = time(1) / time(n);

each under four SwarmX trees: our default (links at MemoryX's 1.2e12 B/s, 1 us a level, fan-out 4), links at
the CS-2's public 1.2 Tb/s (150e9 B/s), links a hundred times slower still (1.5e9 B/s, to show what a
bandwidth-bound tree does), and no per-level latency.

**How the points are produced.** Up to `--full` systems every system is simulated on its own wafer (the
local backend). A system's simulated time hardly depends on its data (a cycle or two of data-dependent
branches), so a larger point is one system simulated with the same share plus the tree's formula for n
systems (`cluster.tree_seconds`); at every fully simulated point the study measures how far this
projection is from the full simulation, and prints the largest deviation. Strong scaling uses the projection throughout
(one system per share size). `--ray-systems` systems also train two steps on the `ray` backend with 1 and 2
local workers, timing the simulation itself (wall clock), with the local backend beside them.
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np

from wafersim import cluster, train
from wafersim.tools.results import machine, write_section

SYSTEMS = [1, 2, 4, 8, 16, 32, 64, 128, 192]
STRONG_SYSTEMS = [1, 2, 4, 8, 16, 32, 64, 96, 192]  # divisors of the strong-scaling batch
STRONG_BATCH = 192
TREES = {
    "default": cluster.SwarmXSpec(),
    "CS-2 links (150 GB/s)": cluster.SwarmXSpec(link_bandwidth_bytes_per_s=cluster.swarmx.CS2_IO_BYTES_PER_S),
    "links at 1.5 GB/s": cluster.SwarmXSpec(link_bandwidth_bytes_per_s=1.5e9),  # bandwidth-bound, to show it
    "no level latency": cluster.SwarmXSpec(level_latency_s=0.0),
}
CLASSES = 4


def model_and_data(hidden: int, samples: int) -> tuple[train.Model, np.ndarray, np.ndarray]:
    model = train.Model.mlp([hidden, hidden, CLASSES], activation="relu")
    x, labels = train.synthetic_classification(samples, hidden, CLASSES, seed=3)
    return model, x, labels


def one_step(model, x, labels, n: int, batch: int, backend: str = "local", workers: int | None = None,
             steps: int = 1) -> cluster.ClusterStepReport:
    """The last of `steps` steps of `n` systems on a batch of `batch` samples."""
    with cluster.Cluster(n, None, backend=backend, workers=workers) as c:
        trainer = c.trainer(model, train.Adam(lr=0.01), batch_size=batch)
        return trainer.fit(x[:batch * steps], labels[:batch * steps], steps=steps)[-1]


def projected(report: cluster.ClusterStepReport, n: int, tree: cluster.SwarmXSpec) -> float:
    """A step of n systems doing what `report`'s slowest system did, through the tree for n."""
    broadcast, reduce = cluster.tree_seconds(cluster.SwarmXTree(n, tree), report.transfers)
    return max(report.system_busy_s) + broadcast + reduce


def weak_scaling(hidden: int, share: int, full: int) -> tuple[list[dict], cluster.ClusterStepReport, float, float]:
    """The weak-scaling rows, the one-system step they are projected from, the largest relative deviation
    of a projection from a full simulation, and the largest spread of the systems' own times (s)."""
    model, x, labels = model_and_data(hidden, share * max(SYSTEMS))
    base = one_step(model, x, labels, 1, share)
    rows, deviation, spread = [], 0.0, 0.0
    for n in SYSTEMS:
        simulated = None
        if n <= full:
            start = time.perf_counter()
            report = one_step(model, x, labels, n, share * n)
            simulated = report.total_s
            deviation = max(deviation, abs(projected(base, n, TREES["default"]) / simulated - 1))
            spread = max(spread, max(report.system_busy_s) - min(report.system_busy_s))
            print(f"  weak, {n} systems simulated in full: {time.perf_counter() - start:.1f} s wall", flush=True)
        times = {name: projected(base, n, tree) for name, tree in TREES.items()}
        rows.append({"n": n, "simulated": simulated, "times": times,
                     "levels": cluster.SwarmXTree(n).levels,
                     "speedup": {name: n * times_1 / times[name] for name, times_1 in
                                 ((k, projected(base, 1, t)) for k, t in TREES.items())}})
    return rows, base, deviation, spread


def strong_scaling(hidden: int) -> list[dict]:
    model, x, labels = model_and_data(hidden, STRONG_BATCH)
    rows, first = [], None
    for n in STRONG_SYSTEMS:
        start = time.perf_counter()
        report = one_step(model, x, labels, 1, STRONG_BATCH // n)  # one system with the share of n
        times = {name: projected(report, n, tree) for name, tree in TREES.items()}
        first = first or times
        rows.append({"n": n, "share": STRONG_BATCH // n, "busy": max(report.system_busy_s), "times": times,
                     "speedup": {name: first[name] / times[name] for name in TREES}})
        print(f"  strong, share {STRONG_BATCH // n}: {time.perf_counter() - start:.1f} s wall", flush=True)
    return rows


def ray_wall_times(hidden: int, share: int, systems: int) -> list[tuple]:
    """(backend, first step's wall s, second step's wall s, the second step's CPU s in the systems, simulated
    us of the step, systems, load average before, after) of `systems` systems: local, then ray with 1 and 2
    workers on a local Ray of two CPUs."""
    import ray

    model, x, labels = model_and_data(hidden, share * systems * 2)
    out = []
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        for backend, workers in (("local", None), ("ray", 1), ("ray", 2)):
            load = os.getloadavg()[0]
            with cluster.Cluster(systems, None, backend=backend, workers=workers) as c:
                start = time.perf_counter()
                trainer = c.trainer(model, train.Adam(lr=0.01), batch_size=share * systems)
                first = trainer.step(x[:share * systems], labels[:share * systems])
                middle = time.perf_counter()
                second = trainer.step(x[share * systems:], labels[share * systems:])
                end = time.perf_counter()
            assert first.total_s == second.total_s
            label = "local" if backend == "local" else f"ray, {workers} worker{'s' if workers > 1 else ''}"
            out.append((label, middle - start, end - middle, second.host_cpu_s, second.total_s * 1e6, systems, load,
                        os.getloadavg()[0]))
            print(f"  {label}: {middle - start:.1f} s + {end - middle:.1f} s wall, second step "
                  f"{second.host_cpu_s:.1f} CPU s", flush=True)
    finally:
        ray.shutdown()
    return out


def report_text(hidden: int, share: int, full: int, weak: list[dict], base, deviation: float, spread: float,
                strong: list[dict], walls: list[tuple] | None) -> str:
    us = 1e6
    busy = max(base.system_busy_s) * us
    names = list(TREES)
    wafer = train.default_device(model_and_data(hidden, 1)[0], share).spec
    # A cycle is 1.18 ns at the default 0.85 GHz (0.91 ns at 1.1 GHz): a spread under 0.5 ns is none at all.
    why = ("(a cycle or two of data-dependent branches)" if spread >= 0.5e-9
           else "(identical: no branch's timing depended on the data)")
    lines = [f"MLP [{hidden}, {hidden}, {CLASSES}], Adam, weight streaming, each system a wafer of "
             f"{wafer.width} x {wafer.height} PEs (just large enough); {len(base.transfers)} tensor transfers a step. "
             f"Machine: {machine()}. `python bench/cluster.py --full {full} --batch {share} --hidden {hidden}`.", "",
             f"**Weak scaling** ({share} samples a system; one system's compute + wafer traffic = {busy:.2f} us). "
             f"Simulated time a step (us) and speed-up in samples/s over one system; points up to {full} systems "
             f"simulated in full (every system on its own wafer), larger ones projected from one system. The "
             f"systems' own times differ with their data by at most {spread * 1e9:.1f} ns {why}; a projection "
             f"differs from the full simulation by at most {deviation * 100:.4f}%:", "",
             "| systems | tree levels | step, default tree | speed-up: default | CS-2 links (150 GB/s) | "
             "links at 1.5 GB/s | no level latency | ideal |",
             "|---|---|---|---|---|---|---|---|"]
    for row in weak:
        how = "" if row["simulated"] is not None else " (projected)"
        lines.append(f"| {row['n']} | {row['levels']} | {row['times']['default'] * us:.2f}{how} | "
                     + " | ".join(f"{row['speedup'][name]:.1f}" for name in names) + f" | {row['n']} |")
    lines += ["", f"**Strong scaling** (a batch of {STRONG_BATCH} split over the systems; projected from one "
              "system with each share). Simulated time a step (us) and speed-up over one system:", "",
              "| systems | share | one system's compute + traffic | step, default tree | speed-up: default | "
              "CS-2 links | links at 1.5 GB/s | no level latency | ideal |", "|---|---|---|---|---|---|---|---|---|"]
    for row in strong:
        lines.append(f"| {row['n']} | {row['share']} | {row['busy'] * us:.2f} | {row['times']['default'] * us:.2f} | "
                     + " | ".join(f"{row['speedup'][name]:.2f}" for name in names) + f" | {row['n']} |")
    if walls:
        lines += ["", f"**Wall time of the simulation** ({walls[0][5]} systems, two steps; the first includes "
                  "starting the systems, and for Ray its actors' processes and their kernel compilation; Ray "
                  "started with 2 CPUs; CPU s: the systems' own CPU time in the second step; the machine's load "
                  f"average over the runs: {walls[0][6]:.1f} before, {walls[-1][7]:.1f} after):", "",
                  "| backend | first step, wall (s) | second step, wall (s) | second step, CPU (s) | "
                  "simulated step (us) |", "|---|---|---|---|---|"]
        lines += [f"| {label} | {a:.1f} | {b:.1f} | {cpu:.1f} | {sim:.2f} |" for label, a, b, cpu, sim, *_ in walls]
    return "\n".join(lines)


def plot(weak: list[dict], strong: list[dict], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.4))
    styles = dict(zip(TREES, ("o-", "s:", "v-.", "^-")))
    for ax, rows, title in ((axes[0], weak, "weak scaling (fixed share a system)"),
                            (axes[2], strong, f"strong scaling (batch of {STRONG_BATCH})")):
        n = [row["n"] for row in rows]
        ax.plot(n, n, "k--", label="ideal")
        for name, style in styles.items():
            ax.plot(n, [row["speedup"][name] for row in rows], style, label=f"SwarmX: {name}")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log", base=2)
        ax.set_ylabel("speed-up over one system")
        ax.set_title(title)
    n = [row["n"] for row in weak]
    for name, style in styles.items():
        axes[1].plot(n, [row["speedup"][name] / row["n"] for row in weak], style, label=f"SwarmX: {name}")
    for k in range(1, 5):  # where the tree gains a level (fan-out 4)
        axes[1].axvline(4 ** (k - 1) + 1, color="grey", lw=0.6, ls=":")
    axes[1].set_xscale("log", base=2)
    axes[1].set_ylim(0, 1.05)
    axes[1].set_ylabel("efficiency (speed-up / systems)")
    axes[1].set_title("weak scaling: efficiency (dotted: the tree gains a level)")
    for ax in axes:
        ax.set_xlabel("systems")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--full", type=int, default=16, help="simulate every system up to this many systems")
    parser.add_argument("--batch", type=int, default=32, help="samples a system (weak scaling)")
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--ray-systems", type=int, default=8, help="systems of the Ray wall-time runs (0: none)")
    parser.add_argument("--ray-only", action="store_true", help="only the wall-time runs (print, write nothing)")
    parser.add_argument("--write", help="Markdown file whose 'cluster-scaling' section gets the tables")
    parser.add_argument("--results", help="bench/RESULTS.md: its 'cluster' section gets the tables too")
    parser.add_argument("--plot", help="PNG of speed-up against systems")
    args = parser.parse_args()
    if args.ray_only:
        for row in ray_wall_times(args.hidden, args.batch, args.ray_systems):
            print(row)
        return
    weak, base, deviation, spread = weak_scaling(args.hidden, args.batch, args.full)
    strong = strong_scaling(args.hidden)
    walls = ray_wall_times(args.hidden, args.batch, args.ray_systems) if args.ray_systems else None
    text = report_text(args.hidden, args.batch, args.full, weak, base, deviation, spread, strong, walls)
    print(text)
    if args.write:
        write_section(args.write, "cluster-scaling", text)
    if args.results:
        write_section(args.results, "cluster", "## Clusters of wafers (bench/cluster.py)\n\n" + text)
    if args.plot:
        plot(weak, strong, args.plot)


if __name__ == "__main__":
    main()
