"""Data-parallel training on the local backend: one system equals `train.Trainer` exactly, more systems
follow the single-system and float64 NumPy loss curves, and the step's time is the slowest system plus
every tensor through the tree, as the SwarmX formula gives it."""
from __future__ import annotations

import numpy as np
import pytest

import wafersim as ws
from wafersim import train
from wafersim import cluster as cluster_module
from wafersim.cluster import Cluster, ClusterError, SwarmXSpec, SwarmXTree, split, tree_seconds
from wafersim.train.reference import train_reference

SPEC = ws.WaferSpec.preset("dev", width=8, height=8)
MODEL = train.Model.mlp([6, 8, 3], activation="relu")
DATA = train.synthetic_classification(24, 6, 3, seed=1)


def single_system(optimizer, batch_size, steps):
    trainer = train.Trainer(MODEL, optimizer, batch_size=batch_size, device=ws.Device(SPEC))
    return trainer, trainer.fit(*DATA, steps=steps)


def test_one_system_is_exactly_single_system_training():
    trainer, reports = single_system(train.Adam(lr=0.05), 8, 3)
    with Cluster(1, SPEC) as cluster:
        dp = cluster.trainer(MODEL, train.Adam(lr=0.05), batch_size=8)
        steps = dp.fit(*DATA, steps=3)
        assert [s.loss for s in steps] == [r.loss for r in reports]
        assert all(np.array_equal(dp.params[k], trainer.params[k]) for k in trainer.params)
        for s, r in zip(steps, reports):
            assert s.total_s == pytest.approx(r.total_s, rel=1e-12)
            assert s.broadcast_s + s.reduce_s == pytest.approx(r.streaming_s, rel=1e-12)


@pytest.mark.parametrize("n", [2, 3])
def test_loss_curve_matches_one_system_on_the_whole_batch(n):
    opt = train.SGD(lr=0.2, momentum=0.9)
    trainer, reports = single_system(opt, 8, 4)                     # 8 = 4 + 4 or 2 + 3 + 3
    reference, final = train_reference(MODEL, MODEL.init_params(0), opt, *DATA, 4, 8)
    with Cluster(n, SPEC) as cluster:
        dp = cluster.trainer(MODEL, opt, batch_size=8)
        losses = [s.loss for s in dp.fit(*DATA, steps=4)]
        assert np.allclose(losses, [r.loss for r in reports], rtol=1e-5)
        assert np.allclose(losses, reference, rtol=1e-4)
        for name, w in trainer.params.items():
            assert np.allclose(dp.params[name], w, atol=1e-5)
            assert np.allclose(dp.params[name], final[name], atol=1e-4)


def test_step_time_is_the_slowest_system_plus_the_tree():
    swarmx = SwarmXSpec(link_bandwidth_bytes_per_s=2e8, level_latency_s=5e-6, fan_out=2)
    mx = train.MemoryXSpec(bandwidth_bytes_per_s=4e8, latency_s=1e-6)
    with Cluster(3, SPEC, swarmx=swarmx, memoryx=mx) as cluster:
        report = cluster.trainer(MODEL, train.SGD(), batch_size=6).step(*(a[:6] for a in DATA))
    # per tensor: MemoryX latency, 2 levels (3 systems, fan-out 2), bytes at the 2e8 B/s links
    seconds = lambda shape: 1e-6 + 2 * 5e-6 + 4 * np.prod(shape) / 2e8
    shapes = MODEL.param_shapes()
    weights = [s for name, s in shapes.items() if name.endswith(".w")]   # streamed again for the backward pass
    assert report.broadcast_s == pytest.approx(sum(map(seconds, shapes.values())) + sum(map(seconds, weights)))
    assert report.reduce_s == pytest.approx(sum(map(seconds, shapes.values())))
    assert sorted(name for kind, name, _ in report.transfers if kind == "gradient_bytes") == sorted(shapes)
    assert report.compute_s + report.wafer_traffic_s == max(report.system_busy_s)
    assert len(report.system_busy_s) == 3 and report.samples == 6 and report.restarts == 0
    assert report.samples_per_s == pytest.approx(6 / report.total_s)


def test_same_program_same_results_and_times():
    runs = []
    for _ in range(2):
        with Cluster(2, SPEC) as cluster:
            dp = cluster.trainer(MODEL, train.SGD(lr=0.1), batch_size=6)
            runs.append(([(s.loss, s.total_s, s.system_busy_s) for s in dp.fit(*DATA, steps=2)], dp.params))
    assert runs[0][0] == runs[1][0]
    assert all(np.array_equal(runs[0][1][k], runs[1][1][k]) for k in runs[0][1])


def test_split_is_contiguous_and_as_equal_as_can_be():
    assert split(8, 3) == [(0, 2), (2, 5), (5, 8)]
    assert split(4, 4) == [(0, 1), (1, 2), (2, 3), (3, 4)]
    with pytest.raises(ClusterError, match="batch of 3 samples cannot be split over 4 systems"):
        split(3, 4)


def test_bad_clusters_and_batches_are_refused():
    with pytest.raises(ClusterError, match="backend must be one of"):
        Cluster(2, SPEC, backend="mpi")
    with pytest.raises(ClusterError, match="workers applies to the ray backend"):
        Cluster(2, SPEC, workers=2)
    with pytest.raises(ClusterError, match="1 to 192 systems"):
        Cluster(200, SPEC)
    with pytest.raises(ClusterError, match="max_restarts"):
        Cluster(2, SPEC, max_restarts=-1)
    # Each a typed argument error, as api.md says, and the ray backend's checked before Ray starts.
    from wafersim.cluster import ClusterArgumentError, ClusterArgumentTypeError
    for call, error in ((lambda: Cluster(2.0, SPEC), ClusterArgumentTypeError),
                        (lambda: Cluster(0, SPEC), ClusterArgumentError),
                        (lambda: Cluster(200, SPEC), ClusterArgumentError),
                        (lambda: Cluster(2, SPEC, max_restarts=1.5), ClusterArgumentTypeError),
                        (lambda: Cluster(2, SPEC, backend="mpi"), ClusterArgumentError),
                        (lambda: Cluster(2, SPEC, backend="ray", workers=0), ClusterArgumentError)):
        with pytest.raises(error):
            call()
    with Cluster(2, SPEC) as cluster:
        dp = cluster.trainer(MODEL, train.SGD(), batch_size=4)
        with pytest.raises(train.TrainingError, match="a batch has 4 rows, got 8"):
            dp.step(*(a[:8] for a in DATA))
    tiny = ws.WaferSpec(width=4, height=4)
    with pytest.raises(train.ActivationsTooLargeError):             # the model does not fit a system's wafer
        Cluster(2, tiny).trainer(train.Model.mlp([4, 64, 2]), train.SGD(), batch_size=4)


def test_repr_names_the_tree():
    cluster = Cluster(20, SPEC)
    assert "20 systems" in repr(cluster) and f"{SwarmXTree(20).levels} levels" in repr(cluster)


def test_a_transformer_block_trains_data_parallel_like_on_one_system():
    model = train.Model([train.TransformerBlock(length=2, width=4, hidden=4, causal=True), train.Dense(8, 3)])
    x, labels = train.synthetic_classification(2, 8, 3, seed=4)        # 2 sequences: 1 a system
    single = train.Trainer(model, train.SGD(lr=0.1), batch_size=2)
    expected = single.step(x, labels).loss
    with Cluster(2, None) as cluster:                                   # wafers sized to the model
        dp = cluster.trainer(model, train.SGD(lr=0.1), batch_size=2)
        assert dp.step(x, labels).loss == pytest.approx(expected, rel=1e-5)
        for name, w in single.params.items():
            assert np.allclose(dp.params[name], w, atol=1e-5)


@pytest.mark.parametrize("change, message", [
    (lambda p: p.__setitem__("0.w", p["0.w"].T.copy()), r"params\['0.w'\] .* has shape \(8, 6\) \(transposed\?\), "
                                                         r"the model needs \(6, 8\)"),
    (lambda p: p.__setitem__("0.b", np.float32(0.5)), r"params\['0.b'\] .* has shape \(\), the model needs \(8,\)"),
    (lambda p: p.pop("1.b"), r"params: missing '1.b'"),
])
def test_malformed_params_are_refused_before_any_system_is_built(change, message):
    params = MODEL.init_params()
    change(params)
    with Cluster(2, SPEC) as cluster:
        with pytest.raises(train.TrainingArgumentError, match=message):
            cluster.trainer(MODEL, train.SGD(), batch_size=4, params=params)
        assert cluster._trainers == []


def test_a_batch_that_cannot_be_split_is_an_argument_error():
    with pytest.raises(ws.ArgumentError, match="use a batch_size of at least 4"):
        split(0, 4)


CTYPE = cluster_module.ClusterArgumentTypeError
TREE = SwarmXTree(3)


@pytest.mark.parametrize("call, error, word", [
    (lambda: split(10, 0), cluster_module.ClusterArgumentError, "n_systems"),
    (lambda: split(10, -2), cluster_module.ClusterArgumentError, "n_systems"),
    (lambda: split(10, 2.0), CTYPE, "n_systems"),
    (lambda: tree_seconds(TREE, [("bogus", "x", 5)]), cluster_module.ClusterArgumentError, "kind"),
    (lambda: tree_seconds(TREE, [("weight_bytes", 5)]), CTYPE, "kind, tensor, bytes"),
    (lambda: tree_seconds(None, []), CTYPE, "tree"),
    (lambda: tree_seconds(TREE, None), CTYPE, "transfers"),
    (lambda: Cluster(2, swarmx="x"), CTYPE, "swarmx"),
    (lambda: Cluster(2, memoryx=5), CTYPE, "memoryx"),
    # a wafer whose defects leave 7 live PEs a row, for rows of 64 features on 8 PEs: refused when the trainer
    # is made (it was made, and its first step failed with the launch's LaunchError)
    (lambda: Cluster(2, ws.WaferSpec(width=8, height=8, defects=[(0, y) for y in range(8)])).trainer(
        train.Model.mlp([4, 64, 2]), train.SGD(), 4), train.ActivationsTooLargeError, "defects leave a usable 7 x 8"),
    # a spec per system is no cluster's: one spec for all (was an OSError, "File name too long")
    (lambda: Cluster(2, [SPEC, SPEC]), ws.SpecError, "a spec cannot be a list .every system of a cluster"),
    (lambda: Cluster(2, SPEC).trainer(MODEL, None, 4), train.TrainingArgumentTypeError, "optimizer"),
    (lambda: Cluster(2, SPEC).trainer(MODEL, "sgd", 4), train.TrainingArgumentTypeError, "optimizer"),
    (lambda: Cluster(2, SPEC).trainer(None, train.SGD(), 4), train.TrainingArgumentTypeError, "model"),
    (lambda: Cluster(2, SPEC).trainer(MODEL, train.SGD(), 4, tile=0), train.TrainingArgumentError, "tile"),
])
def test_bad_cluster_arguments_are_typed_errors(call, error, word):
    with pytest.raises(error, match=word) as err:
        call()
    if error in (CTYPE, train.TrainingArgumentTypeError):
        assert isinstance(err.value, ws.ArgumentTypeError) and isinstance(err.value, TypeError)


def test_bad_cluster_steps_and_inputs_are_refused_before_any_step():
    with Cluster(2, SPEC) as cluster:
        dp = cluster.trainer(MODEL, train.SGD(), batch_size=4)
        x, labels = DATA
        with pytest.raises(train.TrainingArgumentError, match="steps"):
            dp.fit(x, labels, steps=-1)
        with pytest.raises(train.TrainingArgumentTypeError, match="steps"):
            dp.fit(x, labels, steps=1.5)
        with pytest.raises(ws.ArgumentTypeError, match="complex"):
            dp.step(x[:4].astype(complex), labels[:4])
        assert dp.steps == 0 and dp.fit(x, labels, steps=0) == []


def test_valid_neighbours_of_the_refused_cluster_arguments():
    assert split(10, 3) == [(0, 3), (3, 6), (6, 10)] and split(10, np.int64(1)) == [(0, 10)]
    assert tree_seconds(TREE, []) == (0, 0)
    down, up = tree_seconds(TREE, [("weight_bytes", "0.w", 100), ("gradient_bytes", "0.w", 100)])
    assert down == up == TREE.transfer_seconds(100)
    assert "2 systems" in repr(Cluster(2, swarmx=SwarmXSpec(), memoryx=train.MemoryXSpec()))


@pytest.mark.parametrize("precision", ["bfloat16", "float16"])
def test_one_system_in_mixed_precision_is_exactly_single_system_training(precision):
    """`Cluster.trainer(precision=)` runs each system's dense products in 16 bits as `train.Trainer` does
    (MemoryX keeps float32 master weights): one system gives the single trainer's run bit for bit, and the
    16-bit run is not the float32 one."""
    trainer = train.Trainer(MODEL, train.Adam(lr=0.05), batch_size=8, device=ws.Device(SPEC), precision=precision)
    reports = trainer.fit(*DATA, steps=3)
    with Cluster(1, SPEC) as cluster:
        dp = cluster.trainer(MODEL, train.Adam(lr=0.05), batch_size=8, precision=precision)
        assert [s.loss for s in dp.fit(*DATA, steps=3)] == [r.loss for r in reports]
        assert all(np.array_equal(dp.params[k], trainer.params[k]) for k in trainer.params)
        full = cluster.trainer(MODEL, train.Adam(lr=0.05), batch_size=8)
        assert [s.loss for s in full.fit(*DATA, steps=3)] != [r.loss for r in reports]
    with pytest.raises(train.TrainingError, match="precision must be one of"):
        Cluster(1, SPEC).trainer(MODEL, train.SGD(), 8, precision="int8")


@pytest.mark.parametrize("n, batch", [(3, 6), (3, 8)])
def test_several_systems_in_mixed_precision_follow_one_system(n, batch):
    """Each system divides its loss gradient by the whole batch, as one system does, so the 16-bit dy are
    the same values rounded the same way. (A system used to divide by its share and scale by share / B
    afterwards: 3 systems in bfloat16 then drifted from one system by 9e-3 in 8 steps, more than bfloat16
    from float32.)"""
    opt = train.SGD(lr=0.3)
    single = train.Trainer(MODEL, opt, batch_size=batch, device=ws.Device(SPEC), precision="bfloat16")
    start = single.params
    expected = [r.loss for r in single.fit(*DATA, steps=6)]
    reference, _ = train_reference(MODEL, start, opt, *DATA, 6, batch, precision="bfloat16")
    with Cluster(n, SPEC) as cluster:
        dp = cluster.trainer(MODEL, opt, batch_size=batch, precision="bfloat16", params=start)
        losses = [s.loss for s in dp.fit(*DATA, steps=6)]
    np.testing.assert_allclose(losses, expected, rtol=1e-6)   # float32 sums in another order only
    np.testing.assert_allclose(losses, reference, rtol=1e-4)


def test_a_numpy_integer_batch_is_taken_and_trains_as_an_int_batch():
    """trainer(batch_size=np.int64(6)) on 5 systems was refused as 'cannot be split over 5 systems'; it
    trains as batch_size=6 does, against the float64 NumPy reference."""
    x, labels = (a[:12] for a in DATA)
    assert split(np.int64(10), 3) == [(0, 3), (3, 6), (6, 10)]
    with Cluster(5, SPEC) as cluster:
        dp = cluster.trainer(MODEL, train.SGD(lr=0.1), batch_size=np.int64(6))
        assert dp.batch_size == 6 and type(dp.batch_size) is int
        reports = dp.fit(x, labels, steps=2)
    losses, weights = train_reference(MODEL, MODEL.init_params(0), train.SGD(lr=0.1), x, labels, 2, 6)
    assert np.allclose([r.loss for r in reports], losses, rtol=1e-5)
    assert all(np.allclose(dp.params[k], weights[k], atol=1e-6) for k in weights)


@pytest.mark.parametrize("batch", [6.0, True, "6", None])
def test_a_batch_that_is_not_a_whole_number_is_a_type_error_not_too_small(batch):
    with pytest.raises(cluster_module.ClusterArgumentTypeError, match="batch_size must be a whole number >= 5") as err:
        split(batch, 5)
    assert "cannot be split" not in str(err.value)
    with Cluster(5, SPEC) as cluster, pytest.raises(cluster_module.ClusterArgumentTypeError, match="batch_size"):
        cluster.trainer(MODEL, train.SGD(), batch_size=batch)


def test_fit_takes_nested_lists_as_step_does():
    """DataParallelTrainer.fit on lists was an AttributeError ('list' has no .shape); trains as on arrays."""
    x, labels = (a[:12] for a in DATA)
    with Cluster(3, SPEC) as cluster:
        dp = cluster.trainer(MODEL, train.SGD(lr=0.1), batch_size=6)
        reports = dp.fit(x.tolist(), labels.tolist(), steps=3)
    losses, weights = train_reference(MODEL, MODEL.init_params(0), train.SGD(lr=0.1), x, labels, 3, 6)
    assert np.allclose([r.loss for r in reports], losses, rtol=1e-5)
    assert all(np.allclose(dp.params[k], w, atol=1e-6) for k, w in weights.items())


def test_cluster_params_are_read_only_copies():
    """(user54) As `train.Trainer.params`: an in-place edit raises rather than changing a copy."""
    model = train.Model.mlp([6, 8, 3])
    x, labels = train.synthetic_classification(8, 6, 3, seed=1)
    with Cluster(2, SPEC) as c:
        trainer = c.trainer(model, train.SGD(lr=0.2), batch_size=8)
        before = {name: np.array(w) for name, w in trainer.params.items()}
        with pytest.raises(ValueError, match="read-only"):
            trainer.params["0.w"][:] = 0
        report = trainer.step(x, labels)
    expected, _ = train_reference(model, before, train.SGD(lr=0.2), x, labels, 1, 8)
    assert report.loss == pytest.approx(expected[0], rel=1e-5)


@pytest.mark.parametrize("call, message", [
    (lambda: Cluster(2, SPEC, gpus=2), r"Cluster.__init__\(\) got an unexpected keyword argument 'gpus': each system is"),
    (lambda: Cluster(2, SPEC, backnd="local"), r"'backnd'; did you mean 'backend'\?"),
    (lambda: SwarmXSpec(fanout=2), r"'fanout'; did you mean 'fan_out'\?"),
    (lambda: SwarmXTree(4, None, None, 7), r"SwarmXTree.__init__\(\) takes from 2 to 4 positional arguments"),
    (lambda: SwarmXTree(4).transfer_seconds(), r"missing 1 required positional argument: 'nbytes'"),
])
def test_cluster_calls_that_do_not_fit_are_typed_errors(call, message):
    """(user54) These were Python's bare TypeError, not a `WaferError`."""
    with pytest.raises(cluster_module.ClusterArgumentTypeError, match=message) as err:
        call()
    assert isinstance(err.value, ws.WaferError) and isinstance(err.value, TypeError)


def test_cluster_trainer_calls_that_do_not_fit_are_typed_errors():
    model = train.Model.mlp([6, 8, 3])
    x, labels = train.synthetic_classification(8, 6, 3, seed=1)
    with Cluster(2, SPEC) as c:
        with pytest.raises(cluster_module.ClusterArgumentTypeError, match="'lr': the optimizer holds"):
            c.trainer(model, train.SGD(), batch_size=8, lr=0.1)
        trainer = c.trainer(model, train.SGD(lr=0.2), batch_size=8)
        with pytest.raises(cluster_module.ClusterArgumentTypeError, match="'epochs': fit"):
            trainer.fit(x, labels, epochs=1)
        assert trainer.steps == 0
        expected, _ = train_reference(model, trainer.params, train.SGD(lr=0.2), x, labels, 1, 8)
        assert trainer.fit(x, labels, 1)[0].loss == pytest.approx(expected[0], rel=1e-5)
