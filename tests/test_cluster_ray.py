"""The ray backend: each system a Ray actor. Its results and simulated times are bit-identical to the local
backend's, and an actor killed mid-step is restarted by Ray and its part of the step redone, leaving the
weights of a run without the failure. Skipped, with the reason, only where Ray is not installed or
cannot start."""
from __future__ import annotations

import signal

import numpy as np
import pytest

import wafersim as ws
from wafersim import train
from wafersim.cluster import Cluster, SystemFailedError
from wafersim.train.reference import loss_and_gradients

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'wafersim[cluster]')")

SPEC = ws.WaferSpec.preset("dev", width=8, height=8)
MODEL = train.Model.mlp([6, 8, 3], activation="relu")
DATA = train.synthetic_classification(12, 6, 3, seed=2)


START_TIMEOUT_S = 60  # ray.init has no timeout of its own; a machine where Ray hangs skips rather than stalls


class _StartTimeout(Exception):
    pass


def _give_up(signum, frame):
    raise _StartTimeout


@pytest.fixture(scope="module")
def ray_session(tmp_path_factory):
    """A small local Ray: two CPUs, no dashboard; shut down after the module. Its actors (each a fresh
    process building its system: ~1.4 s of compiling on 2 cores, 11 actors started in this module) share an
    on-disk kernel cache of the module's own, so that only the first actors compile the model's kernels;
    this process compiles them itself (the suite's cache is off), so the local backend each test compares
    with is freshly compiled."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("WAFERSIM_KERNEL_CACHE", "1")  # (read by the actors' processes, which ray.init starts)
        env.setenv("WAFERSIM_CACHE_DIR", str(tmp_path_factory.mktemp("ray-actors-kernel-cache")))
        previous = signal.signal(signal.SIGALRM, _give_up)
        signal.alarm(START_TIMEOUT_S)
        try:
            ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        except _StartTimeout:
            ray.shutdown()
            pytest.skip(f"Ray did not start on this machine within {START_TIMEOUT_S} s")
        except Exception as err:  # noqa: BLE001 - any failure to start Ray is a reason to skip, stated
            pytest.skip(f"Ray cannot start on this machine: {type(err).__name__}: {err}")
        finally:
            signal.alarm(0)
            signal.signal(signal.SIGALRM, previous)
        yield ray
        ray.shutdown()


def trainer_of(cluster):
    return cluster.trainer(MODEL, train.SGD(lr=0.2, momentum=0.5), batch_size=6)


def test_ray_actors_match_the_local_backend_bit_for_bit_and_survive_kills_counted_per_step(ray_session):
    """An actor killed in its backward pass is restarted by Ray (a new process, the others kept) and its part of
    the step redone: the run's reports and weights are the local backend's bit for bit. `max_restarts=1` and a
    fault in each of two steps: both recover (Ray's own limit is over an actor's lifetime: with it, the second
    fault left the actor dead). (One cluster for both: each Ray actor is a Python process to start.)"""
    with Cluster(3, SPEC, backend="local") as cluster:
        local = trainer_of(cluster)
        local_reports, local_params = local.fit(*DATA, steps=4), local.params
    with Cluster(3, SPEC, backend="ray", workers=2, max_restarts=1) as cluster:
        dp = trainer_of(cluster)
        reports = dp.fit(*DATA, steps=1)
        pids_before = dp.backend.pids()
        dp.inject_fault(1, 7)                                       # dies in its backward pass
        reports += dp.fit(*DATA, steps=1)
        pids_after = dp.backend.pids()
        dp.inject_fault(1, 7)
        reports += dp.fit(*DATA, steps=2)
        assert [r.restarts for r in reports] == [0, 1, 1, 0]
        assert [(r.loss, r.total_s, r.system_busy_s) for r in reports] == \
            [(r.loss, r.total_s, r.system_busy_s) for r in local_reports]
        assert all(np.array_equal(dp.params[k], local_params[k]) for k in local_params)
    assert pids_after[1] != pids_before[1]                          # a new process: the actor was restarted
    assert pids_after[0] == pids_before[0] and pids_after[2] == pids_before[2]


def test_a_systems_refusal_is_the_librarys_error_as_on_the_local_backend(ray_session):
    """x beyond float16's range in system 2's share: the local backend raised ws.ArgumentError, the ray
    backend a RayTaskError(ArgumentError) whose message was the actor's traceback. Now the same error on
    both, the step not applied, and the next step as a clean run's (checked against NumPy)."""
    x, labels = DATA[0][:6].copy(), DATA[1][:6]
    x[5, 0] = 1e6
    raised = {}
    for backend in ("local", "ray"):
        with Cluster(3, SPEC, backend=backend) as cluster:
            dp = cluster.trainer(MODEL, train.SGD(lr=0.2), batch_size=6, precision="float16")
            before = dp.params
            with pytest.raises(ws.ArgumentError) as err:
                dp.step(x, labels)
            raised[backend] = (type(err.value), str(err.value))
            assert dp.steps == 0 and all(np.array_equal(before[k], w) for k, w in dp.params.items())
            report = dp.step(DATA[0][:6], labels)
        loss = loss_and_gradients(MODEL, before, DATA[0][:6], labels, "float16")[0]
        assert report.loss == pytest.approx(loss, rel=1e-3)
    assert raised["ray"] == raised["local"] and "beyond float16's range" in raised["ray"][1]


def test_a_fault_the_failed_step_never_reached_does_not_fire_in_the_next_on_ray(ray_session):
    """As on the local backend: with one worker, system 0's death fails the step before system 2 is called;
    system 2's fault is disarmed, so the next step runs clean (checked against NumPy)."""
    x, labels = DATA[0][:6], DATA[1][:6]
    with Cluster(3, SPEC, backend="ray", workers=1, max_restarts=0) as cluster:
        dp = cluster.trainer(MODEL, train.SGD(lr=0.2), batch_size=6)
        start = dp.params
        dp.inject_fault(0, 1)
        dp.inject_fault(2, 1)
        with pytest.raises(SystemFailedError, match="system 0"):
            dp.step(x, labels)
        report = dp.step(x, labels)
    assert report.restarts == 0 and dp.steps == 1
    assert report.loss == pytest.approx(loss_and_gradients(MODEL, start, x, labels)[0], rel=1e-5)
