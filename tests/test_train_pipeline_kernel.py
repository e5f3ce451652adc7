"""wafersim.train.pipeline_kernel: the pipelined step kernel's layer norm on activations whose float32 sums
overflow, against the float64 NumPy reference (train.reference). (The kernel's ordinary runs are tested
through the trainer in tests/test_train.py.)"""
from __future__ import annotations

import numpy as np
import pytest

from wafersim import train
from wafersim.train.reference import loss_and_gradients, train_reference

# 7 features on 3 PEs a column (3, 3 and 1 real ones): the norm's sums are partial sums all-reduced.
MODEL = train.Model([train.Dense(5, 7), train.LayerNorm(7), train.Dense(7, 3)])


def trained(x, labels, params, steps=2):
    trainer = train.Trainer(MODEL, train.SGD(lr=0.1, momentum=0.5), batch_size=4, mode="pipelined", height=3,
                            micro_batch=2, params=params)
    assert trainer.mode == "pipelined"
    losses = [trainer.step(x, labels).loss for _ in range(steps)]
    ref_losses, ref_weights = train_reference(MODEL, params, train.SGD(lr=0.1, momentum=0.5), x, labels, steps, 4)
    return trainer, losses, ref_losses, ref_weights


@pytest.mark.parametrize("scale", [1e19, 1e25, 1e36])
def test_layer_norm_of_activations_whose_squares_overflow_float32(scale):
    """Activations of 2e19 and up made the float32 sum of squared deviations inf, rstd 0 and the norm's output
    beta, without a word (a loss of ln 3 whatever the labels); now such a sample is normalised from its values
    times 2**-100, and the step matches float64 NumPy. Samples of one micro-batch take either path."""
    x, labels = train.synthetic_classification(4, 5, 3, seed=1)
    x = x * np.array([[1.0], [scale], [scale], [1e-3]], np.float32)   # micro-batches: (1, scale), (scale, 1e-3)
    params = MODEL.init_params(1)
    trainer, losses, ref_losses, ref_weights = trained(x, labels, params)
    ref_loss, _ = loss_and_gradients(MODEL, params, x, labels)
    assert losses[0] == pytest.approx(ref_loss, rel=1e-5)
    assert abs(losses[0] - np.log(3)) > 0.1                 # not the loss of beta's logits
    np.testing.assert_allclose(losses, ref_losses, rtol=1e-5)
    for name, weights in ref_weights.items():               # the gradients through the norm, too
        np.testing.assert_allclose(trainer.params[name], weights, rtol=1e-4, atol=1e-5, err_msg=name)


def test_layer_norm_whose_partial_sums_overflow_both_ways():
    """A sample of +-3e38: one PE's partial sum is +inf, another's -inf, so the all-reduced sum was nan (and
    every output nan); the float64 mean is 0. With W = I the dense layer passes x to the norm exactly."""
    params = MODEL.init_params(2)
    params["0.w"] = np.eye(5, 7, dtype=np.float32)
    params["0.b"] = np.zeros(7, np.float32)
    big = np.float32(3e38)
    x = np.array([[big, big, big, -big, -big], [1, 2, 3, 4, 5], [-big, 1, big, 0, 2], [0, 0, 0, 0, 1]],
                 np.float32)
    labels = np.array([0, 1, 2, 1])
    trainer, losses, ref_losses, ref_weights = trained(x, labels, params, steps=1)
    assert np.isfinite(ref_losses[0])
    assert losses[0] == pytest.approx(ref_losses[0], rel=1e-5)
    for name in ("1.gamma", "1.beta", "2.w", "2.b"):        # (0.w's gradient is x-sized: it is inf in float32)
        np.testing.assert_allclose(trainer.params[name], ref_weights[name], rtol=1e-4, atol=1e-5, err_msg=name)


def test_layer_norm_of_an_infinite_activation_is_nan_as_numpy():
    """A sample holding inf is not rescaled into a number: its loss is nan, as the float64 reference's."""
    x, labels = train.synthetic_classification(4, 5, 3, seed=3)
    params = MODEL.init_params(3)
    x[2, 0] = np.inf
    trainer = train.Trainer(MODEL, train.SGD(), batch_size=4, mode="pipelined", height=3, micro_batch=2,
                            params=params)
    with np.errstate(invalid="ignore"):
        ref_loss, _ = loss_and_gradients(MODEL, params, x, labels)
    assert np.isnan(ref_loss) and np.isnan(trainer.step(x, labels).loss)


def test_layer_norm_of_a_sample_of_equal_huge_activations_is_beta_as_numpy():
    """Every activation of a sample 2**127: the float32 sum overflows (the rescaled path), the rescaled values
    are equal, so their variance is exactly 0; eps * 2**-200 is below float32's range (0), so 1/std was
    1/sqrt(0) = inf and the output 0 * inf = nan. NumPy: variance 0, 1/std = 1/sqrt(eps), output beta. With
    W = 0 the dense layer gives every sample its bias, 2**127."""
    params = MODEL.init_params(4)
    params["0.w"] = np.zeros((5, 7), np.float32)
    params["0.b"] = np.full(7, 2.0 ** 127, np.float32)
    x, labels = train.synthetic_classification(4, 5, 3, seed=4)
    trainer, losses, ref_losses, ref_weights = trained(x, labels, params, steps=2)
    assert np.isfinite(ref_losses).all()
    np.testing.assert_allclose(losses, ref_losses, rtol=1e-5)
    for name in ("1.gamma", "1.beta", "2.w", "2.b"):
        np.testing.assert_allclose(trainer.params[name], ref_weights[name], rtol=1e-4, atol=1e-5, err_msg=name)
