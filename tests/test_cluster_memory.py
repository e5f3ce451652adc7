"""The host-memory check of a cluster: the numbers add up, the number of workers it would need follows
from them, and a cluster too large is refused before any system is built."""
from __future__ import annotations

import math

import pytest

import wafersim as ws
from wafersim import train
from wafersim.cluster import Cluster, ClusterTooLargeError, memory
from wafersim.sim.hostmem import launch_bytes

SPEC = ws.WaferSpec.preset("dev", width=8, height=8)
MODEL = train.Model.mlp([6, 8, 3], activation="relu")


def test_estimate_counts_systems_and_concurrent_launches():
    est = memory.estimate(MODEL, 4, SPEC, 10, concurrent=2, available=10**12)
    assert est.system_bytes == MODEL.activation_bytes(4) + 4 * MODEL.param_bytes
    block = train.default_device(MODEL, 4).spec                     # the largest block a step launches
    pes = min(block.width, SPEC.width) * min(block.height, SPEC.height)
    parts = launch_bytes(pes, SPEC.n_pes, SPEC.registers, SPEC.sram_bytes // 4, memory.FIFOS_PER_PE, SPEC.fifo_depth, 8)
    steps_launches = memory.launches_per_step(MODEL, 4)
    assert est.launch_bytes == sum(parts.values()) + (steps_launches - 1) * 56 * SPEC.n_pes   # 56 B of stats a PE
    assert est.needed == 10 * est.system_bytes + 2 * est.launch_bytes
    ray = memory.estimate(MODEL, 4, SPEC, 10, concurrent=2, actor_processes=True, available=10**12)
    assert ray.system_bytes == est.system_bytes + memory.ACTOR_PROCESS_BYTES
    est.check("fits")                                                # a terabyte is plenty: no error


@pytest.mark.parametrize("layers, samples", [
    ([train.Dense(6, 8, "relu"), train.Dense(8, 3)], 4),
    ([train.Dense(5, 9, "gelu"), train.LayerNorm(9), train.Dense(9, 3)], 4),
    ([train.TransformerBlock(length=3, width=4, hidden=6, causal=True), train.Dense(12, 3)], 1),
    ([train.TransformerBlock(length=3, width=4, hidden=6), train.Dense(12, 3)], 3),
])
def test_launches_per_step_bounds_what_a_step_launches(layers, samples):
    model = train.Model(layers)
    x, labels = train.synthetic_classification(samples, model.in_features, model.classes, seed=1)
    launches = train.Trainer(model, train.SGD(), batch_size=samples).step(x, labels).launches
    assert launches <= memory.launches_per_step(model, samples) <= launches + 20


def test_too_large_a_cluster_says_how_many_workers_it_would_need():
    probe = memory.estimate(MODEL, 4, SPEC, 192, concurrent=2, actor_processes=True, available=0)
    available = 2 * probe.launch_bytes + 50 * probe.system_bytes + 7    # room for 50 systems a machine
    est = memory.estimate(MODEL, 4, SPEC, 192, concurrent=2, actor_processes=True, available=available)
    assert est.systems_per_worker == 50
    assert est.workers_needed == math.ceil(192 / 50) == 4
    with pytest.raises(ClusterTooLargeError, match="192 systems need about .* it would need 4 workers") as err:
        est.check("a cluster")
    assert isinstance(err.value, ws.OutOfMemoryError)
    assert (err.value.needed, err.value.available, err.value.workers_needed) == (est.needed, available, 4)
    hopeless = memory.estimate(MODEL, 4, SPEC, 2, available=10)
    with pytest.raises(ClusterTooLargeError, match="not even one system fits"):
        hopeless.check("a cluster")


def test_cluster_is_refused_before_any_system_is_built(monkeypatch):
    built = []
    monkeypatch.setattr("wafersim.cluster.backends.System", lambda *a, **k: built.append(a))
    monkeypatch.setenv("WAFERSIM_HOST_MEMORY", str(2**19))            # half a MiB of host memory
    with pytest.raises(ClusterTooLargeError, match="100 systems need about .* but 0.50 MiB is available") as err:
        Cluster(100, SPEC).trainer(MODEL, train.SGD(), batch_size=400)
    assert err.value.available == 2**19 and err.value.needed > 2**19
    assert built == []
