"""wafersim.train.pipelined: the MLP's pipelined step (one launch of the step kernel) is applied whole or
not at all: a launch that is interrupted (Ctrl-C) after some of its stores landed leaves the weights and
optimizer state as they were, and the run goes on as NumPy's and as the uninterrupted one."""
from __future__ import annotations

import numpy as np
import pytest

from wafersim import train
from wafersim.runtime import device as runtime_device
from wafersim.train.reference import train_reference

MODEL = train.Model.mlp([5, 6, 3], activation="tanh", layer_norm=True)
ADAM = train.Adam(lr=0.05)


def test_an_interrupted_step_is_not_applied(monkeypatch):
    x, labels = train.synthetic_classification(8, 5, 3, seed=2)
    clean = train.Trainer(MODEL, ADAM, 4, mode="pipelined", height=2)
    start = clean.params
    losses = [r.loss for r in clean.fit(x, labels, 3)]
    trainer = train.Trainer(MODEL, ADAM, 4, mode="pipelined", height=2)

    def interrupted(device, stats):   # the launch ran, every store landed: Ctrl-C before it returns
        raise KeyboardInterrupt

    monkeypatch.setattr(runtime_device, "launch_observers", [interrupted])
    with pytest.raises(KeyboardInterrupt):
        trainer.step(x[:4], labels[:4])
    monkeypatch.setattr(runtime_device, "launch_observers", [])
    # (the weights were updated and Adam's count not: the run went on from half a step, another curve)
    assert trainer.steps == 0 and all(np.array_equal(trainer.params[k], w) for k, w in start.items())
    resumed = [r.loss for r in trainer.fit(x, labels, 3)]
    assert resumed == losses and all(np.array_equal(trainer.params[k], w) for k, w in clean.params.items())
    reference, _ = train_reference(MODEL, start, ADAM, x, labels, 3, 4)
    np.testing.assert_allclose(resumed, reference, rtol=1e-4)


def test_the_undo_record_of_a_step_adds_no_transfer_to_the_device_s_timeline():
    """`applied_whole` keeps the weights and optimizer state on the host for an interrupted step: host
    bookkeeping, not a copy the program made, so a step's stream entries are its own (batch and labels in,
    the launch, the losses out), as many as before the undo record, and the stream's time theirs alone."""
    x, labels = train.synthetic_classification(4, 5, 3, seed=3)
    trainer = train.Trainer(MODEL, ADAM, 4, mode="pipelined", height=2)
    stream = trainer.device.default_stream
    seen, before = len(stream.log), stream.time
    trainer.step(x, labels)
    added = [what.split()[0] for what, _, _ in stream.log[seen:]]
    assert added.count("memcpy_dtoh") == 1 and added.count("memcpy_htod") == 2, added
    assert stream.time - before == pytest.approx(sum(end - start for _, start, end in stream.log[seen:]))
