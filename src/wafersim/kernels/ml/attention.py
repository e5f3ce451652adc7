"""Scaled dot-product attention of one head over one sequence, forward and backward, on the mesh: the
piece of a transformer block that the dense layers, layer norm and activations do not already cover.

For queries, keys and values q, k, v of shape (T, d):

    P = softmax(q k^T / sqrt(d))   (row-wise; with `causal`, row t sees keys 0..t only)
    out = P v

Forward is two SUMMA products (`dense.matmul`) and one row-layout softmax; backward is four products and
the softmax's backward:

    dv = P^T dout,  dP = dout v^T,  dS = softmax_backward(P, dP) / sqrt(d),  dq = dS k,  dk = dS^T q.
"""
from __future__ import annotations

import math

import numpy as np

from ...errors import call_checked
from ...runtime.device import Device
from ...sim.stats import LaunchStats
from .dense import DEFAULT_TILE, matmul, summa_side
from ..hosting import fitting_device
from .layout import DEFAULT_CHUNK, MLShapeError, as_matrix, combine_stats, pes_per_row
from .rowwise import softmax, softmax_backward


def _check(q: np.ndarray, k: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    q, k, v = as_matrix("q", q), as_matrix("k", k), as_matrix("v", v)
    if not q.shape == k.shape == v.shape:
        raise MLShapeError(f"q {q.shape}, k {k.shape} and v {v.shape} must have one shape (T, d)",
                           shape=(q.shape, k.shape, v.shape))
    return q, k, v


def attention_device(length: int, width: int, tile: int = DEFAULT_TILE, chunk: int = DEFAULT_CHUNK) -> Device:
    """A device just large enough for attention over `length` tokens of `width` features."""
    p = summa_side(length, max(length, width), max(length, width), tile)[0]
    return fitting_device(max(p, pes_per_row(length, chunk)), max(p, length))


@call_checked
def attention_forward(q: np.ndarray, k: np.ndarray, v: np.ndarray, causal: bool = False,
                      tile: int = DEFAULT_TILE, chunk: int = DEFAULT_CHUNK, device: Device | None = None,
                      stream=None) -> tuple[tuple[np.ndarray, np.ndarray], LaunchStats]:
    """One attention head over one sequence. Returns ((out (T, d), the attention weights P (T, T), kept for
    the backward), the three launches' LaunchStats added up)."""
    q, k, v = _check(q, k, v)
    device = device or attention_device(*q.shape, tile, chunk)
    scores, s1 = matmul(q, np.ascontiguousarray(k.T), tile, device, stream)
    probs, s2 = softmax(scores, chunk, device, stream, scale=1.0 / math.sqrt(q.shape[1]), causal=causal)
    out, s3 = matmul(probs, v, tile, device, stream)
    return (out, probs), combine_stats([s1, s2, s3])


@call_checked
def attention_backward(q: np.ndarray, k: np.ndarray, v: np.ndarray, probs: np.ndarray, d_out: np.ndarray,
                       tile: int = DEFAULT_TILE, chunk: int = DEFAULT_CHUNK, device: Device | None = None,
                       stream=None) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray], LaunchStats]:
    """Gradients of `attention_forward` given its inputs, its attention weights `probs` and the gradient
    `d_out` at its output. Returns ((dq, dk, dv), the five launches' LaunchStats added up)."""
    q, k, v = _check(q, k, v)
    length = q.shape[0]
    probs, d_out = as_matrix("probs", probs), as_matrix("d_out", d_out)
    if probs.shape != (length, length) or d_out.shape != q.shape:
        raise MLShapeError(f"probs {probs.shape} must be ({length}, {length}) and d_out {d_out.shape} {q.shape}",
                           shape=(probs.shape, d_out.shape))
    device = device or attention_device(*q.shape, tile, chunk)
    dv, s1 = matmul(np.ascontiguousarray(probs.T), d_out, tile, device, stream)
    d_probs, s2 = matmul(d_out, np.ascontiguousarray(v.T), tile, device, stream)
    d_scores, s3 = softmax_backward(probs, d_probs, chunk, device, stream, scale=1.0 / math.sqrt(q.shape[1]))
    dq, s4 = matmul(d_scores, k, tile, device, stream)
    dk, s5 = matmul(np.ascontiguousarray(d_scores.T), q, tile, device, stream)
    return (dq, dk, dv), combine_stats([s1, s2, s3, s4, s5])
