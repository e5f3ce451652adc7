"""Train a small classifier on a simulated wafer, printing the loss and simulated time of each step.

    python examples/train_mlp.py [--mode auto|pipelined|streaming] [--steps 20] [--batch 8]
                                 [--precision float32|bfloat16|float16]

An MLP [8, 16, 4] (tanh) learns four Gaussian blobs with Adam on a small wafer (16 x 16 PEs); a tqdm
progress bar shows the loss as it falls. Each step's line gives its simulated time split into compute,
on-wafer traffic and MemoryX weight streaming (weight-streaming mode also gives the time with streaming
overlapped with compute); `--precision bfloat16` trains in mixed precision, in either mode. At the end
the classifier's accuracy on the training set is computed with NumPy from the trained weights.
"""
from __future__ import annotations

import argparse

import numpy as np
from tqdm import tqdm

import wafersim as ws
from wafersim import train


def accuracy(params: dict[str, np.ndarray], x: np.ndarray, labels: np.ndarray) -> float:
    """The share of samples the MLP classifies right (NumPy, from the trained weights)."""
    hidden = np.tanh(x @ params["0.w"] + params["0.b"])
    logits = hidden @ params["1.w"] + params["1.b"]
    return float(np.mean(logits.argmax(axis=1) == labels))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=("auto", "pipelined", "streaming"), default="auto")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--precision", choices=("float32", "bfloat16", "float16"), default="float32")
    args = parser.parse_args()
    model = train.Model.mlp([8, 16, 4], activation="tanh")
    x, labels = train.synthetic_classification(64, 8, 4, seed=3)
    device = ws.Device(ws.WaferSpec(width=16, height=16))
    trainer = train.Trainer(model, train.Adam(lr=0.03), args.batch, device=device, mode=args.mode, height=4,
                            precision=args.precision)
    print(f"{model.n_params} weights, {trainer.mode} mode ({args.precision}) on a {device.spec.width} x "
          f"{device.spec.height} wafer")
    simulated = 0.0
    with tqdm(total=args.steps, unit="step") as bar:
        def show(report: train.StepReport) -> None:
            nonlocal simulated
            simulated += report.total_s
            overlapped = f" ({report.overlapped_s * 1e6:.2f} overlapped)" if report.streaming_s else ""
            bar.write(f"step {report.step:3d}: loss {report.loss:.4f}, {report.total_s * 1e6:8.2f} us{overlapped} = "
                      f"compute {report.compute_s * 1e6:.2f} + wafer traffic {report.wafer_traffic_s * 1e6:.2f} + "
                      f"streaming {report.streaming_s * 1e6:.2f}")
            bar.set_postfix(loss=f"{report.loss:.3f}")
            bar.update()

        reports = trainer.fit(x, labels, args.steps, callback=show)
    print(f"loss {reports[0].loss:.4f} -> {reports[-1].loss:.4f}; {simulated * 1e3:.3f} ms simulated in all; "
          f"training accuracy {accuracy(trainer.params, x, labels):.0%}")


if __name__ == "__main__":
    main()
