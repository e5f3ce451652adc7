"""Dense library kernels (SUMMA gemm, gemv, tiled heat) against NumPy, with their FLOP counts."""
from __future__ import annotations

import numpy as np
import pytest

import wafersim as ws
from wafersim.kernels import reference
from wafersim.kernels.gemm import gemm, gemm_flops
from wafersim.kernels.gemv import CHUNK_WORDS, gemv, gemv_batch, gemv_batch_flops, gemv_flops
from wafersim.kernels.heat import heat
from wafersim.kernels.heat_tiled import heat_tiled, heat_tiled_flops, span_length

RTOL = 1e-5  # float32 accumulation, relative to the norm of the float64 result


def _rel_err(got: np.ndarray, want: np.ndarray) -> float:
    return float(np.linalg.norm(got.astype(np.float64) - want) / np.linalg.norm(want))


@pytest.mark.parametrize("p, tile", [(2, 4), (4, 8)])
def test_gemm_matches_numpy(p, tile):
    n = p * tile
    rng = np.random.default_rng(n)
    a = rng.standard_normal((n, n)).astype(np.float32)
    b = rng.standard_normal((n, n)).astype(np.float32)
    c, stats = gemm(a, b, p)
    assert c.dtype == np.float32 and c.shape == (n, n)
    assert _rel_err(c, np.matmul(a.astype(np.float64), b.astype(np.float64))) < RTOL
    # Exactly the fma work: n**3 vector-fma elements of 2 FLOPs each, nothing else in float.
    assert stats.flops == gemm_flops(n) == 2 * n ** 3
    assert stats.block == (p, p) and stats.spec.width == p and stats.spec.height == p  # default device
    assert 0 < stats.utilization < 1


@pytest.mark.parametrize("p, tile", [(3, 12), (2, 8), (1, 5)])
def test_gemm_equals_rank1_updates_in_order_bit_for_bit(p, tile):
    # The kernel adds the n rank-1 updates A[:, k] x B[k, :] to C in the order k = 0..n-1 (SUMMA's steps,
    # then the updates of a step; the last step's row blocks keep that order per element), each product
    # and each sum rounded to float32: the same loop in NumPy gives the same bits. (p = 3: the double
    # buffers alternate an odd number of times; T = 12 and 5: no unrolling, 3 and 1-row blocks.)
    n = p * tile
    rng = np.random.default_rng(100 + n)
    a = rng.standard_normal((n, n)).astype(np.float32)
    b = rng.standard_normal((n, n)).astype(np.float32)
    c, _ = gemm(a, b, p)
    want = np.zeros((n, n), np.float32)
    for k in range(n):
        want = want + np.outer(a[:, k], b[k, :])
    np.testing.assert_array_equal(c, want)


def test_gemm_on_a_larger_device_and_bad_shapes():
    a = np.arange(36, dtype=np.float32).reshape(6, 6) / 10
    c, stats = gemm(a, a.T, 3, device=ws.Device(ws.WaferSpec(width=8, height=8)))
    assert _rel_err(c, a.astype(np.float64) @ a.T) < RTOL
    assert stats.spec.width == 8
    with pytest.raises(ValueError):
        gemm(a, a, 4)  # 4 does not divide 6
    with pytest.raises(ValueError):
        gemm(np.zeros((256, 256), np.float32), np.zeros((256, 256), np.float32), 1)  # tiles exceed SRAM


@pytest.mark.parametrize("m, n, p, q", [(8, 12, 2, 3), (32, 24, 4, 4), (6, 20, 2, 4)])
def test_gemv_matches_numpy(m, n, p, q):
    rng = np.random.default_rng(m * n)
    a = rng.standard_normal((m, n)).astype(np.float32)
    x = rng.standard_normal(n).astype(np.float32)
    y, stats = gemv(a, x, p, q)
    assert y.dtype == np.float32 and y.shape == (m,)
    assert _rel_err(y, np.matmul(a.astype(np.float64), x.astype(np.float64))) < RTOL
    # 2*m*n for the fmas, plus the reduction towards the west edge: each of the q - 1 non-west PEs of a
    # row of PEs adds its east neighbour's partial (m/p elements), m * (q - 1) vector adds in all.
    assert stats.flops == gemv_flops(m, n, q) == 2 * m * n + m * (q - 1)
    assert stats.block == (q, p) and stats.spec.width == q and stats.spec.height == p


@pytest.mark.parametrize("m, n, p, q, vectors", [(8, 12, 2, 3, 1), (15, 14, 3, 2, 4), (32, 24, 4, 4, 6),
                                                 (6, 20, 1, 4, 3), (7, 9, 1, 1, 2)])
def test_gemv_batch_matches_numpy(m, n, p, q, vectors):
    rng = np.random.default_rng(m * n + vectors)
    a = rng.standard_normal((m, n)).astype(np.float32)
    xs = rng.standard_normal((vectors, n)).astype(np.float32)
    ys, stats = gemv_batch(a, xs, p, q)
    assert ys.dtype == np.float32 and ys.shape == (vectors, m)
    want = xs.astype(np.float64) @ a.astype(np.float64).T
    for got, ref in zip(ys, want):
        assert _rel_err(got, ref) < RTOL
    assert stats.flops == gemv_batch_flops(m, n, q, vectors) == vectors * (2 * m * n + m * (q - 1))
    assert stats.block == (q, p)


def test_gemv_batch_reads_the_vectors_in_chunks():
    # More vectors than one chunk holds, and a last chunk only partly filled: every vector still comes out.
    cols = 8
    vectors = CHUNK_WORDS // cols + 3
    rng = np.random.default_rng(1)
    a = rng.standard_normal((4, 2 * cols)).astype(np.float32)
    xs = rng.standard_normal((vectors, 2 * cols)).astype(np.float32)
    ys, _ = gemv_batch(a, xs, 2, 2)
    np.testing.assert_allclose(ys, xs.astype(np.float64) @ a.astype(np.float64).T, rtol=1e-4, atol=1e-5)


def test_gemv_batch_of_one_vector_equals_gemv():
    # The same fmas and the same reduction order: bit for bit equal, and both amortise nothing.
    rng = np.random.default_rng(2)
    a = rng.standard_normal((12, 16)).astype(np.float32)
    x = rng.standard_normal(16).astype(np.float32)
    y, _ = gemv(a, x, 3, 2)
    ys, _ = gemv_batch(a, x, 3, 2)
    np.testing.assert_array_equal(ys[0], y)


def test_gemv_batch_amortises_the_matrix_load():
    # The matrix is read once: each further vector costs far less than a single-vector launch.
    rng = np.random.default_rng(3)
    a = rng.standard_normal((16, 16)).astype(np.float32)
    one = gemv(a, a[0], 2, 2)[1].cycles
    batch = gemv_batch(a, rng.standard_normal((5, 16)).astype(np.float32), 2, 2)[1].cycles
    assert batch - gemv_batch(a, a[:1], 2, 2)[1].cycles < 4 * one / 2


def test_gemv_batch_refuses_bad_shapes():
    a = np.ones((4, 6), np.float32)
    with pytest.raises(ws.ArgumentError):
        gemv_batch(a, np.ones((2, 5), np.float32), 2, 2)
    with pytest.raises(ws.ArgumentError):
        gemv_batch(a, np.ones((2, 6), np.float32), 3, 2)


@pytest.mark.parametrize("bx, by, tile, steps", [(2, 2, 8, 5), (3, 2, 4, 6), (2, 1, 20, 3)])
def test_heat_tiled_equals_one_cell_per_pe(bx, by, tile, steps):
    rng = np.random.default_rng(tile)
    u = rng.random((by * tile, bx * tile)).astype(np.float32)
    out, stats = heat_tiled(u, 0.1, steps, tile)
    # Same roundings in the same order as the API.md kernel: equal bit for bit.
    np.testing.assert_array_equal(out, reference.heat(u, 0.1, steps, order=reference.ORDER_API))
    # Per PE and step: 3 vadds + 2 vfmas (2 FLOPs each) over the span from the first to the last interior
    # cell of the padded tile, which includes 2 * (T - 1) halo positions besides the T * T cells.
    assert span_length(tile) == tile * tile + 2 * (tile - 1)
    assert stats.flops == heat_tiled_flops(tile, bx, by, steps) == 7 * span_length(tile) * bx * by * steps
    assert stats.block == (bx, by)


def test_heat_tiled_matches_the_heat_kernel():
    u = np.random.default_rng(3).random((8, 12)).astype(np.float32)
    tiled, _ = heat_tiled(u, 0.2, 4, 4)
    cells, _ = heat(u, 0.2, 4)
    np.testing.assert_array_equal(tiled, cells)
    with pytest.raises(ValueError):
        heat_tiled(u, 0.2, 1, 5)


@pytest.mark.parametrize("fifo_depth, tile", [(1, 3), (3, 4), (5, 12), (7, 8)])
def test_heat_tiled_halo_chunks_fit_a_shallow_fifo(fifo_depth, tile):
    # Each PE sends a chunk to every neighbour before it receives: a chunk longer than the FIFO
    # deadlocked (chunks were min(16, tile) whatever the spec); now they follow the device's fifo_depth.
    u = np.random.default_rng(fifo_depth).random((2 * tile, 3 * tile)).astype(np.float32)
    device = ws.Device(ws.WaferSpec(width=4, height=4, fifo_depth=fifo_depth))
    out, _ = heat_tiled(u, 0.15, 3, tile, device=device)
    np.testing.assert_array_equal(out, reference.heat(u, 0.15, 3, order=reference.ORDER_API))
