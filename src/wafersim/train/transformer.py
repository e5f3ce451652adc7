"""A `TransformerBlock`'s forward and backward passes in weight-streaming mode, composed of the ML
kernels (`kernels.ml`): layer norms, dense projections, one attention head per sequence, GELU, and the
residual adds, each on the wafer.

With a 16-bit `precision` the six dense products (q, k, v, the output projection and the MLP's two) run
mixed precision as the trainer's dense layers do (16-bit x, W and dy, float32 sums and biases, 16-bit y
and dx, float32 dW and db; `weights(name, dtype)` streams W in 16 bits); attention, the layer norms, GELU
and the residual adds run in float32 on the 16-bit values widened.

A batch of B sequences of T tokens arrives as (B, T * width) rows; the block works on its B * T tokens as
rows of `width` features (a host-side reshape), and runs attention sequence by sequence. `weights(name)`
streams one of the block's tensors in from MemoryX when it is needed, forward and again backward.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from ..kernels import ml
from ..kernels.ml.mixed import PRECISIONS
from .model import TransformerBlock

Weights = Callable[..., np.ndarray]  # weights(name) or weights(name, dtype): one of the block's tensors


def _sequences(block: TransformerBlock, tokens: int) -> list[slice]:
    return [slice(s, s + block.length) for s in range(0, tokens, block.length)]


def _matrix(weights: Weights, precision: str) -> Callable[[str], np.ndarray]:
    """weights(name) of a weight matrix in the products' precision."""
    half = PRECISIONS[precision]
    return lambda name: weights(name, half) if half is not None else weights(name)


def forward(block: TransformerBlock, weights: Weights, x: np.ndarray, tile: int, precision: str = "float32",
            **kw) -> tuple[np.ndarray, tuple]:
    """The block's output (B, T * width), and what its backward pass keeps."""
    batch = x.shape[0]
    tokens = x.reshape(batch * block.length, block.width)
    matrix = _matrix(weights, precision)

    def dense(a: np.ndarray, name: str) -> np.ndarray:
        return ml.dense_forward(a, matrix(f"w{name}"), weights(f"b{name}"), tile=tile, precision=precision, **kw)[0]

    (normed, mean1, rstd1), _ = ml.layer_norm(tokens, weights("ln1_gamma"), weights("ln1_beta"), block.eps, **kw)
    q, k, v = (dense(normed, n) for n in "qkv")
    attended = np.empty_like(q)
    probs = []
    for seq in _sequences(block, tokens.shape[0]):
        (attended[seq], p), _ = ml.attention_forward(q[seq], k[seq], v[seq], block.causal, tile=tile, **kw)
        probs.append(p)
    projected = dense(attended, "o")
    mid, _ = ml.add(tokens, projected, **kw)
    (normed2, mean2, rstd2), _ = ml.layer_norm(mid, weights("ln2_gamma"), weights("ln2_beta"), block.eps, **kw)
    pre = dense(normed2, "1")
    hidden, _ = ml.activation_forward(pre, "gelu", **kw)
    mlp = dense(hidden, "2")
    out, _ = ml.add(mid, mlp, **kw)
    kept = (tokens, normed, mean1, rstd1, q, k, v, probs, attended, mid, normed2, mean2, rstd2, pre, hidden)
    return out.reshape(batch, -1), kept


def backward(block: TransformerBlock, weights: Weights, kept: tuple, dy: np.ndarray, tile: int,
             precision: str = "float32", **kw) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The gradient at the block's input, and its tensors' gradients by name."""
    tokens, normed, mean1, rstd1, q, k, v, probs, attended, mid, normed2, mean2, rstd2, pre, hidden = kept
    d_out = dy.reshape(tokens.shape)
    grads: dict[str, np.ndarray] = {}
    matrix = _matrix(weights, precision)

    def dense(a: np.ndarray, name: str, d: np.ndarray) -> np.ndarray:
        """The gradient at a dense product's input; its dW and db go to `grads`."""
        (dx, grads[f"w{name}"], grads[f"b{name}"]), _ = ml.dense_backward(a, matrix(f"w{name}"), d, tile=tile,
                                                                          precision=precision, **kw)
        return dx

    # The MLP branch, then the residual: d(mid) = d_out + the branch's gradient.
    d_hidden = dense(hidden, "2", d_out)
    d_pre, _ = ml.activation_backward(pre, d_hidden, "gelu", **kw)
    d_normed2 = dense(normed2, "1", d_pre)
    (d_mid_branch, grads["ln2_gamma"], grads["ln2_beta"]), _ = ml.layer_norm_backward(
        mid, weights("ln2_gamma"), mean2, rstd2, d_normed2, **kw)
    d_mid, _ = ml.add(d_out, d_mid_branch, **kw)
    # The attention branch, then the residual.
    d_attended = dense(attended, "o", d_mid)
    dq, dk, dv = np.empty_like(q), np.empty_like(k), np.empty_like(v)
    for seq, p in zip(_sequences(block, tokens.shape[0]), probs):
        (dq[seq], dk[seq], dv[seq]), _ = ml.attention_backward(q[seq], k[seq], v[seq], p, d_attended[seq],
                                                               tile=tile, **kw)
    d_normed = None
    for name, d_proj in zip("qkv", (dq, dk, dv)):
        d_in = dense(normed, name, d_proj)
        d_normed = d_in if d_normed is None else ml.add(d_normed, d_in, **kw)[0]
    (d_tokens_branch, grads["ln1_gamma"], grads["ln1_beta"]), _ = ml.layer_norm_backward(
        tokens, weights("ln1_gamma"), mean1, rstd1, d_normed, **kw)
    d_tokens, _ = ml.add(d_mid, d_tokens_branch, **kw)
    return d_tokens.reshape(dy.shape), grads
