"""Element-wise ML kernels in the row layout (see `layout`): bias add, add (residual connections), and the
activations ReLU, GELU (tanh approximation) and tanh with their derivatives.

Our ISA has no vector exp or tanh, so activations are a scalar loop over each PE's chunk (`ftanh` is an
SFU instruction, 8 cycles); the bias add is one vector add.
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
from ..hosting import Scratch
from .layout import (DEFAULT_CHUNK, MLShapeError, as_matrix, as_vector, check_chunk, launch_rows, row_device,
                     spec_of)

RELU, GELU, TANH = 0, 1, 2
ACTIVATIONS = {"relu": RELU, "gelu": GELU, "tanh": TANH}
SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
GELU_CUBIC = 0.044715  # GELU(x) ~ x/2 * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3))), Hendrycks & Gimpel


# ----------------------------------------------------------------------------- device functions
@jit
def activate(v, kind):
    """ReLU, GELU (tanh approximation) or tanh of `v`; `kind` is a compile-time constant."""
    if kind == RELU:
        return max(v, 0.0)
    if kind == TANH:
        return math.tanh(v)
    t = math.tanh(SQRT_2_OVER_PI * (v + GELU_CUBIC * v * v * v))
    return 0.5 * v * (1.0 + t)


@jit
def activate_grad(v, g, kind):
    """g * f'(v): the gradient through the activation at its input `v`."""
    if kind == RELU:
        return g if v > 0.0 else 0.0
    if kind == TANH:
        t = math.tanh(v)
        return g * (1.0 - t * t)
    t = math.tanh(SQRT_2_OVER_PI * (v + GELU_CUBIC * v * v * v))
    sech2 = 1.0 - t * t
    slope = 0.5 * (1.0 + t)
    if sech2 != 0.0:  # tanh saturated (|v| > ~9) adds 0, but v * v is inf past 1.8e19, and 0 * inf was NaN
        slope += 0.5 * v * sech2 * (SQRT_2_OVER_PI * (1.0 + 3.0 * GELU_CUBIC * v * v))
    return g * slope


# ----------------------------------------------------------------------------- kernels
@functools.lru_cache(maxsize=None)
def activation_forward_kernel(kind: int, chunk: int) -> Dispatcher:
    """y = f(x) in the row layout: ``kernel[(1, rows), (Q, 1)](x, y)``."""
    C = chunk

    @jit
    def activation_forward(x, y):
        q = ws.threadIdx.x
        row = ws.blockIdx.y
        buf = ws.local.array(C, np.float32)
        start = q * C
        n = min(C, x.shape[1] - start)
        buf[0:n] = x[row, start:start + n]
        for i in range(n):
            buf[i] = activate(buf[i], kind)
        y[row, start:start + n] = buf[0:n]

    return activation_forward


@functools.lru_cache(maxsize=None)
def activation_backward_kernel(kind: int, chunk: int) -> Dispatcher:
    """dx = dy * f'(x) in the row layout: ``kernel[(1, rows), (Q, 1)](x, dy, dx)``."""
    C = chunk

    @jit
    def activation_backward(x, dy, dx):
        q = ws.threadIdx.x
        row = ws.blockIdx.y
        xs = ws.local.array(C, np.float32)
        gs = ws.local.array(C, np.float32)
        start = q * C
        n = min(C, x.shape[1] - start)
        xs[0:n] = x[row, start:start + n]
        gs[0:n] = dy[row, start:start + n]
        for i in range(n):
            gs[i] = activate_grad(xs[i], gs[i], kind)
        dx[row, start:start + n] = gs[0:n]

    return activation_backward


@functools.lru_cache(maxsize=None)
def bias_add_kernel(chunk: int) -> Dispatcher:
    """y = x + b (b broadcast over rows) in the row layout: ``kernel[(1, rows), (Q, 1)](x, b, y)``."""
    C = chunk

    @jit
    def bias_add(x, b, y):
        q = ws.threadIdx.x
        row = ws.blockIdx.y
        buf = ws.local.array(C, np.float32)
        bias = ws.local.array(C, np.float32)
        start = q * C
        n = min(C, x.shape[1] - start)
        buf[0:n] = x[row, start:start + n]
        bias[0:n] = b[start:start + n]
        buf[0:n] = buf[0:n] + bias[0:n]
        y[row, start:start + n] = buf[0:n]

    return bias_add


@functools.lru_cache(maxsize=None)
def add_kernel(chunk: int) -> Dispatcher:
    """z = x + y element-wise in the row layout (a residual connection): ``kernel[(1, rows), (Q, 1)](x, y, z)``."""
    C = chunk

    @jit
    def add_rows(x, y, z):
        q = ws.threadIdx.x
        row = ws.blockIdx.y
        xs = ws.local.array(C, np.float32)
        ys = ws.local.array(C, np.float32)
        start = q * C
        n = min(C, x.shape[1] - start)
        xs[0:n] = x[row, start:start + n]
        ys[0:n] = y[row, start:start + n]
        xs[0:n] = xs[0:n] + ys[0:n]
        z[row, start:start + n] = xs[0:n]

    return add_rows


# ----------------------------------------------------------------------------- host functions
def activation_code(kind: str) -> int:
    """The kernel constant of an activation name, or an `MLShapeError` listing the names."""
    if not isinstance(kind, str) or kind not in ACTIVATIONS:  # (a list or dict: Python's "unhashable type")
        raise MLShapeError(f"activation must be one of {sorted(ACTIVATIONS)}, got {kind!r}", activation=kind)
    return ACTIVATIONS[kind]


@call_checked
def activation_forward(x: np.ndarray, kind: str, chunk: int = DEFAULT_CHUNK, device: Device | None = None,
                       stream=None) -> tuple[np.ndarray, LaunchStats]:
    """f(x) element-wise for `kind` in "relu", "gelu" (tanh approximation), "tanh"; x is (rows, cols).

    Returns (f(x) as float32, LaunchStats). The default device holds one `ceil(cols / chunk) x 1` block
    per row."""
    code = activation_code(kind)
    x = as_matrix("x", x)
    check_chunk(chunk, spec_of(device))
    with Scratch(row_device(*x.shape, chunk, device), stream) as mem:
        d_x, d_y = mem.put(x), mem.empty(x.shape)
        stats = launch_rows(activation_forward_kernel(code, chunk), *x.shape, chunk, d_x, d_y, stream=stream)
        return mem.get(d_y), stats


@call_checked
def activation_backward(x: np.ndarray, dy: np.ndarray, kind: str, chunk: int = DEFAULT_CHUNK,
                        device: Device | None = None, stream=None) -> tuple[np.ndarray, LaunchStats]:
    """dy * f'(x): the gradient of the loss at the activation's input `x`, given the gradient `dy` at its
    output; ReLU's is dy where x > 0 and 0 elsewhere (as PyTorch's: a NaN or inf dy at x <= 0, or at a NaN
    x, gives 0, where NumPy's dy * (x > 0) gives NaN). Returns (dx as float32, LaunchStats)."""
    code = activation_code(kind)
    x, dy = as_matrix("x", x), as_matrix("dy", dy)
    if dy.shape != x.shape:
        raise MLShapeError(f"dy {dy.shape} must have the shape of x {x.shape}", shape=dy.shape)
    check_chunk(chunk, spec_of(device), arrays=2)
    with Scratch(row_device(*x.shape, chunk, device), stream) as mem:
        d_x, d_dy, d_dx = mem.put(x), mem.put(dy), mem.empty(x.shape)
        stats = launch_rows(activation_backward_kernel(code, chunk), *x.shape, chunk, d_x, d_dy, d_dx,
                            stream=stream)
        return mem.get(d_dx), stats


@call_checked
def bias_add(x: np.ndarray, b: np.ndarray, chunk: int = DEFAULT_CHUNK, device: Device | None = None,
             stream=None) -> tuple[np.ndarray, LaunchStats]:
    """x + b for a (rows, cols) x and a length-cols b. Returns (the sum as float32, LaunchStats)."""
    x = as_matrix("x", x)
    b = as_vector("b", b, x.shape[1])
    check_chunk(chunk, spec_of(device), arrays=2)
    with Scratch(row_device(*x.shape, chunk, device), stream) as mem:
        d_x, d_b, d_y = mem.put(x), mem.put(b), mem.empty(x.shape)
        stats = launch_rows(bias_add_kernel(chunk), *x.shape, chunk, d_x, d_b, d_y, stream=stream)
        return mem.get(d_y), stats


@call_checked
def add(x: np.ndarray, y: np.ndarray, chunk: int = DEFAULT_CHUNK, device: Device | None = None,
        stream=None) -> tuple[np.ndarray, LaunchStats]:
    """x + y for two (rows, cols) float32 matrices. Returns (the sum, LaunchStats)."""
    x, y = as_matrix("x", x), as_matrix("y", y)
    if y.shape != x.shape:
        raise MLShapeError(f"y {y.shape} must have the shape of x {x.shape}", shape=y.shape)
    check_chunk(chunk, spec_of(device), arrays=2)
    with Scratch(row_device(*x.shape, chunk, device), stream) as mem:
        d_x, d_y, d_z = mem.put(x), mem.put(y), mem.empty(x.shape)
        stats = launch_rows(add_kernel(chunk), *x.shape, chunk, d_x, d_y, d_z, stream=stream)
        return mem.get(d_z), stats
