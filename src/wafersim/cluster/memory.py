"""How much host memory simulating a cluster takes, checked before any system is allocated.

A system holds, for the whole run, its device memory (the step's activations, its copy of the weights,
the streamed copies and the gradients). While it steps, it also holds the simulator's state of the launch
it runs (`sim.hostmem.launch_bytes`: registers, SRAM, FIFOs, clocks over the PEs of the step's largest
block) and the statistics of every launch of the step so far (per PE of the whole wafer: 56 bytes a
launch, 42 MB on a wse2-sized wafer), which the step's report needs and the system drops when the step
ends. Launches of one process run one at a time, so a machine needs that once per system stepping at the
same time (one for the `local` backend, `workers` for `ray`). A Ray actor is a Python process of its own,
with wafersim and NumPy loaded: `ACTOR_PROCESS_BYTES` more each.
"""
from __future__ import annotations

import dataclasses
import math

from ..arch.spec import WaferSpec
from ..arch.values import plural
from ..kernels import ml
from ..sim.hostmem import available_bytes, format_bytes, launch_bytes
from ..train import Model, default_device
from ..train.errors import check_instance, check_whole
from .errors import ClusterArgumentError, ClusterArgumentTypeError, ClusterTooLargeError

# Resident memory of a Ray actor's process (measured with Ray 2.60 on Linux, VmRSS: 100 MiB once wafersim
# is imported, 111 MiB after two small training steps); rounded up for larger models' compiled kernels.
ACTOR_PROCESS_BYTES = 160 * 2**20
# The library's kernels send on channels 0 and 1 only, in the four directions: at most 8 FIFOs a PE.
FIFOS_PER_PE = 8
# Launches of a weight-streaming step, at most, by layer (counted from `train.Trainer` steps, with room to
# spare; tests/test_cluster_memory.py checks the bound): a dense layer's forward product, bias and
# activation and its backward activation, two products and column sum; a layer norm's passes; a
# transformer block's fixed launches and its attention per sequence; the loss.
LAUNCHES = {"Dense": 7, "LayerNorm": 4, "TransformerBlock": 50, "loss": 2}
LAUNCHES_PER_SEQUENCE = 10  # a transformer block's attention forward and backward, for each sequence


@dataclasses.dataclass(frozen=True)
class ClusterMemory:
    """Host memory of a cluster's simulation: per system, per concurrent launch, and in all."""

    n_systems: int
    concurrent: int  # systems stepping at once on one machine
    system_bytes: int  # resident per system (device memory, and its process for Ray)
    launch_bytes: int  # a stepping system's launch state and its step's launch statistics
    available: int | None  # on this machine (or the Ray cluster), None where unknown

    @property
    def needed(self) -> int:
        return self.n_systems * self.system_bytes + min(self.concurrent, self.n_systems) * self.launch_bytes

    @property
    def systems_per_worker(self) -> int:
        """How many systems one machine of `available` bytes can hold (0 if not even one): k systems need
        k resident parts and min(k, concurrent) launches, since a machine holding fewer systems than
        `concurrent` never has more launches than systems at once."""
        if self.available is None:
            return self.n_systems
        launches = min(self.concurrent, self.n_systems)
        if self.system_bytes + self.launch_bytes <= 0:
            return self.n_systems
        # Up to `launches` systems, each stepping with a launch of its own ...
        stepping = self.available // (self.system_bytes + self.launch_bytes)
        if stepping < launches:
            return max(0, stepping)
        if not self.system_bytes:
            return self.n_systems
        # ... and past that, with every launch paid for, one more system for every `system_bytes` left.
        return (self.available - launches * self.launch_bytes) // self.system_bytes

    @property
    def workers_needed(self) -> int | None:
        """Machines of this size the cluster would need (None if one system alone does not fit one)."""
        per = self.systems_per_worker
        return math.ceil(self.n_systems / per) if per else None

    def check(self, what: str) -> None:
        """Refuse, with the numbers, a cluster that does not fit the memory available."""
        if self.available is None or self.needed <= self.available:
            return
        launches = min(self.concurrent, self.n_systems)
        if self.workers_needed is None:
            advice = "not even one system fits a machine of this size: use smaller wafers or a larger machine"
        else:
            per = plural(self.systems_per_worker, "system")
            advice = (f"it would need {plural(self.workers_needed, 'worker')} (machines) of this size, "
                      f"{per} each, or at most {per} here")
        raise ClusterTooLargeError(
            f"{what}: {self.n_systems} systems need about {_size(self.needed)} of host memory "
            f"({self.n_systems} x {_size(self.system_bytes)} per system + {plural(launches, 'launch')} at once x "
            f"{_size(self.launch_bytes)}) but {_size(self.available)} is available; "
            f"{advice}", needed=self.needed, available=self.available, n_systems=self.n_systems,
            system_bytes=self.system_bytes, launch_bytes=self.launch_bytes, workers_needed=self.workers_needed,
            systems_per_worker=self.systems_per_worker)


def _size(nbytes: int) -> str:
    """`nbytes` as `format_bytes` writes it (B for whole bytes): a small system does not print as 0.00 MiB."""
    return format_bytes(nbytes, "B")


def launches_per_step(model: Model, share: int) -> int:
    """An upper bound of the launches of one weight-streaming step of `share` samples."""
    count = LAUNCHES["loss"]
    for layer in model.layers:
        kind = type(layer).__name__
        count += LAUNCHES[kind] + (LAUNCHES_PER_SEQUENCE * share if kind == "TransformerBlock" else 0)
    return count


def estimate(model: Model, share: int, spec: WaferSpec | None, n_systems: int, *, concurrent: int = 1,
             actor_processes: bool = False, tile: int = ml.dense.DEFAULT_TILE, chunk: int = ml.DEFAULT_CHUNK,
             available: int | None = None) -> ClusterMemory:
    """The host memory of `n_systems` systems training `model` on shares of `share` samples on wafers of
    `spec` (None: each just large enough), `concurrent` of them stepping at once, each in a process of its
    own if `actor_processes` (Ray); `available` defaults to what this machine has
    (`sim.hostmem.available_bytes`). `share` and `n_systems` are whole numbers >= 1 (a
    `ClusterArgumentError` otherwise)."""
    check_instance(model, Model, "estimate(model)", "a train.Model", ClusterArgumentTypeError)
    check_whole(share, "estimate(share)", 1, ClusterArgumentTypeError, ClusterArgumentError)
    check_whole(n_systems, "estimate(n_systems)", 1, ClusterArgumentTypeError, ClusterArgumentError)
    check_instance(spec, (WaferSpec, type(None)), "estimate(spec)", "None or a WaferSpec", ClusterArgumentTypeError)
    # (concurrent=0 counted no launch at all, and a negative `available` was reported as "-1 B is available")
    concurrent = check_whole(concurrent, "estimate(concurrent)", 1, ClusterArgumentTypeError, ClusterArgumentError)
    if available is not None:
        available = check_whole(available, "estimate(available)", 0, ClusterArgumentTypeError, ClusterArgumentError)
    block = default_device(model, share, tile, chunk).spec  # the largest block any launch of a step uses
    wafer = spec if spec is not None else block
    pes = min(block.width, wafer.width) * min(block.height, wafer.height)
    parts = launch_bytes(pes, wafer.n_pes, wafer.registers, wafer.sram_bytes // 4, FIFOS_PER_PE, wafer.fifo_depth, 8)
    # one launch's state, and the statistics of the step's other launches, kept until the step ends
    launch = sum(parts.values()) + (launches_per_step(model, share) - 1) * parts["statistics"]
    # activations, and four copies of the weights: the system's, the streamed ones, gradients, scaled gradients
    resident = model.activation_bytes(share) + 4 * model.param_bytes
    if actor_processes:
        resident += ACTOR_PROCESS_BYTES
    if available is None:
        available = available_bytes()
    return ClusterMemory(n_systems, concurrent, resident, launch, available)
