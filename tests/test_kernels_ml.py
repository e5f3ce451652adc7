"""ML kernels (wafersim.kernels.ml) against float64 NumPy references, forward and backward, at small and
odd sizes; gradients are also checked against finite differences of the NumPy forward."""
from __future__ import annotations

import math

import numpy as np
import pytest

import wafersim as ws
from wafersim.kernels import ml
from wafersim.kernels.ml.dense import summa_side

ATOL = 2e-5  # float32 results of O(1) values against float64


def gelu(x):
    return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))


FORWARD = {"relu": lambda x: np.maximum(x, 0), "gelu": gelu, "tanh": np.tanh}


def numeric_grad(f, x, dy, h=1e-6):
    """d(sum(f(x) * dy))/dx by central differences, element-wise functions only."""
    return (f(x + h) - f(x - h)) / (2 * h) * dy


def softmax64(x):
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def layer_norm64(x, gamma, beta, eps):
    mean = x.mean(axis=1, keepdims=True)
    rstd = 1 / np.sqrt(x.var(axis=1, keepdims=True) + eps)
    return (x - mean) * rstd * gamma + beta, mean[:, 0], rstd[:, 0]


def rand(rng, *shape):
    return rng.standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize("kind", ["relu", "gelu", "tanh"])
def test_activations_and_their_derivatives(kind):
    rng = np.random.default_rng(1)
    x, dy = rand(rng, 3, 19), rand(rng, 3, 19)            # 19 columns: chunks of 8, 8 and 3
    x[0, 0] = 0.5                                          # a ReLU input clearly on each side of 0
    x[0, 1] = -0.5
    y, stats = ml.activation_forward(x, kind)
    x64 = x.astype(np.float64)
    np.testing.assert_allclose(y, FORWARD[kind](x64), atol=ATOL)
    assert stats.block == (3, 1) and stats.grid == (1, 3)
    dx, _ = ml.activation_backward(x, dy, kind)
    np.testing.assert_allclose(dx, numeric_grad(FORWARD[kind], x64, dy.astype(np.float64)), atol=1e-4)


def test_relu_derivative_passes_dy_where_x_is_positive_and_0_elsewhere_even_nan():
    """As documented (and as PyTorch's): dy where x > 0, else 0, so a NaN or inf dy at x <= 0 (a diverged
    loss's gradient) gives 0 where NumPy's dy * (x > 0) gives NaN; the documented rule is np.where."""
    x = np.array([[-1.0, 2.0, np.nan, 0.0, -0.0, np.inf, -np.inf, 3.0]], np.float32)
    dy = np.array([[np.nan, np.nan, 1.0, np.inf, 2.0, 1.0, np.nan, -np.inf]], np.float32)
    dx, _ = ml.activation_backward(x, dy, "relu")
    with np.errstate(invalid="ignore"):
        np.testing.assert_array_equal(dx, np.where(x > 0, dy, np.float32(0)))
        assert np.isnan(dy * (x > 0)).sum() == 4 and np.isnan(dx).sum() == 1    # NumPy's product differs


def test_gelu_derivative_of_huge_inputs_is_its_limit_not_nan():
    """Past |x| = 1.8e19, x * x is inf in float32 and the second term of GELU's derivative was 0 * inf = NaN;
    tanh has saturated long before (|x| > ~9), so the derivative is 0.5 * (1 + tanh(...)): 1, or 0 (-0.0)
    for negative x. Inputs of moderate size keep NumPy's values (the formula, in float64)."""
    x = np.array([[1e20, -1e20, 3e38, -3e38, 1e10, -1e10, 12.0, -12.0, 2.5, -0.7]], np.float32)
    dy = np.full_like(x, 3.0)
    dx, _ = ml.activation_backward(x, dy, "gelu")
    x64 = x.astype(np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        t = np.tanh(math.sqrt(2 / math.pi) * (x64 + 0.044715 * x64 ** 3))
        want = 3.0 * (0.5 * (1 + t) + 0.5 * x64 * (1 - t * t) * math.sqrt(2 / math.pi) * (1 + 3 * 0.044715 * x64 ** 2))
    want[np.abs(x64) > 1e19] = np.where(x64[np.abs(x64) > 1e19] > 0, 3.0, 0.0)  # (NumPy's float64 NaN at 3e38)
    assert not np.isnan(dx).any()
    np.testing.assert_allclose(dx, want, rtol=1e-5, atol=1e-6)


def test_bias_add_and_column_sum_odd_sizes():
    rng = np.random.default_rng(2)
    x, b = rand(rng, 7, 13), rand(rng, 13)
    y, _ = ml.bias_add(x, b)
    np.testing.assert_array_equal(y, x + b)               # one float32 addition each: exact
    z, _ = ml.add(x, y)
    np.testing.assert_array_equal(z, x + y)
    sums, stats = ml.column_sum(x)
    np.testing.assert_allclose(sums, x.astype(np.float64).sum(axis=0), atol=ATOL)
    assert stats.block == (2, 7) and stats.words_moved == 6 * 13  # partial sums pass north, row by row
    small = ws.Device(ws.WaferSpec(width=4, height=3))   # 7 rows on 3 rows of PEs: 3 rows per PE
    sums, stats = ml.column_sum(x, device=small)
    np.testing.assert_allclose(sums, x.astype(np.float64).sum(axis=0), atol=ATOL)
    assert stats.block == (2, 3)


@pytest.mark.parametrize("m, k, n, tile", [(5, 21, 7, 8), (3, 4, 9, 4), (16, 16, 16, 8)])
def test_dense_forward_and_backward(m, k, n, tile):
    rng = np.random.default_rng(m * k * n)
    x, w, b, dy = rand(rng, m, k), rand(rng, k, n), rand(rng, n), rand(rng, m, n)
    x64, w64, dy64 = x.astype(np.float64), w.astype(np.float64), dy.astype(np.float64)
    y, stats = ml.dense_forward(x, w, b, tile=tile)
    np.testing.assert_allclose(y, x64 @ w64 + b, atol=1e-4)
    assert stats.program == "gemm_summa+bias_add"
    p, t = summa_side(m, k, n, tile)
    assert p == -(-max(m, k, n) // tile) and p * t >= max(m, k, n)
    assert stats.flops == 2 * (p * t) ** 3 + m * n         # the padded square's fmas, then the bias adds
    (dx, dw, db), stats = ml.dense_backward(x, w, dy, tile=tile)
    np.testing.assert_allclose(dx, dy64 @ w64.T, atol=1e-4)
    np.testing.assert_allclose(dw, x64.T @ dy64, atol=1e-4)
    np.testing.assert_allclose(db, dy64.sum(axis=0), atol=1e-4)
    assert stats.program == "gemm_summa+gemm_summa+column_sum"
    (no_dx, dw2, _), _ = ml.dense_backward(x, w, dy, tile=tile, need_dx=False)
    assert no_dx is None and np.array_equal(dw2, dw)


def test_matmul_uses_the_mesh_and_checks_shapes():
    rng = np.random.default_rng(3)
    a, b = rand(rng, 9, 10), rand(rng, 10, 11)
    c, stats = ml.matmul(a, b, tile=4)                     # 3 x 3 PEs, 4 x 4 tiles of a 12 x 12 square
    np.testing.assert_allclose(c, a.astype(np.float64) @ b, atol=1e-4)
    assert stats.block == (3, 3) and stats.words_moved > 0 and stats.flops == 2 * 12 ** 3
    with pytest.raises(ml.MLShapeError):
        ml.matmul(a, a)                                    # inner dimensions differ
    with pytest.raises(ml.TileTooLargeError, match="60 x 60"):
        ml.matmul(rand(rng, 60, 60), rand(rng, 60, 60), tile=60)   # five 60 x 60 tiles exceed 48 KiB
    # tile= caps the tiles: this product is one 11 x 11 tile, which fits (float32 was refused for the cap,
    # 60 x 60, where mixed precision checked the tiles used)
    c60, stats60 = ml.matmul(a, b, tile=60)
    np.testing.assert_allclose(c60, a.astype(np.float64) @ b, atol=1e-4)
    assert stats60.block == (1, 1)
    with pytest.raises(ml.MLShapeError):
        ml.matmul(a, b, tile=2, device=ws.Device(ws.WaferSpec(width=4, height=4)))  # needs 6 x 6 PEs
    assert issubclass(ml.MLShapeError, ws.WaferError) and issubclass(ml.TileTooLargeError, ws.OutOfMemoryError)


def test_softmax_and_its_backward():
    rng = np.random.default_rng(4)
    x, dy = 3 * rand(rng, 4, 17), rand(rng, 4, 17)
    y, stats = ml.softmax(x)
    y64 = softmax64(x.astype(np.float64))
    np.testing.assert_allclose(y, y64, atol=1e-6)
    assert stats.words_moved > 0                           # max and sum all-reduced over 3 PEs per row
    dx, _ = ml.softmax_backward(y, dy)
    jacobian_product = y64 * (dy - (dy * y64).sum(axis=1, keepdims=True))
    np.testing.assert_allclose(dx, jacobian_product, atol=1e-6)


def test_softmax_of_large_logits_is_stable():
    x = np.array([[1000.0, 1001.0, 999.0], [-1000.0, -1000.0, -1000.0]], np.float32)
    y, _ = ml.softmax(x, chunk=2)
    np.testing.assert_allclose(y, softmax64(x.astype(np.float64)), atol=1e-6)


def test_softmax_and_cross_entropy_of_logits_near_float32s_lowest():
    """The row max starts from -inf, not -3e38: logits below -3e38 (float32 reaches -3.4e38) gave rows of
    NaN (every exp(x - (-3e38)) underflowed to 0, then 0 / 0) and a loss of -inf, where NumPy's softmax of
    equal logits is uniform. A row of -inf stays NaN, as NumPy's."""
    x = np.array([[-3.4e38, -3.4e38, -3.3e38], [-3.2e38, -3.2e38, -3.2e38], [-np.inf, -np.inf, -np.inf]],
                 np.float32)
    with np.errstate(invalid="ignore"):
        want = softmax64(x.astype(np.float64))             # [0, 0, 1], uniform, NaN
    y, _ = ml.softmax(x, chunk=2)                          # rows over 2 PEs: the max is all-reduced
    np.testing.assert_allclose(y, want, atol=1e-6)
    assert np.isnan(y[2]).all()
    y, _ = ml.softmax(x[:2], chunk=2, causal=True)         # row 0 keeps column 0 only: 1; row 1 columns 0, 1
    np.testing.assert_allclose(y, [[1, 0, 0], [0.5, 0.5, 0]], atol=1e-6)
    (losses, grad), _ = ml.cross_entropy(x[:2], np.array([2, 0]))
    np.testing.assert_allclose(losses, -np.log(want[[0, 1], [2, 0]]), atol=1e-5)   # 0 and log 3
    np.testing.assert_allclose(grad, (want[:2] - np.eye(3)[[2, 0]]) / 2, atol=1e-6)


def test_cross_entropy_of_logits_far_from_zero_keeps_its_digits():
    """The loss is (max - x[label]) + log(sum(exp(x - max))), as NumPy's log_softmax forms it: max + log(...)
    - x[label] rounded the log to the spacing of the logits (0.001 at 1e4, 8 at 1e8: a loss of 0 for 1e8)."""
    logits = np.array([[1e4 + 0.5, 1e4, 1e4 - 3.0], [1e8, 1e8, 1e8], [-1e8, -1e8 + 8, -1e8]], np.float32)
    labels = np.array([1, 2, 0])
    (losses, _), _ = ml.cross_entropy(logits, labels, chunk=2)
    x64 = logits.astype(np.float64)
    want = -np.log(softmax64(x64)[np.arange(3), labels])   # 0.974..., log 3, 8 + log(2 + e**-8)
    np.testing.assert_allclose(losses, want, rtol=1e-6)


def test_layer_norm_forward_and_backward():
    rng = np.random.default_rng(5)
    x, gamma, beta, dy = rand(rng, 5, 11) + 2, rand(rng, 11), rand(rng, 11), rand(rng, 5, 11)
    (y, mean, rstd), _ = ml.layer_norm(x, gamma, beta, eps=1e-5)
    y64, mean64, rstd64 = layer_norm64(x.astype(np.float64), gamma, beta, 1e-5)
    np.testing.assert_allclose(y, y64, atol=1e-4)
    np.testing.assert_allclose(mean, mean64, atol=1e-5)
    np.testing.assert_allclose(rstd, rstd64, rtol=1e-4)
    (dx, dgamma, dbeta), stats = ml.layer_norm_backward(x, gamma, mean, rstd, dy)
    assert stats.program == "layer_norm_backward_rows+column_sum+column_sum"

    def loss(xv, gv, bv):                                  # sum(layer_norm(x) * dy), in float64
        return float((layer_norm64(xv, gv, bv, 1e-5)[0] * dy).sum())

    x64, g64, b64 = x.astype(np.float64), gamma.astype(np.float64), beta.astype(np.float64)
    h = 1e-6
    for (i, j) in [(0, 0), (2, 5), (4, 10)]:
        step = np.zeros_like(x64)
        step[i, j] = h
        assert dx[i, j] == pytest.approx((loss(x64 + step, g64, b64) - loss(x64 - step, g64, b64)) / (2 * h),
                                         abs=1e-3)
    xhat = (x64 - mean64[:, None]) * rstd64[:, None]
    np.testing.assert_allclose(dgamma, (dy * xhat).sum(axis=0), atol=1e-4)
    np.testing.assert_allclose(dbeta, dy.astype(np.float64).sum(axis=0), atol=1e-4)


def test_layer_norm_of_rows_whose_float32_moments_overflow_is_refused_not_beta():
    """The mean and variance are float32 sums: [2e19, 2e19, -2e19] squares its deviations past 3.4e38, so the
    variance was inf, rstd 0 and y = beta (here 0) without a word, where NumPy's float64 layer norm gives
    [0.71, 0.71, -1.41]; a constant row of 2e38 sums to inf (y NaN, NumPy: 0). Both are refused, naming the row;
    1e18 (squares near 3e36) and a row holding inf (NaN, as NumPy) still run."""
    gamma, beta = np.ones(3, np.float32), np.zeros(3, np.float32)
    for bad in ([2e19, 2e19, -2e19], [2e38, 2e38, 2e38]):
        x = np.array([[1.0, 2.0, 4.0], bad], np.float32)
        with pytest.raises(ml.MLShapeError, match="row 1 of x .* beyond float32's range"):
            ml.layer_norm(x, gamma, beta)
        (y, _, _), _ = ml.layer_norm(x / np.float32(1e19), gamma, beta, eps=1e-30)   # scaled down, as it says
        np.testing.assert_allclose(y, layer_norm64(x.astype(np.float64), gamma, beta, 1e8)[0], atol=1e-5)
    x = np.array([[1e18, 1e18, -1e18], [np.inf, 1.0, 2.0]], np.float32)
    (y, _, _), _ = ml.layer_norm(x, gamma, beta)
    np.testing.assert_allclose(y[0], layer_norm64(x[:1].astype(np.float64), gamma, beta, 1e-5)[0][0], atol=1e-5)
    assert np.isnan(y[1]).all()


def test_cross_entropy_loss_and_gradient():
    rng = np.random.default_rng(6)
    logits = 2 * rand(rng, 6, 10)
    labels = np.array([0, 9, 3, 8, 7, 1])                  # columns in every chunk, first and last
    (losses, grad), stats = ml.cross_entropy(logits, labels)
    p = softmax64(logits.astype(np.float64))
    np.testing.assert_allclose(losses, -np.log(p[np.arange(6), labels]), atol=1e-5)
    onehot = np.eye(10)[labels]
    np.testing.assert_allclose(grad, (p - onehot) / 6, atol=1e-6)
    assert stats.grid == (1, 6) and stats.block == (2, 1)
    with pytest.raises(ml.MLShapeError):
        ml.cross_entropy(logits, np.array([0, 1, 2, 3, 4, 10]))   # label out of range
    with pytest.raises(ml.MLShapeError):
        ml.cross_entropy(logits, labels[:5])


def test_bad_arguments_are_wafer_errors():
    x = np.ones((2, 3), np.float32)
    with pytest.raises(ml.MLShapeError):
        ml.activation_forward(x, "sigmoid")
    with pytest.raises(ml.MLShapeError):
        ml.bias_add(x, np.ones(4))
    with pytest.raises(ml.MLShapeError):
        ml.softmax(np.ones(3))                             # 1-D
    with pytest.raises(ml.TileTooLargeError):
        ml.softmax(x, chunk=10_000)
    with pytest.raises(ml.MLShapeError):
        ml.softmax(np.ones((2, 40), np.float32), chunk=4, device=ws.Device(ws.WaferSpec(width=8, height=8)))


def test_combined_stats_add_up_and_split_time():
    x = np.random.default_rng(7).standard_normal((4, 9)).astype(np.float32)
    dev = ws.Device(ws.WaferSpec(width=8, height=8))
    _, first = ml.softmax(x, device=dev)
    _, second = ml.activation_forward(x, "tanh", device=dev)
    both = ml.combine_stats([first, second])
    assert both.cycles == first.cycles + second.cycles
    assert both.instructions == first.instructions + second.instructions
    assert np.array_equal(both.link_words, first.link_words + second.link_words)
    assert both.op_counts["ftanh"] == second.op_counts["ftanh"] == 36
    (dx, dw, db), _ = ml.dense_backward(x, x.T, x @ x.T, device=dev)
    assert dev.memory.used_bytes == 0                      # host functions free their device arrays
    compute, waiting = ml.time_split(first)
    assert compute > 0 and waiting > 0 and compute + waiting == pytest.approx(first.seconds)


def attention64(q, k, v, causal):
    """out, P and the loss sum(out * d_out)'s gradients, in float64 NumPy."""
    scores = q @ k.T / np.sqrt(q.shape[1])
    if causal:
        scores = np.where(np.tril(np.ones(scores.shape, bool)), scores, -np.inf)
    p = softmax64(scores)
    return p @ v, p


@pytest.mark.parametrize("causal", [False, True])
def test_attention_forward_and_backward(causal):
    rng = np.random.default_rng(8)
    q, k, v, d_out = (rand(rng, 5, 6) for _ in range(4))   # 5 tokens of 6 features
    (out, probs), stats = ml.attention_forward(q, k, v, causal=causal, tile=4, chunk=4)
    q64, k64, v64, g64 = (a.astype(np.float64) for a in (q, k, v, d_out))
    out64, p64 = attention64(q64, k64, v64, causal)
    np.testing.assert_allclose(probs, p64, atol=1e-6)
    np.testing.assert_allclose(out, out64, atol=1e-5)
    assert stats.program == "gemm_summa+softmax_rows+gemm_summa"
    if causal:
        assert np.all(probs[np.triu_indices(5, 1)] == 0)
    (dq, dk, dv), stats = ml.attention_backward(q, k, v, probs, d_out, tile=4, chunk=4)
    h = 1e-6
    for name, got, arg in (("q", dq, 0), ("k", dk, 1), ("v", dv, 2)):
        for (i, j) in [(0, 0), (2, 3), (4, 5)]:
            args = [q64, k64, v64]
            up, down = [a.copy() for a in args], [a.copy() for a in args]
            up[arg][i, j] += h
            down[arg][i, j] -= h
            loss_up, loss_down = ((attention64(*a, causal)[0] * g64).sum() for a in (up, down))
            numeric = (loss_up - loss_down) / (2 * h)
            assert got[i, j] == pytest.approx(numeric, abs=1e-4), (name, i, j)
    with pytest.raises(ml.MLShapeError):
        ml.attention_forward(q, k[:4], v)


@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
def test_check_product_fits_counts_what_the_launch_counts(precision):
    # A 8 x 12 @ 12 x 16 product on 8 x 8 tiles: past the tile check, the compiled kernel's code and spills
    # still overflow 2 KiB, as the product itself finds when it launches.
    a, b = np.ones((8, 12), np.float32), np.ones((12, 16), np.float32)
    run = (lambda dev: ml.dense.matmul(a, b, device=dev)) if precision == "float32" else (
        lambda dev: ml.mixed.matmul_mixed(a, b, precision, bias=np.zeros(16, np.float32), round_out=True, device=dev))
    sram = 2048
    small = ws.Device(ws.WaferSpec(width=8, height=8, sram_bytes=sram))
    with pytest.raises(ws.SramBudgetError) as launched:
        run(small)
    with pytest.raises(ws.SramBudgetError) as checked:
        ml.dense.check_product_fits(8, 12, 16, 8, small, precision, (True,), (True,))
    assert checked.value.needed == launched.value.needed > sram
    assert small.memory.used_bytes == 0                           # the probes are freed
    enough = ws.Device(ws.WaferSpec(width=8, height=8, sram_bytes=launched.value.needed))
    ml.dense.check_product_fits(8, 12, 16, 8, enough, precision, (True,), (True,))
    product, _ = run(enough)
    assert np.allclose(product[:, :16] if product.ndim == 2 else product, a @ b, rtol=1e-2)


def test_inputs_follow_the_librarys_float32_rule_not_numpys_silent_casts():
    """`as_matrix` used NumPy's cast: a complex x lost its imaginary part (a ComplexWarning only), None became
    NaN, 2**25 + 1 became 2**25 and 1e39 became inf. Now each is refused, naming the argument, as every float32
    host function of the library refuses them; exact values (2**24, float64 that rounds) still run."""
    eye = np.eye(2, dtype=np.float32)
    with pytest.raises(ws.ArgumentTypeError, match="a is complex"):
        ml.matmul(np.eye(2) * (1 + 1j), eye)
    with pytest.raises(ws.ArgumentTypeError, match="x holds None"):
        ml.softmax(np.array([[1.0, None]], dtype=object))
    with pytest.raises(ws.ArgumentError, match=r"b holds integers beyond 2\*\*24"):
        ml.matmul(eye, np.array([[2**25 + 1, 0], [0, 1]]))
    with pytest.raises(ws.ArgumentError, match="x holds .*beyond float32's range"):
        ml.layer_norm(np.array([[1e39, 0.0]]), np.ones(2, np.float32), np.zeros(2, np.float32), 1e-5)
    with pytest.raises(ws.ArgumentError, match="gamma holds .*beyond float32's range"):
        ml.layer_norm(eye, np.array([1e39, 1.0]), np.zeros(2, np.float32), 1e-5)
    with pytest.raises(ws.ArgumentError, match="x holds .*beyond float32's range"):
        ml.dense_forward(np.array([[1e39, 0.0]]), eye, np.zeros(2, np.float32), precision="bfloat16")
    exact = np.array([[2**24, 0], [0, 3]])
    np.testing.assert_array_equal(ml.matmul(exact, eye)[0], exact.astype(np.float32))
    y16, _ = ml.dense_forward(np.array([[0.1, 2.0]]), eye, np.zeros(2, np.float32), precision="float16")
    assert y16.dtype == np.float16 and y16.tolist() == [[np.float16(np.float32(0.1)), 2.0]]


def test_scalar_options_that_would_give_nan_rows_are_refused():
    """softmax's `scale` and layer_norm's `eps`: a string was a bare ValueError, NaN / inf / a negative eps
    gave rows of NaN without an error. A finite scale and a positive eps still match NumPy."""
    x = np.random.default_rng(4).standard_normal((3, 5)).astype(np.float32)
    ones, zeros = np.ones(5, np.float32), np.zeros(5, np.float32)
    with pytest.raises(ws.ArgumentTypeError, match="scale must be a real number"):
        ml.softmax(x, scale="2")
    for bad in (np.nan, np.inf):
        with pytest.raises(ml.MLShapeError, match="scale must be a finite number"):
            ml.softmax(x, scale=bad)
        with pytest.raises(ml.MLShapeError, match="scale must be a finite number"):
            ml.softmax_backward(x, x, scale=bad)
    for bad in (-1.0, 0.0, np.nan):
        with pytest.raises(ml.MLShapeError, match="eps must be a finite number above 0"):
            ml.layer_norm(x, ones, zeros, bad)
    e = np.exp(3 * x - (3 * x).max(axis=1, keepdims=True))
    np.testing.assert_allclose(ml.softmax(x, scale=np.int64(3))[0], e / e.sum(axis=1, keepdims=True), atol=1e-6)
    (y, _, _), _ = ml.layer_norm(x, ones, zeros, 0.5)
    want = (x - x.mean(axis=1, keepdims=True)) / np.sqrt(x.var(axis=1, keepdims=True) + 0.5)
    np.testing.assert_allclose(y, want, atol=1e-5)


def test_cross_entropy_grad_scale_is_checked_and_scales_the_gradient():
    # grad_scale was passed on unchecked: NaN gave a gradient of NaN without a word, a string NumPy's bare
    # ValueError, 1e39 a LaunchError about "argument 4".
    logits = np.random.default_rng(9).standard_normal((3, 5)).astype(np.float32)
    labels = np.array([4, 0, 2])
    for bad, error in [(np.nan, ws.WaferError), (np.inf, ws.WaferError), (1e39, ws.ArgumentError),
                       ("a", ws.ArgumentTypeError)]:
        with pytest.raises(error, match="grad_scale"):
            ml.cross_entropy(logits, labels, grad_scale=bad)
    (_, grad), _ = ml.cross_entropy(logits, labels, grad_scale=0.125)
    e = np.exp(logits.astype(np.float64) - logits.max(axis=1, keepdims=True))
    want = (e / e.sum(axis=1, keepdims=True) - np.eye(5)[labels]) * 0.125
    np.testing.assert_allclose(grad, want, atol=1e-7)


def test_a_matrix_is_not_taken_for_a_vector():
    # as_vector flattened any array of the right size, so a (3, 3) bias was added to 9 features as if it
    # were one row (NumPy refuses to broadcast it); rows and columns of the right length are still vectors.
    x = np.random.default_rng(10).standard_normal((4, 9)).astype(np.float32)
    bias = np.arange(9, dtype=np.float32)
    with pytest.raises(ws.WaferError, match=r"b must be a vector of 9 elements, got shape \(3, 3\)"):
        ml.bias_add(x, bias.reshape(3, 3))
    with pytest.raises(ws.WaferError, match="gamma must be a vector"):
        ml.layer_norm(x, np.ones((3, 3), np.float32), np.zeros(9, np.float32))
    for shape in [(9,), (1, 9), (9, 1)]:
        out, _ = ml.bias_add(x, bias.reshape(shape))
        np.testing.assert_array_equal(out, x + bias)


@pytest.mark.parametrize("bad", [["relu"], {}, None])
def test_an_activation_or_precision_that_is_no_name_is_an_ml_error_not_unhashable(bad):
    """A list or dict given as the activation or the precision was Python's bare "unhashable type"."""
    x = np.linspace(-1.0, 1.0, 6, dtype=np.float32).reshape(2, 3)
    with pytest.raises(ml.MLShapeError, match="activation must be one of"):
        ml.activation_forward(x, bad)
    with pytest.raises(ml.MLShapeError, match="precision must be one of"):
        ml.dense_forward(x, np.ones((3, 2), np.float32), np.zeros(2, np.float32), precision=bad if bad else [])
    y, _ = ml.activation_forward(x, "relu")
    assert np.array_equal(y, np.maximum(x, 0))


@pytest.mark.parametrize("call", [
    lambda x, d: ml.softmax(x, device=d), lambda x, d: ml.matmul(x, x, device=d),
    lambda x, d: ml.dense_forward(x, x, np.zeros(3, np.float32), device=d), lambda x, d: ml.column_sum(x, device=d),
    lambda x, d: ml.matmul_mixed(x.astype(np.float16), x.astype(np.float16), device=d),
    lambda x, d: ml.attention_forward(x, x, x, device=d)])
def test_a_device_that_is_no_device_is_an_argument_type_error(call):
    """`ml.softmax(x, device="dev")` (or a WaferSpec) was Python's "'str' object has no attribute 'spec'"."""
    x = np.eye(3, dtype=np.float32)
    for bad in ("dev", ws.WaferSpec(width=4, height=4)):
        with pytest.raises(ws.ArgumentTypeError, match="device must be a wafersim Device"):
            call(x, bad)
    result = call(x, ws.Device(ws.WaferSpec(width=4, height=4)))[0]
    assert np.asarray(result[0] if isinstance(result, tuple) else result).shape[-1] == 3


@pytest.mark.parametrize("call, match", [
    (lambda x: ml.dense_forward(x, x, np.zeros(3, np.float32), precison="float16"), "did you mean 'precision'"),
    (lambda x: ml.matmul(x, x, tiles=8), "did you mean 'tile'"),
    (lambda x: ml.softmax(x, dim=1), "unexpected keyword argument 'dim'"),
    (lambda x: ml.cross_entropy(x), "missing 1 required positional argument: 'labels'"),
])
def test_a_call_that_does_not_fit_is_an_argument_type_error(call, match):
    """(user54) These were Python's bare TypeError, not a `WaferError`; the spelling that fits still runs."""
    x = np.eye(3, dtype=np.float32)
    with pytest.raises(ws.ArgumentTypeError, match=match):
        call(x)
    y, _ = ml.dense_forward(x, x, np.zeros(3, np.float32), precision="float16")
    assert (y == x.astype(np.float16)).all()


@pytest.mark.parametrize("defects, pe_rows", [([(0, 0)], 4), ([(3, 0), (5, 6)], 4), ([(1, 7)], 4)])
def test_column_sum_on_a_wafer_whose_defects_retire_a_row_uses_the_rows_left(defects, pe_rows):
    """A column sum as tall as the mesh (8 rows of 8 PEs for 8 rows in chunks of 1) failed at launch with a
    LaunchError on a wafer whose defects leave a row too few live PEs and no spare to replace it (a
    weight-streaming step's bias gradient did so); it now uses the rows of PEs the wafer can lay out."""
    x = np.random.default_rng(6).standard_normal((8, 8)).astype(np.float32)
    device = ws.Device(ws.WaferSpec(width=8, height=8, defects=defects))
    out, stats = ml.column_sum(x, chunk=1, device=device)
    np.testing.assert_allclose(out, x.astype(np.float64).sum(axis=0), rtol=1e-6, atol=1e-6)
    assert stats.block == (8, pe_rows) and stats.waves == 1


def test_a_streaming_step_on_a_wafer_with_a_retired_row_is_numpys():
    from wafersim import train
    from wafersim.train.reference import train_reference
    model = train.Model.mlp([4, 8, 2])
    x, labels = train.synthetic_classification(8, 4, 2, seed=1)
    device = ws.Device(ws.WaferSpec(width=8, height=8, defects=[(0, 0)]))
    trainer = train.Trainer(model, train.SGD(), batch_size=8, device=device, mode="streaming", chunk=1)
    start = trainer.params
    losses = [r.loss for r in trainer.fit(x, labels, steps=2)]
    reference, _ = train_reference(model, start, train.SGD(), x, labels, 2, 8)
    np.testing.assert_allclose(losses, reference, rtol=1e-4)


@pytest.mark.parametrize("defects", [[(0, 0)], [(7, 7)], [(x, 3) for x in range(8)], [(0, 0), (3, 3), (7, 1), (2, 6)]])
@pytest.mark.parametrize("rows, cols, chunk", [(8, 8, 1), (16, 8, 1), (15, 8, 1), (61, 15, 2)])
def test_column_sum_on_a_wafer_whose_defects_retire_rows_is_the_perfect_wafers_bit_for_bit(defects, rows, cols,
                                                                                          chunk):
    """On fewer rows of PEs the sums were added in another order (each PE's rows first, then the partial from
    the south): a streaming trainer's bias gradient, and so its weights, differed from the perfect wafer's in
    the last bits (docs/defects.md: results bit-identical). Each PE row now adds the perfect block's groups of
    rows in that block's order."""
    x = (np.random.default_rng(rows + cols).standard_normal((rows, cols))
         * 10.0 ** np.random.default_rng(1).uniform(-3, 3, (rows, 1))).astype(np.float32)
    out, stats = ml.column_sum(x, chunk=chunk, device=ws.Device(ws.WaferSpec(width=8, height=8, defects=defects)))
    perfect, perfect_stats = ml.column_sum(x, chunk=chunk, device=ws.Device(ws.WaferSpec(width=8, height=8)))
    assert stats.block[1] < perfect_stats.block[1]   # (fewer rows of PEs: the case under test)
    np.testing.assert_array_equal(out, perfect)
    np.testing.assert_allclose(out, x.astype(np.float64).sum(axis=0), rtol=1e-5,
                               atol=1e-6 * np.abs(x).sum(axis=0).max())


def test_a_streaming_trainers_weights_on_a_wafer_with_a_retired_row_are_the_perfect_wafers():
    from wafersim import train
    model = train.Model.mlp([8, 8, 3])
    x, labels = train.synthetic_classification(16, 8, 3, seed=2)
    params = []
    for spec in (ws.WaferSpec(width=8, height=8), ws.WaferSpec(width=8, height=8, defects=[(0, 0)])):
        trainer = train.Trainer(model, train.SGD(), batch_size=16, device=ws.Device(spec), mode="streaming",
                                chunk=1, params=model.init_params(0))
        trainer.fit(x, labels, steps=3)
        params.append(trainer.params)
    for name in params[0]:
        np.testing.assert_array_equal(params[1][name], params[0][name], err_msg=name)


ROW_0_KEEPS_ONE_PE = [(x, 0) for x in range(7)]   # an 8 x 8 wafer's row 0 keeps 1 live PE: 2-wide blocks have 7 rows


@pytest.mark.parametrize("sram, chunk, runs_with", [(2048, 128, 123), (4096, 128, 128)])
def test_column_sum_on_a_wafer_with_retired_rows_runs_a_chunk_its_sram_holds(sram, chunk, runs_with):
    """The grouped kernel keeps three chunks a PE (the plain one two, and `check_chunk` counts two): a chunk
    near the SRAM's limit was a SramBudgetError on a wafer whose defects retire a row where the perfect wafer
    ran it. It now runs a chunk that fits (2,048 bytes: 128 floats x 3 and the code are 2,108), with the
    perfect wafer's sums bit for bit; a chunk that fits is kept (4,096 bytes)."""
    x = (np.random.default_rng(sram).standard_normal((16, 256))
         * 10.0 ** np.random.default_rng(2).uniform(-3, 3, (16, 1))).astype(np.float32)
    defective = ws.Device(ws.WaferSpec(width=8, height=8, sram_bytes=sram, defects=ROW_0_KEEPS_ONE_PE))
    out, stats = ml.column_sum(x, chunk=chunk, device=defective)
    perfect, perfect_stats = ml.column_sum(x, chunk=chunk, device=ws.Device(ws.WaferSpec(width=8, height=8,
                                                                                          sram_bytes=sram)))
    assert perfect_stats.block == (2, 8) and stats.block == (-(-256 // runs_with), 4)   # (grouped: 2 groups a row)
    np.testing.assert_array_equal(out, perfect)
    np.testing.assert_allclose(out, x.astype(np.float64).sum(axis=0), rtol=1e-5,
                               atol=1e-6 * np.abs(x).sum(axis=0).max())


def test_column_sum_whose_fitting_chunk_needs_more_pes_than_the_rows_lay_out_is_refused_saying_what_to_do():
    """A 2-wide wafer: a chunk below 128 needs 3 PEs across; the SramBudgetError said nothing to do."""
    x = np.ones((16, 256), np.float32)
    defective = ws.Device(ws.WaferSpec(width=2, height=8, sram_bytes=2048, defects=[(0, 0)]))
    with pytest.raises(ml.TileTooLargeError, match=r"three chunks of 128 float32 a PE \(2,108 bytes .* a PE has "
                                                   r"2,048\).*WaferSpec\(spare_rows=\)") as caught:
        ml.column_sum(x, chunk=128, device=defective)
    assert isinstance(caught.value, ws.WaferError) and caught.value.needed == 2108
    with_spare = ws.Device(ws.WaferSpec(width=2, height=8, sram_bytes=2048, defects=[(0, 0)], spare_rows=1))
    assert (ml.column_sum(x, chunk=128, device=with_spare)[0] == 16.0).all()
