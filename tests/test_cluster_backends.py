"""Backends without Ray: a system of the local backend that fails mid-step is rebuilt and its part redone,
giving the weights of a run without the failure; too many failures, or a missing Ray, are clear errors."""
from __future__ import annotations

import sys

import numpy as np
import pytest

import wafersim as ws
from wafersim import train
from wafersim.train.reference import train_reference
from wafersim.cluster import (Cluster, ClusterArgumentError, ClusterArgumentTypeError, ClusterClosedError, ClusterError,
                              SystemFailedError, ray_available)

SPEC = ws.WaferSpec.preset("dev", width=8, height=8)
MODEL = train.Model.mlp([6, 8, 3], activation="tanh")
DATA = train.synthetic_classification(12, 6, 3, seed=5)


def run(fault: tuple[int, int] | None, steps: int = 3):
    with Cluster(3, SPEC) as cluster:
        dp = cluster.trainer(MODEL, train.Adam(lr=0.05), batch_size=6)
        reports = dp.fit(*DATA, steps=1)
        if fault:
            dp.inject_fault(*fault)
        reports += dp.fit(*DATA, steps=steps - 1)
        return reports, dp.params


@pytest.mark.parametrize("at_transfer", [0, 9])                      # the first weight stream; a gradient
def test_a_system_that_fails_mid_step_is_rebuilt_and_nothing_is_lost(at_transfer):
    clean_reports, clean = run(None)
    reports, params = run((1, at_transfer))
    assert [r.restarts for r in reports] == [0, 1, 0]
    assert [(r.loss, r.total_s) for r in reports] == [(r.loss, r.total_s) for r in clean_reports]
    assert all(np.array_equal(params[k], clean[k]) for k in clean)


def test_a_system_that_keeps_failing_is_an_error():
    with Cluster(2, SPEC, max_restarts=0) as cluster:
        dp = cluster.trainer(MODEL, train.SGD(), batch_size=4)
        dp.inject_fault(0)
        with pytest.raises(SystemFailedError, match="system 0 failed 1 times") as err:
            dp.step(*(a[:4] for a in DATA))
        assert err.value.system == 0
        with pytest.raises(ClusterError, match="system 5 is not one of the cluster's 2"):
            dp.inject_fault(5)


def test_after_a_failed_step_training_goes_on_as_if_it_had_not_been_tried():
    """A system that fails past `max_restarts` after sending some gradients: the step is not applied, the
    gradients it had sent are dropped, and the next steps give the run without the failure."""
    clean_reports, clean = run(None)
    with Cluster(3, SPEC, max_restarts=0) as cluster:
        dp = cluster.trainer(MODEL, train.Adam(lr=0.05), batch_size=6)
        reports = dp.fit(*DATA, steps=1)
        dp.inject_fault(1, 9)  # (after its last layer's gradients reached its MemoryX)
        with pytest.raises(SystemFailedError):
            dp.fit(*DATA, steps=1)
        assert dp.steps == 1
        reports += dp.fit(*DATA, steps=2)
        assert [r.loss for r in reports] == [r.loss for r in clean_reports]
        assert all(np.array_equal(dp.params[k], clean[k]) for k in clean)


def test_ray_backend_without_ray_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)                    # `import ray` now fails
    ok, why = ray_available()
    assert not ok and "pip install 'wafersim[cluster]'" in why
    with pytest.raises(ClusterError, match=r"needs Ray: pip install 'wafersim\[cluster\]'"):
        Cluster(2, SPEC, backend="ray")


def test_a_closed_clusters_trainer_says_so():
    cluster = Cluster(2, SPEC)
    dp = cluster.trainer(MODEL, train.SGD(), batch_size=4)
    cluster.close()
    for use in (lambda: dp.step(*(a[:4] for a in DATA)), lambda: dp.fit(*DATA, steps=1), lambda: dp.inject_fault(0)):
        with pytest.raises(ClusterClosedError, match="cluster was closed .* make a new Cluster"):
            use()


@pytest.mark.parametrize("system, at_transfer", [(0, -1), (0, 1.5), (True, 0), (-1, 0), (2, 0)])
def test_faults_out_of_range_are_argument_errors(system, at_transfer):
    with Cluster(2, SPEC) as cluster:
        dp = cluster.trainer(MODEL, train.SGD(), batch_size=4)
        with pytest.raises(ClusterArgumentError) as err:
            dp.inject_fault(system, at_transfer)
        assert isinstance(err.value, ws.ArgumentError)


def test_a_fault_past_the_steps_last_transfer_is_refused_and_the_step_not_applied():
    x, labels = (a[:4] for a in DATA)
    with Cluster(2, SPEC) as cluster:
        dp = cluster.trainer(MODEL, train.SGD(lr=0.5), batch_size=4)
        before = dp.params
        dp.inject_fault(1, at_transfer=10_000)            # before any step the count is not known yet
        with pytest.raises(ClusterArgumentError, match=r"at_transfer=10000\) never fired: a step of this model has "
                                                       r"(\d+) transfers .* the step was not applied") as err:
            dp.step(x, labels)
        transfers = err.value.transfers
        assert dp.steps == 0 and all(np.array_equal(dp.params[k], before[k]) for k in before)
        # A dense layer streams W and b in for forward, W again for backward, and both gradients out.
        assert transfers == 5 * len(MODEL.layers)
        report = dp.step(x, labels)                        # disarmed: the next step runs as usual
        assert report.restarts == 0 and dp.steps == 1
        with pytest.raises(ClusterArgumentError, match=rf"at_transfer must be an int, 0 to {transfers - 1}"):
            dp.inject_fault(0, at_transfer=transfers)       # known now: refused at once
        dp.inject_fault(0, at_transfer=transfers - 1)        # the last transfer: fires
        assert dp.step(x, labels).restarts == 1


def test_a_closed_cluster_makes_no_trainer():
    """Cluster.trainer after close() built systems again (on Ray, new actors after close had released them)."""
    cluster = Cluster(2, SPEC)
    cluster.close()
    with pytest.raises(ClusterClosedError, match="cluster was closed .* make a new Cluster"):
        cluster.trainer(MODEL, train.SGD(), batch_size=4)


def test_address_on_the_local_backend_is_an_argument_error():
    """address= was ignored on the local backend (workers= was refused)."""
    with pytest.raises(ClusterArgumentError, match="address='auto' applies to the ray backend only"):
        Cluster(2, SPEC, address="auto")


def test_an_address_that_is_not_a_string_is_a_type_error_before_ray_starts(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)                    # checked before Ray is imported
    with pytest.raises(ClusterArgumentTypeError, match=r"Cluster\(address\) must be None or a Ray address"):
        Cluster(2, SPEC, backend="ray", address=5)


def test_no_ray_at_the_address_is_a_cluster_error_saying_what_to_do(monkeypatch):
    """ray.init(address="auto") with no Ray running raised Ray's bare ConnectionError."""
    class NoRay:                                   # a ray module whose init finds no running Ray
        @staticmethod
        def is_initialized():
            return False

        @staticmethod
        def init(address=None, **options):
            raise ConnectionError("Could not find any running Ray instance.")
    monkeypatch.setitem(sys.modules, "ray", NoRay)
    message = r"could not join Ray at address='auto': Could not find .*`ray start --head`"
    with pytest.raises(ClusterError, match=message):
        Cluster(2, SPEC, backend="ray", address="auto")


def test_a_fault_the_failed_step_never_reached_does_not_fire_in_the_next():
    """Faults on systems 0 and 2 with max_restarts=0: system 0 failed the step, and system 2's fault, never
    reached, failed the next step too. A fault is for one step: the next step runs clean, and the run
    matches the float64 NumPy reference."""
    x, labels = (a[:4] for a in DATA)
    with Cluster(3, SPEC, max_restarts=0) as cluster:
        dp = cluster.trainer(MODEL, train.SGD(lr=0.2), batch_size=4)
        dp.inject_fault(0, 1)
        dp.inject_fault(2, 1)
        with pytest.raises(SystemFailedError, match="system 0 failed 1 times"):
            dp.step(x, labels)
        report = dp.step(x, labels)
    assert report.restarts == 0 and dp.steps == 1
    losses, weights = train_reference(MODEL, MODEL.init_params(0), train.SGD(lr=0.2), x, labels, 1, 4)
    assert report.loss == pytest.approx(losses[0], rel=1e-5)
    assert all(np.allclose(dp.params[k], w, atol=1e-6) for k, w in weights.items())
