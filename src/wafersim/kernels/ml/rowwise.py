"""Row-wise ML kernels in the row layout (see `layout`): softmax, layer norm and softmax cross-entropy,
forward and backward. Each row's reductions (max, sums) are a loop over the PE's chunk followed by the
library's block all-reduce (`kernels.reduce.allreduce`) along the row's `Q x 1` block of PEs.
"""
from __future__ import annotations

import functools
import math

import numpy as np

from ...compiler import intrinsics as ws
from ...errors import call_checked
from ...runtime.device import Device
from ...runtime.jit import Dispatcher, jit
from ...sim.stats import LaunchStats
from ..reduce import MAX, SUM, allreduce
from .dense import column_sum
from ..hosting import Scratch, float32_scalar
from .layout import (DEFAULT_CHUNK, MLShapeError, as_matrix, as_vector, check_chunk, combine_stats,
                     launch_rows, row_device, spec_of)

LOWEST = float("-inf")  # the identity of the row max: below every float32 logit, -3.4e38 included


# ----------------------------------------------------------------------------- device functions
@jit
def chunk_sum(buf, n):
    """buf[0] + ... + buf[n-1], left to right."""
    s = 0.0
    for i in range(n):
        s += buf[i]
    return s


@jit
def chunk_dot(a, b, n):
    """a[0:n] . b[0:n], left to right."""
    s = 0.0
    for i in range(n):
        s += a[i] * b[i]
    return s


@jit
def softmax_chunk(buf, n):
    """Replace this PE's chunk `buf[0:n]` of a row by its softmax over the whole row (every PE of the
    row's block calls it); returns the row's max and log(sum(exp(x - max))), apart: their sum is the row's
    log-sum-exp, but a loss lse - x[label] is (max - x[label]) + log(...), which stays exact for logits far
    from 0 (max + log(...) - x[label] rounds the log away at 1e8, and loses digits already at 1e4)."""
    m = LOWEST
    for i in range(n):
        m = max(m, buf[i])
    m = allreduce(m, MAX)
    s = 0.0
    for i in range(n):
        e = math.exp(buf[i] - m)
        buf[i] = e
        s += e
    s = allreduce(s, SUM)
    inv = 1.0 / s
    if n > 0:
        buf[0:n] = buf[0:n] * inv
    return m, math.log(s)


# ----------------------------------------------------------------------------- kernels
@functools.lru_cache(maxsize=None)
def softmax_kernel(chunk: int, causal: bool = False) -> Dispatcher:
    """y = softmax(x * scale) along each row: ``kernel[(1, rows), (Q, 1)](x, y, scale)``. With `causal`, row
    r takes only columns 0..r (attention's causal mask); the others get 0."""
    C = chunk

    @jit
    def softmax_rows(x, y, scale):
        q = ws.threadIdx.x
        row = ws.blockIdx.y
        buf = ws.local.array(C, np.float32)
        start = q * C
        n = min(C, x.shape[1] - start)
        buf[0:n] = x[row, start:start + n]
        buf[0:n] = buf[0:n] * scale
        valid = n
        if causal:                                # folded at compile time
            valid = max(0, min(n, row + 1 - start))
        softmax_chunk(buf, valid)
        if valid < n:
            buf[valid:n] = 0.0
        y[row, start:start + n] = buf[0:n]

    return softmax_rows


@functools.lru_cache(maxsize=None)
def softmax_backward_kernel(chunk: int) -> Dispatcher:
    """dx = scale * y * (dy - sum(dy * y)) along each row, y = softmax(scale * x): ``kernel[(1, rows), (Q, 1)](y,
    dy, dx, scale)``."""
    C = chunk

    @jit
    def softmax_backward_rows(y, dy, dx, scale):
        q = ws.threadIdx.x
        row = ws.blockIdx.y
        ys = ws.local.array(C, np.float32)
        gs = ws.local.array(C, np.float32)
        start = q * C
        n = min(C, y.shape[1] - start)
        ys[0:n] = y[row, start:start + n]
        gs[0:n] = dy[row, start:start + n]
        dot = allreduce(chunk_dot(ys, gs, n), SUM)
        gs[0:n] = gs[0:n] - dot
        gs[0:n] = gs[0:n] * ys[0:n]
        gs[0:n] = gs[0:n] * scale
        dx[row, start:start + n] = gs[0:n]

    return softmax_backward_rows


@functools.lru_cache(maxsize=None)
def layer_norm_kernel(chunk: int) -> Dispatcher:
    """y = (x - mean) * rstd * gamma + beta per row, rstd = 1 / sqrt(var + eps) (biased variance); also
    writes each row's mean and rstd for the backward pass: ``kernel[(1, rows), (Q, 1)](x, gamma, beta, y,
    mean, rstd, eps)``."""
    C = chunk

    @jit
    def layer_norm_rows(x, gamma, beta, y, mean_out, rstd_out, eps):
        q = ws.threadIdx.x
        row = ws.blockIdx.y
        buf = ws.local.array(C, np.float32)
        gam = ws.local.array(C, np.float32)
        bet = ws.local.array(C, np.float32)
        cols = x.shape[1]
        start = q * C
        n = min(C, cols - start)
        buf[0:n] = x[row, start:start + n]
        gam[0:n] = gamma[start:start + n]
        bet[0:n] = beta[start:start + n]
        mean = allreduce(chunk_sum(buf, n), SUM) / cols
        buf[0:n] = buf[0:n] - mean
        var = allreduce(chunk_dot(buf, buf, n), SUM) / cols
        rstd = 1.0 / math.sqrt(var + eps)
        buf[0:n] = buf[0:n] * rstd          # x hat
        buf[0:n] = buf[0:n] * gam[0:n]
        buf[0:n] = buf[0:n] + bet[0:n]
        y[row, start:start + n] = buf[0:n]
        if q == 0:
            mean_out[row] = mean
            rstd_out[row] = rstd

    return layer_norm_rows


@functools.lru_cache(maxsize=None)
def layer_norm_backward_kernel(chunk: int) -> Dispatcher:
    """dx = rstd * (g - mean(g) - xhat * mean(g * xhat)) per row, g = dy * gamma, xhat = (x - mean) * rstd;
    also writes dy * xhat, whose sum over rows is dgamma: ``kernel[(1, rows), (Q, 1)](x, dy, gamma, mean,
    rstd, dx, dy_xhat)``."""
    C = chunk

    @jit
    def layer_norm_backward_rows(x, dy, gamma, mean, rstd, dx, dy_xhat):
        q = ws.threadIdx.x
        row = ws.blockIdx.y
        xh = ws.local.array(C, np.float32)
        gs = ws.local.array(C, np.float32)
        dys = ws.local.array(C, np.float32)
        gam = ws.local.array(C, np.float32)
        cols = x.shape[1]
        start = q * C
        n = min(C, cols - start)
        xh[0:n] = x[row, start:start + n]
        dys[0:n] = dy[row, start:start + n]
        gam[0:n] = gamma[start:start + n]
        r = rstd[row]
        xh[0:n] = xh[0:n] - mean[row]
        xh[0:n] = xh[0:n] * r
        gs[0:n] = dys[0:n] * gam[0:n]
        g_mean = allreduce(chunk_sum(gs, n), SUM) / cols
        gx_mean = allreduce(chunk_dot(gs, xh, n), SUM) / cols
        gs[0:n] = gs[0:n] - g_mean
        gs[0:n] = xh[0:n] * (-gx_mean) + gs[0:n]
        gs[0:n] = gs[0:n] * r
        dx[row, start:start + n] = gs[0:n]
        dys[0:n] = dys[0:n] * xh[0:n]
        dy_xhat[row, start:start + n] = dys[0:n]

    return layer_norm_backward_rows


@functools.lru_cache(maxsize=None)
def cross_entropy_kernel(chunk: int) -> Dispatcher:
    """Softmax cross-entropy of each row of logits against an int32 label: loss[row] = logsumexp(x) -
    x[label] (formed as (max - x[label]) + log(sum(exp(x - max))), see `softmax_chunk`), and grad =
    (softmax(x) - onehot(label)) * grad_scale (1 / rows for the batch mean):
    ``kernel[(1, rows), (Q, 1)](logits, labels, loss, grad, grad_scale)``."""
    C = chunk

    @jit
    def cross_entropy_rows(logits, labels, loss, grad, grad_scale):
        q = ws.threadIdx.x
        row = ws.blockIdx.y
        buf = ws.local.array(C, np.float32)
        start = q * C
        n = min(C, logits.shape[1] - start)
        buf[0:n] = logits[row, start:start + n]
        label = labels[row]
        mine = label >= start and label < start + n  # this PE holds the label's column
        picked = 0.0
        if mine:
            picked = buf[label - start]
        picked = allreduce(picked, SUM)
        top, log_sum = softmax_chunk(buf, n)
        if mine:
            buf[label - start] = buf[label - start] - 1.0
        buf[0:n] = buf[0:n] * grad_scale
        grad[row, start:start + n] = buf[0:n]
        if q == 0:
            loss[row] = (top - picked) + log_sum  # as NumPy's log_softmax: (x - max) - log(sum), negated

    return cross_entropy_rows


# ----------------------------------------------------------------------------- host functions
def _finite_scalar(value: object, name: str, positive: bool = False) -> float:
    """A scalar option (`scale`, `eps`) as the float32 the kernel computes with: not a real number (a string
    was a bare ValueError) is an `ArgumentTypeError`; NaN, inf or (for `eps`) a value not above 0, which gave
    rows of NaN, an `MLShapeError`."""
    converted = float32_scalar(value, name)
    if not np.isfinite(converted) or (positive and not converted > 0):
        raise MLShapeError(f"{name} must be a finite number{' above 0' if positive else ''}, got {value!r}")
    return float(converted)


def _rows_setup(x: np.ndarray, chunk: int, device: Device | None, arrays: int) -> tuple[np.ndarray, Device]:
    x = as_matrix("x", x)
    check_chunk(chunk, spec_of(device), arrays)
    return x, row_device(*x.shape, chunk, device)


def _same_shape(name: str, value: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    array = as_matrix(name, value)
    if array.shape != shape:
        raise MLShapeError(f"{name} {array.shape} must have shape {shape}", array=name, shape=array.shape)
    return array


@call_checked
def softmax(x: np.ndarray, chunk: int = DEFAULT_CHUNK, device: Device | None = None, stream=None,
            scale: float = 1.0, causal: bool = False) -> tuple[np.ndarray, LaunchStats]:
    """softmax(x * scale) along each row of a (rows, cols) float32 matrix; `causal` keeps only columns
    0..r of row r (the rest are 0). Returns (y, LaunchStats)."""
    x, device = _rows_setup(x, chunk, device, 1)
    with Scratch(device, stream) as mem:
        d_x, d_y = mem.put(x), mem.empty(x.shape)
        stats = launch_rows(softmax_kernel(chunk, bool(causal)), *x.shape, chunk, d_x, d_y,
                            _finite_scalar(scale, "scale"), stream=stream)
        return mem.get(d_y), stats


@call_checked
def softmax_backward(y: np.ndarray, dy: np.ndarray, chunk: int = DEFAULT_CHUNK, device: Device | None = None,
                     stream=None, scale: float = 1.0) -> tuple[np.ndarray, LaunchStats]:
    """The gradient at the input x of y = softmax(x * scale), given y and the gradient `dy` at the output
    (masked entries, where y is 0, get 0)."""
    y, device = _rows_setup(y, chunk, device, 2)
    dy = _same_shape("dy", dy, y.shape)
    with Scratch(device, stream) as mem:
        d_y, d_dy, d_dx = mem.put(y), mem.put(dy), mem.empty(y.shape)
        stats = launch_rows(softmax_backward_kernel(chunk), *y.shape, chunk, d_y, d_dy, d_dx,
                            _finite_scalar(scale, "scale"), stream=stream)
        return mem.get(d_dx), stats


FLOAT32_SUM_LIMIT = float(np.finfo(np.float32).max) / 1.01  # (a margin for the rounding of the device's sums)


def _check_row_moments(x: np.ndarray) -> None:
    """Refuse a finite row whose sum or sum of squared deviations leaves float32's range: the device forms the
    mean and variance as float32 sums, so the mean would be inf (y NaN) or, already for values of 2e19, the
    variance inf and rstd 0, making y = beta without a word (NumPy's float64 layer norm is O(1) there). A row
    holding inf or NaN is not refused: it gives NaN, as NumPy does. (Every partial sum of the device is bounded
    by the row's sum of |x|, and of squares by the float64 sum with its own mean, up to rounding.)"""
    x64 = x.astype(np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        size = np.maximum(np.abs(x64).sum(axis=1), ((x64 - x64.mean(axis=1, keepdims=True)) ** 2).sum(axis=1))
    bad = np.isfinite(x64).all(axis=1) & (size > FLOAT32_SUM_LIMIT)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise MLShapeError(f"layer_norm: row {row} of x (largest |x| {np.abs(x64[row]).max():.3g}) has a sum or a sum "
                           f"of squared deviations of {size[row]:.3g}, beyond float32's range: the device's float32 "
                           f"mean or variance would be inf, and y NaN or beta; scale x down (layer norm of c * x with "
                           f"eps * c**2 is that of x)", shape=x.shape)


@call_checked
def layer_norm(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float = 1e-5,
               chunk: int = DEFAULT_CHUNK, device: Device | None = None,
               stream=None) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray], LaunchStats]:
    """Layer norm of each row of x (rows, cols) with scale `gamma` and shift `beta` (length cols).

    Returns ((y, mean, rstd), LaunchStats): mean and rstd = 1/sqrt(var + eps) per row, for the backward. The
    mean and variance are float32 sums: a finite row whose sum or sum of squared deviations leaves float32's
    range (values of about 2e19 and up) is an `MLShapeError`, not a row of NaN or of beta."""
    x, device = _rows_setup(x, chunk, device, 3)
    rows, cols = x.shape
    gamma, beta = as_vector("gamma", gamma, cols), as_vector("beta", beta, cols)
    _check_row_moments(x)
    with Scratch(device, stream) as mem:
        d_x, d_g, d_b = mem.put(x), mem.put(gamma), mem.put(beta)
        d_y, d_mean, d_rstd = mem.empty(x.shape), mem.empty(rows), mem.empty(rows)
        stats = launch_rows(layer_norm_kernel(chunk), rows, cols, chunk, d_x, d_g, d_b, d_y, d_mean, d_rstd,
                            _finite_scalar(eps, "eps", positive=True), stream=stream)
        return (mem.get(d_y), mem.get(d_mean), mem.get(d_rstd)), stats


@call_checked
def layer_norm_backward(x: np.ndarray, gamma: np.ndarray, mean: np.ndarray, rstd: np.ndarray, dy: np.ndarray,
                        chunk: int = DEFAULT_CHUNK, device: Device | None = None,
                        stream=None) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray], LaunchStats]:
    """Gradients of layer norm given the forward's input x, gamma, per-row mean and rstd, and dy.

    Returns ((dx, dgamma, dbeta), the three launches' LaunchStats added up): the row kernel, then two
    column sums (of dy * xhat and of dy)."""
    x, device = _rows_setup(x, chunk, device, 4)
    rows, cols = x.shape
    dy = _same_shape("dy", dy, x.shape)
    gamma = as_vector("gamma", gamma, cols)
    mean, rstd = as_vector("mean", mean, rows), as_vector("rstd", rstd, rows)
    with Scratch(device, stream) as mem:
        d_x, d_dy, d_g, d_mean, d_rstd = (mem.put(a) for a in (x, dy, gamma, mean, rstd))
        d_dx, d_dyx = mem.empty(x.shape), mem.empty(x.shape)
        row_stats = launch_rows(layer_norm_backward_kernel(chunk), rows, cols, chunk, d_x, d_dy, d_g, d_mean,
                                d_rstd, d_dx, d_dyx, stream=stream)
        dx, dy_xhat = mem.get(d_dx), mem.get(d_dyx)
    dgamma, gamma_stats = column_sum(dy_xhat, chunk, device, stream)
    dbeta, beta_stats = column_sum(dy, chunk, device, stream)
    return (dx, dgamma, dbeta), combine_stats([row_stats, gamma_stats, beta_stats])


@call_checked
def cross_entropy(logits: np.ndarray, labels: np.ndarray, chunk: int = DEFAULT_CHUNK,
                  device: Device | None = None, stream=None,
                  grad_scale: float | None = None) -> tuple[tuple[np.ndarray, np.ndarray], LaunchStats]:
    """Softmax cross-entropy of (rows, classes) logits against integer labels, and its gradient.

    Returns ((per-row losses, d(mean loss)/d(logits)), LaunchStats); the mean loss is
    ``losses.mean()``. `grad_scale` replaces the gradient's 1 / rows (a micro-batch of a larger batch:
    1 / the batch's rows)."""
    logits, device = _rows_setup(logits, chunk, device, 1)
    rows, classes = logits.shape
    # (unchecked, NaN gave a gradient of NaN without a word, a string a bare ValueError, 1e39 a LaunchError)
    scale = 1.0 / rows if grad_scale is None else _finite_scalar(grad_scale, "grad_scale")
    labels = np.asarray(labels)
    if labels.shape != (rows,) or not np.issubdtype(labels.dtype, np.integer):
        raise MLShapeError(f"labels must be {rows} integers, got {labels.dtype} of shape {labels.shape}",
                           shape=labels.shape)
    if labels.min() < 0 or labels.max() >= classes:
        raise MLShapeError(f"labels must lie in [0, {classes}), got values from {labels.min()} to {labels.max()}",
                           needed=classes)
    with Scratch(device, stream) as mem:
        d_logits, d_labels = mem.put(logits), mem.put(labels.astype(np.int32))
        d_loss, d_grad = mem.empty(rows), mem.empty(logits.shape)
        stats = launch_rows(cross_entropy_kernel(chunk), rows, classes, chunk, d_logits, d_labels, d_loss, d_grad,
                            float(scale), stream=stream)
        return (mem.get(d_loss), mem.get(d_grad)), stats
