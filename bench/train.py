"""Training study: simulated time per step of pipelined and weight-streaming training against model size.

    python bench/train.py [--hidden 32 64 96 128 160] [--width 8 --height 8] [--preset NAME]
                          [--batch B] [--plot study.png] [--check]

For an MLP [h, h, 4] whose hidden width h grows, on a small wafer (default 8 x 8 PEs of 48 KiB, so that
the model outgrows pipelined mode's SRAM at a size the simulator runs in seconds), each mode is asked to
take one step: the table gives its simulated time split into compute, on-wafer traffic and MemoryX
streaming, or why the model does not fit. Simulated time hardly depends on the data, so one step says
what every step costs. The batch is h samples unless `--batch` says otherwise: weight streaming's
products then are square and the SUMMA kernel does no padded work (with a batch of 8 and h = 160 it
would do 20 times the useful work, see `kernels.ml.dense`). `--preset wse2` runs the same on a
WSE-2-sized wafer, where every size that can be simulated in reasonable wall time still fits pipelined
mode.

`--check` trains a small model for 50 steps in both modes and compares the loss curves with the float64
NumPy reference (`wafersim.train.reference`).
"""
from __future__ import annotations

import argparse
import time

import numpy as np

import wafersim as ws
from wafersim import train
from wafersim.train.reference import train_reference

CLASSES = 4


def one_step(model: train.Model, mode: str, spec: ws.WaferSpec, batch: int, chunk: int,
             tile: int) -> train.StepReport | str:
    """The report of one step in `mode`, or the reason the model does not fit."""
    try:
        trainer = train.Trainer(model, train.Adam(lr=0.01), batch, device=ws.Device(spec), mode=mode, chunk=chunk,
                                tile=tile)
    except (train.ModelDoesNotFitError, train.ActivationsTooLargeError, train.ModelTooLargeError) as err:
        return str(err)
    x, labels = train.synthetic_classification(batch, model.in_features, model.classes)
    return trainer.step(x, labels)


def study(hidden: list[int], spec: ws.WaferSpec, batch: int | None) -> list[tuple[int, int, dict]]:
    rows = []
    for h in hidden:
        samples = batch or h
        model = train.Model.mlp([h, h, CLASSES], activation="relu")
        # Row chunks and SUMMA tiles that keep each launch within the wafer's width.
        chunk = max(8, -(-h // spec.width))
        tile = max(8, -(-h // min(spec.width, spec.height)))
        results = {}
        for mode in ("pipelined", "streaming"):
            start = time.perf_counter()
            results[mode] = one_step(model, mode, spec, samples, chunk, tile)
            print(f"  h={h} {mode}: {time.perf_counter() - start:.1f} s wall", flush=True)
        rows.append((h, model.n_params, results))
    return rows


def table(rows, spec: ws.WaferSpec, batch: int | None) -> str:
    lines = [f"Wafer {spec.width} x {spec.height} PEs, {spec.sram_bytes} B SRAM each "
             f"({spec.n_pes * spec.sram_bytes / 2**20:.1f} MiB in all); MLP [h, h, {CLASSES}], Adam, batch "
             f"{batch or 'h'}; times in us (compute + on-wafer traffic + streaming).", "",
             "| h | weights | pipelined | weight streaming |", "|---|---|---|---|"]
    for h, n_params, results in rows:
        cells = []
        for mode in ("pipelined", "streaming"):
            r = results[mode]
            cells.append(f"does not fit ({r})" if isinstance(r, str) else
                         f"{r.total_s * 1e6:.1f} = {r.compute_s * 1e6:.1f} + {r.wafer_traffic_s * 1e6:.1f} + "
                         f"{r.streaming_s * 1e6:.1f}")
        lines.append(f"| {h} | {n_params:,} | {cells[0]} | {cells[1]} |")
    return "\n".join(lines)


def plot(rows, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for mode, marker in (("pipelined", "o"), ("streaming", "s")):
        points = [(n, r[mode].total_s * 1e6) for _, n, r in rows if not isinstance(r[mode], str)]
        if points:
            ax.plot(*zip(*points), marker=marker, label=mode)
    misfits = [n for _, n, r in rows if isinstance(r["pipelined"], str)]
    if misfits:
        ax.axvline(min(misfits), color="grey", linestyle="--", label="pipelined stops fitting")
    ax.set_xlabel("weights")
    ax.set_ylabel("simulated time per step (us)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def check(steps: int = 50) -> None:
    """Both modes against the NumPy reference over `steps` steps."""
    model = train.Model.mlp([6, 8, 3], activation="relu")
    x, labels = train.synthetic_classification(16, 6, 3, seed=1)
    for mode in ("streaming", "pipelined"):
        trainer = train.Trainer(model, train.Adam(lr=0.05), 8, mode=mode, seed=1)
        start = trainer.params
        losses = [r.loss for r in trainer.fit(x, labels, steps)]
        reference, _ = train_reference(model, start, train.Adam(lr=0.05), x, labels, steps, 8)
        worst = float(np.max(np.abs(np.array(losses) - reference)))
        print(f"{mode}: loss {losses[0]:.4f} -> {losses[-1]:.4f} over {steps} steps; "
              f"largest difference from NumPy {worst:.2e}")
        assert worst < 1e-4 * max(1.0, max(reference))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", type=int, nargs="+", default=[32, 64, 96, 128, 160])
    parser.add_argument("--width", type=int, default=8)
    parser.add_argument("--height", type=int, default=8)
    parser.add_argument("--preset", help="a WaferSpec preset instead of --width/--height (e.g. wse2)")
    parser.add_argument("--batch", type=int, help="samples a step (default: h, square products)")
    parser.add_argument("--plot", help="write a PNG of time per step against model size here")
    parser.add_argument("--check", action="store_true", help="50 steps of both modes against NumPy")
    args = parser.parse_args()
    if args.check:
        check()
        return
    spec = ws.WaferSpec.preset(args.preset) if args.preset else ws.WaferSpec(width=args.width, height=args.height)
    rows = study(args.hidden, spec, args.batch)
    print(table(rows, spec, args.batch))
    if args.plot:
        plot(rows, args.plot)
        print(f"wrote {args.plot}")


if __name__ == "__main__":
    main()
