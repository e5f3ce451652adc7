"""Where a cluster's systems run: `LocalBackend` (every system in this process, one after another) and
`RayBackend` (each system a Ray actor with its own `Device`, up to `workers` stepping at once).

Both restart a system that fails mid-step and redo its part of the step from the same broadcast weights:
a system keeps no state between steps (`system.System`), so the redone part gives the same gradients and
the step the same result as if nothing had failed. Ray restarts a dead actor itself (as often as it dies:
Ray's own `max_restarts` counts over an actor's lifetime, the cluster's counts in one step); the local
backend builds the system again. A system that fails more than `max_restarts` times in one step raises
`SystemFailedError`, and is still there (restarted) for the next step.
"""
from __future__ import annotations

import time
from typing import Any, Sequence

import numpy as np

from ..errors import WaferError
from .errors import ClusterError, SystemFailedError
from .system import SimulatedCrash, System, SystemResult

Share = tuple[np.ndarray, np.ndarray, float]  # a system's x, labels, and gradient scale
RAY_MISSING = "the ray backend needs Ray: pip install 'wafersim[cluster]'"
RESTART_TIMEOUT_S = 60.0  # how long a dead actor may take to come back (a new process importing wafersim)


def import_ray() -> Any:
    """The `ray` module, or a `ClusterError` saying how to install it."""
    try:
        import ray
    except ImportError as err:
        raise ClusterError(f"{RAY_MISSING} ({err})") from None
    return ray


def start_ray(address: str | None = None, workers: int | None = None) -> tuple[Any, int, int | None]:
    """Ray (started locally, or joined at `address`, unless already running), the number of systems to
    step at once (`workers`, default the CPUs Ray has), and the host memory of its nodes when it spans
    more than this machine (None: this machine's, which `cluster.memory` reads itself)."""
    ray = import_ray()
    if not ray.is_initialized():
        try:
            ray.init(address=address, include_dashboard=False, log_to_driver=False)
        except ConnectionError as err:  # (was Ray's bare ConnectionError: no running Ray at `address`)
            raise ClusterError(f"the ray backend could not join Ray at address={address!r}: {err} Start Ray there "
                               f"(`ray start --head`), or leave address out to start a local one",
                               address=address) from None
    resources = ray.cluster_resources()
    workers = workers if workers is not None else max(1, int(resources.get("CPU", 1)))  # (`Cluster` checked one)
    nodes = [node for node in ray.nodes() if node.get("Alive")]
    memory = int(resources["memory"]) if len(nodes) > 1 and "memory" in resources else None
    return ray, workers, memory


class _OneStepFaults:
    """`step` for both backends: a fault is for one step. One armed on a system the failed step never
    reached fired in the next step instead (inject_fault on systems 0 and 2, max_restarts=0: two steps
    failed, not one), so a failed step disarms every system's (`_disarm`)."""

    def step(self, weights: dict[str, np.ndarray], shares: Sequence[Share]) -> list[SystemResult]:
        try:
            return self._step(weights, shares)
        except Exception:
            self._disarm()
            raise


class LocalBackend(_OneStepFaults):
    """The systems in this process, stepped one after another in index order."""

    name = "local"

    def __init__(self, system_args: Sequence[tuple], max_restarts: int) -> None:
        self.system_args, self.max_restarts = list(system_args), max_restarts
        self.systems = [System(*args, in_process=True) for args in self.system_args]
        self.restarts = 0

    @property
    def concurrent(self) -> int:
        return 1

    def _disarm(self) -> None:
        for system in self.systems:
            system.inject_fault(None)

    def _step(self, weights: dict[str, np.ndarray], shares: Sequence[Share]) -> list[SystemResult]:
        results = []
        for i, (x, labels, scale) in enumerate(shares):
            failures = 0
            while True:
                try:
                    results.append(self.systems[i].step(weights, x, labels, scale))
                    break
                except SimulatedCrash as crash:
                    failures += 1
                    if failures > self.max_restarts:
                        raise SystemFailedError(f"system {i} failed {failures} times in one step (max_restarts="
                                                f"{self.max_restarts})", system=i, failures=failures) from crash
                    self.restarts += 1
                    self.systems[i] = System(*self.system_args[i], in_process=True)
        return results

    def inject_fault(self, system: int, at_transfer: int) -> None:
        self.systems[system].inject_fault(at_transfer)

    def pids(self) -> list[int]:
        return [s.pid() for s in self.systems]

    def close(self) -> None:
        self.systems = []


class RayBackend(_OneStepFaults):
    """Each system a Ray actor (Ray brings a dead one back, however often), at most `workers` of them
    stepping at once. Ray must be running (`start_ray`)."""

    name = "ray"

    def __init__(self, system_args: Sequence[tuple], max_restarts: int, workers: int) -> None:
        ray = self.ray = import_ray()
        self.workers = workers
        self.max_restarts = max_restarts
        # num_cpus=0: an actor reserves no CPU, so a cluster may have more systems than the machine has CPUs;
        # `workers` bounds how many step at once. SPREAD places them over the nodes of a real Ray cluster.
        # max_restarts=-1: Ray's limit is over the actor's lifetime, the cluster's (`max_restarts`) is per step,
        # counted in `step`; with Ray's a system that had failed in earlier steps stayed dead.
        remote = ray.remote(System).options(max_restarts=-1, max_task_retries=0, num_cpus=0,
                                            scheduling_strategy="SPREAD")
        self.actors = [remote.remote(*args, in_process=False) for args in system_args]
        self.restarts = 0
        self._left_down: set[int] = set()  # systems whose death failed the last step (restarting)

    @property
    def concurrent(self) -> int:
        return self.workers

    def _disarm(self) -> None:
        """Disarm every actor's fault (queued after its call in flight, if any; a dead actor has none)."""
        for actor in self.actors:
            try:
                self.ray.get(actor.inject_fault.remote(None), timeout=RESTART_TIMEOUT_S)
            except self.ray.exceptions.RayError:  # (a GetTimeoutError too)
                pass  # (restarted, or restarting: a new actor has no fault armed)

    def _step(self, weights: dict[str, np.ndarray], shares: Sequence[Share]) -> list[SystemResult]:
        ray = self.ray
        # An actor whose death failed the last step may still be restarting: a call now would fail (Ray's
        # ActorUnavailableError) and count as a failure of this step, which it is not.
        while self._left_down:
            down = self._left_down.pop()
            self._wait_until_back(down, SystemFailedError(f"system {down} failed the previous step"))
        weights_ref = ray.put(weights)  # broadcast: one copy in the object store, read by every actor
        results: list[SystemResult | None] = [None] * len(shares)
        failures = [0] * len(shares)
        waiting = list(range(len(shares)))
        running: dict[Any, int] = {}
        while waiting or running:
            while waiting and len(running) < self.workers:
                i = waiting.pop(0)
                x, labels, scale = shares[i]
                running[self.actors[i].step.remote(weights_ref, x, labels, scale)] = i
            done, _ = ray.wait(list(running), num_returns=1)
            i = running.pop(done[0])
            try:
                results[i] = ray.get(done[0])
            except ray.exceptions.RayTaskError as err:
                # A system refused its share (e.g. x beyond float16's range): raise the library's own error, as
                # the local backend does, not Ray's wrapper (its type a RayTaskError(...) and its message the
                # actor's traceback). The step is not applied; the other systems' calls finish on their own.
                if isinstance(err.cause, WaferError):
                    raise err.cause from None
                raise
            except ray.exceptions.RayActorError as err:
                failures[i] += 1
                if failures[i] > self.max_restarts:
                    self._left_down.add(i)  # (Ray restarts it; the next step waits for it: `_step`)
                    raise SystemFailedError(f"system {i} (a Ray actor) died {failures[i]} times in one step "
                                            f"(max_restarts={self.max_restarts}): {err}", system=i,
                                            failures=failures[i]) from None
                self.restarts += 1
                self._wait_until_back(i, err)
                waiting.insert(0, i)
        return results  # type: ignore[return-value]

    def _wait_until_back(self, i: int, cause: Exception) -> None:
        """Wait for Ray to restart actor i: calls made while it is down fail too, and must neither count
        as failures of the step nor use up its restarts."""
        deadline = time.monotonic() + RESTART_TIMEOUT_S
        while True:
            try:
                self.ray.get(self.actors[i].pid.remote(), timeout=RESTART_TIMEOUT_S)
                return
            except (self.ray.exceptions.RayActorError, self.ray.exceptions.GetTimeoutError) as err:
                if time.monotonic() > deadline:
                    raise SystemFailedError(f"system {i} (a Ray actor) did not come back within "
                                            f"{RESTART_TIMEOUT_S:.0f} s of failing: {cause}; last: {err}",
                                            system=i) from None
                time.sleep(0.1)

    def inject_fault(self, system: int, at_transfer: int) -> None:
        self.ray.get(self.actors[system].inject_fault.remote(at_transfer))

    def pids(self) -> list[int]:
        return self.ray.get([a.pid.remote() for a in self.actors])

    def close(self) -> None:
        for actor in self.actors:
            self.ray.kill(actor, no_restart=True)
        self.actors = []
