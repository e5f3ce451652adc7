"""Checkpoints of data-parallel training on the local backend: a cluster's run saved and loaded onto a new
cluster goes on bit for bit; a single trainer's checkpoint continues on one system exactly, and a
cluster's loads into a single trainer of any mode; what does not fit is a `CheckpointError`."""
from __future__ import annotations

import numpy as np
import pytest

import wafersim as ws
from wafersim import train
from wafersim.cluster import Cluster
from wafersim.train.checkpoint import take_state

SPEC = ws.WaferSpec.preset("dev", width=8, height=8)
MODEL = train.Model.mlp([6, 8, 3], activation="relu")
DATA = train.synthetic_classification(24, 6, 3, seed=1)


def assert_same_state(a, b):
    (pa, sa, na), (pb, sb, nb) = take_state(a), take_state(b)
    assert na == nb
    for name in pa:
        np.testing.assert_array_equal(pa[name], pb[name], err_msg=name)
        for slot in sa[name]:
            np.testing.assert_array_equal(sa[name][slot], sb[name][slot], err_msg=f"{name} {slot}")


@pytest.mark.parametrize("opt", [train.SGD(lr=0.2, momentum=0.9), train.Adam(lr=0.05)], ids=["sgd", "adam"])
def test_a_resumed_cluster_run_is_the_uninterrupted_one(opt, tmp_path):
    with Cluster(2, SPEC) as cluster:
        whole = cluster.trainer(MODEL, opt, batch_size=8)
        losses = [s.loss for s in whole.fit(*DATA, steps=4)]
        first = cluster.trainer(MODEL, opt, batch_size=8)
        first.fit(*DATA, steps=2)
    path = first.save_checkpoint(tmp_path / "dp.ckpt")          # after close: MemoryX is on the host
    with Cluster(2, SPEC) as cluster:
        resumed = cluster.trainer(MODEL, opt, batch_size=8, seed=7)
        meta = resumed.load_checkpoint(path)
        assert (meta["mode"], meta["systems"], resumed.steps) == ("data_parallel", 2, 2)
        assert [s.loss for s in resumed.fit(*DATA, steps=2)] == losses[2:]
        assert_same_state(whole, resumed)


def test_single_trainer_and_cluster_checkpoints_load_into_each_other(tmp_path):
    opt = train.Adam(lr=0.05)
    single = train.Trainer(MODEL, opt, batch_size=8, device=ws.Device(SPEC))
    losses = [r.loss for r in single.fit(*DATA, steps=4)]
    first = train.Trainer(MODEL, opt, batch_size=8, device=ws.Device(SPEC))
    first.fit(*DATA, steps=2)
    first.save_checkpoint(tmp_path / "single.ckpt")
    with Cluster(1, SPEC) as cluster:                            # one system is single-system training exactly
        dp = cluster.trainer(MODEL, opt, batch_size=8)
        dp.load_checkpoint(tmp_path / "single.ckpt")
        assert [s.loss for s in dp.fit(*DATA, steps=2)] == losses[2:]
        assert_same_state(single, dp)
        dp.save_checkpoint(tmp_path / "dp.ckpt")
    pipelined = train.Trainer(MODEL, opt, batch_size=8, mode="pipelined")
    assert pipelined.load_checkpoint(tmp_path / "dp.ckpt")["trainer"] == "DataParallelTrainer"
    assert pipelined.steps == 4
    assert_same_state(single, pipelined)                         # converted exactly


def test_a_checkpoint_that_does_not_fit_the_cluster_is_refused(tmp_path):
    single = train.Trainer(MODEL, train.SGD(lr=0.1, momentum=0.5), batch_size=6, device=ws.Device(SPEC))
    single.save_checkpoint(tmp_path / "run.ckpt")
    with Cluster(2, SPEC) as cluster:
        with pytest.raises(ws.CheckpointError, match="layer 1"):
            cluster.trainer(train.Model.mlp([6, 8, 4]), train.SGD(), batch_size=6).load_checkpoint(
                tmp_path / "run.ckpt")
        with pytest.raises(ws.CheckpointError, match="weights_only=True"):
            cluster.trainer(MODEL, train.Adam(), batch_size=6).load_checkpoint(tmp_path / "run.ckpt")
        dp = cluster.trainer(MODEL, train.Adam(), batch_size=6)
        dp.load_checkpoint(tmp_path / "run.ckpt", weights_only=True)
        assert all(np.array_equal(dp.params[k], w) for k, w in single.params.items())
