"""wafersim.train.pipelined: the MLP's pipelined step (one launch of the step kernel) is applied whole or
not at all: a launch that is interrupted (Ctrl-C) after some of its stores landed leaves the weights and
optimizer state as they were, and the run goes on as NumPy's and as the uninterrupted one; on a wafer whose
defects retire a row, the default column height is the tallest block the live PEs lay out."""
from __future__ import annotations

import numpy as np
import pytest

import wafersim as ws
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


# A 2 x 8 wafer whose row 5 keeps 1 live PE of 2 and has no spare row: 2-wide blocks are at most 7 tall.
SHORT_OF_A_ROW = dict(width=2, height=8, defects=[(1, 5)])


@pytest.mark.parametrize("mode", ["pipelined", "auto"])
def test_a_wafer_short_of_a_row_runs_the_model_on_the_tallest_block_its_live_pes_lay_out(mode):
    # (Pipelined mode took the mesh's 8 rows: "pipelined" was refused, "auto" streamed.) 2 layers on a
    # 2-wide wafer: 7 rows lay out, 8 hidden neurons on 7 PEs (2 on PE 0, 1 on the others, padded).
    model = train.Model.mlp([6, 8, 3], activation="tanh")
    sgd = train.SGD(lr=0.3, momentum=0.5)
    x, labels = train.synthetic_classification(8, 6, 3, seed=4)
    defective = ws.Device(ws.WaferSpec(**SHORT_OF_A_ROW))
    trainer = train.Trainer(model, sgd, 4, device=defective, mode=mode)
    assert trainer.mode == "pipelined" and trainer.pipeline.layout.height == 7
    start = trainer.params
    losses = [r.loss for r in trainer.fit(x, labels, 3)]
    assert defective.last_launch.block == (2, 7)
    # The same height on a perfect wafer: the same losses and weights, bit for bit (docs/defects.md).
    perfect = train.Trainer(model, sgd, 4, device=ws.Device(ws.WaferSpec(width=2, height=8)), mode="pipelined",
                            height=7, params=start)
    assert [r.loss for r in perfect.fit(x, labels, 3)] == losses
    assert all(np.array_equal(trainer.params[k], w) for k, w in perfect.params.items())
    reference, reference_weights = train_reference(model, start, sgd, x, labels, 3, 4)
    np.testing.assert_allclose(losses, reference, rtol=1e-4)
    for name, weights in reference_weights.items():
        np.testing.assert_allclose(trainer.params[name], weights, atol=2e-4, err_msg=name)


def test_an_explicit_height_the_live_pes_cannot_lay_out_is_still_refused():
    defective = ws.Device(ws.WaferSpec(**SHORT_OF_A_ROW))
    with pytest.raises(train.ModelDoesNotFitError, match="needs a 2 x 8 block .*, the wafer's defects leave a "
                                                         "usable 2 x 7 of its 2 x 8"):
        train.Trainer(train.Model.mlp([6, 8, 3]), train.SGD(), 4, device=defective, mode="pipelined", height=8)


