"""Staged pipelined mode: pipelined training of a model with a `TransformerBlock` (the step kernel of
`pipeline_kernel` runs dense layers and layer norms only).

**Placement.** Each layer is a stage on its own region of PEs: regions side by side along x, each as wide
and as tall as the largest block its launches need for a micro-batch (its SUMMA blocks and row-layout
blocks, the loss's on the last one), so regions never overlap; a model whose regions do not fit the
wafer side by side is a `ModelDoesNotFitError`. The simulator launches every block at the wafer's origin:
the regions are what the plan reserves, and what lets stages run at the same time in the schedule below.

**Weights stay on the wafer.** A stage's parameters, their optimizer state and the gradients summed over
the micro-batches live in device memory standing for its region's SRAM (as in `pipelined`), as
`(rows, chunk)` float32 arrays; nothing streams from MemoryX. Its layer runs forward and backward on the ML
kernels (`layers`, as in weight-streaming mode), the micro-batches' gradients add up on the wafer
(`kernels.ml.add`) and the optimizer runs on the wafer (`stage_kernels.update_kernel`). The SRAM check
covers the weights, the optimizer state, the summed gradients, the 16-bit copy in mixed precision and the
activations every micro-batch keeps for the backward pass.

**Micro-batches.** The batch goes through in micro-batches (GPipe order: every micro-batch forward, then
every one backward, then the update). Between stages a micro-batch's activations (forward) and their
gradients (backward) cross from one region to the next over the fabric (`stage_kernels.handoff_kernel`);
that launch's whole time is on-wafer traffic. The `StepReport` adds every launch up (`total_s`, stages
one after another); `overlapped_s` is the step's time when stages work on different micro-batches at once
(`timeline.stage_schedule`).

**Mixed precision** (`precision="bfloat16"` or `"float16"`): as in weight-streaming mode, every dense
product reads its weights in 16 bits; here the 16-bit copy is written on the wafer by the optimizer
kernel after each update, next to the float32 master weights and optimizer state.

Between launches the simulator keeps arrays in device memory and passes them through the host (a
kernel's SRAM does not outlive its launch), as weight-streaming mode does; those copies are not charged.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np

from ..arch.spec import WaferSpec
from ..kernels import ml
from ..kernels.ml.dense import summa_side
from ..kernels.ml.layout import pes_per_row
from ..kernels.ml.mixed import PRECISIONS
from ..runtime.device import Device, DeviceArray
from . import layers
from .errors import ModelDoesNotFitError, TrainingArgumentError
from .memoryx import Adam, Optimizer
from .model import Model
from .pipeline_kernel import ADAM_CODE, SGD_CODE
from .pipelined import applied_whole, default_micro_batch, room_on_wafer
from .stage_kernels import handoff_kernel, update_kernel
from .timeline import Timeline

Task = tuple[str, int, int]  # ("forward" | "backward" | "update", stage, micro-batch (0 for an update))


@dataclasses.dataclass(frozen=True)
class Region:
    """A rectangle of PEs: columns [x, x + width), rows [0, height)."""

    x: int
    width: int
    height: int

    @property
    def pes(self) -> int:
        return self.width * self.height


def stage_block(layer, rows: int, tile: int, chunk: int, classes: int = 0) -> tuple[int, int]:
    """(width, height) of the largest block a layer's launches need for `rows` samples (and the loss's
    over `classes` logits, on the last stage)."""
    width = height = 1
    for m, k, n in layer.products(rows):
        p = summa_side(m, k, n, tile)[0]
        width, height = max(width, p), max(height, p)
    tensors = layer.row_tensors(rows) + ([(rows, classes)] if classes else [])
    for r, cols in tensors:
        width, height = max(width, pes_per_row(cols, chunk)), max(height, r)
    return width, height


def plan_regions(model: Model, micro_batch: int, tile: int, chunk: int, spec: WaferSpec) -> list[Region]:
    """Each layer's region, side by side; a `ModelDoesNotFitError` naming the sizes when they do not fit."""
    regions, x = [], 0
    last = len(model.layers) - 1
    for i, layer in enumerate(model.layers):
        width, height = stage_block(layer, micro_batch, tile, chunk, model.classes if i == last else 0)
        regions.append(Region(x, width, height))
        x += width
    height = max(r.height for r in regions)
    room = room_on_wafer(spec, x, height)
    if room:
        sizes = ", ".join(f"{r.width} x {r.height}" for r in regions)
        raise ModelDoesNotFitError(
            f"pipelined mode needs a region per layer side by side ({sizes}: {x} x {height} PEs for micro-batches "
            f"of {micro_batch}), {room}", needed=(x, height), available=(spec.width, spec.height))
    return regions


@dataclasses.dataclass(frozen=True)
class StageTensors:
    """Where a stage's tensors lie in its flat (rows, chunk) arrays: name -> (offset, shape)."""

    slots: dict[str, tuple[int, tuple[int, ...]]]
    size: int
    chunk: int

    @classmethod
    def of(cls, layer, chunk: int) -> "StageTensors":
        slots, offset = {}, 0
        for name, shape in layer.param_shapes().items():
            slots[name] = (offset, shape)
            offset += math.prod(shape)
        return cls(slots, offset, chunk)

    @property
    def rows(self) -> int:
        return -(-self.size // self.chunk)

    def pack(self, tensors: dict[str, np.ndarray]) -> np.ndarray:
        """The tensors by name as one zero-padded (rows, chunk) float32 array."""
        flat = np.zeros(self.rows * self.chunk, np.float32)
        for name, (offset, shape) in self.slots.items():
            flat[offset:offset + math.prod(shape)] = np.asarray(tensors[name], np.float32).reshape(-1)
        return flat.reshape(self.rows, self.chunk)

    def unpack(self, packed: np.ndarray) -> dict[str, np.ndarray]:
        """The inverse of `pack` (in the array's dtype)."""
        flat = packed.reshape(-1)
        return {name: flat[offset:offset + math.prod(shape)].reshape(shape).copy()
                for name, (offset, shape) in self.slots.items()}


class StagedPipeline:
    """A model's weights, optimizer state and gradients on the wafer, a stage per layer, and pipelined
    training steps over them (see the module docstring)."""

    def __init__(self, model: Model, optimizer: Optimizer, batch_size: int, device: Device,
                 params: dict[str, np.ndarray], micro_batch: int | None = None, precision: str = "float32",
                 tile: int = ml.dense.DEFAULT_TILE, chunk: int = ml.DEFAULT_CHUNK) -> None:
        micro_batch = micro_batch or default_micro_batch(batch_size, len(model.layers))
        if micro_batch < 1 or batch_size % micro_batch:
            raise TrainingArgumentError(f"a micro-batch of {micro_batch} samples must divide the batch of "
                                        f"{batch_size}", micro_batch=micro_batch, batch_size=batch_size)
        self.model, self.optimizer, self.batch_size, self.device = model, optimizer, batch_size, device
        self.micro_batch, self.precision, self.half = micro_batch, precision, PRECISIONS[precision]
        self.tile, self.chunk = tile, chunk
        self.regions = plan_regions(model, micro_batch, tile, chunk, device.spec)
        self.tensors = [StageTensors.of(layer, chunk) for layer in model.layers]
        self._check_sram()
        self.kernel_options = dict(chunk=chunk, device=device)
        self.arrays: list[dict[str, DeviceArray]] = []
        for i, layout in enumerate(self.tensors):
            packed = layout.pack({name: params[f"{i}.{name}"] for name in layout.slots})
            arrays = {"w": device.to_device(packed), "s1": device.device_array(packed.shape),
                      "s2": device.device_array(packed.shape)}
            arrays["w16"] = device.to_device(packed.astype(self.half) if self.half is not None else packed[:1, :1])
            self.arrays.append(arrays)
        self.steps = 0

    def bytes_needed(self, i: int) -> int:
        """Bytes stage i keeps in its region's SRAM: weights, summed gradients, optimizer state, the 16-bit
        copy in mixed precision (one value a 32-bit word, docs/python-supported.md), and the activations
        every micro-batch keeps for its backward pass (the last stage: the logits and their gradient too)."""
        layer, n = self.model.layers[i], self.tensors[i].rows * self.chunk
        words = n * (2 + self.optimizer.state_per_param + (self.half is not None))
        words += self.batch_size * layer.kept_per_sample()
        if i == len(self.model.layers) - 1:
            words += 2 * self.batch_size * self.model.classes
        return 4 * words

    def _check_sram(self) -> None:
        sram = self.device.spec.sram_bytes
        for i, (layer, region) in enumerate(zip(self.model.layers, self.regions)):
            needed, available = self.bytes_needed(i), region.pes * sram
            if needed > available:
                raise ModelDoesNotFitError(
                    f"pipelined mode: layer {i} ({type(layer).__name__}) keeps {needed:,} bytes (weights, gradients, "
                    f"optimizer state{', 16-bit copy' if self.half is not None else ''} and {self.batch_size} "
                    f"samples' activations) on its {region.width} x {region.height} region, whose SRAM holds "
                    f"{available:,}", layer=i, needed=needed, available=available)

    def free(self) -> None:
        """Release the device memory of the weights and optimizer state."""
        for arrays in self.arrays:
            for array in arrays.values():
                if not array.is_freed:
                    array.free()

    @property
    def params(self) -> dict[str, np.ndarray]:
        return {f"{i}.{name}": value for i, layout in enumerate(self.tensors)
                for name, value in layout.unpack(self.arrays[i]["w"].copy_to_host()).items()}

    def _weights(self, i: int):
        """Stage i's tensors as its launches read them: float32, or a 16-bit copy's when a dtype is asked."""
        master = self.tensors[i].unpack(self.arrays[i]["w"].copy_to_host())
        rounded = self.tensors[i].unpack(self.arrays[i]["w16"].copy_to_host()) if self.half is not None else master
        return lambda name, dtype=None: rounded[name] if dtype is not None else master[name]

    def _handoff(self, a: np.ndarray) -> np.ndarray:
        """A micro-batch's activations (or gradients) from one region to the next, over the fabric."""
        a = np.ascontiguousarray(a, np.float32).reshape(a.shape[0], -1)
        src, dst = self.device.to_device(a), self.device.device_array(a.shape)
        try:
            handoff_kernel(self.chunk)[(1, 1), (2, a.shape[0])](src, dst)
            return dst.copy_to_host()
        finally:
            src.free()
            dst.free()

    def step(self, x: np.ndarray, labels: np.ndarray, timeline: Timeline) -> tuple[np.ndarray, list[Task]]:
        """One training step on a batch: (the per-sample losses, the tasks of `timeline`'s passes in order)."""
        stages, m, kw = range(len(self.model.layers)), self.micro_batch, self.kernel_options
        last = len(self.model.layers) - 1
        weights = [self._weights(i) for i in stages]
        tasks: list[Task] = []
        kept: dict[tuple[int, int], tuple] = {}
        grads_out, losses = [], np.empty(self.batch_size, np.float32)

        def task(*what) -> None:
            timeline.begin_pass()
            tasks.append(what)

        for u in range(self.batch_size // m):
            a = x[u * m:(u + 1) * m]
            for i in stages:
                task("forward", i, u)
                a, kept[i, u] = layers.forward_named(i, self.model.layers[i], weights[i], a, self.tile,
                                                      self.precision, **kw)
                if i < last:
                    a = self._handoff(a)
            (losses[u * m:(u + 1) * m], grad), _ = ml.cross_entropy(a, labels[u * m:(u + 1) * m],
                                                                    grad_scale=1.0 / self.batch_size, **kw)
            grads_out.append(grad)
        summed: list[np.ndarray | None] = [None] * len(stages)
        for u, grad in enumerate(grads_out):
            for i in reversed(stages):
                task("backward", i, u)
                grad, gradients = layers.backward(self.model.layers[i], weights[i], kept.pop((i, u)), grad,
                                                  self.tile, need_dx=i > 0, precision=self.precision, **kw)
                packed = self.tensors[i].pack(gradients)
                summed[i] = packed if summed[i] is None else ml.add(summed[i], packed, **kw)[0]
                if i > 0:
                    grad = self._handoff(grad)
        # One stage's update after another: a failure or Ctrl-C between them restores every stage and the
        # count (Adam's bias correction), so that the step is not applied (`applied_whole`).
        with applied_whole([array for arrays in self.arrays for array in arrays.values()]):
            self.steps += 1
            try:
                for i in stages:
                    task("update", i, 0)
                    self._update(i, summed[i])
            except BaseException:
                self.steps -= 1
                raise
        return losses, tasks

    def _update(self, i: int, gradient: np.ndarray) -> None:
        opt, t, arrays = self.optimizer, self.steps, self.arrays[i]
        if isinstance(opt, Adam):
            code, hyper = ADAM_CODE, (opt.lr, opt.beta1, opt.beta2, opt.eps, 1.0 / (1.0 - opt.beta1 ** t),
                                      1.0 / (1.0 - opt.beta2 ** t))
        else:
            code, hyper = SGD_CODE, (opt.lr, opt.momentum, 0.0, 0.0, 1.0, 1.0)
        d_gradient = self.device.to_device(gradient)
        try:
            block = (self.regions[i].width, self.regions[i].height)
            update_kernel(self.chunk, code, self.half)[(1, 1), block](
                arrays["w"], d_gradient, arrays["s1"], arrays["s2"], arrays["w16"], *(float(v) for v in hyper))
        finally:
            d_gradient.free()
