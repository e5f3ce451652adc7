"""The compiled interpreter's float16 arithmetic (sim/compiled/half_arith.py) against NumPy's float16: every float16
bit pattern widened, float32 values rounded to float16 (drawn bit patterns, every pattern around float16's
subnormal, normal and overflow boundaries, the ties), and adds, maxima, minima, differences and products of
drawn and special pairs, bit for bit (NaN payloads included)."""
from __future__ import annotations

import numpy as np
from numba import njit

from wafersim.sim.compiled.half_arith import (float_to_half, half_add, half_max, half_min, half_mul, half_sub,
                                              half_to_float)


@njit(cache=False)
def _widen(bits, out):
    for k in range(bits.shape[0]):
        out[k] = np.float32(half_to_float(bits[k])).view(np.uint32)


@njit(cache=False)
def _narrow(bits, out):
    for k in range(bits.shape[0]):
        out[k] = float_to_half(np.uint32(bits[k]).view(np.float32))


@njit(cache=False)
def _pairs(x, y, which, out):
    for k in range(x.shape[0]):
        out[k] = (half_add(x[k], y[k]) if which == 0 else half_max(x[k], y[k]) if which == 1
                  else half_min(x[k], y[k]) if which == 2 else half_sub(x[k], y[k]) if which == 3
                  else half_mul(x[k], y[k]))


def test_every_float16_widens_as_numpy():
    bits = np.arange(1 << 16, dtype=np.int64)
    got = np.empty(len(bits), np.uint32)
    _widen(bits, got)
    want = bits.astype(np.uint16).view(np.float16).astype(np.float32).view(np.uint32)
    np.testing.assert_array_equal(got, want)


def test_float32_values_round_to_float16_as_numpy():
    rng = np.random.default_rng(0)
    exponents = np.arange(0x60, 0x98, dtype=np.uint32) << 23  # 2**-31 .. 2**24: zero, subnormals, normals, inf
    around = (exponents[:, None] + np.arange(0, 1 << 23, 997, dtype=np.uint32)[None, :]).ravel()
    ties = (exponents[:, None] + (np.arange(0, 1 << 10, dtype=np.uint32) << 13)[None, :]).ravel()
    ties = np.concatenate([ties, ties + 0x1000, ties + 0x1001, ties + 0xFFF, ties + 0x3000])  # halfway and near it
    specials = np.array([0, 0x7F800000, 0x7F800001, 0x7FC00000, 0x7FBFFFFF, 0x7F802000, 0x477FEFFF, 0x477FF000,
                         0x47800000, 0x33000000, 0x33000001, 0x387FC000, 0x387FE000, 0x38800000], dtype=np.uint32)
    patterns = np.concatenate([rng.integers(0, 1 << 32, 1 << 20, dtype=np.uint64).astype(np.uint32), around, ties,
                               specials])
    patterns = np.concatenate([patterns, patterns | 0x80000000])  # both signs
    got = np.empty(len(patterns), np.int64)
    _narrow(patterns, got)
    with np.errstate(all="ignore"):
        want = patterns.view(np.float32).astype(np.float16).view(np.uint16).astype(np.int64)
    np.testing.assert_array_equal(got, want)


def test_adds_maxima_minima_differences_and_products_of_float16_pairs_are_numpy_s():
    rng = np.random.default_rng(1)
    special = np.array([0x0000, 0x8000, 0x7C00, 0xFC00, 0x7E00, 0xFE00, 0x7C01, 0x7D21, 0xFD03, 0x0001, 0x8001,
                        0x03FF, 0x0400, 0x7BFF, 0xFBFF, 0x3C00, 0x3C01, 0x1000], dtype=np.int64)
    grid_x, grid_y = np.meshgrid(special, special)
    x = np.concatenate([rng.integers(0, 1 << 16, 1 << 20), grid_x.ravel()])
    y = np.concatenate([rng.integers(0, 1 << 16, 1 << 20), grid_y.ravel()])
    a, b = x.astype(np.uint16).view(np.float16), y.astype(np.uint16).view(np.float16)
    for which, ufunc in enumerate((np.add, np.maximum, np.minimum, np.subtract, np.multiply)):
        got = np.empty(len(x), np.int64)
        _pairs(x, y, which, got)
        with np.errstate(all="ignore"):
            want = ufunc(a, b).view(np.uint16).astype(np.int64)
        np.testing.assert_array_equal(got, want, err_msg=ufunc.__name__)
