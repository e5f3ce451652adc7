"""The 7-point 3-D stencil of `kernels.solvers.stencil7` against a NumPy stencil written here."""
from __future__ import annotations

import numpy as np
import pytest

import wafersim as ws
from wafersim.kernels.solvers import ColumnTooLongError, stencil7


def numpy_stencil(u: np.ndarray, coeffs, steps: int) -> np.ndarray:
    """float64 steps of c0 u + cx (W + E) + cy (N + S) + cz (down + up), 0 outside the (nz, ny, nx) grid."""
    c0, cx, cy, cz = coeffs
    u = u.astype(np.float64)
    for _ in range(steps):
        p = np.zeros(tuple(n + 2 for n in u.shape))
        p[1:-1, 1:-1, 1:-1] = u
        u = (c0 * u + cx * (p[1:-1, 1:-1, :-2] + p[1:-1, 1:-1, 2:]) + cy * (p[1:-1, :-2, 1:-1] + p[1:-1, 2:, 1:-1])
             + cz * (p[:-2, 1:-1, 1:-1] + p[2:, 1:-1, 1:-1]))
    return u


@pytest.mark.parametrize("shape, steps", [((20, 5, 6), 3), ((1, 3, 3), 2), ((33, 2, 1), 4), ((8, 1, 7), 1)])
def test_stencil7_matches_numpy(shape, steps):
    rng = np.random.default_rng(sum(shape) + steps)
    u = rng.standard_normal(shape).astype(np.float32)
    coeffs = tuple(float(c) for c in rng.uniform(-0.3, 0.5, size=4))
    out, stats = stencil7(u, coeffs, steps)
    want = numpy_stencil(u, coeffs, steps)
    assert out.shape == shape and out.dtype == np.float32
    np.testing.assert_allclose(out, want, rtol=0, atol=1e-5 * max(1.0, np.abs(want).max()))
    # Vector FLOPs: per cell and step 3 pair adds, the X scale, two fmas (2 each) and the centre fma.
    assert stats.flops == 10 * u.size * steps
    assert stats.block == (shape[2], shape[1])


def test_zero_steps_and_the_identity_stencil_return_the_input():
    u = np.random.default_rng(0).standard_normal((5, 2, 3)).astype(np.float32)
    assert np.array_equal(stencil7(u, (0.3, 0.1, 0.1, 0.1), 0)[0], u)
    assert np.array_equal(stencil7(u, (1.0, 0.0, 0.0, 0.0), 3)[0], u)


def test_a_pure_shift_moves_values_one_cell_and_drops_them_at_the_boundary():
    u = np.zeros((4, 3, 3), np.float32)
    u[1, 1, 1] = 1.0
    out, _ = stencil7(u, (0.0, 0.0, 0.0, 1.0), 1)  # each cell takes the sum of its Z neighbours
    want = np.zeros_like(u)
    want[0, 1, 1] = want[2, 1, 1] = 1.0
    assert np.array_equal(out, want)
    out, _ = stencil7(u, (0.0, 0.0, 0.0, 1.0), 3)  # 3 steps on 4 cells: binomial weights, cut at the ends
    assert np.array_equal(out[:, 1, 1], numpy_stencil(u, (0, 0, 0, 1), 3)[:, 1, 1].astype(np.float32))


def test_bad_inputs():
    u = np.ones((4, 2, 2), np.float32)
    with pytest.raises(ws.ArgumentError, match="four finite numbers"):
        stencil7(u, (1.0, 0.0, 0.0))
    with pytest.raises(ws.ArgumentError, match="steps must be a whole number >= 0"):
        stencil7(u, (1.0, 0.0, 0.0, 0.0), -1)
    with pytest.raises(ws.ArgumentError, match=r"shape \(2, 2\)"):
        stencil7(np.ones((2, 2)), (1.0, 0.0, 0.0, 0.0))
    with pytest.raises(ColumnTooLongError, match="Z columns of 5000 values"):
        stencil7(np.ones((5000, 1, 1), np.float32), (1.0, 0.0, 0.0, 0.0))


def test_coefficients_follow_the_float32_input_rule():
    """A coefficient beyond float32's range became inf (a NumPy RuntimeWarning only) and an integer beyond
    2**24 was rounded; both are refused, naming the coefficient. Integers that float32 holds run as floats."""
    u = np.random.default_rng(5).random((4, 2, 3), dtype=np.float32)
    with pytest.raises(ws.ArgumentError, match=r"coeffs\[0\] \(c0\) holds .*beyond float32's range"):
        stencil7(u, (1e39, 0.0, 0.0, 0.0))
    with pytest.raises(ws.ArgumentError, match=r"coeffs\[2\] \(cy\) holds integers beyond 2\*\*24"):
        stencil7(u, (0.0, 0.0, 2**25 + 1, 0.0))
    out, _ = stencil7(u, (2, -1, 3, 1), 2)
    np.testing.assert_allclose(out, numpy_stencil(u, (2, -1, 3, 1), 2), rtol=1e-6)
