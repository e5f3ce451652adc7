"""Pipelined mode on the host side: where each layer goes on the mesh, the packing of weights and
optimizer state into the per-PE rows the step kernel (`pipeline_kernel`) reads, and one step.

Layer i runs on column i of one `L x H` block; PE (i, r) owns `c_i = ceil(N_i / H)` output neurons. The
weights stay in device memory between steps, standing in for SRAM (the simulator's SRAM does not outlive a
launch, so each step's launch loads them at its start and stores them at its end; that traffic is part
of the step's `wafer_traffic_s`). Nothing streams from MemoryX.
"""
from __future__ import annotations

import contextlib
import dataclasses
from typing import Iterator, Sequence

import numpy as np

from ..arch.spec import WaferSpec
from ..errors import SramBudgetError
from ..kernels.ml.elementwise import ACTIVATIONS
from ..runtime.device import Device, DeviceArray
from ..runtime.arrays import restore_bytes, saved_bytes
from ..sim.stats import LaunchStats
from .errors import ModelDoesNotFitError, TrainingArgumentError
from .memoryx import Adam, Optimizer
from .model import Dense, LayerNorm, Model
from .pipeline_kernel import (ADAM_CODE, CFG_ACTIVATION, CFG_FEATURES, CFG_INPUTS, CFG_KIND, CFG_OUTPUTS_PER_PE,
                              CFG_PREVIOUS_PER_PE, DENSE, NO_ACTIVATION, NORM, SGD_CODE, local_words,
                              pipelined_step_kernel)


@dataclasses.dataclass(frozen=True)
class PipelineLayout:
    """Where a model's layers go: layer i on column i, `height` PEs per column, `per_pe[i]` output neurons
    (or a layer norm's features) per PE and `inputs[i]` inputs per neuron (padded to the previous column's
    `height * per_pe`; 1 for a layer norm, whose PE holds one gamma and beta per feature)."""

    height: int
    inputs: tuple[int, ...]
    per_pe: tuple[int, ...]
    layers: tuple[Dense | LayerNorm, ...]

    @classmethod
    def plan(cls, model: Model, height: int) -> "PipelineLayout":
        layers = tuple(model.layers)
        others = sorted({type(layer).__name__ for layer in layers if not isinstance(layer, (Dense, LayerNorm))})
        if others:
            raise ModelDoesNotFitError(f"the pipelined step kernel runs dense layers and layer norms only (this "
                                       f"model has {', '.join(others)}: the Trainer runs it pipelined in stages, "
                                       f"pipelined_stages.StagedPipeline)", layers=others)
        if not (isinstance(layers[0], Dense) and isinstance(layers[-1], Dense)):
            raise ModelDoesNotFitError("pipelined mode needs dense first and last layers (a layer norm between them)")
        if len({layer.eps for layer in layers if isinstance(layer, LayerNorm)}) > 1:
            raise ModelDoesNotFitError("pipelined mode needs one eps for all its layer norms")
        per_pe = tuple(-(-layer.out_features // height) for layer in layers)
        inputs = tuple(1 if isinstance(layer, LayerNorm) else height * per_pe[i - 1] if i else layer.in_features
                       for i, layer in enumerate(layers))
        return cls(height, inputs, per_pe, layers)

    @property
    def norm_eps(self) -> float:
        """The layer norms' eps (0 when there are none)."""
        return next((layer.eps for layer in self.layers if isinstance(layer, LayerNorm)), 0.0)

    @property
    def width(self) -> int:
        return len(self.layers)

    @property
    def max_inputs(self) -> int:
        return max(self.inputs)

    @property
    def max_outputs(self) -> int:
        return max(self.per_pe)

    def activation_codes(self) -> tuple[int, ...]:
        """The activations the layers use (the kernel leaves out the code of the others)."""
        return tuple(sorted({ACTIVATIONS[layer.activation] for layer in self.layers
                             if isinstance(layer, Dense) and layer.activation}))

    def config(self) -> np.ndarray:
        """The kernel's per-layer int32 table: inputs, outputs per PE, activation code, previous per PE,
        kind (DENSE or NORM), features (outputs before padding)."""
        rows = []
        for i, layer in enumerate(self.layers):
            norm = isinstance(layer, LayerNorm)
            kind = NO_ACTIVATION if norm or layer.activation is None else ACTIVATIONS[layer.activation]
            rows.append([self.inputs[i], self.per_pe[i], kind, self.per_pe[i - 1] if i else 0, NORM if norm else DENSE,
                         layer.out_features])
        table = np.array(rows, np.int32)
        assert table.shape[1] == 1 + max(CFG_INPUTS, CFG_OUTPUTS_PER_PE, CFG_ACTIVATION, CFG_PREVIOUS_PER_PE,
                                         CFG_KIND, CFG_FEATURES)
        return table

    def pack(self, params: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """(weights, biases) as (L * H, max_inputs * max_outputs) and (L * H, max_outputs) float32 arrays:
        row i * H + r holds PE (i, r)'s K_i x c_i weights row-major, and its c_i biases (a layer norm: its
        c_i gammas and betas); padding is zero."""
        h = self.height
        wpack = np.zeros((self.width * h, self.max_inputs * self.max_outputs), np.float32)
        bpack = np.zeros((self.width * h, self.max_outputs), np.float32)
        for i, layer in enumerate(self.layers):
            k, c = self.inputs[i], self.per_pe[i]
            w_name, b_name = self.tensor_names(i)
            w = np.zeros((k, h * c), np.float32)
            w[:k if isinstance(layer, LayerNorm) else layer.in_features, :layer.out_features] = params[w_name]
            b = np.zeros(h * c, np.float32)
            b[:layer.out_features] = params[b_name]
            for r in range(h):
                wpack[i * h + r, :k * c] = w[:, r * c:(r + 1) * c].reshape(-1)
                bpack[i * h + r, :c] = b[r * c:(r + 1) * c]
        return wpack, bpack

    def unpack(self, wpack: np.ndarray, bpack: np.ndarray) -> dict[str, np.ndarray]:
        """The inverse of `pack`: the model's parameters by name."""
        h, params = self.height, {}
        for i, layer in enumerate(self.layers):
            k, c = self.inputs[i], self.per_pe[i]
            w_name, b_name = self.tensor_names(i)
            w = np.concatenate([wpack[i * h + r, :k * c].reshape(k, c) for r in range(h)], axis=1)
            b = np.concatenate([bpack[i * h + r, :c] for r in range(h)])
            w = w[0] if isinstance(layer, LayerNorm) else w[:layer.in_features]
            params[w_name] = np.ascontiguousarray(w[..., :layer.out_features])
            params[b_name] = np.ascontiguousarray(b[:layer.out_features])
        return params

    def tensor_names(self, i: int) -> tuple[str, str]:
        """The names of layer i's tensors in the weights and the biases rows."""
        return (f"{i}.gamma", f"{i}.beta") if isinstance(self.layers[i], LayerNorm) else (f"{i}.w", f"{i}.b")


def room_on_wafer(spec: WaferSpec, width: int, height: int) -> str | None:
    """None if a `width` x `height` block of PEs fits the wafer, on its live PEs where it has defects (the
    launch's own test, `WaferSpec.repair`); else what the wafer offers, for an error's message. (A check of
    the mesh's size alone let a trainer be made on a wafer whose defects leave too small a rectangle, and its
    first step fail with the launch's `LaunchError`.)"""
    if width > spec.width or height > spec.height:
        return f"the wafer is {spec.width} x {spec.height}"
    if spec.has_physical_layout and spec.repair(width, height) is None:
        usable = spec.usable_rectangle
        return (f"the wafer's defects leave a usable {usable[0]} x {usable[1]} of its {spec.width} x {spec.height} "
                f"(spares: {spec.spare_cols} columns, {spec.spare_rows} rows)")
    return None


def default_height(model: Model, spec: WaferSpec) -> int:
    """Pipelined mode's column height when `height=` is not given: the widest layer's neurons, at most the
    mesh's height, and at most the tallest `L`-wide block (L = the model's layers) the live PEs lay out
    (`WaferSpec.tallest_block`), so that a wafer whose defects retire a row still runs the model on a shorter
    block (with the results of that height on a perfect wafer). When not even one row can hold the L columns, the mesh's height (the
    block is then refused, naming the usable rectangle)."""
    tallest = min(spec.height, max(layer.out_features for layer in model.layers))
    return min(tallest, spec.tallest_block(len(model.layers))) or tallest


def default_micro_batch(batch_size: int, layers: int) -> int:
    """The largest micro-batch that still gives every one of `layers` columns a micro-batch in flight (at
    least `layers` micro-batches), dividing the batch; 1 when the batch is smaller than that."""
    for size in range(batch_size // max(layers, 1), 1, -1):
        if batch_size % size == 0:
            return size
    return 1


@contextlib.contextmanager
def applied_whole(arrays: Sequence[DeviceArray]) -> Iterator[None]:
    """Restore `arrays` (weights and optimizer state in device memory) as they were if the block raises or
    is interrupted (Ctrl-C): a launch commits its stores as it goes and a staged step updates one stage
    after another, so a step stopped part-way left some weights updated and others not, and the run that
    went on differed from every uninterrupted one. As in weight streaming, a step is applied whole or not
    at all."""
    arrays = list(arrays)
    saved = saved_bytes(arrays)  # (host bookkeeping: no transfer on the device's timeline, no stream entry)
    try:
        yield
    except BaseException:
        restore_bytes(arrays, saved)
        raise


class PipelinedRunner:
    """The model's weights and optimizer state on the wafer, and pipelined training steps over them; with
    `half` (a 16-bit dtype) the step kernel runs mixed precision (`pipeline_kernel`)."""

    def __init__(self, model: Model, optimizer: Optimizer, batch_size: int, device: Device,
                 params: dict[str, np.ndarray], height: int | None = None, micro_batch: int | None = None,
                 half: np.dtype | None = None) -> None:
        spec = device.spec
        micro_batch = micro_batch or default_micro_batch(batch_size, len(model.layers))
        if micro_batch < 1 or batch_size % micro_batch:
            raise TrainingArgumentError(f"a micro-batch of {micro_batch} samples must divide the batch of "
                                        f"{batch_size}", micro_batch=micro_batch, batch_size=batch_size)
        self.micro_batch = micro_batch
        height = height or default_height(model, spec)
        self.layout = PipelineLayout.plan(model, height)
        room = room_on_wafer(spec, self.layout.width, height)
        if room:
            raise ModelDoesNotFitError(
                f"pipelined mode needs a {self.layout.width} x {height} block (a column of PEs per layer), "
                f"{room}", needed=(self.layout.width, height), available=(spec.width, spec.height))
        self.model, self.optimizer, self.batch_size, self.device = model, optimizer, batch_size, device
        self.kernel_options = dict(optimizer=ADAM_CODE if isinstance(optimizer, Adam) else SGD_CODE,
                                   activations=self.layout.activation_codes(), micro_batch=micro_batch,
                                   norms=any(isinstance(layer, LayerNorm) for layer in model.layers), half=half)
        self.kernel = pipelined_step_kernel(batch_size, self.layout.max_inputs, self.layout.max_outputs,
                                            **self.kernel_options)
        wpack, bpack = self.layout.pack(params)
        self.cfg = device.to_device(self.layout.config())
        self.weights, self.biases = device.to_device(wpack), device.to_device(bpack)
        self.state = [device.device_array(wpack.shape), device.device_array(wpack.shape),
                      device.device_array(bpack.shape), device.device_array(bpack.shape)]
        self.steps = 0
        try:
            self._check_sram()
        except ModelDoesNotFitError:
            self.free()  # auto mode goes on to weight streaming on the same device
            raise

    def free(self) -> None:
        """Release the device memory of the weights, optimizer state and configuration."""
        for array in (self.cfg, self.weights, self.biases, *self.state):
            if not array.is_freed:
                array.free()

    def _arguments(self, d_x: DeviceArray, d_labels: DeviceArray, d_loss: DeviceArray) -> tuple:
        opt, t = self.optimizer, self.steps + 1
        if isinstance(opt, Adam):
            hyper = (opt.lr, opt.beta1, opt.beta2, opt.eps, 1.0 / (1.0 - opt.beta1 ** t), 1.0 / (1.0 - opt.beta2 ** t))
        else:
            hyper = (opt.lr, opt.momentum, 0.0, 0.0, 1.0, 1.0)
        w1, w2, b1, b2 = self.state
        return (d_x, d_labels, self.cfg, self.weights, self.biases, w1, w2, b1, b2, d_loss,
                self.model.classes, *(float(v) for v in hyper), float(self.layout.norm_eps))

    def _does_not_fit(self, needed: int | None) -> ModelDoesNotFitError:
        return ModelDoesNotFitError(
            f"pipelined mode: a PE's weights, optimizer state and {self.batch_size} samples' activations do "
            f"not fit its SRAM ({needed if needed is not None else '?'} bytes needed, {self.device.spec.sram_bytes} "
            f"available)", needed=needed, available=self.device.spec.sram_bytes)

    def _check_sram(self) -> None:
        """Compile the step kernel now (unless its local arrays alone overflow a PE's SRAM): weights, state
        and activations that overflow it are a `ModelDoesNotFitError` naming the sizes, before any step
        runs."""
        arrays = 4 * local_words(self.batch_size, self.layout.max_inputs, self.layout.max_outputs, self.micro_batch,
                                 self.kernel_options["half"] is not None)
        if arrays > self.device.spec.sram_bytes:
            raise self._does_not_fit(arrays)
        probe_x = self.device.device_array((self.batch_size, self.model.in_features))
        probe_labels = self.device.device_array(self.batch_size, np.int32)
        probe_loss = self.device.device_array(self.batch_size)
        try:
            self.kernel.compile_for(*self._arguments(probe_x, probe_labels, probe_loss), device=self.device)
        except SramBudgetError as err:
            raise self._does_not_fit(err.fields.get("needed")) from None
        finally:
            for array in (probe_x, probe_labels, probe_loss):
                array.free()

    def step(self, x: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, LaunchStats]:
        """One training step on a batch: (the per-sample losses, the launch's LaunchStats); a launch that
        raises or is interrupted is not applied (`applied_whole`)."""
        d_x, d_labels = self.device.to_device(x), self.device.to_device(labels.astype(np.int32))
        d_loss = self.device.device_array(self.batch_size)
        try:
            block = (self.layout.width, self.layout.height)
            with applied_whole([self.weights, self.biases, *self.state]):
                stats = self.kernel[(1, 1), block](*self._arguments(d_x, d_labels, d_loss))
            self.steps += 1
            return d_loss.copy_to_host(), stats
        finally:
            for array in (d_x, d_labels, d_loss):
                array.free()

    @property
    def params(self) -> dict[str, np.ndarray]:
        return self.layout.unpack(self.weights.copy_to_host(), self.biases.copy_to_host())
