"""One layer's forward and backward pass on the ML kernels (`kernels.ml`), whatever holds its weights:
MemoryX in weight-streaming mode (the trainer), the wafer's SRAM in staged pipelined mode
(`pipelined_stages`). `weights(name)` gives one of the layer's tensors, `weights(name, dtype)` a weight
matrix rounded to the 16-bit type of mixed precision."""
from __future__ import annotations

from typing import Callable

import numpy as np

from ..errors import ArgumentError
from ..kernels import ml
from ..kernels.ml.mixed import PRECISIONS
from . import transformer
from .model import Dense, LayerNorm, TransformerBlock

Weights = Callable[..., np.ndarray]


def forward(layer: Dense | LayerNorm | TransformerBlock, weights: Weights, x: np.ndarray, tile: int,
            precision: str = "float32", **kw) -> tuple[np.ndarray, tuple]:
    """The layer's output, and what its backward pass needs (`kw`: the kernels' chunk and device)."""
    if isinstance(layer, TransformerBlock):
        return transformer.forward(layer, weights, x, tile=tile, precision=precision, **kw)
    if isinstance(layer, LayerNorm):
        (y, mean, rstd), _ = ml.layer_norm(x, weights("gamma"), weights("beta"), layer.eps, **kw)
        return y, (x, mean, rstd)
    z, _ = ml.dense_forward(x, weights("w", PRECISIONS[precision]), weights("b"), tile=tile, precision=precision,
                            **kw)
    if layer.activation is None:
        return z, (x, z)
    y, _ = ml.activation_forward(z, layer.activation, **kw)
    return y, (x, z)


def forward_named(i: int, layer: Dense | LayerNorm | TransformerBlock, weights: Weights, x: np.ndarray,
                  tile: int, precision: str = "float32", **kw) -> tuple[np.ndarray, tuple]:
    """`forward` of the model's layer `i`, whose kernel refusals of their input `x` (an activation beyond
    float16's range, in mixed precision) name the layer: the kernel calls its argument x, but inside the
    model it is an activation, not the batch (weight streaming and staged pipelined mode both run this; a
    first dense layer's x is the batch, checked before the step)."""
    try:
        return forward(layer, weights, x, tile, precision, **kw)
    except ArgumentError as err:
        if err.fields.get("array") != "x" or (i == 0 and isinstance(layer, Dense)):
            raise
        raise ArgumentError(f"layer {i} ({type(layer).__name__}): an activation {str(err).removeprefix('x ')}",
                            layer=i) from None


def backward(layer: Dense | LayerNorm | TransformerBlock, weights: Weights, kept: tuple, dy: np.ndarray,
             tile: int, need_dx: bool = True, precision: str = "float32",
             **kw) -> tuple[np.ndarray | None, dict[str, np.ndarray]]:
    """The gradient at the layer's input (None when not `need_dx`, for a first dense layer), and the
    gradients of its tensors by name."""
    if isinstance(layer, TransformerBlock):
        return transformer.backward(layer, weights, kept, dy, tile=tile, precision=precision, **kw)
    if isinstance(layer, LayerNorm):
        x, mean, rstd = kept
        (dx, dgamma, dbeta), _ = ml.layer_norm_backward(x, weights("gamma"), mean, rstd, dy, **kw)
        return dx, {"gamma": dgamma, "beta": dbeta}
    x, z = kept
    if layer.activation is not None:
        dy, _ = ml.activation_backward(z, dy, layer.activation, **kw)
    (dx, dw, db), _ = ml.dense_backward(x, weights("w", PRECISIONS[precision]), dy, tile=tile, need_dx=need_dx,
                                        precision=precision, **kw)
    return dx, {"w": dw, "b": db}
