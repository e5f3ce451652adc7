"""sim/sum_kernels.py: float32 sums and dot products down SRAM rows, against plain Python's left-to-right loop."""
from __future__ import annotations

import numpy as np
import pytest

from wafersim.sim import sum_kernels

SPECIAL = np.array([np.nan, np.inf, -np.inf, -0.0, 0.0, 3e38, -3e38, 1e-45], np.float32)


def _words(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Words of a wide range (overflow, cancellation, subnormals) with a few NaNs, infinities and signed zeros."""
    values = (rng.standard_normal(shape) * 10.0 ** rng.integers(-40, 39, shape)).astype(np.float32)
    hits = rng.random(shape) < 0.05
    values[hits] = rng.choice(SPECIAL, int(hits.sum()))
    return values


def _python_sum(terms: np.ndarray, factors: np.ndarray | None) -> list[np.float32]:
    """Per lane: ((t0 * f0) + (t1 * f1)) + ..., each product and sum a float32 scalar operation, in order."""
    out = []
    for lane in range(terms.shape[1]):
        total = None
        for k in range(terms.shape[0]):
            word = terms[k, lane] if factors is None else np.float32(terms[k, lane] * factors[k, lane])
            total = word if total is None else np.float32(total + word)
        out.append(total)
    return out


def _assert_same_sums(got: np.ndarray, expected: list[np.float32]) -> None:
    """Bit for bit where the sum is a number (-0.0 included); a NaN exactly where the loop gives one (which NaN
    is left to `compute._first_nan_of_sums`)."""
    want = np.array(expected, np.float32)
    assert got.dtype == np.float32 and got.shape == want.shape
    nan = np.isnan(want)
    np.testing.assert_array_equal(np.isnan(got), nan)
    np.testing.assert_array_equal(got[~nan].view(np.int32), want[~nan].view(np.int32))


@pytest.mark.parametrize("shape", [(64, 1024), (1, 7), (2, 1), (5, 40), (33, 17)])
@pytest.mark.parametrize("strided", [False, True])
def test_sums_and_dot_products_round_each_step_left_to_right_as_python_does(shape, strided):
    rng = np.random.default_rng(shape[0] * 1000 + shape[1] + strided)
    with np.errstate(all="ignore"):
        terms, factors = _words(rng, shape), _words(rng, shape)
        if strided:  # (a windowed group's view: every other PE of wider rows)
            terms = np.repeat(terms, 2, axis=1)[:, ::2]
            factors = np.repeat(factors, 2, axis=1)[:, ::2]
        kept_terms, kept_factors = terms.copy(), factors.copy()
        _assert_same_sums(sum_kernels.sum_down(terms), _python_sum(terms, None))
        _assert_same_sums(sum_kernels.dot_down(terms, factors), _python_sum(terms, factors))
    np.testing.assert_array_equal(terms, kept_terms)  # (the words read are left as they were)
    np.testing.assert_array_equal(factors, kept_factors)


def test_a_dot_product_rounds_the_product_before_the_sum():
    """A fused multiply-add would keep the product's low bits: (1 + 2**-12) squared is 1 + 2**-11 + 2**-24, 1 +
    2**-11 rounded to float32, so less 1 + 2**-11 it is 0 rounded first and 2**-24 fused."""
    x, near = np.float32(1 + 2.0 ** -12), np.float32(1 + 2.0 ** -11)
    terms = np.array([[x], [-near]], np.float32)
    factors = np.array([[x], [np.float32(1)]], np.float32)
    assert np.float64(x) * np.float64(x) - np.float64(near) == 2.0 ** -24  # (what a fused step would give)
    assert sum_kernels.dot_down(terms, factors)[0] == np.float32(np.float32(x * x) - near) == 0.0
