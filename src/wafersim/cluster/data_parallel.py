"""Data-parallel training on a `Cluster`, and what each step cost.

A step: MemoryX's weights are broadcast through SwarmX to every system; system i runs forward and
backward on its share of the batch (rows `[i * B // n, (i + 1) * B // n)`), its loss gradient divided by
B, not by its share (its dy are those of one system on the whole batch); the tree adds the systems'
gradients in its fixed order; MemoryX applies the optimizer. The sum is the gradient of the whole batch's
mean loss, so the loss curve is that of one system trained on the whole batch, up to float32 rounding (one
system: exactly).

**Simulated time** (`ClusterStepReport`): the systems run at once, so the step waits for the slowest
(`compute_s` and `wafer_traffic_s` are its), plus every tensor of the step through the tree, one after
another as in single-system training (`broadcast_s` down, `reduce_s` up, `SwarmXTree.transfer_seconds`).
With one system and no tree this is exactly a `train.Trainer` step's time.
"""
from __future__ import annotations

import functools

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from ..arch.values import is_integer, plural
from ..errors import call_checked, check_calls
from ..train import MemoryX, Model, checkpoint
from ..train.data import batch, check_data, training_input
from ..train.memoryx import Optimizer
from ..train.errors import check_instance, check_whole
from ..train.trainer import TRAINER_KEYWORD_HINTS, Trainer, check_options, check_steps, read_only_copies
from . import memory
from .backends import LocalBackend, RayBackend
from .errors import ClusterArgumentError, ClusterArgumentTypeError, ClusterClosedError
from .swarmx import SwarmXTree

if TYPE_CHECKING:
    from .cluster import Cluster
from .system import System, SystemResult


@dataclasses.dataclass(frozen=True)
class ClusterStepReport:
    """One data-parallel step: its loss (before the update) and its simulated cost."""

    step: int
    n_systems: int
    samples: int
    loss: float
    compute_s: float  # of the slowest system
    wafer_traffic_s: float  # of the slowest system
    broadcast_s: float  # weights, MemoryX -> SwarmX -> systems
    reduce_s: float  # gradients, systems -> SwarmX (adding) -> MemoryX
    system_busy_s: tuple[float, ...]  # every system's compute + wafer traffic
    launches: int  # over all systems
    flops: int  # over all systems
    restarts: int  # systems restarted during the step
    transfers: tuple[tuple[str, str, int], ...]  # (kind, tensor, bytes) of each tensor through the tree, in order
    # host CPU seconds the systems' simulation took (not simulated time; differs from run to run)
    host_cpu_s: float = dataclasses.field(default=0.0, compare=False)

    @property
    def total_s(self) -> float:
        return self.compute_s + self.wafer_traffic_s + self.broadcast_s + self.reduce_s

    @property
    def samples_per_s(self) -> float:
        return self.samples / self.total_s

    def summary(self) -> str:
        us = 1e6
        systems = f"{self.n_systems} system" + ("s" if self.n_systems > 1 else "")
        return (f"step {self.step} on {systems}: loss {self.loss:.4f}, {self.total_s * us:.2f} us = "
                f"compute {self.compute_s * us:.2f} + wafer traffic {self.wafer_traffic_s * us:.2f} + broadcast "
                f"{self.broadcast_s * us:.2f} + reduce {self.reduce_s * us:.2f}; {self.samples_per_s:,.0f} samples/s"
                + (f"; {plural(self.restarts, 'restart')}" if self.restarts else ""))


TRANSFER_KINDS = ("weight_bytes", "gradient_bytes")


@functools.partial(call_checked, error=ClusterArgumentTypeError)
def tree_seconds(tree: SwarmXTree, transfers: Sequence[tuple[str, str, int]]) -> tuple[float, float]:
    """(broadcast_s, reduce_s): a step's weight and gradient transfers (kind, tensor, bytes) through `tree`,
    one after another; each kind is "weight_bytes" or "gradient_bytes" (a `ClusterArgumentError` otherwise)."""
    check_instance(tree, SwarmXTree, "tree_seconds(tree)", "a SwarmXTree", ClusterArgumentTypeError)
    check_instance(transfers, (list, tuple), "tree_seconds(transfers)", "a list of (kind, tensor, bytes)",
                   ClusterArgumentTypeError)
    for transfer in transfers:
        if not (isinstance(transfer, (list, tuple)) and len(transfer) == 3):
            raise ClusterArgumentTypeError(f"tree_seconds(transfers): each transfer must be (kind, tensor, bytes), "
                                           f"got {transfer!r}", transfer=transfer)
        if transfer[0] not in TRANSFER_KINDS:
            raise ClusterArgumentError(f"tree_seconds(transfers): a transfer's kind must be one of {TRANSFER_KINDS}, "
                                       f"got {transfer[0]!r}", kind=transfer[0])
    seconds = {kind: sum(tree.transfer_seconds(n) for k, _, n in transfers if k == kind)
               for kind in TRANSFER_KINDS}
    return seconds["weight_bytes"], seconds["gradient_bytes"]


@functools.partial(call_checked, error=ClusterArgumentTypeError)
def split(batch_size: int, n_systems: int) -> list[tuple[int, int]]:
    """Each system's rows of a batch, (start, stop), as equal as they can be (n_systems >= 1, batch_size
    >= n_systems, whole numbers, Python's or NumPy's)."""
    n_systems = check_whole(n_systems, "split(n_systems)", 1, ClusterArgumentTypeError, ClusterArgumentError)
    # (a float or bool batch is a type error, not "cannot be split": 6.0 over 5 systems was refused as too small)
    if not is_integer(batch_size):
        raise ClusterArgumentTypeError(f"batch_size must be a whole number >= {n_systems} (one sample a system) "
                                       f"given as an int (not a {type(batch_size).__name__}), got {batch_size!r}",
                                       batch_size=batch_size)
    batch_size = int(batch_size)
    if batch_size < n_systems:
        raise ClusterArgumentError(f"a batch of {batch_size!r} samples cannot be split over {n_systems} systems "
                                   f"(each needs at least one): use a batch_size of at least {n_systems}",
                                   batch_size=batch_size, n_systems=n_systems)
    return [(i * batch_size // n_systems, (i + 1) * batch_size // n_systems) for i in range(n_systems)]


class DataParallelTrainer:
    """Trains `model` with `optimizer` on every system of `cluster` (made by `Cluster.trainer`)."""

    def __init__(self, cluster: Cluster, model: Model, optimizer: Optimizer, batch_size: int, seed: int,
                 params: dict[str, np.ndarray] | None, tile: int, chunk: int, precision: str = "float32") -> None:
        check_options(model, optimizer, seed, tile, chunk)
        Trainer.check_precision(precision)
        self.bounds = split(batch_size, cluster.n_systems)
        batch_size = self.bounds[-1][1]  # (an int: a NumPy integer is taken, as train.Trainer takes it)
        self.cluster, self.model, self.batch_size, self.precision = cluster, model, batch_size, precision
        shares = [stop - start for start, stop in self.bounds]
        largest = max(shares)
        ray = cluster.backend == "ray"
        self.memory = memory.estimate(model, largest, cluster.spec, cluster.n_systems, concurrent=cluster.workers,
                                      actor_processes=ray, tile=tile, chunk=chunk, available=cluster.ray_memory)
        self.memory.check(f"a cluster on the {cluster.backend} backend")
        self.memoryx = MemoryX(model.check_params(params) if params is not None else model.init_params(seed),
                               optimizer, cluster.memoryx)
        args = [(i, model, share, cluster.spec, tile, chunk, precision) for i, share in enumerate(shares)]
        if ray:
            System(*args[shares.index(largest)], in_process=True)  # a model that does not fit fails here, at once
            self.backend = RayBackend(args, cluster.max_restarts, cluster.workers)
        else:
            self.backend = LocalBackend(args, cluster.max_restarts)
        self.steps = 0
        self.closed = False
        self.transfers_per_step: int | None = None  # known after the first step (every step streams the same)

    @property
    def params(self) -> dict[str, np.ndarray]:
        """Read-only copies of MemoryX's current weights (as `train.Trainer.params`)."""
        return read_only_copies(self.memoryx.weights)

    def save_checkpoint(self, path: str | Path) -> Path:
        """Write MemoryX's weights and optimizer state (and its step count), `steps` (the batch position) and
        what a load checks (model, optimizer, batch size, the number of systems) to `path`, in the format of
        `train.Trainer.save_checkpoint` (`train.checkpoint`); returns the path. Works after `close()` too."""
        return checkpoint.save(self, path, "data_parallel", self.precision, {"systems": self.cluster.n_systems})

    def load_checkpoint(self, path: str | Path, weights_only: bool = False) -> dict:
        """Continue from a checkpoint (`save_checkpoint`, or a `train.Trainer`'s, of any mode), as
        `train.Trainer.load_checkpoint`: the same model and batch size and an optimizer of the same type
        (else a `CheckpointError`); the trainer's own hyperparameters are used. On the same number of
        systems the run goes on bit for bit; on another number (or from a single trainer) the tree adds
        the gradients in another order, equal up to float32 rounding. Returns the file's meta."""
        return checkpoint.load(self, path, weights_only)

    def inject_fault(self, system: int, at_transfer: int = 0) -> None:
        """Make `system` die in the next step at its `at_transfer`-th weight/gradient transfer (to test
        recovery): a Ray actor's process is killed, an in-process system raises and is rebuilt."""
        self._check_open()
        if not is_integer(system) or not 0 <= system < self.cluster.n_systems:
            raise ClusterArgumentError(f"system {system!r} is not one of the cluster's {self.cluster.n_systems} "
                                       f"(0 to {self.cluster.n_systems - 1})", system=system)
        last = self.transfers_per_step
        if not is_integer(at_transfer) or at_transfer < 0 or (last is not None and at_transfer >= last):
            within = f"0 to {last - 1}: a step of this model has {last} transfers" if last is not None else ">= 0"
            raise ClusterArgumentError(f"inject_fault: at_transfer must be an int, {within}; got {at_transfer!r}",
                                       at_transfer=at_transfer, transfers=last)
        self.backend.inject_fault(int(system), int(at_transfer))

    def _check_open(self) -> None:
        if self.closed:
            raise ClusterClosedError("this trainer's cluster was closed (Cluster.close(), or the end of its with "
                                     "block): make a new Cluster and trainer to train again")

    def step(self, x: np.ndarray, labels: np.ndarray) -> ClusterStepReport:
        """One step on a batch of `batch_size` samples: broadcast, forward and backward on every system,
        tree reduction, MemoryX update."""
        self._check_open()
        x = training_input(x)
        labels = np.asarray(labels)
        check_data(x, labels, self.model.in_features, self.model.classes, self.batch_size, one_batch=True)
        shares = [(x[a:b], labels[a:b], (b - a) / self.batch_size) for a, b in self.bounds]
        restarts = self.backend.restarts
        results = self.backend.step(self.memoryx.weights, shares)
        self.transfers_per_step = len(results[0].transfers)
        missed = [(r.system, r.missed_fault) for r in results if r.missed_fault is not None]
        if missed:  # before the update: the step is not applied, and the next one runs without the fault
            system, at = missed[0]
            raise ClusterArgumentError(
                f"inject_fault(system={system}, at_transfer={at}) never fired: a step of this model has "
                f"{self.transfers_per_step} transfers (0 to {self.transfers_per_step - 1}); the step was not "
                f"applied (the weights are unchanged): inject the fault at a transfer below "
                f"{self.transfers_per_step} and step again", system=system, at_transfer=at,
                transfers=self.transfers_per_step)
        for name, gradient in self.cluster.tree.reduce([r.gradients for r in results]).items():
            self.memoryx.receive_gradient(name, gradient)
        self.memoryx.update()
        self.memoryx.take_counters()  # MemoryX's own charges assume one system; the tree's are below
        self.steps += 1
        return self._report(results, shares, self.backend.restarts - restarts)

    def _report(self, results: list[SystemResult], shares: list, restarts: int) -> ClusterStepReport:
        transfers = results[0].transfers  # every system streams the same tensors
        broadcast_s, reduce_s = tree_seconds(self.cluster.tree, transfers)
        slowest = max(results, key=lambda r: r.busy_s)
        loss = sum(scale * r.loss for r, (_, _, scale) in zip(results, shares))
        return ClusterStepReport(
            step=self.steps - 1, n_systems=len(results), samples=self.batch_size, loss=float(loss),
            compute_s=slowest.compute_s, wafer_traffic_s=slowest.wafer_traffic_s, broadcast_s=broadcast_s,
            reduce_s=reduce_s, system_busy_s=tuple(r.busy_s for r in results),
            launches=sum(r.launches for r in results), flops=sum(r.flops for r in results), restarts=restarts,
            transfers=transfers, host_cpu_s=sum(r.cpu_s for r in results))

    def fit(self, x: np.ndarray, labels: np.ndarray, steps: int) -> list[ClusterStepReport]:
        """`steps` (>= 0) more steps over the data set, batch after batch (cycling), as `train.Trainer.fit`."""
        self._check_open()
        steps = check_steps(steps)
        check_data(np.asarray(x), np.asarray(labels), self.model.in_features, self.model.classes, self.batch_size)
        return [self.step(*batch(x, labels, self.batch_size, self.steps)) for _ in range(steps)]

    def close(self) -> None:
        """Release the systems (Ray actors are killed); stepping afterwards is a `ClusterClosedError`."""
        self.backend.close()
        self.closed = True


check_calls(DataParallelTrainer, ClusterArgumentTypeError,
            ["step", "fit", "save_checkpoint", "load_checkpoint", "inject_fault"], TRAINER_KEYWORD_HINTS)
