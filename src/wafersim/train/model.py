"""A small model description: a list of layers (an MLP, optionally with layer norms, or a tiny
transformer block with one attention head), ending in a softmax cross-entropy loss over class logits.

Besides its parameters, each layer says what the wafer must hold for it (used to choose devices and to
refuse models that do not fit): `products(rows)`, the (m, k, n) matrix products of its forward and
backward passes for a batch of `rows` samples; `row_tensors(rows)`, the (rows, columns) tensors its
row-layout kernels handle; `kept_per_sample()`, the float32 activations per sample it keeps for the
backward pass."""
from __future__ import annotations

import dataclasses
import math
from typing import Sequence

import numpy as np

from ..arch.values import is_finite_real
from ..errors import ArgumentError, check_calls
from ..kernels.hosting import float32_input
from ..kernels.ml.elementwise import ACTIVATIONS
from .errors import TrainingArgumentError, TrainingArgumentTypeError, TrainingError, check_instance, check_whole


def check_activation(activation, where: str) -> None:
    """None or a name of `ACTIVATIONS`; a name outside the list (or not a str at all) is an option out of its
    range (`TrainingArgumentError`, or `TrainingArgumentTypeError` for another type), as a bad size is."""
    if activation is not None and not (isinstance(activation, str) and activation in ACTIVATIONS):
        error = TrainingArgumentError if isinstance(activation, str) else TrainingArgumentTypeError
        raise error(f"{where}: activation must be None or one of {sorted(ACTIVATIONS)}, got {activation!r}",
                    activation=activation)


@dataclasses.dataclass(frozen=True)
class Dense:
    """y = f(x W + b): W is (in_features, out_features); `activation` is None, "relu", "gelu" or "tanh"."""

    in_features: int
    out_features: int
    activation: str | None = None

    def __post_init__(self) -> None:
        for name in ("in_features", "out_features"):
            _store(self, name, check_whole(getattr(self, name), f"Dense({name})", 1))
        check_activation(self.activation, "Dense(activation)")

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        return {"w": (self.in_features, self.out_features), "b": (self.out_features,)}

    def init_params(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """Glorot-normal W, zero b."""
        return {"w": glorot(rng, self.in_features, self.out_features), "b": np.zeros(self.out_features, np.float32)}

    def products(self, rows: int) -> list[tuple[int, int, int]]:
        k, n = self.in_features, self.out_features
        return [(rows, k, n), (rows, n, k), (k, rows, n)]  # forward, dX, dW

    def row_tensors(self, rows: int) -> list[tuple[int, int]]:
        return [(rows, self.in_features), (rows, self.out_features)]

    def kept_per_sample(self) -> int:
        return self.in_features + (self.out_features if self.activation else 0)


@dataclasses.dataclass(frozen=True)
class LayerNorm:
    """Layer norm over `features` with a learned scale (gamma, initially 1) and shift (beta, initially 0)."""

    features: int
    eps: float = 1e-5

    def __post_init__(self) -> None:
        _store(self, "features", check_whole(self.features, "LayerNorm(features)", 1))
        _store(self, "eps", check_eps(self.eps, "LayerNorm"))

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

    def products(self, rows: int) -> list[tuple[int, int, int]]:
        return []

    def row_tensors(self, rows: int) -> list[tuple[int, int]]:
        return [(rows, self.features)]

    def kept_per_sample(self) -> int:
        return self.features


@dataclasses.dataclass(frozen=True)
class TransformerBlock:
    """A pre-norm transformer block over sequences of `length` tokens of `width` features, with one
    attention head and an MLP of `hidden` GELU units:

        y = x + Wo attention(Wq LN1(x), Wk LN1(x), Wv LN1(x)),   out = y + W2 gelu(W1 LN2(y))

    (every W with a bias; `causal` masks attention to earlier tokens). A sample is one sequence, its
    tokens' features one after another: `length * width` features in and out."""

    length: int
    width: int
    hidden: int
    causal: bool = False
    eps: float = 1e-5

    def __post_init__(self) -> None:
        for name in ("length", "width", "hidden"):
            _store(self, name, check_whole(getattr(self, name), f"TransformerBlock({name})", 1))
        # A str or number would be taken for its truth value: causal="no" masked attention.
        if not isinstance(self.causal, (bool, np.bool_)):
            raise TrainingArgumentTypeError(f"TransformerBlock(causal) must be True or False, got {self.causal!r}",
                                            causal=self.causal)
        _store(self, "causal", bool(self.causal))
        _store(self, "eps", check_eps(self.eps, "TransformerBlock"))

    @property
    def in_features(self) -> int:
        return self.length * self.width

    @property
    def out_features(self) -> int:
        return self.length * self.width

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        w, h = self.width, self.hidden
        shapes: dict[str, tuple[int, ...]] = {"ln1_gamma": (w,), "ln1_beta": (w,)}
        for name in ("q", "k", "v", "o"):
            shapes.update({f"w{name}": (w, w), f"b{name}": (w,)})
        shapes.update({"ln2_gamma": (w,), "ln2_beta": (w,), "w1": (w, h), "b1": (h,), "w2": (h, w), "b2": (w,)})
        return shapes

    def init_params(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """Glorot-normal weight matrices, zero biases and shifts, unit scales."""
        params = {}
        for name, shape in self.param_shapes().items():
            if name.endswith("gamma"):
                params[name] = np.ones(shape, np.float32)
            elif len(shape) == 2:
                params[name] = glorot(rng, *shape)
            else:
                params[name] = np.zeros(shape, np.float32)
        return params

    def products(self, rows: int) -> list[tuple[int, int, int]]:
        tokens, t, w, h = rows * self.length, self.length, self.width, self.hidden
        projections = [(tokens, w, w), (w, tokens, w)]
        mlp = [(tokens, w, h), (tokens, h, w), (w, tokens, h), (h, tokens, w)]
        attention = [(t, w, t), (t, t, w)]
        return projections + mlp + attention

    def row_tensors(self, rows: int) -> list[tuple[int, int]]:
        tokens = rows * self.length
        return [(tokens, self.width), (tokens, self.hidden), (self.length, self.length)]

    def kept_per_sample(self) -> int:
        # x, LN1(x), q, k, v, attention output, y, LN2(y) (width each), the MLP's pre-activation and
        # activation (hidden each), and the attention weights (length x length).
        return self.length * (8 * self.width + 2 * self.hidden + self.length)


Layer = Dense | LayerNorm | TransformerBlock


def _store(layer: object, name: str, value: object) -> None:
    """Set a checked field of a frozen layer to its plain Python value (an int for np.int64(4), a float
    for np.float32(1e-5)): the layer's sizes build `WaferSpec`s, which take Python ints, and checkpoints
    write the layers as JSON, which has no NumPy types."""
    object.__setattr__(layer, name, value)


def check_eps(eps: object, layer: str) -> float:
    """A layer norm's eps as a float: a finite number > 0 (it keeps 1 / sqrt(var + eps) finite on a
    constant row, var 0), else a `TrainingArgumentError`, when the layer is made; the rule and message are
    Adam's."""
    if not (is_finite_real(eps) and eps > 0):
        raise TrainingArgumentError(f"{layer}(eps={eps!r}): eps must be a finite number > 0", eps=eps)
    return float(eps)


def glorot(rng: np.random.Generator, n_in: int, n_out: int) -> np.ndarray:
    """A Glorot-normal (n_in, n_out) float32 matrix."""
    return (rng.standard_normal((n_in, n_out)) * math.sqrt(2.0 / (n_in + n_out))).astype(np.float32)


@dataclasses.dataclass(frozen=True)
class Model:
    """Layers applied in order; the last layer's outputs are class logits for a softmax cross-entropy loss.

    Parameters are named ``"<layer index>.<name>"`` (``"0.w"``, ``"0.b"``, ``"1.gamma"``, ...)."""

    layers: tuple[Layer, ...]

    def __init__(self, layers: Sequence[Layer]) -> None:
        try:
            layers = tuple(layers) if not isinstance(layers, (str, bytes)) else None
        except TypeError:
            layers = None
        if layers is None:
            raise TrainingArgumentTypeError("Model(layers): layers must be a list of Dense, LayerNorm and "
                                            "TransformerBlock layers", layers=layers)
        for i, layer in enumerate(layers):
            check_instance(layer, (Dense, LayerNorm, TransformerBlock), f"Model(layers[{i}])",
                           "a Dense, LayerNorm or TransformerBlock layer")
        object.__setattr__(self, "layers", layers)
        if not self.layers:
            raise TrainingError("a model needs at least one layer")
        for i, (a, b) in enumerate(zip(self.layers, self.layers[1:])):
            if a.out_features != b.in_features:
                raise TrainingError(f"layer {i} gives {a.out_features} features, layer {i + 1} takes {b.in_features}")

    @classmethod
    def mlp(cls, sizes: Sequence[int], activation: str = "relu", layer_norm: bool = False) -> "Model":
        """Dense layers between consecutive `sizes` with `activation` on all but the last (which gives the
        logits); `layer_norm=True` puts a LayerNorm after each hidden layer."""
        check_instance(sizes, (list, tuple, np.ndarray), "Model.mlp(sizes)", "a list of layer widths, e.g. [4, 16, 3]")
        check_activation(activation, "Model.mlp(activation)")  # (also where no hidden layer takes it: [4, 3])
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
        """Bytes of float32 activations a training step keeps for the backward pass (each layer's
        `kept_per_sample`), plus the logits."""
        batch = check_whole(batch, "Model.activation_bytes(batch)", 0)  # ("2" or [2] was repeated, not multiplied)
        return 4 * batch * (sum(layer.kept_per_sample() for layer in self.layers) + self.classes)

    def init_params(self, seed: int = 0) -> dict[str, np.ndarray]:
        """Fresh float32 parameters, reproducible from `seed` (a whole number >= 0, as `Trainer(seed=)`)."""
        rng = np.random.default_rng(check_whole(seed, "Model.init_params(seed)", 0))
        return {f"{i}.{name}": value for i, layer in enumerate(self.layers)
                for name, value in layer.init_params(rng).items()}

    def check_params(self, params: object) -> dict[str, np.ndarray]:
        """float32 copies of `params` (as `init_params` gives them), checked against the model's tensors:
        every tensor present, none the model lacks, each of exactly its shape (nothing is broadcast or
        reshaped: a scalar bias or a transposed weight is refused) and of real numbers. Every mode and a
        cluster check `params=` here, once, when the trainer is made; a `TrainingArgumentError` names the
        tensor, its layer and both shapes."""
        if not isinstance(params, dict):
            raise TrainingArgumentError(f"params must be a dict of arrays by tensor name (as Model.init_params() "
                                        f"gives), got {type(params).__name__}", type=type(params).__name__)
        shapes = self.param_shapes()
        missing, extra = [n for n in shapes if n not in params], [n for n in params if n not in shapes]
        if missing or extra:
            parts = ([f"missing {', '.join(map(repr, missing))}"] if missing else []) + (
                [f"not tensors of this model: {', '.join(map(repr, extra))}"] if extra else [])
            raise TrainingArgumentError(f"params: {'; '.join(parts)} (the model's tensors are "
                                        f"{', '.join(map(repr, shapes))}; Model.init_params() gives them all)",
                                        missing=missing, extra=extra)
        checked = {}
        for name, shape in shapes.items():
            layer = self.layers[int(name.split(".")[0])]
            where = f"params[{name!r}] (layer {name.split('.')[0]}, {_describe(layer)})"
            try:
                value = np.asarray(params[name])
            except ValueError as exc:  # (a ragged list: NumPy's bare error about an inhomogeneous shape)
                raise TrainingArgumentTypeError(f"{where} is not an array of numbers: {exc}", name=name) from None
            if value.dtype.kind not in "iuf":
                raise TrainingArgumentError(f"{where} must hold real numbers, got dtype {value.dtype}", name=name,
                                            dtype=str(value.dtype))
            if value.shape != shape:
                hint = " (transposed?)" if value.shape == shape[::-1] and len(shape) == 2 else ""
                raise TrainingArgumentError(f"{where} has shape {value.shape}{hint}, the model needs {shape}: pass "
                                            f"an array of exactly that shape", name=name, shape=value.shape,
                                            expected=shape)
            try:  # (the kernels' input rule: an integer beyond 2**24 or a float64 beyond float32's range is refused)
                converted = float32_input(value, where)
            except ArgumentError as err:
                raise TrainingArgumentError(str(err), name=name) from None
            checked[name] = np.array(converted, copy=True)  # a copy: training never changes the caller's arrays
        return checked


def _describe(layer: Layer) -> str:
    """A layer in a few words, for messages."""
    if isinstance(layer, Dense):
        return f"Dense {layer.in_features} -> {layer.out_features}"
    if isinstance(layer, LayerNorm):
        return f"LayerNorm of {layer.features}"
    return f"TransformerBlock of {layer.length} x {layer.width}"


for _layer in (Dense, LayerNorm, TransformerBlock):
    check_calls(_layer, TrainingArgumentTypeError, ["__init__"])
check_calls(Model, TrainingArgumentTypeError, ["__init__", "mlp", "init_params", "activation_bytes"])
