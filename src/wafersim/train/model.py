"""A small model description: a list of layers (an MLP, optionally with layer norms), ending in a
softmax cross-entropy loss over class logits."""
from __future__ import annotations

import dataclasses
import math
from typing import Sequence

import numpy as np

from ..kernels.ml.elementwise import ACTIVATIONS
from .errors import TrainingError


@dataclasses.dataclass(frozen=True)
class Dense:
    """y = f(x W + b): W is (in_features, out_features); `activation` is None, "relu", "gelu" or "tanh"."""

    in_features: int
    out_features: int
    activation: str | None = None

    def __post_init__(self) -> None:
        if self.in_features < 1 or self.out_features < 1:
            raise TrainingError(f"Dense({self.in_features}, {self.out_features}): sizes must be positive")
        if self.activation is not None and self.activation not in ACTIVATIONS:
            raise TrainingError(f"activation must be None or one of {sorted(ACTIVATIONS)}, got {self.activation!r}")

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        return {"w": (self.in_features, self.out_features), "b": (self.out_features,)}

    def init_params(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """Glorot-normal W, zero b."""
        scale = math.sqrt(2.0 / (self.in_features + self.out_features))
        return {"w": (rng.standard_normal(self.param_shapes()["w"]) * scale).astype(np.float32),
                "b": np.zeros(self.out_features, np.float32)}


@dataclasses.dataclass(frozen=True)
class LayerNorm:
    """Layer norm over `features` with a learned scale (gamma, initially 1) and shift (beta, initially 0)."""

    features: int
    eps: float = 1e-5

    @property
    def in_features(self) -> int:
        return self.features

    @property
    def out_features(self) -> int:
        return self.features

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        return {"gamma": (self.features,), "beta": (self.features,)}

    def init_params(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        return {"gamma": np.ones(self.features, np.float32), "beta": np.zeros(self.features, np.float32)}


Layer = Dense | LayerNorm


@dataclasses.dataclass(frozen=True)
class Model:
    """Layers applied in order; the last layer's outputs are class logits for a softmax cross-entropy loss.

    Parameters are named ``"<layer index>.<name>"`` (``"0.w"``, ``"0.b"``, ``"1.gamma"``, ...)."""

    layers: tuple[Layer, ...]

    def __init__(self, layers: Sequence[Layer]) -> None:
        object.__setattr__(self, "layers", tuple(layers))
        if not self.layers:
            raise TrainingError("a model needs at least one layer")
        for i, (a, b) in enumerate(zip(self.layers, self.layers[1:])):
            if a.out_features != b.in_features:
                raise TrainingError(f"layer {i} gives {a.out_features} features, layer {i + 1} takes {b.in_features}")

    @classmethod
    def mlp(cls, sizes: Sequence[int], activation: str = "relu", layer_norm: bool = False) -> "Model":
        """Dense layers between consecutive `sizes` with `activation` on all but the last (which gives the
        logits); `layer_norm=True` puts a LayerNorm after each hidden layer."""
        layers: list[Layer] = []
        for i, (n_in, n_out) in enumerate(zip(sizes, sizes[1:])):
            last = i == len(sizes) - 2
            layers.append(Dense(n_in, n_out, None if last else activation))
            if layer_norm and not last:
                layers.append(LayerNorm(n_out))
        return cls(layers)

    @property
    def in_features(self) -> int:
        return self.layers[0].in_features

    @property
    def classes(self) -> int:
        return self.layers[-1].out_features

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        return {f"{i}.{name}": shape for i, layer in enumerate(self.layers)
                for name, shape in layer.param_shapes().items()}

    @property
    def n_params(self) -> int:
        return sum(math.prod(shape) for shape in self.param_shapes().values())

    @property
    def param_bytes(self) -> int:
        """Bytes of the float32 weights."""
        return 4 * self.n_params

    def activation_bytes(self, batch: int) -> int:
        """Bytes of float32 activations a training step keeps for the backward pass: every layer's input
        and, for activated dense layers, the pre-activation too; plus the logits."""
        kept = sum(layer.in_features + (layer.out_features if isinstance(layer, Dense) and layer.activation else 0)
                   for layer in self.layers)
        return 4 * batch * (kept + self.classes)

    def init_params(self, seed: int = 0) -> dict[str, np.ndarray]:
        """Fresh float32 parameters, reproducible from `seed`."""
        rng = np.random.default_rng(seed)
        return {f"{i}.{name}": value for i, layer in enumerate(self.layers)
                for name, value in layer.init_params(rng).items()}
