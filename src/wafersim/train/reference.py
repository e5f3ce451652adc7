"""A NumPy reference of training: the same model, loss and optimizers as `Trainer`, written independently
in float64 on the host, for the tests to compare loss curves and weights against.

With a 16-bit `precision` (mixed-precision training) dense layers, and the six dense products of a
transformer block, round where the mixed kernels round:
their inputs, weights and output gradients are rounded to 16 bits (from float32, the wafer's type), the
products accumulate in float32 in the order the kernels document (c = c + outer(a[:, k], b[k, :]) for
k = 0, 1, ...), the float32 bias is added before y is rounded to 16 bits, dx is rounded to 16 bits, dW
and db stay float32; everything else stays float64."""
from __future__ import annotations

import functools
import math

import numpy as np

from ..kernels.ml.mixed import PRECISIONS
from .data import batch, check_data
from .memoryx import SGD, Adam, Optimizer
from .model import LayerNorm, Model, TransformerBlock

_GELU_C = math.sqrt(2 / math.pi)


def _activation(kind: str, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """f(z) and f'(z)."""
    if kind == "relu":
        return np.maximum(z, 0), (z > 0).astype(z.dtype)
    if kind == "tanh":
        t = np.tanh(z)
        return t, 1 - t * t
    t = np.tanh(_GELU_C * (z + 0.044715 * z ** 3))
    return 0.5 * z * (1 + t), 0.5 * (1 + t) + 0.5 * z * (1 - t * t) * _GELU_C * (1 + 3 * 0.044715 * z * z)


def _layer_norm(a: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float) -> tuple[np.ndarray, tuple]:
    rstd = 1 / np.sqrt(a.var(axis=1, keepdims=True) + eps)
    xhat = (a - a.mean(axis=1, keepdims=True)) * rstd
    return xhat * gamma + beta, (xhat, rstd)


def _layer_norm_grad(grad: np.ndarray, cache: tuple, gamma: np.ndarray) -> tuple[np.ndarray, ...]:
    xhat, rstd = cache
    g = grad * gamma
    dx = rstd * (g - g.mean(axis=1, keepdims=True) - xhat * (g * xhat).mean(axis=1, keepdims=True))
    return dx, (grad * xhat).sum(axis=0), grad.sum(axis=0)


def _softmax(s: np.ndarray) -> np.ndarray:
    e = np.exp(s - s.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _transformer(a: np.ndarray, p, block: TransformerBlock, half: np.dtype | None) -> tuple[np.ndarray, tuple]:
    """The block's forward over (batch, length * width) rows; `p(name)` gives its parameters; its six dense
    products in mixed precision for a 16-bit `half`."""
    t, w = block.length, block.width
    x = a.reshape(-1, w)

    def dense(a: np.ndarray, name: str) -> np.ndarray:
        return _dense_forward(a, p(f"w{name}"), p(f"b{name}"), half)

    h, ln1 = _layer_norm(x, p("ln1_gamma"), p("ln1_beta"), block.eps)
    q, k, v = (dense(h, n) for n in "qkv")
    att, probs = np.empty_like(q), []
    mask = np.tril(np.ones((t, t), bool)) if block.causal else np.ones((t, t), bool)
    for s in range(0, len(x), t):
        scores = np.where(mask, q[s:s + t] @ k[s:s + t].T / np.sqrt(w), -np.inf)
        probs.append(_softmax(scores))
        att[s:s + t] = probs[-1] @ v[s:s + t]
    y = x + dense(att, "o")
    g, ln2 = _layer_norm(y, p("ln2_gamma"), p("ln2_beta"), block.eps)
    pre = dense(g, "1")
    hidden = _activation("gelu", pre)[0]
    out = y + dense(hidden, "2")
    return out.reshape(a.shape), (x, h, ln1, q, k, v, probs, att, y, g, ln2, pre, hidden)


def _transformer_grad(grad: np.ndarray, cache: tuple, p, block: TransformerBlock,
                      half: np.dtype | None) -> tuple[np.ndarray, dict]:
    x, h, ln1, q, k, v, probs, att, y, g, ln2, pre, hidden = cache
    t, w = block.length, block.width
    d_out = grad.reshape(x.shape)
    grads = {}

    def dense(a: np.ndarray, name: str, d: np.ndarray) -> np.ndarray:
        dx, grads[f"w{name}"], grads[f"b{name}"] = _dense_backward(a, p(f"w{name}"), d, half)
        return dx

    d_pre = dense(hidden, "2", d_out) * _activation("gelu", pre)[1]
    d_y_branch, grads["ln2_gamma"], grads["ln2_beta"] = _layer_norm_grad(dense(g, "1", d_pre), ln2, p("ln2_gamma"))
    d_y = d_out + d_y_branch
    d_att = dense(att, "o", d_y)
    dq, dk, dv = np.empty_like(q), np.empty_like(k), np.empty_like(v)
    for n, s in enumerate(range(0, len(x), t)):
        pr, da = probs[n], d_att[s:s + t]
        dv[s:s + t] = pr.T @ da
        dp = da @ v[s:s + t].T
        ds = pr * (dp - (dp * pr).sum(axis=1, keepdims=True)) / np.sqrt(w)
        dq[s:s + t], dk[s:s + t] = ds @ k[s:s + t], ds.T @ q[s:s + t]
    d_h = np.zeros_like(h)
    for n, d in zip("qkv", (dq, dk, dv)):
        d_h += dense(h, n, d)
    d_x_branch, grads["ln1_gamma"], grads["ln1_beta"] = _layer_norm_grad(d_h, ln1, p("ln1_gamma"))
    return (d_y + d_x_branch).reshape(grad.shape), grads


def _to_half(a: np.ndarray, half: np.dtype) -> np.ndarray:
    """`a` as the wafer holds it in 16 bits: rounded to float32 first (its type there), then to `half`."""
    return np.asarray(a).astype(np.float32).astype(half)


def _float32_accumulated(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a @ b of 16-bit matrices summed in float32, one rank-1 term after another (each product of two
    16-bit values is exact in float32, so only the sums round)."""
    a32, b32 = a.astype(np.float32), b.astype(np.float32)
    c = np.zeros((a.shape[0], b.shape[1]), np.float32)
    for k in range(a.shape[1]):
        c = c + np.outer(a32[:, k], b32[k, :])
    return c


def _dense_forward(a: np.ndarray, w: np.ndarray, b: np.ndarray, half: np.dtype | None) -> np.ndarray:
    if half is None:
        return a @ w + b
    z = _float32_accumulated(_to_half(a, half), _to_half(w, half)) + b.astype(np.float32)
    return z.astype(half).astype(np.float64)


def _dense_backward(a: np.ndarray, w: np.ndarray, grad: np.ndarray,
                    half: np.dtype | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(dx, dW, db) of a dense layer."""
    if half is None:
        return grad @ w.T, a.T @ grad, grad.sum(axis=0)
    a16, w16, g16 = _to_half(a, half), _to_half(w, half), _to_half(grad, half)
    dx = _float32_accumulated(g16, w16.T).astype(half)
    return (dx.astype(np.float64), _float32_accumulated(a16.T, g16).astype(np.float64),
            g16.astype(np.float64).sum(axis=0))


def loss_and_gradients(model: Model, params: dict[str, np.ndarray], x: np.ndarray, labels: np.ndarray,
                       precision: str = "float32") -> tuple[float, dict[str, np.ndarray]]:
    """Mean softmax cross-entropy of the batch and the gradient of every parameter, in float64 (dense
    layers in mixed precision for a 16-bit `precision`, see the module)."""
    half = PRECISIONS[precision]
    a = x.astype(np.float64)
    tape = []
    for i, layer in enumerate(model.layers):
        p = functools.partial(_param, params, i)
        if isinstance(layer, LayerNorm):
            a, cache = _layer_norm(a, p("gamma"), p("beta"), layer.eps)
        elif isinstance(layer, TransformerBlock):
            a, cache = _transformer(a, p, layer, half)
        else:
            z = _dense_forward(a, p("w"), p("b"), half)
            cache = (a, z)
            a = z if layer.activation is None else _activation(layer.activation, z)[0]
        tape.append(cache)
    shifted = a - a.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    rows = np.arange(len(labels))
    loss = float(-log_p[rows, labels].mean())
    grad = np.exp(log_p)
    grad[rows, labels] -= 1
    grad /= len(labels)
    grads = {}
    for i in reversed(range(len(model.layers))):
        layer, cache, p = model.layers[i], tape[i], functools.partial(_param, params, i)
        if isinstance(layer, LayerNorm):
            grad, grads[f"{i}.gamma"], grads[f"{i}.beta"] = _layer_norm_grad(grad, cache, p("gamma"))
        elif isinstance(layer, TransformerBlock):
            grad, block_grads = _transformer_grad(grad, cache, p, layer, half)
            grads.update({f"{i}.{name}": g for name, g in block_grads.items()})
        else:
            a_in, z = cache
            if layer.activation is not None:
                grad = grad * _activation(layer.activation, z)[1]
            grad, grads[f"{i}.w"], grads[f"{i}.b"] = _dense_backward(a_in, p("w"), grad, half)
    return loss, grads


def _param(params: dict[str, np.ndarray], layer: int, name: str) -> np.ndarray:
    return params[f"{layer}.{name}"]


def _optimizer_step(optimizer: Optimizer, w: np.ndarray, g: np.ndarray, state: dict, t: int) -> np.ndarray:
    if isinstance(optimizer, SGD):
        if optimizer.momentum:
            state["v"] = optimizer.momentum * state.get("v", 0.0) + g
            g = state["v"]
        return w - optimizer.lr * g
    assert isinstance(optimizer, Adam)
    state["m"] = optimizer.beta1 * state.get("m", 0.0) + (1 - optimizer.beta1) * g
    state["v"] = optimizer.beta2 * state.get("v", 0.0) + (1 - optimizer.beta2) * g ** 2
    m_hat = state["m"] / (1 - optimizer.beta1 ** t)
    v_hat = state["v"] / (1 - optimizer.beta2 ** t)
    return w - optimizer.lr * m_hat / (np.sqrt(v_hat) + optimizer.eps)


def train_reference(model: Model, params: dict[str, np.ndarray], optimizer: Optimizer, x: np.ndarray,
                    labels: np.ndarray, steps: int, batch_size: int,
                    precision: str = "float32") -> tuple[list[float], dict[str, np.ndarray]]:
    """`steps` steps of the same batches as `Trainer.fit` (with the `Trainer`'s `precision`); returns (the
    loss of each step, final weights)."""
    check_data(x, labels, model.in_features, model.classes, batch_size)
    weights = {name: value.astype(np.float64) for name, value in params.items()}
    states: dict[str, dict] = {name: {} for name in weights}
    losses = []
    for s in range(steps):
        loss, grads = loss_and_gradients(model, weights, *batch(x, labels, batch_size, s), precision)
        losses.append(loss)
        for name, g in grads.items():
            weights[name] = _optimizer_step(optimizer, weights[name], g, states[name], s + 1)
    return losses, weights
