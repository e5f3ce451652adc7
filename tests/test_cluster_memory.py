"""The host-memory check of a cluster: the numbers add up, the number of workers it would need follows
from them, and a cluster too large is refused before any system is built."""
from __future__ import annotations

import math

import pytest

import wafersim as ws
from wafersim import train
from wafersim import cluster
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
    with pytest.raises(ClusterTooLargeError, match="100 systems need about .* but 512.00 KiB is available") as err:
        Cluster(100, SPEC).trainer(MODEL, train.SGD(), batch_size=400)
    assert err.value.available == 2**19 and err.value.needed > 2**19
    assert built == []


def _most_systems(system: int, launch: int, concurrent: int, available: int, limit: int = 10_000) -> int:
    """Plain counting: the largest k whose k resident systems and min(k, concurrent) launches fit."""
    return max((k for k in range(limit) if k * system + min(k, concurrent) * launch <= available), default=0)


@pytest.mark.parametrize("system, launch, concurrent, available", [
    (160, 669, 4, 954),        # the new user's 4 wse2 systems: one fits with its launch, not four launches
    (160, 669, 4, 828), (160, 669, 4, 829), (160, 669, 4, 1658), (160, 669, 4, 2487), (160, 669, 4, 3316),
    (160, 669, 4, 3476), (10, 100, 3, 5), (10, 100, 3, 340), (10, 100, 1, 10_000), (7, 0, 2, 50),
])
def test_systems_per_worker_counts_launches_of_the_systems_a_machine_holds(system, launch, concurrent, available):
    est = memory.ClusterMemory(n_systems=4, concurrent=concurrent, system_bytes=system, launch_bytes=launch,
                               available=available)
    expected = _most_systems(system, launch, min(concurrent, 4), available)
    assert est.systems_per_worker == expected
    assert est.workers_needed == (math.ceil(4 / expected) if expected else None)


def test_four_wse2_systems_on_a_small_machine_need_four_workers():
    model, wse2 = train.Model.mlp([64, 64, 4]), ws.WaferSpec.preset("wse2")
    need = memory.estimate(model, 32, wse2, 4, concurrent=4, actor_processes=True, available=10**9)
    assert need.system_bytes + need.launch_bytes <= 10**9 < need.system_bytes + 2 * need.launch_bytes
    assert (need.systems_per_worker, need.workers_needed) == (1, 4)
    with pytest.raises(ClusterTooLargeError, match="it would need 4 workers .* 1 system each"):
        need.check("4 wse2 systems on Ray")


@pytest.mark.parametrize("nbytes, text", [(5, "5 B"), (3_000, "2.93 KiB"), (3 * 2**20, "3.00 MiB"),
                                          (5 * 2**30, "5.00 GiB")])
def test_the_message_shows_small_systems_in_a_unit_that_shows_their_size(nbytes, text):
    est = memory.ClusterMemory(n_systems=3, concurrent=1, system_bytes=nbytes, launch_bytes=nbytes,
                               available=nbytes)
    with pytest.raises(ClusterTooLargeError, match=rf"3 x {text} per system \+ 1 launch at once x {text}\)"):
        est.check("a cluster")


MODEL_FOR_ARGS = train.Model.mlp([6, 8, 3])


@pytest.mark.parametrize("args, error, word", [
    ((MODEL_FOR_ARGS, 4, None, 0), cluster.ClusterArgumentError, "n_systems"),
    ((MODEL_FOR_ARGS, 4, None, -1), cluster.ClusterArgumentError, "n_systems"),
    ((MODEL_FOR_ARGS, 0, None, 2), cluster.ClusterArgumentError, "share"),
    ((MODEL_FOR_ARGS, "x", None, 2), cluster.ClusterArgumentTypeError, "share"),
    ((MODEL_FOR_ARGS, 4, "dev", 2), cluster.ClusterArgumentTypeError, "spec"),
    ((None, 4, None, 2), cluster.ClusterArgumentTypeError, "model"),
])
def test_estimate_refuses_bad_arguments(args, error, word):
    with pytest.raises(error, match=word):
        memory.estimate(*args, available=2**40)
    assert memory.estimate(MODEL_FOR_ARGS, 4, None, 1, available=2**40).n_systems == 1


@pytest.mark.parametrize("options, error", [
    ({"concurrent": 0}, cluster.ClusterArgumentError), ({"concurrent": 1.5}, cluster.ClusterArgumentTypeError),
    ({"available": -1}, cluster.ClusterArgumentError), ({"available": 2.0**30}, cluster.ClusterArgumentTypeError)])
def test_estimate_refuses_concurrent_below_one_and_negative_available(options, error):
    """concurrent=0 counted no launch at all; available=-1 was reported as '-1 B is available'."""
    name = next(iter(options))
    with pytest.raises(error, match=f"estimate\\({name}\\)"):
        memory.estimate(MODEL, 4, SPEC, 3, **options)
    # in range, the total is n x system + min(concurrent, n) x launch (an independent sum)
    est = memory.estimate(MODEL, 4, SPEC, 3, concurrent=5, available=0)
    assert est.needed == 3 * est.system_bytes + 3 * est.launch_bytes and est.available == 0
