"""Training study: simulated time per step of pipelined and weight-streaming training against model size.

    python bench/train.py [--preset wse2] [--hidden 32 64 ...] [--batch 8] [--pipeline-height 16]
                          [--fit-hidden 256 512 ...] [--plot docs/training_study.png]
                          [--write bench/RESULTS.md] [--check]
    python bench/train.py --precision float32 bfloat16 float16 [--hidden 32 64 128] [--write bench/RESULTS.md]
    python bench/train.py --transformer 4 8 [--precision float32 bfloat16] [--write bench/RESULTS.md]

For an MLP [h, h, 4] whose hidden width h grows, each mode is asked to take one step (simulated time
hardly depends on the data, so one step says what every step costs): the table gives its simulated time
split into compute, on-wafer traffic and MemoryX streaming, weight streaming also with streaming
overlapped with compute, or why the model does not fit. Pipelined mode puts each layer on a column of
`--pipeline-height` PEs (by default 16: simulating a column of a whole wse2 wafer's 996 PEs for every
size would take hours), so it stops fitting once a layer, its optimizer state and the batch's activations
outgrow that column's SRAM; `--fit-hidden` sizes are only checked (the step kernel compiled against the
SRAM, nothing simulated) for pipelined mode on full-height columns, which says where pipelined mode
stops fitting on the whole wafer. `--width/--height` choose a custom wafer instead of a preset.

`--precision` instead takes one weight-streaming step per size in each given precision: 16-bit dense
layers run at `vector_lanes_half` elements a cycle and stream half the weight bytes; the table (section
"train-precision") gives the simulated time of each.

`--transformer W ...` instead takes one step of a tiny transformer model (a `TransformerBlock` of 8 tokens
of W features, 4W hidden units, then a dense layer to 4 classes) in each mode and each `--precision`
(default float32) on a 64 x 64 corner of the preset (section "train-transformer"): pipelined mode runs it
in stages (`train/pipelined_stages.py`), a region per layer.

`--check` trains a small model for 50 steps in both modes and compares the loss curves with the float64
NumPy reference (`wafersim.train.reference`).
"""
from __future__ import annotations

import argparse
import time

import numpy as np

import wafersim as ws
from wafersim import train
from wafersim.tools.results import machine, write_section
from wafersim.train.reference import train_reference

CLASSES = 4
DOES_NOT_FIT = (train.ModelDoesNotFitError, train.ActivationsTooLargeError, train.ModelTooLargeError)


def make_trainer(model: train.Model, mode: str, spec: ws.WaferSpec, batch: int, height: int | None,
                 bandwidth: float = train.CS2_IO_BYTES_PER_S, precision: str = "float32") -> train.Trainer:
    # Row chunks and SUMMA tiles that keep each launch within the wafer's width.
    h = max(layer.out_features for layer in model.layers)
    chunk = max(8, -(-h // spec.width))
    tile = max(8, -(-h // min(spec.width, spec.height)))
    return train.Trainer(model, train.Adam(lr=0.01), batch, device=ws.Device(spec), mode=mode, chunk=chunk,
                         tile=tile, height=height, memoryx_spec=train.MemoryXSpec(bandwidth_bytes_per_s=bandwidth),
                         precision=precision)


def one_step(model: train.Model, mode: str, spec: ws.WaferSpec, batch: int, height: int | None, bandwidth: float,
             precision: str = "float32"):
    """(the report of one step in `mode` or the reason the model does not fit, wall seconds of the first
    step, wall seconds of a second, warm step)."""
    try:
        trainer = make_trainer(model, mode, spec, batch, height, bandwidth, precision)
    except DOES_NOT_FIT as err:
        return str(err), 0.0, 0.0
    x, labels = train.synthetic_classification(batch, model.in_features, model.classes)
    start = time.perf_counter()
    report = trainer.step(x, labels)
    first = time.perf_counter() - start
    start = time.perf_counter()
    trainer.step(x, labels)
    return report, first, time.perf_counter() - start


def fits_pipelined(h: int, spec: ws.WaferSpec, batch: int) -> str:
    """Whether [h, h, 4] fits pipelined mode on full-height columns: compiled against the SRAM only."""
    try:
        make_trainer(train.Model.mlp([h, h, CLASSES]), "pipelined", spec, batch, None)
    except DOES_NOT_FIT as err:
        return f"does not fit ({err})"
    return "fits"


def study(hidden: list[int], spec: ws.WaferSpec, batch: int, height: int,
          bandwidth: float) -> list[tuple[int, int, dict]]:
    rows = []
    for h in hidden:
        model = train.Model.mlp([h, h, CLASSES], activation="relu")
        results = {}
        for mode in ("pipelined", "streaming"):
            results[mode] = one_step(model, mode, spec, batch, height if mode == "pipelined" else None, bandwidth)
            print(f"  h={h} {mode}: {results[mode][1]:.1f} s wall (first step), {results[mode][2]:.1f} s (warm)",
                  flush=True)
        rows.append((h, model.n_params, results))
    return rows


def cell(result) -> str:
    r = result[0]
    if isinstance(r, str):
        return f"does not fit ({r})"
    text = (f"{r.total_s * 1e6:.1f} = {r.compute_s * 1e6:.1f} + {r.wafer_traffic_s * 1e6:.1f} + "
            f"{r.streaming_s * 1e6:.1f}")
    return text + (f"; overlapped {r.overlapped_s * 1e6:.1f}" if r.streaming_s else "")


def table(rows, spec: ws.WaferSpec, batch: int, height: int, bandwidth: float) -> str:
    lines = [f"Wafer {spec.name or 'custom'} {spec.width} x {spec.height} PEs, {spec.sram_bytes:,} B SRAM each "
             f"({spec.n_pes * spec.sram_bytes / 2**20:,.1f} MiB in all); MLP [h, h, {CLASSES}], ReLU, Adam, batch "
             f"{batch}; pipelined: a column of {height} PEs per layer; MemoryX at {bandwidth / 1e9:,.0f} GB/s each "
             f"way, {train.MemoryXSpec().latency_s * 1e6:g} us a tensor. Simulated us per step: compute + on-wafer "
             f"traffic + streaming (weight streaming also overlapped with compute). Wall seconds: first step "
             f"(with compiles) / warm step.", "",
             "| h | weights | pipelined | weight streaming | wall s (pipelined; streaming) |", "|---|---|---|---|---|"]
    for h, n_params, results in rows:
        p, s = results["pipelined"], results["streaming"]
        wall = f"{p[1]:.1f} / {p[2]:.1f}; {s[1]:.1f} / {s[2]:.1f}"
        lines.append(f"| {h} | {n_params:,} | {cell(p)} | {cell(s)} | {wall} |")
    return "\n".join(lines)


def precision_table(hidden: list[int], precisions: list[str], spec: ws.WaferSpec, batch: int,
                    bandwidth: float) -> str:
    """Simulated time of a weight-streaming step of MLP [h, h, 4] in each precision, as a Markdown table."""
    lines = [f"Wafer {spec.name or 'custom'} {spec.width} x {spec.height} PEs ({spec.vector_lanes} float32, "
             f"{spec.vector_lanes_half} 16-bit lanes); MLP [h, h, {CLASSES}], ReLU, Adam, batch {batch}, weight "
             f"streaming; MemoryX at {bandwidth / 1e9:,.0f} GB/s each way. Simulated us per step: compute + "
             f"on-wafer traffic + streaming; overlapped; bytes of weights in. Wall seconds: first / warm step.", "",
             "| h | precision | simulated us | overlapped us | weight bytes in | wall s |", "|---|---|---|---|---|---|"]
    for h in hidden:
        model = train.Model.mlp([h, h, CLASSES], activation="relu")
        for precision in precisions:
            result = one_step(model, "streaming", spec, batch, None, bandwidth, precision)
            r = result[0]
            print(f"  h={h} {precision}: {result[1]:.1f} s wall (first step), {result[2]:.1f} s (warm)", flush=True)
            lines.append(f"| {h} | {precision} | {cell(result).split(';')[0]} | {r.overlapped_s * 1e6:.1f} | "
                         f"{r.weight_bytes:,} | {result[1]:.1f} / {result[2]:.1f} |")
    return "\n".join(lines)


def transformer_table(widths: list[int], precisions: list[str], spec: ws.WaferSpec, batch: int,
                      bandwidth: float) -> str:
    """One step of [TransformerBlock(8, w, 4w), Dense(8w, 4)] in each mode and precision, as a Markdown table."""
    lines = [f"Wafer {spec.name or 'custom'} {spec.width} x {spec.height} PEs; a causal TransformerBlock of 8 tokens "
             f"of w features and 4w GELU units, then Dense(8w, {CLASSES}); Adam, batch {batch} (pipelined: "
             f"micro-batches of {max(1, batch // 2)}, a region per layer); MemoryX at {bandwidth / 1e9:,.0f} GB/s "
             f"each way. Simulated us per step: compute + on-wafer traffic + streaming; overlapped (streaming with "
             f"compute, or pipelined stages at once). Wall seconds: first / warm step.", "",
             "| w | weights | mode | precision | simulated us | overlapped us | launches | wall s |",
             "|---|---|---|---|---|---|---|---|"]
    for w in widths:
        model = train.Model([train.TransformerBlock(8, w, 4 * w, causal=True), train.Dense(8 * w, CLASSES)])
        for mode in ("pipelined", "streaming"):
            for precision in precisions:
                result = one_step(model, mode, spec, batch, None, bandwidth, precision)
                r = result[0]
                print(f"  w={w} {mode} {precision}: {result[1]:.1f} s wall (first step), {result[2]:.1f} s (warm)",
                      flush=True)
                if isinstance(r, str):
                    lines.append(f"| {w} | {model.n_params:,} | {mode} | {precision} | {cell(result)} | | | |")
                    continue
                lines.append(f"| {w} | {model.n_params:,} | {mode} | {precision} | {cell(result).split(';')[0]} | "
                             f"{r.overlapped_s * 1e6:.1f} | {r.launches} | {result[1]:.1f} / {result[2]:.1f} |")
    return "\n".join(lines)


def plot(rows, path: str, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4))
    lines = (("pipelined", "total_s", "o", "pipelined"), ("streaming", "total_s", "s", "weight streaming"),
             ("streaming", "overlapped_s", "^", "weight streaming, overlapped"))
    for mode, field, marker, label in lines:
        points = [(n, getattr(r[mode][0], field) * 1e6) for _, n, r in rows if not isinstance(r[mode][0], str)]
        if points:
            ax.plot(*zip(*points), marker=marker, label=label)
    misfits = [n for _, n, r in rows if isinstance(r["pipelined"][0], str)]
    if misfits:
        ax.axvline(min(misfits), color="grey", linestyle="--", label="pipelined stops fitting")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("weights")
    ax.set_ylabel("simulated time per step (us)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
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
    parser.add_argument("--hidden", type=int, nargs="+", default=[32, 64, 96, 128, 160, 192])
    parser.add_argument("--fit-hidden", type=int, nargs="*", default=[256, 512, 768, 992, 1024, 1536])
    parser.add_argument("--preset", default="wse2", help="a WaferSpec preset (default wse2)")
    parser.add_argument("--width", type=int, help="a custom wafer of --width x --height PEs instead")
    parser.add_argument("--height", type=int, default=8)
    parser.add_argument("--batch", type=int, default=8, help="samples a step")
    parser.add_argument("--pipeline-height", type=int, default=16, help="PEs a layer's column in pipelined mode")
    parser.add_argument("--memoryx-bandwidth", type=float, default=train.CS2_IO_BYTES_PER_S,
                        help="MemoryX bytes/s each way (default: a CS-2's published I/O, 150 GB/s)")
    parser.add_argument("--plot", help="write a PNG of time per step against model size here")
    parser.add_argument("--write", help="write the results into this file's 'train' section")
    parser.add_argument("--check", action="store_true", help="50 steps of both modes against NumPy")
    parser.add_argument("--precision", nargs="+", choices=["float32", "bfloat16", "float16"],
                        help="instead of the study: a weight-streaming step in each of these precisions")
    parser.add_argument("--transformer", type=int, nargs="+", metavar="W",
                        help="instead of the study: a tiny transformer model of width W, a step in each mode")
    args = parser.parse_args()
    if args.check:
        check()
        return
    spec = ws.WaferSpec(width=args.width, height=args.height) if args.width else ws.WaferSpec.preset(args.preset)
    if args.transformer:
        corner = ws.WaferSpec.preset(args.preset, width=64, height=64) if not args.width else spec
        precisions = args.precision or ["float32"]
        text = transformer_table(args.transformer, precisions, corner, args.batch, args.memoryx_bandwidth)
        print(text)
        if args.write:
            command = (f"python bench/train.py --transformer {' '.join(map(str, args.transformer))} --precision "
                       f"{' '.join(precisions)} --preset {args.preset} --batch {args.batch} --write {args.write}")
            write_section(args.write, "train-transformer", "## Training a transformer block in both modes "
                          f"(bench/train.py --transformer)\n\n`{command}` on {machine()}; shared and noisy machine: "
                          f"wall seconds are indicative only, simulated times are deterministic.\n\n{text}")
        return
    if args.precision:
        text = precision_table(args.hidden, args.precision, spec, args.batch, args.memoryx_bandwidth)
        print(text)
        if args.write:
            wafer = f"--width {args.width} --height {args.height}" if args.width else f"--preset {args.preset}"
            command = (f"python bench/train.py --precision {' '.join(args.precision)} {wafer} "
                       f"--batch {args.batch} --hidden {' '.join(map(str, args.hidden))} --write {args.write}")
            write_section(args.write, "train-precision", "## Training in mixed precision (bench/train.py "
                          f"--precision)\n\n`{command}` on {machine()}; shared and noisy machine: wall seconds are "
                          f"indicative only, simulated times are deterministic.\n\n{text}")
        return
    rows = study(args.hidden, spec, args.batch, args.pipeline_height, args.memoryx_bandwidth)
    text = table(rows, spec, args.batch, args.pipeline_height, args.memoryx_bandwidth)
    fits = [f"| {h} | {4 * (2 * h * h + h * CLASSES + h + CLASSES) / 2**20:,.1f} MiB | "
            f"{fits_pipelined(h, spec, args.batch)} |" for h in args.fit_hidden]
    if fits:
        text += ("\n\nPipelined mode on full-height columns (the step kernel compiled against the SRAM; not "
                 "simulated):\n\n| h | weights (float32) | pipelined |\n|---|---|---|\n" + "\n".join(fits))
    print(text)
    if args.plot:
        plot(rows, args.plot, f"MLP [h, h, {CLASSES}] on {spec.name or 'custom'}, batch {args.batch}")
        print(f"wrote {args.plot}")
    if args.write:
        command = ("python bench/train.py " + (f"--width {args.width} --height {args.height}" if args.width else
                                               f"--preset {args.preset}") +
                   f" --batch {args.batch} --pipeline-height {args.pipeline_height} --hidden "
                   + " ".join(map(str, args.hidden)) + " --fit-hidden " + " ".join(map(str, args.fit_hidden))
                   + (f" --plot {args.plot}" if args.plot else "") + f" --write {args.write}")
        write_section(args.write, "train", f"## Training: pipelined against weight streaming (bench/train.py)\n\n"
                      f"`{command}` on {machine()}; shared and noisy machine: wall seconds are indicative only, "
                      f"simulated times are deterministic.\n\n{text}")


if __name__ == "__main__":
    main()
