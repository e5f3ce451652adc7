"""Backends without Ray: a system of the local backend that fails mid-step is rebuilt and its part redone,
giving the weights of a run without the failure; too many failures, or a missing Ray, are clear errors."""
from __future__ import annotations

import sys

import numpy as np
import pytest

import wafersim as ws
from wafersim import train
from wafersim.cluster import Cluster, ClusterError, SystemFailedError, ray_available

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


def test_ray_backend_without_ray_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)                    # `import ray` now fails
    ok, why = ray_available()
    assert not ok and "pip install 'wafersim[cluster]'" in why
    with pytest.raises(ClusterError, match=r"needs Ray: pip install 'wafersim\[cluster\]'"):
        Cluster(2, SPEC, backend="ray")
