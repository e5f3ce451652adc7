"""`Cluster`: n wafer-scale systems behind a SwarmX tree and one MemoryX, on a backend that runs the
simulation (`local`, in this process; `ray`, each system a Ray actor)."""
from __future__ import annotations

import functools

import numpy as np

from ..arch.spec import WaferSpec
from ..errors import call_checked, check_calls
from ..kernels import ml
from ..runtime.device import resolve_spec
from ..train import MemoryXSpec, Model
from ..train.memoryx import Optimizer
from .backends import import_ray, start_ray
from ..train.trainer import TRAINER_KEYWORD_HINTS
from .data_parallel import DataParallelTrainer
from ..train.errors import check_instance, check_whole
from .errors import ClusterArgumentError, ClusterArgumentTypeError, ClusterClosedError, ClusterError
from .swarmx import SwarmXSpec, SwarmXTree

BACKENDS = ("local", "ray")


class Cluster:
    """`n_systems` systems, each a wafer of `spec` (a `WaferSpec`, a preset name, or None for wafers just
    large enough for the model), under a SwarmX tree (`swarmx`) fed by MemoryX (`memoryx`).

    `backend="local"` simulates the systems in this process, one after another; `backend="ray"` makes
    each a Ray actor holding its own `Device` (Ray is joined at `address`, or started locally unless it
    is running), `workers` of them stepping at once (default: Ray's CPUs). Both give bit-identical
    weights, losses and simulated times. A system that dies mid-step is restarted (up to `max_restarts`
    times a step) and its part of the step redone. `trainer(model, optimizer, batch_size)` makes a
    data-parallel trainer; use the cluster as a context manager, or `close()` it, to release its actors."""

    def __init__(self, n_systems: int, spec: WaferSpec | str | None = None, swarmx: SwarmXSpec | None = None,
                 memoryx: MemoryXSpec | None = None, backend: str = "local", workers: int | None = None,
                 max_restarts: int = 3, address: str | None = None) -> None:
        if backend not in BACKENDS:
            raise ClusterArgumentError(f"backend must be one of {BACKENDS}, got {backend!r}", backend=backend)
        check_whole(n_systems, "Cluster(n_systems)", 1, ClusterArgumentTypeError, ClusterArgumentError)
        check_whole(max_restarts, "Cluster(max_restarts)", 0, ClusterArgumentTypeError, ClusterArgumentError)
        # (address=5 was a bare TypeError from inside ray.init)
        check_instance(address, (str, type(None)), "Cluster(address)",
                       'None or a Ray address ("auto", "ray://host:port")', ClusterArgumentTypeError)
        if workers is not None:  # (before Ray starts)
            check_whole(workers, "Cluster(workers)", 1, ClusterArgumentTypeError, ClusterArgumentError)
        check_instance(swarmx, (SwarmXSpec, type(None)), "Cluster(swarmx)", "None or a cluster.SwarmXSpec(...)",
                       ClusterArgumentTypeError)
        check_instance(memoryx, (MemoryXSpec, type(None)), "Cluster(memoryx)", "None or a train.MemoryXSpec(...)",
                       ClusterArgumentTypeError)
        self.spec = resolve_spec(spec) if spec is not None else None
        self.memoryx = memoryx or MemoryXSpec()
        self.tree = SwarmXTree(n_systems, swarmx, self.memoryx)
        self.n_systems, self.backend, self.max_restarts = n_systems, backend, max_restarts
        self.workers, self.ray_memory, self.ray = 1, None, None
        if backend == "ray":
            self.ray, self.workers, self.ray_memory = start_ray(address, workers)
        elif workers is not None:
            raise ClusterArgumentError("workers applies to the ray backend only", workers=workers)
        elif address is not None:  # (it was ignored: a local cluster said nothing of the Ray cluster not joined)
            raise ClusterArgumentError(f"address={address!r} applies to the ray backend only (it joins a Ray "
                                       f"cluster): pass backend=\"ray\", or leave address out", address=address)
        self._trainers: list[DataParallelTrainer] = []
        self.closed = False

    @property
    def swarmx(self) -> SwarmXSpec:
        return self.tree.spec

    def __repr__(self) -> str:
        wafer = self.spec.summary() if self.spec else "wafers sized to the model"
        return f"Cluster({self.n_systems} systems, {self.backend}, {wafer}; {self.tree.summary()})"

    def trainer(self, model: Model, optimizer: Optimizer, batch_size: int, seed: int = 0,
                params: dict[str, np.ndarray] | None = None, tile: int = ml.dense.DEFAULT_TILE,
                chunk: int = ml.DEFAULT_CHUNK, precision: str = "float32") -> DataParallelTrainer:
        """A `DataParallelTrainer` of `model` on this cluster: each step's `batch_size` samples split over
        the systems, each system's dense products in `precision` (as `train.Trainer`'s; MemoryX's master
        weights stay float32). Checks the host memory first (`ClusterTooLargeError` before anything is
        allocated). A closed cluster makes none (`ClusterClosedError`)."""
        if self.closed:  # (it did, and on the ray backend started new actors after close() had released them)
            raise ClusterClosedError("this cluster was closed (Cluster.close(), or the end of its with block): "
                                     "make a new Cluster to train again")
        trainer = DataParallelTrainer(self, model, optimizer, batch_size, seed, params, tile, chunk, precision)
        self._trainers.append(trainer)
        return trainer

    def close(self) -> None:
        """Release the systems of every trainer (Ray actors are killed); Ray itself stays up."""
        for trainer in self._trainers:
            trainer.close()
        self._trainers = []
        self.closed = True

    def __enter__(self) -> "Cluster":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@functools.partial(call_checked, error=ClusterArgumentTypeError)
def ray_available() -> tuple[bool, str]:
    """Whether the ray backend can be used here, and if not, why."""
    try:
        import_ray()
    except ClusterError as err:
        return False, str(err)
    return True, ""


check_calls(Cluster, ClusterArgumentTypeError, ["__init__", "trainer"],
            {**TRAINER_KEYWORD_HINTS, "gpus": "each system is a wafer: Cluster(n_systems, spec); with "
                                              "backend=\"ray\", workers= systems step at once"})
