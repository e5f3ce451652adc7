"""A `TransformerBlock`'s forward and backward passes in weight-streaming mode, composed of the ML
kernels (`kernels.ml`): layer norms, dense projections, one attention head per sequence, GELU, and the
residual adds, each on the wafer.

A batch of B sequences of T tokens arrives as (B, T * width) rows; the block works on its B * T tokens as
rows of `width` features (a host-side reshape), and runs attention sequence by sequence. `weights(name)`
streams one of the block's tensors in from MemoryX when it is needed, forward and again backward.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from ..kernels import ml
from .model import TransformerBlock

Weights = Callable[[str], np.ndarray]


def _sequences(block: TransformerBlock, tokens: int) -> list[slice]:
    return [slice(s, s + block.length) for s in range(0, tokens, block.length)]


def forward(block: TransformerBlock, weights: Weights, x: np.ndarray, tile: int, **kw) -> tuple[np.ndarray, tuple]:
    """The block's output (B, T * width), and what its backward pass keeps."""
    batch = x.shape[0]
    tokens = x.reshape(batch * block.length, block.width)
    (normed, mean1, rstd1), _ = ml.layer_norm(tokens, weights("ln1_gamma"), weights("ln1_beta"), block.eps, **kw)
    q, k, v = (ml.dense_forward(normed, weights(f"w{n}"), weights(f"b{n}"), tile=tile, **kw)[0] for n in "qkv")
    attended = np.empty_like(q)
    probs = []
    for seq in _sequences(block, tokens.shape[0]):
        (attended[seq], p), _ = ml.attention_forward(q[seq], k[seq], v[seq], block.causal, tile=tile, **kw)
        probs.append(p)
    projected, _ = ml.dense_forward(attended, weights("wo"), weights("bo"), tile=tile, **kw)
    mid, _ = ml.add(tokens, projected, **kw)
    (normed2, mean2, rstd2), _ = ml.layer_norm(mid, weights("ln2_gamma"), weights("ln2_beta"), block.eps, **kw)
    pre, _ = ml.dense_forward(normed2, weights("w1"), weights("b1"), tile=tile, **kw)
    hidden, _ = ml.activation_forward(pre, "gelu", **kw)
    mlp, _ = ml.dense_forward(hidden, weights("w2"), weights("b2"), tile=tile, **kw)
    out, _ = ml.add(mid, mlp, **kw)
    kept = (tokens, normed, mean1, rstd1, q, k, v, probs, attended, mid, normed2, mean2, rstd2, pre, hidden)
    return out.reshape(batch, -1), kept


def backward(block: TransformerBlock, weights: Weights, kept: tuple, dy: np.ndarray, tile: int,
             **kw) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The gradient at the block's input, and its tensors' gradients by name."""
    tokens, normed, mean1, rstd1, q, k, v, probs, attended, mid, normed2, mean2, rstd2, pre, hidden = kept
    d_out = dy.reshape(tokens.shape)
    grads: dict[str, np.ndarray] = {}
    # The MLP branch, then the residual: d(mid) = d_out + the branch's gradient.
    (d_hidden, grads["w2"], grads["b2"]), _ = ml.dense_backward(hidden, weights("w2"), d_out, tile=tile, **kw)
    d_pre, _ = ml.activation_backward(pre, d_hidden, "gelu", **kw)
    (d_normed2, grads["w1"], grads["b1"]), _ = ml.dense_backward(normed2, weights("w1"), d_pre, tile=tile, **kw)
    (d_mid_branch, grads["ln2_gamma"], grads["ln2_beta"]), _ = ml.layer_norm_backward(
        mid, weights("ln2_gamma"), mean2, rstd2, d_normed2, **kw)
    d_mid, _ = ml.add(d_out, d_mid_branch, **kw)
    # The attention branch, then the residual.
    (d_attended, grads["wo"], grads["bo"]), _ = ml.dense_backward(attended, weights("wo"), d_mid, tile=tile, **kw)
    dq, dk, dv = np.empty_like(q), np.empty_like(k), np.empty_like(v)
    for seq, p in zip(_sequences(block, tokens.shape[0]), probs):
        (dq[seq], dk[seq], dv[seq]), _ = ml.attention_backward(q[seq], k[seq], v[seq], p, d_attended[seq],
                                                               tile=tile, **kw)
    d_normed = None
    for name, d_proj in zip("qkv", (dq, dk, dv)):
        (d_in, grads[f"w{name}"], grads[f"b{name}"]), _ = ml.dense_backward(normed, weights(f"w{name}"), d_proj,
                                                                           tile=tile, **kw)
        d_normed = d_in if d_normed is None else ml.add(d_normed, d_in, **kw)[0]
    (d_tokens_branch, grads["ln1_gamma"], grads["ln1_beta"]), _ = ml.layer_norm_backward(
        tokens, weights("ln1_gamma"), mean1, rstd1, d_normed, **kw)
    d_tokens, _ = ml.add(d_mid, d_tokens_branch, **kw)
    return d_tokens.reshape(dy.shape), grads
