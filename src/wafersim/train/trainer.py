"""Training a `Model` on a `Device`, in weight-streaming or pipelined mode, and what each step cost.

**Weight streaming.** Layers run one after another on the wafer, each on the library's ML kernels
(`kernels.ml`). MemoryX keeps the master weights: before a layer runs forward, its weights stream in;
before it runs backward they stream in again (the wafer keeps activations only, not weights); its
gradients stream back and MemoryX applies the optimizer once per step.

**Simulated time of a step** (a `StepReport`) is the sum of three parts, taken one after another (an
upper bound); `overlapped_s` is the step's time when weight streaming overlaps compute (the weights of the
next layer stream in while a layer computes, gradients stream out while the next launches run: see
`timeline`):

- `compute_s`: the part of every launch's simulated time in which its PEs issue instructions;
- `wafer_traffic_s`: the part in which they wait: for messages over the fabric, barriers, and the
  kernels' own off-wafer loads and stores (`kernels.ml.time_split` divides each launch in the ratio of
  its PEs' busy to stall cycles);
- `streaming_s`: weights in and gradients out at the MemoryX bandwidth, plus its latency per tensor.

Between kernels the simulator keeps activations in device memory and copies them through the host (a
kernel's SRAM does not outlive its launch); those copies are a simulation artefact and are not charged.

**Pipelined** mode (`pipelined`, `pipeline_kernel`) keeps every dense layer's weights and optimizer state
on its own column of PEs and runs a whole step (all samples forward, backward, the update) as one launch;
it streams nothing. A model with a `TransformerBlock` runs pipelined in stages (`pipelined_stages`): a
region of PEs per layer with its weights, optimizer state and gradients resident, the ML kernels per
micro-batch, hand-offs between regions over the fabric and the optimizer on the wafer. `mode="auto"`
picks pipelined when the model fits the wafer that way, else weight streaming, else raises
`ModelDoesNotFitError` with both reasons.

**Mixed precision** (`precision="bfloat16"` or `"float16"`, every mode): every dense product runs on the
mixed kernels (`kernels.ml.mixed`): MemoryX rounds its float32 master W to 16 bits as it streams it
(half the bytes), x and dy are rounded to 16 bits, products accumulate in float32, y and dx come back in
16 bits, dW and db in float32 for the float32 master weights and optimizer. Activations, layer norms,
attention and the loss run in float32 on the 16-bit values widened. Pipelined mode rounds at the same
places, its float32 master weights and optimizer state staying on the wafer (`pipeline_kernel`,
`pipelined_stages`).
"""
from __future__ import annotations

import dataclasses
import functools
from pathlib import Path
from typing import Callable

import numpy as np

from ..arch.spec import WaferSpec
from ..errors import OutOfMemoryError, SramBudgetError, call_checked, check_calls
from ..kernels import ml
from ..kernels.ml.dense import summa_side
from ..kernels.ml.layout import TileTooLargeError, check_chunk, half_input, pes_per_row
from ..kernels.ml.mixed import PRECISIONS
from ..runtime.device import Device
from ..sim.stats import LaunchStats
from .data import batch, check_data, training_input
from .errors import (ActivationsTooLargeError, ModelDoesNotFitError, ModelTooLargeError, TrainingArgumentError,
                     TrainingArgumentTypeError, check_instance, check_whole)
from .memoryx import MemoryX, MemoryXSpec, Optimizer, StreamCounters, check_optimizer
from . import checkpoint, layers
from .model import Dense, Model, TransformerBlock
from .pipelined import PipelinedRunner, room_on_wafer
from .pipelined_stages import StagedPipeline, stage_block
from .stage_kernels import HANDOFF_PROGRAM
from .timeline import Timeline

MODES = ("streaming", "pipelined", "auto")


@dataclasses.dataclass(frozen=True)
class StepReport:
    """One training step: its loss (before the update) and its simulated cost."""

    step: int
    mode: str  # "streaming" or "pipelined"
    loss: float
    compute_s: float
    wafer_traffic_s: float
    streaming_s: float
    overlapped_s: float  # the step's time with weight streaming overlapped with compute (timeline.schedule)
    launches: int
    fabric_words: int  # words sent over links by the step's launches
    weight_bytes: int  # streamed from MemoryX to the wafer
    gradient_bytes: int  # streamed from the wafer to MemoryX
    flops: int
    precision: str = "float32"  # of the dense layers' products (the Trainer's `precision`)

    @property
    def total_s(self) -> float:
        return self.compute_s + self.wafer_traffic_s + self.streaming_s

    def summary(self) -> str:
        us = 1e6
        mode = self.mode if self.precision == "float32" else f"{self.mode}, {self.precision}"
        return (f"step {self.step} ({mode}): loss {self.loss:.4f}, {self.total_s * us:.2f} us = compute "
                f"{self.compute_s * us:.2f} + wafer traffic {self.wafer_traffic_s * us:.2f} + streaming "
                f"{self.streaming_s * us:.2f} ({self.overlapped_s * us:.2f} us overlapped); {self.launches} launches, "
                f"{self.fabric_words:,} fabric words, "
                f"{self.weight_bytes:,} B weights in, {self.gradient_bytes:,} B gradients out")


@functools.partial(call_checked, error=TrainingArgumentTypeError)
def default_device(model: Model, batch_size: int, tile: int = ml.dense.DEFAULT_TILE,
                   chunk: int = ml.DEFAULT_CHUNK, stages: bool = False, height: int | None = None) -> Device:
    """A device just large enough for every launch of a step in either mode: the largest SUMMA block and
    the row blocks of weight streaming, and a column of PEs per layer, one per output neuron (or `height`
    PEs, pipelined mode's `Trainer(height=)`, when that is more), of pipelined mode; with `stages` (a model
    with a transformer block that may run pipelined, `pipelined_stages`) also wide enough for a region per
    layer side by side, for micro-batches as large as the batch."""
    width = len(model.layers)
    height = max([layer.out_features for layer in model.layers] + ([height] if height is not None else []))
    for layer in model.layers:
        w, h = stage_block(layer, batch_size, tile, chunk)
        width, height = max(width, w), max(height, h)
    if stages:
        last = len(model.layers) - 1
        blocks = [stage_block(layer, batch_size, tile, chunk, model.classes if i == last else 0)
                  for i, layer in enumerate(model.layers)]
        width, height = max(width, sum(w for w, _ in blocks)), max([height] + [h for _, h in blocks])
    return Device(WaferSpec(width=width, height=height))


def check_options(model: object, optimizer: object, seed: object, tile: object, chunk: object,
                  memoryx_spec: object = None) -> None:
    """The options a `Trainer` and a cluster's trainer share, checked before anything is built: a
    `TrainingArgumentTypeError` for a model that is not a `Model`, an optimizer that is not `SGD` or `Adam`,
    a MemoryX spec that is not a `MemoryXSpec`, a seed, tile or chunk that is not a whole number; a
    `TrainingArgumentError` for a negative seed (NumPy's generators refuse one) or a tile or chunk below 1."""
    check_instance(model, Model, "model", "a train.Model (Model.mlp(sizes), or Model([layers]))")
    check_optimizer(optimizer, memoryx_spec)
    check_whole(seed, "seed", 0)
    check_whole(tile, "tile", 1)
    check_whole(chunk, "chunk", 1)


def check_steps(steps: object) -> int:
    """`fit`'s number of steps: a whole number >= 0 (0 runs none)."""
    return check_whole(steps, "fit(steps)", 0)


def read_only_copies(weights: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Copies of `weights` that refuse writes: a PyTorch user's in-place edit (`trainer.params["0.w"][:] = 0`)
    would change a copy and leave the trainer as it was, so it raises NumPy's "assignment destination is
    read-only" instead of doing nothing without a word (user54). `np.array(p)` is a writable copy."""
    copies = {}
    for name, w in weights.items():
        copy = np.array(w, copy=True)
        copy.flags.writeable = False
        copies[name] = copy
    return copies


class Trainer:
    """Trains `model` with `optimizer` on `device` (by default one just large enough, `default_device`).

    `mode` is "streaming" (weights in MemoryX, `memoryx_spec`), "pipelined" (weights on the wafer: one column
    of `height` PEs per layer for dense layers and layer norms (by default `pipelined.default_height`: on a defective
    wafer, at most the tallest block its live PEs lay out), a region per layer for a model with a
    transformer block) or "auto" (pipelined if the model fits, else streaming). `step(x, labels)` runs one
    step on a batch and returns its `StepReport`; `fit` runs many over a data set; `params` is the current
    weights. The model is checked against the wafer (and MemoryX) when the trainer is made, so one that cannot
    run fails at once with an error naming the sizes (weight streaming compiles the SUMMA kernel of each
    product for the wafer then, counting its code, tiles and spills). `params` (default: `model.init_params(
    seed)`) is checked there too (`Model.check_params`), as are `batch_size` and `height`
    (`TrainingArgumentError`); without a `device`, the default one is at least `height` PEs tall for
    pipelined mode. `micro_batch` is pipelined mode's samples per micro-batch (by default the largest
    divisor of the batch that keeps every column busy, `pipelined.default_micro_batch`); weight streaming
    takes each batch whole: it checks that `micro_batch` and `height` are whole numbers >= 1 but does not
    use them, so that the same options serve `mode="auto"` whichever mode it picks. `overlap` says whether
    the Perfetto timeline draws weight streaming overlapped with compute (the `StepReport` gives both).
    `precision` ("float32", "bfloat16" or "float16") is that of the dense products, in every mode (see the
    module)."""

    def __init__(self, model: Model, optimizer: Optimizer, batch_size: int, device: Device | None = None,
                 mode: str = "streaming", memoryx_spec: MemoryXSpec | None = None, seed: int = 0,
                 params: dict[str, np.ndarray] | None = None, tile: int = ml.dense.DEFAULT_TILE,
                 chunk: int = ml.DEFAULT_CHUNK, height: int | None = None, micro_batch: int | None = None,
                 overlap: bool = True, precision: str = "float32") -> None:
        check_options(model, optimizer, seed, tile, chunk, memoryx_spec)
        check_instance(device, (Device, type(None)), "device", "None or a ws.Device(...)")
        if not (isinstance(mode, str) and mode in MODES):
            error = TrainingArgumentError if isinstance(mode, str) else TrainingArgumentTypeError
            raise error(f"mode must be one of {MODES}, got {mode!r}", mode=mode)
        self.check_precision(precision)
        batch_size = check_whole(batch_size, "batch_size", 1)
        if height is not None:
            height = check_whole(height, "height", 1)
        if micro_batch is not None:  # (0 is not "the default": it is refused, as in every mode)
            micro_batch = check_whole(micro_batch, "micro_batch", 1)
        params = model.check_params(params) if params is not None else model.init_params(seed)
        self.model, self.batch_size, self.tile, self.chunk = model, batch_size, tile, chunk
        # A model with a transformer block runs pipelined in stages (`pipelined_stages`), an MLP on the step
        # kernel (`pipelined`).
        staged = any(isinstance(layer, TransformerBlock) for layer in model.layers)
        # `height` is that of pipelined mode's columns (dense layers and layer norms): the default device
        # is at least that tall, so that it runs there as it would on a device given with that height.
        self.device = device or default_device(model, batch_size, tile, chunk, stages=staged and mode != "streaming",
                                               height=height if mode != "streaming" and not staged else None)
        # What every ML kernel of weight-streaming mode is called with (one place to add options such as
        # a precision).
        self.kernel_options = dict(chunk=chunk, device=self.device)
        # The loss gradient's 1 / rows (None: 1 / batch_size). A cluster's system sets 1 / the whole batch, so
        # that its dy are the single-system dy of its rows, rounded alike to 16 bits in mixed precision.
        self.loss_grad_scale: float | None = None
        self.precision, self.half_dtype = precision, PRECISIONS[precision]
        self.memoryx: MemoryX | None = None
        self.pipeline: PipelinedRunner | StagedPipeline | None = None

        def start_pipelined() -> PipelinedRunner | StagedPipeline:
            if staged:
                return StagedPipeline(model, optimizer, batch_size, self.device, params, micro_batch, precision,
                                      tile, chunk)
            return PipelinedRunner(model, optimizer, batch_size, self.device, params, height, micro_batch,
                                   self.half_dtype)

        if mode == "auto":
            try:
                self.pipeline = start_pipelined()
            except ModelDoesNotFitError as pipelined_error:
                try:
                    self._start_streaming(params, optimizer, memoryx_spec)
                except (ActivationsTooLargeError, ModelTooLargeError) as streaming_error:
                    raise ModelDoesNotFitError(f"the model fits neither mode: pipelined: {pipelined_error}; "
                                               f"weight streaming: {streaming_error}", pipelined=pipelined_error,
                                               streaming=streaming_error) from None
        elif mode == "pipelined":
            self.pipeline = start_pipelined()
        else:
            self._start_streaming(params, optimizer, memoryx_spec)
        self.mode = "pipelined" if self.pipeline else "streaming"
        self.steps = 0
        self.timeline = Timeline(self.device, overlap)
        if self.memoryx:
            self.memoryx.on_transfer = self.timeline.transfer

    @staticmethod
    def check_precision(precision: str) -> None:
        """A `TrainingArgumentError` for a precision that is not one of `PRECISIONS` (a
        `TrainingArgumentTypeError` for one that is not a str)."""
        if not (isinstance(precision, str) and precision in PRECISIONS):
            error = TrainingArgumentError if isinstance(precision, str) else TrainingArgumentTypeError
            raise error(f"precision must be one of {sorted(PRECISIONS)}, got {precision!r}", precision=precision)

    def _start_streaming(self, params: dict[str, np.ndarray], optimizer: Optimizer,
                         memoryx_spec: MemoryXSpec | None) -> None:
        self._check_fits_wafer()
        self.memoryx = MemoryX(params, optimizer, memoryx_spec)

    @property
    def params(self) -> dict[str, np.ndarray]:
        """Read-only copies of the current weights (MemoryX's master weights, or the wafer's in pipelined
        mode): to train from other weights, make a trainer with `params=` (`read_only_copies`)."""
        return read_only_copies(self.pipeline.params if self.pipeline else self.memoryx.weights)

    # ------------------------------------------------------------------ checkpoints
    def save_checkpoint(self, path: str | Path) -> Path:
        """Write everything a resumed run needs to `path` (one `.npz`, `train.checkpoint`): the weights, the
        optimizer state of every tensor (SGD's velocity, Adam's m and v) and its step count, `steps` (the
        batch position `fit` goes on from), and, to check a load against, the model's layers, mode,
        precision, optimizer type and hyperparameters and batch size. Returns the path; a file that cannot
        be written is a `CheckpointError`. (The timeline and the device's launch history are not saved.)"""
        return checkpoint.save(self, path, self.mode, self.precision)

    def load_checkpoint(self, path: str | Path, weights_only: bool = False) -> dict:
        """Continue from the checkpoint at `path` (`save_checkpoint`, or a cluster's): make the trainer as
        the saved one was made (the same model and batch size, an optimizer of the same type), then load.
        The weights, optimizer state and step count and `steps` are restored, so the run goes on bit for
        bit as if it had not stopped (in the same mode and precision); the trainer's own optimizer
        hyperparameters are used (a run may resume with another learning rate). A checkpoint of another
        mode loads too (the tensors are converted). `weights_only=True` loads the weights alone (the
        optimizer state and `steps` stay the trainer's, as with `params=`) and checks the model only.
        Returns the file's meta (a dict: its mode, precision, optimizer, steps, ...). A missing, truncated,
        corrupted or foreign file, another model, optimizer type or batch size is a `CheckpointError`
        naming what differs."""
        return checkpoint.load(self, path, weights_only)

    def _check_fits_wafer(self) -> None:
        spec = self.device.spec
        side = min(spec.width, spec.height)
        needed, available = self.model.activation_bytes(self.batch_size), spec.n_pes * spec.sram_bytes
        if needed > available:
            raise ActivationsTooLargeError(
                f"a batch of {self.batch_size} keeps {needed:,} bytes of activations, the wafer's SRAM holds "
                f"{available:,}: use a smaller batch_size or a larger wafer", needed=needed,
                available=available)
        try:  # the row-layout kernels' chunks (at most 4 a PE), checked here rather than at the first step
            check_chunk(self.chunk, spec)
        except TileTooLargeError as err:
            raise ActivationsTooLargeError(f"{err}, or a wafer with more SRAM", needed=err.fields.get("needed"),
                                           available=err.fields.get("available")) from None
        for i, layer in enumerate(self.model.layers):
            for _, features in layer.row_tensors(self.batch_size):
                across = pes_per_row(features, self.chunk)
                if across > spec.width:
                    raise ActivationsTooLargeError(
                        f"layer {i}: rows of {features} features in chunks of {self.chunk} need "
                        f"{across} PEs across, the wafer has {spec.width}: pass a larger "
                        f"chunk= or a wider wafer",
                        layer=i, needed=across, available=spec.width)
                room = room_on_wafer(spec, across, 1)
                if room:
                    raise ActivationsTooLargeError(
                        f"layer {i}: rows of {features} features in chunks of {self.chunk} need {across} PEs "
                        f"across, {room}: pass a larger chunk= or a wafer with more spares",
                        layer=i, needed=across, available=spec.widest_block(1))
            for m, k, n in layer.products(self.batch_size):
                p, t = summa_side(m, k, n, self.tile)
                room = room_on_wafer(spec, p, p)
                if room:
                    raise ActivationsTooLargeError(
                        f"layer {i}: the {m} x {k} @ {k} x {n} product in {t} x {t} tiles needs a {p} x {p} "
                        f"block of PEs, {room}: pass a larger tile= or a larger wafer", layer=i, needed=p,
                        available=max(k for k in range(side + 1) if spec.widest_block(k) >= k))
        self._check_products_fit_sram()

    def _check_products_fit_sram(self) -> None:
        """Compile, now, the SUMMA kernels of every product a step runs (`ml.dense.check_product_fits`): a
        PE whose SRAM cannot hold a kernel's code, tiles and spills fails here, with the bytes it needs,
        rather than at every step. (The row-layout kernels need far less: a chunk of each row.)"""
        spec, seen = self.device.spec, set()
        for i, layer in enumerate(self.model.layers):
            # Dense layers' products run in the trainer's precision (forward with the bias, rounded; dX
            # rounded; dW in float32); attention's always in float32.
            mixed = self.half_dtype is not None
            runs = [("float32", (False,), (False,))] if not mixed or isinstance(layer, TransformerBlock) else []
            if mixed:
                runs.append((self.precision, (True, False), (True, False)))
            for m, k, n in layer.products(self.batch_size):
                for precision, biases, roundings in runs:
                    key = (summa_side(m, k, n, self.tile), precision)
                    if key in seen:
                        continue
                    seen.add(key)
                    try:
                        ml.dense.check_product_fits(m, k, n, self.tile, self.device, precision, biases, roundings)
                    except (TileTooLargeError, SramBudgetError) as err:
                        needed = err.fields.get("needed")
                        raise ActivationsTooLargeError(
                            f"layer {i}: the {m} x {k} @ {k} x {n} product runs the SUMMA kernel on "
                            f"{key[0][1]} x {key[0][1]} tiles, which needs {needed:,} bytes of SRAM per PE, the "
                            f"wafer's PEs have {spec.sram_bytes:,}: use a wafer with more SRAM "
                            f"(WaferSpec(sram_bytes=)) or a smaller tile= ({err})", layer=i, needed=needed,
                            available=spec.sram_bytes) from None
                    except OutOfMemoryError as err:  # the product's operands, past the device's memory
                        raise ActivationsTooLargeError(
                            f"layer {i}: the {m} x {k} @ {k} x {n} product's operands, tiled over a {key[0][0]:,} x "
                            f"{key[0][0]:,} block of PEs, do not fit the device's memory ({err.fields['requested']:,} "
                            f"bytes asked, {spec.global_bytes:,.0f} in all): use a smaller batch_size",
                            layer=i, needed=err.fields["requested"], available=spec.global_bytes) from None

    # ------------------------------------------------------------------ one step
    def step(self, x: np.ndarray, labels: np.ndarray) -> StepReport:
        """Forward, loss, backward and the optimizer update on one batch (x float32, or converted to it by
        the kernels' rule: complex values are refused)."""
        x = training_input(x)
        labels = np.asarray(labels)
        check_data(x, labels, self.model.in_features, self.model.classes, self.batch_size, one_batch=True)
        self._check_half_range(x)
        self.timeline.begin_step()
        first_launch = len(self.device.launches)
        tasks = None
        if isinstance(self.pipeline, StagedPipeline):
            losses, tasks = self.pipeline.step(x, labels, self.timeline)
        elif self.pipeline:
            losses, _ = self.pipeline.step(x, labels)
        else:
            self.memoryx.take_counters()
            # A step that raised or was interrupted (Ctrl-C) after some gradients reached MemoryX left them
            # there: they belong to no step, and would add to this one's.
            self.memoryx.discard_gradients()
            losses = self._streaming_step(x, labels)
        self.steps += 1
        loss = float(np.mean(losses, dtype=np.float64))
        _, overlapped_s = self.timeline.step(self.steps - 1, f"loss {loss:.4f}", tasks)
        return self._report(loss, self.device.launches[first_launch:], overlapped_s)

    def _check_half_range(self, x: np.ndarray) -> None:
        """In mixed precision, an `ArgumentError` (before the step, in every mode) for a batch `x` that the
        first dense layer would round to inf (float16 ends at 65504), and in pipelined mode for master
        weights that would (weight streaming's MemoryX refuses them as it streams them): the kernels' rule,
        so that no mode turns them into inf and a NaN loss without a word."""
        if self.half_dtype is None:
            return
        if isinstance(self.model.layers[0], Dense):  # (a layer norm or a block normalises x in float32 first)
            half_input(x, "x", self.half_dtype)
        if self.pipeline:
            for name, weights in self.pipeline.params.items():
                if weights.ndim == 2:  # the weight matrices are rounded; biases and norms stay float32
                    half_input(weights, f"weight tensor {name!r}", self.half_dtype)

    def _streaming_step(self, x: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """Weight streaming's forward, loss, backward and MemoryX update; the per-sample losses."""
        saved, activations = [], x
        for i, layer in enumerate(self.model.layers):
            self.timeline.begin_pass()
            activations, kept = self._forward(i, layer, activations)
            saved.append(kept)
        self.timeline.begin_pass()
        (losses, grad), _ = ml.cross_entropy(activations, labels, grad_scale=self.loss_grad_scale,
                                             **self.kernel_options)
        for i in reversed(range(len(self.model.layers))):
            self.timeline.begin_pass()
            grad = self._backward(i, self.model.layers[i], saved[i], grad)
        self.memoryx.update()
        return losses

    def to_perfetto(self, path: str | Path) -> Path:
        """Write the simulated timeline of every step so far (launches, MemoryX transfers) as a Perfetto
        trace: open it in ui.perfetto.dev."""
        return self.timeline.to_perfetto(path)

    def _forward(self, i: int, layer, x: np.ndarray) -> tuple[np.ndarray, tuple]:
        """The layer's output, and what its backward pass needs."""
        return layers.forward_named(i, layer, self._weights(i), x, self.tile, self.precision, **self.kernel_options)

    def _backward(self, i: int, layer, kept: tuple, dy: np.ndarray) -> np.ndarray | None:
        """The gradient at the layer's input (None for the first dense layer); the gradients of its tensors
        go to MemoryX."""
        dx, gradients = layers.backward(layer, self._weights(i), kept, dy, self.tile, need_dx=i > 0,
                                        precision=self.precision, **self.kernel_options)
        for name, gradient in gradients.items():
            self.memoryx.receive_gradient(f"{i}.{name}", gradient)
        return dx

    def _weights(self, i: int) -> Callable[..., np.ndarray]:
        """Layer i's tensors by name, each streamed from MemoryX when asked for (rounded to a dtype if one
        is given)."""
        return lambda name, dtype=None: self.memoryx.stream_weights(f"{i}.{name}", dtype)

    def _report(self, loss: float, launches: list[LaunchStats], overlapped_s: float) -> StepReport:
        compute = waiting = 0.0
        for stats in launches:
            # A hand-off between pipelined stages' regions is all fabric traffic.
            c, w = (0.0, stats.seconds) if stats.program == HANDOFF_PROGRAM else ml.time_split(stats)
            compute, waiting = compute + c, waiting + w
        streamed = self.memoryx.take_counters() if self.memoryx else StreamCounters()
        return StepReport(step=self.steps - 1, mode=self.mode, loss=loss, compute_s=compute, wafer_traffic_s=waiting,
                          streaming_s=streamed.seconds, overlapped_s=overlapped_s, launches=len(launches),
                          fabric_words=sum(s.words_moved for s in launches), weight_bytes=streamed.weight_bytes,
                          gradient_bytes=streamed.gradient_bytes, flops=sum(s.flops for s in launches),
                          precision=self.precision)

    # ------------------------------------------------------------------ many steps
    def fit(self, x: np.ndarray, labels: np.ndarray, steps: int,
            callback: Callable[[StepReport], None] | None = None) -> list[StepReport]:
        """`steps` (>= 0) more steps over the data set, batch after batch (cycling); `callback` (None or a
        callable) sees each report."""
        steps = check_steps(steps)
        if callback is not None and not callable(callback):
            raise TrainingArgumentTypeError(f"fit(callback) must be None or a function of a StepReport, got "
                                            f"{callback!r}", callback=callback)
        check_data(np.asarray(x), np.asarray(labels), self.model.in_features, self.model.classes, self.batch_size)
        reports = []
        for _ in range(steps):
            reports.append(self.step(*batch(x, labels, self.batch_size, self.steps)))
            if callback is not None:
                callback(reports[-1])
        return reports


#: Other libraries' keywords a `Trainer` call does not take, and what to write instead.
TRAINER_KEYWORD_HINTS = {
    "epochs": "fit(x, labels, steps) counts batches: an epoch of n samples is n // batch_size steps",
    "lr": "the optimizer holds the learning rate: Trainer(model, train.SGD(lr=...), batch_size)",
    "learning_rate": "the optimizer holds the learning rate: Trainer(model, train.SGD(lr=...), batch_size)",
}
check_calls(Trainer, TrainingArgumentTypeError,
            ["__init__", "step", "fit", "save_checkpoint", "load_checkpoint", "to_perfetto"], TRAINER_KEYWORD_HINTS)
