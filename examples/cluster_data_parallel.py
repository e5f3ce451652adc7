"""Data-parallel training on a cluster of four small wafers, checked against one system on the whole batch.

    python examples/cluster_data_parallel.py [--backend local|ray] [--systems 4] [--steps 5]

Each system is an 8 x 8-PE wafer; the batch of 16 samples is split over the systems, SwarmX broadcasts
the weights and adds the gradients in its fixed tree order, MemoryX applies Adam. The loss curve is
compared with `train.Trainer` on one wafer with the whole batch, and each step's simulated time is
printed. The last system dies in the middle of step 2 (an injected fault: with `--backend ray`, where each
system is a Ray actor, `pip install 'wafersim[cluster]'`, its process is killed) and the run recovers with
the same weights.
"""
from __future__ import annotations

import argparse

import numpy as np

import wafersim as ws
from wafersim import cluster, train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=cluster.BACKENDS, default="local")
    parser.add_argument("--systems", type=int, default=4)
    parser.add_argument("--steps", type=int, default=5)
    args = parser.parse_args()
    spec = ws.WaferSpec.preset("dev", width=8, height=8)
    model = train.Model.mlp([6, 12, 3], activation="tanh")
    x, labels = train.synthetic_classification(32, 6, 3, seed=7)

    with cluster.Cluster(args.systems, spec, backend=args.backend) as c:
        print(c)
        trainer = c.trainer(model, train.Adam(lr=0.05), batch_size=16)
        reports = trainer.fit(x, labels, steps=2)
        trainer.inject_fault(system=args.systems - 1, at_transfer=8)    # dies in step 2's backward pass
        reports += trainer.fit(x, labels, steps=args.steps - 2)
        params = trainer.params
    for report in reports:
        print(" ", report.summary())

    single = train.Trainer(model, train.Adam(lr=0.05), batch_size=16, device=ws.Device(spec))
    expected = [r.loss for r in single.fit(x, labels, steps=args.steps)]
    close = np.allclose([r.loss for r in reports], expected, rtol=1e-5) and all(
        np.allclose(params[k], w, atol=1e-5) for k, w in single.params.items())
    print(f"loss curve and weights match one system on the whole batch: {close}")
    if not close:
        raise SystemExit("the cluster's training differs from one system's")


if __name__ == "__main__":
    main()
