"""wafersim.train against PyTorch: the same model, initial weights, batches and optimizer trained with
torch (float32, CPU) give the same loss curve as the wafer, in both modes. Needs the optional `torch`
extra (`pip install -e .[torch]`)."""
from __future__ import annotations

import numpy as np
import pytest

from wafersim import train

torch = pytest.importorskip("torch", reason="PyTorch is an optional extra (pip install -e '.[torch]')")


def torch_model(model: train.Model, params: dict[str, np.ndarray]) -> "torch.nn.Sequential":
    """`model` as torch modules holding copies of `params` (our W is (in, out): torch's weight is W.T)."""
    modules = []
    for i, layer in enumerate(model.layers):
        if isinstance(layer, train.LayerNorm):
            norm = torch.nn.LayerNorm(layer.features, eps=layer.eps)
            norm.weight.data = torch.tensor(params[f"{i}.gamma"])
            norm.bias.data = torch.tensor(params[f"{i}.beta"])
            modules.append(norm)
            continue
        dense = torch.nn.Linear(layer.in_features, layer.out_features)
        dense.weight.data = torch.tensor(params[f"{i}.w"].T.copy())
        dense.bias.data = torch.tensor(params[f"{i}.b"])
        modules.append(dense)
        if layer.activation == "relu":
            modules.append(torch.nn.ReLU())
        elif layer.activation == "tanh":
            modules.append(torch.nn.Tanh())
        elif layer.activation == "gelu":
            modules.append(torch.nn.GELU(approximate="tanh"))
    return torch.nn.Sequential(*modules)


def torch_optimizer(optimizer: train.SGD | train.Adam, parameters) -> "torch.optim.Optimizer":
    if isinstance(optimizer, train.Adam):
        return torch.optim.Adam(parameters, lr=optimizer.lr, betas=(optimizer.beta1, optimizer.beta2),
                                eps=optimizer.eps)
    return torch.optim.SGD(parameters, lr=optimizer.lr, momentum=optimizer.momentum)


def torch_losses(model: train.Model, params, optimizer, x, labels, steps: int, batch_size: int) -> list[float]:
    net = torch_model(model, params)
    opt = torch_optimizer(optimizer, net.parameters())
    losses = []
    for step in range(steps):
        start = (step * batch_size) % len(x)
        xb = torch.tensor(x[start:start + batch_size])
        yb = torch.tensor(labels[start:start + batch_size], dtype=torch.long)
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(net(xb), yb)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


@pytest.mark.parametrize("mode, model, optimizer", [
    ("streaming", train.Model([train.Dense(6, 8, "gelu"), train.LayerNorm(8), train.Dense(8, 3)]),
     train.Adam(lr=0.05)),
    ("pipelined", train.Model.mlp([6, 8, 3], activation="tanh"), train.SGD(lr=0.2, momentum=0.9)),
])
def test_loss_curve_matches_pytorch(mode, model, optimizer):
    steps, batch_size = 20, 8
    x, labels = train.synthetic_classification(16, model.in_features, model.classes, seed=3)
    trainer = train.Trainer(model, optimizer, batch_size, mode=mode, seed=3, chunk=4)
    assert trainer.mode == mode
    start = trainer.params
    ours = [r.loss for r in trainer.fit(x, labels, steps)]
    theirs = torch_losses(model, start, optimizer, x, labels, steps, batch_size)
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-5)
    assert ours[-1] < 0.5 * ours[0]                          # a curve that moves, not a flat line
