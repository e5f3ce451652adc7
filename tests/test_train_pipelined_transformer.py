"""wafersim.train.pipelined_stages: a model with a transformer block trained in pipelined mode (a region of
PEs per layer, weights and optimizer state on the wafer, micro-batches handed from region to region over
the fabric), against the float64 NumPy reference and weight-streaming mode, in float32 and bfloat16; the
stage schedule of its overlapped time; and the sizes it refuses."""
from __future__ import annotations

import json

import numpy as np
import pytest

import wafersim as ws
from wafersim import train
from wafersim.train import pipelined_stages
from wafersim.train.pipelined_stages import plan_regions
from wafersim.train.reference import train_reference
from wafersim.train.stage_kernels import HANDOFF_PROGRAM
from wafersim.train.timeline import LAUNCH, Event, stage_schedule

MODEL = train.Model([train.TransformerBlock(length=2, width=4, hidden=4, causal=True), train.Dense(8, 3)])
# SGD, not Adam: the key bias has no effect on attention (its gradient is 0 up to rounding), and Adam would
# scale float32 against float64 rounding noise in it up to full steps.
SGD = train.SGD(lr=0.02, momentum=0.5)


def data(samples: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Overlapping blobs, scaled down: a loss curve that still moves after 3 epochs (24 steps of 1 of the 8)."""
    x, labels = train.synthetic_classification(samples, MODEL.in_features, MODEL.classes, seed=4, spread=4.0)
    return 0.25 * x, labels


#: Three epochs of the 8 sequences, one a step. (Each step is ~60 launches, ~0.35 s of CPU: the curve was 50
#: steps, ~17 s more a precision in `make test`; three epochs already move the epoch's mean loss ~10x.)
EPOCHS = 3


@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
def test_loss_curve_over_3_epochs_matches_numpy_and_weight_streaming(precision):
    # A sequence a step: the step's cost is its ~60 launches, whatever their size.
    x, labels = data()
    steps = EPOCHS * len(x)
    trainer = train.Trainer(MODEL, SGD, 1, seed=5, mode="pipelined", precision=precision)
    assert trainer.mode == "pipelined" and trainer.memoryx is None
    start = trainer.params
    reports = trainer.fit(x, labels, steps)
    losses = np.array([r.loss for r in reports])
    ref_losses, ref_weights = train_reference(MODEL, start, SGD, x, labels, steps, 1, precision=precision)
    np.testing.assert_allclose(losses, ref_losses, rtol=1e-3, atol=1e-4)
    for name, weights in ref_weights.items():
        np.testing.assert_allclose(trainer.params[name], weights, atol=1e-3, err_msg=name)
        assert trainer.params[name].dtype == np.float32                      # float32 master weights
    # It learns the task: the last epoch's mean loss a small part of the first's (each epoch the same 8
    # sequences in the same order; one sequence's loss alone swings ~20x within an epoch).
    assert losses[-len(x):].mean() < 0.15 * losses[:len(x)].mean()
    if precision == "bfloat16":                                               # the rounding is real
        float32_losses, _ = train_reference(MODEL, start, SGD, x, labels, 1, 1)
        assert abs(losses[0] - float32_losses[0]) > 1e-4
    # Nothing streams; the step is many launches on the wafer, hand-offs included.
    assert all(r.mode == "pipelined" and r.precision == precision for r in reports)
    assert all(r.streaming_s == r.weight_bytes == r.gradient_bytes == 0 for r in reports)
    # Weight streaming from the same init follows the same curve.
    streaming = train.Trainer(MODEL, SGD, 1, seed=5, precision=precision)
    for name, value in streaming.params.items():
        np.testing.assert_array_equal(value, start[name])
    streamed = [r.loss for r in streaming.fit(x, labels, 3)]
    np.testing.assert_allclose(streamed, losses[:3], rtol=1e-5)


def test_micro_batches_in_flight_overlap_and_hand_offs_are_wafer_traffic(tmp_path):
    x, labels = data(4)
    runs = {}
    for micro_batch in (1, 2):                               # a batch of 2 sequences: 2 micro-batches, or 1
        trainer = train.Trainer(MODEL, SGD, 2, seed=5, mode="pipelined", micro_batch=micro_batch)
        first = len(trainer.device.launches)
        report = trainer.step(x[:2], labels[:2])
        runs[micro_batch] = trainer, report, trainer.device.launches[first:]
    (two, report, step), (one, one_report, _) = runs[1], runs[2]
    # The two micro-batches' gradients add up on the wafer to the whole batch's: the same update.
    assert report.loss == pytest.approx(one_report.loss, rel=1e-6)
    for name, value in one.params.items():
        np.testing.assert_allclose(two.params[name], value, atol=1e-6, err_msg=name)
    handoffs = [s for s in step if s.program == HANDOFF_PROGRAM]
    # One boundary between the two regions: each micro-batch crosses it forward and its gradient backward,
    # its 2 x 4 features a token over one link.
    assert len(handoffs) == 4 and all(s.words_moved == 8 and s.block == (2, 1) for s in handoffs)
    assert report.wafer_traffic_s >= sum(s.seconds for s in handoffs)
    assert report.compute_s + report.wafer_traffic_s == pytest.approx(sum(s.seconds for s in step))
    assert report.launches == len(step)
    # The second micro-batch's forward runs in the block's region while the first is in the dense one's.
    assert report.overlapped_s < report.total_s
    assert len(two.pipeline.regions) == 2 and two.pipeline.regions[1].x == two.pipeline.regions[0].width
    # The timeline draws that schedule: the step lasts overlapped_s, and launches of both regions overlap.
    slices = two.timeline.slices
    assert next(s for s in slices if s.track == "steps").seconds == pytest.approx(report.overlapped_s)
    runs = [s for s in slices if s.track == "wafer: launches"]
    assert any(a.start_s < b.start_s + b.seconds and b.start_s < a.start_s + a.seconds
               for i, a in enumerate(runs) for b in runs[i + 1:])
    assert json.loads(two.to_perfetto(tmp_path / "t.json").read_text())["traceEvents"]


def test_stage_schedule_runs_stages_on_different_micro_batches_at_once():
    # Two stages, two micro-batches: forward (stage, micro) passes 1-4, backward 5-8, updates 9-10.
    tasks = [("forward", 0, 0), ("forward", 1, 0), ("forward", 0, 1), ("forward", 1, 1),
             ("backward", 1, 0), ("backward", 0, 0), ("backward", 1, 1), ("backward", 0, 1),
             ("update", 0, 0), ("update", 1, 0)]
    seconds = [2, 1, 2, 1, 1, 3, 1, 3, 1, 1]
    events = [Event(LAUNCH, f"t{p}", s, p) for p, s in enumerate(seconds, start=1)]
    # f(0,1) starts at 2 with f(1,0); b(1,0) waits for stage 1's f(1,1) (region busy until 5); b(0,0) for
    # b(1,0); b(1,1) runs at 6 beside b(0,0); b(0,1) waits for b(0,0) (9); stage 1 updates at 7.
    assert stage_schedule(events, tasks) == [0, 2, 2, 4, 5, 6, 6, 9, 12, 7]


def test_auto_mode_pipelines_a_small_transformer_and_streams_what_does_not_fit():
    assert train.Trainer(MODEL, SGD, 2, mode="auto").mode == "pipelined"
    # Too wide: the two regions side by side need more columns than the wafer has (streaming needs fewer).
    regions = plan_regions(MODEL, 1, 8, 8, ws.WaferSpec(width=64, height=64))
    width, height = sum(r.width for r in regions), max(r.height for r in regions)
    narrow = ws.WaferSpec(width=width - 1, height=max(height, 8))
    with pytest.raises(train.ModelDoesNotFitError, match=f"{width} x {height} PEs") as err:
        train.Trainer(MODEL, SGD, 2, device=ws.Device(narrow), mode="pipelined", micro_batch=1)
    assert err.value.needed == (width, height) and err.value.available == (width - 1, narrow.height)
    assert train.Trainer(MODEL, SGD, 2, device=ws.Device(narrow), mode="auto", micro_batch=1).mode == "streaming"
    # Too much for its region's SRAM: Adam state and 128 sequences' activations on the block's 8 x 8 PEs
    # (1,536 B a PE: enough for weight streaming's SUMMA kernel on 4 x 4 tiles, 1,400 B with its code).
    block = train.Model([train.TransformerBlock(length=2, width=8, hidden=32), train.Dense(16, 3)])
    small = ws.WaferSpec(width=64, height=64, sram_bytes=1536)
    options = dict(device=ws.Device(small), tile=4, chunk=4, micro_batch=1)
    with pytest.raises(train.ModelDoesNotFitError, match="layer 0 .TransformerBlock.") as err:
        train.Trainer(block, train.Adam(), 128, mode="pipelined", **options)
    assert err.value.available == 8 * 8 * 1536 < err.value.needed
    assert f"{err.value.needed:,} bytes" in str(err.value) and "128 samples" in str(err.value)
    device = options["device"]
    assert train.Trainer(block, train.Adam(), 128, mode="auto", **options).mode == "streaming"
    assert device.memory.used_bytes == 0                    # pipelined mode's try left nothing behind


def test_a_float16_activation_beyond_its_range_names_its_layer_as_in_weight_streaming():
    """Staged pipelined mode runs the same kernels as weight streaming, so it refuses an activation inside
    the model that float16 would round to inf; the refusal said "x holds ...", blaming the batch, where
    weight streaming names the layer. With its output projection and second MLP product zero, the block is
    the identity (out = x + 0 + 0), so NumPy's input to layer 1 is x itself, which float16 rounds to inf."""
    params = MODEL.init_params(seed=2)
    for name in ("wo", "bo", "w2", "b2"):
        params[f"0.{name}"][...] = 0.0
    x, labels = data(2)
    x[1, 3] = 1e5                                         # the LN normalises it: only the residual keeps it
    with np.errstate(over="ignore"):
        assert np.isinf(x.astype(np.float16)).sum() == 1   # NumPy: layer 1's input rounds to inf
    messages = []
    for mode in ("pipelined", "streaming"):
        trainer = train.Trainer(MODEL, SGD, 2, mode=mode, precision="float16", params=params, micro_batch=1)
        with pytest.raises(ws.ArgumentError, match=r"^layer 1 \(Dense\): an activation holds 100000\.0, "
                                                   r"beyond float16's range") as err:
            trainer.step(x, labels)
        messages.append(str(err.value))
        assert trainer.steps == 0 and all(np.array_equal(trainer.params[k], w) for k, w in params.items())
    assert messages[0] == messages[1]


def test_a_step_interrupted_between_its_stages_updates_is_not_applied(monkeypatch):
    """The stages update one after another: Ctrl-C after stage 0's update left it updated, stage 1 not, and
    the optimizer's count one ahead, so the run that went on matched no uninterrupted one. Now the step is
    not applied, and the run goes on as NumPy's and as the uninterrupted one, bit for bit."""
    x, labels = data(4)
    adam = train.Adam(lr=0.05)
    clean = train.Trainer(MODEL, adam, 2, seed=5, mode="pipelined", micro_batch=1)
    start = clean.params
    losses = [r.loss for r in clean.fit(x, labels, 2)]
    trainer = train.Trainer(MODEL, adam, 2, seed=5, mode="pipelined", micro_batch=1)
    update, calls = pipelined_stages.StagedPipeline._update, []

    def interrupted(self, i, gradient):
        calls.append(i)
        if len(calls) == 2:             # stage 0 is updated
            raise KeyboardInterrupt
        update(self, i, gradient)

    monkeypatch.setattr(pipelined_stages.StagedPipeline, "_update", interrupted)
    with pytest.raises(KeyboardInterrupt):
        trainer.step(x[:2], labels[:2])
    monkeypatch.setattr(pipelined_stages.StagedPipeline, "_update", update)
    assert calls == [0, 1] and trainer.steps == trainer.pipeline.steps == 0
    assert all(np.array_equal(trainer.params[k], w) for k, w in start.items())
    resumed = [r.loss for r in trainer.fit(x, labels, 2)]
    assert resumed == losses
    reference, _ = train_reference(MODEL, start, adam, x, labels, 2, 2)
    np.testing.assert_allclose(resumed, reference, rtol=1e-4)
