"""wafersim.train: weight-streaming training on the wafer against the float64 NumPy reference
(train.reference), MemoryX's optimizers and accounting, and the errors for models that do not fit."""
from __future__ import annotations

import functools
import json
import math
from unittest import mock

import numpy as np
import pytest

import wafersim as ws
from wafersim import train
from wafersim.kernels import ml
from wafersim.train import pipelined
from wafersim.train.pipeline_kernel import local_words, pipelined_step_kernel
from wafersim.train.reference import loss_and_gradients, train_reference


def run_both(model, optimizer, steps, samples=16, batch_size=8, seed=1, bounds_checked=False, **trainer_options):
    x, labels = train.synthetic_classification(samples, model.in_features, model.classes, seed=seed)
    # The pipelined step kernel runs without bounds checks; here, with them (compiled once, when the
    # trainer checks it against the SRAM).
    checked = functools.partial(pipelined_step_kernel, boundscheck=True) if bounds_checked else pipelined_step_kernel
    with mock.patch.object(pipelined, "pipelined_step_kernel", checked):
        trainer = train.Trainer(model, optimizer, batch_size, seed=seed, **trainer_options)
    if bounds_checked:
        assert trainer.pipeline.kernel.boundscheck
    start = trainer.params
    seen = []
    reports = trainer.fit(x, labels, steps, callback=seen.append)
    assert seen == reports
    ref_losses, ref_weights = train_reference(model, start, optimizer, x, labels, steps, batch_size)
    return trainer, reports, ref_losses, ref_weights


# The pipelined MLP tests' optimizer (the layer-norm test runs Adam): SGD with momentum.
PIPELINED_SGD = train.SGD(lr=0.3, momentum=0.5)


def test_streaming_loss_curve_matches_numpy_over_50_steps():
    model = train.Model.mlp([6, 8, 3], activation="relu")
    trainer, reports, ref_losses, ref_weights = run_both(model, train.Adam(lr=0.05), steps=50)
    losses = np.array([r.loss for r in reports])
    np.testing.assert_allclose(losses, ref_losses, rtol=1e-4, atol=1e-5)
    assert losses[-1] < 0.25 * losses[0]                   # it learns the task
    for name, weights in ref_weights.items():
        np.testing.assert_allclose(trainer.params[name], weights, atol=5e-4, err_msg=name)
    assert trainer.memoryx.steps == 50 and [r.step for r in reports] == list(range(50))


def test_gelu_tanh_layer_norm_and_momentum_match_numpy():
    model = train.Model([train.Dense(5, 9, "gelu"), train.LayerNorm(9), train.Dense(9, 7, "tanh"),
                         train.Dense(7, 3)])
    trainer, reports, ref_losses, ref_weights = run_both(model, train.SGD(lr=0.2, momentum=0.9), steps=4,
                                                         samples=12, batch_size=6, chunk=4)
    np.testing.assert_allclose([r.loss for r in reports], ref_losses, rtol=1e-4, atol=1e-5)
    for name, weights in ref_weights.items():
        np.testing.assert_allclose(trainer.params[name], weights, atol=2e-4, err_msg=name)


def test_step_report_accounts_for_streaming_and_launches(tmp_path):
    model = train.Model([train.Dense(5, 9, "gelu"), train.LayerNorm(9), train.Dense(9, 3)])
    spec = train.MemoryXSpec(bandwidth_bytes_per_s=1e9, latency_s=1e-6)
    trainer = train.Trainer(model, train.SGD(lr=0.1), batch_size=4, memoryx_spec=spec, chunk=4)
    x, labels = train.synthetic_classification(4, 5, 3)
    first_launch = len(trainer.device.launches)
    report = trainer.step(x, labels)
    launches = trainer.device.launches[first_launch:]
    # Forward: every tensor streams in once; backward: each dense W and the LayerNorm gamma again.
    w_bytes = 4 * (5 * 9 + 9 * 3)
    assert report.weight_bytes == model.param_bytes + w_bytes + 4 * 9
    assert report.gradient_bytes == model.param_bytes
    transfers = 6 + 3 + 6                                  # tensors in, again for backward, gradients out
    expected_streaming = transfers * 1e-6 + (report.weight_bytes + report.gradient_bytes) / 1e9
    assert report.streaming_s == pytest.approx(expected_streaming)
    # Launches: dense 0 (gemm, bias, gelu), layer norm, dense 2 (gemm, bias), loss; backward: dense 2
    # (dX, dW, db), layer norm (row kernel, two column sums), gelu, dense 0 (dW, db).
    assert report.launches == len(launches) == 3 + 1 + 2 + 1 + 3 + 3 + 1 + 2
    assert report.compute_s + report.wafer_traffic_s == pytest.approx(sum(s.seconds for s in launches))
    assert report.compute_s > 0 and report.wafer_traffic_s > 0
    assert report.fabric_words == sum(s.words_moved for s in launches) > 0
    assert report.total_s == pytest.approx(report.compute_s + report.wafer_traffic_s + report.streaming_s)
    # The timeline puts the step's launches and transfers one after another: they add up to its time.
    timeline = trainer.timeline.slices
    assert [s.name for s in timeline if s.track == "steps"] == [f"step 0: loss {report.loss:.4f}"]
    assert sum(s.seconds for s in timeline if s.track != "steps") == pytest.approx(report.total_s)
    assert len([s for s in timeline if s.track.startswith("MemoryX")]) == 9    # weights in
    assert len([s for s in timeline if s.track.endswith("gradients")]) == 6
    assert [s.name for s in timeline if s.track == "wafer: launches"] == [s.program for s in launches]
    # The loss is that of the weights before the update, as the reference computes it.
    ref_loss, _ = loss_and_gradients(model, model.init_params(0), x, labels)
    assert report.loss == pytest.approx(ref_loss, rel=1e-5)
    trace = json.loads(trainer.to_perfetto(tmp_path / "train.json").read_text())["traceEvents"]
    slices = [e for e in trace if e["ph"] == "X"]
    assert len(slices) == len(timeline)
    streamed = [e for e in slices if e["tid"] == 2]                              # MemoryX -> wafer track
    assert streamed[0]["name"] == "0.w (180 B)" and streamed[0]["dur"] == pytest.approx(1 + 180 / 1e3)


def test_memoryx_optimizers_and_capacity():
    w0 = np.array([1.0, -2.0, 0.5], np.float32)
    g = np.array([0.5, 0.25, -1.0], np.float32)
    store = train.MemoryX({"w": w0}, train.SGD(lr=0.1, momentum=0.5))
    for _ in range(2):
        store.receive_gradient("w", g)
        store.update()
    np.testing.assert_allclose(store.weights["w"], w0 - 0.1 * g - 0.1 * (0.5 * g + g), rtol=1e-6)

    adam = train.MemoryX({"w": w0}, train.Adam(lr=0.01))
    adam.receive_gradient("w", g)
    adam.update()
    np.testing.assert_allclose(adam.weights["w"], w0 - 0.01 * np.sign(g), rtol=1e-5)   # first Adam step
    counters = adam.take_counters()
    assert (counters.weight_bytes, counters.gradient_bytes, counters.transfers) == (0, 12, 1)
    assert adam.stream_weights("w").tolist() == adam.weights["w"].tolist()
    assert adam.take_counters().weight_bytes == 12

    with pytest.raises(train.ModelTooLargeError) as err:   # 4 weights + grads + Adam state = 64 bytes
        train.MemoryX({"w": np.zeros(4, np.float32)}, train.Adam(), train.MemoryXSpec(capacity_bytes=63))
    assert err.value.needed == 64 and isinstance(err.value, ws.OutOfMemoryError)
    with pytest.raises(train.TrainingError):
        store.receive_gradient("w", np.zeros(4))
    with pytest.raises(ws.SpecError):
        train.MemoryXSpec(bandwidth_bytes_per_s=0)


def test_models_that_do_not_fit_fail_with_the_sizes():
    model = train.Model.mlp([4, 64, 2])
    tiny = ws.Device(ws.WaferSpec(width=4, height=4))
    with pytest.raises(train.ActivationsTooLargeError) as err:    # 64 features in chunks of 8: 8 PEs across
        train.Trainer(model, train.SGD(), batch_size=4, device=tiny)
    assert err.value.needed == 8 and err.value.available == 4
    with pytest.raises(train.ActivationsTooLargeError) as err:    # the SUMMA block of a 64-wide product
        train.Trainer(model, train.SGD(), batch_size=4, device=tiny, chunk=16)
    assert err.value.needed == 8
    small_sram = ws.Device(ws.WaferSpec(width=8, height=8, sram_bytes=4096))
    with pytest.raises(train.ActivationsTooLargeError) as err:    # activations larger than 64 x 4 KiB of SRAM
        train.Trainer(train.Model.mlp([32, 32, 2]), train.SGD(), batch_size=1024, device=small_sram)
    assert err.value.needed > err.value.available == 64 * 4096
    with pytest.raises(train.TrainingError):
        train.Trainer(model, train.SGD(), batch_size=4, mode="sideways")
    with pytest.raises(train.TrainingError):
        train.Model([train.Dense(4, 5), train.Dense(6, 2)])    # 5 features feed a layer taking 6
    for bad_layer in (lambda: train.Dense(0, 2), lambda: train.LayerNorm(0), lambda: train.Dense(2, 2, "swish"),
                      lambda: train.TransformerBlock(0, 4, 4)):
        with pytest.raises(train.TrainingError):
            bad_layer()
    trainer = train.Trainer(train.Model.mlp([4, 2]), train.SGD(), batch_size=2)
    with pytest.raises(train.TrainingError):
        trainer.step(np.zeros((2, 4), np.float32), np.array([0, 2]))   # label 2 of 2 classes
    with pytest.raises(train.TrainingError):
        trainer.fit(np.zeros((3, 4), np.float32), np.zeros(3, int), 1)  # batch of 2 does not divide 3
    assert issubclass(train.TrainingError, ws.WaferError)


DEAD_COLUMN = [(0, y) for y in range(8)]   # every row of an 8 x 8 wafer loses a PE: 7 live PEs a row


@pytest.mark.parametrize("chunk, message", [
    (8, "rows of 64 features in chunks of 8 need 8 PEs across, the wafer's defects leave a usable 7 x 8"),
    (16, r"product in 8 x 8 tiles needs a 8 x 8 block of PEs, the wafer's defects leave a usable 7 x 8")])
def test_a_wafer_whose_defects_leave_too_little_is_refused_when_the_trainer_is_made(chunk, message):
    # The checks read the mesh's size alone: the trainer was made and its first step failed with the
    # launch's LaunchError (docs/training.md promises the refusal when the trainer is made).
    model = train.Model.mlp([4, 64, 2])
    defective = ws.Device(ws.WaferSpec(width=8, height=8, defects=DEAD_COLUMN))
    with pytest.raises(train.ActivationsTooLargeError, match=message) as caught:
        train.Trainer(model, train.SGD(), batch_size=4, device=defective, chunk=chunk, mode="streaming")
    assert caught.value.needed == 8 and caught.value.available == 7    # 7 live PEs a row; a 7 x 7 square fits


def test_pipelined_mode_on_a_wafer_whose_defects_leave_too_little_is_refused_when_made():
    model = train.Model.mlp([6, 8, 3, 3])                # 3 columns of PEs: no row of this wafer has 3 live PEs
    defective = ws.Device(ws.WaferSpec(width=3, height=4, defects=[(1, y) for y in range(4)]))
    with pytest.raises(train.ModelDoesNotFitError, match="needs a 3 x 4 block .*, the wafer's defects leave a "
                                                         "usable 2 x 4 of its 3 x 4"):
        train.Trainer(model, train.SGD(), batch_size=4, device=defective, mode="pipelined")


@pytest.mark.parametrize("mode", ["streaming", "pipelined"])
def test_a_spare_column_covers_the_dead_column_and_training_is_numpys(mode):
    model = train.Model.mlp([4, 64, 2])
    x, labels = train.synthetic_classification(8, 4, 2, seed=3)
    repaired = ws.Device(ws.WaferSpec(width=8, height=8, spare_cols=1, defects=DEAD_COLUMN))
    trainer = train.Trainer(model, train.SGD(lr=0.2), batch_size=4, device=repaired, mode=mode)
    start = trainer.params
    losses = [r.loss for r in trainer.fit(x, labels, steps=2)]
    reference, _ = train_reference(model, start, train.SGD(lr=0.2), x, labels, 2, 4)
    assert np.allclose(losses, reference, rtol=1e-4)


def test_pipelined_mode_matches_numpy_with_padded_columns():
    # 7 hidden neurons on 2 PEs per column: 4 each, one padded; 3 classes: 2 per PE, one padded logit.
    model = train.Model.mlp([5, 7, 3], activation="gelu")
    trainer, reports, ref_losses, ref_weights = run_both(model, PIPELINED_SGD, steps=8, samples=8, batch_size=4,
                                                         mode="pipelined", height=2, bounds_checked=True)
    assert trainer.mode == "pipelined" and trainer.memoryx is None
    np.testing.assert_allclose([r.loss for r in reports], ref_losses, rtol=1e-4, atol=1e-5)
    for name, weights in ref_weights.items():
        np.testing.assert_allclose(trainer.params[name], weights, atol=2e-4, err_msg=name)
    report = reports[-1]
    assert (report.launches, report.streaming_s, report.weight_bytes, report.gradient_bytes) == (1, 0.0, 0, 0)
    assert report.fabric_words > 0 and report.compute_s > 0
    assert trainer.device.last_launch.block == (2, 2)      # a column of 2 PEs per layer


def test_pipelined_micro_batches_match_numpy_and_send_fewer_longer_messages():
    # The padded-columns test's model and optimizer: micro-batches of 2 are its kernel (compiled once).
    model = train.Model.mlp([5, 7, 3], activation="gelu")
    runs = {}
    for micro_batch in (1, 2):                              # 4 samples: 4 micro-batches of 1, or 2 of 2
        trainer, reports, ref_losses, ref_weights = run_both(model, PIPELINED_SGD, steps=2, samples=4, batch_size=4,
                                                             mode="pipelined", height=2, micro_batch=micro_batch,
                                                             bounds_checked=True)
        assert trainer.pipeline.micro_batch == micro_batch
        np.testing.assert_allclose([r.loss for r in reports], ref_losses, rtol=1e-4, atol=1e-5)
        for name, weights in ref_weights.items():
            np.testing.assert_allclose(trainer.params[name], weights, atol=2e-4, err_msg=name)
        runs[micro_batch] = trainer.device.last_launch
    # The same words cross the fabric, in half as many vector messages.
    assert runs[1].words_moved == runs[2].words_moved
    assert runs[1].op_counts["sendv"] == 2 * runs[2].op_counts["sendv"]
    from wafersim.train.pipelined import default_micro_batch
    assert [default_micro_batch(b, 2) for b in (1, 4, 6, 8, 7)] == [1, 2, 3, 4, 1]
    with pytest.raises(train.TrainingError):
        train.Trainer(model, train.SGD(), batch_size=4, mode="pipelined", micro_batch=3)


def test_pipelined_layer_norm_matches_numpy():
    # 7 features on 3 PEs: 3, 3 and 1 real ones, two padded; padded features must stay out of the norm.
    model = train.Model.mlp([5, 7, 6, 3], activation="tanh", layer_norm=True)
    trainer, reports, ref_losses, ref_weights = run_both(model, train.Adam(lr=0.05), steps=3, samples=8,
                                                         batch_size=4, mode="pipelined", height=3,
                                                         bounds_checked=True)
    assert trainer.mode == "pipelined" and trainer.device.last_launch.block == (5, 3)
    # The local arrays the host counts to refuse a model before compiling are the compiled kernel's.
    (compiled,) = trainer.pipeline.kernel.cache.values()
    layout = trainer.pipeline.layout
    words = sum(math.prod(s.shape) for s in compiled.program.symbols if s.storage == "sram")
    assert words == local_words(4, layout.max_inputs, layout.max_outputs, trainer.pipeline.micro_batch)
    np.testing.assert_allclose([r.loss for r in reports], ref_losses, rtol=1e-4, atol=1e-5)
    for name, weights in ref_weights.items():
        np.testing.assert_allclose(trainer.params[name], weights, atol=2e-4, err_msg=name)


def test_pipeline_layout_packs_and_unpacks_every_weight():
    from wafersim.train.pipelined import PipelineLayout

    model = train.Model([train.Dense(5, 7, "relu"), train.LayerNorm(7), train.Dense(7, 9, "relu"), train.Dense(9, 3)])
    layout = PipelineLayout.plan(model, height=3)
    assert layout.per_pe == (3, 3, 3, 1) and layout.inputs == (5, 1, 9, 9)
    params = model.init_params(3)
    params = {name: value + 1 for name, value in params.items()}   # no zeros to hide behind the padding
    back = layout.unpack(*layout.pack(params))
    assert sorted(back) == sorted(params)
    for name in params:
        np.testing.assert_array_equal(back[name], params[name])


def test_auto_mode_prefers_pipelined_and_falls_back_to_streaming():
    # height=2: the step kernel test_train_timeline runs (compiled once per session).
    trainer = train.Trainer(train.Model.mlp([4, 6, 3]), train.SGD(), batch_size=4, mode="auto", height=2)
    assert trainer.mode == "pipelined"
    starts_with_norm = train.Model([train.LayerNorm(4), train.Dense(4, 3)])   # pipelined: dense first and last
    assert train.Trainer(starts_with_norm, train.SGD(), batch_size=4, mode="auto").mode == "streaming"
    # 12 KiB a PE: enough for weight streaming's SUMMA kernel on 16 x 16 tiles (8,708 B with its code)
    small = ws.WaferSpec(width=4, height=4, sram_bytes=12288)
    big = train.Model.mlp([64, 64, 3])                              # 16 x 64 weights a PE: 16 KiB > 12 KiB
    device = ws.Device(small)
    streaming = train.Trainer(big, train.SGD(), batch_size=8, device=device, mode="auto", chunk=16, tile=16)
    assert streaming.mode == "streaming"
    assert device.memory.used_bytes == 0                            # pipelined mode's try left nothing behind
    with pytest.raises(train.ModelDoesNotFitError) as err:          # chunks of 8: 8 PEs across a row
        train.Trainer(big, train.SGD(), batch_size=8, device=ws.Device(small), mode="auto")
    assert "pipelined" in str(err.value) and "8 PEs across" in str(err.value)
    assert err.value.pipelined.available == 12288 and err.value.pipelined.needed > 12288
    assert isinstance(err.value.streaming, train.ActivationsTooLargeError)


def test_transformer_block_trains_like_numpy():
    model = train.Model([train.TransformerBlock(length=3, width=4, hidden=6, causal=True), train.Dense(12, 3)])
    # The float64 reference's own gradients against finite differences of its loss.
    x, labels = train.synthetic_classification(4, 12, 3, seed=4)
    params = {name: value.astype(np.float64) for name, value in model.init_params(5).items()}
    loss, grads = loss_and_gradients(model, params, x[:2], labels[:2])
    for name in ("0.wq", "0.bv", "0.ln1_gamma", "0.w1", "0.ln2_beta", "1.w"):
        step = {key: np.zeros_like(value) for key, value in params.items()}
        step[name].flat[1] = 1e-6
        up = loss_and_gradients(model, {k: params[k] + step[k] for k in params}, x[:2], labels[:2])[0]
        down = loss_and_gradients(model, {k: params[k] - step[k] for k in params}, x[:2], labels[:2])[0]
        assert grads[name].flat[1] == pytest.approx((up - down) / 2e-6, abs=1e-6), name
    # SGD, not Adam: the key bias has no effect on attention (its gradient is 0 up to rounding), and Adam
    # would scale float32 and float64 rounding noise in it up to full steps.
    trainer, reports, ref_losses, ref_weights = run_both(model, train.SGD(lr=0.1, momentum=0.9), steps=3,
                                                         samples=4, batch_size=2, seed=5)
    np.testing.assert_allclose([r.loss for r in reports], ref_losses, rtol=1e-4, atol=1e-5)
    for name, weights in ref_weights.items():
        np.testing.assert_allclose(trainer.params[name], weights, atol=1e-4, err_msg=name)
    assert train.Trainer(model, train.SGD(), batch_size=2, mode="auto").mode == "pipelined"   # it fits


def test_default_device_is_as_tall_as_the_pipelined_height_asked_for():
    # A column of 8 PEs a layer for 2 layers: a 2 x 8 device (it was 2 x 4, the widest layer's outputs,
    # and pipelined mode was refused, "auto" fell back to streaming).
    model = train.Model.mlp([3, 2, 2])
    trainer, reports, ref_losses, ref_weights = run_both(model, PIPELINED_SGD, steps=2, samples=8, batch_size=4,
                                                         mode="pipelined", height=8)
    assert (trainer.device.spec.width, trainer.device.spec.height) == (2, 8)
    assert trainer.pipeline.layout.height == 8
    assert np.allclose([r.loss for r in reports], ref_losses, rtol=1e-4, atol=1e-6)
    auto = train.Trainer(model, PIPELINED_SGD, batch_size=4, mode="auto", height=8)
    assert auto.mode == "pipelined" and (auto.device.spec.width, auto.device.spec.height) == (2, 8)
    # A taller model keeps its own height; streaming ignores `height` and `micro_batch` (documented: the
    # batch goes whole), so the same options serve mode="auto".
    assert train.default_device(train.Model.mlp([4, 9, 3]), 4, height=5).spec.height == 9
    streaming = train.Trainer(model, train.SGD(), batch_size=4, height=8, micro_batch=3)
    assert streaming.device.spec.height == train.default_device(model, 4).spec.height
    assert streaming.mode == "streaming" and streaming.pipeline is None


def _malformed(name: str):
    model = train.Model.mlp([4, 6, 3])
    params = model.init_params()
    if name == "transposed":
        params["0.w"] = params["0.w"].T.copy()
    elif name == "3-D":
        params["0.w"] = params["0.w"].reshape(4, 6, 1)
    elif name == "row bias":
        params["0.b"] = params["0.b"].reshape(1, 6)
    elif name == "scalar bias":
        params["0.b"] = np.float32(0.1)
    elif name == "complex":
        params["0.b"] = params["0.b"].astype(np.complex64)
    elif name == "beyond float32":  # (was cast to inf without a word: every loss NaN)
        params["1.w"] = params["1.w"].astype(np.float64)
        params["1.w"][0, 0] = 1e39
    elif name == "inexact integer":  # (2**25 + 1 was rounded to 2**25)
        params["0.b"] = np.array([2**25 + 1, 0, 0, 0, 0, 0])
    elif name == "ragged":  # (was NumPy's bare ValueError about an inhomogeneous shape)
        params["0.b"] = [[0.0, 1.0], [2.0]]
    elif name == "missing":
        del params["1.b"]
    elif name == "extra":
        params["9.w"] = np.zeros(3, np.float32)
    return model, params


MALFORMED = {"transposed": r"params\['0.w'\] \(layer 0, Dense 4 -> 6\) has shape \(6, 4\) \(transposed\?\), the model "
                           r"needs \(4, 6\)",
             "3-D": r"params\['0.w'\] .* has shape \(4, 6, 1\), the model needs \(4, 6\)",
             "row bias": r"params\['0.b'\] .* has shape \(1, 6\), the model needs \(6,\)",
             "scalar bias": r"params\['0.b'\] .* has shape \(\), the model needs \(6,\)",
             "complex": r"params\['0.b'\] .* must hold real numbers",
             "beyond float32": r"params\['1.w'\] \(layer 1, Dense 6 -> 3\) holds .*1e\+39.*beyond float32's range",
             "inexact integer": r"params\['0.b'\] .* holds integers beyond 2\*\*24",
             "ragged": r"params\['0.b'\] \(layer 0, Dense 4 -> 6\) is not an array of numbers",
             "missing": r"params: missing '1.b'",
             "extra": r"params: not tensors of this model: '9.w'"}


@pytest.mark.parametrize("mode", ["streaming", "pipelined", "auto"])
@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_params_are_refused_when_the_trainer_is_made(mode, name):
    model, params = _malformed(name)
    with pytest.raises(train.TrainingArgumentError, match=MALFORMED[name]) as err:
        train.Trainer(model, train.SGD(), batch_size=8, mode=mode, height=2, params=params)   # no step needed
    assert isinstance(err.value, ws.ArgumentError)


def test_params_of_integers_are_taken_as_float32_copies():
    model = train.Model.mlp([4, 6, 3])
    params = {name: np.arange(np.prod(shape)).reshape(shape) for name, shape in model.param_shapes().items()}
    for mode in ("streaming", "pipelined"):
        trainer = train.Trainer(model, train.SGD(), batch_size=8, mode=mode, height=2, params=params)
        for name, value in trainer.params.items():
            assert value.dtype == np.float32 and np.array_equal(value, params[name].astype(np.float32))


@pytest.mark.parametrize("mode", ["streaming", "pipelined"])
def test_an_in_place_edit_of_params_raises_instead_of_changing_a_copy(mode):
    """(user54) `trainer.params` are copies: a PyTorch user's `params["0.w"][:] = 0` changed the copy and left
    the trainer training its own weights without a word. The copies are read-only now; `np.array(p)` is a
    writable copy, and a trainer made with it (`params=`) starts from the edited weights."""
    model = train.Model.mlp([4, 6, 3])
    x, labels = train.synthetic_classification(8, 4, 3, seed=2)
    trainer = train.Trainer(model, train.SGD(lr=0.1), batch_size=8, mode=mode, height=2)
    before = {name: np.array(w) for name, w in trainer.params.items()}
    params = trainer.params
    with pytest.raises(ValueError, match="read-only"):
        params["0.w"][:] = 0
    assert all(np.array_equal(trainer.params[k], w) for k, w in before.items())
    edited = {name: np.array(w) for name, w in params.items()}
    edited["0.w"][:] = 0
    restarted = train.Trainer(model, train.SGD(lr=0.1), batch_size=8, mode=mode, height=2, params=edited)
    assert not restarted.params["0.w"].any()
    expected, _ = train_reference(model, edited, train.SGD(lr=0.1), x, labels, 1, 8)
    assert restarted.step(x, labels).loss == pytest.approx(expected[0], rel=1e-5)
    assert trainer.step(x, labels).loss == pytest.approx(train_reference(model, before, train.SGD(lr=0.1), x,
                                                                         labels, 1, 8)[0][0], rel=1e-5)


#: The weight-streaming trainer's product below: 8 x 12 @ 12 x 16 on an 8 x 8 wafer.
_NARROW_SPEC = ws.WaferSpec(width=8, height=8)
_NARROW_A, _NARROW_B = np.ones((8, 12), np.float32), np.ones((12, 16), np.float32)


@functools.cache
def _narrow_product_sram() -> int:
    """The SRAM bytes a PE needs for the narrow product (the launch's own count, `SramBudgetError.needed`)."""
    with pytest.raises(ws.SramBudgetError) as launched:  # past the tile check: the kernel's count
        ml.dense.matmul(_NARROW_A, _NARROW_B, device=ws.Device(_NARROW_SPEC.replace(sram_bytes=2048)))
    return launched.value.needed


def test_the_narrow_product_needs_exactly_the_sram_its_launch_counts():
    # The 8 x 12 @ 12 x 16 product runs SUMMA on 8 x 8 tiles: 1,824 B of tiles, ~3 KiB with the kernel's
    # code and spills; the smaller of the unrolled and rolled codes' needs is exactly enough.
    a, b, needed = _NARROW_A, _NARROW_B, _narrow_product_sram()
    assert 1824 < needed <= 4096
    with pytest.raises(ws.SramBudgetError):
        ml.dense.matmul(a, b, device=ws.Device(_NARROW_SPEC.replace(sram_bytes=needed - 4)))
    assert ml.dense.matmul(a, b, device=ws.Device(_NARROW_SPEC.replace(sram_bytes=needed)))[0].tolist() == \
        (a @ b).tolist()
    model = train.Model.mlp([12, 16, 3])
    enough = train.Trainer(model, train.SGD(), batch_size=8, device=ws.Device(_NARROW_SPEC.replace(sram_bytes=needed)))
    assert np.isfinite(enough.step(*train.synthetic_classification(8, 12, 3, seed=1)).loss)


@pytest.mark.parametrize("sram_of", [lambda: 512, lambda: 2048, lambda: _narrow_product_sram() - 4],
                         ids=["512", "2048", "needed-4"])
def test_weight_streaming_on_too_little_sram_fails_when_the_trainer_is_made(sram_of):
    # The trainer was made and every step failed; now making it fails, with what the product needs
    # (what each SRAM size is short of is the same launch's count: the test above). (A fixed 3000 B stopped
    # being short when stop 49's compiler made the product's code smaller: 4 B short of its need instead.)
    model = train.Model.mlp([12, 16, 3])
    sram = sram_of()
    spec = _NARROW_SPEC.replace(sram_bytes=sram)
    with pytest.raises((ml.TileTooLargeError, ws.SramBudgetError)):  # what a step's first product raises
        ml.dense.matmul(_NARROW_A, _NARROW_B, device=ws.Device(spec))
    needed = _narrow_product_sram()
    with pytest.raises(train.ActivationsTooLargeError, match=f"needs {needed:,} bytes of SRAM per PE") as err:
        train.Trainer(model, train.SGD(), batch_size=8, device=ws.Device(spec))
    assert err.value.needed == needed and err.value.available == sram
    if sram != 2048:  # (auto's pipelined check: 512 B fails on the arrays alone, 2048 B and 4 B short alike on
        # the compiled kernel, ~5 s of compiling each: 4 B short stands for both)
        with pytest.raises(train.ModelDoesNotFitError, match=f"weight streaming: .* needs {needed:,} bytes"):
            train.Trainer(model, train.SGD(), batch_size=8, device=ws.Device(spec), mode="auto")


def test_a_chunk_or_a_batch_too_large_for_any_step_fails_when_the_trainer_is_made():
    """A row-layout kernel keeps up to 4 chunks of float32 a PE in half its SRAM (49,152 B: 1,536 words a
    chunk); past that every step failed, at its first launch. A batch whose products' operands outgrow
    device memory was the device's own OutOfMemoryError (about freeing arrays) from the trainer."""
    model = train.Model.mlp([4, 8, 3])
    sram = ws.WaferSpec().sram_bytes
    largest = sram // 2 // (4 * 4)
    train.Trainer(model, train.SGD(), batch_size=8, chunk=largest)
    with pytest.raises(train.ActivationsTooLargeError, match=rf"4 chunks of {largest + 1} float32 .*use a smaller "
                                                             rf"chunk, or a wafer with more SRAM") as err:
        train.Trainer(model, train.SGD(), batch_size=8, chunk=largest + 1)
    assert err.value.needed == 16 * (largest + 1) and err.value.available == sram // 2
    with pytest.raises(train.ActivationsTooLargeError, match=r"layer 0: the 1000000000 x 4 @ 4 x 8 product's "
                                                             r"operands.*use a smaller batch_size"):
        train.Trainer(model, train.SGD(), batch_size=10**9)


def test_memoryx_latency_may_be_zero_and_transfers_are_never_negative():
    spec = train.MemoryXSpec(latency_s=0, bandwidth_bytes_per_s=1e9)          # as SwarmXSpec's latencies
    assert spec.transfer_seconds(4000) == 4000 / 1e9
    with pytest.raises(ws.SpecError, match="latency_s must be a finite number >= 0"):
        train.MemoryXSpec(latency_s=-1e-6)
    with pytest.raises(train.TrainingArgumentError, match="bytes >= 0, got -5"):
        train.MemoryXSpec().transfer_seconds(-5)
    # A step with no latency: each transfer costs its bytes at the bandwidth alone.
    model = train.Model.mlp([4, 6, 3])
    trainer = train.Trainer(model, train.SGD(), batch_size=4, memoryx_spec=spec)
    report = trainer.step(*train.synthetic_classification(4, 4, 3, seed=2))
    assert report.streaming_s == pytest.approx((report.weight_bytes + report.gradient_bytes) / 1e9, rel=1e-12)


def test_an_interrupted_streaming_step_leaves_no_gradients_for_the_next(monkeypatch):
    """Ctrl-C (or any error) in a step's backward pass, after the last layer's gradients reached MemoryX:
    the step is not applied, and redoing it gives the NumPy reference's weights (its gradients are dropped,
    not added to the next step's)."""
    model = train.Model.mlp([6, 8, 3])
    x, labels = train.synthetic_classification(16, 6, 3, seed=1)
    trainer = train.Trainer(model, train.SGD(lr=0.2), batch_size=8, seed=1)
    start = trainer.params
    trainer.fit(x, labels, 1)
    stream = trainer.memoryx.stream_weights
    streamed = []

    class Interrupted(Exception):  # (as Ctrl-C would; a KeyboardInterrupt raised here also reached the gc
        pass                        # callbacks hypothesis installs in the process, which pytest reports)

    def interrupted(name, dtype=None):  # forward streams 0.w 0.b 1.w 1.b; backward 1.w, then 0.w
        streamed.append(name)
        if len(streamed) == 6:
            raise Interrupted
        return stream(name, dtype)

    monkeypatch.setattr(trainer.memoryx, "stream_weights", interrupted)
    with pytest.raises(Interrupted):
        trainer.step(*train.data.batch(x, labels, 8, 1))
    assert sorted(trainer.memoryx.gradients) == ["1.b", "1.w"]  # (what the next step must not add)
    monkeypatch.setattr(trainer.memoryx, "stream_weights", stream)
    trainer.fit(x, labels, 2)  # (steps 1 and 2: the failed step was not counted)
    _, ref_weights = train_reference(model, start, train.SGD(lr=0.2), x, labels, 3, 8)
    for name, expected in ref_weights.items():
        np.testing.assert_allclose(trainer.params[name], expected, rtol=1e-4, atol=1e-6)


def test_fit_takes_nested_lists_as_step_does():
    """Trainer.fit(x.tolist(), labels.tolist(), n) was an AttributeError ('list' has no .shape); it trains as
    on arrays, against the float64 NumPy reference."""
    model = train.Model.mlp([6, 8, 3], activation="relu")
    x, labels = train.synthetic_classification(12, 6, 3, seed=1)
    trainer = train.Trainer(model, train.SGD(lr=0.1), batch_size=6)
    reports = trainer.fit(x.tolist(), labels.tolist(), steps=3)
    losses, weights = train_reference(model, model.init_params(0), train.SGD(lr=0.1), x, labels, 3, 6)
    assert np.allclose([r.loss for r in reports], losses, rtol=1e-5)
    assert all(np.allclose(trainer.params[k], w, atol=1e-6) for k, w in weights.items())


def test_zeros_in_the_weights_cost_what_other_values_cost():
    """docs/training.md: the ML kernels are dense, so a pruned model's step costs the dense model's (zero-skipping
    is the sparse kernels'); its loss is still NumPy's."""
    model = train.Model.mlp([16, 32, 4])
    x, labels = train.synthetic_classification(8, 16, 4, seed=1)
    dense = model.init_params(0)
    keep = np.random.default_rng(1)
    pruned = {k: np.where(keep.random(w.shape) < 0.95, 0, w).astype(np.float32) if k.endswith(".w") else w
              for k, w in dense.items()}
    reports = [train.Trainer(model, train.SGD(), batch_size=8, params=p).step(x, labels) for p in (dense, pruned)]
    for field in ("compute_s", "wafer_traffic_s", "streaming_s", "flops", "fabric_words", "weight_bytes"):
        assert getattr(reports[0], field) == getattr(reports[1], field), field
    reference, _ = loss_and_gradients(model, pruned, x, labels)
    assert np.isclose(reports[1].loss, reference, rtol=1e-5)
