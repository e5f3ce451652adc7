"""One system of a cluster: a wafer (`Device`) with a weight-streaming `Trainer` that computes the
gradients of its share of each batch from the weights SwarmX broadcast, and hands them back for the tree
to reduce. The same class runs in-process (the `local` backend) and inside a Ray actor (`ray`).

A system keeps no training state between steps: its weights are overwritten by each step's broadcast,
and its optimizer (`GradientTap`) applies nothing. So a system that dies can be restarted from its
constructor's arguments and its step redone from the broadcast weights with the same result.
"""
from __future__ import annotations

import dataclasses
import os
import signal
import time

import numpy as np

from ..arch.spec import WaferSpec
from ..runtime.device import Device
from ..train import Model, Trainer, default_device
from ..train.timeline import Timeline


@dataclasses.dataclass(frozen=True)
class GradientTap:
    """The optimizer of a system's copy of the weights: instead of updating a tensor it keeps the step's
    gradient (in `state["gradient"]`) for the cluster, whose MemoryX applies the real optimizer."""

    @property
    def state_per_param(self) -> int:
        return 0

    def update(self, w: np.ndarray, g: np.ndarray, state: dict[str, np.ndarray], step: int) -> None:
        state["gradient"] = g


@dataclasses.dataclass(frozen=True)
class SystemResult:
    """What one system sends back from a step."""

    system: int
    gradients: dict[str, np.ndarray]  # its share's part of the gradient of the whole batch's mean loss
    loss: float  # mean over its share
    compute_s: float
    wafer_traffic_s: float
    launches: int
    fabric_words: int
    flops: int
    transfers: tuple[tuple[str, str, int], ...]  # (kind, tensor, bytes) of each weight/gradient stream, in order
    cpu_s: float = dataclasses.field(default=0.0, compare=False)  # host CPU time the simulation of the step took
    # a fault armed for the step (`inject_fault`) at a transfer past the step's last one: it never fired
    missed_fault: int | None = None

    @property
    def busy_s(self) -> float:
        """The system's own time in the step: compute and on-wafer traffic."""
        return self.compute_s + self.wafer_traffic_s


class SimulatedCrash(Exception):
    """Raised by a system of the local backend where a Ray actor's process would die (`inject_fault`)."""


class System:
    """System `index` of a cluster: trains `model` on batches of `share` samples on a wafer of `spec` (or,
    with `spec=None`, one just large enough, `train.default_device`)."""

    def __init__(self, index: int, model: Model, share: int, spec: WaferSpec | None, tile: int, chunk: int,
                 precision: str = "float32", in_process: bool = True) -> None:
        self.index, self.share, self.in_process = index, share, in_process
        device = Device(spec) if spec is not None else default_device(model, share, tile, chunk)
        self.trainer = Trainer(model, GradientTap(), share, device=device, mode="streaming", tile=tile, chunk=chunk,
                               precision=precision)
        self.memoryx = self.trainer.memoryx
        self._fault_at: int | None = None
        self._transfers: list[tuple[str, str, int]] = []

        def on_transfer(kind: str, tensor: str, nbytes: int, seconds: float) -> None:
            self._transfers.append((kind, tensor, nbytes))
            if self._fault_at is not None and len(self._transfers) > self._fault_at:
                self._die()
            self.trainer.timeline.transfer(kind, tensor, nbytes, seconds)

        self.memoryx.on_transfer = on_transfer

    def pid(self) -> int:
        """The process the system runs in."""
        return os.getpid()

    def inject_fault(self, at_transfer: int | None) -> None:
        """Die in the next step, at its `at_transfer`-th weight or gradient transfer (0 = the first), as a
        machine that fails mid-step: a Ray actor's process kills itself (SIGKILL), an in-process system
        raises `SimulatedCrash`. A restarted system has no fault armed; None disarms one."""
        self._fault_at = at_transfer

    def _die(self) -> None:
        if self.in_process:
            raise SimulatedCrash(f"system {self.index} failed (injected)")
        os.kill(os.getpid(), signal.SIGKILL)

    def step(self, weights: dict[str, np.ndarray], x: np.ndarray, labels: np.ndarray, scale: float) -> SystemResult:
        """Load the broadcast `weights`, run forward and backward on this system's share (`x`, `labels`),
        and return its part of the gradient of the whole batch's mean loss (`scale` = share / batch), so
        that the tree's sum is that gradient."""
        for name, value in weights.items():
            self.memoryx.weights[name][...] = value
        # Each sample's loss gradient is divided by the whole batch (1 / B, B = share / scale) in the loss
        # kernel, as one system on the whole batch divides it, rather than by the share and then scaled by
        # share / B: in mixed precision the dy are rounded to 16 bits, and (p - y) / share rounded, times
        # share / B, is another value than (p - y) / B rounded (n systems then drifted from one system by as
        # much as bfloat16 from float32).
        self.trainer.loss_grad_scale = 1.0 / round(x.shape[0] / scale)
        self._transfers = []
        cpu = time.process_time()
        armed = self._fault_at
        try:
            report = self.trainer.step(x, labels)
        finally:
            self._fault_at = None  # a fault is for one step: one that did not fire is disarmed, and reported
        # The step's launch statistics are in its report; a wafer-sized launch keeps 56 bytes a PE of them,
        # which would pile up over a run. Drop them, and start the system's timeline afresh.
        self.trainer.device.launches.clear()
        self.trainer.timeline = Timeline(self.trainer.device)
        gradients = {name: state.pop("gradient") for name, state in self.memoryx.state.items()
                     if "gradient" in state}
        return SystemResult(self.index, gradients, report.loss, report.compute_s, report.wafer_traffic_s,
                            report.launches, report.fabric_words, report.flops, tuple(self._transfers),
                            time.process_time() - cpu, armed)
