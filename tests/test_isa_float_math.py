"""`isa.float_math`: the float32 instructions defined there rather than by a NumPy ufunc, against exact
rational arithmetic (`fractions.Fraction`) rounded once to float32."""
from __future__ import annotations

from fractions import Fraction

import numpy as np

from wafersim.isa.float_math import fused_multiply_add32

F32_MAX = Fraction(int(np.finfo(np.float32).max))


def round_to_float32(q: Fraction) -> np.float32:
    """The float32 nearest the rational q, ties to even (IEEE round to nearest), inf beyond the largest
    float32 plus half its step: a reference with no float64 step to round twice."""
    if q == 0:
        return np.float32(0.0)
    sign = -1 if q < 0 else 1
    q = abs(q)
    if q >= F32_MAX + Fraction(2) ** 103:  # the largest float32 + half an ulp: a tie, to the even inf
        return np.float32(sign * np.inf)
    exponent = max(q.numerator.bit_length() - q.denominator.bit_length() - 1, -127)
    while Fraction(2) ** (exponent + 1) <= q:
        exponent += 1
    while exponent > -126 and Fraction(2) ** exponent > q:
        exponent -= 1
    step = Fraction(2) ** (max(exponent, -126) - 23)  # the float32 spacing at q (subnormals: 2**-149)
    units, rest = divmod(q, step)
    if rest * 2 > step or (rest * 2 == step and units % 2 == 1):
        units += 1
    return np.float32(sign * float(units * step))


def exact_fma(a: np.float32, b: np.float32, c: np.float32) -> np.float32:
    """a * b + c rounded once to float32, from the exact rational value (an infinite or nan operand: IEEE's
    inf or nan, which float64 arithmetic gives as well)."""
    if not np.isfinite([a, b, c]).all():
        with np.errstate(all="ignore"):
            return np.float32(np.float64(a) * np.float64(b) + np.float64(c))
    value = Fraction(float(a)) * Fraction(float(b)) + Fraction(float(c))
    if value == 0:  # the sign of an exact zero: IEEE's (+0 unless both terms are -0)
        return np.float32(-0.0) if np.signbit(np.float32(a) * np.float32(b)) and np.signbit(c) else np.float32(0.0)
    return round_to_float32(value)


def same_bits(got: np.ndarray, want: np.ndarray) -> np.ndarray:
    return (got.view(np.int32) == want.view(np.int32)) | (np.isnan(got) & np.isnan(want))


def double_rounding_cases() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """a * b = 2**k + 1 exactly (641 * 6700417 = 2**32 + 1, 3 * 1431655766 / 2 ...) added to a c whose float32
    spacing is 2**(k + 1): the exact sum is just above (or, with a negative product term, below) a float32 tie
    that the float64 sum lands on. Rounding in float64 and then to float32 gives the even neighbour;
    the fused result is the other one in half of them."""
    a, b, c = [], [], []
    for scale in (-60, -20, 0, 20, 40):
        for sign in (1.0, -1.0):
            p = 2.0 ** scale
            a.append(641.0 * p)
            b.append(sign * 6700417.0)
            c.append(2.0 ** (56 + scale))  # spacing 2**(33 + scale): 2**(32 + scale) is half of it
            a.append(641.0 * p)
            b.append(sign * 6700417.0)
            c.append(2.0 ** (56 + scale) + 2.0 ** (33 + scale))  # the odd neighbour: its tie rounds the other way
    return np.array(a, np.float32), np.array(b, np.float32), np.array(c, np.float32)


def test_fma_rounds_once_where_float64_would_round_onto_a_float32_tie():
    a, b, c = double_rounding_cases()
    got = fused_multiply_add32(a, b, c)
    want = np.array([exact_fma(*t) for t in zip(a, b, c)], np.float32)
    assert same_bits(got, want).all(), (a, b, c, got, want)
    twice = (a.astype(np.float64) * b + c).astype(np.float32)  # the former result: float64, then float32
    assert (twice != want).sum() >= 5  # the cases do reach the double rounding
    # scale 0: 641 * 6700417 + 2**56 = 2**56 + 2**32 + 1, above the tie 2**56 + 2**32
    assert a[8] == 641 and b[8] == 6700417 and c[8] == 2.0**56 and got[8] == np.float32(2.0**56 + 2.0**33)


def test_fma_equals_exact_arithmetic_rounded_once_over_random_and_edge_operands():
    rng = np.random.default_rng(7)
    n = 4000
    a = (rng.standard_normal(n) * np.exp2(rng.integers(-30, 30, n))).astype(np.float32)
    b = (rng.standard_normal(n) * np.exp2(rng.integers(-30, 30, n))).astype(np.float32)
    c = -(a.astype(np.float64) * b).astype(np.float32)  # cancellation: c near -a*b
    c = np.where(rng.random(n) < 0.5, c, (rng.standard_normal(n) * np.exp2(rng.integers(-60, 60, n))).astype(np.float32))
    edges = np.array([0.0, -0.0, 1.0, -1.0, 1e-45, -1e-45, 1.1754944e-38, 3.4028235e38, -3.4028235e38, 1.5, 3.0, 0.1,
                      2.0**-75, 2.0**64, 1.0000001, 0.99999994], np.float32)
    ea, eb, ec = (g.ravel() for g in np.meshgrid(edges, edges, edges, indexing="ij"))
    a, b, c = np.concatenate([a, ea]), np.concatenate([b, eb]), np.concatenate([c, ec])
    got = fused_multiply_add32(a, b, c)
    want = np.array([exact_fma(*t) for t in zip(a, b, c)], np.float32)
    bad = ~same_bits(got, want)
    assert not bad.any(), (a[bad][:5], b[bad][:5], c[bad][:5], got[bad][:5], want[bad][:5])


def test_fma_at_the_overflow_tie_and_with_infinities_and_nans():
    top = np.float32(np.finfo(np.float32).max)
    half_step = np.float32(2.0**103)
    # max + half a step is a tie (to inf); a product term a hair below or above decides it
    a = np.array([1.0, 1.0, 1 + 2.0**-23, np.inf, np.inf, np.nan, 0.0, -np.inf], np.float32)
    b = np.array([top, top, half_step, 0.0, 1.0, 1.0, np.inf, np.inf], np.float32)
    c = np.array([half_step, -2.0**-20, top, 1.0, -np.inf, 1.0, 1.0, -np.inf], np.float32)
    got = fused_multiply_add32(a, b, c)
    want = np.array([exact_fma(x, y, z) if np.isfinite([x, y, z]).all() else np.nan for x, y, z in zip(a, b, c)],
                    np.float32)
    want[3:] = [np.nan, np.nan, np.nan, np.nan, -np.inf]  # IEEE: inf * 0 and inf - inf are nan
    assert same_bits(got, want).all(), (got, want)
    assert got[0] == np.inf and got[1] == top and got[2] == np.inf


def exact_fmas(a, b, c) -> np.ndarray:
    """`exact_fma` element by element over arrays broadcast together (a reference for kernels' `ws.fma`)."""
    a, b, c = np.broadcast_arrays(*(np.asarray(v, np.float32) for v in (a, b, c)))
    return np.array([exact_fma(*t) for t in zip(a.ravel(), b.ravel(), c.ravel())], np.float32).reshape(a.shape)
