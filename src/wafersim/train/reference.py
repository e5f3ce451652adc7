"""A NumPy reference of training: the same model, loss and optimizers as `Trainer`, written independently
in float64 on the host, for the tests to compare loss curves and weights against."""
from __future__ import annotations

import math

import numpy as np

from .data import batch, check_data
from .memoryx import SGD, Adam, Optimizer
from .model import LayerNorm, Model

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


def loss_and_gradients(model: Model, params: dict[str, np.ndarray], x: np.ndarray,
                       labels: np.ndarray) -> tuple[float, dict[str, np.ndarray]]:
    """Mean softmax cross-entropy of the batch and the gradient of every parameter, in float64."""
    a = x.astype(np.float64)
    tape = []
    for i, layer in enumerate(model.layers):
        if isinstance(layer, LayerNorm):
            mean = a.mean(axis=1, keepdims=True)
            rstd = 1 / np.sqrt(a.var(axis=1, keepdims=True) + layer.eps)
            xhat = (a - mean) * rstd
            tape.append((xhat, rstd))
            a = xhat * params[f"{i}.gamma"] + params[f"{i}.beta"]
        else:
            z = a @ params[f"{i}.w"] + params[f"{i}.b"]
            tape.append((a, z))
            a = z if layer.activation is None else _activation(layer.activation, z)[0]
    shifted = a - a.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    rows = np.arange(len(labels))
    loss = float(-log_p[rows, labels].mean())
    grad = np.exp(log_p)
    grad[rows, labels] -= 1
    grad /= len(labels)
    grads = {}
    for i in reversed(range(len(model.layers))):
        layer = model.layers[i]
        if isinstance(layer, LayerNorm):
            xhat, rstd = tape[i]
            grads[f"{i}.gamma"] = (grad * xhat).sum(axis=0)
            grads[f"{i}.beta"] = grad.sum(axis=0)
            g = grad * params[f"{i}.gamma"]
            grad = rstd * (g - g.mean(axis=1, keepdims=True) - xhat * (g * xhat).mean(axis=1, keepdims=True))
        else:
            a_in, z = tape[i]
            if layer.activation is not None:
                grad = grad * _activation(layer.activation, z)[1]
            grads[f"{i}.w"] = a_in.T @ grad
            grads[f"{i}.b"] = grad.sum(axis=0)
            grad = grad @ params[f"{i}.w"].T
    return loss, grads


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
                    labels: np.ndarray, steps: int, batch_size: int) -> tuple[list[float], dict[str, np.ndarray]]:
    """`steps` steps of the same batches as `Trainer.fit`; returns (the loss of each step, final weights)."""
    check_data(x, labels, model.in_features, model.classes, batch_size)
    weights = {name: value.astype(np.float64) for name, value in params.items()}
    states: dict[str, dict] = {name: {} for name in weights}
    losses = []
    for s in range(steps):
        loss, grads = loss_and_gradients(model, weights, *batch(x, labels, batch_size, s))
        losses.append(loss)
        for name, g in grads.items():
            weights[name] = _optimizer_step(optimizer, weights[name], g, states[name], s + 1)
    return losses, weights
