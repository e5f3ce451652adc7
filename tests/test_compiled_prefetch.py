"""`prefetch` (sim/compiled/jit.py) is a hint to the CPU: compiled code that calls it must compute exactly
what it computes without it, for arrays of any dimension, element type and layout and for indices inside or
far outside the array (a prefetch never faults), and the machine code must hold the prefetch instruction."""
from __future__ import annotations

import platform

import numpy as np
import pytest
from numba import njit
from numba.core.errors import TypingError

from wafersim.sim.compiled.jit import prefetch


@njit
def _sum_rows_prefetching(a, ahead):
    """The sum of a 2-D array, each element's line `ahead` columns further asked for first (out of range at
    the end of every row)."""
    total = 0.0
    for r in range(a.shape[0]):
        for c in range(a.shape[1]):
            prefetch(a, (r, c + ahead))
            total += a[r, c]
    return total


@njit
def _scaled_prefetching(a, b, far):
    """b (1-D) times a[0, 0, 0] (3-D) into a new array, prefetching entries of both far outside them."""
    out = np.empty_like(b)
    for k in range(b.shape[0]):
        prefetch(b, (k - far,))
        prefetch(a, (k, -far, far))
        out[k] = b[k] * a[0, 0, 0]
    return out


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int32, np.int64, np.uint8])
@pytest.mark.parametrize("ahead", [0, 1, 17, 10**9])
def test_a_prefetching_sum_equals_numpys(dtype, ahead):
    a = (np.arange(6 * 40) % 11).astype(dtype).reshape(6, 40)
    assert _sum_rows_prefetching(a, ahead) == float(a.astype(np.float64).sum())
    transposed = np.ascontiguousarray(a.T).T  # (Fortran order)
    assert _sum_rows_prefetching(transposed, ahead) == float(a.astype(np.float64).sum())
    strided = np.zeros((6, 80), dtype=dtype)
    strided[:, ::2] = a
    assert _sum_rows_prefetching(strided[:, ::2], ahead) == float(a.astype(np.float64).sum())


def test_prefetches_far_outside_the_arrays_change_nothing():
    rng = np.random.default_rng(3)
    a = rng.random((2, 3, 4))
    b = rng.random(9).astype(np.float32)
    kept_a, kept_b = a.copy(), b.copy()
    out = _scaled_prefetching(a, b, 1 << 40)
    np.testing.assert_array_equal(out, (b.astype(np.float64) * a[0, 0, 0]).astype(np.float32))
    np.testing.assert_array_equal(a, kept_a)
    np.testing.assert_array_equal(b, kept_b)


@pytest.mark.skipif(platform.machine().lower() not in ("x86_64", "amd64"), reason="x86's prefetch instruction")
def test_the_machine_code_prefetches():
    _sum_rows_prefetching(np.zeros((2, 3)), 1)
    code = _sum_rows_prefetching.inspect_asm(_sum_rows_prefetching.signatures[-1])
    assert "prefetch" in code


def test_an_index_per_dimension_is_required():
    @njit
    def wrong(a):
        prefetch(a, (0,))

    with pytest.raises(TypingError):
        wrong(np.zeros((2, 2)))
