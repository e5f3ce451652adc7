"""MemoryX: the host-side weight store of weight-streaming training. It keeps the master weights and the
optimizer state, streams each layer's weights to the wafer, receives the gradients and applies the
optimizer (SGD or Adam, in float32, on the host side), and counts the bytes it moves so that a training
step can be charged for them.

**Figures.** `MemoryXSpec`'s defaults are a design point, not measurements of a product. Public:
the capacity, 2.4 PB, is the largest MemoryX configuration Cerebras announced (Hot Chips 33, August 2021,
and Cerebras's "MemoryX" glossary page: "can scale from 4TB to 2.4PB ... models with up to 120 trillion
parameters"); the same page says MemoryX's storage and I/O "can match or exceed the I/O bandwidth of a
CS-2 system", which Cerebras's "SwarmX" glossary page gives as 1.2 Tb/s, that is 150 GB/s
(`CS2_IO_BYTES_PER_S`). **Our assumptions:** the default bandwidth of 1.2 TB/s each way (eight times the
CS-2's published I/O, a wafer fed by a wider link; `cluster.swarmx` builds on it) and the 2 us latency of
each transfer (one tensor); pass `bandwidth_bytes_per_s=CS2_IO_BYTES_PER_S` to study the published rate.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Callable

import numpy as np

from ..arch.values import is_finite_real
from ..errors import SpecError, WaferError, check_calls
from ..kernels.ml.layout import half_input
from .errors import ModelTooLargeError, TrainingArgumentError, TrainingArgumentTypeError, TrainingError, check_instance


# A CS-2's I/O: 1.2 Tb/s (Cerebras, "SwarmX" glossary page: "Each CS-2 system has 1.2Tb/s of I/O
# bandwidth"; the Argonne SC24 AI-accelerators tutorial: "1.2 Tbps I/O to and from the chip").
CS2_IO_BYTES_PER_S = 1.2e12 / 8


@dataclasses.dataclass(frozen=True)
class MemoryXSpec:
    """The weight store's figures (see the module docstring for where they come from)."""

    capacity_bytes: float = 2.4e15  # master weights plus optimizer state
    bandwidth_bytes_per_s: float = 1.2e12  # each direction; our assumption (8 x CS2_IO_BYTES_PER_S)
    latency_s: float = 2e-6  # fixed cost of one transfer (one tensor)

    def __post_init__(self) -> None:
        # A latency of 0 is allowed (a transfer then costs its bytes alone), as SwarmXSpec.level_latency_s.
        for field in dataclasses.fields(self):
            value, lowest = getattr(self, field.name), "0" if field.name == "latency_s" else "positive"
            if not (is_finite_real(value) and (value > 0 or (value == 0 and field.name == "latency_s"))):
                kind = "a finite number >= 0" if lowest == "0" else "a positive finite number"
                raise SpecError(f"MemoryXSpec.{field.name} must be {kind}, got {value!r}",
                                field=field.name, value=value)

    def transfer_seconds(self, nbytes: int) -> float:
        """Time of one transfer of `nbytes` (>= 0) between MemoryX and the wafer."""
        return self.latency_s + check_bytes(nbytes) / self.bandwidth_bytes_per_s


def check_bytes(nbytes: object, error: type[WaferError] = TrainingArgumentError) -> int | float:
    """`nbytes` if it is a finite number of bytes >= 0, else an `error` (an `ArgumentError`: a transfer of
    a negative size would take less than its latency, or a negative time)."""
    if not (is_finite_real(nbytes) and nbytes >= 0):
        raise error(f"a transfer's size must be a number of bytes >= 0, got {nbytes!r}",
                                    nbytes=nbytes)
    return nbytes


def _check_hyper(optimizer: object, **ranges: tuple[float, float, str]) -> None:
    """A `TrainingArgumentError` for a hyperparameter outside its interval (low, high, bounds), bounds "[]",
    "[)" or "(]" saying which ends are included, or not a finite real number: one rule, one message."""
    name = type(optimizer).__name__
    for field, (low, high, bounds) in ranges.items():
        value = getattr(optimizer, field)
        ok = (is_finite_real(value) and (low < value if bounds[0] == "(" else low <= value)
              and (value < high if bounds[1] == ")" else value <= high))
        if not ok:
            within = (">" if bounds[0] == "(" else ">=") + f" {low:g}"
            if math.isfinite(high):
                within += " and " + ("<" if bounds[1] == ")" else "<=") + f" {high:g}"
            raise TrainingArgumentError(f"{name}({field}={value!r}): {field} must be a finite number {within}",
                                        field=field, value=value)
        # A plain float (np.float32(0.1) -> 0.1...): checkpoints write the hyperparameters as JSON, which has
        # no NumPy types, and the update rounds each to float32 as it uses it either way.
        object.__setattr__(optimizer, field, float(value))


@dataclasses.dataclass(frozen=True)
class SGD:
    """w -= lr * g (plain SGD), or with heavy-ball momentum w -= lr * v, v = momentum * v + g; momentum in
    [0, 1)."""

    lr: float = 0.1
    momentum: float = 0.0

    def __post_init__(self) -> None:
        # momentum < 1: v is a sum of past gradients weighted momentum ** age, which never forgets (1) or
        # grows without bound (> 1) otherwise, so the steps diverge on any constant gradient.
        _check_hyper(self, lr=(0.0, math.inf, "[]"), momentum=(0.0, 1.0, "[)"))

    @property
    def state_per_param(self) -> int:
        """float32 state words kept per weight."""
        return 1 if self.momentum else 0

    def update(self, w: np.ndarray, g: np.ndarray, state: dict[str, np.ndarray], step: int) -> None:
        """Update `w` in place from its gradient `g` (`step` counts from 1)."""
        if self.momentum:
            v = state.setdefault("velocity", np.zeros_like(w))
            v *= np.float32(self.momentum)
            v += g
            g = v
        w -= np.float32(self.lr) * g


@dataclasses.dataclass(frozen=True)
class Adam:
    """Adam (Kingma & Ba, 2015) with bias correction."""

    lr: float = 1e-2
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8

    def __post_init__(self) -> None:
        # beta1, beta2 < 1: the bias correction divides by 1 - beta ** step; eps > 0 keeps the division by
        # sqrt(v) + eps finite.
        _check_hyper(self, lr=(0.0, math.inf, "[]"), beta1=(0.0, 1.0, "[)"), beta2=(0.0, 1.0, "[)"),
                     eps=(0.0, math.inf, "(]"))

    @property
    def state_per_param(self) -> int:
        return 2

    def update(self, w: np.ndarray, g: np.ndarray, state: dict[str, np.ndarray], step: int) -> None:
        m = state.setdefault("m", np.zeros_like(w))
        v = state.setdefault("v", np.zeros_like(w))
        b1, b2 = np.float32(self.beta1), np.float32(self.beta2)
        m *= b1
        m += (1 - b1) * g
        v *= b2
        v += (1 - b2) * g * g
        m_hat = m / np.float32(1 - self.beta1 ** step)
        v_hat = v / np.float32(1 - self.beta2 ** step)
        w -= np.float32(self.lr) * m_hat / (np.sqrt(v_hat) + np.float32(self.eps))


# PyTorch's optimizer keywords that these optimizers do not take, and what to write instead (user54: a
# PyTorch user's `Adam(lr=0.01, betas=(0.9, 0.99))` was Python's bare TypeError, not a `WaferError`, as
# was any call that does not fit a training or cluster class's parameters).
_PYTORCH_KEYWORDS = {
    "betas": "write beta1= and beta2= (PyTorch's betas=(0.9, 0.999) is beta1=0.9, beta2=0.999)",
    "weight_decay": "weight decay is not modelled (PyTorch's default, 0)",
    "dampening": "SGD here is PyTorch's with dampening=0",
    "nesterov": "SGD here is PyTorch's heavy-ball momentum, nesterov=False",
    "amsgrad": "Adam here is PyTorch's with amsgrad=False",
    "maximize": "the optimizers minimise the loss (PyTorch's maximize=False)",
}


for _optimizer in (SGD, Adam):
    check_calls(_optimizer, TrainingArgumentTypeError, ["__init__"], _PYTORCH_KEYWORDS)
check_calls(MemoryXSpec, TrainingArgumentTypeError, ["__init__", "transfer_seconds"])

Optimizer = SGD | Adam


@dataclasses.dataclass
class StreamCounters:
    """What MemoryX moved since the counters were last taken."""

    weight_bytes: int = 0  # to the wafer
    gradient_bytes: int = 0  # from the wafer
    transfers: int = 0
    seconds: float = 0.0  # at the spec's bandwidth and latency, one transfer after another


def check_optimizer(optimizer: object, spec: object = None) -> None:
    """A `TrainingArgumentTypeError` unless `optimizer` is one (`SGD`, `Adam`, or an object with their
    `state_per_param` and `update(w, g, state, step)`, as a cluster's systems use) and `spec` None or a
    `MemoryXSpec` (checked when a trainer or MemoryX is made, not at its first update)."""
    if not (callable(getattr(optimizer, "update", None)) and hasattr(optimizer, "state_per_param")):
        raise TrainingArgumentTypeError(f"optimizer must be train.SGD(...) or train.Adam(...), got {optimizer!r}",
                                        optimizer=optimizer)
    check_instance(spec, (MemoryXSpec, type(None)), "memoryx_spec", "None or a train.MemoryXSpec(...)")


class MemoryX:
    """The master copy of a model's float32 weights with its optimizer; see the module docstring.

    `stream_weights(name)` hands a copy of one tensor to the wafer, `receive_gradient(name, g)` takes its
    gradient back (gradients of one step add up), `update()` applies the optimizer to every tensor that
    received a gradient. `take_counters()` returns and resets the bytes and time moved; `on_transfer`, if
    given, sees every transfer as it happens (the trainer's timeline)."""

    def __init__(self, params: dict[str, np.ndarray], optimizer: Optimizer, spec: MemoryXSpec | None = None,
                 on_transfer: Callable[[str, str, int, float], None] | None = None) -> None:
        check_optimizer(optimizer, spec)
        self.spec = spec or MemoryXSpec()
        self.on_transfer = on_transfer  # called with (kind, tensor, bytes, seconds) for every transfer
        self.optimizer = optimizer
        self.weights = {name: np.array(value, dtype=np.float32) for name, value in params.items()}
        needed = self.bytes_needed(sum(w.size for w in self.weights.values()), optimizer)
        if needed > self.spec.capacity_bytes:
            raise ModelTooLargeError(
                f"{sum(w.size for w in self.weights.values()):,} weights with {type(optimizer).__name__} state need "
                f"{needed:,} bytes, MemoryX holds {self.spec.capacity_bytes:,.0f}", needed=needed,
                available=self.spec.capacity_bytes)
        self.state: dict[str, dict[str, np.ndarray]] = {name: {} for name in self.weights}
        self.gradients: dict[str, np.ndarray] = {}
        self.steps = 0
        self.counters = StreamCounters()

    @staticmethod
    def bytes_needed(n_params: int, optimizer: Optimizer) -> int:
        """Bytes of float32 weights, gradients and optimizer state for `n_params` weights."""
        return 4 * n_params * (2 + optimizer.state_per_param)

    def _charge(self, name: str, nbytes: int, field: str) -> None:
        seconds = self.spec.transfer_seconds(nbytes)
        setattr(self.counters, field, getattr(self.counters, field) + nbytes)
        self.counters.transfers += 1
        self.counters.seconds += seconds
        if self.on_transfer is not None:
            self.on_transfer(field, name, nbytes, seconds)

    def stream_weights(self, name: str, dtype: np.dtype | None = None) -> np.ndarray:
        """A copy of the tensor `name`, as sent to the wafer (charged to the weight stream); with `dtype`
        (a 16-bit type, for mixed-precision training) the float32 master weights are rounded to it before
        they leave, so only its bytes are streamed."""
        if name not in self.weights:
            raise TrainingError(f"MemoryX holds no tensor {name!r}", name=name)
        # A finite master weight beyond the 16-bit type's range (float16: 65504) is refused, by the kernels'
        # rule (`half_input`), rather than streamed as inf.
        sent = (half_input(self.weights[name], f"weight tensor {name!r}", dtype) if dtype is not None
                else self.weights[name].copy())
        self._charge(name, sent.nbytes, "weight_bytes")
        return sent

    def receive_gradient(self, name: str, gradient: np.ndarray) -> None:
        """Take the gradient of tensor `name` from the wafer (charged to the gradient stream)."""
        if name not in self.weights:
            raise TrainingError(f"MemoryX holds no tensor {name!r}", name=name)
        gradient = np.asarray(gradient, dtype=np.float32)
        if gradient.shape != self.weights[name].shape:
            raise TrainingError(f"gradient of {name!r} has shape {gradient.shape}, the tensor "
                                f"{self.weights[name].shape}", name=name, shape=gradient.shape)
        self._charge(name, gradient.nbytes, "gradient_bytes")
        if name in self.gradients:
            self.gradients[name] = self.gradients[name] + gradient
        else:
            self.gradients[name] = gradient.copy()

    def discard_gradients(self) -> None:
        """Drop the gradients received since the last `update` (those of a step that did not finish: a
        step that raised, or was interrupted, must not add them to the next one)."""
        self.gradients = {}

    def update(self) -> None:
        """One optimizer step on every tensor that received a gradient; clears the gradients."""
        self.steps += 1
        for name, gradient in self.gradients.items():
            self.optimizer.update(self.weights[name], gradient, self.state[name], self.steps)
        self.gradients = {}

    def take_counters(self) -> StreamCounters:
        """The bytes, transfers and seconds moved since the last call, and reset them."""
        counters, self.counters = self.counters, StreamCounters()
        return counters


check_calls(MemoryX, TrainingArgumentTypeError, ["__init__"])
