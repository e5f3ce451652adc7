"""Differential fuzzing of the sparse kernels: random matrices, densities, PE counts and machine figures
against SciPy, with the per-multiply cycles against the pair-cost formula and results reproducible.

`WAFERSIM_FUZZ_EXAMPLES` sets the budget (as for the other fuzz tests)."""
from __future__ import annotations

import os

import numpy as np
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import wafersim as ws
from wafersim.kernels.sparse import hypersparse_spmv, spmm, spmv
from wafersim.kernels.sparse.layout import as_csr, block_shape, layout_rows, row_blocks

FUZZ = settings(max_examples=int(os.environ.get("WAFERSIM_FUZZ_EXAMPLES", "8")), deadline=None,
                suppress_health_check=[HealthCheck.too_slow])


@st.composite
def problems(draw):
    m, n = draw(st.integers(1, 40)), draw(st.integers(1, 40))
    density = draw(st.sampled_from([0.0, 0.02, 0.1, 0.4, 1.0]))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    a = sp.random_array((m, n), density=density, format="csr", dtype=np.float32, rng=rng,
                        data_sampler=lambda size: rng.uniform(-2, 2, size))
    pes = draw(st.integers(1, 12))
    lanes = draw(st.sampled_from([1, 3, 8]))
    pair_words = draw(st.sampled_from([1, 2, 1.5]))
    return a, rng.uniform(-1, 1, (n, draw(st.integers(1, 3)))).astype(np.float32), pes, lanes, pair_words


@FUZZ
@given(problems())
def test_sparse_kernels_match_scipy_and_the_pair_cost(problem):
    a, b, pes, lanes, pair_words = problem
    width, height = block_shape(pes)
    spec = ws.WaferSpec(width=width, height=height, vector_lanes=lanes, sparse_pair_words=pair_words)
    c, stats = spmm(a, b, pes, device=ws.Device(spec))
    np.testing.assert_allclose(c, a @ b, rtol=1e-5, atol=1e-5)
    assert stats.flops == 2 * a.nnz * b.shape[1]
    y, _ = hypersparse_spmv(a, b[:, 0], pes, device=ws.Device(spec))
    np.testing.assert_allclose(y, a @ b[:, 0], rtol=1e-5, atol=1e-5)
    # One more multiply costs, on each PE, one vspfma per right-hand side over its pairs (plus the same
    # fixed instructions on every PE): the busiest PE's pair cycles bound the difference from below.
    again = [spmv(a, b[:, 0], pes, device=ws.Device(spec), repeats=r)[1] for r in (1, 2, 2)]
    assert again[1].cycles == again[2].cycles  # the same program and inputs: the same cycles
    np.testing.assert_array_equal(again[1].busy, again[2].busy)
    layout = layout_rows(as_csr(a), *row_blocks(a.shape[0], width * height), width, height)
    pair_cycles = np.ceil(layout.nnz * pair_words / lanes).reshape(height, width)
    extra = again[1].busy - again[0].busy
    np.testing.assert_allclose(extra - extra.min(), pair_cycles - pair_cycles.min())


@ws.jit
def skip_and_pack(a, b, y, pairs, counts, n):
    p = ws.grid(1)
    av = ws.local.array(32, np.float32)
    bv = ws.local.array(32, np.float32)
    yv = ws.local.array(32, np.float32)
    pv = ws.local.array(64, np.float32)
    av[0:32] = a[p, 0:32]
    bv[0:32] = b[p, 0:32]
    yv[0:32] = y[p, 0:32]
    ws.fma_skip_zeros(yv[0:n], av[32 - n:32], bv[0:n])  # run-time lengths, operands at other offsets
    counts[p] = ws.pack_nonzeros(pv[0:2 * n], av[32 - n:32])
    y[p, 0:32] = yv[0:32]
    pairs[p, 0:64] = pv[0:64]


@FUZZ
@given(st.integers(0, 32), st.integers(1, 6), st.floats(0, 1), st.integers(0, 2**16))
def test_skipping_and_packing_match_numpy(n, pes, zero_fraction, seed):
    rng = np.random.default_rng(seed)
    a = rng.uniform(-2, 2, (pes, 32)).astype(np.float32)
    a[rng.random((pes, 32)) < zero_fraction] = 0.0
    b, y = rng.uniform(-2, 2, (pes, 32)).astype(np.float32), rng.uniform(-2, 2, (pes, 32)).astype(np.float32)
    dev = ws.Device(ws.WaferSpec(width=pes, height=1))
    arrays = [dev.to_device(v) for v in (a, b, y, np.zeros((pes, 64), np.float32), np.zeros(pes, np.int32))]
    skip_and_pack[(1, 1), (pes, 1)](*arrays, n)
    out, pairs, counts = (arrays[i].copy_to_host() for i in (2, 3, 4))
    tail = a[:, 32 - n:]
    expected = y.copy()
    expected[:, :n] = np.where(tail != 0, y[:, :n] + tail * b[:, :n], y[:, :n])
    np.testing.assert_array_equal(out, expected)
    for p in range(pes):
        positions = np.flatnonzero(tail[p])
        assert counts[p] == len(positions)
        np.testing.assert_array_equal(pairs[p, 0:2 * len(positions):2], tail[p, positions])
        np.testing.assert_array_equal(pairs[p, 1:2 * len(positions):2].view(np.int32), positions)
