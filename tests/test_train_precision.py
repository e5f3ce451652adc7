"""wafersim.train in mixed precision (Trainer(precision=...)): 16-bit dense layers with float32
accumulation and float32 master weights, against the NumPy reference rounding at the same places
(train.reference with `precision=`), and against float32 training."""
from __future__ import annotations

import math

import numpy as np
import pytest

import wafersim as ws
from wafersim import train
from wafersim.kernels.ml import PRECISIONS
from wafersim.train.pipeline_kernel import local_words
from wafersim.train.reference import train_reference

MODEL = train.Model.mlp([6, 8, 3], activation="relu")
ADAM = train.Adam(lr=0.05)
STEPS = 25


def train_on_wafer(precision: str, steps: int, model: train.Model = MODEL, **options):
    x, labels = train.synthetic_classification(16, model.in_features, model.classes, seed=1)
    trainer = train.Trainer(model, ADAM, 8, seed=1, precision=precision, **options)
    start = trainer.params
    return trainer, trainer.fit(x, labels, steps), (start, x, labels)


@pytest.fixture(scope="module")
def bfloat16_run():
    return train_on_wafer("bfloat16", STEPS)


def test_bfloat16_loss_curve_matches_numpy_rounding_at_the_same_places(bfloat16_run):
    trainer, reports, (start, x, labels) = bfloat16_run
    losses = np.array([r.loss for r in reports])
    ref_losses, ref_weights = train_reference(MODEL, start, ADAM, x, labels, STEPS, 8, precision="bfloat16")
    # The first step's rounding is the same in both: float tolerance. Later a float32 (wafer) against
    # float64 (reference) difference can round an element to the neighbouring bfloat16 value (2**-8
    # apart): the curves stay within a small fraction of that.
    assert losses[0] == pytest.approx(ref_losses[0], rel=1e-5)
    np.testing.assert_allclose(losses, ref_losses, rtol=2e-3, atol=1e-4)
    for name, weights in ref_weights.items():
        np.testing.assert_allclose(trainer.params[name], weights, atol=2e-3, err_msg=name)
        assert trainer.params[name].dtype == np.float32                  # master weights stay float32
    assert all(r.precision == "bfloat16" and "bfloat16" in r.summary() for r in reports)


def test_float16_loss_curve_matches_numpy():
    trainer, reports, (start, x, labels) = train_on_wafer("float16", 6)
    ref_losses, _ = train_reference(MODEL, start, ADAM, x, labels, 6, 8, precision="float16")
    np.testing.assert_allclose([r.loss for r in reports], ref_losses, rtol=1e-4, atol=1e-5)


def test_bfloat16_training_stays_close_to_float32(bfloat16_run):
    _, reports, (start, x, labels) = bfloat16_run
    losses = np.array([r.loss for r in reports])
    float32_losses, _ = train_reference(MODEL, start, ADAM, x, labels, STEPS, 8)
    bfloat16_losses, _ = train_reference(MODEL, start, ADAM, x, labels, STEPS, 8, precision="bfloat16")
    # The rounding is real (the curves differ by more than float32 noise from the first step) but small:
    # training in bfloat16 follows the float32 curve and learns the task as well.
    assert abs(losses[0] - float32_losses[0]) > 1e-4
    assert np.max(np.abs(np.array(bfloat16_losses) - float32_losses)) > 1e-4
    np.testing.assert_allclose(losses, float32_losses, rtol=0.1, atol=0.02)
    assert losses[-1] < 0.25 * losses[0] and float32_losses[-1] < 0.25 * float32_losses[0]


def test_mixed_precision_streams_16_bit_weights_and_float32_gradients(bfloat16_run):
    _, reports, _ = bfloat16_run
    w_elements = sum(layer.in_features * layer.out_features for layer in MODEL.layers)
    b_elements = sum(layer.out_features for layer in MODEL.layers)
    # W streams in twice (forward, backward) as 16-bit values, b once as float32; gradients go out float32.
    assert reports[0].weight_bytes == 2 * 2 * w_elements + 4 * b_elements
    assert reports[0].gradient_bytes == MODEL.param_bytes


def test_16_bit_products_take_fewer_cycles_on_wse2():
    spec = ws.WaferSpec.preset("wse2", width=8, height=8)
    model = train.Model.mlp([16, 32, 4])
    x, labels = train.synthetic_classification(16, 16, 4, seed=3)
    compute = {}
    for precision in ("float32", "bfloat16"):
        trainer = train.Trainer(model, ADAM, 16, device=ws.Device(spec), precision=precision)
        compute[precision] = trainer.step(x, labels).compute_s
    assert spec.vector_lanes_half > spec.vector_lanes
    assert compute["bfloat16"] < compute["float32"]


def test_pipelined_bfloat16_matches_numpy_and_streaming_from_the_same_init(bfloat16_run):
    streaming, streamed, (start, x, labels) = bfloat16_run
    # Two PEs a column: the input gradient's partial sums meet in another order than the reference's.
    trainer, reports, (pipelined_start, _, _) = train_on_wafer("bfloat16", STEPS, mode="pipelined", height=2)
    assert trainer.mode == "pipelined" and trainer.pipeline.kernel_options["half"] == PRECISIONS["bfloat16"]
    for name, value in start.items():                                    # both trained from the same init
        np.testing.assert_array_equal(pipelined_start[name], value)
    losses = np.array([r.loss for r in reports])
    ref_losses, ref_weights = train_reference(MODEL, start, ADAM, x, labels, STEPS, 8, precision="bfloat16")
    assert losses[0] == pytest.approx(ref_losses[0], rel=1e-5)
    np.testing.assert_allclose(losses, ref_losses, rtol=2e-3, atol=1e-4)
    np.testing.assert_allclose(losses, [r.loss for r in streamed], rtol=2e-3, atol=1e-4)
    for name, weights in ref_weights.items():
        np.testing.assert_allclose(trainer.params[name], weights, atol=2e-3, err_msg=name)
        assert trainer.params[name].dtype == np.float32                  # master weights stay float32
    # The step kernel rounds: its first loss is the bfloat16 one, not the float32 one.
    float32_first, _ = train_reference(MODEL, start, ADAM, x, labels, 1, 8)
    assert abs(losses[0] - float32_first[0]) > 1e-4
    assert all(r.precision == "bfloat16" and r.streaming_s == 0 for r in reports)
    (compiled,) = trainer.pipeline.kernel.cache.values()                 # its 16-bit rounding buffer counted
    layout = trainer.pipeline.layout
    words = sum(math.prod(s.shape) for s in compiled.program.symbols if s.storage == "sram")
    assert words == local_words(8, layout.max_inputs, layout.max_outputs, trainer.pipeline.micro_batch, mixed=True)


def test_pipelined_layer_norms_stay_float32_between_16_bit_dense_layers():
    # A layer norm column takes its inputs unrounded and sends its input gradient unrounded, as the
    # reference's; 7 features on 3 PEs a column, two padded.
    model = train.Model.mlp([5, 7, 6, 3], activation="tanh", layer_norm=True)
    trainer, reports, (start, x, labels) = train_on_wafer("bfloat16", 3, model, mode="pipelined", height=3)
    ref_losses, ref_weights = train_reference(model, start, ADAM, x, labels, 3, 8, precision="bfloat16")
    np.testing.assert_allclose([r.loss for r in reports], ref_losses, rtol=2e-3, atol=1e-4)
    for name, weights in ref_weights.items():
        np.testing.assert_allclose(trainer.params[name], weights, atol=2e-3, err_msg=name)


def test_auto_mode_keeps_its_choice_in_16_bits():
    # height=2: the step kernel of the pipelined bfloat16 test above (compiled once per session).
    assert train.Trainer(MODEL, ADAM, 8, mode="auto", precision="bfloat16", height=2).mode == "pipelined"


def test_unknown_precisions_are_refused():
    with pytest.raises(train.TrainingError, match="precision must be one of"):
        train.Trainer(MODEL, ADAM, 8, precision="float8")


@pytest.mark.parametrize("mode", ["streaming", "pipelined"])
def test_float16_values_beyond_its_range_are_refused_in_every_mode_not_made_inf(mode):
    """float16 ends at 65504 (NumPy rounds 1e5 to inf): a batch x or a master weight that the dense products
    would round to inf is the kernels' ArgumentError, before the step (pipelined mode made them inf on the
    wafer: a NaN loss; weight streaming's MemoryX streamed such a weight as inf), and the step is not
    applied; an x of exactly 65504 trains as NumPy's float16 rounding says."""
    with np.errstate(over="ignore"):
        assert np.isinf(np.float16(1e5))
    assert np.float16(65504.0) == 65504.0
    model = train.Model.mlp([3, 4, 2])
    x, labels = train.synthetic_classification(4, 3, 2, seed=3)
    start = model.init_params(seed=2)
    trainer = train.Trainer(model, train.SGD(lr=0.1), batch_size=4, mode=mode, precision="float16", params=start)
    with pytest.raises(ws.ArgumentError, match=r"x holds 100000.0, beyond float16's range"):
        trainer.step(np.where(np.arange(3) == 1, 1e5, x).astype(np.float32), labels)
    big = dict(start, **{"1.w": np.where(np.eye(4, 2, dtype=bool), 1e5, start["1.w"]).astype(np.float32)})
    huge = train.Trainer(model, train.SGD(lr=0.1), batch_size=4, mode=mode, precision="float16", params=big)
    with pytest.raises(ws.ArgumentError, match=r"weight tensor '1.w' holds 100000.0, beyond float16's range"):
        huge.step(x, labels)
    assert huge.steps == 0 and np.array_equal(huge.params["1.w"], big["1.w"])   # not applied
    edge = dict(start, **{"0.w": start["0.w"] * np.array([[1], [1e-4], [1]], np.float32)})
    x_edge = x.copy()
    x_edge[0, 1] = 65504.0                                     # float16's largest value: rounds to itself
    ok = train.Trainer(model, train.SGD(lr=0.1), batch_size=4, mode=mode, precision="float16", params=edge)
    loss = ok.step(x_edge, labels).loss
    reference, _ = train_reference(model, edge, train.SGD(lr=0.1), x_edge, labels, 1, 4, precision="float16")
    assert math.isfinite(loss) and loss == pytest.approx(reference[0], rel=1e-4)


def test_a_float16_activation_beyond_its_range_names_its_layer_in_weight_streaming():
    """A layer norm's output of 1e5 (gamma 1e5) feeding a float16 dense layer: NumPy rounds it to inf; weight
    streaming refuses it naming the layer (the kernel's message said "x holds", as if the batch were at
    fault), and the step is not applied."""
    model = train.Model([train.Dense(3, 4), train.LayerNorm(4), train.Dense(4, 2)])
    params = model.init_params(seed=1)
    params["1.gamma"][:] = 1e5
    x, labels = train.synthetic_classification(4, 3, 2, seed=3)
    trainer = train.Trainer(model, train.SGD(), batch_size=4, precision="float16", params=params)
    with pytest.raises(ws.ArgumentError, match=r"^layer 2 \(Dense\): an activation holds .*beyond float16's range"):
        trainer.step(x, labels)
    assert trainer.steps == 0 and np.array_equal(trainer.params["0.w"], params["0.w"])
    with np.errstate(over="ignore"):   # NumPy: layer 2's input, |xhat| >= 0.5 somewhere, times 1e5 -> inf
        xhat = (lambda h: (h - h.mean(1, keepdims=True)) / np.sqrt(h.var(1, keepdims=True) + 1e-5))(
            x @ params["0.w"] + params["0.b"])
        assert np.isinf((xhat * 1e5).astype(np.float16)).any()


@pytest.mark.parametrize("mode", ["streaming", "pipelined"])
def test_a_float16_product_that_outgrows_its_range_rounds_to_inf_in_every_mode(mode):
    """x and W within float16's range, their product not: the dense layer's y rounds to inf, as NumPy's
    astype(np.float16) would, in weight streaming as in pipelined mode (only a finite float32 activation
    reaching a dense layer is refused): the loss is not finite, as NumPy's."""
    model = train.Model.mlp([4, 3, 2], activation="relu")
    params = model.init_params(seed=1)
    params["0.w"][...] = 300.0
    x = np.full((2, 4), 300.0, np.float32)
    labels = np.array([0, 1])
    z = (x.astype(np.float16).astype(np.float32) @ params["0.w"].astype(np.float16).astype(np.float32))
    with np.errstate(over="ignore", invalid="ignore"):
        assert z.max() == 360000.0 and np.isinf(z.astype(np.float16)).all()   # NumPy: inf
        reference, _ = train_reference(model, params, train.SGD(lr=0.1), x, labels, 1, 2, precision="float16")
    trainer = train.Trainer(model, train.SGD(lr=0.1), batch_size=2, mode=mode, precision="float16",
                            params=params, height=2)
    loss = trainer.step(x, labels).loss
    assert not math.isfinite(loss) and not math.isfinite(reference[0]) and trainer.steps == 1
