"""Mixed-precision dense layer (kernels/ml/mixed.py, `precision=` of dense_forward / dense_backward): 16-bit
weights and activations, float32 accumulation, checked bit for bit against NumPy doing the same rounding in
the same order, and simulated faster than the float32 kernel where `WaferSpec.vector_lanes_half` says so.
"""
from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest

import wafersim as ws
from wafersim.kernels import ml
from wafersim.kernels.ml.mixed import matmul_mixed

PRECISIONS = {"float16": np.dtype(np.float16), "bfloat16": np.dtype(ml_dtypes.bfloat16)}


def sequential_matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a @ b of 16-bit matrices accumulated in float32, k = 0, 1, ...: each 16-bit product is exact in
    float32 and each sum rounds once, the order the SUMMA kernel adds them in."""
    a32, b32 = a.astype(np.float32), b.astype(np.float32)
    c = np.zeros((a.shape[0], b.shape[1]), np.float32)
    for k in range(a.shape[1]):
        c = c + np.outer(a32[:, k], b32[k, :])
    return c


def operands(dtype, seed: int, shapes):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(shape).astype(dtype) for shape in shapes]


@pytest.mark.parametrize("precision", PRECISIONS)
def test_dense_forward_and_backward_match_numpy_bit_for_bit(precision):
    dtype = PRECISIONS[precision]
    x, w, dy = operands(dtype, 3, [(6, 11), (11, 5), (6, 5)])
    b = np.random.default_rng(4).standard_normal(5).astype(np.float32)
    y, stats = ml.dense_forward(x, w, b, tile=4, precision=precision)
    assert y.dtype == dtype and stats.flops > 0
    np.testing.assert_array_equal(y.view(np.uint16), (sequential_matmul(x, w) + b).astype(dtype).view(np.uint16))
    (dx, dw, db), _ = ml.dense_backward(x, w, dy, tile=4, precision=precision)
    assert dx.dtype == dtype and dw.dtype == np.float32 and db.dtype == np.float32
    np.testing.assert_array_equal(dx.view(np.uint16), sequential_matmul(dy, w.T).astype(dtype).view(np.uint16))
    np.testing.assert_array_equal(dw, sequential_matmul(x.T, dy))
    np.testing.assert_allclose(db, dy.astype(np.float64).sum(axis=0), rtol=1e-6)


def test_float32_inputs_are_rounded_to_the_precision_first():
    rng = np.random.default_rng(5)
    x, w = rng.standard_normal((4, 4)), rng.standard_normal((4, 4))  # float64
    b = np.zeros(4, np.float32)
    y, _ = ml.dense_forward(x, w, b, tile=4, precision="bfloat16")
    bf16 = PRECISIONS["bfloat16"]
    expected = sequential_matmul(x.astype(bf16), w.astype(bf16)).astype(bf16)
    np.testing.assert_array_equal(y.view(np.uint16), expected.view(np.uint16))


def test_mixed_precision_product_takes_fewer_cycles_where_16_bit_lanes_are_wider():
    """On a scaled-down wse2 (1 float32 FMAC a cycle, 4 float16), the same mixed product in the same tiles on
    the same block: fewer simulated cycles than on a machine whose 16-bit rate is the float32 one, by about
    the element cycles saved. (The float32 library GEMM is a different kernel, rank-1 updates with
    background transfers, so its cycles are no yardstick for the 16-bit rate.)"""
    spec = ws.WaferSpec.preset("wse2", width=2, height=2)
    a, b = operands(np.float16, 6, [(16, 16), (16, 16)])
    _, fp32 = ml.matmul(a, b, tile=8, device=ws.Device(spec))
    _, mixed = matmul_mixed(a, b, "float16", tile=8, device=ws.Device(spec))
    assert mixed.flops == fp32.flops == 2 * 16 ** 3
    # Element cycles of the fmas alone, per PE: (16 / 8 steps) * 64 row fmas of 8 elements.
    fmas = 2 * 64
    saved = fmas * (8 / spec.vector_lanes - 8 / spec.vector_lanes_half)
    same_rate = spec.replace(vector_lanes_half=spec.vector_lanes)
    _, slow = matmul_mixed(a, b, "float16", tile=8, device=ws.Device(same_rate))
    assert slow.cycles - mixed.cycles > saved / 2  # the gain is the 16-bit rate, not the kernel's shape


def test_bad_precision_and_shapes_are_ml_shape_errors():
    x = np.ones((2, 3), np.float16)
    with pytest.raises(ml.MLShapeError, match="precision must be one of"):
        ml.dense_forward(x, np.ones((3, 2)), np.zeros(2), precision="half")
    with pytest.raises(ml.MLShapeError, match="inner dimensions differ"):
        matmul_mixed(x, np.ones((4, 2), np.float16), "float16")
    with pytest.raises(ml.MLShapeError, match="16-bit precision"):
        matmul_mixed(x, np.ones((3, 2), np.float16), "float32")


@pytest.mark.parametrize("precision, big", [("float16", 7e4), ("float16", -1e6), ("bfloat16", 3.4e38)])
def test_float32_inputs_beyond_the_16_bit_range_are_refused_not_made_inf(precision, big):
    # float32 x, w or dy are rounded to the 16-bit type; a finite value past its largest (float16: 65504)
    # became inf with only NumPy's RuntimeWarning, and the product inf, as a float64 beyond float32's
    # range would have: the library's input rule refuses it instead, naming the argument.
    with np.errstate(over="ignore"):
        assert np.isinf(np.float32(big).astype(PRECISIONS[precision]))    # what the rounding would give
    x, w, dy = operands(np.float32, 5, [(4, 8), (8, 4), (4, 4)])
    x[1, 2] = big
    with pytest.raises(ws.ArgumentError, match=f"x holds .*beyond {precision}'s range"):
        ml.dense_forward(x, w, np.zeros(4, np.float32), precision=precision)
    with pytest.raises(ws.ArgumentError, match="a holds"):
        matmul_mixed(x, w, precision=precision)
    dy[0, 0] = big
    with pytest.raises(ws.ArgumentError, match="dy holds"):
        ml.dense_backward(x / np.float32(1e6), w, dy, precision=precision)
    # values at the top of the range are rounded, as mixed precision asks, and match NumPy's rounding
    x[1, 2] = 65504.0 if precision == "float16" else 3e38
    y, _ = ml.matmul_mixed(x, np.eye(8, dtype=np.float32), precision=precision)
    np.testing.assert_array_equal(y, x.astype(PRECISIONS[precision]).astype(np.float32))
